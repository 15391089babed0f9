"""Pack and summarise `sweep=compare` results (docs/compare.md): how often the generating model
is ranked first, clearly, and its stacking weight.

Usage: python scripts/compare_grid.py RESULTS... [--out docs/results/compare_grid.csv]
Prints a Markdown table per (generating model, N, T, models compared).
"""

import argparse

import pandas as pd

from vi_od.experiments import results

KEEP = ["model", "compare_models", "N", "T", "rep", "seed", "status", "compare_best",
        "compare_top", "compare_true_first", "compare_clear", "compare_true_weight",
        "compare_margin", "compare_margin_se", "wall_time_s"]  # fmt: skip


def load(paths: list[str]) -> pd.DataFrame:
    frames = [results.load(p) for p in paths]
    runs = pd.concat(frames, ignore_index=True)
    per_model = [c for c in runs.columns if c.startswith(("elpd_loo_", "weight_", "k_bad_"))]
    return runs[KEEP + sorted(per_model)]


def summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per cell: runs, true model first, first and clear, not clearly beaten, weight >= 0.9."""
    ok = runs[runs.status == "ok"].copy()
    ok["clearly_beaten"] = (ok.compare_top != ok.model) & ok.compare_clear
    ok["first_and_clear"] = ok.compare_true_first & ok.compare_clear
    ok["weight_ge_0.9"] = ok.compare_true_weight >= 0.9
    ok["true_k_bad"] = [row[f"k_bad_{row.model}"] > 0 for _, row in ok.iterrows()]
    cells = ok.groupby(["model", "N", "T", "compare_models"])
    return pd.DataFrame({
        "runs": cells.size(),
        "first": cells.compare_true_first.mean(),
        "top_elpd": (ok.compare_top == ok.model).groupby([ok[k] for k in
                     ("model", "N", "T", "compare_models")]).mean(),  # fmt: skip
        "first_and_clear": cells.first_and_clear.mean(),
        "not_clearly_beaten": 1 - cells.clearly_beaten.mean(),
        "weight_ge_0.9": cells["weight_ge_0.9"].mean(),
        "median_weight": cells.compare_true_weight.median(),
        "true_model_high_k": cells.true_k_bad.mean(),
        "median_job_s": cells.wall_time_s.median(),
    }).reset_index()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("results", nargs="+")
    parser.add_argument("--out")
    args = parser.parse_args()
    runs = load(args.results)
    if args.out:
        runs.to_csv(args.out, index=False, float_format="%.6g")
    table = summary(runs)
    print("| " + " | ".join(table.columns) + " |")
    print("|" + "---|" * len(table.columns))
    for row in table.itertuples(index=False):
        print("| " + " | ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in row) + " |")


if __name__ == "__main__":
    main()
