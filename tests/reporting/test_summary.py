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
