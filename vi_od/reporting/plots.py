"""Plots of one trace or one fit: pure functions returning a matplotlib Figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from vi_od.data.observations import Observations  # noqa: E402
from vi_od.data.trace import Trace  # noqa: E402

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


def fit(posterior, obs: Observations) -> Figure:
    """A fit at a glance: each eps posterior against the truth, and P(leader) per agent sorted.

    Agents are coloured by their true role when the data carry it (or `--truth` gave it).
    """
    fig = plt.figure(figsize=(12, 4.8), constrained_layout=True)
    grid = fig.add_gridspec(2, 4)
    for i in range(4):
        _eps_posterior(fig.add_subplot(grid[i // 2, i % 2]), posterior, obs, i)
    _p_leader_sorted(fig.add_subplot(grid[:, 2:]), posterior, obs)
    size = f"T={obs.trace.T}" if obs.trace is not None else f"{obs.M} interactions"
    fig.suptitle(f"{posterior.method}: N={obs.N}, {size}", fontsize=11)
    return fig


EPS_LABELS = ("eps+ follower", "eps+ leader", "eps- follower", "eps- leader")


def _eps_posterior(ax, posterior, obs: Observations, i: int) -> None:
    """Histogram of one eps's samples, its 90% interval shaded, the truth dashed."""
    samples = posterior.samples[:, i]
    color = ROLE_COLORS[i % 2]
    ax.hist(samples, bins=30, density=True, alpha=0.6, color=color)
    ax.axvspan(*np.quantile(samples, [0.05, 0.95]), color=color, alpha=0.12, lw=0)
    if obs.eps is not None:
        ax.axvline(obs.eps[i], color="black", ls="--", lw=1.2, label="truth")
        ax.legend(fontsize=7, loc="upper right", handlelength=1.5)
    ax.set_title(f"{EPS_LABELS[i]}: {samples.mean():.3f} ± {samples.std():.3f}", fontsize=9)
    ax.tick_params(labelsize=7)
    ax.set_yticks([])


def _p_leader_sorted(ax, posterior, obs: Observations) -> None:
    """P(leader) of every agent in increasing order, with the 0.5 decision line."""
    order = np.argsort(posterior.p_leader)
    p = posterior.p_leader[order]
    x = np.arange(p.size)
    if obs.roles is None:
        ax.scatter(x, p, s=10, color="tab:gray")
    else:
        roles = obs.roles[order]
        for role, name in ((0, "followers"), (1, "leaders")):
            mine = roles == role
            ax.scatter(x[mine], p[mine], s=10, color=ROLE_COLORS[role], label=f"true {name}")
        ax.legend(fontsize=8, loc="upper left")
    ax.axhline(0.5, color="grey", lw=0.5, ls="--")
    ax.set(ylim=(-0.03, 1.03), xlabel="agents, sorted by P(leader)", ylabel="P(leader)")
    ax.set_title(f"{int(posterior.roles.sum())} leaders found", fontsize=10)
