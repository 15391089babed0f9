"""The per-method report: numbers by hand on a tiny table, the paper's beside them, rendering."""

import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

from vi_od.cli import app
from vi_od.experiments.results import write_row
from vi_od.reporting.report import cost_markdown, cost_table, report_table, to_markdown, to_rich
from vi_od.reporting.summary import paper_runs


@pytest.fixture
def tiny():
    """Two methods on the paper's cell N=50, T=128, 1 leader; ours has a timeout and an error."""
    return pd.DataFrame({
        "method": ["svi-normal"] * 4 + ["my-method"] * 2,
        "status": ["ok", "ok", "ok", "timeout", "ok", "error"],
        "N": [50] * 6, "T": [128] * 6, "n_leaders": [1] * 6,
        "rmse_eps": [0.02, 0.04, 0.09, None, 0.5, None],
        "role_error_rate": [0.0, 0.0, 0.3, None, 0.2, None],
        "perfect_roles": [True, True, False, None, False, None],
        "wall_time_s": [10.0, 30.0, 20.0, 3600.0, 7.0, 1.0],
    })  # fmt: skip


def test_report_numbers_equal_a_hand_computation(tiny):
    t = report_table(tiny)
    assert list(t.index) == ["svi-normal", "my-method"]  # known methods first
    ours = t.loc["svi-normal"]
    assert ours[["ok", "timeout", "error"]].tolist() == [3, 1, 0]
    assert ours["rmse_eps"] == pytest.approx(0.05)  # (0.02 + 0.04 + 0.09) / 3
    assert ours["role_error_rate"] == pytest.approx(0.1)
    assert ours["perfect_roles"] == pytest.approx(2 / 3)
    assert ours["median_wall_s"] == 20.0  # the timeout's 3600 s is not counted
    new = t.loc["my-method"]
    assert new[["ok", "timeout", "error", "rmse_eps", "median_wall_s"]].tolist() == [
        1, 0, 1, 0.5, 7.0,
    ]  # fmt: skip
    assert pd.isna(new["paper_rmse_eps"])  # the paper never ran it


def test_paper_numbers_are_the_papers_runs_on_the_same_cell(tiny):
    paper = paper_runs().query("method == 'svi-normal' and N == 50 and T == 128 and n_leaders == 1")
    assert len(paper) == 3
    ours = report_table(tiny).loc["svi-normal"]
    assert ours["paper_ok"] == 3
    assert ours["paper_rmse_eps"] == pytest.approx(paper["rmse_eps"].mean())
    assert ours["paper_role_error_rate"] == pytest.approx(paper["role_error_rate"].mean())
    assert ours["paper_median_wall_s"] == pytest.approx(paper["wall_time_s"].median())


def test_markdown_has_our_row_then_the_papers(tiny):
    md = to_markdown(report_table(tiny)).splitlines()
    assert md[0] == (
        "| method | ok | timeout | error | eps RMSE | role error | perfect roles"
        " | median time (s) |"
    )
    assert md[2] == "| svi-normal | 3 | 1 | 0 | 0.050 | 0.100 | 0.67 | 20.0 |"
    assert md[3].startswith("| *paper* | 3 |  |  | ")
    assert md[4] == "| my-method | 1 | 0 | 1 | 0.500 | 0.200 | 0.00 | 7.0 |"
    assert md[5] == "| *paper* | 0 |  |  | — | — | — | — |"


def test_rich_table_fits_80_columns_without_cutting_method_names(tiny):
    console = Console(width=80, record=True)
    console.print(to_rich(report_table(tiny), "tiny"))
    text = console.export_text()
    assert "svi-normal" in text and "my-method" in text and "…" not in text
    assert max(map(len, text.splitlines())) <= 80


def test_report_command_prints_markdown(tiny, tmp_path):
    for i, row in enumerate(tiny.to_dict("records")):
        write_row(tmp_path / "runs", row | {"job_id": f"job{i}"})
    result = CliRunner().invoke(app, ["report", str(tmp_path), "--markdown"])
    assert result.exit_code == 0, result.output
    assert result.output == to_markdown(report_table(tiny))
    table = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert table.exit_code == 0 and "svi-normal" in table.output and "paper" in table.output


@pytest.fixture
def with_intervals(tiny):
    """tiny with every eps's 90% and 50% intervals: svi-normal's 90% intervals cover 2 of its 3
    finished runs' eps+_F, all other eps; its 50% intervals cover only eps+_F, twice."""
    df = tiny.copy()
    for name in ("eps_plus_F", "eps_plus_L", "eps_minus_F", "eps_minus_L"):
        df[name] = 0.5
        df[f"q05_{name}"], df[f"q95_{name}"] = 0.4, 0.6
        df[f"q25_{name}"], df[f"q75_{name}"] = 0.45, 0.49
    df.loc[2, "q05_eps_plus_F"] = 0.55  # run 3's eps+_F lies below its 90% interval
    df.loc[[0, 1], "q75_eps_plus_F"] = 0.55  # runs 1-2's 50% intervals cover eps+_F
    df.loc[3, ["q05_eps_plus_F", "q95_eps_plus_F"]] = None  # a timeout has no interval
    return df


def test_coverage_is_the_share_of_truths_inside_the_intervals(with_intervals):
    t = report_table(with_intervals)
    assert t.loc["svi-normal", "coverage_90"] == pytest.approx(11 / 12)
    assert t.loc["svi-normal", "coverage_50"] == pytest.approx(2 / 12)
    assert t.loc["my-method", ["coverage_90", "coverage_50"]].tolist() == [1.0, 0.0]
    md = to_markdown(t).splitlines()
    assert md[0].endswith("| median time (s) | coverage (%) 90/50 |")
    assert md[2].endswith("| 20.0 | 92/17 |") and md[3].endswith("|  |")
    console = Console(width=80, record=True)
    console.print(to_rich(t, "tiny"))
    text = console.export_text()  # at 80 columns some headers are cut, never a value
    assert "│ svi-normal │" in text and "│  92/17 │" in text and "│  100/0 │" in text
    assert max(map(len, text.splitlines())) <= 80


def test_runs_without_intervals_have_no_coverage_column(tiny):
    assert report_table(tiny)["coverage_90"].isna().all()
    assert "coverage" not in to_markdown(report_table(tiny)).splitlines()[0]


def test_cost_table_counts_reps_cells_and_fit_time_by_hand(tmp_path):
    """Two cells; svi-normal has both reps of both, my-method one rep of one cell plus a timeout."""
    runs = pd.DataFrame({
        "method": ["svi-normal"] * 4 + ["my-method"] * 2,
        "status": ["ok", "ok", "ok", "ok", "ok", "timeout"],
        "rep": [0, 1, 0, 1, 0, 1],
        "N": [50, 50, 100, 100, 50, 50], "T": [128] * 6, "n_leaders": [1] * 6,
        "wall_time_s": [10.0, 30.0, 20.0, 40.0, 7.0, 3600.0],
    })  # fmt: skip
    body = {cells[0]: cells[1:] for cells in cost_table(runs)}
    # runs, ok, reps, cells, cells with every rep, sum (h), median (s)
    assert body["svi-normal"] == ["4", "4", "0-1", "2", "2", "0.03", "25.0"]
    assert body["my-method"] == ["2", "1", "0-1", "1", "0", "1.00", "1803.5"]  # a timeout costs
    for i, row in enumerate(runs.to_dict("records")):
        write_row(tmp_path / "runs", row | {"job_id": f"job{i}"})
    result = CliRunner().invoke(app, ["report", str(tmp_path), "--cost", "--markdown"])
    assert result.exit_code == 0, result.output
    assert result.output == cost_markdown(cost_table(runs))
    assert result.output.splitlines()[2].startswith("| svi-normal | 4 | 4 | 0-1 | 2 | 2 |")
