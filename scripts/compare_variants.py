"""Our runs of BCM-U / BCM-I / BCM-G beside the journal's, cell by cell (its design's cells).

    python scripts/compare_variants.py docs/results/journal_backfire.parquet
    python scripts/compare_variants.py docs/results/journal_feed.parquet
    python scripts/compare_variants.py docs/results/journal_rewire.parquet

A cell is (N, T) for bcm-backfire, (T, F) for bcm-feed and (T, q) for bcm-rewire (N = 400). Per method:
runs, mean eps RMSE (bcm-feed: eps+, eps-) or RMSE of (eps+, eps-, beta) (bcm-rewire), its
standard error, the relative error of k (bcm-feed: |round(mean k) - k| / F, the journal's
metric with its argmax), the median time per fit; then the journal's methods on the same
cells, and its best method per cell (lowest mean error), averaged over the cells.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from vi_od.models import get_model

CELLS = {"bcm-backfire": ["N", "T"], "bcm-feed": ["T", "feed_size"], "bcm-rewire": ["T", "q"]}
EXTRA = {"bcm-backfire": ["backfire_right"], "bcm-feed": ["rel_error_k"]}


def ours(path: str) -> tuple[str, pd.DataFrame]:
    runs = pd.read_parquet(path)
    runs = runs[runs["status"] == "ok"].copy()
    model = str(runs["model"].iloc[0]).removesuffix("+rho")
    if model == "bcm-feed":
        runs["rel_error_k"] = (runs["est_k"].round() - runs["k"]).abs() / runs["feed_size"]
    runs["method"] = np.where(runs["model"].str.endswith("+rho"), runs["method"] + " +rho",
                              runs["method"])
    return model, runs


def summary(runs: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    g = runs.groupby("method")
    out = pd.DataFrame({"runs": g.size()})
    for m in metrics:
        out[m] = g[m].mean()
        out[f"{m}_se"] = g[m].std(ddof=1) / np.sqrt(g.size())
    out["median_s"] = g["wall_time_s"].median()
    out["mean_s"] = g["wall_time_s"].mean()
    return out


def main(path: str) -> None:
    model, mine = ours(path)
    cells = CELLS[model]
    theirs = get_model(model).published()
    theirs = theirs.merge(mine[cells].drop_duplicates(), on=cells)
    metrics = ["rmse_eps"] + EXTRA.get(model, [])
    pd.set_option("display.width", 200)
    print(f"{model}: ours ({len(mine)} runs, {len(mine[cells].drop_duplicates())} cells)")
    print(summary(mine, metrics).round(4).to_string())
    print(f"\njournal, same cells ({len(theirs)} runs)")
    print(summary(theirs, metrics).round(4).to_string())
    per_cell = theirs.groupby([*cells, "method"])[metrics].mean()
    higher_better = [m for m in metrics if m.endswith("_right")]
    best = per_cell.groupby(level=cells).min()
    best[higher_better] = per_cell[higher_better].groupby(level=cells).max()
    best = best.mean()
    print("\njournal's best method per cell, averaged over the cells:", best.round(4).to_dict())


if __name__ == "__main__":
    main(sys.argv[1])
