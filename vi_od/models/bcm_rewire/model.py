"""BCM-G, rewiring: opinion updates and edge cuts on a graph that changes.

The journal version's graph-rule variant (shared/reference/variants/README.md). Agents sit
on an Erdos-Renyi graph G(N, p) (connected, drawn by the seed). Each step draws E pairs: u
uniformly, v a uniform neighbour of u. Each pair is an opinion update with probability q,
else a rewiring event (per pair, as the journal's generator). An opinion update draws s+ ~
Bernoulli(sigmoid(rho (eps+ - |d|))), s- ~ Bernoulli(sigmoid(-rho (eps- - |d|))) (or the hard
rules with `simulator.deterministic`, the journal's generator) and moves x_v += mu+ s+ d -
mu- s- d, d = x_u - x_v, summed per receiver, clipped to [0, 1]. A rewiring event cuts the
edge with probability sigmoid(4 (|d| - beta)) and replaces it so that every degree stays:
a random edge (c, w) is swapped, (u, v), (c, w) -> (u, w), (c, v) (the journal's double
swap; when 8 random draws give no valid swap the edge stays). Unknowns: eps+, eps-, beta.

Observed: every opinion before each event, the pairs, each event's kind and outcome (s+ and
s- of an update, the cut of a rewiring: `settings.COLUMNS`). The graph only chooses the
pairs, which are observed, so the likelihood does not need it: log p = P(eps+) + Q(eps-)
over the updates (the pooled BCM tables) + C(beta) over the rewiring events, C tabulated
the same way (|d| / 2 and beta / 2 on the eps+ range, rho 8). No discrete latent: the exact
and the relaxed views are one likelihood, so every method applies.
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
from vi_od.models.bcm_rewire.settings import (
    BETA_GRID,
    COLUMNS,
    CUT,
    EPS_MINUS_GRID,
    EPS_PLUS_GRID,
    REWIRE,
    RHO_CUT,
    Settings,
    check_truth,
    settings_from_config,
)
from vi_od.models.bcm_roles.relaxed import bernoulli_logit_loglik
from vi_od.models.pooled import (
    as_pair,
    exact_minus,
    exact_plus,
    minus_part,
    plus_part,
    pooled_bytes,
    pooled_table,
    rho_from_theta,
    sbc_start,
)

NAMES = ("eps_plus", "eps_minus", "beta")
SWAP_TRIES = 8  # random edges tried for each cut's degree-preserving swap


def params_from_theta(theta):
    """eps+ = sigmoid / 2, eps- = sigmoid / 2 + 1/2, beta = sigmoid (the journal's)."""
    return jax.nn.sigmoid(theta) * jnp.array([0.5, 0.5, 1.0]) + jnp.array([0.0, 0.5, 0.0])


class Truth(NamedTuple):
    eps: tuple[float, float]
    beta: float


def draw_design(settings: Settings, seed: int) -> Truth:
    """The experiment's unset values, drawn from the journal's design by the seed."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x6EA]))
    eps = (float(rng.choice(EPS_PLUS_GRID)), float(rng.choice(EPS_MINUS_GRID)))
    beta = float(rng.choice(BETA_GRID))
    return Truth(eps=settings.eps or eps, beta=beta if settings.beta is None else settings.beta)


def erdos_renyi(N: int, p: float, seed: int) -> np.ndarray:
    """(N, N) bool adjacency of a connected G(N, p), redrawn until connected (the journal's)."""
    from scipy.sparse.csgraph import connected_components

    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x6A]))
    for _ in range(1000):
        upper = np.triu(rng.random((N, N)) < p, k=1)
        A = upper | upper.T
        if connected_components(A, directed=False)[0] == 1:
            return A
    raise ViOdError(f"simulator.graph_p={p}: no connected G(N={N}, p) in 1000 draws; raise it")


def _swap(A, degree, key, a, b):
    """A with the edge (a, b) swapped against a random edge (c, w): (a, w) and (c, b) added."""
    k_c, k_w = jax.random.split(key)
    c = jax.random.categorical(k_c, jnp.log(degree), shape=(SWAP_TRIES,))
    w = jax.random.categorical(k_w, jnp.where(A[c], 0.0, -jnp.inf))
    valid = (c != a) & (c != b) & (w != a) & (w != b) & ~A[a, w] & ~A[c, b] & A[a, b]
    j = jnp.argmax(valid)
    c, w = c[j], w[j]
    new = A.at[a, b].set(False).at[b, a].set(False).at[c, w].set(False).at[w, c].set(False)
    new = new.at[a, w].set(True).at[w, a].set(True).at[c, b].set(True).at[b, c].set(True)
    return jnp.where(valid[j], new, A)


def _outcomes(key, d, eps, rho, deterministic: bool):
    if deterministic:
        return jnp.abs(d) < eps[0], jnp.abs(d) > eps[1]
    k_plus, k_minus = jax.random.split(key)
    s_plus = jax.random.bernoulli(k_plus, jax.nn.sigmoid(rho * (eps[0] - jnp.abs(d))))
    s_minus = jax.random.bernoulli(k_minus, jax.nn.sigmoid(-rho * (eps[1] - jnp.abs(d))))
    return s_plus, s_minus


def _events(key, X, u, v, rewire, params, mu_plus, mu_minus, rho, deterministic: bool):
    """One step's outcomes on given pairs and kinds: (X after, s+, s-, cut)."""
    k_s, k_cut = jax.random.split(key)
    d = X[u] - X[v]
    s_plus, s_minus = _outcomes(k_s, d, params[:2], rho, deterministic)
    update = ~rewire
    s_plus, s_minus = s_plus & update, s_minus & update
    cut = rewire & jax.random.bernoulli(k_cut, jax.nn.sigmoid(RHO_CUT * (jnp.abs(d) - params[2])))
    delta = (mu_plus * s_plus - mu_minus * s_minus) * d
    return jnp.clip(X.at[v].add(delta), 0.0, 1.0), s_plus, s_minus, cut


@partial(jax.jit, static_argnames=("T", "E", "deterministic"))
def _simulate(key, A, X0, params, q, mu_plus, mu_minus, rho, *, T, E, deterministic):
    degree = A.sum(axis=1).astype(jnp.float32)
    N = X0.shape[0]

    def step(carry, key_t):
        X, A = carry
        k_u, k_v, k_kind, k_out, k_swap = jax.random.split(key_t, 5)
        u = jax.random.randint(k_u, (E,), 0, N, jnp.int32)
        v = jax.random.categorical(k_v, jnp.where(A[u], 0.0, -jnp.inf)).astype(jnp.int32)
        rewire = ~jax.random.bernoulli(k_kind, q, (E,))
        X_next, s_plus, s_minus, cut = _events(k_out, X, u, v, rewire, params, mu_plus,
                                               mu_minus, rho, deterministic)  # fmt: skip

        def one(A, inputs):
            k, a, b, c = inputs
            return jnp.where(c, _swap(A, degree, k, a, b), A), None

        A_next, _ = jax.lax.scan(one, A, (jax.random.split(k_swap, E), u, v, cut))
        return (X_next, A_next), (X_next, u, v, s_plus, s_minus, rewire, cut)

    (_, A_last), out = jax.lax.scan(step, (X0, A), jax.random.split(key, T - 1))
    X = jnp.concatenate([X0[None], out[0]])
    return (X, *out[1:], A_last)


def simulate_trace(settings: Settings, seed: int, truth: Truth | None = None, meta=None) -> Trace:
    """A Trace of BCM-G with its truth [eps+, eps-, beta]; `extra_rewire` and `extra_cut`
    (T-1, E) each event's kind and outcome; meta the graph's edge counts."""
    truth = truth or draw_design(settings, seed)
    A = erdos_renyi(settings.N, settings.graph_p, seed)
    f32 = jnp.float32
    k_x0, k_run = jax.random.split(jax.random.PRNGKey(seed))
    X0 = jax.random.uniform(k_x0, (settings.N,), f32)
    X, u, v, s_plus, s_minus, rewire, cut, A_last = jax.device_get(_simulate(
        k_run, jnp.asarray(A), X0, jnp.asarray([*truth.eps, truth.beta], f32), f32(settings.q),
        f32(settings.mu_plus), f32(settings.mu_minus), f32(settings.rho), T=settings.T,
        E=settings.edges_per_step, deterministic=settings.deterministic,
    ))  # fmt: skip
    simulator = {k: getattr(settings, k) for k in settings.__dataclass_fields__}
    simulator["eps"] = None if settings.eps is None else list(settings.eps)
    graph = {"edges": int(A.sum()) // 2, "edges_last": int(A_last.sum()) // 2,
             "edges_changed": int((A & ~A_last).sum()) // 2}  # fmt: skip
    return Trace(
        X=np.asarray(X), u=np.asarray(u), v=np.asarray(v),
        s_plus=np.asarray(s_plus, np.int8), s_minus=np.asarray(s_minus, np.int8),
        mu_plus=np.asarray(as_pair(settings.mu_plus), np.float32),
        mu_minus=np.asarray(as_pair(settings.mu_minus), np.float32), rho=float(settings.rho),
        eps=np.asarray([*truth.eps, truth.beta], np.float32),
        meta={"seed": seed, "model": "bcm-rewire", "simulator": simulator, "graph": graph,
              "vi_od_version": __version__, **(meta or {})},
        extra={REWIRE: np.asarray(rewire, np.int8), CUT: np.asarray(cut, np.int8)},
    )  # fmt: skip


# --- the likelihood ---------------------------------------------------------------------------


class Events(NamedTuple):
    """The updates' |d| and s+ / s-, and the rewiring events' |d| and cuts."""

    update_diff: jax.Array
    s_plus: jax.Array
    s_minus: jax.Array
    rewire_diff: jax.Array
    cut: jax.Array
    rho: float


def events(obs: Observations) -> Events:
    obs.require_interactions()
    COLUMNS.check(obs, "the data")
    rewire = obs.extra[REWIRE] == 1
    d = obs.abs_diff
    f32 = lambda a: jnp.asarray(a, jnp.float32)
    return Events(f32(d[~rewire]), f32(obs.s_plus[~rewire]), f32(obs.s_minus[~rewire]),
                  f32(d[rewire]), f32(obs.extra[CUT][rewire]), float(obs.rho))  # fmt: skip


class Tables(NamedTuple):
    updates: object  # LikelihoodTable of the opinion updates: P(eps+), Q(eps-)
    cuts: object  # LikelihoodTable whose plus part is C(beta) at beta / 2


def tabulate(obs: Observations) -> Tables:
    """P, Q over the updates and C over the rewiring events, O(1) per evaluation. C(beta) =
    sum log Bernoulli(cut | sigmoid(4 (|d| - beta))) = sum log Bernoulli(1 - cut |
    sigmoid(8 (beta / 2 - |d| / 2))): the eps+ table's form on [0, 1/2]."""
    e = events(obs)
    half, no = e.rewire_diff / 2, jnp.zeros_like(e.rewire_diff)
    return Tables(pooled_table(e.update_diff, e.s_plus, e.s_minus, e.rho),
                  pooled_table(half, 1.0 - e.cut, no, 2 * RHO_CUT))  # fmt: skip


def _log_likelihood(params, tables: Tables) -> jax.Array:
    return (plus_part(tables.updates, params[0]) + minus_part(tables.updates, params[1])
            + plus_part(tables.cuts, params[2] / 2))  # fmt: skip


def _exact_log_likelihood(params, e: Events) -> jax.Array:
    """The same summed over the events, O(M); rho is params[3] when it is learned."""
    rho = params[3] if params.shape[-1] > 3 else e.rho
    cut = jnp.sum(bernoulli_logit_loglik(RHO_CUT * (e.rewire_diff - params[2]), e.cut))
    return (exact_plus(params[0], e.update_diff, e.s_plus, rho)
            + exact_minus(params[1], e.update_diff, e.s_minus, rho) + cut)  # fmt: skip


def _model(log_likelihood, from_theta, P, data, *_, **__) -> None:
    """theta ~ N(0, 1)^P; one likelihood for both views (no discrete latent)."""
    theta = numpyro.sample("theta", dist.Normal(0.0, 1.0).expand([P]).to_event(1))
    params = from_theta(theta)
    numpyro.deterministic("params", params)
    numpyro.factor("likelihood", log_likelihood(params, data))


def _unpack(from_theta, sites: dict):
    return from_theta(sites["theta"]), None


def _table_bytes(obs: Observations) -> float:
    return 2 * pooled_bytes(obs.M, obs.rho) + 8 * obs.M


# --- forward simulation for abc / abc-smc: the observed pairs and kinds, replayed from X0 ------


class Observed(NamedTuple):
    X0: jax.Array
    u: jax.Array
    v: jax.Array
    rewire: jax.Array
    mu_plus: jax.Array
    mu_minus: jax.Array
    rho: jax.Array
    summary: jax.Array  # (T-1, 3) positive, negative and cut events per step


def observe(obs: Observations) -> Observed:
    trace = obs.trace
    if trace is None:
        raise ViOdError("abc on model bcm-rewire re-simulates a dense trace: give a .npz trace")
    COLUMNS.check(obs, "the data")
    cut = trace.extra[CUT]
    summary = np.stack([trace.s_plus.sum(1), trace.s_minus.sum(1), cut.sum(1)], axis=1)
    return Observed(
        X0=jnp.asarray(trace.X[0], jnp.float32), u=jnp.asarray(trace.u), v=jnp.asarray(trace.v),
        rewire=jnp.asarray(trace.extra[REWIRE] == 1), mu_plus=jnp.float32(trace.mu_plus[0]),
        mu_minus=jnp.float32(trace.mu_minus[0]), rho=jnp.float32(trace.rho),
        summary=jnp.asarray(summary, jnp.int32),
    )  # fmt: skip


def _counts(key, params, z, obs: Observed, deterministic: bool):
    """Per-step s+, s- and cut counts of one replay from X0 (rho = params[3] when learned)."""
    rho = params[3] if params.shape[-1] > 3 else obs.rho

    def step(X, inputs):
        k, u, v, rewire = inputs
        X_next, s_plus, s_minus, cut = _events(k, X, u, v, rewire, params, obs.mu_plus,
                                               obs.mu_minus, rho, deterministic)  # fmt: skip
        if deterministic:  # the rule of the cut, too
            cut = rewire & (jnp.abs(X[u] - X[v]) > params[2])
        counts = [a.sum(dtype=jnp.int32) for a in (s_plus, s_minus, cut)]
        return X_next, jnp.stack(counts)

    keys = jax.random.split(key, obs.u.shape[0])
    counts = jax.lax.scan(step, obs.X0, (keys, obs.u, obs.v, obs.rewire))[1]
    return counts[:, 0], counts[:, 1], counts[:, 2]


# --- checks ----------------------------------------------------------------------------------


def _statistics(settings: dict, trace, prior: bool) -> dict:
    out = {"E": settings["edges_per_step"], "q": settings["q"]}
    if trace is not None:
        out["var_X_final"] = float(np.var(trace.X[-1]))
        out["cuts"] = int(trace.extra[CUT].sum()) if CUT in trace.extra else None
    return out


def _prior_spec(method: str, settings: dict) -> dict:
    return {"draw": "prior", "eps": "sigmoid(N(0, 1)) / 2 + [0, 1/2]", "beta": "sigmoid(N(0, 1))"}


def _sbc(simulator: dict, spec: dict, seed: int) -> Trace:
    """A trace whose eps and beta are drawn from the methods' prior."""
    settings, rng = sbc_start(Settings, simulator, seed)
    p = [float(x) for x in params_from_theta(jnp.asarray(rng.standard_normal(3)))]
    return simulate_trace(settings, seed, Truth(eps=(p[0], p[1]), beta=p[2]), {"truth": spec})


def published_runs():
    """The journal version's every BCM-G run (shared/reference/variants), in our row form:
    rmse_eps is the RMSE of (eps+, eps-, beta), as our scored parameters; pyABC's SMC runs
    are our abc-smc's counterpart."""
    from importlib import resources

    import pandas as pd

    with resources.files("vi_od.models.bcm_rewire").joinpath("journal_runs.csv").open() as f:
        runs = pd.read_csv(f)
    runs["method"] = runs["method"].replace({"abc": "abc-smc"})
    runs["rmse_eps_only"] = runs["rmse_eps"]
    runs["rmse_eps"] = np.sqrt(runs["mse_params"])
    runs["model"], runs["status"] = "bcm-rewire", "ok"
    runs["eps_plus"], runs["eps_minus"] = runs["epsilon_plus_real"], runs["epsilon_minus_real"]
    runs["beta"], runs["est_beta"] = runs["beta_real"], runs["beta_mean"]
    return runs[["model", "method", "rep", "N", "T", "q", "eps_plus", "eps_minus", "beta",
                 "est_beta", "rmse_eps", "rmse_eps_only", "wall_time_s", "status"]]  # fmt: skip


def _from_theta_rho(theta):
    """eps+, eps-, beta and rho (model.rho=learn: vi_od.models.pooled.rho_from_theta)."""
    return jnp.concatenate([params_from_theta(theta[..., :3]), rho_from_theta(theta[..., 3:])], -1)


def make_model(learn_rho: bool = False) -> Model:
    """BCM-G with rho fixed (the data's: tables, O(1) per evaluation) or learned (a fourth
    parameter: sums over the events, O(M) per evaluation)."""
    if learn_rho:
        names, from_theta = (*NAMES, "rho"), _from_theta_rho
        ll, table = _exact_log_likelihood, events
    else:
        names, from_theta, ll, table = NAMES, params_from_theta, _log_likelihood, tabulate
    P = len(names)
    model = partial(_model, ll, from_theta, P)
    return Model(
        name="bcm-rewire",
        param_names=names,
        scored=NAMES,
        truth_names=NAMES,
        from_theta=from_theta,
        relaxed=Relaxed(
            table=table, model=model, table_bytes=_table_bytes,
            exact=lambda obs: (partial(_model, _exact_log_likelihood, from_theta, P),
                               events(obs)),
            unpack=partial(_unpack, from_theta),
        ),  # fmt: skip
        collapsed=Collapsed(table=table, model=model, table_bytes=_table_bytes),
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
            experiment_key=lambda s: (s.N, s.T, round(s.q * 1000)),
        ),
        columns=COLUMNS,
        check_truth=check_truth,
        statistics=_statistics,
        sbc=_sbc,
        prior_spec=_prior_spec,
        published=published_runs,
        rho_learned=None if learn_rho else partial(make_model, True),
    )


BCM_REWIRE = make_model()
