"""The `vi-od` command line: parse, call, print. No logic lives here."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from vi_od import compilation_cache
from vi_od.errors import ViOdError
from vi_od.outputs import all_or_nothing, check_agents_path, check_figure, check_writable

if TYPE_CHECKING:
    from vi_od.data.observations import Observations

app = typer.Typer(
    help="Estimate parameters of opinion-dynamics models from traces, and run method grids.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()


@app.callback()
def start() -> None:
    """Every command, and the sweep's workers, share JAX's persistent compilation cache.

    Set up before JAX is imported (vi_od.compilation_cache), so that --help and errors in
    the input answer without importing it.
    """
    compilation_cache.configure()


OVERRIDES = typer.Argument(
    None,
    help="Hydra overrides key=value (e.g. N=200 T=2048 leader_proportion=0.1).",
    show_default=False,
)


@contextmanager
def user_errors():
    """Bad input becomes one line on stderr and exit code 2, never a traceback."""
    try:
        yield
    except ViOdError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    except OSError as exc:
        print(f"error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        raise typer.Exit(2) from None


def print_summary(summary: dict, title: str) -> None:
    """A trace summary as a two-column table."""
    console.print(title)
    table = Table(show_header=False)
    for key, value in summary.items():
        table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    console.print(table)


def save_figure(fig, path: Path) -> None:
    """Save a matplotlib figure, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)


@app.command()
def simulate(
    overrides: list[str] = OVERRIDES,
    out: Path = typer.Option(
        ..., "--out", "-o", help="Output: a dense trace (.npz) or an event log (.parquet)."
    ),
    seed: int = typer.Option(None, help="Random seed (default: the config's seed)."),
    plot: Path = typer.Option(None, help="Also draw the opinion trajectories to this image."),
    snapshots: int = typer.Option(
        None,
        "--snapshots",
        min=1,
        help="Event log: keep the opinions every K steps in <out>.snapshots.npz (for plots).",
    ),
    activity: str = typer.Option(
        "uniform",
        help="Who receives the interactions: uniform, or zipf:A (power law, "
        "heavy-tailed; .parquet only).",
    ),
) -> None:
    """Simulate a model (default: the paper's bounded-confidence model with leaders).

    A .npz trace holds every opinion at every step (T x N); a .parquet event log holds one
    row per interaction, written in chunks, for runs of any size.

    Example: vi-od simulate N=200 T=2048 leader_proportion=0.1 --out trace.npz --seed 7

    Example: vi-od simulate model=deffuant N=100 T=2000 --out deffuant.npz

    Example: vi-od simulate N=100000 T=1000000 --out big.parquet --snapshots 10000
    """
    from vi_od.config import checked_seed, compose_config, model_of, simulator_settings

    with user_errors():
        check_writable(out, "--out")
        check_figure(plot)
        cfg = compose_config(overrides or [])
        settings = simulator_settings(cfg)
        seed = checked_seed(cfg.seed if seed is None else seed)
        if out.suffix not in (".npz", ".parquet"):
            raise ViOdError(f"{out}: --out must end in .npz (dense trace) or .parquet (event log)")
        if out.suffix == ".npz" and (snapshots is not None or activity != "uniform"):
            raise ViOdError("--snapshots and --activity need an event log: --out NAME.parquet")
        from vi_od import limits  # JAX from here on: the settings are valid
        from vi_od.data import trace as trace_io

        model = model_of(cfg)

        if out.suffix == ".parquet" and model.simulation.stream is not None:
            from vi_od.data.stream import Activity

            flow = Activity.parse(activity)
            simulate_event_log(model, settings, seed, flow, out, snapshots, plot is not None)
            return
        if out.suffix == ".parquet" and model.columns is not None:
            simulate_model_log(model, settings, seed, out, snapshots, activity, plot)
            return
        if out.suffix == ".parquet":
            raise ViOdError(f"model {model.name} writes .npz traces: --out NAME.npz")
        limits.require_memory(
            f"a dense trace of N={settings.N}, T={settings.T} (X alone is "
            f"{limits.gib(4 * settings.T * settings.N)})",
            trace_io.dense_bytes(settings.T, settings.N),
            f"write an event log instead: --out {out.with_suffix('.parquet')}",
        )
        with console.status(f"simulating {model.name} N={settings.N}, T={settings.T} ..."):
            trace = model.simulation.simulate(settings, seed)
        trace_io.save(trace, out)
        summary = trace_io.summary(trace, model.data_names)
        print_summary(summary, f"trace written to {out} (seed {seed})")
        if plot is not None:
            from vi_od.reporting.plots import trajectories

            save_figure(trajectories(trace), plot)
            console.print(f"trajectories drawn to {plot}")


DATA = typer.Argument(
    ...,
    metavar="DATA",
    help="Trace (.npz) or event log (.parquet, .csv, .csv.gz: one row per interaction).",
)
OPINIONS = typer.Option(
    None,
    "--opinions",
    help="Opinions table (agent, time, opinion) for an event log without opinion columns.",
)


def simulate_event_log(model, settings, seed: int, activity, out: Path, every, plot: bool) -> None:
    """`vi-od simulate ... --out x.parquet` for a model that streams: its event log, chunk by
    chunk (`Simulation.stream`)."""
    from vi_od import limits
    from vi_od.data import eventlog_writer
    from vi_od.progress import task

    if plot:
        raise ViOdError("--plot draws a dense .npz trace; an event log keeps --snapshots K")
    M = (settings.T - 1) * settings.edges_per_step
    peak = model.simulation.stream_bytes(settings, every)
    limits.require_memory(f"simulating {M} interactions", peak)
    log = model.simulation.stream(settings, seed, activity, every)
    meta = eventlog_writer.log_metadata(log, activity)
    with task("simulating", total=settings.T - 1) as advance:
        counts = eventlog_writer.write_event_log(out, log.chunks, meta, every is not None, advance)
    summary = {"N": settings.N, "T": settings.T, "E": settings.edges_per_step}
    summary |= {"activity": activity.text(), **counts, **log.summary}
    print_summary(summary, f"event log written to {out} (seed {seed})")
    if every is not None:
        path = eventlog_writer.snapshots_path(out)
        console.print(f"opinions every {every} steps (time, X) written to {path}")


def simulate_model_log(model, settings, seed: int, out: Path, snapshots, activity, plot) -> None:
    """`vi-od simulate model=M ... --out x.parquet` for a model with columns of its own (a
    feed, an event's kind): its trace, written as an event log with those columns."""
    from vi_od.data import eventlog_writer
    from vi_od.data import trace as trace_io

    if snapshots is not None or activity != "uniform" or plot is not None:
        raise ViOdError(f"model {model.name}: --snapshots, --activity and --plot go with .npz "
                        "traces or the default model's event logs")  # fmt: skip
    with console.status(f"simulating {model.name} N={settings.N}, T={settings.T} ..."):
        trace = model.simulation.simulate(settings, seed)
    extra = model.columns.to_log(trace)
    counts = eventlog_writer.write_trace_log(out, trace, model.name, extra, model.data_names)
    summary = trace_io.summary(trace, model.data_names) | counts
    print_summary(summary, f"event log written to {out} (seed {seed})")


def model_config(name: str):
    """The default config of a built-in model (an outside model's data take the default's)."""
    from vi_od.config import compose_config
    from vi_od.models import BUILTIN

    return compose_config([f"model={name}"] if name in BUILTIN else [])


TIMEZONE = typer.Option(
    None,
    "--timezone",
    help="Read naive event-log times in this zone (e.g. UTC, Europe/Paris); without it, "
    "naive beside zoned times is an error.",
)


CLIP = typer.Option(
    None,
    "--clip-opinions",
    min=0.0,
    max=0.1,
    help="Clip opinions at most this far outside [0, 1] (float noise, e.g. 0.01); "
    "how many were clipped is printed.",
)


def load_data(path: Path, opinions: Path | None, cfg=None, timezone=None, clip=None):
    """Observations of a trace or an event log; rho and mu an event log lacks come from the
    config's model (its simulator settings).

    What the readers fixed on the way (ids stripped, opinions clipped) is printed as warnings.
    """
    from vi_od.config import compose_config, simulator_settings
    from vi_od.data import load_observations
    from vi_od.models import columns_of

    cfg = cfg if cfg is not None else compose_config([])
    sim = simulator_settings(cfg)
    mu = {"mu_plus": sim.mu_plus, "mu_minus": sim.mu_minus}
    where = {"timezone": timezone, "clip_opinions": clip, "columns": columns_of(cfg.model.name)}
    obs = load_observations(path, opinions, rho=sim.rho, **mu, **where)
    for note in obs.meta.get("notes", []):
        print(f"warning: {note}", file=sys.stderr)
    return obs


@app.command()
def inspect(
    path: Path = DATA, opinions: Path = OPINIONS, timezone: str = TIMEZONE, clip: float = CLIP
) -> None:
    """Validate a trace or an event log (simulated or your own data) and print its summary.

    Example: vi-od inspect events.csv --opinions opinions.csv
    """
    from vi_od.data import check_data_file

    with user_errors():
        check_data_file(path, opinions, timezone)  # before numpy: a missing file at once
        from vi_od.data import trace as trace_io

        if path.name.lower().endswith(".npz") and opinions is None:
            trace = trace_io.load(path, clip)
            for note in trace.meta.get("notes", []):
                print(f"warning: {note}", file=sys.stderr)
            print_summary(trace_io.summary(trace), f"{path}: valid trace")
            return
        from vi_od.data import eventlog

        obs = load_data(path, opinions, timezone=timezone, clip=clip)
        print_summary(eventlog.summary(obs), f"{path}: valid event log")


@app.command()
def sweep(
    overrides: list[str] = OVERRIDES,
    multirun: bool = typer.Option(
        False, "--multirun", "-m", help="Expand the grid: the sweep file's params and any sweep."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the grid's size and first jobs."),
    jobs: int = typer.Option(None, "--jobs", "-j", min=1, help="Jobs at once (default: CPUs)."),
    timeout: str = typer.Option("3h", help="Time limit per job: 90s, 20m, 3h."),
    results: Path = typer.Option(None, help="Results folder (default: results/<sweep name>)."),
    retry_failed: bool = typer.Option(False, help="Run timeout/error jobs again."),
    backend: str = typer.Option(
        None, help="loky (this machine), dask (a running scheduler) or slurm (SLURM jobs)."
    ),
    scheduler: str = typer.Option(None, help="Dask scheduler address, e.g. tcp://host:8786."),
    partition: str = typer.Option(None, help="slurm: the partition (default: the cluster's)."),
    account: str = typer.Option(None, help="slurm: the account charged."),
    workers: int = typer.Option(None, min=1, help="slurm: SLURM jobs at once (default 4)."),
    worker_memory: str = typer.Option(None, help="slurm: memory per worker (default 4GiB)."),
    worker_walltime: str = typer.Option(None, help="slurm: wall time per worker, HH:MM:SS."),
    slurm_extra: str = typer.Option(None, help="slurm: more sbatch options, e.g. '--qos=short'."),
) -> None:
    """Run every method on every cell of a grid; resume where a previous run stopped.

    Example: vi-od sweep -m sweep=smoke method=svi-normal,abc N=30,60 T=64,128 'rep=range(2)'
    On SLURM: add backend=slurm (conf/backend/slurm.yaml) or --backend slurm (docs/slurm.md).
    """
    import time

    from vi_od.experiments import slurm
    from vi_od.experiments import sweep as sweeps

    with user_errors():
        timeout_s = sweeps.parse_duration(timeout)
        backend_overrides, overrides = slurm.split_overrides(overrides or [])
        plan = sweeps.expand(overrides, multirun=multirun)
        folder = results or Path("results") / plan.sweep
        where = slurm.resolve(
            backend_overrides, folder, backend, scheduler, jobs, partition=partition,
            account=account, workers=workers, worker_memory=worker_memory,
            worker_walltime=worker_walltime, extra=slurm_extra,
        )  # fmt: skip
        sweeps.check_backend(where.name, where.scheduler)
        if where.slurm:
            slurm.check_job_fits(where.slurm, timeout_s)
        todo, done = sweeps.pending(plan, folder, retry_failed)
        console.print(
            f"sweep [bold]{plan.sweep}[/]: {plan.cells} cells"
            f" ({plan.skipped_cells} skipped{': ' + plan.skip_reason if plan.skip_reason else ''}),"
            f" {plan.experiments} experiments, {len(plan.jobs)} jobs;"
            f" {folder}: {done} done, {len(todo)} to run"
        )
        if not multirun:
            console.print("(without -m: one job from the composed config; -m expands the grid)")
        if dry_run:
            print_jobs(todo or plan.jobs, done_ids=set() if todo else {j.job_id for j in plan.jobs})
            if where.slurm:
                print(f"\nthe job script of each of {where.slurm.workers} SLURM workers:")
                print(slurm.job_script(where.slurm))
            return
        if where.slurm:
            slurm.check_cluster(where.slurm)
        start = time.monotonic()
        try:
            counts = sweeps.run(
                plan,
                folder,
                jobs=jobs,
                timeout_s=timeout_s,
                retry_failed=retry_failed,
                backend=where.name,
                scheduler=where.scheduler,
                console=console,
                slurm=where.slurm,
            )
        except KeyboardInterrupt:
            print("interrupted: finished jobs are kept; the same command resumes", file=sys.stderr)
            raise typer.Exit(130) from None
        shown = ", ".join(f"{s} {counts[s]}" for s in ("ok", "error", "timeout"))
        console.print(
            f"ran {sum(counts.values())} jobs in {time.monotonic() - start:.0f} s ({shown});"
            f" rows in {folder}/runs, read them with vi_od.experiments.results.load('{folder}')"
        )


def print_jobs(jobs, done_ids: set, first: int = 12) -> None:
    """The first jobs of a plan as a table."""
    from vi_od.experiments.sweep import describe

    table = Table(title=f"first {min(first, len(jobs))} of {len(jobs)} jobs")
    rows = [
        describe(job) | {"done": "yes" if job.job_id in done_ids else ""} for job in jobs[:first]
    ]
    for key in rows[0] if rows else ():
        left = key in ("job_id", "method")
        table.add_column(
            "p" if key == "leader_proportion" else key,
            justify="left" if left else "right",
            no_wrap=True,
            min_width=16 if key == "job_id" else None,
        )
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)


RESULTS = typer.Argument(
    ...,
    help="Results folder of vi-od sweep (holds runs/*.parquet), or one packed .parquet file.",
)


def load_results(path: Path):
    """Every job row of a results folder or a packed results file; none at all is an error."""
    from vi_od.experiments import results as results_io

    if path.is_file() or (path.suffix == ".parquet" and not path.is_dir()):
        runs = results_io.read_packed(path).to_pandas()
        where = path
    elif path.is_dir():
        runs = results_io.load(path)
        where = results_io.runs_dir(path)
    else:
        raise ViOdError(f"results folder {path} does not exist")
    if runs.empty:
        raise ViOdError(f"no results in {where}: run vi-od sweep first")
    return runs


def figures_folder(results: Path) -> Path:
    """Default folder of the figures: RESULTS/figures, or FILE_figures next to a packed file."""
    if results.is_file():
        return results.with_name(f"{results.stem}_figures")
    return results / "figures"


@app.command()
def figures(
    results: Path = RESULTS,
    out: Path = typer.Option(
        None,
        "--out",
        "-o",
        help="Folder for the figures [RESULTS/figures; for a file F.parquet, F_figures].",
    ),
    pdf: bool = typer.Option(False, "--pdf", help="Also write each figure as PDF."),
) -> None:
    """Draw the paper's Figures 3-6 (and ours beside the paper's runs, coverage, SBC ranks).

    Also writes summary.md (the report table).

    Example: vi-od figures results/smoke --out figs --pdf
    """
    from functools import partial

    import matplotlib.pyplot as plt

    from vi_od.models import get_model
    from vi_od.reporting import published
    from vi_od.reporting.figures import figures_for
    from vi_od.reporting.report import report_table, to_markdown

    with user_errors():
        runs, others = split_by_model(load_results(results))
        out = out or figures_folder(results)
        paper = figures_for(runs) if len(runs) else {}
        drawers = {name: partial(draw, runs) for name, draw in paper.items()}
        for model, rows in others.items():
            for name, draw in figures_for(rows).items():
                drawers[f"{model}_{name}"] = partial(draw, rows)
            if get_model(model).published is not None:
                drawers[f"published_{model}"] = partial(published.figure, rows, model)
        for name, draw in drawers.items():
            fig = draw()
            for suffix in (".png", ".pdf") if pdf else (".png",):
                save_figure(fig, out / f"{name}{suffix}")
                console.print(f"{name} -> {out / (name + suffix)}")
            plt.close(fig)
        if not len(runs):
            return
        (out / "summary.md").write_text(to_markdown(report_table(runs)))
        console.print(f"summary -> {out / 'summary.md'}")


@app.command()
def report(
    results: Path = RESULTS,
    markdown: bool = typer.Option(False, "--markdown", help="Print Markdown instead of a table."),
    cost: bool = typer.Option(
        False, "--cost", help="Print what the runs cost per method (runs, reps, cells, fit time)."
    ),
) -> None:
    """Per-method summary of a results folder (or packed file) beside the paper's, same cells.

    Example: vi-od report docs/results/paper_grid.parquet --markdown
    """
    from vi_od.reporting import published
    from vi_od.reporting.report import (
        cost_markdown,
        cost_rich,
        cost_table,
        report_table,
        to_markdown,
        to_rich,
    )

    with user_errors():
        everything = load_results(results)
        if cost:
            body = cost_table(everything)
            if markdown:
                print(cost_markdown(body), end="")
            else:
                console.print(cost_rich(body, f"{results}: what {len(everything)} runs cost"))
            return
        runs, others = split_by_model(everything)
        for model, rows in others.items():
            table = published.to_markdown(published.comparison(rows, model), model)
            print(f"{model}: {len(rows)} runs, beside the published runs on the same cells\n")
            print(table)
        if not len(runs):
            return
        table = report_table(runs)
        if markdown:
            print(to_markdown(table), end="")
        else:
            console.print(to_rich(table, f"{results}: {len(runs)} runs"))


def split_by_model(runs):
    """(the paper's model's rows, {other model: its rows}): rows without a model are the paper's."""
    if "model" not in runs:
        return runs, {}
    paper = runs["model"].isna() | (runs["model"] == "bcm-roles")
    others = {m: rows for m, rows in runs[~paper].groupby("model")}
    return runs[paper], others


@app.command()
def fit(
    data_path: Path = DATA,
    overrides: list[str] = typer.Argument(
        None, help="Hydra overrides, e.g. method.steps=5000 method.lr=0.005.", show_default=False
    ),
    method: str = typer.Option(
        None, "--method", help="Method (sugar for method=M; default nuts-marginal)."
    ),
    model: str = typer.Option(
        None, "--model", help="Model (sugar for model=NAME; default bcm-roles, the paper's)."
    ),
    seed: int = typer.Option(None, help="Random seed of the fit (default: the config's seed)."),
    out: Path = typer.Option(None, "--out", "-o", help="Write the fit record as JSON here."),
    idata: Path = typer.Option(None, help="Write the posterior draws as ArviZ NetCDF here."),
    plot: Path = typer.Option(None, help="Draw the eps posteriors and P(leader) to this image."),
    opinions: Path = OPINIONS,
    agents_out: Path = typer.Option(
        None, "--agents-out", help="Write one row per agent here (.csv or .parquet)."
    ),
    truth: Path = typer.Option(
        None, "--truth", help="Known roles to score the fit against: agent, role (.csv/.parquet)."
    ),
    timezone: str = TIMEZONE,
    clip: float = CLIP,
) -> None:
    """Estimate a model's parameters (and latents) from a trace or an event log.

    Example: vi-od fit events.csv --agents-out agents.csv --out fit.json

    Example: vi-od fit trace.npz --model deffuant --method nuts-marginal
    """
    import dataclasses

    from vi_od.config import checked_seed, compose_config, method_settings, model_of, with_method

    with user_errors():
        sugar = [f"model={model}"] if model else []
        cfg = compose_config([*with_method(overrides or [], method), *sugar])
        seed = checked_seed(cfg.seed if seed is None else seed)
        if agents_out is not None:
            check_agents_path(agents_out)
        for option, path in (("--out", out), ("--idata", idata), ("--agents-out", agents_out)):
            check_writable(path, option)
        check_figure(plot)
        obs = load_data(data_path, opinions, cfg, timezone, clip)  # a bad file: before JAX
        from vi_od.inference import check_limits, convergence
        from vi_od.inference.fitting import (
            agents_table,
            fit_observations,
            save_idata,
            write_agents,
            write_json,
        )

        chosen, settings = method_settings(cfg)
        fitted = model_of(cfg)
        if truth is not None:
            from vi_od.data.eventlog import read_roles

            roles, notes = read_roles(truth, obs.agent_ids)
            for note in notes:
                print(f"warning: {note}", file=sys.stderr)
            obs = dataclasses.replace(obs, roles=roles)
        if fitted.check_truth and fitted.truth_of(obs):
            fitted.check_truth([float(e) for e in obs.eps], f"{data_path}: 'eps'")
        if obs.meta.get("rho_from") == "config":
            mu = "mu+=[{:g}, {:g}] mu-=[{:g}, {:g}]".format(*obs.mu_plus, *obs.mu_minus)
            console.print(f"rho={obs.rho:g} {mu}: from the config (not in the data)")
        check_limits(chosen, obs, settings, fitted)
        result = fit_observations(obs, chosen.name, settings, seed, fitted)
        print_fit(result.record, obs)
        if (note := convergence.warning({"method": result.record.method, **result.record.info})):
            print(f"warning: {note}", file=sys.stderr)
        with all_or_nothing() as wrote:
            if out is not None:
                wrote(write_json(result.record, out))
                console.print(f"fit written to {out}")
            if agents_out is not None:
                wrote(write_agents(agents_table(result.posterior, obs), agents_out))
                console.print(f"agents written to {agents_out}")
            if idata is not None:
                wrote(save_idata(result.posterior, idata, obs.agent_ids))
                console.print(f"posterior draws written to {idata}")
            if plot is not None:
                from vi_od.reporting.plots import fit as fit_figure

                wrote(plot)
                save_figure(fit_figure(result.posterior, obs), plot)
                console.print(f"fit drawn to {plot}")


def read_fit_record(path: Path):
    """A fit record written by `vi-od fit --out`, checked (vi_od.inference.record)."""
    import json

    try:
        data = json.loads(path.read_text())
    except ValueError as exc:  # not UTF-8 text, or not JSON
        raise ViOdError(f"{path}: not a JSON fit record ({exc})") from None
    from vi_od.inference.record import FitRecord  # numpy: after the file's own errors

    return FitRecord.from_json(data, str(path))


@app.command()
def check(
    data: Path = DATA,
    fit_path: Path = typer.Argument(..., metavar="FIT.json", help="Fit record (vi-od fit --out)."),
    out: Path = typer.Option(None, "--out", "-o", help="Write the check as JSON here."),
    plot: Path = typer.Option(None, help="Draw observed vs replicated statistics to this image."),
    draws: int = typer.Option(200, min=2, help="Posterior draws to replicate (evenly thinned)."),
    alpha: float = typer.Option(0.05, min=0.0, max=1.0, help="Error rate of the misfit verdict."),
    seed: int = typer.Option(0, help="Random seed of the replications."),
    opinions: Path = OPINIONS,
    timezone: str = TIMEZONE,
    clip: float = CLIP,
) -> None:
    """Posterior predictive check: does the model fit these data at all?

    Replicates s+ and s- at every observed interaction from the fit's posterior draws and
    compares rates against |d|, over time and their spread over agents (by estimated role).
    Example: vi-od check trace.npz fit.json --out check.json --plot check.png
    """
    from vi_od.config import checked_seed
    from vi_od.data import check_data_file
    from vi_od.models import get_model

    with user_errors():
        seed = checked_seed(seed)
        check_writable(out, "--out")
        check_figure(plot)
        check_data_file(data, opinions, timezone)  # before the record and JAX: answered at once
        record = read_fit_record(fit_path)
        model = get_model(record.model)
        if model.ppc is None:
            raise ViOdError(f"model {model.name} has no posterior predictive check yet")
        ppc = model.ppc
        obs = load_data(data, opinions, model_config(model.name), timezone=timezone, clip=clip)
        posterior = ppc.draws_from_record(record, obs, draws)
        with console.status(f"replicating {obs.M} interactions from {draws} posterior draws"):
            result = ppc.check(obs, posterior, seed=seed, alpha=alpha)
        print(result.summary_line())
        from vi_od.inference.fitting import write_json

        with all_or_nothing() as wrote:
            if out is not None:
                context = {"data": str(data), "fit": str(fit_path), "method": record.method,
                           "interactions": obs.M, "agents": obs.N, "seed": seed}  # fmt: skip
                wrote(write_json(ppc.to_json(result, **context), out))
                console.print(f"check written to {out}")
            if plot is not None:
                wrote(plot)
                save_figure(ppc.figure(result), plot)
                console.print(f"check drawn to {plot}")


def model_names(text: str) -> list[str]:
    """--models a,b,c as names, each checked before any model (and JAX) is imported."""
    from vi_od.models import BUILTIN, LEARNED_RHO

    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        if name.removesuffix(LEARNED_RHO) not in BUILTIN and ":" not in name:
            raise ViOdError(f"unknown model '{name}' (available: {', '.join(BUILTIN)})")
    return names


@app.command()
def compare(
    data_path: Path = DATA,
    overrides: list[str] = typer.Argument(
        None, help="Hydra overrides of the method, e.g. method.samples=1000.", show_default=False
    ),
    models: str = typer.Option(
        None, "--models", help="Models to compare, comma-separated (e.g. bcm-roles,bcm)."
    ),
    fits: str = typer.Option(
        None, "--fits", help="Compare these fit files (vi-od fit --out, an exact method, of "
        "DATA) instead of fitting here, comma-separated: their models are compared."
    ),
    method: str = typer.Option(
        None, "--method", help="Exact method fitting every model (default nuts-marginal)."
    ),
    seed: int = typer.Option(None, help="Random seed of the fits (default: the config's seed)."),
    out: Path = typer.Option(None, "--out", "-o", help="Write the comparison as JSON here."),
    plot: Path = typer.Option(None, help="Draw ArviZ's compare plot to this image."),
    kfold: int = typer.Option(
        None, "--kfold", min=0, help="K-fold over agents: K refits per model; 0 = off "
        "(default: 10 folds when some agent's Pareto k > 0.7, where the models allow it)."
    ),
    opinions: Path = OPINIONS,
    timezone: str = TIMEZONE,
    clip: float = CLIP,
) -> None:
    """Which model explains the data? Fit each and rank them by PSIS-LOO (docs/compare.md).

    The terms are per agent: the outcomes of every interaction an agent received, its own
    latent summed out. Prints the ranking, the standard error of each difference, the
    stacking weights and the Pareto-k diagnostics.

    Example: vi-od compare trace.npz --models bcm-roles,bcm --out compare.json --plot compare.png

    Example: vi-od compare trace.npz --fits roles.json,one-role.json
    """
    from vi_od.config import checked_seed, compose_config, method_settings, with_method

    with user_errors():
        records, names = compared_fits(fits, models, method, kfold)
        cfg = compose_config(with_method(overrides or [], method))
        seed = checked_seed(cfg.seed if seed is None else seed)
        check_writable(out, "--out")
        check_figure(plot)
        obs = load_data(data_path, opinions, cfg, timezone, clip)  # a bad file: before JAX
        chosen, settings = method_settings(cfg)
        method_name = records[0][1].method if records else chosen.name
        from vi_od.checks import compare as comparing
        from vi_od.inference import check_limits, convergence
        from vi_od.inference.fitting import fit_observations, write_json
        from vi_od.models import get_model
        from vi_od.progress import quiet

        fitted = [get_model(name) for name in names]
        candidates = comparing.prepare(obs, fitted, "collapsed" if records else chosen.needs,
                                       method_name)  # fmt: skip
        from_files = {m.name: comparing.fit_from_file(r, str(p), m, obs, "collapsed")
                      for m, (p, r) in zip(fitted, records)}  # fmt: skip
        for model in fitted if not records else ():
            check_limits(chosen, obs, settings, model)

        if kfold is not None and kfold:
            comparing.check_kfold(obs, candidates, kfold)

        def fit_one(model, data):
            if model.name in from_files:
                console.print(f"{model.name}: the fit of {records[names.index(model.name)][0]}")
                return from_files[model.name]
            if data is obs:  # K-fold's refits run quietly
                console.print(f"fitting {model.name} ({chosen.name}, seed {seed})")
            return fit_observations(data, chosen.name, settings, seed, model)

        result, fits = comparing.run(obs, candidates, fit_one)
        for name, f in fits.items():
            means = "  ".join(f"{k}={v:.3f}" for k, v in f.record.summary["mean"].items())
            console.print(f"{name}: {means}  ({f.record.wall_time_s:.1f} s)")
            if note := convergence.warning({"method": f.record.method, **f.record.info}):
                print(f"warning: {name}: {note}", file=sys.stderr)
        print_comparison(result)
        for note in result.warnings:
            print(f"warning: {note}", file=sys.stderr)
        folds = kfold
        if folds is None and result.warnings and records:
            folds = 0
            print("warning: no K-fold fallback from fit files: compare without --fits to refit",
                  file=sys.stderr)  # fmt: skip
        if folds is None and result.warnings:  # high Pareto k: LOO is unreliable, refit
            folds = comparing.AUTO_FOLDS if comparing.kfold_possible(obs, candidates) else 0
            if not folds:
                print("warning: no K-fold fallback: a model replays the opinions from X[0]",
                      file=sys.stderr)  # fmt: skip
        cv = None
        if folds:
            console.print(f"K-fold over agents: {folds} folds x {len(candidates)} models")
            with quiet():
                cv = comparing.kfold(obs, candidates, fit_one, folds, seed)
            print_kfold(cv)
        with all_or_nothing() as wrote:
            if out is not None:
                summaries = {n: comparing.fit_summary(f.record) for n, f in fits.items()}
                context = {"data": str(data_path), "method": method_name, "seed": seed,
                           "interactions": obs.M}  # fmt: skip
                if records:
                    context["fit_files"] = {n: str(p) for n, (p, _) in zip(names, records)}
                record = comparing.to_json(result, summaries, cv, **context)
                wrote(write_json(record, out))
                console.print(f"comparison written to {out}")
            if plot is not None:
                wrote(plot)
                save_figure(comparing.figure(result), plot)
                console.print(f"comparison drawn to {plot}")


def compared_fits(fits: str | None, models: str | None, method: str | None, kfold: int | None):
    """`vi-od compare`'s models: ([], names of --models), or from --fits ([(path, record)],
    their models); one-line refusals of what cannot go together."""
    if fits is None:
        if models is None:
            raise ViOdError("give the models to compare (--models a,b) or their fit files "
                            "(--fits a.json,b.json)")  # fmt: skip
        return [], model_names(models)
    if method is not None:
        raise ViOdError("--method: the fit files name their methods; give --fits or --method")
    if kfold:
        raise ViOdError("--kfold refits every model: compare without --fits")
    paths = [Path(p.strip()) for p in fits.split(",") if p.strip()]
    records = [(p, read_fit_record(p)) for p in paths]
    names = [r.model for _, r in records]
    if models is not None and sorted(model_names(models)) != sorted(names):
        raise ViOdError(f"--models {models}: the fit files are of {', '.join(names)}")
    return records, names


def print_kfold(cv) -> None:
    """K-fold's held-out elpd per model, best first."""
    table = Table(title=f"{cv.folds}-fold cross-validation over agents (held-out elpd)")
    for column in ("model", "elpd_kfold", "se", "elpd_diff", "dse"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for name, r in cv.table.items():
        table.add_row(name, *(f"{r[k]:.1f}" for k in ("elpd_kfold", "se", "elpd_diff", "dse")))
    console.print(table)
    console.print(f"best by K-fold: {cv.best}")


def print_comparison(result) -> None:
    """The ranking as a table, best first, then the verdict in one line."""
    from vi_od.checks.compare import CLEAR, SMALL, rows

    table = Table(title=f"PSIS-LOO over {result.agents} agents (higher elpd is better)")
    columns = ["model", "elpd_loo", "se", "elpd_diff", "dse", "weight", "p_loo", "k>0.7"]
    for column in columns:
        table.add_column(column, justify="left" if column == "model" else "right")
    for r in rows(result):
        table.add_row(r["model"], f"{r['elpd_loo']:.1f}", f"{r['se']:.1f}",
                      f"{r['elpd_diff']:.1f}", f"{r['dse']:.1f}", f"{r['weight']:.2f}",
                      f"{r['p_loo']:.1f}", str(r["k_above_0.7"]))  # fmt: skip
    console.print(table)
    others = [n for n in result.table.index[1:] if n != result.best]
    clear = [n for n in others if result.clear_over(n)]
    close = [n for n in others if n not in clear]
    line = f"best: {result.best}"
    if result.best != result.top:
        lead = result.table.loc[result.best]
        line += (f" (fewest parameters within 1 SE of {result.top}, whose lead of "
                 f"{lead['elpd_diff']:.1f} +- {lead['dse']:.1f} is noise)")
        close = [n for n in close if n != result.top]
    if clear:
        line += f"; clearly ahead of {', '.join(clear)} (by > {SMALL:g} and > {CLEAR:g} SE)"
    if close:
        line += f"; not distinguishable from {', '.join(close)} (within {SMALL:g} or {CLEAR:g} SE)"
    console.print(line)


def print_fit(record, obs: Observations) -> None:
    """The estimates of a fit as a table, then latents, accuracy and cost in one line each."""
    from vi_od.models import get_model

    names = record.param_names
    truth = get_model(record.model).truth_of(obs)
    table = Table(title=f"{record.model}: {record.method} (seed {record.seed})")
    columns = ["parameter", "mean", "std", "5%", "95%"] + (["truth", "|error|"] if truth else [])
    for column in columns:
        table.add_column(column, justify="left" if column == "parameter" else "right")
    for name in names:
        mean = record.summary["mean"][name]
        row = [name] + [f"{record.summary[k][name]:.3f}" for k in ("mean", "std", "q05", "q95")]
        if truth:
            known = name in truth
            row += [f"{truth[name]:.3f}", f"{abs(mean - truth[name]):.3f}"] if known else ["-"] * 2
        table.add_row(*row)
    console.print(table)
    info = record.info
    if record.p_leader is not None:
        leaders = f"leaders found: {int(record.roles.sum())} of {obs.N} agents"
        if obs.roles is not None:
            leaders += f" (truth: {int(obs.roles.sum())})"
        console.print(leaders)
    if record.metrics:
        m = record.metrics
        parts = [f"role error: {m['role_error_rate']:.3f}"] if "role_error_rate" in m else []
        parts += [f"eps RMSE: {m['rmse_eps']:.4f}"] if "rmse_eps" in m else []
        parts += [f"{k}: {v}" for k, v in m.items() if k.endswith("_right")]
        parts += [f"leaders recall: {m['leaders_recall']:.2f}"] if "leaders_recall" in m else []
        console.print("  ".join(parts))
    cost = f"wall time: {record.wall_time_s:.1f} s"
    for key in ("steps", "warmup", "samples", "simulations"):
        if key in info:
            cost += f"  {key}: {info[key]}"
    if "final_loss" in info:
        cost += f"  final loss: {info['final_loss']:.6g}"
    console.print(cost)
    if "leader_proportion" in info:
        console.print(f"leader proportion (posterior mean): {info['leader_proportion']:.3f}")
    if "r_hat" in info:
        console.print(
            f"divergences: {info['divergences']}  max r_hat: {max(info['r_hat'].values()):.3f}"
            f"  min ESS: {min(info['ess'].values()):.0f}"
        )


def main() -> None:
    app()
