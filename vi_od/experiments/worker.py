"""One sweep job in its own process: start it, time it out, and turn its outcome into a row.

`run_job` runs inside a joblib (loky or dask) worker. It starts
`python -m vi_od.experiments.worker` in a new process group pinned to one free CPU, waits
for it, and kills the whole group past the time limit (status timeout). A non-zero exit is
status error with the end of stderr. It never raises, so one bad job cannot end the sweep
(joblib's own `timeout=` would end them all). The child sets its CPU affinity before JAX
starts, uses the shared persistent compilation cache, fits quietly and writes its own row;
the parent writes the row of a failed job. Both check that their parent is alive, so
`kill -9` of the sweep leaves no jobs.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

POLL_S = 0.5
ERROR_TAIL = 2000  # characters of stderr kept in the row of a failed job


def run_job(job: dict, results_dir: str, timeout_s: float, watch_pid: int | None = None) -> dict:
    """Run one job in a subprocess; return {job_id, status, error, wall_time_s}. Never raises.

    A job whose ok row is already on disk is not run again: a cluster backend reruns the task
    of a worker it lost, which may have written its row just before (then the row stays).
    """
    start = time.monotonic()
    if _done(job, results_dir):
        return {"job_id": job["job_id"], "status": "ok", "error": None, "wall_time_s": 0.0}
    try:
        with _cpu_slot() as cpu, tempfile.TemporaryFile() as log:
            spec = json.dumps({"job": job, "results_dir": results_dir, "cpu": cpu})
            proc = subprocess.Popen(
                [sys.executable, "-m", "vi_od.experiments.worker", spec],
                env=os.environ | {"PYTHONHASHSEED": "0"},  # one program per shape: vi_od.__main__
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
            code = _wait(proc, timeout_s, watch_pid)
            log.seek(0)
            output = log.read().decode(errors="replace")
        wall = time.monotonic() - start
        row_file = Path(results_dir) / "runs" / f"{job['job_id']}.parquet"
        if code == 0 and row_file.exists():
            return {"job_id": job["job_id"], "status": "ok", "error": None, "wall_time_s": wall}
        if code is None:
            status, error = "timeout", f"killed after the time limit of {timeout_s:g} s"
        else:
            status, error = "error", _tail(output) or f"worker exited with code {code}"
        _write_failure(job, results_dir, status, error, wall)
    except Exception as exc:  # the task never raises: a broken job is one error row
        status, error, wall = "error", f"{type(exc).__name__}: {exc}", time.monotonic() - start
        try:
            _write_failure(job, results_dir, status, error, wall)
        except Exception:  # no row: the job runs again when the sweep resumes
            pass
    return {"job_id": job["job_id"], "status": status, "error": error, "wall_time_s": wall}


def _done(job: dict, results_dir: str) -> bool:
    """Whether the job already has a readable row with status ok."""
    from vi_od.experiments import results

    path = Path(results_dir) / "runs" / f"{job['job_id']}.parquet"
    try:
        return path.exists() and results.statuses({job["job_id"]: path}).get(job["job_id"]) == "ok"
    except Exception:  # unreadable: run it again
        return False


def _wait(proc: subprocess.Popen, timeout_s: float, watch_pid: int | None) -> int | None:
    """The exit code, or None after killing the process group past the time limit."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return proc.wait(timeout=max(0.0, min(POLL_S, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            pass
        # the sweep was killed (with --jobs 1 joblib runs the task in the sweep itself)
        if watch_pid not in (None, os.getpid()) and os.getppid() != watch_pid:
            _kill_group(proc)
            os._exit(1)
        if time.monotonic() >= deadline:
            _kill_group(proc)
            return None


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the job's whole process group and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _tail(output: str) -> str:
    """The end of a job's stderr: the traceback's last lines hold the message."""
    return output.strip()[-ERROR_TAIL:]


@contextmanager
def _cpu_slot() -> Iterator[int | None]:
    """A CPU no other job of this user holds (a lock file per CPU); None if all are taken."""
    lock_dir = Path(tempfile.gettempdir()) / f"vi-od-cpus-{os.getuid()}"
    lock_dir.mkdir(exist_ok=True)
    for cpu in sorted(os.sched_getaffinity(0)):
        handle = open(lock_dir / f"{cpu}.lock", "w")  # noqa: SIM115 - held while the job runs
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        try:
            yield cpu
        finally:
            handle.close()
        return
    yield None


def versions() -> str:
    """Package versions for the row (JSON)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for name in ("vi-od", "jax", "jaxlib", "numpyro", "numpy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return json.dumps(out, sort_keys=True)


def make_row(job: dict, trace, fit, status: str, error: str | None, wall: float) -> dict:
    """A results row: the job, the model's cell columns and the trace's truth and statistics,
    and the fit's estimates, intervals and metrics (`fit` a FitResult, or None)."""
    from vi_od.models import get_model

    model = get_model(job["model"])
    sim = job["simulator"]
    settings = {
        "method": {"name": job["method"], **job["settings"]},
        "simulator": sim,
        "sweep_seed": job["sweep_seed"],
        "fit_seed": job["fit_seed"],
    }
    prior = job.get("truth")
    if prior is not None:
        settings["truth"] = prior
    row = {
        "job_id": job["job_id"],
        "sweep": job["sweep"],
        "model": model.name,
        "method": job["method"],
        "rep": job["rep"],
        "seed": job["seed"],
        "N": sim["N"],
        "T": sim["T"],
        "wall_time_s": wall,
        "status": status,
        "error": error,
        "settings": json.dumps(settings, sort_keys=True),
        "versions": versions(),
    }
    if prior is not None:
        row["truth"] = "prior"
    # every parameter's columns, null until known: a folder of failed jobs keeps them
    for name in model.names:
        row |= {name: None, f"est_{name}": None, f"std_{name}": None, f"rank_{name}": None}
        row |= {f"q{q}_{name}": None for q in ("05", "25", "75", "95")}
    truth = model.truth_of(trace)
    row |= truth
    if model.statistics is not None:
        row |= model.statistics(sim, trace, prior is not None)
    if fit is not None:
        from vi_od.checks.sbc import interval_columns
        from vi_od.inference.convergence import converged

        posterior, record = fit.posterior, fit.record
        row |= record.row()
        row |= interval_columns(posterior.samples, model.names, truth)
        row |= record.metrics or {}
        info = posterior.info
        if posterior.p_leader is not None:
            pi = info.get("leader_proportion", float(posterior.p_leader.mean()))
            row["est_leader_proportion"] = float(pi)
        row["n_steps"] = info.get("steps")
        row["n_samples"] = info.get("samples")
        row["n_simulations"] = info.get("simulations")
        row["converged"] = converged(info)
    return row


def trace_path(results_dir: str | os.PathLike, job: dict) -> Path:
    """Where the experiment's trace is cached: every method of the experiment reads it."""
    return Path(results_dir) / "traces" / f"{job['exp_id']}.npz"


def _write_failure(job: dict, results_dir: str, status: str, error: str, wall: float) -> None:
    """The row of a timed-out or failed job (truth and trace statistics if its trace exists)."""
    from vi_od.data import trace as trace_io
    from vi_od.errors import ViOdError
    from vi_od.experiments import results

    try:
        trace = trace_io.load(trace_path(results_dir, job))
    except ViOdError:  # never simulated, or unreadable: the row has no truth
        trace = None
    row = make_row(job, trace, None, status, error, wall)
    results.write_row(Path(results_dir) / "runs", row)


def _pin(cpu: int | None) -> None:
    """Run on one CPU; must happen before JAX starts its thread pools."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def _exit_with_parent() -> None:
    """End this process (and its group) as soon as its parent dies."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(POLL_S)
        os.killpg(0, signal.SIGKILL)

    threading.Thread(target=watch, daemon=True).start()


def _start_jax() -> None:
    """Import JAX with the shared persistent compilation cache (vi_od.compilation_cache)."""
    from vi_od import compilation_cache

    compilation_cache.configure()
    import jax  # noqa: F401


def _experiment_trace(job: dict, results_dir: str):
    """The experiment's trace: read from the cache, or simulated by the job's model and saved
    atomically."""
    from vi_od.data import trace as trace_io
    from vi_od.errors import ViOdError
    from vi_od.models import get_model

    path = trace_path(results_dir, job)
    if path.exists():
        try:
            return trace_io.load(path)
        except ViOdError:  # truncated or corrupt (a killed copy, a full disk): make it again
            pass
    model = get_model(job["model"])
    if job.get("truth") is not None:  # SBC: the truth comes from the method's prior
        trace = model.sbc(job["simulator"], job["truth"], job["seed"])
        trace_io.save(trace, path)
        return trace
    sim = {k: tuple(v) if isinstance(v, list) else v for k, v in job["simulator"].items()}
    trace = model.simulation.simulate(model.simulation.settings(**sim).validate(), job["seed"])
    trace_io.save(trace, path)  # concurrent jobs of one experiment write identical files
    return trace


def _fit(job: dict, trace):
    """Fit the job's method to the trace with the job's settings and fit seed, quietly."""
    from vi_od.data.trace import to_observations
    from vi_od.inference import get
    from vi_od.inference.fitting import fit_observations
    from vi_od.models import get_model
    from vi_od.progress import quiet

    settings = get(job["method"]).Settings(**job["settings"]).validate()
    model = get_model(job["model"])
    with quiet():
        return fit_observations(to_observations(trace), job["method"], settings, job["fit_seed"],
                                model)  # fmt: skip


def _compare(job: dict, trace) -> dict:
    """sweep=compare: fit every model of `job["compare"]` to the trace and rank them (PSIS-LOO);
    the row's compare_* columns say which won and whether the generating model did."""
    import time

    from vi_od.checks import compare as comparing
    from vi_od.data.trace import to_observations
    from vi_od.inference import get
    from vi_od.inference.fitting import fit_observations
    from vi_od.models import get_model
    from vi_od.progress import quiet

    start = time.perf_counter()
    method = get(job["method"])
    settings = method.Settings(**job["settings"]).validate()
    obs = to_observations(trace)
    models = [get_model(name) for name in job["compare"]]
    candidates = comparing.prepare(obs, models, method.needs, method.name)
    with quiet():
        fit = lambda m, data: fit_observations(data, method.name, settings, job["fit_seed"], m)
        result, fits = comparing.run(obs, candidates, fit)
    row = make_row(job, trace, None, "ok", None, time.perf_counter() - start)
    return row | comparing.row_columns(result, get_model(job["model"]).name, fits)


def main(argv: list[str] | None = None) -> None:
    """Child process: pin, start JAX, get the trace, fit, write the row."""
    spec = json.loads((sys.argv[1:] if argv is None else argv)[0])
    _pin(spec["cpu"])
    _exit_with_parent()
    _start_jax()
    from vi_od.experiments import results

    job, results_dir = spec["job"], spec["results_dir"]
    trace = _experiment_trace(job, results_dir)
    if job.get("compare"):
        results.write_row(Path(results_dir) / "runs", _compare(job, trace))
        return
    fit = _fit(job, trace)
    row = make_row(job, trace, fit, "ok", None, fit.record.wall_time_s)
    results.write_row(Path(results_dir) / "runs", row)


if __name__ == "__main__":
    main()
