"""The BCM with roles with rho learned (`model.rho=learn`, docs/models/bcm-roles.md).

rho, the steepness of the interaction sigmoid, becomes a fifth parameter with the prior of
`vi_od.models.pooled.rho_from_theta` (4 to 256, median 32). The per-agent tables of
`relaxed.likelihood_table` then need a second axis: each agent's P_v(eps+, rho) and
Q_v(eps-, rho) are tabulated at RHO_NODES values of rho, log-spaced, each on an eps grid
fine enough for its own rho (`grid_size`), together with their derivatives in log rho,

    dP_v/d log rho = sum (w - sigmoid(z)) z,   z = rho (g - d),  w = s+ (P) or 1 - s- (Q),

which come in closed form from the same one pass over the interactions (the sums of
sigmoid(z), sigmoid(z)^2 and their d-weighted twins, `sigmoid_sums(weighted=True)`). An
evaluation is a cubic Hermite in eps at the two nodes around rho, then a cubic Hermite in
log rho between them: O(N) per evaluation, as with rho fixed, and within ~1e-5 of the sum
over the interactions per agent (tests/models/test_learned_rho.py).
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from vi_od.data.observations import Observations
from vi_od.models import Collapsed, Model, Relaxed
from vi_od.models.bcm_roles import EPS_NAMES, eps_from_theta, forward, sbc, validate_eps
from vi_od.models.bcm_roles.collapsed import role_marginal, role_posterior, sample_leader_share
from vi_od.models.bcm_roles.relaxed import (
    Interactions,
    _agent_sums,
    _assemble,
    _cubic,
    bernoulli_logit_loglik,
    grid_size,
    interactions,
    sigmoid_sums,
)
from vi_od.models.pooled import RHO_HIGH, RHO_LOW, rho_from_theta

RHO_NODES = 25  # log rho spacing 0.17: Hermite error ~1e-6 per interaction near its threshold
GRID_MULTIPLE = 128  # eps grids rounded up to a multiple of this: 4 shapes, 4 compiles
NAMES = (*EPS_NAMES, "rho")


class RhoHalf(NamedTuple):
    """One threshold's table (P on [0, 1/2] or Q on [1/2, 1]) at every rho node.

    Node j's G_j grid points are rows offset[j] .. offset[j] + G_j - 1 of each (rows, N)
    array: values f, steps f(g+1) - f(g) (0 on a node's last row), slopes h f'(g); then the
    same of D = df/d log rho.
    """

    value: jax.Array
    step: jax.Array
    slope: jax.Array
    d_value: jax.Array
    d_step: jax.Array
    d_slope: jax.Array
    offset: jax.Array  # (R,) int32
    cells: jax.Array  # (R,) int32, G_j - 1
    spacing: jax.Array  # (R,) eps grid step h_j
    low: jax.Array  # () the range's first point


class RhoTable(NamedTuple):
    """P_v and Q_v of every agent over (threshold, log rho)."""

    plus: RhoHalf
    minus: RhoHalf
    log_rho: jax.Array  # (R,) the nodes, evenly spaced

    @property
    def N(self) -> int:
        return self.plus.value.shape[1]


def rho_nodes() -> np.ndarray:
    """The rho values the table is computed at: log-spaced over the prior's range."""
    return np.geomspace(RHO_LOW, RHO_HIGH, RHO_NODES)


def node_grid(rho: float) -> int:
    """Grid points per threshold range at one node: `grid_size`, rounded up."""
    return -(-(grid_size(rho) - 1) // GRID_MULTIPLE) * GRID_MULTIPLE + 1


def rho_table(obs: Observations) -> RhoTable:
    """Tabulate every agent's P and Q at each rho node: O(M sum_j G_j), once per fit."""
    data = interactions(obs)
    receiver = np.asarray(data.receiver)
    # sum of w d per agent, w = s+ (P) and 1 - s- (Q): the rho derivative's linear part
    weighted_d = jax.ops.segment_sum(
        jnp.stack([data.s_plus, 1.0 - data.s_minus], 1) * data.abs_diff[:, None],
        data.receiver, num_segments=data.N,
    ).T  # fmt: skip
    parts = []
    for rho in rho_nodes():
        G = node_grid(rho)
        sums = sigmoid_sums(data.abs_diff, receiver, data.N, rho, 2 * G - 1, weighted=True)
        linear = _agent_sums(data.abs_diff, data.receiver, data.s_plus, data.s_minus,
                             jnp.float32(rho), N=data.N)  # fmt: skip
        parts.append(_node(sums, linear, weighted_d, jnp.float32(rho), G=G, h=0.5 / (G - 1)))
    return RhoTable(
        plus=_stack([p[0] for p in parts], low=0.0),
        minus=_stack([p[1] for p in parts], low=0.5),
        log_rho=jnp.asarray(np.log(rho_nodes()), jnp.float32),
    )


@partial(jax.jit, static_argnames=("G", "h"))
def _node(sums, linear, weighted_d, rho, *, G: int, h: float):
    """Both halves at one rho: (value, step, slope, D value, D step, D slope), each (G, N).

    With S = sum sigmoid(z), V = sum sigmoid (1 - sigmoid), W and U their d-weighted twins,
    A = sum w and B = sum w d: D(g) = rho (g A - B - g S + W) and
    D'(g) = rho (A - S) - rho^2 (g V - U).
    """
    table = _assemble(sums[..., :2], linear, rho, G=G, h=h)
    S, V = sums[..., 0], sums[..., 0] - sums[..., 1]
    W, U = sums[..., 2], sums[..., 2] - sums[..., 3]
    g = jnp.linspace(0.0, 1.0, 2 * G - 1)
    halves = []
    for half, first, A, B in ((table.plus, 0, linear[2], weighted_d[0]),
                              (table.minus, G - 1, linear[3], weighted_d[1])):  # fmt: skip
        cut = slice(first, first + G)
        gk, Sk, Vk, Wk, Uk = g[cut], S[:, cut], V[:, cut], W[:, cut], U[:, cut]
        D = rho * (gk * A[:, None] - B[:, None] - gk * Sk + Wk)
        slope = (rho * (A[:, None] - Sk) - rho**2 * (gk * Vk - Uk)) * h
        step = jnp.diff(D, axis=1)
        pad = lambda a: jnp.concatenate([a, jnp.zeros_like(a[:1])])  # steps: G - 1 -> G rows
        halves.append((half.value, pad(half.step), half.slope, D.T, pad(step.T), slope.T))
    return halves


def _stack(nodes: list, low: float) -> RhoHalf:
    """The nodes' tables, rows concatenated."""
    sizes = np.array([n[0].shape[0] for n in nodes])
    offset = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    columns = [jnp.concatenate([n[k] for n in nodes]) for k in range(6)]
    return RhoHalf(
        *columns,
        offset=jnp.asarray(offset, jnp.int32),
        cells=jnp.asarray(sizes - 1, jnp.int32),
        spacing=jnp.asarray(0.5 / (sizes - 1), jnp.float32),
        low=jnp.float32(low),
    )


def table_bytes(obs: Observations) -> float:
    """Peak memory of `rho_table`: 6 float32 per agent, grid point and node and range, the
    interactions' copies and one node's sums (16 bytes per agent and point)."""
    points = sum(node_grid(r) for r in rho_nodes())
    return 74.0 * obs.M + 48.0 * obs.N * points + 32.0 * obs.N * node_grid(RHO_HIGH)


def half_at(half: RhoHalf, x: jax.Array, log_rho: jax.Array, nodes: jax.Array) -> jax.Array:
    """(N,) f_v(x, rho) at a threshold x shared (()) or per agent ((N,)): cubic Hermite in x
    at the two nodes around log rho, then in log rho between them."""
    N = half.value.shape[1]
    spacing = nodes[1] - nodes[0]
    pos = (log_rho - nodes[0]) / spacing
    j = jnp.clip(jnp.floor(pos), 0, nodes.shape[0] - 2).astype(jnp.int32)
    u = pos - j
    agents = jnp.arange(N)

    def at_node(k):
        p = (x - half.low) / half.spacing[k]
        i = jnp.clip(jnp.floor(p), 0, half.cells[k] - 1).astype(jnp.int32)
        t = p - i
        row = jnp.broadcast_to(half.offset[k] + i, (N,))
        take = lambda a, r: a[r, agents]
        f = _cubic(take(half.value, row), take(half.step, row), take(half.slope, row),
                   take(half.slope, row + 1), t)  # fmt: skip
        D = _cubic(take(half.d_value, row), take(half.d_step, row), take(half.d_slope, row),
                   take(half.d_slope, row + 1), t)  # fmt: skip
        return f, D

    (f0, D0), (f1, D1) = at_node(j), at_node(j + 1)
    return _cubic(f0, f1 - f0, spacing * D0, spacing * D1, u)


def agent_log_likelihoods(params: jax.Array, data: RhoTable | Interactions) -> jax.Array:
    """(2, N): l_v under the followers' and the leaders' thresholds, params [F+, L+, F-, L-,
    rho]; from the table, or summed over the interactions (the reference)."""
    log_rho = jnp.log(params[4])
    if isinstance(data, RhoTable):
        at = lambda half, x: half_at(half, x, log_rho, data.log_rho)
        return jnp.stack([at(data.plus, params[k]) + at(data.minus, params[k + 2])
                          for k in (0, 1)])  # fmt: skip
    rows = []
    for k in (0, 1):
        terms = (bernoulli_logit_loglik(params[4] * (params[k] - data.abs_diff), data.s_plus)
                 + bernoulli_logit_loglik(-params[4] * (params[k + 2] - data.abs_diff),
                                          data.s_minus))  # fmt: skip
        rows.append(jax.ops.segment_sum(terms, data.receiver, num_segments=data.N))
    return jnp.stack(rows)


def agent_log_likelihoods_per_agent(eps_plus, eps_minus, rho, data: RhoTable | Interactions):
    """sum_v P_v(eps+_v, rho) + Q_v(eps-_v, rho), each agent at its own thresholds (N,)."""
    if isinstance(data, RhoTable):
        log_rho = jnp.log(rho)
        return jnp.sum(half_at(data.plus, eps_plus, log_rho, data.log_rho)
                       + half_at(data.minus, eps_minus, log_rho, data.log_rho))  # fmt: skip
    v = data.receiver
    return jnp.sum(bernoulli_logit_loglik(rho * (eps_plus[v] - data.abs_diff), data.s_plus)
                   + bernoulli_logit_loglik(-rho * (eps_minus[v] - data.abs_diff),
                                            data.s_minus))  # fmt: skip


def from_theta(theta: jax.Array) -> jax.Array:
    """eps as in the paper from theta[:4], rho = 4 * 64^sigmoid(theta[4])."""
    return jnp.concatenate([eps_from_theta(theta[..., :4]), rho_from_theta(theta[..., 4:5])], -1)


def collapsed_model(data: RhoTable | Interactions, pi_prior=(1.0, 4.0), pi_fixed=None) -> None:
    """theta ~ N(0, 1)^5 (eps and rho), pi as with rho fixed, roles summed out."""
    theta = numpyro.sample("theta", dist.Normal(0.0, 1.0).expand([5]).to_event(1))
    params = numpyro.deterministic("params", from_theta(theta))
    pi = sample_leader_share(pi_prior, pi_fixed)
    numpyro.factor("likelihood", role_marginal(agent_log_likelihoods(params, data), pi))


def leader_probability(params, pi, data: RhoTable | Interactions) -> jax.Array:
    """(N,) P(r_v = L | eps, rho, pi, s)."""
    return role_posterior(agent_log_likelihoods(params, data), pi)


def relaxed_model(data: RhoTable | Interactions, temperature: float = 0.1) -> None:
    """The paper's relaxed model with rho a parameter: theta ~ N(0, 1)^(N+5)."""
    theta = numpyro.sample("theta", dist.Normal(0.0, 1.0).expand([data.N + 5]).to_event(1))
    params = from_theta(theta[:5])
    roles = numpyro.sample(
        "roles", dist.RelaxedBernoulliLogits(temperature, logits=theta[5:]).to_event(1)
    )
    eps_plus = roles * params[1] + (1 - roles) * params[0]
    eps_minus = roles * params[3] + (1 - roles) * params[2]
    numpyro.factor("likelihood",
                   agent_log_likelihoods_per_agent(eps_plus, eps_minus, params[4], data))


def _relaxed_over_arrays(arrays, temperature: float, *, N: int) -> None:
    relaxed_model(Interactions(*arrays, N=N, rho=0.0), temperature)


def _relaxed_exact(obs: Observations):
    data = interactions(obs)
    arrays = (data.abs_diff, data.receiver, data.s_plus, data.s_minus)
    return partial(_relaxed_over_arrays, N=data.N), arrays


def _unpack(sites: dict):
    return from_theta(sites["theta"][..., :5]), sites["roles"]


def _counts(key, params, roles, observed):
    return forward.counts(key, params[:4], roles, observed._replace(rho=params[4]))


def _check_truth(values, where: str) -> None:
    validate_eps([float(e) for e in values[:4]], where)


def _truth_values(data) -> list[float]:
    """The data's eps and rho; a trace of the hard rule (simulator.deterministic) has rho =
    infinity, whatever rho its file records."""
    hard = bool(data.meta.get("simulator", {}).get("deterministic", False))
    return [*np.asarray(data.eps, float), np.inf if hard else float(data.rho)]


def _sbc(simulator: dict, spec: dict, seed: int):
    """A prior draw as with rho fixed, its rho drawn from rho's prior too."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x240]))
    rho = float(rho_from_theta(jnp.float32(rng.standard_normal())))
    return sbc.simulate_from_prior({**simulator, "rho": rho}, spec, seed)


def _prior_spec(method: str, settings: dict) -> dict:
    return {**sbc.prior_spec(method, settings), "rho": "4 * 64^sigmoid(N(0, 1))"}


def with_learned_rho(model: Model) -> Model:
    """The BCM with roles (`model`) with rho a parameter: every view reads rho from params."""
    return dataclasses.replace(
        model,
        param_names=NAMES,
        labels=(*model.labels, r"$\rho$"),
        swap=(*model.swap, 4),  # the labels' swap leaves rho where it is
        from_theta=from_theta,
        scored=EPS_NAMES,
        truth_names=NAMES,
        truth_values=_truth_values,
        relaxed=Relaxed(table=rho_table, exact=_relaxed_exact, model=relaxed_model,
                        table_bytes=table_bytes, unpack=_unpack),  # fmt: skip
        collapsed=Collapsed(table=rho_table, model=collapsed_model, table_bytes=table_bytes,
                            leader_probability=leader_probability),  # fmt: skip
        simulator=dataclasses.replace(model.simulator, counts=_counts),
        check_truth=_check_truth,
        sbc=_sbc,
        prior_spec=_prior_spec,
        pointwise=None,  # vi-od compare takes models with rho fixed
        rho_learned=None,
    )
