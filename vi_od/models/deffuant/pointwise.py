"""Deffuant's per-agent log-likelihoods (vi-od compare): s+ only, s- = 0 with certainty.

The model has no backfire: it gives s- = 1 probability 0, so on data with any s- = 1 its
log-likelihood is -inf and it is refused before any fit (as `vi-od fit` refuses it); on data
without, each s- = 0 has probability 1 and adds 0 to the agent's term.
"""

from __future__ import annotations

from vi_od.errors import ViOdError
from vi_od.models import Pointwise
from vi_od.models.pointwise import agent_table, over_draws, plus_terms


def table(obs):
    if obs.s_minus.any():
        raise ViOdError(
            f"model deffuant has no backfire, but the data hold {int(obs.s_minus.sum())} "
            "negative interactions (its likelihood is 0): leave it out of the comparison"
        )
    return agent_table(obs)


def _term(params, pi, table):
    return plus_terms(table, params[0])


def agents(params, pi, table):
    return over_draws(_term, params, None, table)


POINTWISE = Pointwise(table=table, agents=agents)
