"""The SLURM backend: a sweep's workers are SLURM jobs, started by dask-jobqueue's SLURMCluster.

Each worker is one SLURM job with one dask worker of one thread, so it runs one sweep job at a
time through the same `worker.run_job` as the other backends (its own process group and time
limit, atomic row). The sweep process runs the dask scheduler; the cluster keeps `workers`
jobs alive (dask's adaptive scaling resubmits a worker lost to its wall time or a node
failure) and dask reruns the sweep jobs a lost worker was running. Rows need a filesystem the
workers share with the sweep, as on any cluster.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path

from vi_od.errors import ViOdError, require

JOB_NAME = "vi-od"  # what squeue shows for the workers
ALLOWED_FAILURES = 3  # workers a sweep job may lose and still rerun; one more stops the sweep


@dataclass(frozen=True)
class SlurmSettings:
    """What each worker job asks SLURM for (conf/backend/slurm.yaml; the command line wins)."""

    partition: str | None = None  # None: the cluster's default partition
    account: str | None = None
    workers: int = 4  # SLURM jobs, each running one sweep job at a time
    worker_memory: str = "4GiB"
    worker_walltime: str = "04:00:00"
    extra: tuple[str, ...] = ()  # more sbatch options, e.g. ("--qos=short",)
    start_timeout: str = "5m"  # no worker running by then: the sweep stops
    log_directory: str | None = None  # the workers' SLURM output (default: <results>/slurm)

    def validate(self) -> SlurmSettings:
        """Check every field once, here, with the one-line message of the CLI."""
        from dask.utils import parse_bytes

        require(
            isinstance(self.workers, int) and self.workers >= 1, "--workers", self.workers, ">= 1"
        )
        try:
            parse_bytes(self.worker_memory)
        except (ValueError, TypeError):
            raise ViOdError(
                f"--worker-memory={self.worker_memory} is not allowed: must be like 4GiB or 500MB"
            ) from None
        walltime_seconds(self.worker_walltime)
        duration_seconds(self.start_timeout)
        return self

    @classmethod
    def from_options(cls, config: dict, **options) -> SlurmSettings:
        """The config group's values with the command line's options (those not None) on top."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(config) - known - {"name"})
        if unknown:
            names = ", ".join(sorted(known))
            raise ViOdError(f"unknown config key 'backend.{unknown[0]}' (known: {names})")
        values = {k: v for k, v in config.items() if k in known and v is not None}
        values |= {k: v for k, v in options.items() if v is not None}
        extra = values.get("extra", ())
        values["extra"] = tuple(shlex.split(extra) if isinstance(extra, str) else extra)
        return cls(**values).validate()


def walltime_seconds(text: str) -> int:
    """SLURM's [D-]HH:MM:SS in seconds; anything else is a ViOdError."""
    match = re.fullmatch(r"(?:(\d+)-)?(\d{1,2}):(\d{2}):(\d{2})", str(text))
    if not match:
        raise ViOdError(f"--worker-walltime={text} is not allowed: must be HH:MM:SS or D-HH:MM:SS")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def duration_seconds(text: str) -> float:
    """'90s', '5m' as seconds (backend.start_timeout)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh])\s*", str(text))
    if not match:
        raise ViOdError(f"backend.start_timeout={text} is not allowed: must be like 90s or 5m")
    return float(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]


def split_overrides(overrides: Sequence[str]) -> tuple[list[str], list[str]]:
    """(backend=..., backend.key=... and hydra.searchpath=... overrides, the grid's overrides).

    hydra.searchpath=[file:///lab/conf] finds a lab's own backend/<name>.yaml there."""
    mine = [o for o in overrides if re.match(r"[+~]*(backend(\.|=)|hydra\.searchpath=)", o)]
    return mine, [o for o in overrides if o not in mine]


@dataclass(frozen=True)
class Backend:
    """Where a sweep runs: loky, dask (with a scheduler's address) or slurm (with settings)."""

    name: str
    scheduler: str | None = None
    slurm: SlurmSettings | None = None


def resolve(
    overrides: Sequence[str],
    results_dir: str | os.PathLike,
    name: str | None = None,
    scheduler: str | None = None,
    jobs: int | None = None,
    **slurm_options,
) -> Backend:
    """The sweep's backend: conf/backend/<choice>.yaml with backend.key=... overrides, under
    the command line's options (those not None); --backend X alone picks conf/backend/X.yaml."""
    from omegaconf import OmegaConf

    from vi_od.config import compose_config

    chosen = any(re.match(r"[+~]*backend=", o) for o in overrides)
    extra = [] if chosen or name is None else [f"backend={name}"]
    config = OmegaConf.to_container(compose_config([*extra, *overrides]).backend, resolve=True)
    name = name or config.get("name")
    given = sorted(k for k, v in slurm_options.items() if v is not None)
    if name != "slurm":
        if given:
            option = "--" + given[0].replace("_", "-").replace("extra", "slurm-extra")
            raise ViOdError(f"{option} is an option of --backend slurm (here: {name})")
        return Backend(str(name), scheduler or config.get("scheduler"))
    if jobs is not None:
        raise ViOdError("--jobs is not an option of --backend slurm: --workers sets it")
    settings = SlurmSettings.from_options(config, **slurm_options)
    if settings.log_directory is None:
        logs = str(Path(results_dir).resolve() / "slurm")
        settings = dataclasses.replace(settings, log_directory=logs)
    return Backend("slurm", slurm=settings)


def check_job_fits(settings: SlurmSettings, timeout_s: float) -> None:
    """A sweep job must fit in its worker's wall time, or SLURM kills it every time."""
    walltime = walltime_seconds(settings.worker_walltime)
    if timeout_s > walltime:
        raise ViOdError(
            f"--timeout ({timeout_s:g} s) is longer than --worker-walltime "
            f"{settings.worker_walltime}: a slow job would be killed with its worker every try"
        )


def check_cluster(settings: SlurmSettings) -> None:
    """sbatch and sinfo are here, the partition exists, and sbatch accepts the worker job."""
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        raise ViOdError(
            "--backend slurm needs SLURM's sbatch and sinfo on PATH: run vi-od on the "
            "cluster's login node"
        )
    if settings.partition is not None:
        partitions = _sinfo("%R")
        if settings.partition not in partitions:
            raise ViOdError(
                f"--partition={settings.partition}: no such SLURM partition "
                f"(sinfo lists: {', '.join(partitions) or 'none'})"
            )
    with _cluster(settings) as cluster:
        script = cluster.job_script()
    test = subprocess.run(
        ["sbatch", "--test-only"], input=script, capture_output=True, text=True, check=False
    )
    if test.returncode != 0:
        lines = [line for line in test.stderr.splitlines() if line.strip()]
        raise ViOdError(f"sbatch rejects the worker job: {lines[-1] if lines else 'no reason'}")


def _sinfo(fmt: str) -> list[str]:
    """One sinfo column, without header or duplicates."""
    out = subprocess.run(
        ["sinfo", "-h", "-o", fmt], capture_output=True, text=True, check=False, timeout=60
    ).stdout
    return sorted(set(out.split()))


def job_script(settings: SlurmSettings) -> str:
    """The sbatch script of one worker, as dask-jobqueue would submit it (for --dry-run)."""
    with _cluster(settings) as cluster:
        return cluster.job_script()


@contextmanager
def _cluster(settings: SlurmSettings):
    """A SLURMCluster (its scheduler in this process) that has submitted nothing yet."""
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise ViOdError(
            "--backend slurm needs dask-jobqueue (pip install 'vi-od[cluster]')"
        ) from None
    cluster = SLURMCluster(
        job_name=JOB_NAME,
        queue=settings.partition,
        account=settings.account,
        cores=1,
        processes=1,
        memory=settings.worker_memory,
        walltime=settings.worker_walltime,
        job_extra_directives=list(settings.extra),
        log_directory=settings.log_directory,
        scheduler_options={"dashboard_address": None},
    )
    try:
        yield cluster
    finally:
        cluster.close()


@contextmanager
def client(settings: SlurmSettings) -> Iterator:
    """A dask Client whose workers are SLURM jobs, once the first one runs; jobs end on exit.

    Raises a ViOdError if no worker starts within start_timeout, or if one sweep job lost
    more than ALLOWED_FAILURES workers (dask's KilledWorker), after the rows written so far.
    """
    import dask
    from dask.distributed import Client
    from distributed.scheduler import KilledWorker

    timeout = duration_seconds(settings.start_timeout)
    config = {"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}
    with dask.config.set(config), _cluster(settings) as cluster:
        # minimum == maximum: adaptive scaling only replaces workers that SLURM ended
        cluster.adapt(minimum_jobs=settings.workers, maximum_jobs=settings.workers)
        with Client(cluster) as dask_client:
            try:
                dask_client.wait_for_workers(1, timeout=timeout)
            except TimeoutError:
                raise ViOdError(
                    f"no SLURM worker started within {settings.start_timeout} "
                    f"(backend.start_timeout); squeue -n {JOB_NAME} shows why they wait"
                ) from None
            try:
                yield dask_client
            except KilledWorker:
                raise ViOdError(
                    f"a sweep job lost {ALLOWED_FAILURES + 1} SLURM workers (wall time, memory or "
                    "node failures?); finished rows are kept, the same command resumes"
                ) from None
