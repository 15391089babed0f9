"""Traces this model cannot describe, to show that `vi-od check` notices (docs/checks.md).

Two realistic ways the two-role model is wrong, on top of the grid simulator's dynamics
(same roles, X0, pairs and outcome keys for a seed, SimulatorSettings unchanged):

- drift: the followers' eps+ moves linearly by `drift` over the log (behaviour that changes
  with time; the fit can only report its average);
- a third group: a share of the followers gets thresholds unlike both roles' (a hidden group
  that the fit must force into one of the two roles).

The trace's truth (`roles`, `eps`) is the two-role part: third-group agents are marked
followers, eps is the followers' starting thresholds; `meta["misspecified"]` says the rest.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from vi_od import __version__
from vi_od.data.trace import Trace
from vi_od.errors import ViOdError
from vi_od.models.bcm_roles import EPS_MINUS_GRID, EPS_PLUS_GRID
from vi_od.models.bcm_roles.simulate import (
    SimulatorSettings,
    draw_eps_from_grid,
    draw_pairs,
    split_simulation_key,
    trace_from_run,
)


@partial(jax.jit, static_argnames=("T", "E"))
def _simulate(key, roles, agent_eps, drifting, drift, mu_plus, mu_minus, rho, *, T, E):
    """The grid simulator with per-agent thresholds (N, 2) [eps+, eps-], and the eps+ of
    `drifting` agents moved by drift * t / (T - 2) at step t."""
    _, k_x0, k_pairs, k_out = split_simulation_key(key)
    N = agent_eps.shape[0]
    X0 = jax.random.uniform(k_x0, (N,), jnp.float32)
    u, v = draw_pairs(k_pairs, T - 1, N, E)
    shift = drift * jnp.arange(T - 1, dtype=jnp.float32) / max(T - 2, 1)

    def step(X, inputs):
        k, u_t, v_t, shift_t = inputs
        d = X[u_t] - X[v_t]
        eps_plus = agent_eps[v_t, 0] + shift_t * drifting[v_t]
        k_plus, k_minus = jax.random.split(k)
        s_plus = jax.random.bernoulli(k_plus, jax.nn.sigmoid(rho * (eps_plus - jnp.abs(d))))
        p_minus = jax.nn.sigmoid(-rho * (agent_eps[v_t, 1] - jnp.abs(d)))
        s_minus = jax.random.bernoulli(k_minus, p_minus)
        r = roles[v_t]
        delta = (mu_plus[r] * s_plus - mu_minus[r] * s_minus) * d
        return jnp.clip(X.at[v_t].add(delta), 0.0, 1.0), (X, s_plus, s_minus)

    keys = jax.random.split(k_out, T - 1)
    X_last, (X, s_plus, s_minus) = jax.lax.scan(step, X0, (keys, u, v, shift))
    return jnp.concatenate([X, X_last[None]]), u, v, s_plus, s_minus


def unlike(value_F: float, value_L: float, grid) -> float:
    """The grid value farthest from both roles' values (ties: the larger)."""
    grid = np.asarray(grid)
    distance = np.minimum(np.abs(grid - value_F), np.abs(grid - value_L))
    return float(grid[np.flatnonzero(distance == distance.max())[-1]])


def simulate_misspecified(
    settings: SimulatorSettings,
    seed: int,
    *,
    drift: float = 0.0,
    third_share: float = 0.0,
    third_eps: tuple[float, float] | None = None,
) -> Trace:
    """A trace with followers' eps+ drifting by `drift` and/or a third group of followers.

    eps: settings.eps or the grid draw of the seed, as `simulate_trace`. The third group is
    round(third_share * N) followers with thresholds third_eps = (eps+, eps-), by default the
    grid values farthest from both roles' (`unlike`). Without drift or a third group the
    trace is the grid simulator's model (a well-specified control).
    """
    eps = np.asarray(settings.eps if settings.eps is not None else draw_eps_from_grid(seed))
    if not 0 <= eps[0] + drift <= 0.5:
        raise ViOdError(f"drift={drift} takes eps+_F={eps[0]:g} out of [0, 0.5]")
    if not 0 <= third_share < 1:
        raise ViOdError(f"third_share={third_share} is not allowed: must be in [0, 1)")
    N, n_third = settings.N, round(third_share * settings.N)
    if third_eps is None:
        third_eps = (unlike(eps[0], eps[1], EPS_PLUS_GRID), unlike(eps[2], eps[3], EPS_MINUS_GRID))
    key = jax.random.PRNGKey(seed)
    leaders = (jnp.arange(N) < settings.n_leaders).astype(jnp.int32)  # placed as simulate does
    roles = np.asarray(jax.random.permutation(split_simulation_key(key)[0], leaders))
    followers = np.flatnonzero(roles == 0)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x3D]))
    third = np.sort(rng.choice(followers, size=min(n_third, followers.size), replace=False))
    agent_eps = np.where(roles[:, None] == 1, eps[[1, 3]], eps[[0, 2]]).astype(np.float32)
    agent_eps[third] = third_eps
    drifting = ((roles == 0) & ~np.isin(np.arange(N), third)).astype(np.float32)
    X, u, v, s_plus, s_minus = jax.device_get(
        _simulate(
            key,
            jnp.asarray(roles),
            jnp.asarray(agent_eps),
            jnp.asarray(drifting),
            jnp.float32(drift),
            jnp.asarray(settings.mu_plus, jnp.float32),
            jnp.asarray(settings.mu_minus, jnp.float32),
            jnp.float32(settings.dynamics_rho),
            T=settings.T,
            E=settings.edges_per_step,
        )
    )
    simulator = {k: list(v) if isinstance(v, tuple) else v for k, v in vars(settings).items()}
    misspecified = {"drift_eps_plus_F": drift, "third_group": third.tolist(),
                    "third_eps": [float(e) for e in third_eps] if third.size else None}  # fmt: skip
    meta = {"seed": seed, "simulator": simulator, "misspecified": misspecified,
            "vi_od_version": __version__}  # fmt: skip
    return trace_from_run(
        (X, u, v, s_plus, s_minus), settings.mu_plus, settings.mu_minus, settings.rho,
        roles, eps, meta,
    )  # fmt: skip
