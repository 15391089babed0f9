"""The one-role BCM's per-agent log-likelihoods (vi-od compare): no latent to sum out."""

from __future__ import annotations

from vi_od.models import Pointwise
from vi_od.models.pointwise import agent_table, minus_terms, over_draws, plus_terms


def _term(params, pi, table):
    """(N,) l_v(eps+, eps-): every agent's s+ and s- under the one pair of thresholds."""
    return plus_terms(table, params[0]) + minus_terms(table, params[1])


def agents(params, pi, table):
    return over_draws(_term, params, None, table)


POINTWISE = Pointwise(table=agent_table, agents=agents)
