"""BCM-U, backfire or not: one eps+ and one eps- for everyone, and a global switch b.

The journal version's update-rule variant (shared/reference/variants/README.md). Each step
draws E pairs (u, v), u != v; s+ ~ Bernoulli(sigmoid(rho (eps+ - |d|))), s- ~
Bernoulli(sigmoid(-rho (eps- - |d|))) (or the hard rules |d| < eps+, |d| > eps- with
`simulator.deterministic`, the journal's generator); then x_v += mu+ s+ d - b mu- s- d, d =
x_u - x_v, updates of one step summed per receiver, clipped to [0, 1]. Unknowns: eps+, eps-
and b in {0, 1}; mu+ and mu- are known.

Observed, as in the journal: the first opinions X[0] and the interactions (u, v, s+, s-),
not the later opinions. The opinions are replayed from X[0] under each b; with mu known the
two replays do not depend on eps, so they are computed once per log, after which each b is
a pooled BCM likelihood tabulated once (`vi_od.models.pooled`): l_b(eps+, eps-). The exact
view sums b out, log p(s | eps) = logsumexp_b(log 1/2 + l_b), and draws b back from
P(b = 1 | eps, s) = sigmoid(l_1 - l_0); the relaxed view relaxes b (RelaxedBernoulli, as the
journal) and mixes the two log-likelihoods, (1 - b) l_0 + b l_1, exact at b in {0, 1}.
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
from vi_od.models.bcm_backfire.pointwise import POINTWISE
from vi_od.models.bcm_backfire.settings import (
    EPS_MINUS_GRID,
    EPS_PLUS_GRID,
    MU_GRID,
    Settings,
    check_truth,
    settings_from_config,
)
from vi_od.models.bcm_roles.simulate import draw_pairs
from vi_od.models.pooled import (
    as_pair,
    eps_from_theta,
    exact_minus,
    exact_plus,
    minus_part,
    per_draw,
    plus_part,
    pooled_bytes,
    pooled_table,
    rho_from_theta,
    sbc_start,
)
from vi_od.models.pooled_ppc import PooledCheck

NAMES = ("eps_plus", "eps_minus")
LATENT = "backfire"  # b



class Truth(NamedTuple):
    eps: tuple[float, float]
    backfire: int
    mu_plus: float
    mu_minus: float


def draw_design(settings: Settings, seed: int) -> Truth:
    """The experiment's unset values, drawn from the journal's design by the seed."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xBF]))
    eps = (float(rng.choice(EPS_PLUS_GRID)), float(rng.choice(EPS_MINUS_GRID)))
    mu_plus, mu_minus = (float(rng.choice(MU_GRID)) for _ in range(2))
    backfire = int(rng.integers(2))
    return Truth(
        eps=settings.eps or eps,
        backfire=backfire if settings.backfire is None else settings.backfire,
        mu_plus=mu_plus if settings.mu_plus is None else settings.mu_plus,
        mu_minus=mu_minus if settings.mu_minus is None else settings.mu_minus,
    )


def _update(X, u, v, s_plus, s_minus, mu_plus, mu_minus, backfire):
    """Every update of one step, summed per receiver; opinions clipped to [0, 1]."""
    d = X[u] - X[v]
    delta = (mu_plus * s_plus - backfire * mu_minus * s_minus) * d
    return jnp.clip(X.at[v].add(delta), 0.0, 1.0), d


def _outcomes(key, d, eps, rho, deterministic: bool):
    """s+ and s- of one step's interactions at distances d."""
    if deterministic:
        return jnp.abs(d) < eps[0], jnp.abs(d) > eps[1]
    k_plus, k_minus = jax.random.split(key)
    s_plus = jax.random.bernoulli(k_plus, jax.nn.sigmoid(rho * (eps[0] - jnp.abs(d))))
    s_minus = jax.random.bernoulli(k_minus, jax.nn.sigmoid(-rho * (eps[1] - jnp.abs(d))))
    return s_plus, s_minus


def _run(key, X0, u, v, eps, mu_plus, mu_minus, backfire, rho, deterministic: bool):
    """(X after each step, s+, s-) of the dynamics on given pairs."""
    keys = jax.random.split(key, u.shape[0])

    def step(X, inputs):
        k, u_t, v_t = inputs
        s_plus, s_minus = _outcomes(k, X[u_t] - X[v_t], eps, rho, deterministic)
        X_next, _ = _update(X, u_t, v_t, s_plus, s_minus, mu_plus, mu_minus, backfire)
        return X_next, (X_next, s_plus, s_minus)

    return jax.lax.scan(step, X0, (keys, u, v))[1]


@partial(jax.jit, static_argnames=("N", "T", "E", "deterministic"))
def _simulate(key, eps, mu_plus, mu_minus, backfire, rho, *, N, T, E, deterministic):
    k_x0, k_pairs, k_out = jax.random.split(key, 3)
    X0 = jax.random.uniform(k_x0, (N,), jnp.float32)
    u, v = draw_pairs(k_pairs, T - 1, N, E)
    X, s_plus, s_minus = _run(k_out, X0, u, v, eps, mu_plus, mu_minus, backfire, rho,
                              deterministic)  # fmt: skip
    return jnp.concatenate([X0[None], X]), u, v, s_plus, s_minus


def simulate_trace(settings: Settings, seed: int, truth: Truth | None = None, meta=None) -> Trace:
    """A Trace of BCM-U with its truth [eps+, eps-, b] (unset values drawn by the seed)."""
    truth = truth or draw_design(settings, seed)
    f32 = jnp.float32
    X, u, v, s_plus, s_minus = jax.device_get(_simulate(
        jax.random.PRNGKey(seed), jnp.asarray(truth.eps, f32), f32(truth.mu_plus),
        f32(truth.mu_minus), f32(truth.backfire), f32(settings.rho), N=settings.N, T=settings.T,
        E=settings.edges_per_step, deterministic=settings.deterministic,
    ))  # fmt: skip
    simulator = {k: getattr(settings, k) for k in settings.__dataclass_fields__}
    simulator["eps"] = None if settings.eps is None else list(settings.eps)
    return Trace(
        X=np.asarray(X), u=np.asarray(u), v=np.asarray(v),
        s_plus=np.asarray(s_plus, np.int8), s_minus=np.asarray(s_minus, np.int8),
        mu_plus=np.asarray(as_pair(truth.mu_plus), np.float32),
        mu_minus=np.asarray(as_pair(truth.mu_minus), np.float32), rho=float(settings.rho),
        eps=np.asarray([*truth.eps, truth.backfire], np.float32),
        meta={"seed": seed, "model": "bcm-backfire", "simulator": simulator,
              "vi_od_version": __version__, **(meta or {})},
    )  # fmt: skip


# --- the replays and the likelihood -----------------------------------------------------------


@jax.jit
def replay_distances(X0, u, v, s_plus, s_minus, mu_plus, mu_minus, backfire):
    """|d| of every interaction (T-1, E) with the opinions replayed from X0 under b."""

    def step(X, inputs):
        u_t, v_t, sp, sm = inputs
        X_next, d = _update(X, u_t, v_t, sp, sm, mu_plus, mu_minus, backfire)
        return X_next, jnp.abs(d)

    return jax.lax.scan(step, X0, (u, v, s_plus, s_minus))[1]


class Replayed(NamedTuple):
    """The interactions' outcomes and their |d| under b = 0 and b = 1."""

    abs_diff: jax.Array  # (2, M)
    s_plus: jax.Array  # (M,)
    s_minus: jax.Array  # (M,)
    rho: float


def replayed(obs: Observations) -> Replayed:
    """Both replays of a dense trace (the only form that carries X[0] and the steps)."""
    obs.require_interactions()
    trace = obs.trace
    if trace is None:
        raise ViOdError(
            "model bcm-backfire replays the opinions from X[0] step by step: give a .npz trace"
        )
    f32 = lambda a: jnp.asarray(a, jnp.float32)
    args = (f32(trace.X[0]), jnp.asarray(trace.u), jnp.asarray(trace.v), f32(trace.s_plus),
            f32(trace.s_minus), f32(trace.mu_plus[0]), f32(trace.mu_minus[0]))  # fmt: skip
    d = jnp.stack([replay_distances(*args, f32(b)).ravel() for b in (0, 1)])
    return Replayed(d, f32(trace.s_plus.ravel()), f32(trace.s_minus.ravel()), float(trace.rho))


def tabulate(obs: Observations):
    """(table under b = 0, table under b = 1): each l_b tabulated, O(1) per evaluation."""
    r = replayed(obs)
    return tuple(pooled_table(r.abs_diff[b], r.s_plus, r.s_minus, r.rho) for b in (0, 1))


def _log_likelihoods(eps, tables) -> jax.Array:
    """(2,) l_0(eps), l_1(eps)."""
    return jnp.stack([plus_part(t, eps[0]) + minus_part(t, eps[1]) for t in tables])


def _exact_log_likelihoods(params, r: Replayed) -> jax.Array:
    """(2,) l_0, l_1 summed over the interactions; rho is params[2] when it is learned."""
    rho = params[2] if params.shape[-1] > 2 else r.rho
    return jnp.stack([
        exact_plus(params[0], r.abs_diff[b], r.s_plus, rho)
        + exact_minus(params[1], r.abs_diff[b], r.s_minus, rho)
        for b in (0, 1)
    ])  # fmt: skip


def _params(from_theta, P: int, extra: int = 0):
    """theta ~ N(0, 1)^(P + extra); the P parameters through `from_theta`."""
    theta = numpyro.sample("theta", dist.Normal(0.0, 1.0).expand([P + extra]).to_event(1))
    return theta, from_theta(theta[:P])


def collapsed(log_likelihoods, from_theta, P, data, *_, **__) -> None:
    """theta ~ N(0, 1)^P, b ~ Bernoulli(1/2) summed out: logsumexp_b(log 1/2 + l_b)."""
    _, params = _params(from_theta, P)
    numpyro.deterministic("params", params)
    log_b = log_likelihoods(params, data)
    numpyro.factor("likelihood", jax.nn.logsumexp(log_b) - jnp.log(2.0))


def _complete(log_likelihoods, key, params, data):
    """b drawn for every sample from P(b = 1 | params, s) = sigmoid(l_1 - l_0)."""
    ll = per_draw(log_likelihoods, params, data)
    b = jax.random.bernoulli(key, jax.nn.sigmoid(ll[:, 1] - ll[:, 0]))
    return jnp.concatenate([params, b[:, None].astype(params.dtype)], axis=1)


def _relaxed(log_likelihoods, from_theta, P, data, temperature=0.1) -> None:
    """theta ~ N(0, 1)^(P+1), b ~ RelaxedBernoulli(temperature, logit theta_P): (1 - b) l_0 +
    b l_1. b is sampled by its logit z ~ Logistic(theta_P / temperature, 1 / temperature),
    b = sigmoid(z): the same distribution, but float32 keeps its mode at 1 as it keeps the one
    at 0 (numpyro's relaxed Bernoulli rounds b = 1 - 1e-8 to 1, where its density is NaN: the
    b = 1 mode was cut short, and where the data could not tell b, the relaxed posterior of b
    sat at 0.22-0.40 against the exact 0.5)."""
    theta, params = _params(from_theta, P, extra=1)
    z = numpyro.sample(LATENT, dist.Logistic(theta[P] / temperature, 1.0 / temperature))
    ll = log_likelihoods(params, data)
    numpyro.factor("likelihood", jax.nn.sigmoid(-z) * ll[0] + jax.nn.sigmoid(z) * ll[1])


START_GRID = 25  # eps+ and eps- values the start's grid search tries, each
START_RHO = (8.0, 32.0, 128.0, 250.0)  # and rho values, when rho is learned


def _start(log_likelihoods, P, data):
    """theta at the best point of a grid over (eps+, eps-[, rho]) of the collapsed likelihood.

    The two replays make the posterior multimodal: a sampler started mid-range can stay in a
    mode of the wrong b (measured on the journal's design: log-likelihood -7216 there against
    -1446 at the truth). O(grid) evaluations, each O(1) (tables) or O(M) (rho learned).
    """
    plus = jnp.linspace(0.01, 0.49, START_GRID)
    minus = jnp.linspace(0.51, 0.99, START_GRID)
    axes = [plus, minus] + ([jnp.asarray(START_RHO)] if P > 2 else [])
    points = jnp.stack([g.ravel() for g in jnp.meshgrid(*axes, indexing="ij")], axis=1)
    score = jax.lax.map(lambda p: jax.nn.logsumexp(log_likelihoods(p, data)), points)
    best = points[jnp.argmax(score)]
    theta = [jnp.log(2 * best[0] / (1 - 2 * best[0])), jnp.log((best[1] - 0.5) / (1 - best[1]))]
    if P > 2:  # rho = 4 * 64^sigmoid(theta)
        s = jnp.log(best[2] / 4.0) / jnp.log(64.0)
        theta.append(jnp.log(s / (1 - s)))
    return jnp.stack(theta)


def _relaxed_start(log_likelihoods, table, from_theta, P, obs) -> dict:
    """Where the relaxed methods start: the collapsed start's parameters and b leaning to its
    likelier value there, as much as the data say (P(b = 1) there, fair prior). From their own
    random start they settled in the wrong b's mode in a quarter of the journal design's runs
    (svi-normal: b right 0.73, against 0.90 for the collapsed methods, which start here);
    where the two replays tie (nothing backfired) it starts at b = 1/2."""
    data = table(obs)
    theta = _start(log_likelihoods, P, data)
    ll = log_likelihoods(from_theta(theta), data)
    p = jax.nn.sigmoid(ll[1] - ll[0])
    logit = 2.0 * (2.0 * p - 1.0)  # b's relaxed prior leaning to it, well inside N(0, 1)'s range
    b = 0.05 + 0.9 * p
    return {"theta": jnp.append(theta, logit), LATENT: jnp.log(b / (1 - b))}  # b's logit z


def _unpack(from_theta, P, sites: dict):
    params = from_theta(sites["theta"][..., :P])
    b = jax.nn.sigmoid(sites[LATENT])  # the relaxed b from its logit
    return jnp.concatenate([params, b[..., None]], axis=-1), None


def _table_bytes(obs: Observations) -> float:
    return 2 * pooled_bytes(obs.M, obs.rho) + 8 * obs.M


# --- forward simulation for abc / abc-smc -----------------------------------------------------


class Observed(NamedTuple):
    X0: jax.Array
    u: jax.Array
    v: jax.Array
    mu_plus: jax.Array
    mu_minus: jax.Array
    rho: jax.Array
    summary: jax.Array  # (T-1, 2) positive and negative interactions per step


def observe(obs: Observations) -> Observed:
    trace = obs.trace
    if trace is None:
        raise ViOdError("abc on model bcm-backfire re-simulates a dense trace: give a .npz trace")
    summary = np.stack([trace.s_plus.sum(axis=1), trace.s_minus.sum(axis=1)], axis=1)
    return Observed(
        X0=jnp.asarray(trace.X[0], jnp.float32), u=jnp.asarray(trace.u), v=jnp.asarray(trace.v),
        mu_plus=jnp.float32(trace.mu_plus[0]), mu_minus=jnp.float32(trace.mu_minus[0]),
        rho=jnp.float32(trace.rho), summary=jnp.asarray(summary, jnp.int32),
    )  # fmt: skip


def _counts(key, params, z, obs: Observed, deterministic: bool):
    """Per-step s+ and s- counts of one simulation from X0 with eps = params[:2] (and rho =
    params[2] when it is learned), b = z[0]."""
    rho = params[2] if params.shape[-1] > 2 else obs.rho
    _, s_plus, s_minus = _run(key, obs.X0, obs.u, obs.v, params[:2], obs.mu_plus, obs.mu_minus,
                              z[0].astype(jnp.float32), rho, deterministic)  # fmt: skip
    return s_plus.sum(axis=1, dtype=jnp.int32), s_minus.sum(axis=1, dtype=jnp.int32)


# --- checks ----------------------------------------------------------------------------------


def _statistics(settings: dict, trace, prior: bool) -> dict:
    out = {"E": settings["edges_per_step"]}
    if trace is not None:
        out |= {"mu_plus": float(trace.mu_plus[0]), "mu_minus": float(trace.mu_minus[0]),
                "var_X_final": float(np.var(trace.X[-1]))}  # fmt: skip
    return out


def _prior_spec(method: str, settings: dict) -> dict:
    return {"draw": "prior", "eps": "sigmoid(N(0, 1)) / 2 + [0, 1/2]", "backfire": "fair"}


def _sbc(simulator: dict, spec: dict, seed: int) -> Trace:
    """A trace whose eps and b are drawn from the methods' prior (mu from the design)."""
    settings, rng = sbc_start(Settings, simulator, seed)
    eps = tuple(float(e) for e in eps_from_theta(jnp.asarray(rng.standard_normal(2))))
    truth = draw_design(settings, seed)._replace(eps=eps, backfire=int(rng.integers(2)))
    return simulate_trace(settings, seed, truth, {"truth": spec})


def published_runs():
    """The journal version's every BCM-U run (shared/reference/variants), in our row form:
    its pyABC SMC runs are our abc-smc's counterpart; b right = rounded mean b is the truth."""
    from importlib import resources

    import pandas as pd

    with resources.files(__name__).joinpath("journal_runs.csv").open() as f:
        runs = pd.read_csv(f)
    runs["method"] = runs["method"].replace({"abc": "abc-smc"})
    runs["backfire_right"] = runs["round_backfire"] == runs["is_backfire"]
    runs["model"], runs["status"] = "bcm-backfire", "ok"
    return runs[["model", "method", "rep", "N", "T", "rmse_eps", "backfire_right",
                 "wall_time_s", "status"]]  # fmt: skip


def _predicted(params, r: Replayed):
    """|d| under the draw's b, P(s+ = 1) and P(s- = 1) at every interaction (`vi-od check`);
    params: eps+, eps- [, rho], b."""
    d = jnp.where(params[-1] > 0.5, r.abs_diff[1], r.abs_diff[0])
    rho = params[2] if params.shape[0] > 3 else r.rho
    return d, jax.nn.sigmoid(rho * (params[0] - d)), jax.nn.sigmoid(-rho * (params[1] - d))


def _from_theta_rho(theta):
    """eps+, eps- and rho (model.rho=learn: vi_od.models.pooled.rho_from_theta)."""
    return jnp.concatenate([eps_from_theta(theta[..., :2]), rho_from_theta(theta[..., 2:])], -1)


def make_model(learn_rho: bool = False) -> Model:
    """BCM-U with rho fixed (the data's: tabulated likelihoods, O(1) per evaluation) or learned
    (a third parameter: sums over the interactions, O(M) per evaluation)."""
    if learn_rho:
        names, from_theta = (*NAMES, "rho"), _from_theta_rho
        ll, table = _exact_log_likelihoods, replayed
    else:
        names, from_theta, ll, table = NAMES, eps_from_theta, _log_likelihoods, tabulate
    P = len(names)
    return Model(
        name="bcm-backfire",
        param_names=names,
        discrete_names=(LATENT,),
        scored=NAMES,
        truth_names=(*NAMES, LATENT),
        from_theta=from_theta,
        relaxed=Relaxed(
            table=table, model=partial(_relaxed, ll, from_theta, P),
            exact=lambda obs: (partial(_relaxed, _exact_log_likelihoods, from_theta, P),
                               replayed(obs)),
            unpack=partial(_unpack, from_theta, P), table_bytes=_table_bytes,
            start=partial(_relaxed_start, ll, table, from_theta, P),
        ),  # fmt: skip
        collapsed=Collapsed(
            table=table, model=partial(collapsed, ll, from_theta, P), table_bytes=_table_bytes,
            complete=partial(_complete, ll), start=partial(_start, ll, P),
        ),  # fmt: skip
        simulator=Simulator(
            observe=observe,
            counts=partial(_counts, deterministic=False),
            rule_counts=lambda p, z, obs: _counts(jax.random.PRNGKey(0), p, z, obs, True),
            binary=lambda obs: 1,
        ),
        simulation=Simulation(
            settings=Settings,
            from_config=settings_from_config,
            simulate=simulate_trace,
            experiment_key=lambda s: (s.N, s.T),
        ),
        check_truth=check_truth,
        statistics=_statistics,
        sbc=_sbc,
        prior_spec=_prior_spec,
        published=published_runs,
        labels=(r"$\varepsilon^+$", r"$\varepsilon^-$", *([r"$\rho$"] if learn_rho else []), "b"),
        ppc=PooledCheck(data=replayed, outcomes=_predicted, n_params=P + 1),
        rho_learned=None if learn_rho else partial(make_model, True),
        pointwise=None if learn_rho else POINTWISE,  # tabulated at the data's rho
    )


BCM_BACKFIRE = make_model()
