"""The BCM with roles as one `Model` record: what every other layer is handed."""

from __future__ import annotations

from functools import partial

from vi_od.data.observations import Observations
from vi_od.models import Collapsed, Model, Relaxed, Simulation, Simulator
from vi_od.models.bcm_roles import (
    EPS_LABELS,
    EPS_NAMES,
    SWAP_ROLES,
    eps_from_theta,
    forward,
    learned_rho,
    ppc,
    sbc,
    settings,
    simulate,
)
from vi_od.models.bcm_roles.collapsed import collapsed_pgabm, leader_probability, tabulate
from vi_od.models.bcm_roles.pointwise import POINTWISE
from vi_od.models.bcm_roles.relaxed import (
    Interactions,
    grid_size,
    interactions,
    relaxed_pgabm,
    relaxed_table,
)


def _table_bytes(obs: Observations) -> float:
    """Peak memory of tabulating the interactions (`relaxed.likelihood_table`): the
    observations (26 bytes per interaction), the tabulation's grouped copy and sort (48),
    the per-agent sigmoid sums and tables (56 per agent and grid point)."""
    return 74 * obs.M + 56 * obs.N * grid_size(obs.rho)


def _relaxed_table_bytes(obs: Observations) -> float:
    """`_table_bytes` plus the cell cubics of `relaxed.relaxed_table`: two tables of 4
    float32 coefficients per agent and grid cell, 32 bytes per grid point."""
    return _table_bytes(obs) + 32 * obs.N * grid_size(obs.rho)


def _relaxed_table(obs: Observations):
    return relaxed_table(interactions(obs))


def _pgabm_over_arrays(arrays, temperature: float, *, N: int, rho: float) -> None:
    """relaxed_pgabm with the interaction arrays as (traced) arguments."""
    relaxed_pgabm(Interactions(*arrays, N=N, rho=rho), temperature)


def _relaxed_exact(obs: Observations):
    data = interactions(obs)
    model = partial(_pgabm_over_arrays, N=data.N, rho=data.rho)
    return model, (data.abs_diff, data.receiver, data.s_plus, data.s_minus)


def _unpack(sites: dict):
    """eps from the first four thetas, and every agent's relaxed role."""
    return eps_from_theta(sites["theta"][..., :4]), sites["roles"]


def _statistics(settings: dict, trace, prior: bool) -> dict:
    """The results row's columns of this model: the cell (E, leader share, leaders) and the
    paper's error-analysis features of the trace."""
    out = {
        "E": settings["edges_per_step"],
        "leader_proportion": settings["leader_proportion"],
        "n_leaders": round(settings["N"] * settings["leader_proportion"]),
    }
    if prior:  # SBC: the leaders are drawn, not set by leader_proportion
        out["n_leaders"] = None if trace is None else int(trace.roles.sum())
    if trace is not None and trace.has_truth:
        out |= simulate.trace_statistics(trace)
    return out


BCM_ROLES = Model(
    name="bcm-roles",
    param_names=EPS_NAMES,
    labels=EPS_LABELS,
    swap=tuple(SWAP_ROLES),
    from_theta=eps_from_theta,
    relaxed=Relaxed(
        table=_relaxed_table,
        exact=_relaxed_exact,
        model=relaxed_pgabm,
        table_bytes=_relaxed_table_bytes,
        unpack=_unpack,
    ),
    collapsed=Collapsed(
        table=tabulate,
        model=collapsed_pgabm,
        leader_probability=leader_probability,
        table_bytes=_table_bytes,
    ),
    simulator=Simulator(
        observe=forward.observe,
        counts=forward.counts,
        rule_counts=forward.rule_counts,
        binary=forward.binary,
    ),
    simulation=Simulation(
        settings=simulate.SimulatorSettings,
        from_config=settings.settings_from_config,
        simulate=simulate.simulate_trace,
        experiment_key=lambda s: (s.N, s.T, round(s.leader_proportion * 1_000_000)),
        skip=simulate.zero_leaders,
        skip_reason="round(N * leader_proportion) < 1",
        identity=simulate.SimulatorSettings.identity,
        stream=simulate.stream_log,
        stream_bytes=simulate.stream_bytes,
    ),
    check_truth=settings.check_truth,
    statistics=_statistics,
    sbc=sbc.simulate_from_prior,
    prior_spec=sbc.prior_spec,
    ppc=ppc,
    rho_learned=lambda: learned_rho.with_learned_rho(BCM_ROLES),
    pointwise=POINTWISE,
)
