"""The BCM with roles as one `Model` record: what the inference methods are handed."""

from __future__ import annotations

from functools import partial

from vi_od.data.observations import Observations
from vi_od.models import Collapsed, Model, Relaxed, Simulator
from vi_od.models.bcm_roles import EPS_NAMES, SWAP_ROLES, eps_from_theta, forward
from vi_od.models.bcm_roles.collapsed import collapsed_pgabm, leader_probability, tabulate
from vi_od.models.bcm_roles.relaxed import (
    Interactions,
    interactions,
    relaxed_pgabm,
    relaxed_table,
)


def _relaxed_table(obs: Observations):
    return relaxed_table(interactions(obs))


def _pgabm_over_arrays(arrays, temperature: float, *, N: int, rho: float) -> None:
    """relaxed_pgabm with the interaction arrays as (traced) arguments."""
    relaxed_pgabm(Interactions(*arrays, N=N, rho=rho), temperature)


def _relaxed_exact(obs: Observations):
    data = interactions(obs)
    model = partial(_pgabm_over_arrays, N=data.N, rho=data.rho)
    return model, (data.abs_diff, data.receiver, data.s_plus, data.s_minus)


BCM_ROLES = Model(
    name="bcm-roles",
    param_names=EPS_NAMES,
    swap=tuple(SWAP_ROLES),
    from_theta=eps_from_theta,
    relaxed=Relaxed(table=_relaxed_table, exact=_relaxed_exact, model=relaxed_pgabm),
    collapsed=Collapsed(
        table=tabulate, model=collapsed_pgabm, leader_probability=leader_probability
    ),
    simulator=Simulator(
        observe=forward.observe, counts=forward.counts, rule_counts=forward.rule_counts
    ),
)
