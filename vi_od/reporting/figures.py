"""The paper's Figures 3-6 as pure functions: results DataFrame -> matplotlib Figure.

The DataFrame has one row per job (the results row schema of vi-od sweep, or the paper's
per-run CSV). Methods are whatever the data holds; runs whose status is not "ok" are left
out of every panel and counted in the figure's caption.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter, NullLocator  # noqa: E402

from vi_od.models import default_model  # noqa: E402
from vi_od.reporting.summary import (  # noqa: E402
    CELL,
    KNOWN_METHODS,
    PAPER_COUNTERPART,
    method_order,
    paper_runs,
    parameters,
    run_model,
)

PALETTE = [plt.get_cmap("tab10")(i) for i in range(10)] + [
    plt.get_cmap("tab20")(i) for i in range(1, 20, 2)
]
GRID_AXES = {"N": "N (agents)", "T": "T (time steps)", "leader_proportion": "leader proportion"}
# Error-analysis features of the paper (section 5.3): column, axis label, log x axis.
FEATURES = (
    ("pos_interactions_F", "positive interactions\nof followers", True),
    ("pos_interactions_L", "positive interactions\nof leaders", True),
    ("abs_diff_eps_plus", r"$|\varepsilon^+_F - \varepsilon^+_L|$", False),
    ("abs_diff_eps_minus", r"$|\varepsilon^-_L - \varepsilon^-_F|$", False),
    ("var_X_final", "variance of\nthe final opinions", True),
)
OUTCOMES = (("role_error_rate", "role error rate"), ("rmse_eps", r"$\varepsilon$ RMSE"))
# The paper's methods, and ours compared with each.
PAPER_METHODS = {
    paper: tuple(m for m, p in PAPER_COUNTERPART.items() if p == paper)
    for paper in dict.fromkeys(PAPER_COUNTERPART.values())
}
REFERENCE = "nuts-marginal"  # ours, drawn in grey in every panel of the paper comparison


def method_colors(methods: list[str]) -> dict[str, tuple]:
    """A fixed colour per known method; new methods take, in order, colours no known one has."""
    free = iter(PALETTE[len(KNOWN_METHODS) :])
    return {
        m: PALETTE[KNOWN_METHODS.index(m)] if m in KNOWN_METHODS else next(free, "0.3")
        for m in methods
    }


def with_derived_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Add status (all ok) when absent."""
    df = df.copy()
    if "status" not in df:
        df["status"] = "ok"
    return df


def _grid_axes(df: pd.DataFrame) -> dict[str, str]:
    """The grid's axes the runs have (a model without leaders has no leader proportion)."""
    return {x: label for x, label in GRID_AXES.items() if x in df and df[x].notna().any()}


def _labels(df: pd.DataFrame, column: str = "est_{}") -> dict[str, str]:
    """The runs' parameters (with `column`), each as figures write it (the model's labels)."""
    model = run_model(df)
    return {name: model.label(name) for name in parameters(df, column)}


def finished(df: pd.DataFrame) -> pd.DataFrame:
    """The runs that finished (status ok): the only ones drawn."""
    return df[df["status"] == "ok"]


def left_out_note(df: pd.DataFrame) -> str:
    """Caption line: how many runs are drawn and how many (timeout, error) are left out."""
    ok = int((df["status"] == "ok").sum())
    failed = df.loc[df["status"] != "ok", "status"].value_counts()
    if failed.empty:
        return f"all {ok} runs finished and are drawn"
    order = ["timeout", "error", *sorted(set(failed.index) - {"timeout", "error"})]
    detail = ", ".join(f"{failed[s]} {s}" for s in order if s in failed)
    return f"{ok} finished runs drawn; {int(failed.sum())} left out ({detail})"


def method_label(df: pd.DataFrame, method: str) -> str:
    """Legend label: the method, its finished runs and how many were left out."""
    rows = df[df["method"] == method]
    ok = int((rows["status"] == "ok").sum())
    out = len(rows) - ok
    return f"{method} ({ok} runs" + (f", {out} left out)" if out else ")")


def _legend(fig: Figure, df: pd.DataFrame, methods: list[str], colors: dict) -> None:
    """One legend for the whole figure, below the panels (the caption is above)."""
    handles = [
        Line2D([], [], color=colors[m], marker="o", label=method_label(df, m)) for m in methods
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(methods), 3))


def _caption(fig: Figure, title: str, df: pd.DataFrame, extra: str = "") -> None:
    """Figure title with the left-out count on a second line."""
    fig.suptitle(f"{title}\n{left_out_note(df)}{extra}", fontsize=11)


def _grid_ticks(ax: Axes, values: np.ndarray, log: bool) -> None:
    """Ticks exactly at the grid values, on a log axis when the values allow it."""
    if log:
        ax.set_xscale("log")
    ax.set_xticks(values, [f"{v:g}" for v in values])
    ax.xaxis.set_minor_locator(NullLocator())
    if len(values) == 1:  # one grid value: give it room instead of a zero-width axis
        v = values[0]
        ax.set_xlim(*((v / 1.5, v * 1.5) if log else (v - 1, v + 1)))


def _dodge(x: np.ndarray, i: int, n: int, log: bool, span: float) -> np.ndarray:
    """Shift method i of n sideways so that error bars of different methods do not overlap."""
    shift = (i - (n - 1) / 2) * span / max(n, 1)
    return x * 10**shift if log else x + shift


def fig3_eps_recovery(df: pd.DataFrame) -> Figure:
    """Fig. 3: estimated vs true eps, one row per parameter, one column per method."""
    df = with_derived_columns(df)
    methods = method_order(df)
    colors = method_colors(methods)
    ok = finished(df)
    jitter = np.random.default_rng(0)
    labels = _labels(df)
    model = run_model(df)
    low, high = model.support()
    bounds = {n: (round(low[i], 2), round(high[i], 2)) for i, n in enumerate(model.param_names)}
    fig, axes = plt.subplots(
        max(len(labels), 1),
        len(methods),
        figsize=(2.6 * len(methods) + 1.2, 10.5),
        sharex="row",
        sharey="row",
        squeeze=False,
        layout="constrained",
    )
    for col, method in enumerate(methods):
        rows = ok[ok["method"] == method]
        axes[0, col].set_title(method_label(df, method), fontsize=10)
        for row, (name, label) in enumerate(labels.items()):
            ax = axes[row, col]
            lo, hi = bounds[name]
            ax.plot([lo, hi], [lo, hi], color="0.5", ls="--", lw=1)
            ax.set(xlim=(lo, hi), ylim=(lo, hi), aspect="equal")
            ax.set_xlabel(f"true {label}")
            if col == 0:
                ax.set_ylabel(f"estimated {label}")
            pairs = rows[[name, f"est_{name}"]].dropna()
            if pairs.empty:
                ax.text(0.5, 0.5, "no finished runs", ha="center", transform=ax.transAxes)
                continue
            x = pairs[name].to_numpy() + jitter.uniform(-0.024, 0.024, len(pairs)) * (hi - lo)
            ax.scatter(x, pairs[f"est_{name}"], s=9, alpha=0.35, color=colors[method], lw=0)
            means = pairs.groupby(name)[f"est_{name}"].mean()
            ax.plot(means.index, means.to_numpy(), color="black", marker="D", ms=3.5, lw=1)
    handles = [
        Line2D([], [], color="0.5", ls="--", label="estimate = truth"),
        Line2D([], [], color="black", marker="D", ms=3.5, label="mean estimate per true value"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=2)
    _caption(fig, "Estimated vs true parameters", df)
    return fig


def _abs_errors(ok: pd.DataFrame) -> pd.DataFrame:
    """Absolute error of each eps estimate, as columns err_<name>."""
    return ok.assign(**{f"err_{n}": (ok[f"est_{n}"] - ok[n]).abs() for n in parameters(ok)})


def _line_with_sem(
    ax: Axes, rows: pd.DataFrame, x: str, y: str, color, i: int, n: int, log: bool, **style
) -> None:
    """Mean of y per value of x with standard-error bars (style: e.g. ls, label)."""
    stats = rows.dropna(subset=[y]).groupby(x)[y].agg(["mean", "sem"])
    if stats.empty:
        return
    xs = _dodge(stats.index.to_numpy(float), i, n, log, span=0.08 if log else 0.0)
    ax.errorbar(
        xs,
        stats["mean"].to_numpy(float),
        yerr=stats["sem"].fillna(0).to_numpy(float),
        color=color,
        marker="o",
        ms=4,
        capsize=2.5,
        lw=1.3,
        **style,
    )


def fig4_errors(df: pd.DataFrame) -> Figure:
    """Fig. 4: |error| of each eps and role error rate against N, T and leader proportion."""
    df = with_derived_columns(df)
    methods = method_order(df)
    colors = method_colors(methods)
    ok = _abs_errors(finished(df))
    outcomes = [(f"err_{n}", f"|error| of {label}") for n, label in _labels(df).items()]
    if "role_error_rate" in df and df["role_error_rate"].notna().any():
        outcomes.append(("role_error_rate", "role error rate"))
    grid = _grid_axes(df)
    fig, axes = plt.subplots(
        len(outcomes),
        len(grid),
        figsize=(11, 13),
        sharex="col",
        sharey="row",
        squeeze=False,
        layout="constrained",
    )
    for col, (x, xlabel) in enumerate(grid.items()):
        values = np.sort(df[x].dropna().unique()).astype(float)
        log = bool(len(values)) and values.min() > 0
        for row, (y, ylabel) in enumerate(outcomes):
            ax = axes[row, col]
            for i, method in enumerate(methods):
                rows = ok[ok["method"] == method]
                _line_with_sem(ax, rows, x, y, colors[method], i, len(methods), log)
            _grid_ticks(ax, values, log)
            ax.grid(alpha=0.3)
            if col == 0:
                ax.set_ylabel(ylabel)
        axes[-1, col].set_xlabel(xlabel)
    for ax in axes[:, 0]:  # errors are >= 0; rows share y, so once all panels are drawn
        ax.set_ylim(bottom=0)
    _legend(fig, df, methods, colors)
    _caption(fig, "Estimation errors across the grid (mean ± standard error)", df)
    return fig


def _median_iqr(ax: Axes, rows: pd.DataFrame, x: str, color, i: int, n: int, log: bool) -> None:
    """Median wall time per value of x with the interquartile range as bars."""
    q = rows.dropna(subset=["wall_time_s"]).groupby(x)["wall_time_s"].quantile([0.25, 0.5, 0.75])
    if q.empty:
        return
    q = q.unstack()
    xs = _dodge(q.index.to_numpy(float), i, n, log, span=0.08 if log else 0.0)
    yerr = np.vstack([q[0.5] - q[0.25], q[0.75] - q[0.5]]).astype(float)
    ax.errorbar(
        xs, q[0.5].to_numpy(float), yerr=yerr, color=color, marker="o", ms=4, capsize=2.5, lw=1.3
    )


def _plain_log_labels(axis, lo: float, hi: float) -> None:
    """Label a log axis 20, 50, 1000 instead of 2x10^1; minor ticks too when under a decade."""
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    axis.set_major_formatter(plain)
    axis.set_minor_formatter(plain if hi / lo < 10 else NullFormatter())


def fig5_time(df: pd.DataFrame) -> Figure:
    """Fig. 5: estimation wall time against N and T per method, on log scales."""
    df = with_derived_columns(df)
    methods = method_order(df)
    colors = method_colors(methods)
    ok = finished(df)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.8), sharey=True, layout="constrained")
    for ax, x in zip(axes, ("N", "T")):
        values = np.sort(df[x].dropna().unique()).astype(float)
        for i, method in enumerate(methods):
            _median_iqr(ax, ok[ok["method"] == method], x, colors[method], i, len(methods), True)
        ax.set_yscale("log")
        _grid_ticks(ax, values, log=True)
        ax.grid(alpha=0.3, which="both")
        ax.set_xlabel(GRID_AXES[x])
    _plain_log_labels(axes[0].yaxis, *axes[0].get_ylim())
    axes[0].set_ylabel("wall time (s), median and interquartile range")
    _legend(fig, df, methods, colors)
    _caption(fig, "Estimation time", df)
    return fig


def _log_fit(ax: Axes, x: np.ndarray, y: np.ndarray, log: bool, color) -> None:
    """Least-squares line of y on log10(x) (or on x), drawn over the range of x."""
    u = np.log10(x) if log else x
    if len(np.unique(u)) < 2:
        return
    slope, intercept = np.polyfit(u, y, 1)
    grid = np.linspace(u.min(), u.max(), 50)
    ax.plot(10**grid if log else grid, intercept + slope * grid, color=color, lw=2)


def fig6_error_analysis(df: pd.DataFrame) -> Figure:
    """Fig. 6: role error and eps RMSE against the trace features of the error analysis."""
    df = with_derived_columns(df)
    methods = method_order(df)
    colors = method_colors(methods)
    ok = finished(df)
    fig, axes = plt.subplots(
        len(OUTCOMES),
        len(FEATURES),
        figsize=(16, 7.5),
        sharex="col",
        sharey="row",
        squeeze=False,
        layout="constrained",
    )
    dropped = 0
    for col, (feature, xlabel, log) in enumerate(FEATURES):
        for row, (y, ylabel) in enumerate(OUTCOMES):
            ax = axes[row, col]
            for method in methods:
                pts = ok.loc[ok["method"] == method, [feature, y]].dropna()
                if log:
                    keep = pts[feature] > 0
                    dropped += int((~keep).sum()) if row == 0 else 0
                    pts = pts[keep]
                ax.scatter(pts[feature], pts[y], s=7, alpha=0.25, color=colors[method], lw=0)
                _log_fit(
                    ax, pts[feature].to_numpy(float), pts[y].to_numpy(float), log, colors[method]
                )
            if log:
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())  # labels of 2x, 3x... collide
            ax.grid(alpha=0.3)
            if col == 0:
                ax.set_ylabel(ylabel)
        axes[-1, col].set_xlabel(xlabel + (" (log scale)" if log else ""))
    _legend(fig, df, methods, colors)
    extra = f"; {dropped} points with a zero feature not drawn on log axes" if dropped else ""
    _caption(
        fig,
        "Error analysis: errors against trace features (lines: regression on "
        "log10 of the feature, or on the feature for linear axes)",
        df,
        extra,
    )
    return fig


def _uniform_cdf(x):
    return np.clip(x, 0.0, 1.0)


def sbc_ranks(df: pd.DataFrame) -> Figure:
    """SBC (docs/checks.md): per method and eps, the ECDF of the truth's fractional rank among the
    posterior draws minus the uniform CDF, inside ArviZ's simultaneous 95% band.

    Rows of SBC sweeps only (truth drawn from the prior). A calibrated method stays in the
    band; an overconfident one (intervals too narrow) rises above it at low ranks and falls
    below at high ranks; a biased one bulges to one side.
    """
    import warnings

    with warnings.catch_warnings():  # arviz announces its 1.0 refactor on import
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az

    df = with_derived_columns(df)
    sbc = df[df["truth"] == "prior"] if "truth" in df else df.iloc[:0]
    methods = method_order(sbc) if not sbc.empty else []
    ok = finished(sbc)
    labels = _labels(df, "rank_{}")
    fig, axes = plt.subplots(
        max(len(methods), 1), max(len(labels), 1),
        figsize=(2.75 * max(len(labels), 1), 2.3 * max(len(methods), 1) + 1.3),
        sharex=True, sharey=True, squeeze=False, layout="constrained",
    )  # fmt: skip
    for row, method in enumerate(methods):
        rows = ok[ok["method"] == method]
        axes[row, 0].set_ylabel(f"{method_label(sbc, method)}\nECDF - uniform", fontsize=9)
        for col, name in enumerate(labels):
            ax = axes[row, col]
            pairs = rows[[f"rank_{name}", "n_draws"]].dropna()
            if pairs.empty:
                ax.text(0.5, 0.5, "no finished runs", ha="center", transform=ax.transAxes)
                continue
            u = (pairs[f"rank_{name}"] + 1) / (pairs["n_draws"] + 1)  # uniform on a grid
            grid = np.arange(1, int(pairs["n_draws"].max()) + 1) / (pairs["n_draws"].max() + 1)
            # Evaluated on the ranks' own grid, the ECDF of a calibrated method is exactly
            # binomial there: the optimised band (Saeilynoja et al. 2022) is exact, no simulation.
            az.plot_ecdf(
                np.array(u, float), cdf=_uniform_cdf, eval_points=grid, difference=True,
                confidence_bands="optimized", ci_prob=0.95, ax=ax,
            )  # fmt: skip
            ax.axhline(0, color="0.5", lw=0.8)
            ax.grid(alpha=0.3)
    for col, label in enumerate(labels.values()):
        axes[0, col].set_title(label)
        axes[-1, col].set_xlabel("fractional rank of the truth")
    _caption(
        fig,
        "Simulation-based calibration: rank ECDF minus uniform, simultaneous 95% bands "
        "(inside = calibrated)",
        sbc if not sbc.empty else df,
    )
    return fig


def coverage_figure(df: pd.DataFrame) -> Figure:
    """Per method and eps, the share of truths inside the 90% and 50% central intervals, with
    binomial standard errors; the dashed lines are what a calibrated method gives."""
    from vi_od.reporting.report import INTERVALS, coverage

    df = with_derived_columns(df)
    table = coverage(df, by_eps=True)
    counts = finished(df).groupby("method").size()
    methods = [m for m in method_order(df) if m in table.index.get_level_values(0)]
    colors = method_colors(methods)
    labels = _labels(df, "q05_{}")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True, layout="constrained")
    for ax, (key, level) in zip(axes, zip(INTERVALS, (0.9, 0.5))):
        for i, method in enumerate(methods):
            shares = table.loc[method, key].reindex(list(labels)).to_numpy(float)
            x = np.arange(len(labels)) + (i - (len(methods) - 1) / 2) * 0.8 / max(len(methods), 1)
            error = np.sqrt(shares * (1 - shares) / counts.get(method, 1))
            ax.errorbar(x, shares, yerr=error, color=colors[method], marker="o", ls="", capsize=3)
        ax.axhline(level, color="0.4", ls="--", lw=1)
        ax.set_xticks(range(len(labels)), list(labels.values()))
        ax.set_title(f"{round(level * 100)}% central intervals")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("share of truths inside")
    _legend(fig, df, methods, colors)
    _caption(fig, "Coverage of the posterior intervals (dashed: calibrated)", df)
    return fig


def on_paper_cells(df: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Per paper method that ours reproduce on some cell it ran: (the paper's runs of it on the
    cells where ours ran, our finished runs of every method on the paper's cells)."""
    ok, paper = finished(with_derived_columns(df)), paper_runs()
    out = {}
    for name, ours in PAPER_METHODS.items():
        theirs = paper[paper["method"] == name]
        same = ok.merge(theirs[CELL].drop_duplicates(), on=CELL)
        mine = same[same["method"].isin(ours)]
        if len(mine):  # both sides on the cells both ran: ours, and the paper's there
            out[name] = (theirs.merge(mine[CELL].drop_duplicates(), on=CELL), same)
    return out


def paper_comparison(df: pd.DataFrame) -> Figure:
    """Ours beside the paper's own runs, one column per paper method, on the cells both ran:
    role error and eps RMSE against N and T (mean ± standard error). Solid: ours; dashed: the
    paper's; dotted grey: nuts-marginal on the paper's cells."""
    columns = on_paper_cells(df)
    colors = method_colors([*PAPER_METHODS, *method_order(df)])
    panels = [(y, ylabel, x) for x in ("N", "T") for y, ylabel in OUTCOMES]
    # Own scales per panel: the paper's abc role error is 0.47, the others' under 0.3, and
    # the paper ran nuts and abc only up to T = 2048.
    fig, axes = plt.subplots(
        len(panels), max(len(columns), 1), figsize=(3.3 * len(columns) + 1, 12),
        squeeze=False, layout="constrained",
    )  # fmt: skip
    for col, (name, (theirs, same)) in enumerate(columns.items()):
        lines = [(m, same[same["method"] == m], colors[m], "-") for m in PAPER_METHODS[name]]
        lines.append((f"paper's {name}", theirs, colors[name], "--"))
        lines.append((REFERENCE, same[same["method"] == REFERENCE], "0.55", ":"))
        lines = [line for line in lines if len(line[1])]
        for row, (y, ylabel, x) in enumerate(panels):
            ax = axes[row, col]
            values = np.sort(theirs[x].unique()).astype(float)
            for i, (label, rows, color, ls) in enumerate(lines):
                label = f"{label} ({len(rows)} runs)"
                _line_with_sem(ax, rows, x, y, color, i, len(lines), True, ls=ls, label=label)
            _grid_ticks(ax, values, log=True)
            ax.grid(alpha=0.3)
            ax.set_ylim(bottom=0)  # after drawing: a limit set first would freeze the scale
            ax.set_xlabel(GRID_AXES[x])
            if col == 0:
                ax.set_ylabel(ylabel)
        n_cells = len(theirs[CELL].drop_duplicates())
        axes[0, col].set_title(f"{name}: {n_cells} cells both ran")
        axes[-1, col].legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), fontsize=8)
    fig.suptitle(
        "Ours beside the paper's own runs of each method, on the cells both ran (finished"
        " runs)\nsolid: ours; dashed: the paper's; dotted grey: nuts-marginal (ours, exact roles)",
        fontsize=11,
    )
    return fig


FIGURES = {
    "fig3_eps_recovery": fig3_eps_recovery,
    "fig4_errors": fig4_errors,
    "fig5_time": fig5_time,
    "fig6_error_analysis": fig6_error_analysis,
}


def figures_for(df: pd.DataFrame) -> dict:
    """The paper's figures that the runs' columns allow (any model's runs: Figures 3-5; the
    error analysis where the trace features are), coverage / SBC ranks when the runs kept
    intervals / are SBC, and the paper comparison for runs of the paper's model."""
    out = dict(FIGURES)
    if not all(feature in df and df[feature].notna().any() for feature, _, _ in FEATURES):
        del out["fig6_error_analysis"]
    if any(df[f"q05_{n}"].notna().any() for n in parameters(df, "q05_{}")):
        out["coverage"] = coverage_figure
    if "truth" in df and (df["truth"] == "prior").any():
        out["sbc_ranks"] = sbc_ranks
    if run_model(df) == default_model() and on_paper_cells(df):
        out["paper_comparison"] = paper_comparison
    return out
