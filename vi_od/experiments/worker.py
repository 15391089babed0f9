"""Sweep jobs in worker processes: start them, time them out, and turn outcomes into rows.

`run_job` runs inside a joblib (loky or dask) worker. It hands the job to a job server,
`python -m vi_od.experiments.worker --serve`, started in a new process group pinned to one
free CPU and kept for the next jobs of the same sweep run: a program JAX compiled (or read
from the persistent compilation cache) for one job stays in memory for the next job of the
same shape, which then pays its arithmetic only (docs/performance.md). Past the time limit
the server's whole group is killed (status timeout) and the next job starts a fresh one; a
job that raises is status error with the end of stderr. `run_job` never raises, so one bad
job cannot end the sweep (joblib's own `timeout=` would end them all). The server sets its
CPU affinity before JAX starts, uses the shared persistent compilation cache, fits quietly
and writes each job's row; the parent writes the row of a failed job. Both check that their
parent is alive, so `kill -9` of the sweep leaves no jobs.

`python -m vi_od.experiments.worker SPEC` runs one job in a process of its own.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

POLL_S = 0.5
ERROR_TAIL = 2000  # characters of stderr kept in the row of a failed job
SERVER_JOBS = 200  # jobs one server runs before a fresh one starts (bounds its memory)


def run_job(
    job: dict,
    results_dir: str,
    timeout_s: float,
    watch_pid: int | None = None,
    run_id: str | None = None,
) -> dict:
    """Run one job in this worker's job server; return {job_id, status, error, wall_time_s}.
    Never raises.

    Jobs of one `run_id` (one sweep run) share a server; another run starts its own, with
    the environment of its time. A job whose ok row is already on disk is not run again: a
    cluster backend reruns the task of a worker it lost, which may have written its row just
    before (then the row stays).
    """
    start = time.monotonic()
    if _done(job, results_dir):
        return {"job_id": job["job_id"], "status": "ok", "error": None, "wall_time_s": 0.0}
    try:
        server = _server(run_id)
        ok, output = server.run({"job": job, "results_dir": results_dir}, timeout_s, watch_pid)
        wall = time.monotonic() - start
        row_file = Path(results_dir) / "runs" / f"{job['job_id']}.parquet"
        if ok and row_file.exists():
            return {"job_id": job["job_id"], "status": "ok", "error": None, "wall_time_s": wall}
        if ok is None:
            status, error = "timeout", f"killed after the time limit of {timeout_s:g} s"
        else:
            status, error = "error", _tail(output) or f"worker exited with code {server.code}"
        _write_failure(job, results_dir, status, error, wall)
    except Exception as exc:  # the task never raises: a broken job is one error row
        status, error, wall = "error", f"{type(exc).__name__}: {exc}", time.monotonic() - start
        try:
            _write_failure(job, results_dir, status, error, wall)
        except Exception:  # no row: the job runs again when the sweep resumes
            pass
    return {"job_id": job["job_id"], "status": status, "error": error, "wall_time_s": wall}


class Server:
    """A job server process, pinned to a CPU held for its life, its output in a temp file."""

    def __init__(self, run_id: str | None) -> None:
        self.run_id, self.jobs, self.code, self.busy = run_id, 0, None, False
        self.cpu, self._lock = _take_cpu()
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vi_od.experiments.worker", "--serve", json.dumps(self.cpu)],
            env=os.environ | {"PYTHONHASHSEED": "0"},  # one program per shape: vi_od.__main__
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            start_new_session=True,
        )
        self._replies = b""

    def run(self, spec: dict, timeout_s: float, watch_pid: int | None) -> tuple[bool | None, str]:
        """Hand the server one job: (True, "") when it wrote the row, (False, its stderr
        since) when the job failed or the server died, (None, "") when it was killed past
        the time limit."""
        self.jobs += 1
        self.busy = True  # until its answer: closed before that (Ctrl-C), the server is killed
        self.log.seek(0, os.SEEK_END)
        offset = self.log.tell()
        try:
            self.proc.stdin.write(json.dumps(spec).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:  # the server is gone: its exit code and output say why
            pass
        reply = self._reply(timeout_s, watch_pid)
        self.busy = False
        if reply is None:
            return None, ""
        self.log.seek(offset)
        return reply, self.log.read().decode(errors="replace")

    def _reply(self, timeout_s: float, watch_pid: int | None) -> bool | None:
        """The job's outcome, False if the server died, None after killing it at the limit."""
        deadline = time.monotonic() + timeout_s
        out = self.proc.stdout.fileno()
        while b"\n" not in self._replies:
            wait = max(0.0, min(POLL_S, deadline - time.monotonic()))
            ready, _, _ = select.select([out], [], [], wait)
            if ready:
                chunk = os.read(out, 4096)
                if not chunk:  # end of file: the server exited
                    self.code = self.proc.wait()
                    return False
                self._replies += chunk
                continue
            # the sweep was killed (with --jobs 1 joblib runs the task in the sweep itself)
            if watch_pid not in (None, os.getpid()) and os.getppid() != watch_pid:
                self.kill()
                os._exit(1)
            if time.monotonic() >= deadline:
                self.kill()
                return None
        line, _, self._replies = self._replies.partition(b"\n")
        return json.loads(line)["ok"]

    @property
    def alive(self) -> bool:
        return self.code is None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the server's whole process group and reap it."""
        _kill_group(self.proc)
        self.code = self.proc.returncode
        self.close()

    def close(self) -> None:
        """End the server (end of input: it leaves at once; killed amid a job) and free its
        CPU and log."""
        if self.busy:
            _kill_group(self.proc)
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                _kill_group(self.proc)
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:  # a job waiting in a dead server's pipe
                pass
        self.log.close()
        if self._lock is not None:
            self._lock.close()
            self._lock = None


_servers = threading.local()  # one per joblib worker thread (dask runs tasks in threads)


def _server(run_id: str | None) -> Server:
    """This thread's server for `run_id`, started anew when there is none alive, it belongs
    to another run or it ran SERVER_JOBS jobs."""
    server = getattr(_servers, "server", None)
    if server is not None and server.alive and server.run_id == run_id:
        if server.jobs < SERVER_JOBS:
            return server
    if server is not None:
        server.close()
    _servers.server = Server(run_id)
    return _servers.server


def close_server() -> None:
    """End this thread's server, if any (a sweep run ends the one it ran in its own process)."""
    server = getattr(_servers, "server", None)
    if server is not None:
        server.close()
        _servers.server = None


def _done(job: dict, results_dir: str) -> bool:
    """Whether the job already has a readable row with status ok."""
    from vi_od.experiments import results

    path = Path(results_dir) / "runs" / f"{job['job_id']}.parquet"
    try:
        return path.exists() and results.statuses({job["job_id"]: path}).get(job["job_id"]) == "ok"
    except Exception:  # unreadable: run it again
        return False


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


def _take_cpu():
    """A CPU no other job server of this user holds, and the open lock file that holds it
    (a lock file per CPU); (None, None) if all are taken."""
    lock_dir = Path(tempfile.gettempdir()) / f"vi-od-cpus-{os.getuid()}"
    lock_dir.mkdir(exist_ok=True)
    for cpu in sorted(os.sched_getaffinity(0)):
        handle = open(lock_dir / f"{cpu}.lock", "w")  # noqa: SIM115 - held while the server runs
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        return cpu, handle
    return None, None


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


def run(job: dict, results_dir: str) -> None:
    """Get the job's trace, fit (or compare), write its row."""
    from vi_od.experiments import results

    trace = _experiment_trace(job, results_dir)
    if job.get("compare"):
        results.write_row(Path(results_dir) / "runs", _compare(job, trace))
        return
    fit = _fit(job, trace)
    row = make_row(job, trace, fit, "ok", None, fit.record.wall_time_s)
    results.write_row(Path(results_dir) / "runs", row)


def serve(cpu: int | None) -> None:
    """Job server: pin, start JAX, then run each job read from stdin (one JSON line: job and
    results folder) and answer one line {"ok": bool} on stdout, until stdin ends."""
    _pin(cpu)
    _exit_with_parent()
    _start_jax()
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # what a job prints goes to the log, not into the replies
    for line in sys.stdin:
        spec = json.loads(line)
        try:
            run(spec["job"], spec["results_dir"])
            ok = True
        except Exception:  # the job's error, for the parent's row; the server goes on
            traceback.print_exc()
            ok = False
        sys.stderr.flush()
        replies.write(json.dumps({"ok": ok}) + "\n")
        replies.flush()
    os._exit(0)  # the interpreter's teardown frees JAX's caches for a second: vi_od.__main__


def main(argv: list[str] | None = None) -> None:
    """Child process: `--serve CPU` runs jobs until its input ends; SPEC runs one job."""
    args = sys.argv[1:] if argv is None else argv
    if args[0] == "--serve":
        serve(json.loads(args[1]))
        return
    spec = json.loads(args[0])
    _pin(spec["cpu"])
    _exit_with_parent()
    _start_jax()
    run(spec["job"], spec["results_dir"])


if __name__ == "__main__":
    main()
