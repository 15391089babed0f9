"""`vi-od check` at 10^6 interactions (docs/checks.md's target: <= 20 s).

A trace of N=2000 agents, 100 interactions per step, T=10001 (10^6 interactions) is fitted
once with svi-marginal; then `vi-od check` runs in fresh processes, so the time includes
start-up, reading the data, every compile and 200 replications. cpu_s (user + system of the
process, all threads) is less sensitive than wall_s to other jobs on the machine; the load
average when each run started is recorded with it.
"""

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchlib import OUT, write

N, E, T, SEED = 2000, 100, 10001, 0
VI_OD = [str(Path(sys.executable).parent / "vi-od")]


def timed_run(args: list[str]) -> dict:
    """Wall and CPU seconds of one command in a fresh process."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "load_avg_1min": load, "out": out}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    trace, fit = OUT / "check_trace.npz", OUT / "check_fit.json"
    if not trace.exists():
        subprocess.run([*VI_OD, "simulate", f"N={N}", f"T={T}", f"simulator.edges_per_step={E}",
                        "--seed", str(SEED), "--out", str(trace)], check=True)  # fmt: skip
    if not fit.exists():
        fitted = timed_run([*VI_OD, "fit", str(trace), "--method", "svi-marginal",
                            "--out", str(fit)])  # fmt: skip
        print(f"svi-marginal fit: {fitted['wall_s']} s wall")
    rows = []
    for repeat in range(2):
        run = timed_run([*VI_OD, "check", str(trace), str(fit), "--out", str(OUT / "check.json")])
        verdict = run.pop("out").strip().splitlines()[0]
        rows.append({"interactions": (T - 1) * E, "repeat": repeat, **run,
                     "verdict": verdict})  # fmt: skip
    write("check", rows)


if __name__ == "__main__":
    main()
