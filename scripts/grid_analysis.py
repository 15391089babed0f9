"""The README's paper-grid numbers from a sweep's results folder (after `vi-od sweep`).

1. Each method against each of the paper's methods on the cells both ran, averaged over
   cells (each cell's mean first), so the paper's 3 repetitions and our 12 weigh the same.
2. The role-recovery oracle: the exact Bayes rule at the TRUE eps and leader share, per
   agent, on the very traces the sweep fitted. Given eps and pi the collapsed likelihood
   makes the roles independent across agents, so this per-agent decision is also the most
   likely role vector: no method can expect better role error or perfect-role share.

Usage: python scripts/grid_analysis.py [results/paper | docs/results/paper_grid.parquet]
(a packed file has no traces: part 1 only)
"""

import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pandas as pd

from vi_od.data.trace import load as load_trace
from vi_od.data.trace import to_observations
from vi_od.experiments.results import load
from vi_od.models.bcm_roles.collapsed import group_by_receiver, leader_probability
from vi_od.reporting.summary import CELL, paper_runs

METRICS = ["rmse_eps", "role_error_rate", "perfect_roles"]


def against_paper(ours: pd.DataFrame) -> pd.DataFrame:
    """Cell-averaged metrics of each of our methods and each paper method on shared cells."""
    paper = paper_runs()
    rows = []
    for method, mine in ours.groupby("method"):
        for paper_method, theirs in paper.groupby("method"):
            a, b = mine.groupby(CELL)[METRICS].mean(), theirs.groupby(CELL)[METRICS].mean()
            cells = a.index.intersection(b.index)
            rows.append({"method": method, "paper": paper_method, "cells": len(cells),
                         **a.loc[cells].mean().add_prefix("ours_"),
                         **b.loc[cells].mean().add_prefix("paper_")})  # fmt: skip
    return pd.DataFrame(rows)


def oracle(traces: Path) -> pd.DataFrame:
    """Per trace: role error and perfect roles of the Bayes rule at the true eps and pi."""
    rows = []
    for path in sorted(traces.glob("*.npz")):
        trace = load_trace(path)
        pi = jnp.asarray(trace.roles.mean(), jnp.float32)
        p = np.asarray(
            leader_probability(
                jnp.asarray(trace.eps), pi, group_by_receiver(to_observations(trace))
            )
        )
        wrong = (p > 0.5) != trace.roles.astype(bool)
        shared = int(trace.eps[0] == trace.eps[1]) + int(trace.eps[2] == trace.eps[3])
        rows.append({"N": trace.N, "T": trace.T, "shared_thresholds": shared,
                     "role_error_rate": wrong.mean(),
                     "perfect_roles": float(not wrong.any())})  # fmt: skip
    return pd.DataFrame(rows)


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "results/paper")
    runs = load(folder)
    pd.set_option("display.width", 200)
    print(against_paper(runs[runs.status == "ok"]).round(3).to_string(index=False))
    if not (folder / "traces").is_dir():  # a packed file (docs/results/) keeps no traces
        print(f"\n(no oracle: {folder} holds no traces; it needs a results folder)")
        sys.exit()
    bayes = oracle(folder / "traces")
    print(f"\noracle on {len(bayes)} traces:", bayes[METRICS[1:]].mean().round(4).to_dict())
    for key in ("T", "shared_thresholds"):
        print(bayes.groupby(key)[METRICS[1:]].mean().round(3).to_string(), "\n")
