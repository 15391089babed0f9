"""How often `vi-od check` flags well-specified and misspecified logs (docs/checks.md).

2,000 agents, 10 interactions per step, T = 10,001 (100,000 interactions), 10% leaders, eps
drawn from the paper's grid by each case's seed. Cases:

- well: the grid simulator, i.e. the model itself (target: flagged in <= 5% of cases);
- drift: the followers' eps+ moves by 0.2 over the log, up from eps+_F <= 0.25, else down
  (target: >= 95%);
- third: 10% of the agents (taken from the followers) have thresholds unlike both roles', the
  grid values farthest from both (vi_od.models.bcm_roles.misspecified.unlike) (target: >= 95%).

Each trace is fitted with one method (default svi-marginal, default settings) and checked with
`vi-od check`'s defaults (200 draws, Holm at alpha 0.05). One JSON line per case goes to
results/check_power/<method>.jsonl (a rerun skips the cases already there); the summary gives
each kind's flagged share with its exact (Clopper-Pearson) 95% interval.

    nice -n 5 python scripts/check_power.py [--well 40] [--drift 20] [--third 20]
                                            [--method svi-marginal]
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from scipy.stats import beta

from vi_od.data.trace import to_observations
from vi_od.inference import get
from vi_od.inference.fitting import fit_observations
from vi_od.models.bcm_roles import ppc
from vi_od.models.bcm_roles.misspecified import simulate_misspecified
from vi_od.models.bcm_roles.simulate import SimulatorSettings, draw_eps_from_grid
from vi_od.progress import quiet, task

SETTINGS = SimulatorSettings(N=2000, T=10001, leader_proportion=0.1)
FIRST_SEED = {"well": 0, "drift": 1000, "third": 2000}


def trace_of(kind: str, seed: int):
    """The case's trace: the model itself, or one of the two misspecifications."""
    if kind == "well":
        return simulate_misspecified(SETTINGS, seed)  # no drift, no third group: the model
    if kind == "drift":
        eps_plus_F = draw_eps_from_grid(seed)[0]
        return simulate_misspecified(SETTINGS, seed, drift=0.2 if eps_plus_F <= 0.25 else -0.2)
    return simulate_misspecified(SETTINGS, seed, third_share=0.1)


def run_case(kind: str, seed: int, method: str) -> dict:
    """Simulate, fit, check; the numbers of one case."""
    obs = to_observations(trace_of(kind, seed))
    settings = get(method).Settings().validate()
    start = time.perf_counter()
    with quiet():
        fit = fit_observations(obs, method, settings, seed)
    fit_s = time.perf_counter() - start
    record = json.loads(json.dumps(fit.record))  # exactly what `vi-od check` reads from disk
    result = ppc.check(obs, ppc.draws_from_record(record, obs.N))
    return {
        "kind": kind, "seed": seed, "method": method, "eps": obs.eps.tolist(),
        "misspecified": obs.meta.get("misspecified"), "misfit": result.misfit,
        "failing": [s.name for s in result.failing],
        "tested": int(np.sum(~np.isnan(result.p_values))),
        "smallest_p": float(np.nanmin(result.p_values)),
        "fit_s": round(fit_s, 2), "check_s": round(result.wall_time_s, 2),
    }  # fmt: skip


def interval(k: int, n: int) -> tuple[float, float]:
    """Exact (Clopper-Pearson) 95% interval of a share k / n."""
    low = beta.ppf(0.025, k, n - k + 1) if k > 0 else 0.0
    high = beta.ppf(0.975, k + 1, n - k) if k < n else 1.0
    return float(low), float(high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for kind, default in (("well", 40), ("drift", 20), ("third", 20)):
        parser.add_argument(f"--{kind}", type=int, default=default, help=f"{kind} cases")
    parser.add_argument("--method", default="svi-marginal")
    parser.add_argument("--out", type=Path, default=Path("results/check_power"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{args.method}.jsonl"
    done = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    seen = {(c["kind"], c["seed"]) for c in done}
    todo = [(kind, FIRST_SEED[kind] + i) for kind in FIRST_SEED for i in range(getattr(args, kind))]
    todo = [case for case in todo if case not in seen]
    start = time.perf_counter()
    with task("cases", total=len(todo), unit="cases") as advance, path.open("a") as out:
        for kind, seed in todo:
            case = run_case(kind, seed, args.method)
            out.write(json.dumps(case) + "\n")
            out.flush()
            done.append(case)
            advance(1, flagged=sum(c["misfit"] for c in done if c["kind"] == kind), kind=kind)
    print(f"{len(todo)} new cases in {time.perf_counter() - start:.0f} s "
          f"(load average {os.getloadavg()[0]:.1f}); all cases in {path}")  # fmt: skip
    print("| logs | method | cases | flagged | share | 95% interval | fit s | check s |")
    print("|---|---|---:|---:|---:|---|---:|---:|")
    for kind in FIRST_SEED:
        cases = [c for c in done if c["kind"] == kind]
        if not cases:
            continue
        k, n = sum(c["misfit"] for c in cases), len(cases)
        low, high = interval(k, n)
        fit_s = np.median([c["fit_s"] for c in cases])
        check_s = np.median([c["check_s"] for c in cases])
        print(f"| {kind} | {args.method} | {n} | {k} | {k / n:.2f} | {low:.2f}-{high:.2f} "
              f"| {fit_s:.1f} | {check_s:.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
