"""A light accuracy check of NUTS and ABC on some of the paper's cells, side by side.

One trace per (N, T, leader_proportion) cell below, both methods with their default
settings (or `<method>.<key>=<value>`) on the same trace; the table compares with the
paper's runs on the same cells. Rows are appended to results/accuracy/<out>.csv as they
finish (re-running skips the done ones).
Usage: python scripts/accuracy_baselines.py [N=50,100 T=128 p=0.1 method=nuts
       nuts.init=median out=baselines-median]
"""

import sys
import time
from itertools import product
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import yaml

from vi_od.config import settings_from_dict
from vi_od.data.trace import to_observations
from vi_od.inference import get
from vi_od.inference.posterior import metrics
from vi_od.models.bcm_roles.simulate import SimulatorSettings, simulate_trace
from vi_od.progress import quiet
from vi_od.reporting.summary import side_by_side

OUT = Path("results/accuracy")
GRID = {"N": [50, 100, 200], "T": [128, 512], "p": [0.02, 0.1, 0.2], "method": ["nuts", "abc"]}


def seed_of(N: int, T: int, p: float) -> int:
    """The trace seed of a cell, so that both methods fit the same trace."""
    return int(np.random.SeedSequence([N, T, round(1000 * p)]).generate_state(1)[0] % 2**31)


def run(N: int, T: int, p: float, method_name: str, overrides: dict) -> dict:
    seed = seed_of(N, T, p)
    trace = simulate_trace(SimulatorSettings(N=N, T=T, leader_proportion=p), seed)
    method = get(method_name)
    settings = settings_from_dict(method.Settings, overrides.get(method_name, {}), "method")
    start = time.perf_counter()
    with quiet():
        post = method.fit(to_observations(trace), settings, jax.random.PRNGKey(seed))
    wall = time.perf_counter() - start
    return {"method": method_name, "N": N, "T": T, "leader_proportion": p,
            "n_leaders": int(trace.roles.sum()), "seed": seed, "status": "ok",
            "wall_time_s": wall, **metrics(post, trace),
            "est_eps": list(np.round(post.eps_mean, 3)), "eps": list(trace.eps)}  # fmt: skip


def parse(args: list[str]) -> tuple[dict, dict, str]:
    """Grid values (key=v1,v2), method settings (<method>.<key>=value) and the output name."""
    grid, overrides, out = dict(GRID), {}, "baselines"
    for arg in args:
        key, _, values = arg.partition("=")
        if key == "out":
            out = values
        elif "." in key:
            method, name = key.split(".", 1)
            overrides.setdefault(method, {})[name] = yaml.safe_load(values)
        else:
            kind = str if key == "method" else float if key == "p" else int
            grid[key] = [kind(v) for v in values.split(",")]
    return grid, overrides, out


if __name__ == "__main__":
    grid, overrides, name = parse(sys.argv[1:])
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.csv"
    columns = ["method", "N", "T", "leader_proportion"]
    done = pd.read_csv(path) if path.exists() else pd.DataFrame(columns=columns)
    seen = set(zip(done.method, done.N, done.T, done.leader_proportion))
    for N, T, p, m in product(grid["N"], grid["T"], grid["p"], grid["method"]):
        if (m, N, T, p) in seen or round(N * p) < 1:
            continue
        row = run(N, T, p, m, overrides)
        print({k: v for k, v in row.items() if k not in ("eps", "est_eps")}, flush=True)
        pd.DataFrame([row]).to_csv(path, mode="a", header=not path.exists(), index=False)
    runs = pd.read_csv(path)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(side_by_side(runs).round(3))
