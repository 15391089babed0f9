"""Accuracy of nuts-marginal and svi-marginal on the paper's grid, side by side with the paper.

Every (N, T, leader proportion) cell of the paper's grid (76 cells) x --reps repetitions;
traces and fit keys come from the experiment's identity as in the sweep
(vi_od.experiments.sweep.experiment_seeds), so the same cell and rep gives the same trace there.
Rows are appended to <out>/runs.jsonl as they finish (a rerun skips the done ones), then
the summary is printed: ours and the paper's methods on the same cells, and the weak spots.

Usage: python scripts/accuracy_marginal.py [--methods nuts-marginal,svi-marginal]
       [--reps 1] [--cells all|quarter] [--set method.key=value ...] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from vi_od.data.trace import to_observations

GRID_N = (50, 100, 200, 400)
GRID_T = (128, 512, 2048, 8192)
GRID_P = (0.01, 0.02, 0.04, 0.1, 0.2)
SWEEP_SEED = 0


def experiment_seeds(N: int, T: int, p: float, rep: int) -> tuple[int, int]:
    """(trace seed, fit seed), as vi_od.experiments.sweep.experiment_seeds derives them."""
    entropy = [SWEEP_SEED, N, T, round(p * 1_000_000), rep]
    trace_seed, fit_seed = np.random.SeedSequence(entropy).generate_state(2)
    return int(trace_seed >> 1), int(fit_seed >> 1)


def cells(which: str) -> list[tuple[int, int, float]]:
    """The paper's 76 cells, or every fourth of them (a quarter spanning every N, T and p)."""
    grid = [(N, T, p) for N in GRID_N for T in GRID_T for p in GRID_P if round(N * p) >= 1]
    return grid if which == "all" else grid[::4]


def fit_row(method_name: str, overrides: dict, N: int, T: int, p: float, rep: int) -> dict:
    """Simulate the experiment's trace, fit it, and return one results row."""
    import jax

    from vi_od.config import settings_from_dict
    from vi_od.data.trace import EPS_NAMES, summary
    from vi_od.inference import get
    from vi_od.inference.posterior import metrics
    from vi_od.models.bcm_roles.simulate import SimulatorSettings, simulate_trace
    from vi_od.progress import quiet

    trace_seed, fit_seed = experiment_seeds(N, T, p, rep)
    trace = simulate_trace(SimulatorSettings(N=N, T=T, leader_proportion=p), seed=trace_seed)
    method = get(method_name)
    settings = settings_from_dict(method.Settings, overrides, "method")
    label = method_name + "".join(f"[{k}={v}]" for k, v in overrides.items())
    row = {"method": label, "rep": rep, "seed": trace_seed, "N": N, "T": T, "E": trace.E,
           "leader_proportion": p, **summary(trace)}  # fmt: skip
    start = time.perf_counter()
    try:
        with quiet():
            post = method.fit(to_observations(trace), settings, jax.random.PRNGKey(fit_seed))
    except Exception as exc:  # a failed fit is a row too
        return {**row, "status": "error", "error": f"{type(exc).__name__}: {exc}"}
    row["wall_time_s"] = time.perf_counter() - start
    for name, mean, std in zip(EPS_NAMES, post.eps_mean, post.eps_std):
        row[f"est_{name}"], row[f"std_{name}"] = float(mean), float(std)
    row.update(metrics(post, trace))
    row["est_leader_proportion"] = post.info.get("leader_proportion")
    for key in ("relabelled", "divergences", "leapfrog_steps", "final_loss"):
        row[key] = post.info.get(key)
    if "r_hat" in post.info:
        row["max_r_hat"] = max(v for v in post.info["r_hat"].values() if v is not None)
    return {**row, "status": "ok", "error": ""}


def run(args) -> pd.DataFrame:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "runs.jsonl"
    done = pd.read_json(path, lines=True) if path.exists() else pd.DataFrame()
    overrides = dict(kv.split("=", 1) for kv in args.set)
    overrides = {k.removeprefix("method."): _number(v) for k, v in overrides.items()}
    todo = [(m, N, T, p, rep) for m in args.methods.split(",") for (N, T, p) in cells(args.cells)
            for rep in range(args.reps)]  # fmt: skip
    for i, (method, N, T, p, rep) in enumerate(todo):
        label = method + "".join(f"[{k}={v}]" for k, v in overrides.items())
        key = (label, N, T, p, rep)
        if len(done) and ((done[["method", "N", "T", "leader_proportion", "rep"]]
                           .apply(tuple, axis=1)) == key).any():  # fmt: skip
            continue
        row = fit_row(method, overrides, N, T, p, rep)
        with path.open("a") as f:
            f.write(json.dumps(row, default=float) + "\n")
        nan = float("nan")
        print(f"[{i + 1}/{len(todo)}] {label} N={N} T={T} p={p} rep={rep}: {row['status']} "
              f"rmse={row.get('rmse_eps', nan):.4f} role_err={row.get('role_error_rate', nan):.3f}"
              f" t={row.get('wall_time_s', nan):.1f}s {row['error']}", flush=True)  # fmt: skip
    return pd.read_json(path, lines=True)


def _number(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def report(df: pd.DataFrame) -> None:
    from vi_od.reporting.summary import method_summary, paper_on_same_cells

    pd.set_option("display.width", 160)
    df["perfect_roles"] = df["perfect_roles"].astype(bool)
    print("\nOurs:")
    print(method_summary(df).round(4).to_string())
    print("\nThe paper's methods on the same (N, T, n_leaders) cells:")
    print(method_summary(paper_on_same_cells(df)).round(4).to_string())
    ok = df[df["status"] == "ok"].copy()
    ok["leaders"] = pd.cut(ok["n_leaders"], [0, 2, 8, 80], labels=["1-2", "3-8", "9-80"])
    cols = ["rmse_eps", "role_error_rate", "perfect_roles", "brier", "ece"]
    for by in ("T", "leaders", "N"):
        print(f"\nBy {by}:")
        table = ok.groupby(["method", by], observed=True)[cols].mean()
        print(table.round(4).to_string())
    worst = ok.sort_values("role_error_rate", ascending=False).head(8)
    print("\nLargest role errors:")
    print(worst[["method", "N", "T", "n_leaders", "eps_plus_F", "eps_plus_L", "eps_minus_F",
                 "eps_minus_L", "rmse_eps", "role_error_rate"]].round(4).to_string())  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="svi-marginal,nuts-marginal")
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--cells", choices=("all", "quarter"), default="all")
    parser.add_argument("--set", nargs="*", default=[], help="method.key=value overrides")
    parser.add_argument("--out", default="results/accuracy_marginal")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    # as the sweep's workers: compile once per shape, across fits and processes
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(args.out) / ".jax_cache"))
    import jax

    jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    path = Path(args.out) / "runs.jsonl"
    df = pd.read_json(path, lines=True) if args.report_only else run(args)
    report(df)


if __name__ == "__main__":
    main()
