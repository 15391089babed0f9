
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fit_files import record_json
from numpyro.infer.util import log_density

from vi_od.config import compose_config, method_settings
from vi_od.data.trace import to_observations
from vi_od.errors import ViOdError
from vi_od.inference import get
from vi_od.inference.nuts import Settings, align_chains, model_and_args, thin
from vi_od.models.bcm_roles.model import BCM_ROLES
from vi_od.models.bcm_roles.relaxed import bernoulli_logit_loglik
from vi_od.models.bcm_roles.simulate import SimulatorSettings, simulate_trace

fit = get("nuts").fit


@pytest.fixture(scope="module")
def short_run(small_trace):
    settings = Settings(warmup=200, samples=200, num_samples=100)
    return fit(to_observations(small_trace), settings, jax.random.PRNGKey(0))


def test_recovers_eps_and_roles_on_a_small_trace(short_run, small_trace):
    # The truth must sit within 4 posterior sd of the mean (plus 0.01 for the Monte Carlo
    # error of ~100 effective draws), and the posterior must be far narrower than the
    # prior (sd of eps ~0.1), so that the check says something.
    post = short_run
    err = np.abs(post.mean - small_trace.eps)
    assert (err < 4 * post.std + 0.01).all(), (post.mean, post.std)
    assert (post.std < 0.05).all()
    np.testing.assert_array_equal(post.roles, small_trace.roles)


def test_reports_finite_diagnostics_and_raw_draws(short_run, small_trace):
    info = short_run.info
    assert (info["warmup"], info["samples"], info["chains"]) == (200, 200, 1)
    assert all(np.isfinite(v) and v < 1.1 for v in info["r_hat"].values())
    assert all(v > 10 for v in info["ess"].values())
    # a healthy run on well-identified data: few divergent transitions, the adapted step
    # size reaching about the target acceptance (0.8); a wrong gradient would break both
    assert info["divergences"] <= 0.05 * info["samples"] and info["step_size"] > 0
    assert 0.6 <= info["mean_accept_prob"] <= 1.0
    assert short_run.draws["params"].shape == (1, 200, 4)
    assert short_run.draws["roles"].shape == (1, 200, small_trace.N)
    assert short_run.samples.shape == (100, 4)
    record_json(short_run, small_trace)


@pytest.fixture(scope="module")
def tiny_trace():
    return simulate_trace(SimulatorSettings(N=8, T=40, leader_proportion=0.25), 1)


def test_same_key_same_draws(tiny_trace):
    s = Settings(warmup=10, samples=10, num_samples=10, max_tree_depth=4, likelihood="exact")
    a = fit(to_observations(tiny_trace), s, jax.random.PRNGKey(3))
    b = fit(to_observations(tiny_trace), s, jax.random.PRNGKey(3))
    np.testing.assert_array_equal(a.draws["params"], b.draws["params"])
    np.testing.assert_array_equal(a.p_leader, b.p_leader)


def test_two_vectorized_chains(tiny_trace):
    s = Settings(warmup=10, samples=10, chains=2, num_samples=20, max_tree_depth=4)
    post = fit(to_observations(tiny_trace), s, jax.random.PRNGKey(3))
    assert post.draws["params"].shape == (2, 10, 4) and post.info["chains"] == 2
    assert not np.array_equal(post.draws["params"][0], post.draws["params"][1])
    assert post.samples.shape == (20, 4)


def test_tabulated_and_exact_models_have_the_same_density(small_trace):
    # NUTS only sees the log density: compare it (and its gradient) at random points.
    table_model, table_args = model_and_args(
        to_observations(small_trace), Settings(likelihood="table"), BCM_ROLES
    )
    exact_model, exact_args = model_and_args(
        to_observations(small_trace), Settings(likelihood="exact"), BCM_ROLES
    )
    density = lambda model, args: lambda z: log_density(model, args, {}, z)[0]
    rng = np.random.default_rng(0)
    for _ in range(3):
        z = {
            "theta": jnp.asarray(rng.normal(size=small_trace.N + 4), jnp.float32),
            "roles": jnp.asarray(rng.uniform(0.01, 0.99, small_trace.N), jnp.float32),
        }
        exact, g_exact = jax.value_and_grad(density(exact_model, exact_args))(z)
        table, g_table = jax.value_and_grad(density(table_model, table_args))(z)
        assert float(table) == pytest.approx(float(exact), rel=1e-5)
        for name in z:
            scale = float(jnp.abs(g_exact[name]).max())
            np.testing.assert_allclose(g_table[name], g_exact[name], atol=1e-4 * scale)


def test_align_chains_swaps_a_chain_in_the_mirror_mode():
    eps = np.array([[[0.3, 0.1, 0.6, 0.9]] * 3, [[0.1, 0.3, 0.9, 0.6]] * 3])
    roles = np.array([[[0.9, 0.1, 0.0]] * 3, [[0.1, 0.9, 1.0]] * 3])
    e, r = align_chains(eps, roles, BCM_ROLES.swap)
    np.testing.assert_array_equal(e[1], eps[0])
    np.testing.assert_allclose(r[1], roles[0])
    np.testing.assert_array_equal(e[0], eps[0])


def test_thin_spreads_over_all_draws():
    idx = thin(800, 200)
    assert idx.size == 200 and idx[0] == 0 and idx[-1] == 799 and (np.diff(idx) > 0).all()


def test_fused_bernoulli_likelihood_matches_log_sigmoid_form():
    logit = jnp.linspace(-40.0, 40.0, 101)
    s = (jnp.arange(101) % 2).astype(jnp.float32)
    reference = lambda a: jnp.sum(s * jax.nn.log_sigmoid(a) + (1 - s) * jax.nn.log_sigmoid(-a))
    fused = lambda a: jnp.sum(bernoulli_logit_loglik(a, s))
    np.testing.assert_allclose(fused(logit), reference(logit), rtol=1e-6)
    np.testing.assert_allclose(jax.grad(fused)(logit), jax.grad(reference)(logit), atol=1e-6)


@pytest.mark.parametrize(
    "override,key",
    [
        ("method.samples=0", "method.samples=0"),
        ("method.warmup=-1", "method.warmup=-1"),
        ("method.chains=0", "method.chains=0"),
        ("method.chain_method=parallel", "method.chain_method=parallel"),
        ("method.target_accept=1.5", "method.target_accept=1.5"),
        ("method.max_tree_depth=0", "method.max_tree_depth=0"),
        ("method.temperature=0", "method.temperature=0"),
        ("method.num_samples=5000", "method.num_samples=5000"),
        ("method.init=zeros", "method.init=zeros"),
        ("method.likelihood=approx", "method.likelihood=approx"),
    ],
)
def test_invalid_settings_are_named(override, key):
    with pytest.raises(ViOdError, match=f"^{key} is not allowed: must be"):
        method_settings(compose_config(["method=nuts", override]))


def test_registered_with_the_conf_defaults():
    method, settings = method_settings(compose_config(["method=nuts"]))
    assert method is get("nuts") and settings == Settings()
