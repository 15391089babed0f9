import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vi_od.data.trace import to_observations
from vi_od.errors import ViOdError
from vi_od.models.bcm_roles.collapsed import (
    collapsed_log_likelihood,
    group_by_receiver,
    label_symmetric_beta,
    leader_probability,
)
from vi_od.models.bcm_roles.relaxed import interactions, log_likelihood
from vi_od.models.bcm_roles.simulate import SimulatorSettings, simulate_trace

EPS = [0.3, 0.1, 0.6, 0.8]
PI = 0.3


@pytest.fixture(scope="module")
def tiny_trace():
    """N=6 agents (2 leaders), 5 steps: 50 interactions (role posteriors not yet certain)."""
    return simulate_trace(SimulatorSettings(N=6, T=6, leader_proportion=0.34), seed=2)


def brute_force(trace, eps, pi):
    """log p(s, r | eps, pi) for each of the 2^N role vectors r, from the paper's likelihood."""
    flat = interactions(to_observations(trace))
    flat = flat._replace(**{k: getattr(flat, k).astype(jnp.float64)
                            for k in ("abs_diff", "s_plus", "s_minus")})  # fmt: skip
    eps = jnp.asarray(eps, jnp.float64)
    roles = jnp.array(list(itertools.product([0, 1], repeat=trace.N)), jnp.float64)

    def joint(r):
        rv = r[flat.receiver]
        prior = jnp.sum(r * jnp.log(pi) + (1 - r) * jnp.log1p(-pi))
        eps_plus = rv * eps[1] + (1 - rv) * eps[0]
        eps_minus = rv * eps[3] + (1 - rv) * eps[2]
        return prior + log_likelihood(eps_plus, eps_minus, flat)

    return roles, jax.jit(jax.vmap(joint))(roles)


def test_collapsed_likelihood_equals_enumeration_of_all_role_vectors(tiny_trace):
    with jax.enable_x64(True):
        _, joints = brute_force(tiny_trace, EPS, PI)
        expected = jax.nn.logsumexp(joints)
        data = group_by_receiver(to_observations(tiny_trace), jnp.float64)
        got = collapsed_log_likelihood(jnp.array(EPS, jnp.float64), jnp.float64(PI), data)
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    got32 = collapsed_log_likelihood(
        jnp.array(EPS), jnp.float32(PI), group_by_receiver(to_observations(tiny_trace))
    )
    np.testing.assert_allclose(got32, expected, rtol=1e-5)  # float32 round-off over 100 terms


def test_role_posterior_is_bayes_rule_over_role_vectors(tiny_trace):
    with jax.enable_x64(True):
        roles, joints = brute_force(tiny_trace, EPS, PI)
        weights = jnp.exp(joints - jax.nn.logsumexp(joints))
        expected = weights @ roles  # P(r_v = 1 | s) summed over all role vectors
        data = group_by_receiver(to_observations(tiny_trace), jnp.float64)
        got = leader_probability(jnp.array(EPS, jnp.float64), jnp.float64(PI), data)
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
        assert 0.1 < float(expected.max()) < 0.9  # some roles are still uncertain


def test_hand_written_derivative_matches_autodiff_of_enumeration(tiny_trace):
    with jax.enable_x64(True):
        data = group_by_receiver(to_observations(tiny_trace), jnp.float64)
        brute = lambda e, p: jax.nn.logsumexp(brute_force(tiny_trace, e, p)[1])
        args = (jnp.array(EPS, jnp.float64), jnp.float64(PI))
        expected = jax.grad(brute, argnums=(0, 1))(*args)
        got = jax.grad(collapsed_log_likelihood, argnums=(0, 1))(*args, data)
        np.testing.assert_allclose(got[0], expected[0], rtol=1e-9)
        np.testing.assert_allclose(got[1], expected[1], rtol=1e-9)


def test_grouping_keeps_every_interaction_once(small_trace):
    data = group_by_receiver(to_observations(small_trace))
    counts = np.bincount(small_trace.v.ravel(), minlength=small_trace.N)
    np.testing.assert_array_equal(np.asarray(data.mask).sum(axis=1), counts)
    K = data.abs_diff.shape[1]
    assert data.abs_diff.shape[0] == small_trace.N and counts.max() <= K < counts.max() + 8
    assert K % 8 == 0  # shapes shared between traces of one (N, T)
    # the multiset of |d| each agent received is unchanged
    diffs = small_trace.abs_diff().ravel()
    for v in (0, 7):
        row = np.asarray(data.abs_diff[v])[np.asarray(data.mask[v]) > 0]
        np.testing.assert_allclose(np.sort(row), np.sort(diffs[small_trace.v.ravel() == v]))


def test_trace_without_interactions_is_an_error(small_trace):
    from dataclasses import replace

    empty = replace(small_trace, u=small_trace.u[:, :0], v=small_trace.v[:, :0])
    with pytest.raises(ViOdError, match="no interactions"):
        group_by_receiver(to_observations(empty))


def test_pi_prior_is_label_symmetric_and_close_to_beta_below_half():
    import numpyro.distributions as dist

    log_prob = jax.jit(lambda x: label_symmetric_beta(1.0, 4.0).log_prob(x))
    pi = np.array([0.02, 0.1, 0.3, 0.45])
    np.testing.assert_allclose(log_prob(pi), log_prob(1 - pi), rtol=1e-5)
    # 1/2 [4 (1-pi)^3 + 4 pi^3]: Beta(1, 4)'s density halved, plus the mirror term
    expected = 0.5 * (4 * (1 - pi) ** 3 + 4 * pi**3)
    np.testing.assert_allclose(np.exp(log_prob(pi)), expected, rtol=1e-5)
    beta = jax.jit(lambda x: dist.Beta(1.0, 4.0).log_prob(x))
    assert float(np.exp(beta(0.1)) / 2 / expected[1]) > 0.99
