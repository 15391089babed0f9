"""`make paper-grid`: run, resume or extend the paper grid (docs/paper-results.md), then pack it.

1. Seed the results folder from the committed table: every packed row whose job has no file
   yet is written back as `runs/<job_id>.parquet`, so the sweep's resume skips it.
2. Run the stages in order, at low priority: reps 0-2 of every cell first (the four
   methods, svi-nf on N <= 100, abc-smc), then the rest. A stage whose method this vi-od does not
   have is skipped with a message.
3. Pack every row of the folder into the table (zstd Parquet, the sweep's schema), after each
   stage and when interrupted, so the table never lags the folder by more than one stage.

--pack-only does 1 and 3 without running anything: it packs the folder's rows together with
the table's (seeding first means packing never drops a committed row).

Usage:
  python scripts/paper_grid.py [--jobs 1] [--nice 19] [--timeout 3h]
                               [--results results/paper-grid]
                               [--table docs/results/paper_grid.parquet] [--pack-only]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console

from vi_od.errors import ViOdError
from vi_od.experiments import results
from vi_od.experiments import sweep as sweeps

# Overrides of `vi-od sweep -m sweep=paper`, one stage per line, run in this order: the
# paper's ~3 reps of every cell first, then the other reps cheapest first, so that an
# interrupted run leaves whole methods done. Measured at 2 jobs on 2 cores: the whole grid
# about 6 h of wall clock, of which stage 7 (nuts, abc reps 3-11) about half.
STAGES = (
    "method=nuts,abc,svi-normal,nuts-marginal rep=range(3)",
    "method=svi-nf N=50,100 rep=range(3)",
    "method=abc-smc rep=range(3)",
    "method=svi-normal,nuts-marginal rep=range(3,12)",
    "method=abc-smc rep=range(3,12)",
    "method=svi-nf N=50,100 rep=range(3,5)",
    "method=nuts,abc rep=range(3,12)",
)

console = Console()


def stage_methods(stage: str) -> list[str]:
    """The methods a stage runs (its `method=` list)."""
    for override in stage.split():
        key, _, value = override.partition("=")
        if key == "method":
            return value.split(",")
    return []


def pack(folder: Path, table: Path) -> None:
    """Pack the folder into the table and say what it holds (an empty folder packs nothing)."""
    if not results.finished(folder):
        raise ViOdError(f"nothing to pack: no rows in {results.runs_dir(folder)}")
    n = results.pack(folder, table)
    counts = results.load(table).groupby(["method", "status"]).size().unstack(fill_value=0)
    console.print(f"packed {n} rows into {table} ({table.stat().st_size / 1e6:.2f} MB)")
    console.print(counts.to_string())


def run_stages(folder: Path, table: Path, jobs: int, timeout_s: float) -> None:
    """Run every stage whose methods exist, packing after each."""
    from vi_od.inference import registry

    known = set(registry())
    for stage in STAGES:
        missing = [m for m in stage_methods(stage) if m not in known]
        if missing:
            console.print(
                f"[yellow]stage skipped[/] ({stage}): method {', '.join(missing)} is not in this"
                f" vi-od yet (known: {', '.join(sorted(known))})"
            )
            continue
        plan = sweeps.expand(["sweep=paper", *stage.split()])
        todo, done = sweeps.pending(plan, folder)
        console.print(
            f"[bold]stage[/] {stage}: {len(plan.jobs)} jobs, {done} done, {len(todo)} to do"
        )
        if todo:
            counts = sweeps.run(plan, folder, jobs=jobs, timeout_s=timeout_s, console=console)
            console.print(", ".join(f"{s} {counts[s]}" for s in results.STATUSES))
            pack(folder, table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1, help="jobs at once (default 1)")
    parser.add_argument("--nice", type=int, default=19, help="niceness of the run (default 19)")
    parser.add_argument("--timeout", default="3h", help="limit per job (default 3h)")
    parser.add_argument("--results", type=Path, default=Path("results/paper-grid"))
    parser.add_argument("--table", type=Path, default=Path("docs/results/paper_grid.parquet"))
    parser.add_argument("--pack-only", action="store_true", help="seed and pack, run nothing")
    args = parser.parse_args()
    try:
        if args.jobs < 1:
            raise ViOdError(f"--jobs={args.jobs} is not allowed: must be >= 1")
        timeout_s = sweeps.parse_duration(args.timeout)
        if args.table.exists():
            n = results.unpack(args.table, args.results)
            console.print(f"seeded {args.results} with {n} rows from {args.table}")
        if not args.pack_only:
            os.nice(args.nice)  # the sweep's job processes inherit it
            try:
                run_stages(args.results, args.table, args.jobs, timeout_s)
            except KeyboardInterrupt:
                print(
                    "interrupted: packing the finished rows; the same command resumes",
                    file=sys.stderr,
                )
                pack(args.results, args.table)
                sys.exit(130)
        pack(args.results, args.table)
    except ViOdError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
