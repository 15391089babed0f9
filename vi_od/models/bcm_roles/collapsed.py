"""The collapsed PGABM: roles summed out exactly, per agent (docs/methods/nuts-marginal.md).

X is observed, so given eps each interaction depends on the roles only through its
receiver v, and the likelihood factorises over receivers: log p(s | eps, r) = sum_v
l_v(eps_{r_v}), where l_v(eps_K) is the Bernoulli log-likelihood of the s+ and s- that v
received under role K's thresholds. With P(r_v = L) = pi the 2^N role vectors sum out as

    log p(s | eps, pi) = sum_v logsumexp(log(1 - pi) + l_v(eps_F), log pi + l_v(eps_L))

(no relaxation; a 5-dimensional posterior instead of N + 4), and each agent's role
posterior is Bayes' rule, P(r_v = L | eps, pi, s) = sigmoid(log pi - log(1 - pi) +
l_v(eps_L) - l_v(eps_F)).

l_v is read from one of two sources (`agent_log_likelihoods`):

- the per-agent likelihood table (`relaxed.likelihood_table`, what the methods use):
  l_v(eps_K) = P_v(eps+_K) + Q_v(eps-_K), both shared thresholds, so an evaluation reads
  four contiguous rows per function: O(N) per gradient, after one O(interactions) pass
  that streams the interactions in chunks (bounded memory at any receiver skew). Against
  the exact sum below: log-likelihood within 1e-6 relative, gradient within 1e-5 of its
  scale (tests/models/test_collapsed.py).
  At 10^7 interactions the log-likelihood is ~10^6 in size, so float32 resolves a NUTS
  energy to ~0.1: measured harmless there (no divergences, r_hat 1.00, 8 leapfrog steps).
- the exact sum over padded (N, K) rows (`group_by_receiver`, K >= most interactions one
  agent received), kept as the reference the table is tested against. Its memory is N x K:
  one agent with 4,880 of 200,000 interactions made it 73x the data (docs/scale.md).

Measured for the exact form (scripts/bench_marginal.py: N=400, T=8192, 81,910
interactions; value and gradient of the log joint, best of interleaved repeats; 2-core
CPU shared with other jobs):

  variant                                       ms/gradient  compile s  temp MB
  flat interactions, segment sum, autodiff       1.93-2.37   1.07-2.16    5.3
  padded (N, K) rows + mask, autodiff            2.39-2.51   0.80-1.20    6.8
  padded rows, hand-written JVP (exact form)     1.33-1.85   0.82-1.88    8.5
  numpyro enumeration (funsor), padded rows      1.26-1.54   1.03-2.05    5.5

The hand-written JVP computes the log-likelihoods and their eps-derivatives in one pass,
1.4-1.8x faster than autodiff of the same expression; numpyro's enumeration needs funsor
and the padded layout, and gives no per-agent log-likelihoods for the role posterior.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from vi_od.data.observations import Observations
from vi_od.models.bcm_roles import eps_from_theta
from vi_od.models.bcm_roles.relaxed import (
    LikelihoodTable,
    hermite_shared,
    interactions,
    likelihood_table,
)


class Grouped(NamedTuple):
    """Each agent's received interactions, padded to (N, K) rows; what the likelihood reads.

    The outcomes are stored as signs so that one log-sigmoid scores each: log p(s+) =
    log_sigmoid(rho sign_plus (eps+ - d)), log p(s-) = log_sigmoid(rho sign_minus (eps- - d)).
    """

    abs_diff: jax.Array  # (N, K) |x_u - x_v| of the interactions v received; 0 in padding
    sign_plus: jax.Array  # (N, K) +1 where s+ = 1, -1 where s+ = 0
    sign_minus: jax.Array  # (N, K) +1 where s- = 0, -1 where s- = 1
    mask: jax.Array  # (N, K) 1 for a real interaction, 0 for padding
    rho: jax.Array  # () steepness of the interaction sigmoid


def tabulate(obs: Observations) -> LikelihoodTable:
    """Each agent's l_v as two tabulated functions of its thresholds: what the methods read."""
    return likelihood_table(interactions(obs))


def group_by_receiver(obs: Observations, dtype=jnp.float32) -> Grouped:
    """Group interactions by receiver into padded (N, K) rows, K >= most received by one agent.

    The exact reference: memory N x K, so small data only (tests, checks).
    """
    obs.require_interactions()
    receiver = obs.receiver
    order = np.argsort(receiver, kind="stable")
    receiver = receiver[order]
    counts = np.bincount(receiver, minlength=obs.N)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    column = np.arange(receiver.size) - starts[receiver]
    # K rounded up to a multiple of 8: traces of one (N, T) then share shapes, so a persistent
    # compilation cache (the sweep's) compiles NUTS and SVI once per cell, not once per trace.
    shape = (obs.N, -(-int(counts.max()) // 8) * 8)

    def padded(values, fill):
        out = np.full(shape, fill, np.float64)
        out[receiver, column] = values.ravel()[order]
        return jnp.asarray(out, dtype)

    return Grouped(
        abs_diff=padded(obs.abs_diff, 0.0),
        sign_plus=padded(2.0 * obs.s_plus - 1.0, 1.0),
        sign_minus=padded(1.0 - 2.0 * obs.s_minus, 1.0),
        mask=padded(np.ones(receiver.size), 0.0),
        rho=jnp.asarray(obs.rho, dtype),
    )


def _log_sigmoid_and_slope(z: jax.Array) -> tuple[jax.Array, jax.Array]:
    """log sigmoid(z) and its derivative sigmoid(-z), sharing one exp (stable for any z)."""
    e = jnp.exp(-jnp.abs(z))
    return jnp.minimum(z, 0.0) - jnp.log1p(e), jnp.where(z >= 0, e, 1.0) / (1.0 + e)


def _outcome_terms(eps: jax.Array, data: Grouped):
    """Per role and received interaction: log p(s+), log p(s-) and their eps-derivatives."""
    a_plus = data.rho * data.sign_plus
    a_minus = data.rho * data.sign_minus
    log_plus, slope_plus = _log_sigmoid_and_slope(a_plus * (eps[:2, None, None] - data.abs_diff))
    log_minus, slope_minus = _log_sigmoid_and_slope(a_minus * (eps[2:, None, None] - data.abs_diff))
    return log_plus + log_minus, a_plus * slope_plus, a_minus * slope_minus


def agent_log_likelihoods(eps: jax.Array, data: LikelihoodTable | Grouped) -> jax.Array:
    """(2, N): l_v(eps_F) in row 0 and l_v(eps_L) in row 1, eps = [F+, L+, F-, L-]."""
    if isinstance(data, LikelihoodTable):
        return _table_terms(eps, data)[0]
    return _exact_agent_log_likelihoods(eps, data)


def _table_terms(eps: jax.Array, table: LikelihoodTable):
    """(2, N) l_v(eps_F), l_v(eps_L) and (4, N) their derivatives in eps+_F, eps+_L,
    eps-_F, eps-_L (each l_v(eps_K) depends on role K's two thresholds only)."""
    (pF, dpF), (pL, dpL) = (hermite_shared(table.plus, eps[k]) for k in (0, 1))
    (qF, dqF), (qL, dqL) = (hermite_shared(table.minus, eps[k]) for k in (2, 3))
    return jnp.stack([pF + qF, pL + qL]), jnp.stack([dpF, dpL, dqF, dqL])


@jax.custom_jvp
def _exact_agent_log_likelihoods(eps: jax.Array, data: Grouped) -> jax.Array:
    """agent_log_likelihoods summed over the padded rows; differentiable in eps only.

    The hand-written JVP computes the log-likelihoods and their derivatives in one pass over
    the (2, N, K) interactions, 1.4-1.8x faster per gradient than autodiff.
    """
    return jnp.sum(_outcome_terms(eps, data)[0] * data.mask, axis=-1)


@_exact_agent_log_likelihoods.defjvp
def _agent_log_likelihoods_jvp(primals, tangents):
    eps, data = primals
    eps_dot = tangents[0]
    log_p, d_plus, d_minus = _outcome_terms(eps, data)
    ll = jnp.sum(log_p * data.mask, axis=-1)
    dll_plus = jnp.sum(d_plus * data.mask, axis=-1)
    dll_minus = jnp.sum(d_minus * data.mask, axis=-1)
    return ll, dll_plus * eps_dot[:2, None] + dll_minus * eps_dot[2:, None]


def _role_log_prior(pi: jax.Array) -> jax.Array:
    """(2, 1): log P(F), log P(L)."""
    return jnp.stack([jnp.log1p(-pi), jnp.log(pi)])[:, None]


def collapsed_log_likelihood(eps: jax.Array, pi: jax.Array, data: LikelihoodTable | Grouped):
    """log p(s | eps, pi) with every agent's role summed out."""
    if isinstance(data, LikelihoodTable):
        return _table_collapsed(eps, pi, data)
    return role_marginal(agent_log_likelihoods(eps, data), pi)


def _table_collapsed_parts(eps, pi, table: LikelihoodTable):
    """Value and (eps, pi) gradient of the collapsed log-likelihood, in one pass over N.

    With a_v = log(1 - pi) + l_v(eps_F), b_v = log pi + l_v(eps_L) and w_v = sigmoid(b_v -
    a_v) (agent v's posterior P(leader)): d/d eps_F = sum (1 - w_v) l_v', d/d eps_L = sum
    w_v l_v', d/d pi = sum w_v / pi - (1 - w_v) / (1 - pi). Autodiff of logsumexp measured
    several times slower at N = 10^5 (its max, where and exp are not fused with the rest).
    """
    ll, slopes = _table_terms(eps, table)
    a, b = jnp.log1p(-pi) + ll[0], jnp.log(pi) + ll[1]
    e = jnp.exp(-jnp.abs(a - b))
    value = jnp.sum(jnp.maximum(a, b) + jnp.log1p(e))
    w = jnp.where(b >= a, 1.0, e) / (1.0 + e)
    role = jnp.stack([1 - w, w, 1 - w, w])
    d_eps = jnp.sum(role * slopes, axis=1)
    d_pi = jnp.sum(w) / pi - jnp.sum(1 - w) / (1 - pi)
    return value, d_eps, d_pi


@jax.custom_jvp
def _table_collapsed(eps, pi, table: LikelihoodTable):
    return _table_collapsed_parts(eps, pi, table)[0]


@_table_collapsed.defjvp
def _table_collapsed_jvp(primals, tangents):
    eps, pi, table = primals
    value, d_eps, d_pi = _table_collapsed_parts(eps, pi, table)
    return value, jnp.dot(d_eps, tangents[0]) + d_pi * tangents[1]


def leader_probability(eps: jax.Array, pi: jax.Array, data: LikelihoodTable | Grouped):
    """(N,) P(r_v = L | eps, pi, s) by Bayes' rule."""
    return role_posterior(agent_log_likelihoods(eps, data), pi)


def label_symmetric_beta(a: float, b: float) -> dist.Distribution:
    """1/2 Beta(a, b) + 1/2 Beta(b, a): a prior on pi that does not prefer either labelling.

    The collapsed likelihood is unchanged by swapping the labels (eps_F <-> eps_L, pi <->
    1 - pi). With this prior the whole posterior is too, so each of its two mirror-image
    modes, relabelled to pi < 1/2, is the posterior of the identified model; with Beta(a, b)
    alone the mode a sampler or optimiser happens to land in (about half of the runs land
    in the swapped one) would carry the prior of the other group's share. Below 1/2 the
    density is Beta(a, b)'s up to the small mirror term (Beta(1, 4): (1 - pi)^3 + pi^3).
    """
    mixing = dist.Categorical(probs=jnp.array([0.5, 0.5]))
    return dist.MixtureSameFamily(mixing, dist.Beta(jnp.array([a, b]), jnp.array([b, a])))


def collapsed_pgabm(
    data: LikelihoodTable | Grouped,
    pi_prior: tuple[float, float] = (1.0, 4.0),
    pi_fixed: float | None = None,
) -> None:
    """theta ~ N(0, 1)^4 (eps as in the paper), pi ~ label-symmetric Beta(a, b) unless fixed."""
    theta = numpyro.sample("theta", dist.Normal(0.0, 1.0).expand([4]).to_event(1))
    eps = numpyro.deterministic("params", eps_from_theta(theta))
    pi = sample_leader_share(pi_prior, pi_fixed)
    numpyro.factor("likelihood", collapsed_log_likelihood(eps, pi, data))


def sample_leader_share(pi_prior: tuple[float, float], pi_fixed: float | None) -> jax.Array:
    """pi, the leaders' share: label-symmetric Beta(a, b), or fixed (recorded as a site)."""
    if pi_fixed is None:
        return numpyro.sample("pi", label_symmetric_beta(*pi_prior))
    return numpyro.deterministic("pi", jnp.asarray(pi_fixed, jnp.float32))


def role_marginal(agent_ll: jax.Array, pi: jax.Array) -> jax.Array:
    """sum_v log(P(F) e^{l_v(F)} + P(L) e^{l_v(L)}) of (2, N) per-agent log-likelihoods."""
    return jnp.sum(jax.nn.logsumexp(agent_ll + _role_log_prior(pi), axis=0))


def role_posterior(agent_ll: jax.Array, pi: jax.Array) -> jax.Array:
    """(N,) P(r_v = L) by Bayes' rule from (2, N) per-agent log-likelihoods."""
    return jax.nn.sigmoid(jnp.log(pi) - jnp.log1p(-pi) + agent_ll[1] - agent_ll[0])
