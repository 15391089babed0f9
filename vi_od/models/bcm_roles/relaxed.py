"""The PGABM as numpyro models (paper section 4, DESIGN section 3).

X is observed, so |x_u - x_v| of every interaction is read once from the observations; the
likelihood is then a vectorised Bernoulli over all interactions, with no loop over time.
`likelihood_table` goes further for optimisers that evaluate it many times: it tabulates
each agent's share of the log-likelihood once, so a step costs O(N) instead of O(T E).
"""

from __future__ import annotations

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


GRID_POINTS = 128  # per threshold range: gradients within ~3e-6 of the exact sum (float32 level)


class HermiteTable(NamedTuple):
    """f_v on a uniform grid, per agent: values, steps f_v(g+1) - f_v(g), slopes h f_v'(g)."""

    value: jax.Array  # (N, G)
    step: jax.Array  # (N, G-1), summed from exact per-interaction differences
    slope: jax.Array  # (N, G), derivative times the spacing h
    low: jax.Array  # () first grid point
    spacing: jax.Array  # () h


class LikelihoodTable(NamedTuple):
    """The log-likelihood as per-agent functions of the agent's own two thresholds.

    Agent v's interactions enter only through its thresholds, so log p(s | eps) =
    sum_v P_v(eps+_v) + Q_v(eps-_v) with P_v, Q_v smooth 1-D functions. Tabulated on their
    ranges [0, 1/2] and [1/2, 1] and read back by cubic Hermite interpolation, they match
    the sum over interactions to float32 rounding; the shapes depend on N only.
    """

    plus: HermiteTable  # P_v on [0, 1/2]
    minus: HermiteTable  # Q_v on [1/2, 1]

    @property
    def N(self) -> int:
        return self.plus.value.shape[0]


def likelihood_table(data: Interactions, grid_points: int = GRID_POINTS) -> LikelihoodTable:
    """Tabulate each agent's log-likelihood over its eps+ and its eps- ranges."""
    rows = _rows_by_receiver(np.asarray(data.receiver), data.N)
    take = lambda a: jnp.asarray(np.where(rows.mask, np.asarray(a)[rows.index], 0), jnp.float32)
    abs_diff, s_plus, s_minus = take(data.abs_diff), take(data.s_plus), take(data.s_minus)
    mask, agent, rho = jnp.asarray(rows.mask, jnp.float32), jnp.asarray(rows.agent), data.rho
    tabulate = lambda s, sign, low: _tabulate(
        abs_diff, s, mask, agent, jnp.float32(rho), jnp.float32(sign), jnp.float32(low),
        N=data.N, grid_points=grid_points,
    )  # fmt: skip
    return LikelihoodTable(plus=tabulate(s_plus, 1.0, 0.0), minus=tabulate(s_minus, -1.0, 0.5))


class _Rows(NamedTuple):
    index: np.ndarray  # (R, ROW) interaction index, each row holding one receiver's
    mask: np.ndarray  # (R, ROW) True where the slot holds an interaction
    agent: np.ndarray  # (R,) the receiver of the row, sorted


ROW = 32


def _rows_by_receiver(receiver: np.ndarray, N: int) -> _Rows:
    """Group interactions by receiver into rows of ROW slots: dense sums, any receiver skew.

    The row count is fixed by (M, N), not by the receivers, so a trace shape compiles once;
    empty rows at the end are masked out.
    """
    order = np.argsort(receiver, kind="stable")
    counts = np.bincount(receiver, minlength=N)
    rows_per_agent = -(-counts // ROW)
    first_row = np.cumsum(rows_per_agent) - rows_per_agent
    rank = np.arange(receiver.size) - np.repeat(np.cumsum(counts) - counts, counts)
    row = np.repeat(first_row, counts) + rank // ROW
    n_rows = receiver.size // ROW + N + 1  # >= sum of ceil(count / ROW)
    index = np.zeros((n_rows, ROW), np.int64)
    mask = np.zeros(index.shape, bool)
    index[row, rank % ROW] = order
    mask[row, rank % ROW] = True
    agent = np.full(n_rows, N - 1, np.int32)
    agent[: row.max() + 1] = np.repeat(np.arange(N, dtype=np.int32), rows_per_agent)
    return _Rows(index, mask, agent)


@partial(jax.jit, static_argnames=("N", "grid_points"))
def _tabulate(abs_diff, s, mask, agent, rho, sign, low, *, N, grid_points) -> HermiteTable:
    """Per agent f_v(g) = sum of s z - softplus(z), z = sign rho (g - |d|), g in [low, low+1/2].

    Steps use softplus(z + delta) - softplus(z) = log1p(expm1(delta) sigmoid(z)), exact in
    float32 where the difference of two large sums would not be.
    """
    spacing = 0.5 / (grid_points - 1)
    delta = sign * rho * spacing  # change of z from one grid point to the next

    def at(g):
        z = sign * rho * (g - abs_diff)
        sig = jax.nn.sigmoid(z)
        terms = [
            s * z - jax.nn.softplus(z),
            s * delta - jnp.log1p(jnp.expm1(delta) * sig),
            sign * rho * spacing * (s - sig),
        ]
        per_row = jnp.stack([jnp.sum(mask * t, axis=1) for t in terms], axis=-1)
        return jax.ops.segment_sum(per_row, agent, num_segments=N, indices_are_sorted=True)

    grid = low + spacing * jnp.arange(grid_points, dtype=jnp.float32)
    sums = jax.lax.map(at, grid, batch_size=16)  # (G, N, 3)
    return HermiteTable(
        value=sums[:, :, 0].T,
        step=sums[:-1, :, 1].T,
        slope=sums[:, :, 2].T,
        low=low,
        spacing=jnp.float32(spacing),
    )


def hermite(table: HermiteTable, x: jax.Array) -> jax.Array:
    """f_v(x_v) for every agent v by cubic Hermite interpolation (differentiable in x)."""
    pos = (x - table.low) / table.spacing
    i = jnp.clip(jnp.floor(pos), 0, table.value.shape[1] - 2).astype(jnp.int32)
    t = pos - i
    take = lambda a, j: jnp.take_along_axis(a, j[:, None], axis=1)[:, 0]
    f0, df = take(table.value, i), take(table.step, i)
    m0, m1 = take(table.slope, i), take(table.slope, i + 1)
    return f0 + t * (m0 + t * (3 * df - 2 * m0 - m1 + t * (m0 + m1 - 2 * df)))


def log_likelihood_agents(eps_plus, eps_minus, data: Interactions | LikelihoodTable):
    """Log-likelihood given every agent's thresholds (N,), from the interactions or a table."""
    if isinstance(data, LikelihoodTable):
        return jnp.sum(hermite(data.plus, eps_plus) + hermite(data.minus, eps_minus))
    return log_likelihood(eps_plus[data.receiver], eps_minus[data.receiver], data)


def relaxed_pgabm(data: Interactions | LikelihoodTable, temperature: float = 0.1) -> None:
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
