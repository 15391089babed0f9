from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fit_files import record_json

from vi_od.config import compose_config, method_settings
from vi_od.data.trace import to_observations
from vi_od.errors import ViOdError
from vi_od.inference import get
from vi_od.inference.abc import Settings, distances, prior_draw, select
from vi_od.inference.posterior import align_draws
from vi_od.models import get_model
from vi_od.models.bcm_roles.forward import observe
from vi_od.models.bcm_roles.model import BCM_ROLES
from vi_od.models.bcm_roles.simulate import SimulatorSettings, simulate_trace, split_simulation_key

SEED = 3
fit = get("abc").fit


@pytest.fixture(scope="module")
def tiny_trace():
    return simulate_trace(SimulatorSettings(N=20, T=120, leader_proportion=0.1), SEED)


def batch_with_truth(trace, n: int, at: int, out_key):
    """n prior candidates, the one at index `at` replaced by the trace's own truth."""
    keys = jax.random.split(jax.random.PRNGKey(0), n)
    eps, roles, out_keys = jax.vmap(partial(prior_draw, m=trace.N, model=BCM_ROLES))(keys)
    eps = eps.at[at].set(jnp.asarray(trace.eps))
    roles = roles.at[at].set(jnp.asarray(trace.roles, jnp.int32))
    out_keys = out_keys.at[at].set(out_key)
    return eps, roles, out_keys


def test_the_truths_own_simulation_is_at_distance_zero_and_accepted(tiny_trace):
    # The trace's outcomes were drawn with this key: same eps, roles, X0, pairs and key
    # must replay them exactly, so the summaries agree on every step.
    out_key = split_simulation_key(jax.random.PRNGKey(SEED))[3]
    eps, roles, out_keys = batch_with_truth(tiny_trace, 64, 17, out_key)
    d = np.asarray(distances(eps, roles, out_keys, observe(to_observations(tiny_trace)), BCM_ROLES))
    assert d[17] == 0.0
    assert (np.delete(d, 17) > 0).all()
    keep, kept_closest = select(d, threshold=0.5, min_accepted=1)
    assert keep.tolist() == [17] and not kept_closest

    # the same truth with another outcome key is not a replay: distance > 0
    other = out_keys.at[17].set(jax.random.PRNGKey(123))
    assert (
        float(distances(eps, roles, other, observe(to_observations(tiny_trace)), BCM_ROLES)[17]) > 0
    )


def test_chunked_equals_unchunked(tiny_trace):
    key = jax.random.PRNGKey(5)
    whole = fit(
        to_observations(tiny_trace), Settings(simulations=300, chunk_size=300, min_accepted=20), key
    )
    parts = fit(
        to_observations(tiny_trace), Settings(simulations=300, chunk_size=70, min_accepted=20), key
    )
    np.testing.assert_array_equal(whole.samples, parts.samples)
    np.testing.assert_array_equal(whole.p_leader, parts.p_leader)
    assert whole.info == parts.info


def test_fewer_accepted_than_the_minimum_keeps_the_closest(tiny_trace):
    s = Settings(simulations=200, threshold_factor=1e-3, min_accepted=30, chunk_size=200)
    post = fit(to_observations(tiny_trace), s, jax.random.PRNGKey(2))
    info = post.info
    assert info["accepted"] == 0 and info["kept_closest"] and info["kept"] == 30
    assert post.samples.shape == (30, 4)
    assert info["threshold_used"] >= info["min_distance"] > info["threshold"]
    record = record_json(post, tiny_trace)
    assert record["simulations"] == 200 and record["acceptance_rate"] == 0.0


def test_select_keeps_exactly_the_closest():
    d = np.array([5.0, 1.0, 3.0, 2.0, 4.0])
    keep, closest = select(d, threshold=0.5, min_accepted=2)
    assert closest and keep.tolist() == [1, 3]
    keep, closest = select(d, threshold=3.5, min_accepted=2)
    assert not closest and keep.tolist() == [1, 2, 3]


def test_align_labels_swaps_draws_with_a_leader_majority():
    eps = np.array([[0.3, 0.1, 0.6, 0.9], [0.1, 0.3, 0.9, 0.6]])
    roles = np.array([[0, 0, 1, 0], [1, 1, 0, 1]], np.int8)
    e, r = align_draws(eps, roles, BCM_ROLES.swap)
    np.testing.assert_array_equal(e, [[0.3, 0.1, 0.6, 0.9], [0.3, 0.1, 0.6, 0.9]])
    np.testing.assert_array_equal(r, [[0, 0, 1, 0], [0, 0, 1, 0]])


def test_recovers_eps_plus_follower_on_an_easy_trace():
    # Nearly all followers with a narrow attraction threshold: few positive interactions
    # per step, which the summary sees directly. The prior mean of eps+ is 0.25; the kept
    # draws' spread (sd ~0.04) sets the tolerance: within 0.1 = ~2.5 sd of the truth.
    eps = (0.05, 0.05, 0.95, 0.95)
    trace = simulate_trace(SimulatorSettings(N=40, T=200, leader_proportion=0.05, eps=eps), 0)
    s = Settings(simulations=3000, threshold_factor=2.0, min_accepted=50, chunk_size=1000)
    post = fit(to_observations(trace), s, jax.random.PRNGKey(1))
    assert abs(post.mean[0] - 0.05) < 0.1
    assert post.std[0] < 0.1  # the prior's sd of eps+ is ~0.1


@pytest.mark.parametrize(
    "override,key",
    [
        ("method.simulations=0", "method.simulations=0"),
        ("method.threshold_factor=-1", "method.threshold_factor=-1"),
        ("method.threshold_factor=0", "method.threshold_factor=0"),
        ("method.min_accepted=0", "method.min_accepted=0"),
        ("method.min_accepted=20000", "method.min_accepted=20000"),
        ("method.chunk_size=0", "method.chunk_size=0"),
    ],
)
def test_invalid_settings_are_named(override, key):
    with pytest.raises(ViOdError, match=f"^{key} is not allowed: must be"):
        method_settings(compose_config(["method=abc", override]))


def test_registered_with_the_conf_defaults():
    method, settings = method_settings(compose_config(["method=abc"]))
    assert method is get("abc") and settings == Settings()


def test_a_latent_drawn_through_an_extra_theta_follows_its_prior():
    """bcm-feed's k comes from one more N(0, 1) theta (Simulator.extra_thetas): the prior
    draws give k = the simulator's map of that theta, uniform on 1..F (4 binomial sds)."""
    from vi_od.models.bcm_feed.model import Settings as FeedSettings
    from vi_od.models.bcm_feed.model import simulate_trace as simulate_feed

    feed = get_model("bcm-feed")
    trace = simulate_feed(FeedSettings(N=30, T=8, feed_size=4).validate(), 0)
    observed = feed.simulator.observe(to_observations(trace))
    keys = jax.random.split(jax.random.PRNGKey(1), 40_000)
    draw = partial(prior_draw, m=0, model=feed, obs=observed)
    eps, z, _ = jax.vmap(draw)(keys)
    theta = jax.vmap(lambda k: jax.random.normal(jax.random.split(k, 3)[0], (3,)))(keys)
    expected = jax.vmap(feed.simulator.latents_from_theta, (0, None))(theta[:, 2:], observed)
    assert z.shape == (40_000, 1) and np.array_equal(np.asarray(z), np.asarray(expected))
    share = np.bincount(np.asarray(z[:, 0]), minlength=5)[1:] / z.shape[0]
    assert np.all(np.abs(share - 0.25) <= 4 * np.sqrt(0.25 * 0.75 / z.shape[0])), share
    np.testing.assert_allclose(np.asarray(eps), np.asarray(feed.from_theta(theta[:, :2])))
