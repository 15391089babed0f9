"""The `vi-od` command line: parse, call, print. No logic lives here."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from vi_od import trace as trace_io
from vi_od.config import compose_config, simulator_settings
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


RESULTS = typer.Argument(..., help="Results folder of vi-od sweep (holds runs/*.parquet).")


def load_results(folder: Path):
    """Every job row of a results folder as one DataFrame (one Parquet file per job)."""
    import pandas as pd

    if not folder.is_dir():
        raise ViOdError(f"results folder {folder} does not exist")
    files = sorted((folder / "runs").glob("*.parquet"))
    if not files:
        raise ViOdError(f"no results in {folder / 'runs'}: run vi-od sweep first")
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


@app.command()
def figures(
    results: Path = RESULTS,
    out: Path = typer.Option(None, "--out", "-o", help="Folder for the figures [RESULTS/figures]."),
    pdf: bool = typer.Option(False, "--pdf", help="Also write each figure as PDF."),
) -> None:
    """Draw the paper's Figures 3-6 and write summary.md from a results folder.

    Example: vi-od figures results/smoke --out figs --pdf
    """
    import matplotlib.pyplot as plt

    from vi_od.figures import FIGURES
    from vi_od.report import report_table, to_markdown

    with user_errors():
        runs = load_results(results)
        out = out or results / "figures"
        for name, draw in FIGURES.items():
            fig = draw(runs)
            for suffix in (".png", ".pdf") if pdf else (".png",):
                save_figure(fig, out / f"{name}{suffix}")
                console.print(f"{name} -> {out / (name + suffix)}")
            plt.close(fig)
        (out / "summary.md").write_text(to_markdown(report_table(runs)))
        console.print(f"summary -> {out / 'summary.md'}")


@app.command()
def report(
    results: Path = RESULTS,
    markdown: bool = typer.Option(False, "--markdown", help="Print Markdown instead of a table."),
) -> None:
    """Per-method summary of a results folder beside the paper's numbers on the same cells.

    Example: vi-od report results/smoke --markdown
    """
    from vi_od.report import report_table, to_markdown, to_rich

    with user_errors():
        runs = load_results(results)
        table = report_table(runs)
        if markdown:
            print(to_markdown(table), end="")
        else:
            console.print(to_rich(table, f"{results}: {len(runs)} runs"))


def main() -> None:
    app()
