"""Plots of one trace or one fit: pure functions returning a matplotlib Figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from vi_od.trace import Trace  # noqa: E402

ROLE_COLORS = {0: "tab:blue", 1: "tab:red"}


def trajectories(trace: Trace, max_agents: int = 400) -> Figure:
    """Opinion of every agent over time, leaders in red and followers in blue."""
    fig, ax = plt.subplots(figsize=(8, 4.5), constrained_layout=True)
    roles = trace.roles if trace.roles is not None else np.zeros(trace.N, int)
    order = np.argsort(roles)  # leaders drawn last, on top
    for a in order[-max_agents:]:
        is_leader = roles[a] == 1
        ax.plot(
            trace.X[:, a],
            color=ROLE_COLORS[int(is_leader)],
            lw=1.2 if is_leader else 0.5,
            alpha=0.9 if is_leader else 0.35,
        )
    ax.set(xlabel="time step", ylabel="opinion x", ylim=(0, 1), xlim=(0, trace.T - 1))
    title = f"N={trace.N}, T={trace.T}"
    if trace.eps is not None:
        title += "  eps=[" + ", ".join(f"{e:.2f}" for e in trace.eps) + "] (F+, L+, F-, L-)"
    ax.set_title(title, fontsize=10)
    if trace.roles is not None:
        handles = [
            Line2D([], [], color=ROLE_COLORS[0], label=f"followers ({int((roles == 0).sum())})"),
            Line2D([], [], color=ROLE_COLORS[1], label=f"leaders ({int(roles.sum())})"),
        ]
        ax.legend(handles=handles, loc="upper right", fontsize=9)
    return fig
