"""What the models' pointwise log-likelihoods share (vi-od compare, docs/compare.md).

The unit of comparison is the agent: term v = log p(outcomes of the interactions v received
| a posterior draw), for every model the same partition of the same outcomes. Each agent's
log-likelihood is read from the per-agent tables of the BCM with roles
(`bcm_roles.relaxed.likelihood_table`): one O(interactions) pass, then O(N) per draw.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from vi_od.data.observations import Observations
from vi_od.models.bcm_roles.relaxed import (
    Interactions,
    LikelihoodTable,
    hermite_shared,
    likelihood_table,
)

DRAWS_PER_BATCH = 64  # draws evaluated at once: (64, N) floats live at a time


def agent_table(obs: Observations, abs_diff=None) -> LikelihoodTable:
    """Each agent's P_v(eps+) and Q_v(eps-) tabulated, at the data's |d| or at given ones."""
    obs.require_interactions()
    abs_diff = obs.abs_diff if abs_diff is None else abs_diff
    return likelihood_table(Interactions(
        abs_diff=jnp.asarray(abs_diff, jnp.float32),
        receiver=jnp.asarray(obs.receiver, jnp.int32),
        s_plus=jnp.asarray(obs.s_plus, jnp.float32),
        s_minus=jnp.asarray(obs.s_minus, jnp.float32),
        N=obs.N, rho=float(obs.rho),
    ))  # fmt: skip


def plus_terms(table: LikelihoodTable, eps_plus) -> jax.Array:
    """(N,) each agent's log-likelihood of its s+ at one shared eps+."""
    return hermite_shared(table.plus, eps_plus)[0]


def minus_terms(table: LikelihoodTable, eps_minus) -> jax.Array:
    """(N,) each agent's log-likelihood of its s- at one shared eps-."""
    return hermite_shared(table.minus, eps_minus)[0]


def over_draws(term, params, pi, data) -> np.ndarray:
    """(S, N): term(params_s (P,), pi_s (), data) -> (N,) for every draw, in batches."""
    params = jnp.asarray(params, jnp.float32)
    pi = jnp.zeros(params.shape[0], jnp.float32) if pi is None else jnp.asarray(pi, jnp.float32)
    return np.asarray(_map(term, params, pi, data), np.float64)


@partial(jax.jit, static_argnums=0)
def _map(term, params, pi, data):
    return jax.lax.map(lambda x: term(x[0], x[1], data), (params, pi),
                       batch_size=DRAWS_PER_BATCH)  # fmt: skip
