"""Rejection ABC, the paper's simulation-based baseline (DESIGN section 3), made fast.

Every simulation draws (eps, roles) from the prior (theta ~ N(0, 1) through eps_from_theta,
roles Bernoulli(1/2) per agent), replays the observed X0 and pairs (u, v) with the
count-only simulator, and is summarised by the per-step numbers of positive and of
negative interactions. Candidates closer than threshold_factor * sqrt(T) (L2) are kept.
Simulations run in vmapped chunks; each has its own key from split(key, simulations), so
the result does not depend on the chunk size.

An event log has no dense X0 or steps of E pairs: it is replayed (`replay`), one step per
distinct time padded to the busiest, from each agent's first known opinion, with mu from
the data or the config. On a log written from a trace this is the trace's own simulation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from vi_od.data.observations import Observations
from vi_od.errors import ViOdError
from vi_od.inference import Method
from vi_od.inference import require_setting as _require
from vi_od.inference.loop import run_chunked
from vi_od.inference.posterior import Posterior, align_draws, make_posterior
from vi_od.models.bcm_roles import eps_from_theta
from vi_od.models.bcm_roles.simulate import (
    Dynamics,
    dynamics_from_eps,
    interact,
    simulate_counts,
)
from vi_od.progress import task


@dataclass(frozen=True)
class Settings:
    """conf/method/abc.yaml: the paper's published runs used 15000 simulations."""

    simulations: int = 15000
    threshold_factor: float = 5.0
    min_accepted: int = 100
    chunk_size: int = 1000
    align_labels: bool = True

    def validate(self) -> Settings:
        """Raise ViOdError naming the first bad key and what it may be."""
        _require(self.simulations >= 1, "simulations", self.simulations, "an integer >= 1")
        _require(self.threshold_factor > 0, "threshold_factor", self.threshold_factor, "> 0")
        _require(
            1 <= self.min_accepted <= self.simulations,
            "min_accepted",
            self.min_accepted,
            f"between 1 and method.simulations = {self.simulations}",
        )
        _require(self.chunk_size >= 1, "chunk_size", self.chunk_size, "an integer >= 1")
        _require(
            isinstance(self.align_labels, bool), "align_labels", self.align_labels, "true or false"
        )
        return self


class Observed(NamedTuple):
    """What every simulation is conditioned on and compared with."""

    X0: jax.Array  # (N,)
    u: jax.Array  # (T-1, E)
    v: jax.Array  # (T-1, E)
    mu_plus: jax.Array  # (2,) [F, L]
    mu_minus: jax.Array  # (2,)
    rho: jax.Array  # ()
    summary: jax.Array  # (T-1, 2) numbers of positive and negative interactions per step
    mask: jax.Array | None = None  # (T-1, E) real interactions of a replayed event log


# A replay pads every step to the largest; past this many cells per interaction (and this
# many in all) the padding, not the data, would set ABC's cost: refuse instead.
MAX_PADDING = 4
MAX_PADDED_CELLS = 1_000_000
OTHER_METHODS = "nuts-marginal, svi-marginal, svi-normal, svi-nf or nuts"


def observe(obs: Observations) -> Observed:
    """The observations as ABC sees them: a dense trace's X0 and steps, or a replayed log."""
    trace = obs.trace
    if trace is None:
        return replay(obs)
    summary = np.stack([trace.s_plus.sum(axis=1), trace.s_minus.sum(axis=1)], axis=1)
    return Observed(
        X0=jnp.asarray(trace.X[0], jnp.float32),
        u=jnp.asarray(trace.u, jnp.int32),
        v=jnp.asarray(trace.v, jnp.int32),
        mu_plus=jnp.asarray(trace.mu_plus, jnp.float32),
        mu_minus=jnp.asarray(trace.mu_minus, jnp.float32),
        rho=jnp.asarray(trace.rho, jnp.float32),
        summary=jnp.asarray(summary, jnp.int32),
    )


def replay(obs: Observations) -> Observed:
    """An event log as ABC re-simulates it: one step per distinct time, from first opinions.

    Step t holds the interactions at time index t, padded to the largest step with
    self-pairs of agent 0 (|d| = 0 moves no opinion) that the mask leaves out of the
    counts. Each agent starts from the opinion it shows at its first interaction: in the
    model only receivers move, so until then it held that opinion, if the log is complete.
    mu comes from the data or, for a log without it, from the config (simulator.mu_*).
    """
    obs.require_interactions()
    if obs.mu_plus is None or obs.mu_minus is None:
        raise ViOdError(f"abc replays the dynamics and needs mu; fit with {OTHER_METHODS}")
    steps = int(obs.time[-1]) + 1  # time is a dense rank, rows in time order
    counts = np.bincount(obs.time, minlength=steps)
    width = int(counts.max())
    if steps * width > max(MAX_PADDING * obs.M, MAX_PADDED_CELLS):
        raise ViOdError(
            f"abc would replay this log as {steps} steps padded to its busiest time "
            f"({width} interactions): {steps * width} cells for {obs.M} interactions; "
            f"fit it with {OTHER_METHODS}"
        )
    slot = np.arange(obs.M) - np.repeat(np.cumsum(counts) - counts, counts)
    u, v = np.zeros((steps, width), np.int32), np.zeros((steps, width), np.int32)
    mask = np.zeros((steps, width), bool)
    u[obs.time, slot], v[obs.time, slot], mask[obs.time, slot] = obs.sender, obs.receiver, True
    plus = np.bincount(obs.time, weights=obs.s_plus, minlength=steps)
    minus = np.bincount(obs.time, weights=obs.s_minus, minlength=steps)
    return Observed(
        X0=jnp.asarray(first_opinions(obs), jnp.float32),
        u=jnp.asarray(u),
        v=jnp.asarray(v),
        mu_plus=jnp.asarray(obs.mu_plus, jnp.float32),
        mu_minus=jnp.asarray(obs.mu_minus, jnp.float32),
        rho=jnp.asarray(obs.rho, jnp.float32),
        summary=jnp.asarray(np.stack([plus, minus], axis=1), jnp.int32),
        mask=jnp.asarray(mask),
    )


def first_opinions(obs: Observations) -> np.ndarray:
    """(N,) each agent's opinion at its first interaction (0.5 for agents that have none)."""
    rows = np.arange(obs.M)
    first_sent, first_received = np.full(obs.N, obs.M), np.full(obs.N, obs.M)
    np.minimum.at(first_sent, obs.sender, rows)
    np.minimum.at(first_received, obs.receiver, rows)
    sent = np.append(obs.sender_opinion, 0.5)[first_sent]  # row M: never seen
    received = np.append(obs.receiver_opinion, 0.5)[first_received]
    return np.where(first_sent <= first_received, sent, received)


@jax.jit
def replay_counts(key, X0, u, v, mask, roles, dyn: Dynamics):
    """simulate_counts over padded steps: the masked-out padding is not counted.

    Same keys and the same `interact` as the dense simulator, so a log that needs no
    padding replays a trace's own simulations exactly.
    """
    keys = jax.random.split(key, u.shape[0])

    def step(X, inputs):
        k, u_t, v_t, m_t = inputs
        X_next, s_plus, s_minus = interact(k, X, u_t, v_t, roles, dyn)
        return X_next, ((s_plus & m_t).sum(dtype=jnp.int32), (s_minus & m_t).sum(dtype=jnp.int32))

    return jax.lax.scan(step, X0, (keys, u, v, mask))[1]


def prior_draw(key, N: int):
    """(eps (4,), roles (N,) int32, outcome key) of one simulation, from its own key."""
    k_theta, k_roles, k_out = jax.random.split(key, 3)
    eps = eps_from_theta(jax.random.normal(k_theta, (4,)))
    roles = jax.random.bernoulli(k_roles, 0.5, (N,)).astype(jnp.int32)
    return eps, roles, k_out


def distance(eps, roles, out_key, obs: Observed) -> jax.Array:
    """L2 distance between the summaries of one simulation and of the observed trace."""
    dyn = dynamics_from_eps(eps, obs.mu_plus, obs.mu_minus, obs.rho)
    if obs.mask is None:
        s_plus, s_minus = simulate_counts(out_key, obs.X0, obs.u, obs.v, roles, dyn)
    else:
        s_plus, s_minus = replay_counts(out_key, obs.X0, obs.u, obs.v, obs.mask, roles, dyn)
    diff = jnp.stack([s_plus, s_minus], axis=1) - obs.summary  # integers: exact 0 if equal
    return jnp.sqrt(jnp.sum(diff * diff).astype(jnp.float32))


distances = jax.jit(jax.vmap(distance, in_axes=(0, 0, 0, None)))


@jax.jit
def simulate_chunk(keys, obs: Observed):
    """Prior draws and their distances for a batch of simulation keys."""
    eps, roles, out_keys = jax.vmap(prior_draw, in_axes=(0, None))(keys, obs.X0.shape[0])
    return eps, roles.astype(jnp.int8), distances(eps, roles, out_keys, obs)


def run_simulations(keys, obs: Observed, chunk_size: int, threshold: float, advance):
    """All simulations in chunks of chunk_size (the last one padded, so one compile)."""
    total = keys.shape[0]
    size = min(chunk_size, total)
    accepted = 0

    def run(state, start: int, n: int):
        chunk = keys[start : start + n]
        if n < size:
            chunk = jnp.concatenate([chunk, jnp.repeat(chunk[:1], size - n, axis=0)])
        return state, tuple(x[:n] for x in jax.device_get(simulate_chunk(chunk, obs)))

    def count_accepted(start: int, n: int, part) -> dict:
        nonlocal accepted
        accepted += int((part[2] < threshold).sum())
        return {"accepted": accepted}

    _, parts = run_chunked(run, None, total, size, advance, count_accepted)
    eps, roles, dist = (np.concatenate(x) for x in zip(*parts))
    return eps, roles, dist


def select(dist: np.ndarray, threshold: float, min_accepted: int) -> tuple[np.ndarray, bool]:
    """Indices of the accepted (distance < threshold), or of the min_accepted closest."""
    accepted = np.flatnonzero(dist < threshold)
    if accepted.size >= min_accepted:
        return accepted, False
    return np.sort(np.argsort(dist, kind="stable")[:min_accepted]), True


def fit(obs: Observations, settings: Settings, key) -> Posterior:
    """Rejection ABC; estimates: mean eps and mean role of the kept simulations."""
    observed = observe(obs)
    keys = jax.random.split(key, settings.simulations)
    threshold = settings.threshold_factor * float(np.sqrt(observed.summary.shape[0] + 1))
    with task("ABC", total=settings.simulations, unit="simulations") as advance:
        eps, roles, dist = run_simulations(keys, observed, settings.chunk_size, threshold, advance)
    keep, kept_closest = select(dist, threshold, settings.min_accepted)
    accepted = int((dist < threshold).sum())
    info = {
        "simulations": settings.simulations,
        "accepted": accepted,
        "acceptance_rate": accepted / settings.simulations,
        "threshold": threshold,
        "threshold_used": float(dist[keep].max()) if kept_closest else threshold,
        "kept_closest": kept_closest,
        "kept": int(keep.size),
        "min_distance": float(dist.min()),
    }
    eps, roles = eps[keep], roles[keep]
    if settings.align_labels:
        eps, roles = align_draws(eps, roles)
    p = roles.astype(np.float64)
    draws = {"eps": eps[None], "roles": roles[None]}  # one "chain" of kept draws
    return make_posterior("abc", eps, p.mean(axis=0), p.std(axis=0), info=info, draws=draws)


METHODS = {"abc": Method("abc", fit, Settings)}
