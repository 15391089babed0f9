"""The summary table of a results folder, per method, beside the paper's numbers on the same cells.

`report_table` is the numbers (a DataFrame, one row per method); `to_markdown` and `to_rich`
render it with every metric as "ours / paper". `cost_table` is what a grid cost per method on
the machine that ran it (`vi-od report --cost`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from rich.table import Table

from vi_od.checks.sbc import covered
from vi_od.reporting.summary import CELL, method_order, run_model, side_by_side

COUNTS = ("ok", "timeout", "error")
# (column, header, format) of each metric.
METRICS = (
    ("rmse_eps", "eps RMSE", "{:.3f}"),
    ("role_error_rate", "role error", "{:.3f}"),
    ("perfect_roles", "perfect roles", "{:.2f}"),
    ("median_wall_s", "median time (s)", "{:.1f}"),
)
# The central intervals behind each coverage: (lower, upper) quantile column prefixes.
INTERVALS = {"coverage_90": ("q05", "q95"), "coverage_50": ("q25", "q75")}
COVERAGE = "coverage (%) 90/50"  # one column, shown when some run kept its intervals
NOTE = (
    "Under each method, the paper's own runs (packaged per-run results) of the same method "
    "on the (N, T, n_leaders) cells where ours ran (under abc-smc, the paper's abc: its "
    "published ABC runs were ABC-SMC); its times are on the authors' hardware, 8 jobs in "
    "parallel. Accuracy and time use finished runs (status ok) only; — means no runs (the "
    "paper has no marginal methods). Coverage (shown "
    "when runs kept their intervals): the percentage of true eps inside the posterior's "
    "central 90% / 50% intervals, all four eps; a calibrated method has 90/50. Unconverged "
    "(shown when runs recorded it): finished runs with r_hat > 1.01 or ESS < 100 per chain."
)


def report_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per method: runs by status, mean eps RMSE, mean role error, perfect share, median time.

    The paper's numbers for the same cells are the paper_* columns (paper_ok = its runs).
    """
    table = side_by_side(runs).join(coverage(runs), how="left").join(unconverged(runs))
    return table.loc[method_order(runs)]


def unconverged(runs: pd.DataFrame) -> pd.Series:
    """Per method, finished runs whose sampler had not converged (NaN: none recorded it)."""
    if "converged" not in runs:
        return pd.Series(dtype=float, name="unconverged")
    ok = runs[runs["status"] == "ok"]
    flag = ok["converged"]
    recorded = flag.notna().groupby(ok["method"]).any()
    count = flag.eq(False).groupby(ok["method"]).sum()
    return count.where(recorded).astype(float).rename("unconverged")


def coverage(runs: pd.DataFrame, by_eps: bool = False) -> pd.DataFrame:
    """Per method (and eps), the share of true eps inside the 90% and 50% central intervals.

    Finished runs whose row has the truth and the interval only (NaN where there are none).
    """
    ok = runs[runs["status"] == "ok"] if "status" in runs else runs
    missing = pd.Series(np.nan, index=ok.index)
    column = lambda name: ok[name].astype(float) if name in ok else missing
    parts = []
    for name in run_model(runs).param_names:  # NaN where the runs kept no intervals
        part = pd.DataFrame({"method": ok["method"], "eps": name})
        for key, (low, high) in INTERVALS.items():
            truth, lower, upper = column(name), column(f"{low}_{name}"), column(f"{high}_{name}")
            part[key] = covered(truth, lower, upper)
        parts.append(part)
    keys = ["method", "eps"] if by_eps else "method"
    return pd.concat(parts).groupby(keys)[list(INTERVALS)].mean()


def _number(value: float, fmt: str) -> str:
    """One number, or a dash where there is none."""
    return "—" if pd.isna(value) else fmt.format(value)


def rows(table: pd.DataFrame) -> tuple[list[str], list[tuple[list[str], list[str]]]]:
    """Header, and per method two text rows: ours, and the paper's on the same cells."""
    header = ["method", *COUNTS, *(title for _, title, _ in METRICS)]
    shown = "coverage_90" in table and table["coverage_90"].notna().any()
    flagged = "unconverged" in table and table["unconverged"].notna().any()
    body = []
    for method, r in table.iterrows():
        ours = [str(method), *(str(int(r[c])) for c in COUNTS)]
        ours += [_number(r[col], fmt) for col, _, fmt in METRICS]
        paper = ["paper", str(0 if pd.isna(r["paper_ok"]) else int(r["paper_ok"])), "", ""]
        paper += [_number(r[f"paper_{col}"], fmt) for col, _, fmt in METRICS]
        if shown:  # the paper's runs kept no intervals
            ours.append("/".join(_number(100 * r[key], "{:.0f}") for key in INTERVALS))
            paper.append("")
        if flagged:  # r_hat/ESS or loss flags (docs/data-and-errors.md); the paper's runs have none
            ours.append(_number(r["unconverged"], "{:.0f}"))
            paper.append("")
        body.append((ours, paper))
    return header + ([COVERAGE] if shown else []) + (["unconverged"] if flagged else []), body


def _markdown(header, body) -> str:
    """A GitHub Markdown table: the first column left-aligned, the numbers right-aligned."""
    lines = [list(header), ["---"] + ["---:"] * (len(header) - 1), *body]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines) + "\n"


def to_markdown(table: pd.DataFrame) -> str:
    """The table as GitHub Markdown, followed by a note on what the numbers are."""
    header, body = rows(table)
    lines = []
    for ours, paper in body:
        lines += [ours, [f"*{paper[0]}*", *paper[1:]]]
    return _markdown(header, lines) + f"\n{NOTE}\n"


def to_rich(table: pd.DataFrame, title: str = "") -> Table:
    """The table for the terminal, the paper's rows dimmed."""
    header, body = rows(table)
    out = Table(title=title or None, caption=NOTE, caption_justify="left")
    names = max((len(ours[0]) for ours, _ in body), default=6)
    out.add_column(header[0], min_width=names, no_wrap=True)
    for name in header[1:]:
        wide = name == COVERAGE  # "88/47" is one value: never cut it
        out.add_column(name, justify="right", min_width=5 if wide else None)
    for ours, paper in body:
        out.add_row(*ours)
        out.add_row(*paper, style="dim", end_section=True)
    return out


COST_HEADER = (
    "method", "runs", "ok", "reps", "cells", "cells with every rep",
    "sum of fit times (h)", "median fit time (s)",
)  # fmt: skip


def cost_table(runs: pd.DataFrame) -> list[list[str]]:
    """Per method, what its runs cost: how many, over which reps and (N, T, n_leaders) cells,
    and their fit times (`wall_time_s`, every status: a timeout costs its limit).

    "cells with every rep" counts the cells that have as many ok runs as the grid's reps (the
    most reps any method has in any cell), so a partly run method shows how far it got.
    """
    ok = runs[runs["status"] == "ok"]
    per_cell = ok.groupby(["method", *CELL]).size()
    full = per_cell.max() if len(per_cell) else 0
    body = []
    for method in method_order(runs):
        mine, cells = runs[runs["method"] == method], per_cell.get(method, pd.Series(dtype=int))
        reps = mine["rep"].dropna().astype(int) if "rep" in mine else pd.Series(dtype=int)
        body.append([
            method, str(len(mine)), str(int((mine["status"] == "ok").sum())),
            f"{reps.min()}-{reps.max()}" if len(reps) else "—",
            str(len(cells)), str(int((cells >= full).sum())),
            f"{mine['wall_time_s'].sum() / 3600:.2f}",
            _number(mine["wall_time_s"].median(), "{:.1f}"),
        ])  # fmt: skip
    return body


def cost_markdown(body: list[list[str]]) -> str:
    """The cost table as GitHub Markdown."""
    return _markdown(COST_HEADER, body)


def cost_rich(body: list[list[str]], title: str = "") -> Table:
    """The cost table for the terminal."""
    out = Table(title=title or None)
    out.add_column(COST_HEADER[0], no_wrap=True)
    for name in COST_HEADER[1:]:
        out.add_column(name, justify="right")
    for cells in body:
        out.add_row(*cells)
    return out
