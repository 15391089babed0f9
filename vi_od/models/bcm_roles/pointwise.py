"""The BCM with roles' per-agent log-likelihoods (vi-od compare), the role summed out.

Term v = logsumexp(log(1 - pi) + l_v(eps_F), log pi + l_v(eps_L)): agent v's role is its own
latent, so it is summed out inside v's term with the draw's pi (collapsed.py's identity,
agent by agent); the terms of one draw sum to the collapsed log-likelihood.
"""

from __future__ import annotations

import jax

from vi_od.models import Pointwise
from vi_od.models.bcm_roles.collapsed import _role_log_prior, agent_log_likelihoods
from vi_od.models.pointwise import agent_table, over_draws


def _term(params, pi, table):
    """(N,) every agent's log-likelihood with its role summed out."""
    return jax.nn.logsumexp(agent_log_likelihoods(params, table) + _role_log_prior(pi), axis=0)


def agents(params, pi, table):
    return over_draws(_term, params, pi, table)


POINTWISE = Pointwise(table=agent_table, agents=agents)
