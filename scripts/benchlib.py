"""Small helpers shared by the benchmarks: timing and writing results/bench/<name>.json."""

import json
import os
import platform
import time
from pathlib import Path

import jax

OUT = Path(os.environ.get("VI_OD_BENCH_DIR", "results/bench"))


def timed(fn, *args, repeat: int = 3):
    """Best wall time of `repeat` calls of fn(*args) (results blocked until ready)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return best


def write(name: str, rows: list[dict]) -> Path:
    """Write benchmark rows with the machine they ran on, and print them."""
    OUT.mkdir(parents=True, exist_ok=True)
    record = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "jax": jax.__version__,
            "backend": jax.default_backend(),
            "device": str(jax.devices()[0]),
        },
        "rows": rows,
    }
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(record, indent=2))
    for row in rows:
        print(f"[{name}] " + ", ".join(f"{k}={v}" for k, v in row.items()))
    return path
