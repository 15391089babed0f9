import jax
import numpy as np
import pytest

from vi_od.config import compose_config, method_settings
from vi_od.data.trace import to_observations
from vi_od.errors import ViOdError
from vi_od.inference import get
from vi_od.inference.marginal import NutsSettings, SviSettings, relabel
from vi_od.inference.posterior import metrics
from vi_od.models import default_model
from vi_od.models.bcm_roles.model import BCM_ROLES
from vi_od.progress import quiet


def test_relabel_swaps_only_samples_with_a_leader_majority():
    eps = np.array([[0.1, 0.3, 0.6, 0.9], [0.2, 0.4, 0.7, 0.8], [0.3, 0.1, 0.9, 0.6]])
    pi = np.array([0.8, 0.2, 0.5])
    new_eps, new_pi = relabel(eps, pi, BCM_ROLES.swap)
    np.testing.assert_allclose(new_eps[0], [0.3, 0.1, 0.9, 0.6])  # F <-> L, pi -> 1 - pi
    np.testing.assert_allclose(new_pi, [0.2, 0.2, 0.5])
    np.testing.assert_allclose(new_eps[1:], eps[1:])  # pi <= 1/2 is left alone
    # (chain, draw, ...) arrays relabel the same way
    chains_eps, chains_pi = relabel(eps.reshape(1, 3, 4), pi.reshape(1, 3), BCM_ROLES.swap)
    np.testing.assert_allclose(chains_eps[0], new_eps)
    np.testing.assert_allclose(chains_pi[0], new_pi)


@pytest.mark.parametrize("name", ["nuts-marginal", "svi-marginal"])
def test_conf_composes_into_validated_settings(name):
    method, settings = method_settings(compose_config([f"method={name}"]))
    assert method.name == name
    assert settings.pi_prior == (1.0, 4.0) and settings.pi_fixed is None


@pytest.mark.parametrize(
    ("cls", "values", "message"),
    [
        (NutsSettings, {"warmup": 0}, "method.warmup=0"),
        (NutsSettings, {"target_accept": 1.0}, "method.target_accept=1.0"),
        (NutsSettings, {"pi_prior": [1.0]}, "method.pi_prior"),
        (SviSettings, {"pi_fixed": 0.7}, r"method.pi_fixed=0.7 .*\(0, 0.5\]"),
        (SviSettings, {"guide": "flow"}, "multivariate-normal"),
        (SviSettings, {"lr_decay": 0.0}, "method.lr_decay"),
    ],
)
def test_bad_settings_name_the_key(cls, values, message):
    with pytest.raises(ViOdError, match=message):
        cls(**values).validate()


def check_recovery(post, trace):
    """Truth within 4 posterior sd (+0.005 for the grid's own spacing) and roles exact."""
    err = np.abs(post.mean - trace.eps)
    assert np.all(err <= 4 * post.std + 0.005), (post.mean, post.std, trace.eps)
    m = metrics(post, trace, default_model())
    assert m["perfect_roles"] and m["brier"] < 0.01
    # 3 of 30 agents lead; pi's posterior given the roles is about Beta(4, 31)
    assert 0.05 < post.info["leader_proportion"] < 0.2


def test_svi_marginal_recovers_eps_pi_and_roles(small_trace):
    method = get("svi-marginal")
    settings = SviSettings(steps=1000, num_samples=300).validate()
    with quiet():
        post = method.fit(to_observations(small_trace), settings, jax.random.PRNGKey(0))
    check_recovery(post, small_trace)
    assert post.info["steps"] == 1000 and np.isfinite(post.info["final_loss"])
    assert post.draws["params"].shape == (1, 300, 4) and post.draws["pi"].shape == (1, 300)
    assert post.p_leader_std.shape == (small_trace.N,)


def test_same_key_same_posterior(small_trace):
    settings = SviSettings(steps=100, num_samples=20).validate()
    with quiet():
        a, b = (
            get("svi-marginal").fit(to_observations(small_trace), settings, jax.random.PRNGKey(3))
            for _ in "ab"
        )
    np.testing.assert_array_equal(a.samples, b.samples)
    np.testing.assert_array_equal(a.p_leader, b.p_leader)


def test_nuts_marginal_recovers_eps_pi_and_roles_with_diagnostics(small_trace):
    method = get("nuts-marginal")
    settings = NutsSettings(warmup=200, samples=200, chains=2).validate()
    with quiet():
        post = method.fit(to_observations(small_trace), settings, jax.random.PRNGKey(1))
    check_recovery(post, small_trace)
    assert post.draws["params"].shape == (2, 200, 4)
    assert set(post.info["r_hat"]) == {"eps_plus_F", "eps_plus_L", "eps_minus_F", "eps_minus_L",
                                       "pi"}  # fmt: skip
    assert max(post.info["r_hat"].values()) < 1.05  # chains agree after relabelling
    assert min(post.info["ess"].values()) > 50
    assert post.info["divergences"] == 0


def test_fixed_pi_is_used_as_given(small_trace):
    settings = NutsSettings(warmup=100, samples=100, pi_fixed=0.1).validate()
    with quiet():
        post = get("nuts-marginal").fit(
            to_observations(small_trace), settings, jax.random.PRNGKey(0)
        )
    np.testing.assert_allclose(post.draws["pi"], 0.1, rtol=1e-6)
    assert post.info["leader_proportion"] == pytest.approx(0.1)
    assert "pi" not in post.info["r_hat"]  # a constant has no r_hat
    assert metrics(post, small_trace, default_model())["perfect_roles"]


def test_diverging_svi_is_a_one_line_error(small_trace):
    settings = SviSettings(steps=100, lr=1e4, lr_decay=1.0, num_samples=10).validate()
    with quiet(), pytest.raises(ViOdError, match="method.lr"):
        get("svi-marginal").fit(to_observations(small_trace), settings, jax.random.PRNGKey(0))
