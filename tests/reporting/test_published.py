"""A model's runs beside its published runs: the same cells, and the best method per cell."""

import numpy as np
import pandas as pd

from vi_od.reporting import published


def test_the_comparison_uses_the_cells_ours_ran_and_the_best_published_method_per_cell():
    ours = pd.DataFrame({
        "model": "bcm-backfire", "method": "nuts-marginal", "status": "ok",
        "N": [50, 50, 100], "T": [128, 128, 512], "rmse_eps": [0.01, 0.03, 0.02],
        "backfire_right": [True, False, True], "wall_time_s": [2.0, 4.0, 3.0],
    })  # fmt: skip
    theirs = published.get_model("bcm-backfire").published()
    table = published.comparison(ours, "bcm-backfire").loc["nuts-marginal"]
    assert table["runs"] == 3 and np.isclose(table["rmse_eps"], 0.02)
    assert np.isclose(table["backfire_right"], 2 / 3) and table["median_wall_s"] == 3.0
    # by hand: per cell the lowest published mean RMSE over methods, averaged over our 2 cells
    cells = theirs.merge(ours[["N", "T"]].drop_duplicates(), on=["N", "T"])
    best = cells.groupby(["N", "T", "method"])["rmse_eps"].mean().groupby(["N", "T"]).min()
    assert np.isclose(table["best_published_rmse_eps"], best.mean())
    assert "published_runs" not in table or np.isnan(table["published_runs"])  # no namesake
    text = published.to_markdown(published.comparison(ours, "bcm-backfire"), "bcm-backfire")
    assert "| nuts-marginal | 3 | 0.0200 ± 0.0058 |" in text
