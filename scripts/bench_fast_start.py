"""Fast start (docs/performance.md): a command's cost as a whole process, beside the paper's.

Times, each as a fresh process and repeated in alternation: `vi-od --help`, five bad
inputs (fit: a missing file, an unknown key, a bad value; check: a missing file; simulate:
an unknown key), and svi-normal with the paper's 20,000 steps on
one N = 200, T = 2048 trace, cold (an empty compilation cache) and warm (the cache filled
by an earlier run). Given a checkout of the paper's repository (github.com/jaclenti/
VI_opinion_dynamics) and a Python with its stack (jax 0.4.23, numpyro 0.13.2, numpy 1.26,
scipy, matplotlib, tqdm), the paper's own `train_svi` (src/inference_leaders.py, as its
`complete_experiment` calls it for method svinormal) runs on the same trace, saved in its
format, in the same rounds. Nothing of the paper's code is copied: it is imported from
the checkout. Three modules it imports only for its other methods (pyABC, diptest,
pyro's torch) are stubbed, which can only make its process faster.

--compare-grid RESULTS instead compares the rows of a `vi-od sweep -m sweep=paper ...` results
folder (a subset of the paper grid, run again) with the committed grid's rows of the same
job ids: fit wall time per job, and whether every estimate is the same number. It adds
them to the JSON as "grid".

Usage:
  python scripts/bench_fast_start.py [--paper CHECKOUT --paper-python PYTHON]
                                     [--repeats 3] [--out docs/results/fast_start.json]
  python scripts/bench_fast_start.py --compare-grid RESULTS [--baseline RESULTS] [--label NAME]
                                     [--out ...]
(defaults of --paper and --paper-python: $VI_OD_PAPER_REPO and $VI_OD_PAPER_PYTHON)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

VI_OD = [sys.executable, "-m", "vi_od"]
SETTINGS = ["N=200", "T=2048", "leader_proportion=0.1"]
STEPS = 20000

# Runs the paper's SVI on a trace saved in its format (X, edges = (u, v, s+, s-), roles).
PAPER_DRIVER = """
import sys, types
for name in ("pyro", "pyro.nn", "diptest", "pyABC_", "pyABC_.pyabc", "pyABC_.pyabc.sampler"):
    sys.modules[name] = types.ModuleType(name)
sys.modules["pyro.nn"].PyroModule = object
sys.modules["diptest"].dipstat = None
sys.modules["pyABC_"].pyabc = sys.modules["pyABC_.pyabc"]
sys.modules["pyABC_.pyabc.sampler"].SingleCoreSampler = None
src, folder, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, src)
import numpy as np
import inference_leaders as paper
X, edges, roles = (np.load(f"{folder}/{n}.npy") for n in ("X", "edges", "roles"))
res = paper.train_svi(X, edges.astype(int), roles.astype(int), n_steps=steps,
                      guide_family="normal", rho=32)
print("eps_mean", [round(float(e), 4) for e in res[-1]["epsilon_mean"]],
      "fit_s", round(res[-1]["tot_time"], 2))
"""


def timed(args: list[str], env: dict, expect: int = 0) -> dict:
    """Wall and CPU seconds (user + system, of the process and its children) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != expect:
        sys.exit(f"{' '.join(args)}: exit {done.returncode}\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "stdout": done.stdout}


def save_for_paper(trace_path: Path, folder: Path) -> None:
    """The trace as the paper's code saves it: X (T, N), edges (T-1, E, 4), roles (N,)."""
    trace = np.load(trace_path)
    edges = np.stack([trace[k].astype(np.int32) for k in ("u", "v", "s_plus", "s_minus")], -1)
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "X.npy", trace["X"])
    np.save(folder / "edges.npy", edges)
    np.save(folder / "roles.npy", trace["roles"].astype(np.int32))


def summarize(runs: list[dict]) -> dict:
    """Median and all values of wall and CPU time."""
    return {
        "wall_s_median": round(statistics.median(r["wall_s"] for r in runs), 3),
        "cpu_s_median": round(statistics.median(r["cpu_s"] for r in runs), 3),
        "wall_s": [r["wall_s"] for r in runs],
        "cpu_s": [r["cpu_s"] for r in runs],
    }


def versions(python: str) -> dict:
    code = ("import json, importlib.metadata as m; print(json.dumps({p: m.version(p) for p in "
            "('jax', 'jaxlib', 'numpyro', 'numpy', 'ml_dtypes')}))")  # fmt: skip
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout) | {"python": subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True, text=True, check=True).stdout.strip()}  # fmt: skip


def compare_grid(
    folder: Path, baseline: Path | None, table: Path = Path("docs/results/paper_grid.parquet")
) -> dict:
    """Per method: fit wall time of the re-run jobs against the committed rows of the same
    job ids, and the largest difference between their estimates; with `baseline` (the same
    jobs run by the code before this change, at the same time) the same against it."""
    from vi_od.experiments import results

    new = results.load(folder)
    new = new[new.status == "ok"]
    old = results.read_packed(table).to_pandas().set_index("job_id").loc[new.job_id]
    new = new.set_index("job_id")
    estimates = [c for c in new.columns if c.startswith(("est_", "std_", "q05_", "q95_"))]
    base = None if baseline is None else results.load(baseline).set_index("job_id")
    out = {"table": str(table), "results": str(folder), "baseline": str(baseline)}
    for method, rows in new.groupby("method"):
        before = old.loc[rows.index]
        diff = (rows[estimates] - before[estimates]).abs().max().max()
        if base is not None:
            same = rows.index.intersection(base.index)
            b, r = base.loc[same], rows.loc[same]
            out[f"{method} vs baseline"] = {
                "jobs": len(same),
                "wall_s_sum_baseline": round(float(b.wall_time_s.sum()), 1),
                "wall_s_sum_now": round(float(r.wall_time_s.sum()), 1),
                "identical_estimates": bool((r[estimates] == b[estimates]).all().all()),
            }
        out[method] = {
            "jobs": len(rows),
            "wall_s_sum_recorded": round(float(before.wall_time_s.sum()), 1),
            "wall_s_sum_now": round(float(rows.wall_time_s.sum()), 1),
            "speedup_of_sum": round(float(before.wall_time_s.sum() / rows.wall_time_s.sum()), 2),
            "per_job_speedup_median": round(
                float((before.wall_time_s / rows.wall_time_s).median()), 2
            ),  # fmt: skip
            "reps": sorted(int(r) for r in rows.rep.unique()),
            "max_abs_estimate_difference": float(diff),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare-grid", type=Path)
    parser.add_argument("--baseline", type=Path, help="with --compare-grid: the old code's rows")
    parser.add_argument("--label", help="with --compare-grid: keep it under this name beside "
                        "the other labelled comparisons")  # fmt: skip
    parser.add_argument("--paper", type=Path, default=os.environ.get("VI_OD_PAPER_REPO"))
    parser.add_argument("--paper-python", default=os.environ.get("VI_OD_PAPER_PYTHON"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("docs/results/fast_start.json"))
    opts = parser.parse_args()
    if opts.compare_grid is not None:
        record = json.loads(opts.out.read_text()) if opts.out.exists() else {}
        grid = compare_grid(opts.compare_grid, opts.baseline)
        if opts.label is not None:
            earlier = record.get("grid", {})
            labelled = {} if "results" in earlier else earlier  # an unlabelled one is replaced
            grid = labelled | {opts.label: grid}
        record["grid"] = grid
        opts.out.write_text(json.dumps(record, indent=2) + "\n")
        print(json.dumps(grid, indent=2))
        return
    if opts.paper is not None and not (opts.paper / "src" / "inference_leaders.py").exists():
        sys.exit(f"{opts.paper}: not a checkout of jaclenti/VI_opinion_dynamics")
    if opts.paper is not None and opts.paper_python is None:
        sys.exit("--paper needs --paper-python: a Python with the paper's stack")

    tmp = Path(tempfile.mkdtemp(prefix="vi-od-fast-start-"))
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("JAX_COMPILATION_CACHE_DIR", "VI_OD_NO_CACHE", "PYTHONHASHSEED")
    }
    env |= {"JAX_PLATFORMS": "cpu", "XDG_CACHE_HOME": str(tmp / "setup-cache")}
    trace = tmp / "trace.npz"
    subprocess.run([*VI_OD, "simulate", *SETTINGS, "--seed", "1", "--out", str(trace)],
                   env=env, check=True, capture_output=True)  # fmt: skip
    save_for_paper(trace, tmp / "paper")

    fit = [*VI_OD, "fit", str(trace), "--method", "svi-normal", f"method.steps={STEPS}",
           "--seed", "0"]  # fmt: skip
    warm_env = env | {"JAX_COMPILATION_CACHE_DIR": str(tmp / "warm")}
    timed(fit, warm_env)  # fills the warm cache
    cases = {
        "help": lambda: timed([*VI_OD, "--help"], env),
        "bad_file": lambda: timed([*VI_OD, "fit", str(tmp / "missing.npz")], env, expect=2),
        "bad_key": lambda: timed([*fit, "no_such_key=1"], env, expect=2),
        "bad_value": lambda: timed([*fit, "N=abc"], env, expect=2),
        "bad_check": lambda: timed([*VI_OD, "check", str(tmp / "missing.npz"),
                                    str(tmp / "fit.json")], env, expect=2),  # fmt: skip
        "bad_simulate": lambda: timed([*VI_OD, "simulate", "method.stepz=3", "--out",
                                       str(tmp / "x.npz")], env, expect=2),  # fmt: skip
        "svi_normal_warm": lambda: timed(fit, warm_env),
        "svi_normal_cold": lambda: timed(
            fit, env | {"JAX_COMPILATION_CACHE_DIR": tempfile.mkdtemp(dir=tmp)}
        ),
    }
    if opts.paper is not None:
        paper = [opts.paper_python, "-c", PAPER_DRIVER, str(opts.paper / "src"),
                 str(tmp / "paper"), str(STEPS)]  # fmt: skip
        cases["paper_svi_normal"] = lambda: timed(paper, env)
    load = [os.getloadavg()[0]]
    runs: dict[str, list[dict]] = {name: [] for name in cases}
    for r in range(opts.repeats):  # alternating: every case once per round
        for name, run in cases.items():
            runs[name].append(run())
            print(f"round {r + 1} {name}: {runs[name][-1]['wall_s']:.2f} s wall,"
                  f" {runs[name][-1]['cpu_s']:.2f} s CPU", flush=True)  # fmt: skip
        load.append(os.getloadavg()[0])

    results = {name: summarize(r) for name, r in runs.items()}
    record = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_1min": [round(x, 2) for x in load],
            "note": "shared machine: other work ran beside the benchmark",
        },
        "trace": {"simulate": SETTINGS + ["--seed", "1"], "interactions": 2047 * 10},
        "fit": {"method": "svi-normal", "steps": STEPS, "seed": 0, "num_samples": 200},
        "repeats": opts.repeats,
        "vi_od": versions(sys.executable),
        "results": results,
    }
    if opts.paper is not None:
        paper = results["paper_svi_normal"]
        warm = results["svi_normal_warm"]
        record["paper"] = {
            "checkout": str(opts.paper),
            "commit": subprocess.run(
                ["git", "-C", str(opts.paper), "rev-parse", "HEAD"], capture_output=True, text=True
            ).stdout.strip(),  # fmt: skip
            "stack": versions(opts.paper_python),
            "stubbed_modules": ["pyro.nn", "diptest", "pyABC_"],
            "last_output": runs["paper_svi_normal"][-1]["stdout"].strip(),
        }
        record["ratio_warm_to_paper"] = {
            "wall": round(warm["wall_s_median"] / paper["wall_s_median"], 3),
            "cpu": round(warm["cpu_s_median"] / paper["cpu_s_median"], 3),
            "wall_per_round": [round(a["wall_s"] / b["wall_s"], 3) for a, b in
                               zip(runs["svi_normal_warm"], runs["paper_svi_normal"])],
        }  # fmt: skip
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    if opts.out.exists():  # keep the grid comparison (--compare-grid) of an earlier run
        record |= {k: v for k, v in json.loads(opts.out.read_text()).items() if k == "grid"}
    opts.out.write_text(json.dumps(record, indent=2) + "\n")
    for name, r in results.items():
        print(f"[fast_start] {name}: median {r['wall_s_median']} s wall,"
              f" {r['cpu_s_median']} s CPU")  # fmt: skip
    if "ratio_warm_to_paper" in record:
        print(f"[fast_start] warm / paper: {record['ratio_warm_to_paper']}")
    print(f"[fast_start] written to {opts.out}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
