"""Sweep costs: per-job overhead with a warm compilation cache, and the smoke sweep end to end.

Per-job overhead = the wall time the parent sees for a job whose fit computes almost nothing
(tiny ABC): process start, imports, JAX start, trace, compile from the persistent cache,
write. Jobs run one at a time, after a first job has filled the cache. The smoke sweep
(conf/sweep/smoke.yaml, every method) runs with --jobs 2 and a cold cache, as on a fresh
machine.
"""

import os
import tempfile
import time
from pathlib import Path

from benchlib import write

from vi_od.experiments import results, sweep, worker

TINY = ["N=20", "T=32", "rep=range(4)", "method=abc", "method.simulations=100"]
TINY += ["method.min_accepted=10"]


def per_job_overhead(folder: Path) -> dict:
    plan = sweep.expand(TINY)
    outcomes = []
    for job in plan.jobs:  # one at a time: nothing else competes with the job
        outcomes.append(worker.run_job(vars(job), str(folder), 600.0))
    fit = results.load(folder).set_index("job_id")["wall_time_s"]
    warm = outcomes[1:]
    job_s = sum(o["wall_time_s"] for o in warm) / len(warm)
    fit_s = float(sum(fit[o["job_id"]] for o in warm) / len(warm))
    first = outcomes[0]["wall_time_s"]
    return {"case": "per-job overhead (warm cache)", "first_job_cold_cache_s": round(first, 2),
            "fit_incl_cached_compile_s": round(fit_s, 2),
            "overhead_s": round(job_s, 2), "target_s": 3.0}  # fmt: skip


def smoke(folder: Path) -> dict:
    plan = sweep.expand(["sweep=smoke"])
    start = time.perf_counter()
    counts = sweep.run(plan, folder, jobs=2)
    wall = time.perf_counter() - start
    df = results.load(folder)
    per_method = df.groupby("method")["wall_time_s"].median().round(1).to_dict()
    return {"case": "smoke sweep, --jobs 2, cold cache", "jobs": len(plan.jobs),
            "methods": sorted(df["method"].unique()), "statuses": dict(counts),
            "wall_s": round(wall, 1), "median_fit_s": per_method, "target_s": 300}  # fmt: skip


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["JAX_COMPILATION_CACHE_DIR"] = str(tmp / "cache-a")
        rows = [per_job_overhead(tmp / "tiny")]
        os.environ["JAX_COMPILATION_CACHE_DIR"] = str(tmp / "cache-b")
        rows.append(smoke(tmp / "smoke"))
    write("sweep", rows)
