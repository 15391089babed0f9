"""Sweeps: expand a Hydra grid into jobs, run every job in its own process, keep every result.

The grid is the sweep file's `params` (conf/sweep/<name>.yaml) with the command line's
overrides replacing or adding axes, expanded by Hydra's own override parser (comma lists,
range(), glob()) and a product. A job's id is a hash of its resolved config (simulator and
method settings, seed, rep), so re-running a sweep skips finished jobs. Seeds come from
(seed, the model's experiment key, rep) through numpy's SeedSequence, never from the order in
which workers run, and every method of an experiment fits the same cached trace.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import itertools
import json
import os
import re
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from hydra import initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from vi_od.config import (
    CONFIG_MODULE,
    compose_config,
    method_settings,
    model_of,
    simulator_settings,
)
from vi_od.errors import ViOdError
from vi_od.experiments import results, worker
from vi_od.models import DEFAULT as DEFAULT_MODEL
from vi_od.models import get_model

DEFAULT_TIMEOUT_S = 3 * 3600.0
BACKENDS = ("loky", "dask", "slurm")


@dataclass(frozen=True)
class Job:
    """One method fitted to one experiment's trace; JSON-ready (it travels to the worker)."""

    job_id: str
    exp_id: str
    sweep: str
    method: str
    model: str  # the model simulated and fitted (vi_od.models.get_model)
    settings: dict  # the method's knobs (conf/method/<name>.yaml minus `name`)
    simulator: dict  # the model's simulator settings (its Simulation.settings fields)
    sweep_seed: int
    rep: int
    seed: int  # simulates the trace
    fit_seed: int  # seeds the fit
    truth: dict | None = None  # SBC: the prior the truth is drawn from (None: the paper's grid)
    compare: list[str] | None = None  # sweep=compare: the models fitted and ranked (vi-od compare)

    @property
    def cell(self) -> str:
        """The grid cell: the simulator settings, whatever the rep, seed and method."""
        return _digest(self.simulator)


@dataclass(frozen=True)
class Plan:
    """An expanded sweep: its jobs in grid order and how many cells and experiments they span."""

    sweep: str
    jobs: tuple[Job, ...]
    skipped_cells: int  # cells the model skips (the BCM with roles: no leader)
    skip_reason: str = ""  # why, in the model's words

    @property
    def cells(self) -> int:
        return len({job.cell for job in self.jobs})

    @property
    def experiments(self) -> int:
        return len({job.exp_id for job in self.jobs})


def _digest(obj) -> str:
    """A stable 16-hex-digit id of a JSON-ready object."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def experiment_seeds(seed: int, key: tuple[int, ...], rep: int):
    """(trace seed, fit seed) of an experiment, from its identity through SeedSequence: the
    sweep's seed, the model's experiment key (for the BCM with roles N, T and the leader
    share in millionths) and the rep."""
    entropy = [seed, *key, rep]
    trace_seed, fit_seed = np.random.SeedSequence(entropy).generate_state(2)
    return int(trace_seed >> 1), int(fit_seed >> 1)  # < 2**31: any PRNGKey takes it


def parse_duration(text: str) -> float:
    """'90s', '20m', '3h' (or '1.5h') in seconds; anything else is a ViOdError."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh])\s*", text or "")
    if not match or float(match.group(1)) <= 0:
        raise ViOdError(f"--timeout={text} is not allowed: must be a duration like 90s, 20m or 3h")
    return float(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]


# ----------------------------------------------------------------------------- expansion


@contextmanager
def _hydra_loader():
    """Hydra's config loader for conf/ (glob() lists a config group's options through it)."""
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        yield GlobalHydra.instance().config_loader()
    GlobalHydra.instance().clear()


@lru_cache(maxsize=4096)
def _parse_one(text: str) -> Override:
    """One override parsed by Hydra's grammar (cached: a grid repeats the same few strings)."""
    try:
        return OverridesParser.create().parse_overrides([text])[0]
    except HydraException as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ViOdError(f"invalid override '{text}': {first}") from None


def _param_string(key: str, value) -> str:
    """A sweep file's `params` entry as an override string (values are Hydra sweep syntax)."""
    if isinstance(value, str):
        return f"{key}={value}"
    plain = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
    return f"{key}={json.dumps(plain)}"


def grid_overrides(overrides: Sequence[str], multirun: bool) -> tuple[str, list[str]]:
    """The sweep file's name and the grid's override strings: its params, where the command
    line's overrides replace axes in place or add new ones.

    Without `-m` the grid is the command line alone, and a sweep value in it is an error.
    """
    parsed = [_parse_one(o) for o in overrides]
    for o in parsed:
        if o.key_or_group == "sweep" and o.is_sweep_override():
            raise ViOdError(f"{o.input_line}: one sweep file at a time")
        if o.is_sweep_override() and not multirun:
            raise ViOdError(f"{o.input_line} is a sweep: add -m to expand it")
    choice = [o.input_line for o in parsed if o.key_or_group == "sweep"]
    cfg = compose_config(choice)
    name = str(cfg.sweep.name)
    if not multirun:
        return name, list(overrides)
    given = {o.key_or_group: o.input_line for o in parsed}
    params = cfg.sweep.get("params") or {}
    from_file = [given.pop(k, None) or _param_string(k, v) for k, v in params.items()]
    return name, from_file + list(given.values())


def grid_points(overrides: Sequence[str]) -> list[tuple[str, ...]]:
    """The product of the overrides' values, each grid point a tuple of 'key=value' strings."""
    axes = []
    with _hydra_loader() as loader:
        parser = OverridesParser.create(config_loader=loader)
        for text in overrides:
            try:
                o = parser.parse_overrides([text])[0]
                axes.append(_axis(o))
            except HydraException as exc:
                raise ViOdError(f"invalid override '{text}': {_first_line(exc)}") from None
    return list(itertools.product(*axes))


def _axis(o: Override) -> list[str]:
    """One override's values as override strings (Hydra's sweep_string_iterator)."""
    key = o.get_key_element()
    if not o.is_sweep_override():
        return [f"{key}={o.get_value_element_as_str()}"]
    if not o.is_discrete_sweep():
        raise ViOdError(f"{o.input_line}: only lists, range() and glob() can be expanded")
    values = [f"{key}={v}" for v in o.sweep_string_iterator()]
    if not values:
        raise ViOdError(f"{o.input_line} selects nothing")
    return values


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _group_names() -> frozenset[str]:
    """Config groups of conf/ (method, model, sweep): their overrides need a compose."""
    with _hydra_loader() as loader:
        return frozenset(g for g in ("method", "model", "sweep") if loader.get_group_options(g))


class _Composer:
    """Compose once per set of group choices, then set each grid point's values (DESIGN 7).

    All points with the same group choices set the same keys, so one working copy per set
    is updated in place (a deep copy per point would cost more than the rest of expansion).
    """

    def __init__(self) -> None:
        self.groups = _group_names()
        self.bases: dict[tuple[str, ...], tuple[DictConfig, DictConfig]] = {}
        self.applied: set[str] = set()  # method.<key> set on some point's method
        self.skipped: dict[str, set[str]] = {}  # method.<key> -> methods that lack it

    def config(self, point: Sequence[str]) -> DictConfig:
        """The resolved config of a grid point; valid until the next call.

        A method.<key> applies to the points whose method has that setting (method.steps
        to svi-normal, not to nuts, in one grid); `unused_method_keys` names the others.
        """
        parsed = [_parse_one(p) for p in point]
        structural = tuple(
            p for p, o in zip(point, parsed) if o.key_or_group in self.groups or _prefixed(o)
        )
        if structural not in self.bases:
            base = _with_sweep_method_settings(compose_config(structural))
            self.bases[structural] = base, copy.deepcopy(base)
            kept = [p for p, o in zip(point, parsed) if p in structural or self._has(base, o)]
            compose_config(kept)  # Hydra's own check of every key, once per base
        base, cfg = self.bases[structural]
        values = [o for p, o in zip(point, parsed) if p not in structural and self._has(base, o)]
        for o in values:
            key, value = o.key_or_group, o.value()
            try:
                if isinstance(value, dict):  # a merge starts from the base, not the last point
                    OmegaConf.update(cfg, key, copy.deepcopy(OmegaConf.select(base, key)))
                OmegaConf.update(cfg, key, value, merge=True)
            except OmegaConfBaseException as exc:
                raise ViOdError(f"{o.input_line}: {_first_line(exc)}") from None
        return cfg

    def _has(self, base: DictConfig, o: Override) -> bool:
        """Whether the point's method has the override's method.<key> (other keys: True)."""
        key = o.key_or_group
        if not key.startswith("method."):
            return True
        if key.split(".")[1] in base.method:
            self.applied.add(key)
            return True
        self.skipped.setdefault(key, set()).add(str(base.method.name))
        return False

    def unused_method_keys(self) -> None:
        """Refuse a method.<key> that no method of the grid has."""
        for key, methods in self.skipped.items():
            if key not in self.applied:
                name = sorted(methods)[0]
                known = ", ".join(f"method.{k}" for k in compose_config([f"method={name}"]).method)
                raise ViOdError(
                    f"unknown config key '{key}': no method of this sweep has it "
                    f"({', '.join(sorted(methods))}; {name} has {known})"
                )


def _prefixed(o: Override) -> bool:
    return o.is_add() or o.is_force_add() or o.is_delete()


def _with_sweep_method_settings(cfg: DictConfig) -> DictConfig:
    """Apply the sweep file's `method_settings.<method>` (short budgets of the smoke sweep)."""
    knobs = (cfg.sweep.get("method_settings") or {}).get(cfg.method.name) or {}
    for key, value in knobs.items():
        if key not in cfg.method or key == "name":
            raise ViOdError(
                f"sweep.method_settings.{cfg.method.name}.{key}: method {cfg.method.name} has "
                f"no setting '{key}' (known: {', '.join(k for k in cfg.method if k != 'name')})"
            )
        cfg.method[key] = value
    return cfg


def _count(key: str, value, minimum: int = 0) -> int:
    """An integer config value >= minimum, or a ViOdError naming the key."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ViOdError(f"{key}={value} is not allowed: must be an integer >= {minimum}")
    return value


def _skipped(cfg: DictConfig) -> bool:
    """True for a cell the model skips (the BCM with roles: round(N * p) < 1 leaders)."""
    skip = model_of(cfg).simulation.skip
    return skip is not None and skip(OmegaConf.to_container(cfg, resolve=True))


def _truth(cfg: DictConfig, method: str, knobs: dict) -> dict | None:
    """The sweep file's `truth`: absent or `grid` (the paper's grid, None), or `prior` (SBC)."""
    kind = cfg.sweep.get("truth", "grid")
    if kind == "grid":
        return None
    if kind != "prior":
        raise ViOdError(f"sweep.truth={kind} is not allowed: must be grid or prior")
    model = model_of(cfg)
    if model.prior_spec is None:
        raise ViOdError(f"model {model.name} has no prior draws for sweep.truth=prior")
    return model.prior_spec(method, knobs)


def _compared(cfg: DictConfig) -> list[str] | None:
    """The sweep file's `compare`: the models every experiment's trace is compared on."""
    names = cfg.sweep.get("compare")
    if names is None:
        return None
    names = OmegaConf.to_container(names) if OmegaConf.is_config(names) else names
    if not isinstance(names, list) or len(names) < 2:
        raise ViOdError(f"sweep.compare={names} is not allowed: must be a list of >= 2 models")
    for name in names:
        get_model(str(name))
    return [str(n) for n in names]


def job_of(cfg: DictConfig, sweep: str) -> Job:
    """The validated job of a resolved grid point.

    Its id hashes the simulator and method settings, seed and rep; an SBC job's also its
    prior, and a model's other than the default its name (only then: the ids of the paper's
    grid sweeps, which resume across sessions, never change).
    """
    model = model_of(cfg)
    sim = simulator_settings(cfg)
    method, settings = method_settings(cfg)
    seed, rep = _count("seed", cfg.seed), _count("rep", cfg.rep)
    named = model.simulation.identity or dataclasses.asdict
    simulator = json.loads(json.dumps(named(sim)))
    knobs = json.loads(json.dumps(dataclasses.asdict(settings)))
    identity = {
        "simulator": simulator,
        "method": {"name": method.name, **knobs},
        "seed": seed,
        "rep": rep,
    }
    trace_seed, fit_seed = experiment_seeds(seed, model.simulation.experiment_key(sim), rep)
    experiment = {"simulator": simulator, "seed": trace_seed}
    if model.name != DEFAULT_MODEL:
        identity["model"] = experiment["model"] = model.name
    truth = _truth(cfg, method.name, knobs)
    if truth is not None:  # methods with one prior share a trace; other priors need their own
        identity["truth"] = experiment["truth"] = truth
    compared = _compared(cfg)
    if compared is not None:  # the trace is the experiment's; the job is the comparison
        identity["compare"] = compared
    return Job(
        job_id=_digest(identity),
        exp_id=_digest(experiment),
        sweep=sweep,
        method=method.name,
        model=model.name,
        settings=knobs,
        simulator=simulator,
        sweep_seed=seed,
        rep=rep,
        seed=trace_seed,
        fit_seed=fit_seed,
        truth=truth,
        compare=compared,
    )


def _file_keys(overrides: Sequence[str], multirun: bool) -> set[str]:
    """The axes the sweep file sets that the command line does not."""
    if not multirun:
        return set()
    given = {_parse_one(o).key_or_group for o in overrides}
    cfg = compose_config([o for o in overrides if _parse_one(o).key_or_group == "sweep"])
    return set(cfg.sweep.get("params") or {}) - given


def _blame_the_sweep_file(exc: ViOdError, sweep: str, keys: set[str]) -> ViOdError:
    """An unknown key that the sweep file set (not the user): say so, and what to do."""
    for key in keys:
        if f"'{key}'" in str(exc) and "unknown config key" in str(exc):
            return ViOdError(f"sweep {sweep} sets {key}, which the chosen model does not have: "
                             f"give the grid on the command line with sweep=custom")  # fmt: skip
    return exc


def expand(overrides: Sequence[str] = (), multirun: bool = True) -> Plan:
    """Expand a sweep's grid into validated jobs (duplicates dropped, zero-leader cells skipped)."""
    name, grid = grid_overrides(overrides, multirun)
    composer = _Composer()
    jobs: dict[str, Job] = {}
    skipped: set[str] = set()
    reasons: set[str] = set()
    from_file = _file_keys(overrides, multirun)
    for point in grid_points(grid):
        try:
            cfg = composer.config(point)
        except ViOdError as exc:
            raise _blame_the_sweep_file(exc, name, from_file) from None
        if _skipped(cfg):
            reasons.add(model_of(cfg).simulation.skip_reason)
            cell = OmegaConf.to_container(cfg, resolve=True)
            skipped.add(_digest({k: v for k, v in cell.items()
                                 if k not in ("method", "sweep", "rep", "seed")}))  # fmt: skip
            continue
        job = job_of(cfg, name)
        jobs.setdefault(job.job_id, job)
    composer.unused_method_keys()
    return Plan(sweep=name, jobs=tuple(jobs.values()), skipped_cells=len(skipped),
                skip_reason="; ".join(sorted(r for r in reasons if r)))  # fmt: skip


# ----------------------------------------------------------------------------- execution


def pending(plan: Plan, results_dir: str | os.PathLike, retry_failed: bool = False):
    """(jobs still to run, number already done): a job is done if its file exists and is
    whole (and, with retry_failed, its status is ok); a truncated row runs again."""
    files = results.finished(results_dir)
    done = {job.job_id for job in plan.jobs if job.job_id in files}
    done = {job_id for job_id in done if results.readable(files[job_id])}
    if retry_failed:
        status = results.statuses({job_id: files[job_id] for job_id in done})
        done = {job_id for job_id in done if status[job_id] == "ok"}
    return [job for job in plan.jobs if job.job_id not in done], len(done)


def check_backend(backend: str, scheduler: str | None) -> None:
    """loky, or dask with a scheduler address; anything else is a ViOdError."""
    if backend not in BACKENDS:
        raise ViOdError(f"--backend={backend} is not allowed: must be one of {', '.join(BACKENDS)}")
    if backend == "dask" and not scheduler:
        raise ViOdError("--backend dask needs --scheduler ADDRESS (e.g. tcp://host:8786)")


@contextmanager
def _backend(backend: str, scheduler: str | None, jobs: int | None, slurm=None) -> Iterator[tuple]:
    """Joblib's backend for the run: yields (n_jobs, pid the workers watch, or None)."""
    import joblib

    if backend == "loky":
        n_jobs = jobs or len(os.sched_getaffinity(0))
        # One job runs in this process (joblib's sequential backend): there is no worker
        # whose parent to watch, and the job's own process already dies with this one.
        yield n_jobs, (os.getpid() if n_jobs > 1 else None)
        return
    if backend == "slurm":  # dask workers that are SLURM jobs (vi_od/experiments/slurm.py)
        from vi_od.experiments.slurm import SlurmSettings, client

        slurm = slurm or SlurmSettings()
        with client(slurm) as _, joblib.parallel_config(backend="dask"):
            yield slurm.workers, None
        return
    check_backend(backend, scheduler)
    try:
        from dask.distributed import Client
    except ImportError:
        raise ViOdError(
            "--backend dask needs dask.distributed (pip install 'vi-od[cluster]')"
        ) from None
    try:
        client = Client(scheduler, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise ViOdError(f"--scheduler={scheduler}: cannot connect ({exc})") from None
    with client, joblib.parallel_config(backend="dask"):
        yield (jobs or sum(client.nthreads().values())), None


def _locked(run):
    """Run a sweep holding its results folder's lock (results.lock)."""

    @functools.wraps(run)
    def locked(plan: Plan, results_dir: str | os.PathLike, **options) -> Counter:
        with results.lock(results_dir):
            return run(plan, results_dir, **options)

    return locked


@_locked
def run(
    plan: Plan,
    results_dir: str | os.PathLike,
    *,
    jobs: int | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    retry_failed: bool = False,
    backend: str = "loky",
    scheduler: str | None = None,
    console: Console | None = None,
    slurm=None,
) -> Counter:
    """Run the plan's pending jobs and count their statuses; each row is on disk as it comes.

    With a console, draw a progress bar and print each failure above it as it happens.
    `slurm` (a SlurmSettings) sets the workers of backend slurm.
    """
    from joblib import Parallel, delayed

    results_dir = Path(results_dir).resolve()
    todo, done = pending(plan, results_dir, retry_failed)
    counts: Counter = Counter()
    if console is not None and done:
        console.print(f"{done} of {len(plan.jobs)} jobs already have results in {results_dir}")
    if not todo:
        return counts
    (results_dir / "runs").mkdir(parents=True, exist_ok=True)
    by_id = {job.job_id: job for job in todo}
    workers = _backend(backend, scheduler, jobs, slurm)
    run_id = uuid.uuid4().hex  # the workers' job servers serve this run only
    try:
        with workers as (n_jobs, watch_pid), _progress(console) as bar:
            handle = bar.add_task(f"sweep {plan.sweep}", total=len(todo), counts="")
            tasks = (
                delayed(worker.run_job)(
                    dataclasses.asdict(job), str(results_dir), timeout_s, watch_pid, run_id
                )
                for job in todo
            )
            parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered", batch_size=1)
            for outcome in parallel(tasks):
                counts[outcome["status"]] += 1
                if outcome["status"] != "ok":
                    bar.console.print(_failure_line(by_id[outcome["job_id"]], outcome))
                shown = "  ".join(f"{s} {counts[s]}" for s in results.STATUSES)
                bar.update(handle, advance=1, counts=shown)
    finally:
        worker.close_server()  # the server of jobs run in this process (--jobs 1)
    return counts


@contextmanager
def _progress(console: Console | None) -> Iterator[Progress]:
    """The sweep's bar: done/total, ok/error/timeout, elapsed, ETA (drawn only with a console)."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("jobs  {task.fields[counts]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, disable=console is None) as bar:
        yield bar


def _failure_line(job: Job, outcome: dict) -> str:
    """One line for a failed job: where it is in the grid and the last line of its error."""
    where = " ".join(f"{k}={v}" for k, v in describe(job).items() if k not in ("job_id", "seed"))
    last = (outcome["error"] or "").strip().splitlines()[-1:] or [""]
    color = "yellow" if outcome["status"] == "timeout" else "red"
    return f"[{color}]{outcome['status']}[/] {job.job_id} {where}: {escape(last[0])}"


def describe(job: Job) -> dict:
    """The grid coordinates of a job, for tables: its model (when not the default), method,
    N, T, the leader share of a model with one, rep and seed."""
    sim = job.simulator
    out = {"job_id": job.job_id}
    if job.model != DEFAULT_MODEL:
        out["model"] = job.model
    out |= {"method": job.method, "N": sim["N"], "T": sim["T"]}
    if "leader_proportion" in sim:
        out["leader_proportion"] = sim["leader_proportion"]
    return out | {"rep": job.rep, "seed": job.seed}
