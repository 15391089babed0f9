"""Per-method summaries of run tables (ours or the paper's), side by side on the same cells.

The paper's own per-run results ship as vi_od/reporting/paper_runs.csv (734 runs from the
paper's repository); its column names are the ones our results use.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

CELL = ["N", "T", "n_leaders"]
# Known methods keep this order in tables and figures; methods new to vi-od follow, sorted.
KNOWN_METHODS = ("svi-normal", "svi-nf", "svi-marginal", "nuts", "nuts-marginal", "abc")
# Ours -> the paper's method it is compared with. The paper's published "abc" runs were
# ABC-SMC (its repository ran pyABC), so abc-smc, which reproduces them, is compared with them
# too; the paper has no counterpart of the marginal methods.
PAPER_COUNTERPART = {
    "svi-normal": "svi-normal",
    "svi-nf": "svi-nf",
    "nuts": "nuts",
    "abc": "abc",
    "abc-smc": "abc",
}


def method_order(runs: pd.DataFrame) -> list[str]:
    """Methods present in a run table: the known ones in their usual order, then the rest."""
    present = set(runs["method"].dropna().astype(str))
    return [m for m in KNOWN_METHODS if m in present] + sorted(present - set(KNOWN_METHODS))


def run_model(runs: pd.DataFrame):
    """The model a run table is of (the paper's when it names none, as the paper's CSV)."""
    from vi_od.models import default_model, get_model

    names = runs["model"].dropna().unique() if "model" in runs else []
    if len(names) > 1:
        raise ValueError(f"runs of {len(names)} models: split them by model first")
    return get_model(str(names[0])) if len(names) else default_model()


def parameters(runs: pd.DataFrame, column: str = "est_{}") -> list[str]:
    """The continuous parameters of the runs' model that the table has `column` of (by
    default the estimates; "rank_{}" the SBC ranks, "q05_{}" the intervals)."""
    names = run_model(runs).param_names
    return [n for n in names if column.format(n) in runs and n in runs and runs[n].notna().any()]


def paper_runs() -> pd.DataFrame:
    """The paper's published per-run results, one row per (method, cell, rep)."""
    with resources.files("vi_od.reporting").joinpath("paper_runs.csv").open() as f:
        df = pd.read_csv(f)
    df["status"] = "ok"
    df["perfect_roles"] = df["role_error_rate"] == 0
    return df


def method_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per method: runs by status, mean eps RMSE, mean role error, perfect share, median time.

    Accuracy columns use the runs with status ok only.
    """
    runs = runs.copy()
    if "status" not in runs:
        runs["status"] = "ok"
    if "perfect_roles" not in runs:
        runs["perfect_roles"] = runs["role_error_rate"] == 0
    runs["perfect_roles"] = runs["perfect_roles"].astype(float)  # bools with None on failed rows
    counts = runs.pivot_table(index="method", columns="status", values="N", aggfunc="size")
    counts = counts.reindex(columns=["ok", "timeout", "error"], fill_value=0).fillna(0).astype(int)
    ok = runs[runs["status"] == "ok"]
    stats = ok.groupby("method").agg(
        rmse_eps=("rmse_eps", "mean"),
        role_error_rate=("role_error_rate", "mean"),
        perfect_roles=("perfect_roles", "mean"),
        median_wall_s=("wall_time_s", "median"),
    )
    return counts.join(stats, how="left")


def paper_on_same_cells(runs: pd.DataFrame, method: str) -> pd.DataFrame:
    """The paper's runs of the method ours `method` is compared with (none if the paper has no
    counterpart), restricted to the (N, T, n_leaders) cells where ours `method` ran."""
    paper = paper_runs()
    cells = runs.loc[runs["method"] == method, CELL].drop_duplicates()
    theirs = paper[paper["method"] == PAPER_COUNTERPART.get(method)]
    return theirs.merge(cells, on=CELL, how="inner")


def side_by_side(runs: pd.DataFrame) -> pd.DataFrame:
    """Our per-method summary next to the paper's (columns prefixed paper_): each method beside
    the paper's counterpart on the cells where that method ran, so a method run on part of the
    grid is compared with the paper's runs on that part only."""
    ours = method_summary(runs)
    columns = ["ok", "rmse_eps", "role_error_rate", "perfect_roles", "median_wall_s"]
    theirs = {}
    for method in ours.index:
        paper = paper_on_same_cells(runs, method)
        if len(paper):
            theirs[method] = method_summary(paper).iloc[0][columns]
    paper = pd.DataFrame.from_dict(theirs, orient="index", columns=columns)
    return ours.join(paper.add_prefix("paper_"), how="left")
