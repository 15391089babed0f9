"""The paper's BCM with one role: one eps+ and one eps- for every agent (no leaders).

The dynamics of the BCM with roles (`vi_od.models.bcm_roles`) with every agent a follower:
each step draws E pairs (u, v), u != v; s+ ~ Bernoulli(sigmoid(rho (eps+ - |d|))), s- ~
Bernoulli(sigmoid(-rho (eps- - |d|))), d = x_u - x_v; then x_v += mu+ s+ d - mu- s- d, clipped
to [0, 1]. As in the paper X is observed, so the likelihood reads |d| from the data. Unknowns
eps+ = sigmoid(theta_0) / 2, eps- = sigmoid(theta_1) / 2 + 1/2, theta ~ N(0, 1)^2 (the
paper's transform). No latent: the relaxed and the exact views are one likelihood, pooled
over every agent and tabulated once (`vi_od.models.pooled`), O(1) per evaluation.

It is the one-role member of the BCM-with-roles family (eps_F = eps_L, or pi = 0): the null
model of "are there leaders?" (`vi-od compare DATA --models bcm,bcm-roles`, docs/compare.md).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import numpyro
import numpyro.distributions as dist

from vi_od import __version__
from vi_od.data.observations import Observations
from vi_od.data.trace import Trace
from vi_od.models import Collapsed, Model, Relaxed, Simulation
from vi_od.models.bcm.pointwise import POINTWISE
from vi_od.models.bcm.settings import (
    EPS_MINUS_GRID,
    EPS_PLUS_GRID,
    Settings,
    check_truth,
    settings_from_config,
)
from vi_od.models.bcm_roles.simulate import dynamics_from_eps, simulate_jit, trace_from_run
from vi_od.models.pooled import eps_from_theta, minus_part, plus_part, pooled_bytes, pooled_table

NAMES = ("eps_plus", "eps_minus")


def draw_eps(seed: int) -> tuple[float, float]:
    """[eps+, eps-] drawn from the paper's grids by the seed."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xBC1]))
    return float(rng.choice(EPS_PLUS_GRID)), float(rng.choice(EPS_MINUS_GRID))


def simulate_trace(settings: Settings, seed: int, eps=None, meta=None) -> Trace:
    """A Trace of the paper's simulator with no leader, and its truth [eps+, eps-]."""
    eps = tuple(eps or settings.eps or draw_eps(seed))
    mu_plus, mu_minus = settings.mu_pair
    dyn = dynamics_from_eps([eps[0], eps[0], eps[1], eps[1]], mu_plus, mu_minus, settings.rho)
    sim = simulate_jit(jax.random.PRNGKey(seed), dyn, N=settings.N, T=settings.T,
                       E=settings.edges_per_step, n_leaders=0)  # fmt: skip
    simulator = {k: getattr(settings, k) for k in settings.__dataclass_fields__}
    simulator["eps"] = None if settings.eps is None else list(settings.eps)
    info = {"seed": seed, "model": "bcm", "simulator": simulator, "vi_od_version": __version__}
    trace = trace_from_run((sim.X, sim.u, sim.v, sim.s_plus, sim.s_minus), mu_plus, mu_minus,
                           settings.rho, sim.roles, eps, {**info, **(meta or {})})  # fmt: skip
    return dataclasses.replace(trace, roles=None)  # one role: no role truth to score


# --- likelihood -----------------------------------------------------------------------------


def tabulate(obs: Observations):
    """log p(s+, s- | eps+, eps-) as two tabulated functions (O(1) per evaluation)."""
    obs.require_interactions()
    return pooled_table(obs.abs_diff, obs.s_plus, obs.s_minus, obs.rho)


def pgabm(table, *_, **__) -> None:
    """theta ~ N(0, 1)^2; s+ and s- Bernoulli with the one pair of thresholds."""
    theta = numpyro.sample("theta", dist.Normal(0.0, 1.0).expand([2]).to_event(1))
    eps = numpyro.deterministic("params", eps_from_theta(theta))
    numpyro.factor("likelihood", plus_part(table, eps[0]) + minus_part(table, eps[1]))


def _exact(obs: Observations):
    return pgabm, tabulate(obs)


def _statistics(settings: dict, trace, prior: bool) -> dict:
    out = {"E": settings["edges_per_step"], "leader_proportion": 0.0, "n_leaders": 0}
    if trace is not None:
        out |= {"n_positive": int(trace.s_plus.sum()), "n_negative": int(trace.s_minus.sum()),
                "var_X_final": float(np.var(trace.X[-1]))}  # fmt: skip
    return out


def _table_bytes(obs: Observations) -> float:
    return pooled_bytes(obs.M, obs.rho)


BCM = Model(
    name="bcm",
    param_names=NAMES,
    labels=(r"$\varepsilon^+$", r"$\varepsilon^-$"),
    from_theta=eps_from_theta,
    relaxed=Relaxed(
        table=tabulate, exact=_exact, model=pgabm, table_bytes=_table_bytes,
        unpack=lambda sites: (eps_from_theta(sites["theta"][..., :2]), None),
    ),  # fmt: skip
    collapsed=Collapsed(table=tabulate, model=pgabm, table_bytes=_table_bytes),
    simulation=Simulation(
        settings=Settings,
        from_config=settings_from_config,
        simulate=simulate_trace,
        experiment_key=lambda s: (s.N, s.T),
    ),
    check_truth=check_truth,
    statistics=_statistics,
    pointwise=POINTWISE,
)
