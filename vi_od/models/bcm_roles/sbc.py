"""Simulation-based calibration of the BCM with roles: truths drawn from a method's own prior.

A sweep whose file says `truth: prior` (conf/sweep/sbc.yaml) draws every experiment's truth
here instead of from the paper's grid:

- eps = eps_from_theta(theta), theta ~ N(0, 1)^4 (unordered, anywhere in the ranges);
- marginal methods (a `pi_prior` setting): pi ~ 1/2 Beta(a, b) + 1/2 Beta(b, a) (or pi_fixed),
  roles ~ Bernoulli(pi) per agent;
- the relaxed methods (svi-normal, svi-nf, nuts) and abc: the paper's prior, role_v ~
  Bernoulli(sigmoid(theta_v)), theta_v ~ N(0, 1) (the relaxation's limit at temperature 0).

Label switching: every prior is symmetric under swapping leaders and followers, and each
method reports one labelling, so the truth is put in the same one: pi > 1/2 swaps (as the
marginal methods relabel each draw), more than half leaders swaps (the paper's majority
rule, as the relaxed methods apply it).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from vi_od import __version__
from vi_od.data.trace import Trace
from vi_od.errors import ViOdError
from vi_od.models.bcm_roles import SWAP_ROLES, eps_from_theta
from vi_od.models.bcm_roles.simulate import (
    draw_pairs,
    dynamics_from_eps,
    run_dynamics,
    split_simulation_key,
    trace_from_run,
)

_SBC_STREAM = 0x5BC  # keeps the truth's random stream apart from the grid simulator's


def prior_spec(method: str, settings: dict) -> dict:
    """The prior a method's truth is drawn from, as a JSON-ready dict (part of the job id)."""
    if "pi_prior" in settings:
        return {
            "draw": "prior",
            "roles": "label-symmetric-beta",
            "pi_prior": [float(c) for c in settings["pi_prior"]],
            "pi_fixed": settings.get("pi_fixed"),
        }
    return {"draw": "prior", "roles": "bernoulli-sigmoid-normal"}


class Truth(NamedTuple):
    """A truth drawn from a prior, in the methods' labelling."""

    eps: np.ndarray  # (4,) [F+, L+, F-, L-]
    roles: np.ndarray  # (N,) int8, 1 = leader
    pi: float  # the drawn leader share (the realised share for the paper's prior)


def draw_truth(spec: dict, N: int, seed: int) -> Truth:
    """eps, roles and leader share from the prior `spec`, in the methods' labelling."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, _SBC_STREAM]))
    eps = np.asarray(eps_from_theta(jnp.asarray(rng.standard_normal(4), jnp.float32)))
    if spec["roles"] == "label-symmetric-beta":
        a, b = spec["pi_prior"]
        pi = spec["pi_fixed"]
        if pi is None:
            pi = rng.beta(a, b) if rng.random() < 0.5 else rng.beta(b, a)
        if pi > 0.5:  # the marginal methods relabel every draw with pi > 1/2 the same way
            pi, eps = 1.0 - pi, eps[SWAP_ROLES]
        roles = (rng.random(N) < pi).astype(np.int8)
    elif spec["roles"] == "bernoulli-sigmoid-normal":
        phi = 1.0 / (1.0 + np.exp(-rng.standard_normal(N)))
        roles = (rng.random(N) < phi).astype(np.int8)
        if roles.sum() > N / 2:  # the paper's majority rule, as make_posterior applies it
            roles, eps = 1 - roles, eps[SWAP_ROLES]
        pi = float(roles.mean())
    else:
        raise ViOdError(f"unknown prior on roles '{spec['roles']}'")
    return Truth(eps.astype(np.float32), roles, float(pi))


@partial(jax.jit, static_argnames=("T", "E"))
def _simulate(key, dyn, roles, *, T: int, E: int):
    """The grid simulator's dynamics with given roles: X0 ~ U(0, 1), T-1 steps of E pairs."""
    _, k_x0, k_pairs, k_out = split_simulation_key(key)
    N = roles.shape[0]
    X0 = jax.random.uniform(k_x0, (N,), jnp.float32)
    u, v = draw_pairs(k_pairs, T - 1, N, E)
    X, s_plus, s_minus = run_dynamics(k_out, X0, u, v, roles, dyn)
    return X, u, v, s_plus, s_minus


def simulate_from_prior(simulator: dict, spec: dict, seed: int) -> Trace:
    """A trace whose truth is drawn from `spec` (simulator: the job's SimulatorSettings fields).

    The simulator's eps and leader_proportion are not used: the prior sets both.
    """
    truth = draw_truth(spec, simulator["N"], seed)
    mu_plus, mu_minus = simulator["mu_plus"], simulator["mu_minus"]
    rho = float("inf") if simulator.get("deterministic") else simulator["rho"]  # the hard rule
    dyn = dynamics_from_eps(truth.eps, mu_plus, mu_minus, rho)
    X, u, v, s_plus, s_minus = jax.device_get(
        _simulate(
            jax.random.PRNGKey(seed),
            dyn,
            jnp.asarray(truth.roles, jnp.int32),
            T=simulator["T"],
            E=simulator["edges_per_step"],
        )
    )
    meta = {"seed": seed, "simulator": simulator, "truth": spec, "pi": truth.pi,
            "vi_od_version": __version__}  # fmt: skip
    return trace_from_run(
        (X, u, v, s_plus, s_minus), simulator["mu_plus"], simulator["mu_minus"],
        simulator["rho"], truth.roles, truth.eps, meta,
    )  # fmt: skip
