"""The BCM with roles run forward over what was observed: what abc and abc-smc re-simulate.

A dense trace is replayed from its X0 with its own pairs (u, v); an event log has no dense
X0 or steps of E pairs, so it is replayed (`replay`), one step per distinct time padded to
the busiest, from each agent's first known opinion, with mu from the data or the config.
On a log written from a trace this is the trace's own simulation. A simulation is
summarised by its per-step numbers of positive and of negative interactions.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from vi_od.data.observations import Observations
from vi_od.errors import ViOdError
from vi_od.models.bcm_roles.simulate import (
    Dynamics,
    dynamics_from_eps,
    interact,
    simulate_counts,
)


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


def deterministic_counts(X0, u, v, roles, dyn: Dynamics, mask=None):
    """Per-step positive and negative counts under the paper's ABC rules, no randomness.

    s+ = [|d| < eps+_r], s- = [|d| >= eps-_r] for receiver v of role r; the opinion update
    is the PGABM's (all E interactions of a step read the opinions at its start). `mask`
    (a replayed event log's padding, `replay`) leaves slots out.
    """
    mask = jnp.ones(u.shape, bool) if mask is None else mask

    def step(X, inputs):
        u_t, v_t, m_t = inputs
        d = X[u_t] - X[v_t]
        r = roles[v_t]
        s_plus = (jnp.abs(d) < dyn.eps_plus[r]) & m_t
        s_minus = (jnp.abs(d) >= dyn.eps_minus[r]) & m_t
        delta = (dyn.mu_plus[r] * s_plus - dyn.mu_minus[r] * s_minus) * d
        X_next = jnp.clip(X.at[v_t].add(delta), 0.0, 1.0)
        return X_next, (s_plus.sum(dtype=jnp.int32), s_minus.sum(dtype=jnp.int32))

    return jax.lax.scan(step, X0, (u, v, mask))[1]


def _dynamics(eps, obs: Observed) -> Dynamics:
    return dynamics_from_eps(eps, obs.mu_plus, obs.mu_minus, obs.rho)


def counts(key, eps, roles, obs: Observed):
    """Per-step (s+, s-) counts of one stochastic simulation (the PGABM's sigmoids)."""
    dyn = _dynamics(eps, obs)
    if obs.mask is None:
        return simulate_counts(key, obs.X0, obs.u, obs.v, roles, dyn)
    return replay_counts(key, obs.X0, obs.u, obs.v, obs.mask, roles, dyn)


def rule_counts(eps, roles, obs: Observed):
    """Per-step (s+, s-) counts under the paper's ABC rules (no randomness)."""
    return deterministic_counts(obs.X0, obs.u, obs.v, roles, _dynamics(eps, obs), obs.mask)


def binary(obs: Observed) -> int:
    """A simulation draws one binary latent per agent: its role."""
    return obs.X0.shape[0]
