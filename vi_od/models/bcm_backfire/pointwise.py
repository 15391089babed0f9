"""BCM-U's per-agent log-likelihoods (vi-od compare), at the opinions replayed under b.

b is one switch for the whole log, not a latent per agent: it cannot be summed out inside one
agent's term (the terms would then each pick their own b). Each posterior draw carries its b,
drawn from P(b | eps, s) by the fit (`Collapsed.complete`), and the terms of that draw are
read from the replay under that b: the pointwise terms of the joint posterior of (eps, b),
the draws PSIS-LOO needs.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from vi_od.data.observations import Observations
from vi_od.models import Pointwise
from vi_od.models.bcm_roles.relaxed import LikelihoodTable
from vi_od.models.pointwise import agent_table, minus_terms, over_draws, plus_terms


class Replays(NamedTuple):
    """Per-agent tables at the opinions replayed under b = 0 and b = 1, and how far each
    replay is from the data's X."""

    tables: tuple[LikelihoodTable, LikelihoodTable]
    gaps: tuple[float, float]


def table(obs: Observations) -> Replays:
    from vi_od.models.bcm_backfire import replayed  # here: the package imports this module

    r = replayed(obs)  # refuses data without a dense trace
    gaps = tuple(float(np.max(np.abs(_replay(obs.trace, b) - obs.trace.X[1:]))) for b in (0, 1))
    tables = tuple(agent_table(obs, np.asarray(r.abs_diff[b])) for b in (0, 1))
    return Replays(tables, gaps)


def _replay(trace, b: int) -> np.ndarray:
    """(T-1, N) opinions after each step, replayed from X[0] under b."""
    from vi_od.models.bcm_backfire import _update

    f32 = lambda a: jnp.asarray(a, jnp.float32)

    def step(X, inputs):
        u_t, v_t, sp, sm = inputs
        X_next, _ = _update(X, u_t, v_t, sp, sm, f32(trace.mu_plus[0]), f32(trace.mu_minus[0]),
                            f32(b))  # fmt: skip
        return X_next, X_next

    xs = (jnp.asarray(trace.u), jnp.asarray(trace.v), f32(trace.s_plus), f32(trace.s_minus))
    return np.asarray(jax.jit(lambda X0, xs: jax.lax.scan(step, X0, xs)[1])(f32(trace.X[0]), xs))


def _term(params, pi, tables):
    """(N,) the draw's b picks the replay its eps are scored at."""
    ll = [plus_terms(t, params[0]) + minus_terms(t, params[1]) for t in tables]
    return jnp.where(params[-1] > 0.5, ll[1], ll[0])


def agents(params, pi, data: Replays):
    return over_draws(_term, params, None, data.tables)


POINTWISE = Pointwise(table=table, agents=agents, opinion_gap=lambda data: min(data.gaps))
