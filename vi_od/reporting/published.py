"""Any model's runs beside its published runs (`Model.published`), on the cells both ran.

A cell is (N, T); a method is compared with the published runs of the same name (the model's
`published` already maps the authors' names to ours). Metrics: rmse_eps (the model's scored
parameters) and, per global discrete latent, the share of runs that got it right.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from vi_od.models import Model, get_model  # noqa: E402

CELL = ["N", "T"]


def models_in(runs: pd.DataFrame) -> list[str]:
    """The models of a run table other than the paper's (rows without a model are its)."""
    if "model" not in runs:
        return []
    return sorted({str(m) for m in runs["model"].dropna()} - {"bcm-roles"})


def _right_columns(model: Model) -> list[str]:
    """The latents' columns: each global discrete one's share right, the role error per agent."""
    per_agent = ["role_error_rate"] if model.has_agents else []
    return [f"{name}_right" for name in model.discrete_names] + per_agent


def _summary(rows: pd.DataFrame, model: Model) -> dict:
    ok = rows[rows["status"] == "ok"]
    out = {"runs": len(ok)}
    rmse = ok["rmse_eps"].astype(float)
    out["rmse_eps"] = rmse.mean()
    out["rmse_se"] = rmse.std(ddof=1) / np.sqrt(len(rmse)) if len(rmse) > 1 else np.nan
    for column in _right_columns(model):
        out[column] = ok[column].astype(float).mean() if column in ok else np.nan
    out["median_wall_s"] = ok["wall_time_s"].median()
    return out


def best_per_cell(published: pd.DataFrame, cells: pd.DataFrame, model: Model) -> dict:
    """The published methods' best mean per cell (lowest eps RMSE, highest share right),
    averaged over `cells`: the bar a method must meet on every cell at once."""
    rows = published[published["status"] == "ok"].merge(cells, on=CELL)
    if not len(rows):
        return {}
    metrics = ["rmse_eps", *(c for c in _right_columns(model) if c in rows)]
    means = rows.groupby([*CELL, "method"])[metrics].mean(numeric_only=False).astype(float)
    lowest = ("rmse_eps", "role_error_rate")  # errors: the best is the lowest
    best = means.groupby(level=CELL).agg({m: "min" if m in lowest else "max" for m in metrics})
    return {f"best_published_{m}": best[m].mean() for m in metrics}


def comparison(runs: pd.DataFrame, model_name: str) -> pd.DataFrame:
    """Per method: ours and the published runs on the cells both ran, the time ratio, and
    the published methods' best per-cell means on the cells ours ran."""
    model = get_model(model_name)
    ours = runs[runs["model"] == model_name]
    theirs = model.published() if model.published is not None else None
    rows = {}
    for method, mine in ours.groupby("method"):
        row = _summary(mine, model)
        if theirs is not None:
            cells = mine[CELL].drop_duplicates()
            same = theirs[theirs["method"] == method].merge(cells, on=CELL)
            if len(same):
                row |= {f"published_{k}": v for k, v in _summary(same, model).items()}
                row["time_ratio"] = row["published_median_wall_s"] / row["median_wall_s"]
            row |= best_per_cell(theirs, cells, model)
        rows[method] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def to_markdown(table: pd.DataFrame, model_name: str) -> str:
    """The comparison as a Markdown table: ours vs published per method."""
    model = get_model(model_name)
    rights = _right_columns(model)
    header = ["method", "runs", "eps RMSE (± s.e.)", *(f"{c}" for c in rights), "median s",
              "published runs", "published eps RMSE", *(f"published {c}" for c in rights),
              "published median s", "faster", "published best per cell: eps RMSE",
              *(f"best {c}" for c in rights)]  # fmt: skip
    fmt = lambda x, f: "-" if x is None or (isinstance(x, float) and np.isnan(x)) else f.format(x)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method, r in table.iterrows():
        get = lambda k, r=r: r.get(k, np.nan)
        cells = [method, fmt(get("runs"), "{:.0f}"),
                 f"{fmt(get('rmse_eps'), '{:.4f}')} ± {fmt(get('rmse_se'), '{:.4f}')}",
                 *(fmt(get(c), "{:.3f}") for c in rights), fmt(get("median_wall_s"), "{:.1f}"),
                 fmt(get("published_runs"), "{:.0f}"), fmt(get("published_rmse_eps"), "{:.4f}"),
                 *(fmt(get(f"published_{c}"), "{:.3f}") for c in rights),
                 fmt(get("published_median_wall_s"), "{:.0f}"), fmt(get("time_ratio"), "{:.0f}x"),
                 fmt(get("best_published_rmse_eps"), "{:.4f}"),
                 *(fmt(get(f"best_published_{c}"), "{:.3f}") for c in rights)]
        lines.append("| " + " | ".join(cells) + " |")  # fmt: skip
    return "\n".join(lines) + "\n"


def figure(runs: pd.DataFrame, model_name: str) -> Figure:
    """eps RMSE (and each latent's share right) against T: each of our methods solid, each
    published method dashed, both on the cells ours ran (means over N and reps)."""
    model = get_model(model_name)
    ours = runs[(runs["model"] == model_name) & (runs["status"] == "ok")]
    theirs = model.published().merge(ours[CELL].drop_duplicates(), on=CELL)
    metrics = ["rmse_eps", *_right_columns(model)]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 4.0), squeeze=False)
    colors = plt.get_cmap("tab10")
    methods = sorted(set(ours["method"]) | set(theirs["method"]))
    for ax, metric in zip(axes[0], metrics):
        for i, method in enumerate(methods):
            for rows, style, who in ((ours, "-o", "vi-od"), (theirs, "--s", "journal")):
                rows = rows[rows["method"] == method]
                if len(rows) and metric in rows:
                    means = rows.groupby("T")[metric].apply(lambda c: c.astype(float).mean())
                    ax.plot(means.index, means.values, style, color=colors(i % 10),
                            label=f"{method} ({who})", alpha=0.9 if who == "vi-od" else 0.6)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("T")
        ax.set_ylabel(metric)
        if metric == "rmse_eps":
            ax.set_yscale("log")
    axes[0, 0].legend(fontsize=7, ncol=2)
    fig.suptitle(f"{model_name}: vi-od (solid) beside the journal's runs (dashed), same N x T "
                 f"cells; {len(ours)} and {len(theirs)} runs", fontsize=10)  # fmt: skip
    fig.tight_layout()
    return fig
