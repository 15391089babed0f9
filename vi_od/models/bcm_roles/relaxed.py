"""The PGABM as numpyro models (paper section 4, docs/models/bcm-roles.md).

X is observed, so |x_u - x_v| of every interaction is read once from the observations; the
likelihood is then a vectorised Bernoulli over all interactions, with no loop over time.
`likelihood_table` goes further for optimisers that evaluate it many times: it tabulates
each agent's share of the log-likelihood once, so a step costs O(N) instead of O(T E).
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from vi_od.data.observations import Observations
from vi_od.models.bcm_roles import eps_from_theta


class Interactions(NamedTuple):
    """The interactions as the likelihood reads them (device arrays)."""

    abs_diff: jax.Array  # (M,) |x_u - x_v| at the start of the step
    receiver: jax.Array  # (M,) v, whose role sets the thresholds
    s_plus: jax.Array  # (M,) 0/1
    s_minus: jax.Array  # (M,) 0/1
    N: int
    rho: float


def interactions(obs: Observations) -> Interactions:
    """The observations' likelihood columns; data without any interaction cannot be fitted."""
    obs.require_interactions()
    return Interactions(
        abs_diff=jnp.asarray(obs.abs_diff, jnp.float32),
        receiver=jnp.asarray(obs.receiver, jnp.int32),
        s_plus=jnp.asarray(obs.s_plus, jnp.float32),
        s_minus=jnp.asarray(obs.s_minus, jnp.float32),
        N=obs.N,
        rho=float(obs.rho),
    )


@jax.custom_jvp
def bernoulli_logit_loglik(logit, s):
    """log p(s | logit) of a Bernoulli, s in {0, 1}: log sigmoid(logit) - (1 - s) logit.

    One exp and one log1p per element, shared with the derivative s - sigmoid(logit)
    (custom JVP): the likelihood of every interaction is what NUTS and SVI pay for.
    """
    return _loglik_and_sigmoid(logit, s)[0]


def _loglik_and_sigmoid(logit, s):
    e = jnp.exp(-jnp.abs(logit))
    loglik = jnp.minimum(logit, 0.0) - jnp.log1p(e) - (1 - s) * logit
    sigmoid = jnp.where(logit >= 0, 1.0, e) / (1 + e)
    return loglik, sigmoid


@bernoulli_logit_loglik.defjvp
def _bernoulli_logit_loglik_jvp(primals, tangents):
    logit, s = primals
    d_logit, d_s = tangents
    loglik, sigmoid = _loglik_and_sigmoid(logit, s)
    return loglik, (s - sigmoid) * d_logit + logit * d_s


def log_likelihood(eps_plus_v, eps_minus_v, data: Interactions) -> jax.Array:
    """Sum of the Bernoulli log-likelihoods of s+ and s- given each receiver's thresholds."""
    logit_plus = data.rho * (eps_plus_v - data.abs_diff)
    logit_minus = -data.rho * (eps_minus_v - data.abs_diff)
    return jnp.sum(
        bernoulli_logit_loglik(logit_plus, data.s_plus)
        + bernoulli_logit_loglik(logit_minus, data.s_minus)
    )


GRID_POINTS = 128  # per threshold range at rho <= 63: gradients within ~3e-6 of the exact sum
MAX_RHO_SPACING = 0.25  # rho * h at most: interpolation error ~(rho h)^4 / 3000 per interaction
ROW = 32  # interactions of one receiver summed together before they are added to its sums
CHUNK_ROWS = 8192  # rows per compiled call: bounds the tabulation's memory at any M
BLOCK_ROWS = 128  # rows per scan step: its (BLOCK_ROWS, ROW, G) sigmoids stay in cache
FACTORED_RHO = 170.0  # up to here exp(rho (g - 1/2)) and exp(rho (d - 1/2)) fit float32


def grid_size(rho: float) -> int:
    """Grid points per threshold range: GRID_POINTS, more for a steep sigmoid (rho > 63)."""
    return max(GRID_POINTS, math.ceil(0.5 * rho / MAX_RHO_SPACING) + 1)


class HermiteTable(NamedTuple):
    """f_v on a uniform grid, per agent: values, steps f_v(g+1) - f_v(g), slopes h f_v'(g).

    Stored grid point by agent, (G, N): a threshold shared by every agent (the collapsed
    model's) reads contiguous rows.
    """

    value: jax.Array  # (G, N)
    step: jax.Array  # (G-1, N)
    slope: jax.Array  # (G, N), derivative times the spacing h
    low: jax.Array  # () first grid point
    spacing: jax.Array  # () h


class LikelihoodTable(NamedTuple):
    """The log-likelihood as per-agent functions of the agent's own two thresholds.

    Agent v's interactions enter only through its thresholds, so log p(s | eps) =
    sum_v P_v(eps+_v) + Q_v(eps-_v) with P_v, Q_v smooth 1-D functions. Tabulated on their
    ranges [0, 1/2] and [1/2, 1] and read back by cubic Hermite interpolation, they match
    the sum over interactions to float32 rounding; the shapes depend on N and rho only.
    """

    plus: HermiteTable  # P_v on [0, 1/2]
    minus: HermiteTable  # Q_v on [1/2, 1]

    @property
    def N(self) -> int:
        return self.plus.value.shape[1]


def likelihood_table(data: Interactions, grid_points: int | None = None) -> LikelihoodTable:
    """Tabulate each agent's log-likelihood over its eps+ and its eps- ranges, in O(M G).

    With z = rho (g - d) and F_v(g) = sum over v's interactions of softplus(z),

        P_v(g) = rho (g A_v - B_v) - F_v(g)               (A = sum s+, B = sum s+ d)
        Q_v(g) = rho (g (n_v - C_v) - (D_all - D_v)) - F_v(g)   (C = sum s-, D = sum s- d),

    so the outcomes enter only through the slopes A_v and n_v - C_v and the values at each
    range's first point (`_agent_sums`, one pass), and one outcome-free function F_v
    carries the rest. F_v' = rho S_v, S_v(g) = sum sigmoid(z), and F_v'' = rho^2 V_v, V_v
    = sum sigmoid(z) (1 - sigmoid(z)): both are summed on one grid over [0, 1], streamed in
    chunks of interactions (`sigmoid_sums`, O(M G) and the only heavy part). Steps of F_v
    come from the corrected trapezoid rule (error h^5 F^(5) / 720, ~1e-8 per interaction
    at rho h = 0.13), values from the first point plus the steps: the table is continuous.
    """
    G = grid_points or grid_size(data.rho)
    sums = sigmoid_sums(data.abs_diff, np.asarray(data.receiver), data.N, data.rho, 2 * G - 1)
    linear = _agent_sums(data.abs_diff, data.receiver, data.s_plus, data.s_minus,
                         jnp.float32(data.rho), N=data.N)  # fmt: skip
    return _assemble(sums, linear, jnp.float32(data.rho), G=G, h=0.5 / (G - 1))


@partial(jax.jit, static_argnames="N")
def _agent_sums(abs_diff, receiver, s_plus, s_minus, rho, *, N: int) -> jax.Array:
    """(4, N): P_v(0), Q_v(1/2), A_v = sum s+ and n_v - C_v = sum (1 - s-), per agent.

    P_v(0) and Q_v(1/2) only anchor the tables: a constant per agent, which moves neither
    a gradient nor a role posterior.
    """
    z_plus, z_minus = -rho * abs_diff, -rho * (0.5 - abs_diff)
    terms = jnp.stack([
        s_plus * z_plus - jax.nn.softplus(z_plus),
        s_minus * z_minus - jax.nn.softplus(z_minus),
        s_plus,
        1.0 - s_minus,
    ], axis=1)  # fmt: skip
    return jax.ops.segment_sum(terms, receiver, num_segments=N).T


@partial(jax.jit, static_argnames=("G", "h"))
def _assemble(sums, linear, rho, *, G: int, h: float) -> LikelihoodTable:
    """The two Hermite tables from S, S2 (N, 2G-1, 2) on [0, 1] and the per-agent sums."""
    S, V = sums[..., 0], sums[..., 0] - sums[..., 1]
    step_F = rho * h / 2 * (S[:, :-1] + S[:, 1:]) - (rho * h) ** 2 / 12 * (V[:, 1:] - V[:, :-1])
    value_plus, value_minus, A, n_minus_C = linear

    def table(first, last, start_value, rate, low):
        step = rate[:, None] * (rho * h) - step_F[:, first : last - 1]
        slope = (rate[:, None] - S[:, first:last]) * (rho * h)
        value = start_value[:, None] + jnp.cumsum(step, axis=1)
        value = jnp.concatenate([start_value[:, None], value], axis=1)
        return HermiteTable(value.T, step.T, slope.T, jnp.float32(low), jnp.float32(h))

    return LikelihoodTable(
        plus=table(0, G, value_plus, A, 0.0),
        minus=table(G - 1, 2 * G - 1, value_minus, n_minus_C, 0.5),
    )


def sigmoid_sums(
    abs_diff, receiver: np.ndarray, N: int, rho: float, points: int, weighted: bool = False
) -> jax.Array:
    """(N, points, 2): per agent, sum of sigmoid(rho (g - d)) and of its square, g on [0, 1];
    (N, points, 4) with `weighted`, the same two sums of d sigmoid and d sigmoid^2 after them
    (what the rho derivative of a table needs, `learned_rho`).

    Interactions are grouped into rows of ROW slots of one receiver each and streamed
    CHUNK_ROWS rows at a time, so memory stays O(N points + M) whatever the receivers'
    skew. Up to rho = FACTORED_RHO, exp(-z) = exp(-rho (g - 1/2)) exp(rho (d - 1/2)) is one
    product per element, not an exp; empty slots hold d = +inf and add exactly 0.
    """
    factored = rho <= FACTORED_RHO
    scaled = np.float32(rho) * (np.asarray(abs_diff, np.float32) - np.float32(0.5))
    grid = np.float32(rho) * (np.linspace(0.0, 1.0, points, dtype=np.float32) - np.float32(0.5))
    if factored:
        scaled, grid = np.exp(scaled), np.exp(-grid)
    rows, agent = _rows_by_receiver(scaled, receiver, N, fill=np.inf)
    if weighted:  # empty slots: d = 0 against a sigmoid of exactly 0
        rows_d = _rows_by_receiver(np.asarray(abs_diff, np.float32), receiver, N, fill=0.0)[0]
    acc = jnp.zeros((N, points, 4 if weighted else 2), jnp.float32)
    grid = jnp.asarray(grid)
    size = _chunk_rows(receiver.size, N)
    for start in range(0, rows.shape[0], size):
        chunk = slice(start, start + size)
        d = jnp.asarray(rows_d[chunk]) if weighted else None
        acc = _add_sigmoid_sums(acc, jnp.asarray(rows[chunk]), jnp.asarray(agent[chunk]), grid,
                                d, factored=factored)  # fmt: skip
    return acc


def _chunk_rows(M: int, N: int) -> int:
    """Rows per chunk: CHUNK_ROWS, or the next power of two above a small trace's rows."""
    return min(CHUNK_ROWS, max(BLOCK_ROWS, 1 << (M // ROW + N).bit_length()))


@partial(jax.jit, static_argnames="factored", donate_argnums=0)
def _add_sigmoid_sums(acc, rows, agent, grid, d=None, *, factored: bool):
    """acc[agent of row] += sums over the row's slots of sigmoid(z) and sigmoid(z)^2 (and,
    given each slot's d, of d sigmoid(z) and d sigmoid(z)^2).

    A scan over blocks of BLOCK_ROWS rows: measured 0.4 ns per (interaction, grid point)
    on 2 CPU cores, against 5-10 ns for the whole chunk at once, whose sigmoids spill
    out of the cache.
    """

    def block(acc, inputs):
        rows, agent, d = inputs
        e = rows[:, :, None] * grid if factored else jnp.exp(rows[:, :, None] - grid)
        sig = 1.0 / (1.0 + e)
        terms = [sig, sig * sig]
        if d is not None:
            terms += [d[:, :, None] * sig, d[:, :, None] * sig * sig]
        sums = jnp.stack([t.sum(axis=1) for t in terms], axis=-1)
        return acc.at[agent].add(sums, indices_are_sorted=True), None

    split = lambda a: None if a is None else a.reshape(-1, BLOCK_ROWS, ROW)
    blocks = (split(rows), agent.reshape(-1, BLOCK_ROWS), split(d))
    return jax.lax.scan(block, acc, blocks)[0]


def _rows_by_receiver(values: np.ndarray, receiver: np.ndarray, N: int, fill: float):
    """values grouped by receiver into rows of ROW slots, (R, ROW), and each row's receiver.

    R is a multiple of the chunk size, fixed by (M, N): every chunk has one shape and a
    trace shape compiles once. Slots and rows beyond the data hold `fill` (rows of agent
    N - 1, so that row agents stay sorted).
    """
    order = np.argsort(receiver)  # any order within a receiver: its sums do not care
    counts = np.bincount(receiver, minlength=N)
    rows_per_agent = -(-counts // ROW)
    first_slot = (np.cumsum(rows_per_agent) - rows_per_agent) * ROW
    # slot of the k-th interaction of agent v (in `order`): first_slot[v] + k
    shift = np.repeat(first_slot - (np.cumsum(counts) - counts), counts)
    size = _chunk_rows(receiver.size, N)
    n_rows = -(-(receiver.size // ROW + N + 1) // size) * size  # >= sum of rows_per_agent
    rows = np.full(n_rows * ROW, fill, values.dtype)
    rows[shift + np.arange(receiver.size)] = values[order]
    agent = np.full(n_rows, N - 1, np.int32)
    agent[: int(rows_per_agent.sum())] = np.repeat(np.arange(N, dtype=np.int32), rows_per_agent)
    return rows.reshape(n_rows, ROW), agent


def _cubic(f0, df, m0, m1, t):
    """Cubic Hermite on [0, 1] with f(0) = f0, f(1) = f0 + df, slopes m0, m1 (times h)."""
    return f0 + t * (m0 + t * (3 * df - 2 * m0 - m1 + t * (m0 + m1 - 2 * df)))


def _cell(table: HermiteTable, x):
    pos = (x - table.low) / table.spacing
    i = jnp.clip(jnp.floor(pos), 0, table.value.shape[0] - 2).astype(jnp.int32)
    return i, pos - i


def hermite(table: HermiteTable, x: jax.Array) -> jax.Array:
    """f_v(x_v) for every agent v by cubic Hermite interpolation (differentiable in x)."""
    i, t = _cell(table, x)
    take = lambda a, j: jnp.take_along_axis(a, j[None, :], axis=0)[0]
    return _cubic(take(table.value, i), take(table.step, i), take(table.slope, i),
                  take(table.slope, i + 1), t)  # fmt: skip


def hermite_shared(table: HermiteTable, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(N,) f_v(x) and f_v'(x) of every agent at one shared x: four contiguous rows, O(N)."""
    i, t = _cell(table, x)
    f0, df, m0, m1 = table.value[i], table.step[i], table.slope[i], table.slope[i + 1]
    a, b = 3 * df - 2 * m0 - m1, m0 + m1 - 2 * df
    value = f0 + t * (m0 + t * (a + t * b))
    return value, (m0 + t * (2 * a + 3 * t * b)) / table.spacing


class CellCubics(NamedTuple):
    """f_v on every grid cell as c0 + t (c1 + t (c2 + t c3)), t in [0, 1): (N, G-1, 4).

    The relaxed model reads every agent at its own threshold. From a (G, N) HermiteTable
    that is four strided gathers per agent; here it is one contiguous read of 16 bytes:
    3x faster at N = 10^5, a third of an svi-normal step there.
    """

    coef: jax.Array  # (N, G-1, 4)
    low: jax.Array  # () first grid point
    spacing: jax.Array  # () h


class RelaxedTable(NamedTuple):
    """The LikelihoodTable in the layout the relaxed model reads (per agent, per cell)."""

    plus: CellCubics
    minus: CellCubics

    @property
    def N(self) -> int:
        return self.plus.coef.shape[0]


def relaxed_table(data: Interactions) -> RelaxedTable:
    """`likelihood_table`, laid out per agent and cell for the relaxed model's reads."""
    return cell_cubics(likelihood_table(data))


@jax.jit
def cell_cubics(table: LikelihoodTable) -> RelaxedTable:
    """The same cubic Hermite pieces as `hermite`, their coefficients computed once."""

    def cubics(t: HermiteTable) -> CellCubics:
        f0, df, m0, m1 = t.value[:-1], t.step, t.slope[:-1], t.slope[1:]
        coef = jnp.stack([f0, m0, 3 * df - 2 * m0 - m1, m0 + m1 - 2 * df], axis=-1)
        return CellCubics(jnp.transpose(coef, (1, 0, 2)), t.low, t.spacing)

    return RelaxedTable(cubics(table.plus), cubics(table.minus))


def cubic(table: CellCubics, x: jax.Array) -> jax.Array:
    """f_v(x_v) for every agent v from its cell's cubic (differentiable in x)."""
    pos = (x - table.low) / table.spacing
    i = jnp.clip(jnp.floor(pos), 0, table.coef.shape[1] - 1).astype(jnp.int32)
    t = pos - i
    c = table.coef[jnp.arange(x.shape[-1]), i]  # (N, 4)
    return c[:, 0] + t * (c[:, 1] + t * (c[:, 2] + t * c[:, 3]))


def log_likelihood_agents(eps_plus, eps_minus, data: Interactions | LikelihoodTable | RelaxedTable):
    """Log-likelihood given every agent's thresholds (N,), from the interactions or a table."""
    if isinstance(data, RelaxedTable):
        return jnp.sum(cubic(data.plus, eps_plus) + cubic(data.minus, eps_minus))
    if isinstance(data, LikelihoodTable):
        return jnp.sum(hermite(data.plus, eps_plus) + hermite(data.minus, eps_minus))
    return log_likelihood(eps_plus[data.receiver], eps_minus[data.receiver], data)


def relaxed_pgabm(
    data: Interactions | LikelihoodTable | RelaxedTable, temperature: float = 0.1
) -> None:
    """The paper's model: theta ~ N(0, 1)^(N+4), Gumbel-Softmax roles, Bernoulli outcomes.

    Each agent's thresholds interpolate F and L by its relaxed role r: r eps_L + (1-r) eps_F.
    """
    theta = numpyro.sample("theta", dist.Normal(0.0, 1.0).expand([data.N + 4]).to_event(1))
    eps = numpyro.deterministic("eps", eps_from_theta(theta[:4]))
    roles = numpyro.sample(
        "roles", dist.RelaxedBernoulliLogits(temperature, logits=theta[4:]).to_event(1)
    )
    eps_plus = roles * eps[1] + (1 - roles) * eps[0]
    eps_minus = roles * eps[3] + (1 - roles) * eps[2]
    numpyro.factor("likelihood", log_likelihood_agents(eps_plus, eps_minus, data))
