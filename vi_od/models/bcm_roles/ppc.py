"""Posterior predictive checks: does the model fit these data at all?

From a fit's posterior draws (eps from the fit record's `draws`; each agent's role drawn from
its P(leader)), s+ and s- are replicated at every observed interaction (same receivers, same
|d|), and statistics that expose how this model can be wrong are compared with their
replicated distributions, all by estimated role:

- `distance`: s+ and s- rates in bins of |d| (the two sigmoids' shape: thresholds that mix
  within a role, a wrong steepness);
- `time`: s+ and s- rates in windows of equal numbers of interactions (behaviour that changes
  over the log);
- `spread`: the standard deviation of per-agent s+ and s- rates among agents that received
  at least MIN_RECEIVED interactions (agents unlike both roles: a hidden third group).

Estimated roles are part of each statistic, so they are estimated from each data set it is
computed on, the observed one and every replication alike: Bayes' rule at the fit's
posterior mean eps and leader share, P(L) > 1/2. Grouping replications by the roles
estimated from the observed outcomes would compare agents selected for looking like
leaders in the observed data with fresh draws that no longer do; where roles are hard to
tell apart (a shared threshold) that selection alone flagged well-specified logs.

p-values are two-sided, from a normal approximation of each statistic's replicated
distribution (with a continuity correction for rates): every statistic is an average over
many interactions or agents, and a normal fit to a few hundred replications estimates tail
probabilities far below 1 / draws, where a raw count of the replications cannot go (the
empirical p-value is reported beside it). A rate whose replications expect fewer than
MIN_EXPECTED events or non-events is too discrete for that tail and is not tested. The
verdict is Holm's step-down over the tested statistics: it keeps the chance of calling a
well-specified fit a misfit below alpha whatever the dependence between the statistics
(they share interactions), and is uniformly more powerful than Bonferroni. Posterior
predictive p-values are conservative for statistics the parameters fit (the data are used
twice); drift and spread, which no parameter of this model can absorb, keep their power.
"""

from __future__ import annotations

import math
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from vi_od.data.observations import Observations
from vi_od.errors import ViOdError

PLUS_EDGES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 1.0)  # eps+ lies in (0, 1/2)
MINUS_EDGES = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)  # eps- lies in (1/2, 1)
WINDOWS = 5
MIN_RECEIVED = 20  # interactions an agent needs for its rates to enter the spread
MIN_AGENTS = 10  # agents a spread needs
MIN_EXPECTED = 5.0  # expected events and non-events a rate needs to be tested
DRAWS = 200
ALPHA = 0.05
NAMED = 6  # failing statistics the one-line verdict names
ROLES = ("F", "L")
SIGNS = ("s+", "s-")
FAMILIES = ("distance", "time", "spread")


class Draws(NamedTuple):
    """What the check replicates from, and the point estimates that classify roles."""

    eps: np.ndarray  # (S, 4) posterior draws [F+, L+, F-, L-], (S, 5) with rho learned
    p_leader: np.ndarray  # (N,) each agent's P(leader)
    leader_share: float  # estimated share of leaders (pi)


def draws_from_record(record, obs: Observations, most: int = DRAWS) -> Draws:
    """The fit record's draws (at most `most`, evenly thinned), P(leader), leader share.

    The record (vi_od.inference.record.FitRecord) must be a fit of the BCM with roles to
    these data: the same agents, by id where it names them.
    """
    eps = np.asarray(record.draws, np.float32)
    if eps.shape[1] != 4 and tuple(record.param_names)[4:] != ("rho",):
        raise ViOdError(f"the fit is of {eps.shape[1]} parameters, not the BCM's 4 eps (+ rho)")
    outside = eps[:, :4][(eps[:, :4] < 0) | (eps[:, :4] > 1)]
    if outside.size:
        raise ViOdError(f"the fit's eps draws hold {outside[0]:g}, outside [0, 1]")
    if record.p_leader is None:
        raise ViOdError("the fit record has no P(leader) per agent: fit again with vi-od fit --out")
    p_leader = np.asarray(record.p_leader, np.float32)
    if p_leader.shape != (obs.N,):
        raise ViOdError(
            f"the fit is of {p_leader.size} agents but the data have {obs.N}: "
            "not a fit of these data"
        )
    ids = record.agent_ids
    if ids is not None and [str(a) for a in ids] != [str(a) for a in obs.agent_ids]:
        raise ViOdError("the fit's agents are not the data's (other ids): not a fit of these data")
    share = float(record.info.get("leader_proportion", p_leader.mean()))  # marginal methods' pi
    if eps.shape[0] > most:
        eps = eps[np.round(np.linspace(0, eps.shape[0] - 1, most)).astype(int)]
    return Draws(eps, p_leader, share)


class Layout(NamedTuple):
    """The interactions sorted by receiver, their groups, and the role classifier's terms."""

    abs_diff: jax.Array  # (M,)
    receiver: jax.Array  # (M,) sorted
    s_plus: jax.Array  # (M,) observed, float32
    s_minus: jax.Array
    plus_bin: jax.Array  # (M,) |d| bin of the s+ rates
    minus_bin: jax.Array  # (M,) |d| bin of the s- rates
    window: jax.Array  # (M,) time window
    received: jax.Array  # (N,) interactions each agent received (at least 1)
    enough: jax.Array  # (N,) 1 for agents with >= MIN_RECEIVED interactions
    llr_base: jax.Array  # (N,) log prior odds of L + log-likelihood ratio L:F if every s = 0
    llr_plus: jax.Array  # (M,) what s+ = 1 adds to the receiver's log-likelihood ratio
    llr_minus: jax.Array  # (M,) what s- = 1 adds
    rho: jax.Array


def _log_ratios(eps: np.ndarray, d: np.ndarray, rho: float):
    """Per interaction, log p(s | L) - log p(s | F) for s = 0 and the change when s = 1,
    for s+ and s-, at thresholds eps (4,) = [F+, L+, F-, L-]."""
    log_sig = lambda z: -np.logaddexp(0.0, -z)
    plus = [rho * (eps[k] - d) for k in (0, 1)]  # logit of s+ = 1 for F, L
    minus = [-rho * (eps[k] - d) for k in (2, 3)]  # logit of s- = 1
    zero = lambda z: log_sig(-z[1]) - log_sig(-z[0])
    one = lambda z: log_sig(z[1]) - log_sig(z[0])
    return zero(plus) + zero(minus), one(plus) - zero(plus), one(minus) - zero(minus)


def layout(obs: Observations, draws: Draws) -> Layout:
    """Groups of every interaction (rows are in time order, so windows are row ranges)."""
    obs.require_interactions()
    order = np.argsort(obs.receiver, kind="stable")
    receiver = obs.receiver[order]
    d = obs.abs_diff[order].astype(np.float64)
    window = (np.arange(obs.M, dtype=np.int64) * WINDOWS // obs.M)[order]
    in_bin = lambda edges: np.clip(np.searchsorted(edges, d, side="right") - 1, 0, len(edges) - 2)
    mean = draws.eps.mean(axis=0).astype(np.float64)
    rho = mean[4] if mean.size > 4 else obs.rho  # rho learned: its posterior mean
    base, plus, minus = _log_ratios(mean, d, rho)
    share = min(max(draws.leader_share, 1e-6), 1 - 1e-6)
    prior_odds = math.log(share) - math.log1p(-share)
    as_float = lambda a: jnp.asarray(a, jnp.float32)
    as_int = lambda a: jnp.asarray(a, jnp.int32)
    return Layout(
        abs_diff=as_float(d),
        receiver=as_int(receiver),
        s_plus=as_float(obs.s_plus[order]),
        s_minus=as_float(obs.s_minus[order]),
        plus_bin=as_int(in_bin(np.asarray(PLUS_EDGES))),
        minus_bin=as_int(in_bin(np.asarray(MINUS_EDGES))),
        window=as_int(window),
        received=as_float(np.maximum(obs.received(), 1)),
        enough=as_float(obs.received() >= MIN_RECEIVED),
        llr_base=as_float(prior_odds + np.bincount(receiver, base, minlength=obs.N)),
        llr_plus=as_float(plus),
        llr_minus=as_float(minus),
        rho=jnp.float32(rho),
    )


def _summaries(s_plus: jax.Array, s_minus: jax.Array, data: Layout) -> dict:
    """Every statistic of one data set, with its group sizes: {key: (values, sizes)}.

    The observed data and each replication go through this same function, roles included.
    Sums that share their groups share one segment sum (the cost per replication).
    """
    N = data.enough.shape[0]
    seg = jax.ops.segment_sum
    ones = jnp.ones_like(s_plus)
    agent = seg(
        jnp.stack([s_plus * data.llr_plus + s_minus * data.llr_minus, s_plus, s_minus], 1),
        data.receiver, N, indices_are_sorted=True,
    )  # fmt: skip
    leader = (data.llr_base + agent[:, 0] > 0).astype(jnp.int32)  # Bayes' rule: P(L) > 1/2
    role = leader[data.receiver]

    def rates(columns, group, groups):  # per role-major group: each column's rate, the sizes
        sums = seg(jnp.stack([*columns, ones], 1), role * groups + group, 2 * groups)
        n = sums[:, -1]
        return [(sums[:, k] / jnp.where(n > 0, n, jnp.nan), n) for k in range(len(columns))]

    (plus_distance,) = rates([s_plus], data.plus_bin, len(PLUS_EDGES) - 1)
    (minus_distance,) = rates([s_minus], data.minus_bin, len(MINUS_EDGES) - 1)
    plus_time, minus_time = rates([s_plus, s_minus], data.window, WINDOWS)
    out = {"s+ distance": plus_distance, "s- distance": minus_distance,
           "s+ time": plus_time, "s- time": minus_time}  # fmt: skip
    for k, sign in enumerate(SIGNS):
        rate = agent[:, 1 + k] / data.received
        sds, counts = [], []
        for r in range(len(ROLES)):
            inside = data.enough * (leader == r)
            n = inside.sum()
            mean = jnp.sum(inside * rate) / jnp.maximum(n, 1.0)
            var = jnp.sum(inside * (rate - mean) ** 2) / (n - 1.0)
            sds.append(jnp.where(n >= 2, jnp.sqrt(var), jnp.nan))
            counts.append(n)
        out[f"{sign} spread"] = (jnp.stack(sds), jnp.stack(counts))
    return out


@jax.jit
def _observed(data: Layout) -> dict:
    return _summaries(data.s_plus, data.s_minus, data)


@jax.jit
def _replicate(keys: jax.Array, eps: jax.Array, p_leader: jax.Array, data: Layout) -> dict:
    """Per draw: roles ~ Bernoulli(P(leader)), s+ and s- ~ the model at the observed |d|
    (at the draw's own rho when rho is learned)."""

    def one(inputs):
        key, e = inputs
        k_roles, k_plus, k_minus = jax.random.split(key, 3)
        leader = jax.random.bernoulli(k_roles, p_leader)[data.receiver]
        eps_plus = jnp.where(leader, e[1], e[0])
        eps_minus = jnp.where(leader, e[3], e[2])
        rho = e[4] if e.shape[0] > 4 else data.rho
        p_plus = jax.nn.sigmoid(rho * (eps_plus - data.abs_diff))
        p_minus = jax.nn.sigmoid(-rho * (eps_minus - data.abs_diff))
        s_plus = (jax.random.uniform(k_plus, p_plus.shape) < p_plus).astype(jnp.float32)
        s_minus = (jax.random.uniform(k_minus, p_minus.shape) < p_minus).astype(jnp.float32)
        return _summaries(s_plus, s_minus, data)

    return jax.lax.map(one, (keys, eps))


class Statistic(NamedTuple):
    """One statistic: what it measures, its observed value and its replications."""

    name: str  # short, e.g. "s+ F |d| 0.2-0.3", "s- L time 3/5", "s+ F agent sd"
    family: str  # distance | time | spread
    sign: str  # s+ | s-
    role: str  # F | L (estimated)
    n: int  # observed interactions (distance, time) or agents (spread) behind it
    observed: float
    replicated: np.ndarray  # (S',) the replications where the group is not empty
    tested: bool  # enough information for a tail probability (see MIN_EXPECTED, MIN_AGENTS)


def _where(family: str, sign: str, index: int) -> str:
    """The group's place: a |d| bin, a time window (or the agents, for a spread)."""
    if family == "distance":
        edges = PLUS_EDGES if sign == "s+" else MINUS_EDGES
        return f"|d| {edges[index]:g}-{edges[index + 1]:g}"
    if family == "time":
        return f"time {index + 1}/{WINDOWS}"
    return "agent sd"


def statistics(observed: dict, replicated: dict) -> list[Statistic]:
    """The statistics of every family from the summaries of the data and the replications."""
    keys = [f"{sign} {family}" for family in FAMILIES for sign in SIGNS]
    return [s for key in keys for s in _family(key, observed[key], replicated[key][0])]


def _family(key: str, observed: tuple, replicated: np.ndarray) -> list[Statistic]:
    """One family's statistics of one sign, both roles; groups empty in the data are left out."""
    sign, family = key.split()
    values, sizes = (np.asarray(a, np.float64) for a in observed)
    per_role = values.size // len(ROLES)
    out = []
    for g in range(values.size):
        if not np.isfinite(values[g]):
            continue
        role, index = ROLES[g // per_role], g % per_role
        rep = np.asarray(replicated[:, g], np.float64)
        rep = rep[np.isfinite(rep)]
        n = int(sizes[g])
        if family == "spread":
            tested = n >= MIN_AGENTS and rep.size >= 2
        else:
            events = rep.mean() * n if rep.size else 0.0
            tested = rep.size >= 2 and min(events, n - events) >= MIN_EXPECTED
        name = f"{sign} {role} {_where(family, sign, index)}"
        out.append(Statistic(name, family, sign, role, n, float(values[g]), rep, bool(tested)))
    return out


def p_value(observed: float, replicated: np.ndarray, correction: float = 0.0) -> float:
    """Two-sided p-value from a normal fit to the replications; `correction` is subtracted
    from the distance (continuity: half an event, in the statistic's units)."""
    mean, sd = replicated.mean(), replicated.std(ddof=1)
    gap = max(abs(observed - mean) - correction, 0.0)
    if sd == 0:
        return 1.0 if gap == 0 else 0.0
    return math.erfc(gap / sd / math.sqrt(2))


def p_empirical(observed: float, replicated: np.ndarray) -> float:
    """Two-sided p-value counted from the replications (it cannot go below 2 / (S + 1))."""
    above = 1 + np.sum(replicated >= observed)
    below = 1 + np.sum(replicated <= observed)
    return float(min(1.0, 2 * min(above, below) / (replicated.size + 1)))


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values: reject where adjusted < alpha (FWER <= alpha)."""
    p = np.asarray(p_values, np.float64)
    order = np.argsort(p, kind="stable")
    scaled = (p.size - np.arange(p.size)) * p[order]
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return adjusted


class Check(NamedTuple):
    """A check's verdict, its statistics (with p-values) and the replications behind them."""

    misfit: bool
    alpha: float
    draws: int
    statistics: list[Statistic]
    p_values: np.ndarray  # per statistic, NaN where not tested
    p_holm: np.ndarray
    wall_time_s: float

    @property
    def failing(self) -> list[Statistic]:
        return [s for s, p in zip(self.statistics, self.p_holm) if p < self.alpha]

    def records(self) -> list[dict]:
        """JSON-ready rows, one per statistic."""
        rows = []
        number = lambda x: None if np.isnan(x) else float(x)
        for s, p, adjusted in zip(self.statistics, self.p_values, self.p_holm):
            rep = s.replicated
            spread = rep.size >= 2  # replications where the group was not empty
            rows.append({
                "name": s.name, "family": s.family, "sign": s.sign, "role": s.role, "n": s.n,
                "observed": s.observed, "replications": int(rep.size),
                "replicated_mean": float(rep.mean()) if spread else None,
                "replicated_sd": float(rep.std(ddof=1)) if spread else None,
                "replicated_q05": float(np.quantile(rep, 0.05)) if spread else None,
                "replicated_q95": float(np.quantile(rep, 0.95)) if spread else None,
                "tested": s.tested, "p_value": number(p),
                "p_empirical": p_empirical(s.observed, rep) if spread else None,
                "p_holm": number(adjusted), "fails": bool(adjusted < self.alpha),
            })  # fmt: skip
        return rows

    def summary_line(self) -> str:
        """One line: which statistics fail, or that none does."""
        ranked = sorted(
            ((p, s) for p, s in zip(self.p_values, self.statistics) if not np.isnan(p)),
            key=lambda t: t[0],
        )
        head = f"of {len(ranked)} tested statistics (Holm, alpha {self.alpha:g})"
        if self.misfit:  # Holm rejects the smallest p-values first
            named = [f"{s.name} (p {p:.1e})" for p, s in ranked[: len(self.failing)]]
            more = len(named) - NAMED
            text = ", ".join(named[:NAMED]) + (f" and {more} more" if more > 0 else "")
            return f"MISFIT: {len(self.failing)} {head} fail: {text}"
        if not ranked:
            return "no misfit found: no statistic had enough data to be tested"
        p, s = ranked[0]
        return f"no misfit: none {head} fails; smallest p {p:.2g} ({s.name})"


def check(obs: Observations, draws: Draws, seed: int = 0, alpha: float = ALPHA) -> Check:
    """Replicate the data from the posterior draws and test every statistic (module doc)."""
    if draws.p_leader.shape != (obs.N,):
        raise ViOdError(f"the fit is of {draws.p_leader.size} agents but the data have {obs.N}")
    start = time.perf_counter()
    data = layout(obs, draws)
    keys = jax.random.split(jax.random.PRNGKey(seed), draws.eps.shape[0])
    replicated = jax.device_get(
        _replicate(keys, jnp.asarray(draws.eps), jnp.asarray(draws.p_leader), data)
    )
    stats = statistics(jax.device_get(_observed(data)), replicated)
    return verdict(stats, alpha, int(draws.eps.shape[0]), start)


def verdict(stats: list[Statistic], alpha: float, draws: int, start: float) -> Check:
    """Each tested statistic's p-value, Holm's adjustment over them, and the misfit call."""
    p = np.array([
        p_value(s.observed, s.replicated, 0.5 / s.n if s.family != "spread" else 0.0)
        if s.tested else np.nan
        for s in stats
    ])  # fmt: skip
    adjusted = np.full(p.shape, np.nan)
    tested = ~np.isnan(p)
    adjusted[tested] = holm(p[tested])
    misfit = bool(np.any(adjusted[tested] < alpha))
    return Check(misfit, alpha, draws, stats, p, adjusted, time.perf_counter() - start)


def to_json(result: Check, **context) -> dict:
    """The check's JSON: misfit, the failing names, every statistic; `context` goes first."""
    return {
        **context,
        "misfit": result.misfit,
        "failing": [s.name for s in result.failing],
        "alpha": result.alpha,
        "correction": "holm",
        "draws": result.draws,
        "tested": int(np.sum(~np.isnan(result.p_values))),
        "wall_time_s": result.wall_time_s,
        "statistics": result.records(),
    }


def figure(result: Check):
    """Each tested statistic's replicated distribution (histogram) and its observed value."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    shown = [(s, p, a) for s, p, a in zip(result.statistics, result.p_values, result.p_holm)
             if s.tested]  # fmt: skip
    cols = 6
    rows = max(1, -(-len(shown) // cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(2.3 * cols, 1.75 * rows + 0.9), squeeze=False, layout="constrained"
    )
    for ax in axes.flat[len(shown) :]:
        ax.set_axis_off()
    for ax, (s, p, adjusted) in zip(axes.flat, shown):
        fails = adjusted < result.alpha
        ax.hist(s.replicated, bins=20, color="0.65")
        ax.axvline(s.observed, color="tab:red" if fails else "black", lw=2)
        ax.set_title(f"{s.name}\np = {p:.2g}", fontsize=7.5, color="tab:red" if fails else "black")
        ax.tick_params(labelsize=6)
        ax.xaxis.set_major_locator(MaxNLocator(3))
        ax.set_yticks([])
    verdict = "MISFIT" if result.misfit else "no misfit"
    fig.suptitle(
        f"Posterior predictive check: {verdict} ({len(result.failing)} of {len(shown)} fail, "
        f"Holm alpha {result.alpha:g}); grey: {result.draws} replications, line: observed",
        fontsize=10,
    )
    return fig
