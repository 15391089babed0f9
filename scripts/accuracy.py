"""`make accuracy`: fit simulated experiments from the paper's grid, compare with the paper.

Simulates M experiments on a stratified subset of the paper's (N, T, leader proportion)
cells with fixed seeds, fits each with every chosen method (all methods fit the same
traces), prints per method the mean eps RMSE, role error and share of perfect roles next
to the paper's own runs on the same cells, and writes the per-run table.

Usage:
  python scripts/accuracy.py [--runs 16] [--methods svi-normal,svi-nf:100] [--seed 0]
                             [--name accuracy] [--label L] [method.key=value ...]

`svi-nf:100` fits svi-nf only on cells with N <= 100 (the default keeps the run under
~30 minutes on 2 cores). A method is fitted only on cells where the paper ran it, so the
comparison is on the same cells. Overrides (e.g. method.restarts=4) apply to every method;
--label names such a variant in the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import pandas as pd

from vi_od.config import compose_config, method_settings
from vi_od.data.trace import summary as trace_summary
from vi_od.data.trace import to_observations
from vi_od.errors import ViOdError
from vi_od.inference.fitting import fit_observations
from vi_od.models.bcm_roles import EPS_NAMES
from vi_od.models.bcm_roles.simulate import SimulatorSettings, simulate_trace
from vi_od.progress import quiet
from vi_od.reporting.summary import paper_runs, side_by_side

OUT = Path(os.environ.get("VI_OD_ACCURACY_DIR", "results/accuracy"))
CELL = ["N", "T", "n_leaders", "leader_proportion"]
TRACE_STATS = (
    "pos_interactions_L", "neg_interactions_L", "pos_interactions_F", "neg_interactions_F",
    "var_X_final", "abs_diff_eps_plus", "abs_diff_eps_minus",
)  # fmt: skip


def stratified_cells(cells: pd.DataFrame, runs: int) -> list[dict]:
    """`runs` cells cycling over the (N, T) pairs, rotating the leader proportion per pair.

    Past one cell per pair, each pair's next proportion; past every cell, repetitions.
    """
    by_pair = {k: group.sort_values("leader_proportion") for k, group in cells.groupby(["N", "T"])}
    pairs = sorted(by_pair)
    picks = []
    for i in range(runs):
        index, lap = i % len(pairs), i // len(pairs)
        group = by_pair[pairs[index]]
        row = group.iloc[(index + lap) % len(group)]
        rep = sum(1 for p in picks if all(p[k] == row[k] for k in CELL))
        cell = {k: int(row[k]) for k in ("N", "T", "n_leaders")}
        picks.append({**cell, "leader_proportion": float(row["leader_proportion"]), "rep": rep})
    return picks


def parse_methods(text: str) -> dict[str, int | None]:
    """'a,b:100' -> {'a': None, 'b': 100}: b only on cells with N <= 100."""
    out = {}
    for item in text.split(","):
        name, _, max_n = item.partition(":")
        out[name.strip()] = int(max_n) if max_n else None
    return out


def experiment_row(cell: dict, seed: int, trace) -> dict:
    """The experiment's identity, its true eps and the trace's error-analysis statistics."""
    stats = trace_summary(trace)
    row = {**cell, "seed": seed, "E": trace.E}
    row.update({name: float(x) for name, x in zip(EPS_NAMES, trace.eps)})
    row.update({k: stats[k] for k in TRACE_STATS})
    return row


def fit_row(method: str, settings, trace, seed: int) -> dict:
    """One fit as a results row (status error with the message when the fit fails)."""
    try:
        with quiet():
            record = fit_observations(to_observations(trace), method, settings, seed).record
    except ViOdError as exc:
        return {"status": "error", "error": str(exc)}
    m = record["metrics"]
    row = {
        "status": "ok",
        "error": "",
        "wall_time_s": record["wall_time_s"],
        "rmse_eps": m["rmse_eps"],
        "role_error_rate": m["role_error_rate"],
        "perfect_roles": m["perfect_roles"],
        "leaders_recall": m["leaders_recall"],
        "brier": m["brier"],
        "ece": m["ece"],
        "n_steps": record.get("steps"),
        "final_loss": record.get("final_loss"),
    }
    row.update({f"est_{k}": v for k, v in record["eps_mean"].items()})
    row.update({f"std_{k}": v for k, v in record["eps_std"].items()})
    return row


def in_cells(cell: dict, cells: pd.DataFrame) -> bool:
    """Whether the (N, T, leaders) of `cell` is one of `cells`."""
    key = ["N", "T", "n_leaders"]
    return bool((cells[key] == [cell[k] for k in key]).all(axis=1).any())


def paper_cells(method: str) -> pd.DataFrame:
    """The (N, T, leaders) cells where the paper ran `method`."""
    paper = paper_runs()
    return paper[paper["method"] == method][CELL].drop_duplicates()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=16, help="experiments (default 16)")
    parser.add_argument("--methods", default="svi-normal,svi-nf:100")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first experiment")
    parser.add_argument("--name", default="accuracy", help="results/accuracy/<name>.parquet")
    parser.add_argument("--label", default="", help="name of this variant in the tables")
    parser.add_argument("overrides", nargs="*", help="method.key=value for every method")
    args = parser.parse_args(argv)

    methods = parse_methods(args.methods)
    settings = {}
    for name in methods:
        try:
            cfg = compose_config([*args.overrides, f"method={name}"])
            settings[name] = method_settings(cfg)[1]
        except ViOdError as exc:
            sys.exit(f"error: {exc}")
    cells = stratified_cells(paper_runs()[CELL].drop_duplicates(), args.runs)
    ran_by_paper = {name: paper_cells(name) for name in methods}

    rows = []
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{args.name}.parquet"
    started = time.perf_counter()
    for i, cell in enumerate(cells):
        seed = args.seed + i
        proportion = cell["leader_proportion"]
        trace = simulate_trace(SimulatorSettings(cell["N"], cell["T"], proportion), seed)
        experiment = experiment_row(cell, seed, trace)
        for name, max_n in methods.items():
            if not in_cells(cell, ran_by_paper[name]) or cell["N"] > (max_n or cell["N"]):
                continue
            variant = f"{name} [{args.label}]" if args.label else name
            row = {"method": name, "variant": variant, **experiment}
            row.update(fit_row(name, settings[name], trace, seed))
            row["settings"] = json.dumps(vars(settings[name]), default=list)
            rows.append(row)
            print(
                f"[{time.perf_counter() - started:7.0f}s] {i + 1}/{len(cells)} {name:<11} "
                f"N={cell['N']:<4} T={cell['T']:<5} leaders={cell['n_leaders']:<3} "
                + (f"rmse={row['rmse_eps']:.4f} role_err={row['role_error_rate']:.3f} "
                   f"wall={row['wall_time_s']:.1f}s" if row["status"] == "ok" else row["error"]),
                flush=True,
            )  # fmt: skip
            write(pd.DataFrame(rows), path)
    runs = pd.DataFrame(rows)
    report(runs)
    print(f"per-run table: {path}")
    return 0


def write(runs: pd.DataFrame, path: Path) -> None:
    """Rewrite the table atomically after every run, so an interrupted run keeps its rows."""
    tmp = path.with_name(f".{path.name}.tmp")
    runs.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def report(runs: pd.DataFrame) -> None:
    """Per variant, ours next to the paper's runs of the same method on the same cells."""
    tables = []
    for variant, mine in runs.groupby("variant"):  # one method per variant
        table = side_by_side(mine)
        table.index = [variant]
        tables.append(table)
    columns = ["ok", "error", "rmse_eps", "paper_rmse_eps", "role_error_rate",
               "paper_role_error_rate", "perfect_roles", "paper_perfect_roles",
               "median_wall_s", "paper_median_wall_s", "paper_ok"]  # fmt: skip
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(pd.concat(tables)[columns].round(4).to_string())


if __name__ == "__main__":
    sys.exit(main())
