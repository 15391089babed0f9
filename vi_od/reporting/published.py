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
    return [f"{name}_right" for name in model.discrete_names]


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
    best = means.groupby(level=CELL).agg({m: "min" if m == "rmse_eps" else "max" for m in metrics})
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
    """Per published method: eps RMSE (and each latent's share right) against T, ours solid,
    the published runs dashed, on the cells both ran; the exact method dotted in every panel."""
    model = get_model(model_name)
    ours = runs[(runs["model"] == model_name) & (runs["status"] == "ok")]
    theirs = model.published()
    methods = [m for m in sorted(theirs["method"].unique()) if m in set(ours["method"])]
    metrics = ["rmse_eps", *_right_columns(model)]
    fig, axes = plt.subplots(len(metrics), max(len(methods), 1), squeeze=False,
                             figsize=(3.2 * max(len(methods), 1), 2.6 * len(metrics)))  # fmt: skip
    exact = ours[ours["method"] == "nuts-marginal"]
    for col, method in enumerate(methods):
        mine = ours[ours["method"] == method]
        same = theirs[theirs["method"] == method].merge(mine[CELL].drop_duplicates(), on=CELL)
        for row, metric in enumerate(metrics):
            ax = axes[row, col]
            for rows, style, label in ((mine, "-o", "vi-od"), (same, "--s", "journal"),
                                       (exact, ":", "vi-od nuts-marginal")):  # fmt: skip
                if len(rows) and metric in rows:
                    means = rows.groupby("T")[metric].apply(lambda s: s.astype(float).mean())
                    ax.plot(means.index, means.values, style, label=label,
                            color="grey" if label.endswith("marginal") else None)  # fmt: skip
            ax.set_xscale("log", base=2)
            ax.set_xlabel("T")
            ax.set_title(f"{method}: {metric}", fontsize=9)
            if col == 0 and row == 0:
                ax.legend(fontsize=7)
    fig.suptitle(f"{model_name}: vi-od beside the journal's runs (same N x T cells)", fontsize=10)
    fig.tight_layout()
    return fig
