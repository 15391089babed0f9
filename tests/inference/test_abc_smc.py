import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fit_files import record_json
from scipy.special import log_expit

from vi_od.config import compose_config, method_settings
from vi_od.data.trace import to_observations
from vi_od.errors import ViOdError
from vi_od.inference import get
from vi_od.inference.abc_smc import (
    Population,
    Problem,
    Settings,
    importance_log_weights,
    smc_abc,
    weighted_quantile,
)
from vi_od.inference.posterior import metrics
from vi_od.models import default_model
from vi_od.models.bcm_roles.forward import deterministic_counts, observe
from vi_od.models.bcm_roles.simulate import SimulatorSettings, dynamics_from_eps, simulate_trace

fit = get("abc-smc").fit

# --- toy problems with known posteriors -----------------------------------------------------
# Module-level functions: Problem is a static jit argument, hashed by identity.


def _normal_prior(key, data):
    return jax.random.normal(key, (1,))


def _log_normal_prior(theta):
    return -0.5 * np.sum(theta**2, axis=1)


def _fair_coins(theta, data):
    return jnp.zeros(data["c"].shape[0])


def _sum_distance(key, theta, z, data):
    """y = theta + c.z + noise_sd * e; the distance is |y - y_obs|."""
    y = theta[0] + jnp.dot(data["c"], z) + data["noise_sd"] * jax.random.normal(key)
    return jnp.abs(y - data["y"])


TOY = Problem(_normal_prior, _log_normal_prior, _fair_coins, _sum_distance)


def toy_posterior(c, noise_sd, y):
    """Exact p(z | y) for every z, and E[theta | y], of theta ~ N(0, 1), z_k ~ Bernoulli(1/2)."""
    zs = np.array(list(itertools.product([0, 1], repeat=len(c))))
    s = zs @ c
    var = 1 + noise_sd**2
    log_p = -((y - s) ** 2) / (2 * var)
    p = np.exp(log_p - log_p.max())
    p /= p.sum()
    theta_mean = p @ ((y - s) / var)  # theta | z, y ~ N((y - c.z) / var, noise_sd^2 / var)
    return zs, p, theta_mean


def weighted_moments(theta, w):
    mean = w @ theta
    return mean, np.sqrt(w @ (theta - mean) ** 2)


def test_gaussian_mean_matches_the_analytic_posterior():
    # theta ~ N(0, 1), summary = mean of n = 10 draws of N(theta, 1), observed 1.0: the
    # posterior is N(10/11, 1/11) (sd 0.30). At epsilon 0.02 (the summary's sd is 0.32)
    # the ABC posterior's extra variance is eps^2/3 ~ 1e-4, negligible. Monte Carlo error
    # of the weighted mean is sd/sqrt(ESS), of the sd about sd/sqrt(2 ESS): 4 of them.
    n = 10
    data = {"c": jnp.zeros(0), "noise_sd": jnp.float32(1 / np.sqrt(n)), "y": jnp.float32(1.0)}
    result = smc_abc(
        jax.random.PRNGKey(0),
        TOY,
        data,
        population=1000,
        simulations=400_000,
        min_epsilon=0.02,
        chunk_size=20_000,
    )
    assert result.stopped == "min_epsilon"
    pop = result.population
    ess = result.generations[-1].ess
    assert ess > 200
    mean, sd = weighted_moments(pop.theta[:, 0], pop.weights)
    true_mean, true_sd = n / (n + 1), 1 / np.sqrt(n + 1)
    assert abs(mean - true_mean) < 4 * true_sd / np.sqrt(ess)
    assert abs(sd - true_sd) < 4 * true_sd / np.sqrt(2 * ess)


@pytest.mark.parametrize("redraw", [1.0, 0.3])
def test_binary_variables_match_the_exact_posterior(redraw):
    # y = theta + z1 + 2 z2 + 4 z3 + 0.5 e with z_k ~ Bernoulli(1/2), observed y = 2: p(z | y)
    # is 0.36 / 0.24 / 0.24 / 0.07 / 0.07 on five of the 8 configurations. redraw = 0.3 keeps
    # each parent bit with probability 0.7 (a symmetric kernel: flip with probability 0.15);
    # the weights must divide by that kernel's mixture over parents: with it left out (the
    # "symmetric kernels cancel" mistake) configurations came out off by up to 0.18, 3-4
    # times the tolerance below, on two seeds; with it, within 0.4 of it.
    c, noise_sd, y = np.array([1.0, 2.0, 4.0]), 0.5, 2.0
    data = {"c": jnp.asarray(c), "noise_sd": jnp.float32(noise_sd), "y": jnp.float32(y)}
    result = smc_abc(
        jax.random.PRNGKey(1),
        TOY,
        data,
        population=2000,
        simulations=400_000,
        min_epsilon=0.05,
        redraw=redraw,
        chunk_size=20_000,
    )
    assert result.stopped == "min_epsilon"
    pop = result.population
    ess = result.generations[-1].ess
    assert ess > 500
    zs, p, theta_mean = toy_posterior(c, noise_sd, y)
    config = pop.z.astype(int) @ (2 ** np.arange(len(c)))[::-1]  # row of zs
    got = np.bincount(config, weights=pop.weights, minlength=len(zs))
    tol = 4 * np.sqrt(p * (1 - p) / ess) + 2 / ess  # binomial error of each probability
    np.testing.assert_array_less(np.abs(got - p), tol)
    mean, _ = weighted_moments(pop.theta[:, 0], pop.weights)
    assert abs(mean - theta_mean) < 4 * 1.2 / np.sqrt(ess)  # posterior sd of theta < 1.2


def test_discrete_kernel_weights_against_brute_force():
    # importance_log_weights = log prior - log sum_j w_j K(theta | theta_j) R(z | z_j),
    # checked term by term against a direct evaluation on a small random population.
    rng = np.random.default_rng(0)
    P, M, m, q = 7, 5, 4, 0.3
    prev = Population(
        theta=rng.normal(size=(P, 1)),
        z=rng.integers(0, 2, (P, m)).astype(np.int8),
        weights=rng.dirichlet(np.ones(P)),
        distances=np.zeros(P),
    )
    theta, z = rng.normal(size=(M, 1)), rng.integers(0, 2, (M, m)).astype(np.int8)
    chol = np.array([[0.7]])
    data = {"c": jnp.zeros(m)}
    got = importance_log_weights(TOY, theta, z, prev, chol, q, data)

    def flip_kernel(zi, zj):  # keep with 1 - q, else redraw from Bernoulli(1/2)
        return np.prod(np.where(zi == zj, 1 - q + q / 2, q / 2))

    for i in range(M):
        mix = sum(
            prev.weights[j]
            * np.exp(-0.5 * ((theta[i, 0] - prev.theta[j, 0]) / 0.7) ** 2)
            * flip_kernel(z[i], prev.z[j])
            for j in range(P)
        )
        want = -0.5 * theta[i, 0] ** 2 + m * np.log(0.5) - np.log(mix)
        assert got[i] == pytest.approx(want, abs=1e-9)


def test_weighted_quantile():
    v = np.array([3.0, 1.0, 2.0, 4.0])
    assert weighted_quantile(v, np.full(4, 0.25), 0.5) == 2.0
    assert weighted_quantile(v, np.array([0.0, 0.0, 0.1, 0.9]), 0.5) == 4.0


# --- the BCM-with-roles fit ---------------------------------------------------------------

SEED = 3


@pytest.fixture(scope="module")
def tiny_trace():
    return simulate_trace(SimulatorSettings(N=20, T=120, leader_proportion=0.1), SEED)


def test_deterministic_counts_follow_the_threshold_rules(tiny_trace):
    obs = observe(to_observations(tiny_trace))
    roles = jnp.asarray(tiny_trace.roles, jnp.int32)
    dyn = dynamics_from_eps(jnp.asarray(tiny_trace.eps), obs.mu_plus, obs.mu_minus, obs.rho)
    s_plus, s_minus = deterministic_counts(obs.X0, obs.u, obs.v, roles, dyn)
    # step 0 reads X0: recount it by hand
    d = np.abs(tiny_trace.X[0][tiny_trace.u[0]] - tiny_trace.X[0][tiny_trace.v[0]])
    r = tiny_trace.roles[tiny_trace.v[0]]
    assert int(s_plus[0]) == int((d < tiny_trace.eps[r]).sum())
    assert int(s_minus[0]) == int((d >= tiny_trace.eps[2 + r]).sum())
    assert s_plus.shape == s_minus.shape == (tiny_trace.T - 1,)


@pytest.mark.parametrize("simulator", ["stochastic", "deterministic"])
def test_chunked_equals_unchunked(tiny_trace, simulator):
    s = Settings(simulations=800, population=50, simulator=simulator, role_redraw=0.5)
    key = jax.random.PRNGKey(5)
    whole = fit(to_observations(tiny_trace), s, key)
    parts = fit(to_observations(tiny_trace), Settings(**{**vars(s), "chunk_size": 37}), key)
    assert whole.info["generations"] >= 3
    np.testing.assert_array_equal(whole.samples, parts.samples)
    np.testing.assert_array_equal(whole.p_leader, parts.p_leader)
    assert whole.info == parts.info


def test_budget_generations_and_the_record(tiny_trace):
    s = Settings(simulations=800, population=50, max_generations=3, threshold_factor=0.0)
    post = fit(to_observations(tiny_trace), s, jax.random.PRNGKey(0))
    info = post.info
    assert info["generations"] <= 3 and info["simulations"] <= 800
    assert info["stopped"] in ("budget", "max_generations")
    assert info["epsilons"] == sorted(info["epsilons"], reverse=True)
    assert len(info["ess"]) == len(info["acceptance_rates"]) == info["generations"]
    assert 0.0 <= info["leader_proportion"] <= 0.5  # aligned: followers are the majority
    record = record_json(post, tiny_trace)
    assert record["simulations"] == info["simulations"]
    assert post.samples.shape == (50, 4)


def test_the_papers_minimum_epsilon_stops_at_the_prior(tiny_trace):
    # 5 sqrt(T) is above every prior draw's distance here: the run ends after generation 0
    post = fit(
        to_observations(tiny_trace),
        Settings(threshold_factor=5.0, population=200),
        jax.random.PRNGKey(0),
    )
    assert post.info["stopped"] == "min_epsilon"
    assert post.info["generations"] == 1 and post.info["simulations"] == 200


def test_beats_the_prior_on_a_small_trace():
    # The prior mean of eps is (0.25, 0.25, 0.75, 0.75) (sigmoid(N(0, 1))/2 is symmetric
    # about 1/4): RMSE 0.158 against this truth, where rejection ABC at the paper's
    # threshold stays. 2 of the 20 agents are leaders, so the summaries carry the
    # followers' thresholds: their errors fall from the prior's 0.2 to 0.05-0.08 (4 runs,
    # 2 traces x 2 keys, either simulator; RMSE 0.10-0.12), tested at half the prior's.
    eps = (0.45, 0.15, 0.55, 0.85)
    trace = simulate_trace(SimulatorSettings(N=20, T=120, leader_proportion=0.1, eps=eps), 1)
    prior_rmse = float(np.sqrt(np.mean((np.array([0.25, 0.25, 0.75, 0.75]) - eps) ** 2)))
    post = fit(
        to_observations(trace), Settings(simulations=6000, population=500), jax.random.PRNGKey(0)
    )
    assert metrics(post, trace, default_model())["rmse_eps"] < 0.8 * prior_rmse
    assert abs(post.mean[0] - 0.45) < 0.1 and abs(post.mean[2] - 0.55) < 0.1


@pytest.mark.parametrize(
    "override,shown",
    [
        ("method.simulations=50", "method.simulations=50"),
        ("method.population=5", "method.population=5"),
        ("method.max_generations=0", "method.max_generations=0"),
        ("method.threshold_factor=-1", "method.threshold_factor=-1"),
        ("method.quantile=1", "method.quantile=1"),
        ("method.kernel_scale=0", "method.kernel_scale=0"),
        ("method.role_redraw=0", "method.role_redraw=0"),
        ("method.role_redraw=1.5", "method.role_redraw=1.5"),
        ("method.role_prior=beta", "method.role_prior=beta"),
        ("method.simulator=exact", "method.simulator=exact"),
        ("method.chunk_size=0", "method.chunk_size=0"),
    ],
)
def test_invalid_settings_are_named(override, shown):
    with pytest.raises(ViOdError, match=f"^{shown} is not allowed: must be"):
        method_settings(compose_config(["method=abc-smc", override]))


def test_registered_with_the_conf_defaults():
    method, settings = method_settings(compose_config(["method=abc-smc"]))
    assert method is get("abc-smc") and settings == Settings()


def test_log_prior_share_is_uniform_on_the_share():
    # logit pi ~ Logistic(0, 1) <=> pi ~ Uniform(0, 1): density sigmoid(x) sigmoid(-x)
    from vi_od.inference.abc_smc import _log_prior_share

    x = np.linspace(-8, 8, 4001)
    theta = np.zeros((x.size, 5))
    theta[:, 4] = x
    density = np.exp(_log_prior_share(theta))  # the N(0,1)^4 part is 1 at theta = 0
    assert np.trapezoid(density, x) == pytest.approx(1.0, abs=1e-3)
    np.testing.assert_allclose(np.log(density), log_expit(x) + log_expit(-x))


def test_extra_thetas_are_drawn_and_weighted_as_the_parameters_and_give_the_latent():
    """bcm-feed's k comes from an extra theta: the problem's theta is P + 1 long, its log
    prior N(0, 1) on all of it, it has no binary latent (no discrete kernel in the weights),
    and the distance simulates with the k that theta maps to."""
    from scipy.special import logit, ndtri

    from vi_od.inference.abc_smc import model_problem
    from vi_od.models import get_model
    from vi_od.models.bcm_feed.model import Settings as FeedSettings
    from vi_od.models.bcm_feed.model import simulate_trace as simulate_feed

    feed = get_model("bcm-feed")
    trace = simulate_feed(FeedSettings(N=50, T=64, feed_size=5, k=2, eps=(0.3, 0.6),
                                       deterministic=True).validate(), 1)  # fmt: skip
    observed = feed.simulator.observe(to_observations(trace))
    problem = model_problem(feed, "bernoulli", "deterministic")
    assert problem.sample_prior(jax.random.PRNGKey(0), observed).shape == (3,)
    x = np.random.default_rng(0).standard_normal((7, 3))
    np.testing.assert_allclose(problem.log_prior(x), -0.5 * (x**2).sum(axis=1))
    assert problem.binary_logits(jnp.zeros(3), observed).shape == (0,)
    eps_theta = logit([0.6, 0.2])  # eps+ = sigmoid / 2, eps- = 1/2 + sigmoid / 2

    def distance(k: int) -> float:
        theta = jnp.asarray([*eps_theta, ndtri((k - 0.5) / 5)], jnp.float32)  # k's middle
        no_binary = jnp.zeros(0, jnp.int32)
        return float(problem.distance(jax.random.PRNGKey(0), theta, no_binary, observed))

    assert distance(2) == 0.0 and distance(4) > 0.0
