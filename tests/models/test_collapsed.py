import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vi_od.data.stream import Activity
from vi_od.data.trace import to_observations
from vi_od.errors import ViOdError
from vi_od.models.bcm_roles.collapsed import (
    collapsed_log_likelihood,
    group_by_receiver,
    label_symmetric_beta,
    leader_probability,
    tabulate,
)
from vi_od.models.bcm_roles.relaxed import (
    CHUNK_ROWS,
    ROW,
    _rows_by_receiver,
    interactions,
    log_likelihood,
)
from vi_od.models.bcm_roles.simulate import (
    SimulatorSettings,
    simulate_stream,
    simulate_trace,
    stream_observations,
)

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


# --- the tabulated form (what nuts-marginal and svi-marginal read) --------------------


@pytest.fixture(scope="module")
def heavy_obs():
    """N=60, 3,990 interactions, receivers by zipf:1.5: one agent receives about a quarter."""
    settings = SimulatorSettings(N=60, T=400, leader_proportion=0.1)
    return stream_observations(simulate_stream(settings, 5, Activity("zipf", 1.5)), settings, 5)


def random_points(n, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        eps = np.r_[rng.uniform(0.02, 0.48, 2), rng.uniform(0.52, 0.98, 2)]
        yield eps, rng.uniform(0.05, 0.5)


@pytest.mark.parametrize("data", ["small", "heavy"])
def test_table_matches_the_exact_sum_values_gradients_roles(data, small_trace, heavy_obs):
    """The table against the exact sum over interactions, computed in float64.

    The table's own error is ~1e-8 per interaction (cubic Hermite at rho h = 0.13, steps by
    the corrected trapezoid rule); what remains is float32 rounding of sums of thousands of
    terms, ~1e-7 relative (measured: values within 3e-7, gradients within 1.2e-6 of their
    largest component, role posteriors within 1e-6). Tolerances leave 10-30x headroom.
    """
    obs = to_observations(small_trace) if data == "small" else heavy_obs
    table = tabulate(obs)
    with jax.enable_x64(True):
        exact = group_by_receiver(obs, jnp.float64)
        value_and_grad = jax.value_and_grad(collapsed_log_likelihood, argnums=(0, 1))
        for eps, pi in random_points(4):
            want, (want_eps, want_pi) = value_and_grad(jnp.asarray(eps), jnp.asarray(pi), exact)
            e32, pi32 = jnp.asarray(eps, jnp.float32), jnp.float32(pi)
            got, (got_eps, got_pi) = value_and_grad(e32, pi32, table)
            assert float(got) == pytest.approx(float(want), rel=1e-5)
            scale = float(jnp.abs(want_eps).max())
            np.testing.assert_allclose(got_eps, want_eps, atol=3e-5 * scale)
            assert float(got_pi) == pytest.approx(float(want_pi), rel=1e-4, abs=1e-3)
            p_exact = leader_probability(jnp.asarray(eps), jnp.asarray(pi), exact)
            np.testing.assert_allclose(leader_probability(e32, pi32, table), p_exact, atol=3e-5)


def test_heavy_tailed_receivers_cost_interactions_not_padding(heavy_obs):
    counts = heavy_obs.received()
    assert counts.max() > 0.2 * heavy_obs.M  # one agent receives over a fifth
    # the exact form pads every agent to the busiest one; the table's rows do not
    assert group_by_receiver(heavy_obs).abs_diff.size >= heavy_obs.N * counts.max()
    rows, agent = _rows_by_receiver(heavy_obs.abs_diff, heavy_obs.receiver, heavy_obs.N, np.inf)
    assert rows.size <= heavy_obs.M + ROW * (heavy_obs.N + 1) + rows.shape[1] * CHUNK_ROWS
    real = np.isfinite(rows)
    assert real.sum() == heavy_obs.M
    np.testing.assert_array_equal(np.bincount(agent, weights=real.sum(1), minlength=60), counts)
