"""Plain Deffuant: symmetric bounded confidence with one threshold, both agents move.

Each step draws E pairs (u, v), u != v. An interaction happens with probability
sigmoid(rho (eps - |x_u - x_v|)) (s = 1, recorded as a positive interaction; there is no
backfire), and then both move towards each other: x_v += mu s d, x_u -= mu s d, d = x_u - x_v,
updates of one step summed per agent. One unknown, eps in (0, 1/2): eps = sigmoid(theta) / 2,
theta ~ N(0, 1). No latent: the relaxed and the exact views are one likelihood, tabulated
once (`vi_od.models.pooled`) so every evaluation is O(1). Defaults rho = 16 and mu = 0.1 are
the same authors' ML-vs-MSM study's (jaclenti/ABMcalibration-MLvsMSM).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from vi_od import __version__
from vi_od.data.observations import Observations
from vi_od.data.trace import Trace
from vi_od.errors import ViOdError
from vi_od.models import Collapsed, Model, Relaxed, Simulation, Simulator
from vi_od.models.bcm_roles.simulate import draw_pairs
from vi_od.models.deffuant.pointwise import POINTWISE
from vi_od.models.deffuant.settings import Settings, check_truth, settings_from_config
from vi_od.models.pooled import (
    exact_plus,
    plus_part,
    pooled_bytes,
    pooled_table,
    rho_from_theta,
)
from vi_od.models.pooled_ppc import PooledCheck

NAMES = ("eps",)


def eps_from_theta(theta):
    """eps = sigmoid(theta) / 2, in (0, 1/2)."""
    return jax.nn.sigmoid(theta) / 2


@partial(jax.jit, static_argnames=("deterministic",))
def _step(X, u, v, key, eps, mu, rho, *, deterministic: bool):
    """One step: outcomes of its E interactions and the opinions after every update."""
    d = X[u] - X[v]
    if deterministic:
        s = jnp.abs(d) < eps
    else:
        s = jax.random.bernoulli(key, jax.nn.sigmoid(rho * (eps - jnp.abs(d))))
    move = mu * s * d
    return jnp.clip(X.at[v].add(move).at[u].add(-move), 0.0, 1.0), s


def _run(key, X0, u, v, eps, mu, rho, deterministic: bool):
    """(X after each step (T-1, N), s (T-1, E)) on given pairs."""
    keys = jax.random.split(key, u.shape[0])

    def step(X, inputs):
        k, u_t, v_t = inputs
        X_next, s = _step(X, u_t, v_t, k, eps, mu, rho, deterministic=deterministic)
        return X_next, (X_next, s)

    return jax.lax.scan(step, X0, (keys, u, v))[1]


@partial(jax.jit, static_argnames=("N", "T", "E", "deterministic"))
def _simulate(key, eps, mu, rho, *, N: int, T: int, E: int, deterministic: bool):
    k_x0, k_pairs, k_out = jax.random.split(key, 3)
    X0 = jax.random.uniform(k_x0, (N,), jnp.float32)
    u, v = draw_pairs(k_pairs, T - 1, N, E)
    X, s = _run(k_out, X0, u, v, eps, mu, rho, deterministic)
    return jnp.concatenate([X0[None], X]), u, v, s


def _draw_eps(seed: int) -> float:
    return float(np.random.default_rng(np.random.SeedSequence([seed, 0xDEF])).uniform(0, 0.5))


def simulate_trace(settings: Settings, seed: int, eps: float | None = None, meta=None) -> Trace:
    """A Trace of the Deffuant dynamics with its true eps (drawn from U(0, 1/2) if unset)."""
    eps = settings.eps if eps is None else eps
    eps = _draw_eps(seed) if eps is None else eps
    X, u, v, s = jax.device_get(_simulate(
        jax.random.PRNGKey(seed), jnp.float32(eps), jnp.float32(settings.mu),
        jnp.float32(settings.rho), N=settings.N, T=settings.T, E=settings.edges_per_step,
        deterministic=settings.deterministic,
    ))  # fmt: skip
    simulator = {k: getattr(settings, k) for k in settings.__dataclass_fields__}
    return Trace(
        X=np.asarray(X), u=np.asarray(u), v=np.asarray(v),
        s_plus=np.asarray(s, np.int8), s_minus=np.zeros_like(np.asarray(s), np.int8),
        mu_plus=np.asarray(settings.mu_plus, np.float32),
        mu_minus=np.asarray(settings.mu_minus, np.float32), rho=float(settings.rho),
        eps=np.asarray([eps], np.float32),
        meta={"seed": seed, "model": "deffuant", "simulator": simulator,
              "vi_od_version": __version__, **(meta or {})},
    )  # fmt: skip


# --- likelihood -----------------------------------------------------------------------------


def _no_backfire(obs: Observations) -> None:
    obs.require_interactions()
    if obs.s_minus.any():
        raise ViOdError(
            f"model deffuant has no backfire, but the data hold {int(obs.s_minus.sum())} "
            "negative interactions: fit a model with backfire (bcm-backfire, bcm-roles)"
        )


def tabulate(obs: Observations):
    """log p(s | eps) as one tabulated function of eps (O(1) per evaluation)."""
    _no_backfire(obs)
    return pooled_table(obs.abs_diff, obs.s_plus, np.zeros(obs.M, np.float32), obs.rho)


def _params(from_theta, n: int):
    theta = numpyro.sample("theta", dist.Normal(0.0, 1.0).expand([n]).to_event(1))
    return numpyro.deterministic("params", from_theta(theta))


def pgabm(table, *_, **__) -> None:
    """theta ~ N(0, 1), eps = sigmoid(theta) / 2, s ~ Bernoulli(sigmoid(rho (eps - |d|)))."""
    numpyro.factor("likelihood", plus_part(table, _params(eps_from_theta, 1)[0]))


def _exact_model(arrays, *_, from_theta=eps_from_theta, P: int = 1, **__) -> None:
    """The same, summed over the interactions; rho is the second parameter when learned."""
    abs_diff, s, rho = arrays
    params = _params(from_theta, P)
    numpyro.factor("likelihood", exact_plus(params[0], abs_diff, s, params[1] if P > 1 else rho))


def _arrays(obs: Observations):
    _no_backfire(obs)
    return (jnp.asarray(obs.abs_diff), jnp.asarray(obs.s_plus, jnp.float32),
            jnp.float32(obs.rho))  # fmt: skip


def _exact(obs: Observations):
    return _exact_model, _arrays(obs)


def _from_theta_rho(theta):
    """eps and rho (model.rho=learn: vi_od.models.pooled.rho_from_theta)."""
    return jnp.concatenate([eps_from_theta(theta[..., :1]), rho_from_theta(theta[..., 1:])], -1)


def _outcomes(params, arrays):
    """|d|, P(s = 1) and P(s- = 1) = 0 at every interaction (`vi-od check`)."""
    abs_diff, _, rho = arrays
    rho = params[1] if params.shape[0] > 1 else rho
    return abs_diff, jax.nn.sigmoid(rho * (params[0] - abs_diff)), jnp.zeros_like(abs_diff)


# --- forward simulation for abc / abc-smc -----------------------------------------------------


class Observed(NamedTuple):
    X0: jax.Array
    u: jax.Array
    v: jax.Array
    mu: jax.Array
    rho: jax.Array
    summary: jax.Array  # (T-1, 1) positive interactions per step


def observe(obs: Observations) -> Observed:
    """A dense trace's X0, pairs and per-step counts (abc re-simulates the whole trace)."""
    _no_backfire(obs)
    trace = obs.trace
    if trace is None:
        raise ViOdError("abc on model deffuant re-simulates a dense trace: give a .npz trace")
    return Observed(
        X0=jnp.asarray(trace.X[0], jnp.float32), u=jnp.asarray(trace.u), v=jnp.asarray(trace.v),
        mu=jnp.float32(trace.mu_plus[0]), rho=jnp.float32(trace.rho),
        summary=jnp.asarray(trace.s_plus.sum(axis=1, keepdims=True), jnp.int32),
    )  # fmt: skip


def _counts(key, params, z, obs: Observed, deterministic: bool):
    rho = params[1] if params.shape[-1] > 1 else obs.rho
    _, s = _run(key, obs.X0, obs.u, obs.v, params[0], obs.mu, rho, deterministic)
    return (s.sum(axis=1, dtype=jnp.int32),)


# --- checks ----------------------------------------------------------------------------------


def _statistics(settings: dict, trace, prior: bool) -> dict:
    out = {"E": settings["edges_per_step"], "mu": settings["mu"]}
    if trace is not None:
        out["var_X_final"] = float(np.var(trace.X[-1]))
    return out


def _prior_spec(method: str, settings: dict) -> dict:
    return {"draw": "prior", "eps": "sigmoid(N(0, 1)) / 2"}


def _sbc(simulator: dict, spec: dict, seed: int) -> Trace:
    """A trace whose eps is drawn from the methods' prior, sigmoid(N(0, 1)) / 2."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5BC]))
    eps = float(eps_from_theta(rng.standard_normal()))
    settings = Settings(**simulator).validate()
    return simulate_trace(settings, seed, eps, {"truth": spec})


def make_model(learn_rho: bool = False) -> Model:
    """Deffuant with rho fixed (the data's: one tabulated function, O(1) per evaluation) or
    learned (a second parameter: sums over the interactions, O(M) per evaluation)."""
    table_bytes = lambda obs: pooled_bytes(obs.M, obs.rho)
    if learn_rho:
        names, from_theta, table = (*NAMES, "rho"), _from_theta_rho, _arrays
        model = partial(_exact_model, from_theta=_from_theta_rho, P=2)
        exact = lambda obs: (model, _arrays(obs))
    else:
        names, from_theta, table, model, exact = NAMES, eps_from_theta, tabulate, pgabm, _exact
    P = len(names)
    return Model(
        name="deffuant",
        param_names=names,
        scored=NAMES,
        truth_names=NAMES,
        from_theta=from_theta,
        relaxed=Relaxed(
            table=table, exact=exact, model=model, table_bytes=table_bytes,
            unpack=lambda sites: (from_theta(sites["theta"][..., :P]), None),
        ),  # fmt: skip
        collapsed=Collapsed(table=table, model=model, table_bytes=table_bytes),
        simulator=Simulator(
            observe=observe,
            counts=partial(_counts, deterministic=False),
            rule_counts=lambda p, z, obs: _counts(jax.random.PRNGKey(0), p, z, obs, True),
            binary=lambda obs: 0,
        ),
        simulation=Simulation(
            settings=Settings,
            from_config=settings_from_config,
            simulate=simulate_trace,
            experiment_key=lambda s: (s.N, s.T, round(s.mu * 1_000_000)),
        ),
        check_truth=check_truth,
        statistics=_statistics,
        sbc=_sbc,
        prior_spec=_prior_spec,
        labels=(r"$\varepsilon$", r"$\rho$"),
        ppc=PooledCheck(data=_arrays, outcomes=_outcomes, n_params=P, negative=False),
        rho_learned=None if learn_rho else partial(make_model, True),
        pointwise=None if learn_rho else POINTWISE,  # tabulated at the data's rho
    )


DEFFUANT = make_model()
