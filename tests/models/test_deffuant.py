"""Plain Deffuant: its simulator's invariants, its tabulated likelihood, and recovery of eps."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vi_od.data.trace import to_observations
from vi_od.errors import ViOdError
from vi_od.inference import get
from vi_od.inference.fitting import fit_observations
from vi_od.models import get_model
from vi_od.models.deffuant import Settings, simulate_trace, tabulate
from vi_od.models.pooled import exact_plus, plus_part
from vi_od.progress import quiet

DEFFUANT = get_model("deffuant")


@pytest.fixture(scope="module")
def trace():
    return simulate_trace(Settings(N=100, T=400, eps=0.3).validate(), seed=4)


def test_both_agents_move_so_the_mean_opinion_never_changes(trace):
    """x_v += mu s d and x_u -= mu s d: every step keeps the sum of opinions (a one-sided
    update, the BCM's, would not)."""
    sums = trace.X.sum(axis=1)
    assert np.allclose(sums, sums[0], atol=1e-3) and trace.s_plus.sum() > 100
    assert not trace.s_minus.any() and trace.eps.tolist() == [pytest.approx(0.3)]


def test_the_table_is_the_sum_over_interactions_and_so_is_its_gradient(trace):
    obs = to_observations(trace)
    table = tabulate(obs)
    d, s = jnp.asarray(obs.abs_diff), jnp.asarray(obs.s_plus, jnp.float32)
    # all 3990 interactions are summed in one float32 cell: 2e-5 relative (0.02 of ~1000),
    # far below what moves a posterior (log-likelihood differences of order 1)
    for eps in (0.05, 0.21, 0.3, 0.44):
        exact = exact_plus(eps, d, s, obs.rho)
        assert float(plus_part(table, eps)) == pytest.approx(float(exact), rel=5e-5)
        g_table = jax.grad(lambda e: plus_part(table, e))(eps)
        g_exact = jax.grad(lambda e: exact_plus(e, d, s, obs.rho))(eps)
        assert float(g_table) == pytest.approx(float(g_exact), rel=1e-3, abs=0.05)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_nuts_marginal_recovers_eps_within_its_posterior_spread(seed):
    """The exact method on N = 100, T = 400 (3990 interactions): within 4 posterior sds
    (the table's interpolation error is ~1e-6 of the log-likelihood, far below)."""
    t = simulate_trace(Settings(N=100, T=400).validate(), seed=seed)
    settings = get("nuts-marginal").Settings(warmup=300, samples=300).validate()
    with quiet():
        post = fit_observations(to_observations(t), "nuts-marginal", settings, 0, DEFFUANT)
    (mean,), (sd,) = post.posterior.mean, post.posterior.std
    assert abs(mean - t.eps[0]) <= 4 * sd, (mean, sd, t.eps)
    assert post.record.param_names == ("eps",) and post.posterior.p_leader is None


def test_data_with_backfire_are_refused_in_one_line(small_trace):
    obs = to_observations(small_trace)  # the BCM with roles: it has negative interactions
    with pytest.raises(ViOdError, match="deffuant has no backfire"):
        get("svi-normal").fit(obs, get("svi-normal").Settings(steps=10), jax.random.PRNGKey(0),
                              DEFFUANT)  # fmt: skip
