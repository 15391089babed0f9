"""Performance at scale (docs/scale.md): simulate and fit event logs of up to 10^7 interactions.

Every point is a fresh process, timed from the outside (wall time, CPU time, peak RSS of
that process, via os.wait4): `vi-od simulate ... --out LOG.parquet`, then one process per
method that reads the log, tabulates it and fits it (every compile included). Points:
interactions 10^5, 10^6, 10^7 at N = 10^4; agents 10^3, 10^4, 10^5 at 10^6 interactions;
the target, N = 10^5 with 10^7 interactions; and the same with heavy-tailed receivers
(zipf:0.92, the busiest 1% of the agents receive half of the interactions). Each fit is
scored against the truth and against the exact Bayes rule at the true eps and leader
share (the best any method can do on the roles), computed after the fit in the same
process; its time is taken off the process's (peak RSS may include it).

Usage: python scripts/bench_scale.py [POINT ...]    (default: all; e.g. target heavy)
       python scripts/bench_scale.py fit LOG METHOD  (one fit; prints a JSON line)
       python scripts/bench_scale.py figure [JSON]   (redraw from results/bench/scale.json)
Writes results/bench/scale.json and docs/figures/scale.png; logs go to results/bench/logs/.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EPS = "[0.35,0.15,0.65,0.85]"  # distinct thresholds for both roles
METHODS = ("svi-marginal", "nuts-marginal", "svi-normal")
TARGETS = {"simulate": 60.0, "svi-marginal": 30.0, "nuts-marginal": 60.0, "svi-normal": 120.0}
POINTS = {  # name: (N, interactions, activity)
    "M1e5": (10_000, 10**5, "uniform"),
    "M1e6": (10_000, 10**6, "uniform"),
    "M1e7": (10_000, 10**7, "uniform"),
    "N1e3": (1_000, 10**6, "uniform"),
    "N1e5": (100_000, 10**6, "uniform"),
    "target": (100_000, 10**7, "uniform"),
    "heavy": (100_000, 10**7, "zipf:0.92"),
}
LOGS = Path(os.environ.get("VI_OD_BENCH_DIR", "results/bench")) / "logs"
FIGURE = Path("docs/figures/scale.png")


def fit(log: str, method: str) -> None:
    """One fit in this (fresh) process; prints its phases, accuracy and the Bayes oracle's."""
    start = time.perf_counter()
    import jax
    import jax.numpy as jnp
    import numpy as np

    from vi_od.data import load_observations
    from vi_od.inference import get
    from vi_od.inference.fitting import fit_observations
    from vi_od.models.bcm_roles.collapsed import leader_probability, tabulate
    from vi_od.progress import quiet

    obs = load_observations(log)  # the reader `vi-od fit` uses, every check included
    read_s = time.perf_counter() - start
    with quiet():
        record = fit_observations(obs, method, get(method).Settings().validate(), 0).record
    fit_s = time.perf_counter() - start - read_s
    oracle_start, oracle_cpu = time.perf_counter(), time.process_time()
    pi = float(obs.roles.mean())
    oracle = leader_probability(jnp.asarray(obs.eps), jnp.float32(pi), tabulate(obs))
    oracle_error = float(np.mean((np.asarray(oracle) > 0.5) != obs.roles))
    oracle_s = (time.perf_counter() - oracle_start, time.process_time() - oracle_cpu)
    keep = ("steps", "warmup", "samples", "leapfrog_steps", "divergences", "leader_proportion")
    print(json.dumps({
        "read_s": round(read_s, 2), "fit_s": round(fit_s, 2),
        "rmse_eps": record["metrics"]["rmse_eps"],
        "role_error": record["metrics"]["role_error_rate"],
        "oracle_role_error": oracle_error,
        "eps_mean": list(record["eps_mean"].values()),
        "backend": jax.default_backend(),
        "oracle_wall_s": oracle_s[0], "oracle_cpu_s": oracle_s[1],
        **{k: record[k] for k in keep if k in record},
    }))  # fmt: skip


def measured(args: list[str]) -> tuple[dict, str]:
    """Run args as a fresh process: wall and CPU seconds, peak RSS (its own), its stdout."""
    with tempfile.TemporaryFile("w+") as out:
        load = os.getloadavg()[0]
        start = time.perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        text = out.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({status})")
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_GiB": round(usage.ru_maxrss / 2**20, 3),
        "load_avg_1min": round(load, 2),
    }, text


def point(name: str) -> list[dict]:
    N, M, activity = POINTS[name]
    T = M // 10 + 1
    log = LOGS / f"{name}.parquet"
    base = {"point": name, "N": N, "interactions": (T - 1) * 10, "activity": activity}
    rows = []
    vi_od = str(Path(sys.executable).with_name("vi-od"))
    sim, _ = measured([vi_od, "simulate", f"N={N}", f"T={T}", "leader_proportion=0.1",
                       f"simulator.eps={EPS}", "--seed", "0", "--activity", activity,
                       "--out", str(log)])  # fmt: skip
    rows.append({**base, "task": "simulate", **sim, "target_s": TARGETS["simulate"]})
    print(rows[-1], flush=True)
    for method in METHODS:
        usage, text = measured([sys.executable, __file__, "fit", str(log), method])
        result = json.loads(text.strip().splitlines()[-1])
        # the process's time up to the end of the fit: the oracle after it is not the method's
        usage["wall_s"] = round(usage["wall_s"] - result.pop("oracle_wall_s"), 2)
        usage["cpu_s"] = round(usage["cpu_s"] - result.pop("oracle_cpu_s"), 2)
        rows.append({**base, "task": method, **usage, "target_s": TARGETS[method], **result})
        print(rows[-1], flush=True)
    log.unlink()
    return rows


def figure(rows: list[dict], path: Path) -> None:
    """Wall time and peak memory against interactions (N = 10^4) and agents (10^6)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweeps = {
        "interactions (N = 10^4)": (("M1e5", "M1e6", "M1e7"), "interactions"),
        "agents (10^6 interactions)": (("N1e3", "M1e6", "N1e5"), "N"),
    }
    fig, axes = plt.subplots(2, 2, figsize=(9, 6.5), constrained_layout=True)
    for col, (title, (names, x)) in enumerate(sweeps.items()):
        for task in ("simulate", *METHODS):
            pts = [r for n in names for r in rows if r["point"] == n and r["task"] == task]
            if not pts:
                continue
            for row_ax, key in zip(axes[:, col], ("wall_s", "peak_rss_GiB")):
                row_ax.plot([p[x] for p in pts], [p[key] for p in pts], "o-", label=task)
        axes[0, col].set(title=title, xscale="log", yscale="log", ylabel="wall time (s)")
        axes[1, col].set(xscale="log", xlabel=x, ylabel="peak memory (GiB)")
    for i, task in enumerate(("simulate", *METHODS)):  # the 10^7 targets, uniform and heavy
        for r in rows:
            if r["point"] in ("target", "heavy") and r["task"] == task:
                marker = "*" if r["point"] == "heavy" else "s"
                axes[0, 0].plot(r["interactions"], r["wall_s"], marker, color=f"C{i}", ms=9,
                                mfc="none" if marker == "s" else f"C{i}")  # fmt: skip
    axes[0, 0].plot([], [], "ks", mfc="none", label="N = 10^5, uniform")
    axes[0, 0].plot([], [], "k*", label="N = 10^5, heavy-tailed")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"vi-od at scale: fresh processes, {os.cpu_count()}-core CPU, no other jobs")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


def main(names: list[str]) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from benchlib import write

    LOGS.mkdir(parents=True, exist_ok=True)
    rows = [row for name in names for row in point(name)]
    write("scale", rows)
    if {"M1e5", "M1e6", "M1e7", "N1e3", "N1e5"} <= set(names):
        figure(rows, FIGURE)
        print(f"figure -> {FIGURE}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["fit"]:
        fit(*sys.argv[2:4])
    elif sys.argv[1:2] == ["figure"]:
        source = Path(sys.argv[2] if len(sys.argv) > 2 else LOGS.parent / "scale.json")
        figure(json.loads(source.read_text())["rows"], FIGURE)
    else:
        main(sys.argv[1:] or list(POINTS))
