"""Figures 3-6: panels, labels, what is drawn and what is left out, on a synthetic results table."""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from typer.testing import CliRunner

from vi_od.cli import app, load_results
from vi_od.experiments.results import write_row
from vi_od.reporting.figures import (
    FIGURES,
    fig3_eps_recovery,
    fig4_errors,
    fig5_time,
    fig6_error_analysis,
    method_colors,
)
from vi_od.reporting.summary import method_order

# results_frame (conftest): 20 runs ok; 2 svi-normal timeouts, 2 nuts and 16 zz-new errors.
CAPTION = "20 finished runs drawn; 20 left out (2 timeout, 18 error)"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def legend_texts(fig):
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def test_methods_come_from_the_data_in_a_stable_order_and_colour(results_frame):
    methods = method_order(results_frame)
    assert methods == ["svi-normal", "nuts", "zz-new"]  # known order, then new ones sorted
    colors = method_colors(methods)
    assert colors["svi-normal"] == method_colors(["svi-normal", "svi-nf"])["svi-normal"]
    assert len(set(colors.values())) == 3  # the new method takes a colour of its own


def test_fig3_one_row_per_eps_one_column_per_method_finished_runs_only(results_frame):
    fig = fig3_eps_recovery(results_frame)
    axes = np.array(fig.axes).reshape(4, 3)
    assert fig.get_suptitle().endswith(CAPTION)
    assert [ax.get_title() for ax in axes[0]] == [
        "svi-normal (14 runs, 2 left out)",
        "nuts (6 runs, 2 left out)",
        "zz-new (0 runs, 16 left out)",
    ]
    assert axes[1, 0].get_ylabel() == r"estimated $\varepsilon^+_L$"
    assert axes[3, 2].get_xlabel() == r"true $\varepsilon^-_L$"
    assert len(axes[0, 0].collections[0].get_offsets()) == 14  # one point per finished run
    diagonal = axes[2, 1].lines[0]
    assert np.allclose(diagonal.get_xdata(), diagonal.get_ydata())
    assert axes[0, 2].texts[0].get_text() == "no finished runs"


def test_fig4_mean_error_per_grid_value_with_standard_errors(results_frame):
    fig = fig4_errors(results_frame)
    axes = np.array(fig.axes).reshape(5, 3)
    assert fig.get_suptitle().endswith(CAPTION)
    assert [ax.get_xlabel() for ax in axes[-1]] == ["N (agents)", "T (time steps)",
                                                    "leader proportion"]  # fmt: skip
    assert axes[4, 0].get_ylabel() == "role error rate"
    assert axes[0, 0].get_ylabel() == r"|error| of $\varepsilon^+_F$"
    assert "nuts (6 runs, 2 left out)" in legend_texts(fig)
    ok = results_frame[(results_frame.status == "ok") & (results_frame.method == "svi-normal")]
    line = axes[4, 1].lines[0]  # svi-normal's role error against T
    assert np.allclose(line.get_ydata(), ok.groupby("T")["role_error_rate"].mean())
    nuts = axes[4, 0].lines[3]  # after svi-normal's line and its two caps: nuts, only N=50
    assert len(nuts.get_xdata()) == 1
    assert axes[0, 1].get_xscale() == "log"


def test_fig5_time_on_log_scales_median_per_grid_value(results_frame):
    fig = fig5_time(results_frame)
    assert len(fig.axes) == 2 and fig.get_suptitle().endswith(CAPTION)
    ax_n, ax_t = fig.axes
    assert ax_n.get_xlabel() == "N (agents)" and ax_t.get_xlabel() == "T (time steps)"
    assert ax_n.get_ylabel().startswith("wall time (s)") and ax_t.get_yscale() == "log"
    ok = results_frame[(results_frame.status == "ok") & (results_frame.method == "svi-normal")]
    assert np.allclose(ax_t.lines[0].get_ydata(), ok.groupby("T")["wall_time_s"].median())


def test_fig6_regression_lines_recover_a_known_log_trend(results_frame):
    runs = results_frame.copy()
    runs["role_error_rate"] = 0.6 - 0.1 * np.log10(runs["pos_interactions_F"])
    fig = fig6_error_analysis(runs)
    axes = np.array(fig.axes).reshape(2, 5)
    assert fig.get_suptitle().endswith(CAPTION)
    assert axes[0, 0].get_ylabel() == "role error rate"
    assert axes[1, 4].get_xlabel() == "variance of\nthe final opinions (log scale)"
    assert axes[0, 0].get_xscale() == "log" and axes[0, 2].get_xscale() == "linear"
    fit = axes[0, 0].lines[0]  # svi-normal's line on the followers' positive interactions
    x, y = fit.get_xdata(), fit.get_ydata()
    assert np.allclose(y, 0.6 - 0.1 * np.log10(x))


def test_failed_rows_never_reach_a_panel(results_frame):
    only_ok = results_frame[results_frame.status == "ok"]
    with_failed, without = fig4_errors(results_frame), fig4_errors(only_ok)
    for a, b in zip(with_failed.axes, without.axes):
        ys = [[np.asarray(line.get_ydata(), float) for line in ax.lines] for ax in (a, b)]
        assert len(ys[0]) == len(ys[1]) and all(map(np.allclose, *ys))
    assert without.get_suptitle().endswith("all 20 runs finished and are drawn")


def test_paper_runs_without_status_or_abs_diff_columns_draw():
    from vi_od.reporting.summary import paper_runs

    runs = paper_runs().drop(columns=["status"]).query("N == 50 and T == 128")
    for draw in FIGURES.values():
        fig = draw(runs)
        assert "left out" not in fig.get_suptitle()


def test_figures_command_writes_pngs_pdfs_and_summary(results_frame, tmp_path):
    for i, row in enumerate(results_frame.to_dict("records")):
        write_row(tmp_path / "res" / "runs", row | {"job_id": f"job{i:03d}"})
    result = CliRunner().invoke(app, ["figures", str(tmp_path / "res"), "--pdf"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "res" / "figures"
    for name in FIGURES:
        assert (out / f"{name}.png").stat().st_size > 20_000 and (out / f"{name}.pdf").exists()
        assert f"{name} -> {out / name}.png" in result.output.replace("\n", "")
    summary = (out / "summary.md").read_text()
    assert summary.startswith("| method | ok | timeout | error |")
    assert "| zz-new | 0 | 0 | 16 |" in summary


@pytest.mark.parametrize("command", ["figures", "report"])
def test_missing_or_empty_results_folder_is_one_line_exit_2(command, tmp_path):
    missing = CliRunner().invoke(app, [command, str(tmp_path / "nope")])
    assert missing.exit_code == 2
    assert missing.stderr.strip() == f"error: results folder {tmp_path / 'nope'} does not exist"
    (tmp_path / "runs").mkdir()
    empty = CliRunner().invoke(app, [command, str(tmp_path)])
    assert empty.exit_code == 2 and len(empty.stderr.strip().splitlines()) == 1
    assert "no results in" in empty.stderr


def test_figures_of_a_loaded_folder_match_the_frame_they_were_written_from(results_frame, tmp_path):
    for i, row in enumerate(results_frame.to_dict("records")):
        write_row(tmp_path / "runs", row | {"job_id": f"job{i:03d}"})
    loaded = load_results(tmp_path).sort_values("job_id", ignore_index=True)
    assert len(loaded) == len(results_frame)
    assert loaded.loc[loaded.status != "ok", "rmse_eps"].isna().all()
    assert loaded["method"].tolist() == results_frame["method"].tolist()
    a, b = fig4_errors(loaded), fig4_errors(results_frame)
    assert a.get_suptitle() == b.get_suptitle()
    ya, yb = (np.asarray(f.axes[12].lines[0].get_ydata(), float) for f in (a, b))
    assert np.allclose(ya, yb)


def sbc_frame(runs: int = 120):
    """SBC rows of two methods: 'calibrated' ranks uniform on 0..100, 'overconfident' ranks
    piled at 0 and 100 a third of the time; both with the truth inside q05-q95 accordingly."""
    import pandas as pd

    from vi_od.models.bcm_roles import EPS_NAMES

    rng = np.random.default_rng(0)
    rows = []
    for method in ("calibrated", "overconfident"):
        for i in range(runs):
            row = {"method": method, "status": "ok", "truth": "prior", "n_draws": 100,
                   "N": 50, "T": 128, "n_leaders": 3, "rep": i}  # fmt: skip
            for name in EPS_NAMES:
                rank = int(rng.integers(0, 101))
                if method == "overconfident" and rng.random() < 1 / 3:
                    rank = int(rng.choice([0, 100]))
                row |= {name: 0.3, f"rank_{name}": rank}
                inside = 5 <= rank <= 95
                row |= {f"q05_{name}": 0.2 if inside else 0.35, f"q95_{name}": 0.4}
                row |= {f"q25_{name}": 0.25, f"q75_{name}": 0.35 if 25 <= rank <= 75 else 0.28}
            rows.append(row)
    return pd.DataFrame(rows)


def test_sbc_ranks_one_panel_per_method_and_eps_with_a_band():
    from vi_od.reporting.figures import sbc_ranks

    fig = sbc_ranks(sbc_frame())
    assert len(fig.axes) == 8
    assert fig.axes[0].get_ylabel().startswith("calibrated (120 runs)")
    assert "simultaneous 95% bands" in fig.get_suptitle()

    def outside(ax):  # how far the ECDF difference leaves ArviZ's band (0 when inside)
        line = ax.lines[0].get_ydata()
        band = ax.collections[0].get_paths()[0].vertices[:, 1]
        return max(0.0, float(np.max(np.abs(line)) - np.max(band)))

    assert all(outside(ax) == 0 for ax in fig.axes[:4])  # calibrated: inside its band
    assert all(outside(ax) > 0 for ax in fig.axes[4:])  # ranks piled at the ends leave it


def test_coverage_figure_and_which_figures_a_results_table_gets(results_frame):
    from vi_od.reporting.figures import coverage_figure, figures_for

    frame = sbc_frame()
    fig = coverage_figure(frame)
    assert len(fig.axes) == 2 and "dashed: calibrated" in fig.get_suptitle()
    bars = fig.axes[0].containers  # one errorbar per method
    calibrated, overconfident = (np.asarray(bar.lines[0].get_ydata()) for bar in bars)
    assert np.allclose(calibrated, 0.9, atol=0.06) and (overconfident < 0.75).all()
    # no intervals, no SBC; svi-normal and nuts are methods the paper ran
    assert set(figures_for(results_frame)) == set(FIGURES) | {"paper_comparison"}
    assert set(figures_for(results_frame.assign(method="zz-new"))) == set(FIGURES)
    assert set(figures_for(results_frame.assign(N=30))) == set(FIGURES)  # not a paper cell
    drawn = set(FIGURES) - {"fig6_error_analysis"}  # SBC rows here keep no trace features
    assert set(figures_for(frame)) == drawn | {"coverage", "sbc_ranks"}
    assert set(figures_for(frame.assign(truth=None))) == drawn | {"coverage"}


def test_paper_comparison_draws_ours_and_the_papers_on_the_papers_cells(results_frame):
    from vi_od.reporting.figures import paper_comparison
    from vi_od.reporting.summary import CELL, paper_runs

    fig = paper_comparison(results_frame)
    axes = np.array(fig.axes).reshape(4, 2)  # (role error, RMSE) x (N, T); svi-normal, nuts
    paper = paper_runs()
    finished = results_frame[results_frame["status"] == "ok"]
    both = paper.merge(finished, on=["method", *CELL]).drop_duplicates(["method", *CELL])
    cells = both.groupby("method").size()  # svi-normal: 8 cells, nuts: 4 (N = 50 only)
    assert [ax.get_title() for ax in axes[0]] == [
        f"svi-normal: {cells['svi-normal']} cells both ran",
        f"nuts: {cells['nuts']} cells both ran",
    ]
    assert cells.to_dict() == {"nuts": 4, "svi-normal": 8}
    paper_nuts = paper[paper["method"] == "nuts"]
    ours = results_frame[(results_frame["status"] == "ok") & (results_frame["method"] == "nuts")]
    ours = ours.merge(paper_nuts[CELL].drop_duplicates(), on=CELL)
    paper_nuts = paper_nuts.merge(ours[CELL].drop_duplicates(), on=CELL)  # where both ran
    assert 0 < len(paper_nuts) < (paper["method"] == "nuts").sum()
    labels = [t.get_text() for t in axes[-1, 1].get_legend().get_texts()]
    assert labels == [f"nuts ({len(ours)} runs)", f"paper's nuts ({len(paper_nuts)} runs)"]
    mine, theirs = axes[0, 1].containers  # role error against N: ours, then the paper's
    assert np.allclose(mine.lines[0].get_ydata(), ours.groupby("N")["role_error_rate"].mean())
    expected = paper_nuts.groupby("N")["role_error_rate"].mean()
    assert np.allclose(theirs.lines[0].get_ydata(), expected)
    assert theirs.lines[0].get_linestyle() == "--"


def test_another_models_runs_are_drawn_by_its_own_parameters():
    """BCM-U's committed runs: one row of panels per parameter it has, labelled as the model
    writes them; no paper comparison (the paper ran another model)."""
    import pandas as pd

    from vi_od.reporting.figures import fig3_eps_recovery, figures_for

    root = Path(__file__).parents[2]
    runs = pd.read_parquet(root / "docs/results/journal_backfire.parquet")
    runs = runs[(runs["model"] == "bcm-backfire") & runs["method"].isin(["nuts-marginal", "nuts"])]
    assert {"fig3_eps_recovery", "fig4_errors", "fig5_time"} <= set(figures_for(runs))
    assert "paper_comparison" not in figures_for(runs)
    fig = fig3_eps_recovery(runs)
    ylabels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert ylabels == [r"estimated $\varepsilon^+$", r"estimated $\varepsilon^-$"]
