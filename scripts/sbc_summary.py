"""The README's SBC numbers and figures from an SBC results folder (docs/checks.md).

    python scripts/sbc_summary.py [results/sbc] [--figures docs/figures]

Per method: runs, 90% / 50% coverage (all eps, then per eps), the robust spread of the
standardised errors z = (truth - posterior mean) / posterior sd, median |z| / 0.674 (about 1
for a calibrated, near-normal posterior; k means its intervals are about k times too narrow;
robust because a few mislabelled runs give huge z) and a chi-square test of the ranks'
uniformity in 10 bins, per eps. Draws sbc_coverage.png and sbc_ranks.png, small.
"""

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

from vi_od.experiments.results import load
from vi_od.models.bcm_roles import EPS_NAMES
from vi_od.reporting.figures import coverage_figure, sbc_ranks
from vi_od.reporting.report import coverage
from vi_od.reporting.summary import method_order

SHORT = {"eps_plus_F": "F+", "eps_plus_L": "L+", "eps_minus_F": "F-", "eps_minus_L": "L-"}


def uniformity_p(ranks: np.ndarray, draws: np.ndarray) -> float:
    """Chi-square p-value of fractional ranks against the uniform, in 10 equal bins."""
    u = (ranks + 0.5) / (draws + 1)
    return float(stats.chisquare(np.bincount((u * 10).astype(int), minlength=10)).pvalue)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", default="results/sbc", type=Path)
    parser.add_argument("--figures", type=Path, default=None)
    args = parser.parse_args()
    runs = load(args.results)
    runs = runs[(runs["status"] == "ok") & (runs["truth"] == "prior")]
    total = coverage(runs)
    per_eps = coverage(runs, by_eps=True)
    print("| method | runs | 90% coverage | 50% coverage | 90% per eps (F+ L+ F- L-) "
          "| robust sd of error / posterior sd (F+ L+ F- L-) | rank uniformity p (F+ L+ F- L-) |")
    print("|---|---:|---:|---:|---|---|---|")
    for method in method_order(runs):
        rows = runs[runs["method"] == method]
        c90 = " ".join(f"{per_eps.loc[(method, n), 'coverage_90']:.2f}" for n in EPS_NAMES)
        z = [((rows[n] - rows[f"est_{n}"]) / rows[f"std_{n}"]).abs().median() / 0.674
             for n in EPS_NAMES]  # fmt: skip
        p = [uniformity_p(rows[f"rank_{n}"].to_numpy(), rows["n_draws"].to_numpy())
             for n in EPS_NAMES]  # fmt: skip
        print(f"| {method} | {len(rows)} | {total.loc[method, 'coverage_90']:.3f} "
              f"| {total.loc[method, 'coverage_50']:.3f} | {c90} "
              f"| {' '.join(f'{x:.2f}' for x in z)} "
              f"| {' '.join(f'{x:.2g}' for x in p)} |")  # fmt: skip
    print(f"T: {sorted(runs['T'].unique())}, N: {sorted(runs['N'].unique())}; "
          f"leaders per run: median {runs['n_leaders'].median():g}")
    if args.figures:
        args.figures.mkdir(parents=True, exist_ok=True)
        for name, draw in (("sbc_coverage", coverage_figure), ("sbc_ranks", sbc_ranks)):
            fig = draw(runs)
            fig.savefig(args.figures / f"{name}.png", dpi=65)
            plt.close(fig)
            print(f"{name} -> {args.figures / name}.png")


if __name__ == "__main__":
    main()
