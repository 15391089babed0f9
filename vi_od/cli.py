"""The `vi-od` command line: parse, call, print. No logic lives here."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from vi_od import trace as trace_io
from vi_od.config import compose_config, method_settings, simulator_settings
from vi_od.errors import ViOdError

app = typer.Typer(
    help="Estimate parameters of opinion-dynamics models from traces, and run method grids.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()

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
    out: Path = typer.Option(..., "--out", "-o", help="Trace file to write (.npz)."),
    seed: int = typer.Option(None, help="Random seed (default: the config's seed)."),
    plot: Path = typer.Option(None, help="Also draw the opinion trajectories to this image."),
) -> None:
    """Simulate a trace of the bounded-confidence model with leaders and followers.

    Example: vi-od simulate N=200 T=2048 leader_proportion=0.1 --out trace.npz --seed 7
    """
    from vi_od.simulate import simulate_trace

    with user_errors():
        cfg = compose_config(overrides or [])
        settings = simulator_settings(cfg)
        seed = cfg.seed if seed is None else seed
        with console.status(f"simulating N={settings.N}, T={settings.T} ..."):
            trace = simulate_trace(settings, seed)
        trace_io.save(trace, out)
        print_summary(trace_io.summary(trace), f"trace written to {out} (seed {seed})")
        if plot is not None:
            from vi_od.plots import trajectories

            save_figure(trajectories(trace), plot)
            console.print(f"trajectories drawn to {plot}")


@app.command()
def inspect(path: Path = typer.Argument(..., help="Trace file (.npz) to check.")) -> None:
    """Validate a trace file (simulated or your own data) and print its summary.

    Example: vi-od inspect trace.npz
    """
    with user_errors():
        trace = trace_io.load(path)
        print_summary(trace_io.summary(trace), f"{path}: valid trace")


@app.command()
def fit(
    trace_path: Path = typer.Argument(..., metavar="TRACE", help="Trace file (.npz) to fit."),
    overrides: list[str] = typer.Argument(
        None, help="Hydra overrides, e.g. method.steps=5000 method.lr=0.005.", show_default=False
    ),
    method: str = typer.Option(None, "--method", help="Method (sugar for method=M)."),
    seed: int = typer.Option(None, help="Random seed of the fit (default: the config's seed)."),
    out: Path = typer.Option(None, "--out", "-o", help="Write the fit record as JSON here."),
    idata: Path = typer.Option(None, help="Write the posterior draws as ArviZ NetCDF here."),
    plot: Path = typer.Option(None, help="Draw the eps posteriors and P(leader) to this image."),
) -> None:
    """Estimate eps and the roles of a trace (simulated or your own data).

    Example: vi-od fit trace.npz --method svi-nf method.steps=5000 --out fit.json
    """
    from vi_od.fitting import fit_trace, save_idata, write_json

    with user_errors():
        cfg = compose_config([*(overrides or []), *([f"method={method}"] if method else [])])
        chosen, settings = method_settings(cfg)
        trace = trace_io.load(trace_path)
        seed = cfg.seed if seed is None else seed
        result = fit_trace(trace, chosen.name, settings, seed)
        print_fit(result.record, trace)
        if out is not None:
            write_json(result.record, out)
            console.print(f"fit written to {out}")
        if idata is not None:
            save_idata(result.posterior, idata)
            console.print(f"posterior draws written to {idata}")
        if plot is not None:
            from vi_od.plots import fit as fit_figure

            save_figure(fit_figure(result.posterior, trace), plot)
            console.print(f"fit drawn to {plot}")


def print_fit(record: dict, trace: trace_io.Trace) -> None:
    """The estimates of a fit as a table, then roles, accuracy and cost in one line each."""
    truth = trace.eps is not None
    table = Table(title=f"{record['method']} (seed {record['seed']})")
    columns = ["eps", "mean", "std", "5%", "95%"] + (["truth", "|error|"] if truth else [])
    for column in columns:
        table.add_column(column, justify="left" if column == "eps" else "right")
    stats = ("eps_mean", "eps_std", "eps_q05", "eps_q95")
    for i, name in enumerate(trace_io.EPS_NAMES):
        mean = record["eps_mean"][name]
        row = [name] + [f"{record[k][name]:.3f}" for k in stats]
        if truth:
            row += [f"{trace.eps[i]:.3f}", f"{abs(mean - trace.eps[i]):.3f}"]
        table.add_row(*row)
    console.print(table)
    leaders = f"leaders found: {record['n_leaders_found']} of {trace.N} agents"
    if trace.roles is not None:
        leaders += f" (truth: {int(trace.roles.sum())})"
    console.print(leaders)
    if "metrics" in record:
        m = record["metrics"]
        console.print(
            f"role error: {m['role_error_rate']:.3f}  eps RMSE: {m['rmse_eps']:.4f}  "
            f"leaders recall: {m['leaders_recall']:.2f}"
        )
    cost = f"wall time: {record['wall_time_s']:.1f} s"
    for key in ("steps", "warmup", "samples", "simulations"):
        if key in record:
            cost += f"  {key}: {record[key]}"
    if "final_loss" in record:
        cost += f"  final loss: {record['final_loss']:.6g}"
    console.print(cost)
    if "leader_proportion" in record:
        console.print(f"leader proportion (posterior mean): {record['leader_proportion']:.3f}")
    if "r_hat" in record:
        console.print(
            f"divergences: {record['divergences']}  max r_hat: {max(record['r_hat'].values()):.3f}"
            f"  min ESS: {min(record['ess'].values()):.0f}"
        )


def main() -> None:
    app()
