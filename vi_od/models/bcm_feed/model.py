"""BCM-I, feeds: a receiver is shown F senders, and only the first k of them act on it.

The journal version's interaction-rule variant (shared/reference/variants/README.md). Each
step draws E receivers v and, for each, a feed of F senders u_1..u_F (uniformly, with
replacement, as the journal's generator); only the first k act, through their mean opinion:
d = mean(x_u1..x_uk) - x_v. Then s+ ~ Bernoulli(sigmoid(rho (eps+ - |d|))), s- ~
Bernoulli(sigmoid(-rho (eps- - |d|))) (or the hard rules |d| < eps+, |d| > eps- with
`simulator.deterministic`, the journal's generator) and x_v += mu+ s+ d - mu- s- d, the
updates of one step summed per receiver, clipped to [0, 1]. Unknowns: eps+, eps- and k in
1..F, one k for the whole log; mu+ and mu- are known.

Observed: every opinion before each interaction and the whole feed (a trace's X and
`extra_feed`, or an event log's sender_j / sender_opinion_j columns: `settings.COLUMNS`). So
each k gives its own |d_k| per interaction, and log p(s | eps, k) = l_k(eps) is a pooled BCM
likelihood. All F are tabulated at once as the per-agent tables of `bcm_roles.relaxed` with
k in the agent's place (O(F) per evaluation, whatever the log's size). The exact view sums k
out under its uniform prior, logsumexp_k(l_k - log F), and draws k back from softmax_k(l_k);
the relaxed view is the journal's: w = softmax(theta_k / temperature) over F normal logits,
and the likelihood sum_k w_k l_k, exact at a one-hot w. abc and abc-smc replay the opinions
from X[0] with the recorded receivers and feeds (as the journal's pyABC runs) and compare the
per-step numbers of positive and negative interactions; they draw k through one more N(0, 1)
theta, k = 1 + floor(F Phi(theta)), uniform on 1..F.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.scipy.special import ndtr

from vi_od import __version__
from vi_od.data.observations import Observations
from vi_od.data.trace import Trace
from vi_od.errors import ViOdError
from vi_od.models import Collapsed, Model, Relaxed, Simulation, Simulator
from vi_od.models.bcm_feed.settings import (
    COLUMNS,
    EPS_MINUS_GRID,
    EPS_PLUS_GRID,
    FEED,
    FEED_OPINION,
    Settings,
    check_truth,
    settings_from_config,
)
from vi_od.models.bcm_roles.relaxed import Interactions, bernoulli_logit_loglik, likelihood_table
from vi_od.models.pooled import (
    as_pair,
    eps_from_theta,
    per_draw,
    pooled_bytes,
    rho_from_theta,
    sbc_start,
)

NAMES = ("eps_plus", "eps_minus")
LATENT = "k"


class Truth(NamedTuple):
    eps: tuple[float, float]
    k: int


def draw_design(settings: Settings, seed: int) -> Truth:
    """The experiment's unset values, drawn from the journal's design by the seed."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xFEED]))
    eps = (float(rng.choice(EPS_PLUS_GRID)), float(rng.choice(EPS_MINUS_GRID)))
    k = int(rng.integers(1, settings.feed_size + 1))
    return Truth(eps=settings.eps or eps, k=settings.k or k)


def _step(X, key, v, feed, eps, k, mu_plus, mu_minus, rho, deterministic: bool):
    """One step: each receiver v moves by the mean of its feed's first k opinions."""
    acts = jnp.arange(feed.shape[1]) < k
    d = jnp.sum(X[feed] * acts, axis=1) / k - X[v]
    if deterministic:
        s_plus, s_minus = jnp.abs(d) < eps[0], jnp.abs(d) > eps[1]
    else:
        k_plus, k_minus = jax.random.split(key)
        s_plus = jax.random.bernoulli(k_plus, jax.nn.sigmoid(rho * (eps[0] - jnp.abs(d))))
        s_minus = jax.random.bernoulli(k_minus, jax.nn.sigmoid(-rho * (eps[1] - jnp.abs(d))))
    delta = (mu_plus * s_plus - mu_minus * s_minus) * d
    return jnp.clip(X.at[v].add(delta), 0.0, 1.0), s_plus, s_minus


def _run(key, X0, v, feed, eps, k, mu_plus, mu_minus, rho, deterministic: bool):
    """(X after each step, s+, s-) of the dynamics on given receivers and feeds."""
    keys = jax.random.split(key, v.shape[0])

    def step(X, inputs):
        key_t, v_t, feed_t = inputs
        X_next, s_plus, s_minus = _step(X, key_t, v_t, feed_t, eps, k, mu_plus, mu_minus, rho,
                                        deterministic)  # fmt: skip
        return X_next, (X_next, s_plus, s_minus)

    return jax.lax.scan(step, X0, (keys, v, feed))[1]


@partial(jax.jit, static_argnames=("N", "T", "E", "F", "deterministic"))
def _simulate(key, eps, k, mu_plus, mu_minus, rho, *, N, T, E, F, deterministic):
    k_x0, k_v, k_feed, k_out = jax.random.split(key, 4)
    X0 = jax.random.uniform(k_x0, (N,), jnp.float32)
    v = jax.random.randint(k_v, (T - 1, E), 0, N, jnp.int32)
    feed = jax.random.randint(k_feed, (T - 1, E, F), 0, N, jnp.int32)
    X, s_plus, s_minus = _run(k_out, X0, v, feed, eps, k, mu_plus, mu_minus, rho, deterministic)
    return jnp.concatenate([X0[None], X]), v, feed, s_plus, s_minus


def simulate_trace(settings: Settings, seed: int, truth: Truth | None = None, meta=None) -> Trace:
    """A Trace of BCM-I with its truth [eps+, eps-, k] (unset values drawn by the seed): u is
    each feed's first sender, `extra_feed` (T-1, E, F-1) the rest in order."""
    truth = truth or draw_design(settings, seed)
    f32 = jnp.float32
    X, v, feed, s_plus, s_minus = jax.device_get(_simulate(
        jax.random.PRNGKey(seed), jnp.asarray(truth.eps, f32), truth.k, f32(settings.mu_plus),
        f32(settings.mu_minus), f32(settings.rho), N=settings.N, T=settings.T,
        E=settings.edges_per_step, F=settings.feed_size, deterministic=settings.deterministic,
    ))  # fmt: skip
    simulator = {k: getattr(settings, k) for k in settings.__dataclass_fields__}
    simulator["eps"] = None if settings.eps is None else list(settings.eps)
    feed = np.asarray(feed)
    return Trace(
        X=np.asarray(X), u=feed[:, :, 0], v=np.asarray(v),
        s_plus=np.asarray(s_plus, np.int8), s_minus=np.asarray(s_minus, np.int8),
        mu_plus=np.asarray(as_pair(settings.mu_plus), np.float32),
        mu_minus=np.asarray(as_pair(settings.mu_minus), np.float32), rho=float(settings.rho),
        eps=np.asarray([*truth.eps, truth.k], np.float32),
        meta={"seed": seed, "model": "bcm-feed", "simulator": simulator,
              "vi_od_version": __version__, **(meta or {})},
        extra={FEED: feed[:, :, 1:]},
    )  # fmt: skip


# --- the F candidate distances and the likelihood ---------------------------------------------


def feed_opinions(obs: Observations) -> np.ndarray:
    """(M, F) the feed's opinions in order: the sender's, then the later senders'."""
    COLUMNS.check(obs, "the data")
    later = obs.extra.get(FEED_OPINION)
    if later is None:  # a trace: every opinion at every step
        later = obs.trace.X[obs.time[:, None], obs.extra[FEED]]
    return np.concatenate([obs.sender_opinion[:, None], later], axis=1).astype(np.float32)


class Feeds(NamedTuple):
    """|d_k| of every interaction under the candidates k (all of 1..F, or those `prune`
    keeps), and the outcomes."""

    abs_diff: jax.Array  # (K, M)
    s_plus: jax.Array  # (M,)
    s_minus: jax.Array  # (M,)
    rho: float
    ks: jax.Array  # (K,) the candidates' k


def feeds(obs: Observations) -> Feeds:
    """The F candidate |d_k| = |mean of the first k opinions - x_v| of every interaction."""
    obs.require_interactions()
    x = feed_opinions(obs)
    means = np.cumsum(x, axis=1, dtype=np.float64) / np.arange(1, x.shape[1] + 1)
    d = np.abs(means - obs.receiver_opinion[:, None]).T.astype(np.float32)
    f32 = lambda a: jnp.asarray(a, jnp.float32)
    ks = jnp.arange(1, d.shape[0] + 1, dtype=jnp.int32)
    return Feeds(jnp.asarray(d), f32(obs.s_plus), f32(obs.s_minus), float(obs.rho), ks)


PRUNE_NATS = 50.0  # candidates this far below the best k's best fit at the data's rho are left out


def pruned_feeds(obs: Observations) -> Feeds:
    """The candidates of rho learned: every k whose best log-likelihood over a grid of (eps+,
    eps-) at the data's rho is within PRUNE_NATS of the best k's. A k left out has under
    e^-50 of the posterior there; keeping the rest makes the O(K M) sums of rho learned
    about as cheap as one candidate's, as k is usually one or two (measured: 59 of 60 on the
    journal's design have the right k at rho = 32)."""
    f, table = feeds(obs), tabulate(obs)
    plus, minus = jnp.linspace(0.01, 0.49, START_GRID), jnp.linspace(0.51, 0.99, START_GRID)
    points = jnp.stack([g.ravel() for g in jnp.meshgrid(plus, minus, indexing="ij")], axis=1)
    best = jnp.max(jax.lax.map(lambda p: _log_likelihoods(p, table), points), axis=0)
    keep = np.flatnonzero(np.asarray(best) >= float(best.max()) - PRUNE_NATS)
    return f._replace(abs_diff=f.abs_diff[keep], ks=f.ks[keep])


def tabulate(obs: Observations):
    """l_k(eps) of every k tabulated at once: the F candidates as the agents of one table."""
    f = feeds(obs)
    F, M = f.abs_diff.shape
    return likelihood_table(Interactions(
        abs_diff=f.abs_diff.ravel(), receiver=jnp.repeat(jnp.arange(F, dtype=jnp.int32), M),
        s_plus=jnp.tile(f.s_plus, F), s_minus=jnp.tile(f.s_minus, F), N=F, rho=f.rho,
    ))  # fmt: skip


def _log_likelihoods(params, table) -> jax.Array:
    """(F,) l_k(eps) from the tables, O(F)."""
    from vi_od.models.bcm_roles.relaxed import hermite_shared

    return hermite_shared(table.plus, params[0])[0] + hermite_shared(table.minus, params[1])[0]


def _exact_log_likelihoods(params, f: Feeds) -> jax.Array:
    """(F,) l_k summed over the interactions; rho is params[2] when it is learned. O(F M)."""
    rho = params[2] if params.shape[-1] > 2 else f.rho
    plus = bernoulli_logit_loglik(rho * (params[0] - f.abs_diff), f.s_plus)
    minus = bernoulli_logit_loglik(-rho * (params[1] - f.abs_diff), f.s_minus)
    return jnp.sum(plus + minus, axis=1)


def _params(from_theta, P: int, extra: int = 0):
    theta = numpyro.sample("theta", dist.Normal(0.0, 1.0).expand([P + extra]).to_event(1))
    return theta, from_theta(theta[:P])


def collapsed(log_likelihoods, from_theta, P, data, *_, **__) -> None:
    """theta ~ N(0, 1)^P, k ~ Uniform(1..F) summed out: logsumexp_k(l_k) - log F (over the
    candidates kept, with rho learned: the constant moves nothing)."""
    _, params = _params(from_theta, P)
    numpyro.deterministic("params", params)
    ll = log_likelihoods(params, data)
    numpyro.factor("likelihood", jax.nn.logsumexp(ll) - jnp.log(ll.shape[0]))


def _complete(log_likelihoods, key, params, data):
    """k drawn for every sample from P(k | params, s) = softmax_k(l_k)."""
    ll = per_draw(log_likelihoods, params, data)
    ks = data.ks if isinstance(data, Feeds) else jnp.arange(1, ll.shape[1] + 1)
    k = ks[jax.random.categorical(key, ll, axis=1)]
    return jnp.concatenate([params, k[:, None].astype(params.dtype)], axis=1)


def _n_feed(data) -> int:
    """F, from a table (F agents) or the exact arrays (F, M)."""
    return data.abs_diff.shape[0] if isinstance(data, Feeds) else data.plus.value.shape[1]


def _relaxed(log_likelihoods, from_theta, P, data, temperature=0.1) -> None:
    """theta ~ N(0, 1)^(P+F), w = softmax(theta[P:] / temperature) (the journal's relaxed
    one-hot k): sum_k w_k l_k."""
    F = _n_feed(data)
    theta, params = _params(from_theta, P, extra=F)
    w = jax.nn.softmax(theta[P:] / temperature)
    numpyro.factor("likelihood", jnp.sum(w * log_likelihoods(params, data)))


def _unpack(from_theta, P, sites: dict):
    """Parameters, then k = 1 + the relaxed one-hot's argmax."""
    theta = sites["theta"]
    k = jnp.argmax(theta[..., P:], axis=-1) + 1
    return jnp.concatenate([from_theta(theta[..., :P]), k[..., None].astype(theta.dtype)], -1), None


START_GRID = 25  # eps+ and eps- values the start's grid search tries, each
START_RHO = (8.0, 32.0, 128.0)  # and rho values, when rho is learned (a coarser eps grid)


def _start(log_likelihoods, P, data):
    """theta at the best point of a grid over (eps+, eps-[, rho]) of the collapsed likelihood:
    each k has its own mode, and a sampler started mid-range can stay in a wrong k's."""
    n = START_GRID if P == 2 else 9
    plus, minus = jnp.linspace(0.01, 0.49, n), jnp.linspace(0.51, 0.99, n)
    axes = [plus, minus] + ([jnp.asarray(START_RHO)] if P > 2 else [])
    points = jnp.stack([g.ravel() for g in jnp.meshgrid(*axes, indexing="ij")], axis=1)
    score = jax.lax.map(lambda p: jax.nn.logsumexp(log_likelihoods(p, data)), points)
    best = points[jnp.argmax(score)]
    theta = [jnp.log(2 * best[0] / (1 - 2 * best[0])), jnp.log((best[1] - 0.5) / (1 - best[1]))]
    if P > 2:  # rho = 4 * 64^sigmoid(theta)
        s = jnp.log(best[2] / 4.0) / jnp.log(64.0)
        theta.append(jnp.log(s / (1 - s)))
    return jnp.stack(theta)


def _feed_size(obs: Observations) -> int:
    return 1 + obs.extra[FEED].shape[1] if FEED in obs.extra else 1


def _table_bytes(obs: Observations) -> float:
    F = _feed_size(obs)
    return pooled_bytes(F * obs.M, obs.rho) + 4 * F * obs.M * 4


# --- forward simulation for abc / abc-smc -----------------------------------------------------


class Observed(NamedTuple):
    """What every simulation replays (from X[0], as the journal's ABC) and is compared with."""

    X0: jax.Array  # (N,)
    v: jax.Array  # (T-1, E) receivers
    feed: jax.Array  # (T-1, E, F) their feeds, in order
    mu_plus: jax.Array  # ()
    mu_minus: jax.Array  # ()
    rho: jax.Array  # ()
    summary: jax.Array  # (T-1, 2) positive and negative interactions per step


def observe(obs: Observations) -> Observed:
    trace = obs.trace
    if trace is None:
        raise ViOdError("abc on model bcm-feed re-simulates a dense trace: give a .npz trace")
    COLUMNS.check(obs, "the data")
    feed = np.concatenate([trace.u[..., None], trace.extra[FEED]], axis=2)
    summary = np.stack([trace.s_plus.sum(axis=1), trace.s_minus.sum(axis=1)], axis=1)
    return Observed(
        X0=jnp.asarray(trace.X[0], jnp.float32), v=jnp.asarray(trace.v, jnp.int32),
        feed=jnp.asarray(feed, jnp.int32), mu_plus=jnp.float32(trace.mu_plus[0]),
        mu_minus=jnp.float32(trace.mu_minus[0]), rho=jnp.float32(trace.rho),
        summary=jnp.asarray(summary, jnp.int32),
    )  # fmt: skip


def k_from_theta(theta, obs: Observed) -> jax.Array:
    """(1,) k = 1 + floor(F Phi(theta)): uniform on 1..F under theta ~ N(0, 1), k's prior."""
    F = obs.feed.shape[-1]
    k = 1 + jnp.floor(F * ndtr(theta)).astype(jnp.int32)
    return jnp.minimum(k, F)  # Phi rounds to 1 past theta ~ 5.3 (float32)


def _counts(key, params, z, obs: Observed, deterministic: bool):
    """Per-step s+ and s- counts of one simulation from X0 with eps = params[:2] (and rho =
    params[2] when it is learned), k = z[0]."""
    rho = params[2] if params.shape[-1] > 2 else obs.rho
    _, s_plus, s_minus = _run(key, obs.X0, obs.v, obs.feed, params[:2], z[0], obs.mu_plus,
                              obs.mu_minus, rho, deterministic)  # fmt: skip
    return s_plus.sum(axis=1, dtype=jnp.int32), s_minus.sum(axis=1, dtype=jnp.int32)


SIMULATOR = Simulator(
    observe=observe,
    counts=partial(_counts, deterministic=False),
    rule_counts=lambda p, z, obs: _counts(jax.random.PRNGKey(0), p, z, obs, True),
    binary=lambda obs: 0,
    extra_thetas=1,
    latents_from_theta=k_from_theta,
)


# --- checks ----------------------------------------------------------------------------------


def _statistics(settings: dict, trace, prior: bool) -> dict:
    out = {"E": settings["edges_per_step"], "feed_size": settings["feed_size"]}
    if trace is not None:
        out["var_X_final"] = float(np.var(trace.X[-1]))
    return out


def _prior_spec(method: str, settings: dict) -> dict:
    return {"draw": "prior", "eps": "sigmoid(N(0, 1)) / 2 + [0, 1/2]", "k": "uniform 1..F"}


def _sbc(simulator: dict, spec: dict, seed: int) -> Trace:
    """A trace whose eps and k are drawn from the methods' prior."""
    settings, rng = sbc_start(Settings, simulator, seed)
    eps = tuple(float(e) for e in eps_from_theta(jnp.asarray(rng.standard_normal(2))))
    truth = Truth(eps=eps, k=int(rng.integers(1, settings.feed_size + 1)))
    return simulate_trace(settings, seed, truth, {"truth": spec})


def published_runs():
    """The journal version's every BCM-I run (shared/reference/variants), in our row form:
    its pyABC SMC runs are our abc-smc's counterpart; k right = its k estimate is the truth."""
    from importlib import resources

    import pandas as pd

    with resources.files("vi_od.models.bcm_feed").joinpath("journal_runs.csv").open() as f:
        runs = pd.read_csv(f)
    runs["method"] = runs["method"].replace({"abc": "abc-smc"})
    runs["k_right"] = runs["argmax_samples_feed"] == runs["obs_f"]
    runs["model"], runs["status"] = "bcm-feed", "ok"
    runs["feed_size"], runs["k"] = runs["max_f_possible"], runs["obs_f"]
    runs["est_k"], runs["rel_error_k"] = runs["argmax_samples_feed"], runs["rel_error_f"]
    return runs[["model", "method", "rep", "N", "T", "feed_size", "k", "est_k", "rmse_eps",
                 "k_right", "rel_error_k", "wall_time_s", "status"]]  # fmt: skip


def _from_theta_rho(theta):
    """eps+, eps- and rho (model.rho=learn: vi_od.models.pooled.rho_from_theta)."""
    return jnp.concatenate([eps_from_theta(theta[..., :2]), rho_from_theta(theta[..., 2:])], -1)


def make_model(learn_rho: bool = False) -> Model:
    """BCM-I with rho fixed (the data's: one table of the F candidates, O(F) per evaluation)
    or learned (a third parameter: sums over the interactions, O(F M) per evaluation)."""
    if learn_rho:
        names, from_theta = (*NAMES, "rho"), _from_theta_rho
        ll, table = _exact_log_likelihoods, pruned_feeds
    else:
        names, from_theta, ll, table = NAMES, eps_from_theta, _log_likelihoods, tabulate
    P = len(names)
    return Model(
        name="bcm-feed",
        param_names=names,
        discrete_names=(LATENT,),
        scored=NAMES,
        truth_names=(*NAMES, LATENT),
        from_theta=from_theta,
        relaxed=Relaxed(  # every candidate: the relaxed one-hot's position is k
            table=feeds if learn_rho else table, model=partial(_relaxed, ll, from_theta, P),
            exact=lambda obs: (partial(_relaxed, _exact_log_likelihoods, from_theta, P),
                               feeds(obs)),
            unpack=partial(_unpack, from_theta, P), table_bytes=_table_bytes,
        ),  # fmt: skip
        collapsed=Collapsed(
            table=table, model=partial(collapsed, ll, from_theta, P), table_bytes=_table_bytes,
            complete=partial(_complete, ll), start=partial(_start, ll, P),
        ),  # fmt: skip
        simulator=SIMULATOR,
        simulation=Simulation(
            settings=Settings,
            from_config=settings_from_config,
            simulate=simulate_trace,
            experiment_key=lambda s: (s.N, s.T, s.feed_size),
        ),
        columns=COLUMNS,
        check_truth=check_truth,
        statistics=_statistics,
        sbc=_sbc,
        prior_spec=_prior_spec,
        published=published_runs,
        rho_learned=None if learn_rho else partial(make_model, True),
    )


BCM_FEED = make_model()
