"""The BCM with roles with rho learned: the (eps, log rho) tables against the sums over the
interactions, the hard-rule simulator, and recovery of eps, roles and rho."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vi_od.data.trace import to_observations
from vi_od.errors import ViOdError
from vi_od.inference import get
from vi_od.inference.fitting import fit_observations
from vi_od.models import get_model
from vi_od.models.bcm_roles.learned_rho import agent_log_likelihoods, rho_table
from vi_od.models.bcm_roles.relaxed import interactions
from vi_od.models.bcm_roles.settings import settings_from_config
from vi_od.models.bcm_roles.simulate import SimulatorSettings, simulate_trace
from vi_od.progress import quiet

MODEL = get_model("bcm-roles+rho")
EPS = (0.35, 0.25, 0.55, 0.85)


def _trace(N=100, T=512, seed=3, **kw):
    settings = SimulatorSettings(N=N, T=T, leader_proportion=0.1, eps=EPS, **kw)
    return simulate_trace(settings.validate(), seed)


@pytest.fixture(scope="module")
def observations():
    return to_observations(_trace(N=40, T=200))


@pytest.fixture(scope="module")
def table(observations):
    return rho_table(observations)


@pytest.mark.parametrize("rho", [4.0, 9.5, 32.0, 70.0, 130.0, 255.0])
def test_the_table_matches_the_sum_over_the_interactions(observations, table, rho):
    """Per agent and role within 1e-5 of the log-likelihood's scale (the cubic in log rho,
    nodes 0.17 apart: measured up to 3e-6 between nodes, 1e-7 at them), and the gradient in
    all five parameters within 1e-4 of its scale."""
    data = interactions(observations)
    params = jnp.array([0.21, 0.12, 0.67, 0.91, rho])
    exact = agent_log_likelihoods(params, data)
    scale = float(jnp.abs(exact).max())
    np.testing.assert_allclose(agent_log_likelihoods(params, table), exact, atol=1e-5 * scale)
    grad = lambda d: jax.grad(lambda p: agent_log_likelihoods(p, d).sum())(params)
    g_exact = grad(data)
    np.testing.assert_allclose(grad(table), g_exact, atol=1e-4 * float(jnp.abs(g_exact).max()))


def test_the_hard_rule_draws_exactly_the_thresholds_outcomes():
    t = _trace(N=50, T=100, deterministic=True)
    roles, d = t.roles[t.v], t.abs_diff()
    eps = np.asarray(EPS)
    assert np.array_equal(t.s_plus, d < eps[:2][roles])
    assert np.array_equal(t.s_minus, d > eps[2:][roles])
    assert t.meta["simulator"]["deterministic"] is True


def test_a_deterministic_flag_that_is_not_a_boolean_is_refused():
    values = {"N": 10, "T": 10, "leader_proportion": 0.1,
              "simulator": {"edges_per_step": 2, "mu_plus": [0.02, 0.02], "rho": 32,
                            "mu_minus": [0.02, 0.02], "deterministic": "yes"}}  # fmt: skip
    with pytest.raises(ViOdError, match="simulator.deterministic=yes"):
        settings_from_config(values)


def _fit(trace, method="nuts-marginal"):
    with quiet():
        return fit_observations(to_observations(trace), method, get(method).Settings(), 1, MODEL)


def test_hard_rule_data_give_eps_and_roles_with_rho_learned():
    """The hard rule is rho = infinity: the posterior of rho piles up at the prior's top
    (256), and eps is then within 1/256 (the sigmoid's width there) plus 3 posterior sds."""
    fit = _fit(_trace(deterministic=True))
    post = fit.posterior
    assert post.mean[4] > 150
    err = np.abs(post.mean[:4] - np.asarray(EPS))
    assert np.all(err <= 1 / 256 + 3 * post.std[:4]), (post.mean, post.std)
    assert fit.record.metrics["role_error_rate"] == 0.0


def test_rho_of_sigmoid_data_is_recovered_and_the_fit_passes_its_check():
    """rho within 3 posterior sds; the predictive check replicates at each draw's rho and
    finds no misfit in data the model made."""
    trace = _trace(T=1024, rho=32.0)
    fit = _fit(trace)
    mean, std = fit.posterior.mean[4], fit.posterior.std[4]
    assert abs(mean - 32.0) <= 3 * std + 1.0, (mean, std)
    obs = to_observations(trace)
    result = MODEL.ppc.check(obs, MODEL.ppc.draws_from_record(fit.record, obs), seed=0)
    assert not result.misfit, result.summary_line()
    assert fit.record.param_names[-1] == "rho"
    truth = MODEL.truth_of(to_observations(_trace(N=10, T=10)))
    assert truth["rho"] == 32.0 and len(truth) == 5


def test_the_relaxed_view_reads_the_same_likelihood_from_the_table_as_from_the_sums(
    observations, table
):
    """The relaxed model (per-agent thresholds, rho at theta[4]) from the table and from
    every interaction: the same log density at two points of theta."""
    from numpyro.infer.util import log_density

    exact_model, arrays = MODEL.relaxed.exact(observations)
    for seed in (0, 1):
        theta = jax.random.normal(jax.random.PRNGKey(seed), (observations.N + 5,))
        point = {"theta": theta, "roles": jax.nn.sigmoid(theta[5:])}
        exact = log_density(exact_model, (arrays, 0.5), {}, point)[0]
        tabled = log_density(MODEL.relaxed.model, (table, 0.5), {}, point)[0]
        np.testing.assert_allclose(tabled, exact, rtol=1e-5)
