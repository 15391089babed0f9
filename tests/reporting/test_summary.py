import pandas as pd
import pytest

from vi_od.reporting.summary import method_summary, paper_runs, side_by_side


def test_packaged_paper_runs_reproduce_the_papers_averages():
    s = method_summary(paper_runs()).round(3)
    assert s.loc["svi-normal", ["ok", "rmse_eps", "role_error_rate"]].tolist() == [
        228,
        0.044,
        0.094,
    ]
    assert s.loc["svi-nf", "rmse_eps"] == 0.036 and s.loc["svi-nf", "role_error_rate"] == 0.063
    assert s.loc["nuts", "perfect_roles"] == pytest.approx(0.29, abs=0.005)
    assert s.loc["abc", "median_wall_s"] == pytest.approx(632, abs=1)


def test_summary_of_a_tiny_table_by_hand():
    runs = pd.DataFrame({
        "method": ["a", "a", "a", "b"], "status": ["ok", "ok", "timeout", "error"],
        "N": [50] * 4, "T": [128] * 4, "n_leaders": [1] * 4,
        "rmse_eps": [0.1, 0.3, None, None], "role_error_rate": [0.0, 0.5, None, None],
        "wall_time_s": [1.0, 3.0, 10.0, 0.5],
    })  # fmt: skip
    s = method_summary(runs)
    assert s.loc["a", ["ok", "timeout", "error"]].tolist() == [2, 1, 0]
    assert s.loc["a", "rmse_eps"] == pytest.approx(0.2)
    assert s.loc["a", "role_error_rate"] == pytest.approx(0.25)
    assert s.loc["a", "perfect_roles"] == 0.5 and s.loc["a", "median_wall_s"] == 2.0
    assert s.loc["b", "error"] == 1
    both = side_by_side(runs)
    assert both.loc["a", "paper_ok"] == 0 or pd.isna(both.loc["a", "paper_ok"])
    assert "paper_rmse_eps" in both.columns


def test_each_method_is_beside_the_papers_counterpart_on_its_own_cells_only():
    """svi-nf ran at N=50 only, svi-normal at N=50 and 200: the paper's svi-nf line must not
    take in its N=200 runs; abc-smc is beside the paper's abc (its ABC-SMC runs)."""
    cell = {"T": 512, "n_leaders": 2, "status": "ok", "rmse_eps": 0.1, "role_error_rate": 0.1}
    runs = pd.DataFrame([
        cell | {"method": "svi-normal", "N": 50}, cell | {"method": "svi-normal", "N": 200},
        cell | {"method": "svi-nf", "N": 50}, cell | {"method": "abc-smc", "N": 200},
        cell | {"method": "nuts-marginal", "N": 50},
    ]).assign(wall_time_s=1.0)  # fmt: skip
    paper = paper_runs().query("T == 512 and n_leaders == 2")
    both = side_by_side(runs)
    for method, counterpart, Ns in [
        ("svi-normal", "svi-normal", [50, 200]),
        ("svi-nf", "svi-nf", [50]),
        ("abc-smc", "abc", [200]),
    ]:
        theirs = paper[(paper["method"] == counterpart) & paper["N"].isin(Ns)]
        assert len(theirs) > 0 and both.loc[method, "paper_ok"] == len(theirs)
        assert both.loc[method, "paper_rmse_eps"] == pytest.approx(theirs["rmse_eps"].mean())
    assert paper.query("method == 'svi-nf' and N == 200").shape[0] > 0  # left out above
    assert pd.isna(both.loc["nuts-marginal", "paper_ok"])  # the paper has no counterpart
