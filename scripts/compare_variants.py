"""Our runs of BCM-U / BCM-I / BCM-G beside the journal's, cell by cell (its design's cells).

    python scripts/compare_variants.py docs/results/journal_backfire.parquet
    python scripts/compare_variants.py docs/results/journal_feed.parquet
    python scripts/compare_variants.py docs/results/journal_rewire.parquet
    python scripts/compare_variants.py --markdown docs/results/journal_*.parquet

`--markdown`: one table for every variant given (the README's), per method ours beside the
journal's method of the same name on the cells ours ran (our exact methods beside the
journal's best method per cell).

A cell is (N, T) for bcm-backfire, (T, F) for bcm-feed and (T, q) for bcm-rewire (N = 400).
Per method: runs, mean eps RMSE (bcm-feed: eps+, eps-) or RMSE of (eps+, eps-, beta)
(bcm-rewire), its standard error, the relative error of k (bcm-feed: |round(mean k) - k| / F,
the journal's metric with its argmax), the median time per fit; then the journal's methods on
the same cells, and its best method per cell (lowest mean error), averaged over the cells.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from vi_od.models import get_model

CELLS = {"bcm-backfire": ["N", "T"], "bcm-feed": ["T", "feed_size"], "bcm-rewire": ["T", "q"]}
EXTRA = {"bcm-backfire": ["backfire_right"], "bcm-feed": ["rel_error_k"]}
ORDER = ["nuts-marginal +rho", "svi-marginal +rho", "nuts-marginal", "svi-marginal", "nuts",
         "svi-nf", "svi-normal", "abc-smc", "abc"]  # fmt: skip


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


def markdown(paths: list[str]) -> None:
    """Per variant and method: ours vs the journal's mean error (± s.e.) and median time."""
    print("| variant | method | runs | eps error (± s.e.) | extra | median s | journal: same "
          "method on these cells (error / extra / median s) |")
    print("|---|---|---:|---:|---:|---:|---|")
    for path in paths:
        model, mine = ours(path)
        cells, extra = CELLS[model], EXTRA.get(model, [])
        theirs = get_model(model).published()
        for method in sorted(mine["method"].unique(), key=ORDER.index):
            runs = mine[mine["method"] == method]
            here = theirs.merge(runs[cells].drop_duplicates(), on=cells)
            same = here[here["method"] == method]
            err = runs["rmse_eps"]
            row = [model, method, len(runs), f"{err.mean():.4f} ± {err.sem():.4f}",
                   " / ".join(f"{runs[m].mean():.3f}" for m in extra) or "-",
                   f"{runs['wall_time_s'].median():.1f}"]  # fmt: skip
            if len(same):
                row.append(f"{same['rmse_eps'].mean():.4f} / "
                           + "".join(f"{same[m].mean():.3f} / " for m in extra)
                           + f"{same['wall_time_s'].median():.0f} ({len(same)} runs)")  # fmt: skip
            else:  # exact methods: the journal's best method per cell
                per_cell = here.groupby([*cells, "method"])[["rmse_eps", *extra]].mean()
                best = per_cell.groupby(level=cells).min()
                right = [m for m in extra if m.endswith("_right")]
                best[right] = per_cell[right].groupby(level=cells).max()
                best = best.mean()
                row.append("best per cell: " + " / ".join(f"{best[m]:.4f}" if m == "rmse_eps"
                           else f"{best[m]:.3f}" for m in ["rmse_eps", *extra]))  # fmt: skip
            print("| " + " | ".join(str(x) for x in row) + " |")


if __name__ == "__main__":
    if sys.argv[1] == "--markdown":
        markdown(sys.argv[2:])
    else:
        main(sys.argv[1])
