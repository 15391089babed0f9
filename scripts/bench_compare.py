"""vi-od compare at scale (docs/compare.md): two models on a 10^5-agent, 10^7-interaction log.

Simulates the event log (`vi-od simulate ... --out LOG.parquet`, 10% leaders), then times
`vi-od compare LOG --models bcm-roles,bcm --kfold 0` as a fresh process from the outside
(wall, CPU, peak RSS via os.wait4): reading the log, both fits (nuts-marginal, every compile
included), each model's per-agent terms at every draw and ArviZ's PSIS-LOO and stacking. The
K-fold fallback is off (it would be K refits per model); its own cost is K times a fit.

Usage: python scripts/bench_compare.py [N] [INTERACTIONS]   (default 100000 10000000)
Writes results/bench/compare.json and results/bench/logs/compare.json (the comparison).
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import OUT, write

EPS = "[0.35,0.15,0.65,0.85]"


def measured(args: list[str]) -> dict:
    """Run args as a fresh process: wall and CPU seconds and peak RSS (its own)."""
    with tempfile.TemporaryFile("w+") as out:
        load = os.getloadavg()[0]
        start = time.perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        text = out.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({status}):\n{text[-2000:]}")
    return {"wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_GiB": round(usage.ru_maxrss / 2**20, 3), "load_avg_1min": round(load, 2)}


def main(N: int, M: int) -> None:
    logs = OUT / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    T = M // 10 + 1
    log, result = logs / f"compare_N{N}.parquet", logs / "compare.json"
    vi_od = str(Path(sys.executable).with_name("vi-od"))
    base = {"N": N, "interactions": (T - 1) * 10}
    sim = measured([vi_od, "simulate", f"N={N}", f"T={T}", "leader_proportion=0.1",
                    f"simulator.eps={EPS}", "--seed", "0", "--out", str(log)])  # fmt: skip
    rows = [{**base, "task": "simulate", **sim}]
    print(rows[-1], flush=True)
    usage = measured([vi_od, "compare", str(log), "--models", "bcm-roles,bcm", "--kfold", "0",
                      "--out", str(result)])  # fmt: skip
    record = json.loads(result.read_text())
    fits = {n: round(f["wall_time_s"], 2) for n, f in record["fits"].items()}
    ranking = [{k: r[k] for k in ("model", "elpd_loo", "se", "elpd_diff", "dse", "weight",
                                  "k_above_0.7")} for r in record["ranking"]]  # fmt: skip
    rows.append({**base, "task": "compare bcm-roles,bcm", **usage, "fit_s": fits,
                 "ranking": ranking})  # fmt: skip
    log.unlink()
    write("compare", rows)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3])) if len(sys.argv) > 2 else main(100_000, 10**7)
