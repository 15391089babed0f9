"""SVI methods: the tabulated likelihood, the flow layer, recovery, chunking, restarts, errors."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.nn.block_neural_arn import BlockMaskedDense, BlockNeuralAutoregressiveNN

from vi_od.config import compose_config, method_settings
from vi_od.data.trace import Trace, to_observations
from vi_od.errors import ViOdError
from vi_od.inference import get
from vi_od.inference import svi as svi_method
from vi_od.inference.flows import PackedLayout, block_masked_dense, block_neural_arn
from vi_od.inference.posterior import metrics
from vi_od.models import default_model
from vi_od.models.bcm_roles.model import BCM_ROLES
from vi_od.models.bcm_roles.relaxed import interactions, likelihood_table, log_likelihood_agents
from vi_od.models.bcm_roles.simulate import SimulatorSettings, simulate_trace
from vi_od.progress import quiet

TRUE_EPS = (0.45, 0.15, 0.55, 0.85)


@pytest.fixture(scope="module")
def recovery_trace():
    """N=40, T=1024, 4 leaders, well-separated eps."""
    settings = SimulatorSettings(N=40, T=1024, leader_proportion=0.1, eps=TRUE_EPS)
    return simulate_trace(settings, seed=0)


def fit(trace, name, seed=0, **settings):
    method = get(name)
    with quiet():
        return method.fit(
            to_observations(trace), method.Settings(**settings).validate(), jax.random.PRNGKey(seed)
        )


def test_table_matches_the_sum_over_interactions(small_trace):
    data = interactions(to_observations(small_trace))
    table = likelihood_table(data)
    rng = np.random.default_rng(0)
    value_and_grad = jax.value_and_grad(log_likelihood_agents, argnums=(0, 1))
    for _ in range(3):
        plus = jnp.asarray(rng.uniform(0, 0.5, small_trace.N), jnp.float32)
        minus = jnp.asarray(rng.uniform(0.5, 1, small_trace.N), jnp.float32)
        exact, (g_plus, g_minus) = value_and_grad(plus, minus, data)
        approx, (t_plus, t_minus) = value_and_grad(plus, minus, table)
        # float32 rounding of the exact sum itself is ~1e-7 relative
        assert approx == pytest.approx(float(exact), rel=1e-5)
        scale = float(jnp.abs(g_plus).max())
        np.testing.assert_allclose(t_plus, g_plus, atol=1e-4 * scale)
        np.testing.assert_allclose(t_minus, g_minus, atol=1e-4 * scale)


def first_steps(trace, T):
    """The trace cut to its first T opinion snapshots."""
    cut = lambda a: a[: T - 1]
    return dataclasses.replace(
        trace, X=trace.X[:T], u=cut(trace.u), v=cut(trace.v),
        s_plus=cut(trace.s_plus), s_minus=cut(trace.s_minus),
    )  # fmt: skip


def table_shapes(trace):
    data = interactions(to_observations(trace))
    table = jax.eval_shape(lambda: likelihood_table(data))
    return tuple(x.shape for x in jax.tree.leaves(table))


def test_table_shape_depends_on_N_only(small_trace):
    assert table_shapes(first_steps(small_trace, 20)) == table_shapes(small_trace)


@pytest.mark.parametrize("num_blocks,in_factor,out_factor", [(6, 3, 4), (4, 2, 1)])
def test_packed_layer_is_numpyros_layer(num_blocks, in_factor, out_factor):
    """Same weights (numpyro's dense layout packed) give the same outputs, log-Jacobians, grads."""
    layout = PackedLayout(num_blocks)
    init_ref, apply_ref = BlockMaskedDense(num_blocks, in_factor, out_factor)
    apply = block_masked_dense(num_blocks, in_factor, out_factor)[1]
    x = jax.random.normal(jax.random.PRNGKey(1), (5, num_blocks * in_factor))
    logdet = jax.random.normal(jax.random.PRNGKey(2), (5, num_blocks, 2, in_factor))
    loss = lambda apply, params: (apply(params, (x, logdet))[0] ** 2).sum()

    @jax.jit
    def both():
        _, (W, ws, b) = init_ref(jax.random.PRNGKey(0), x.shape)
        ref, ours = (W, ws, b), (layout.pack(W, in_factor, out_factor), ws, b)
        outputs = [(apply_ref(ref, i), apply(ours, i)) for i in ((x, None), (x, logdet))]
        g_ref = jax.grad(lambda p: loss(apply_ref, p))(ref)
        g_ours = jax.grad(lambda p: loss(apply, p))(ours)
        return outputs, (layout.pack(g_ref[0], in_factor, out_factor), *g_ref[1:]), g_ours

    outputs, g_ref, g_ours = both()
    for ref, ours in outputs:
        np.testing.assert_allclose(ours[0], ref[0], atol=1e-5)
        np.testing.assert_allclose(ours[1], ref[1], atol=1e-5)
    for ref, ours in zip(g_ref, g_ours):
        np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_layer_init_is_finite_when_the_uniform_draw_is_zero():
    """Key 31951 draws an exact 0 among the 416 log-scales: log U(0, 1) as numpyro takes it
    is -inf there (svi-nf's loss was NaN at step 1 on one paper-grid trace). Ours is finite,
    and every other log-scale is the log of the same draw."""
    key = jax.random.PRNGKey(31951)
    draw = np.asarray(jax.random.uniform(jax.random.split(key, 3)[1], (416,)))
    assert (draw == 0).sum() == 1
    _, (_, ws, _) = block_masked_dense(52, 8, 8)[0](key, (1, 52 * 8))
    assert np.isfinite(ws).all()
    np.testing.assert_array_equal(ws[draw > 0], jnp.log(draw[draw > 0]))


def test_flow_is_autoregressive_with_the_right_log_jacobian():
    init, apply = block_neural_arn(6, [3, 4], "gated")
    _, params = jax.jit(init, static_argnums=1)(jax.random.PRNGKey(0), (6,))
    x = jax.random.normal(jax.random.PRNGKey(1), (6,))
    jacobian, log_det = jax.jit(
        lambda z: (jax.jacobian(lambda z: apply(params, z)[0])(z), apply(params, z)[1].sum())
    )(x)
    assert np.abs(np.triu(jacobian, 1)).max() == 0
    assert float(log_det) == pytest.approx(np.log(np.abs(np.diag(jacobian))).sum(), abs=1e-4)
    # numpyro's own network has the same parameter structure
    ref_init = BlockNeuralAutoregressiveNN(6, [3, 4], "gated")[0]
    ref_params = jax.eval_shape(lambda: ref_init(jax.random.PRNGKey(0), (6,))[1])
    assert jax.tree.structure(ref_params) == jax.tree.structure(params)


def test_svi_normal_recovers_eps_and_roles(recovery_trace):
    post = fit(recovery_trace, "svi-normal", steps=3000)
    np.testing.assert_allclose(post.mean, TRUE_EPS, atol=0.05)
    assert metrics(post, recovery_trace, default_model())["role_error_rate"] <= 0.1
    assert post.info["steps"] == 3000 and np.isfinite(post.info["final_loss"])
    assert post.draws["params"].shape == (1, 200, 4)
    assert post.draws["roles"].shape == (1, 200, recovery_trace.N)


@pytest.mark.slow
def test_svi_nf_recovers_eps_and_roles(recovery_trace):
    post = fit(recovery_trace, "svi-nf", steps=1500)
    np.testing.assert_allclose(post.mean, TRUE_EPS, atol=0.05)
    assert metrics(post, recovery_trace, default_model())["role_error_rate"] <= 0.1


def test_same_key_same_result_for_any_chunk_size(recovery_trace):
    settings = get("svi-normal").Settings(steps=600).validate()
    before = svi_method._chunk._cache_size()
    runs = [
        svi_method.fit(
            to_observations(recovery_trace),
            settings,
            jax.random.PRNGKey(3),
            BCM_ROLES,
            name="n",
            chunk=chunk,
        )
        for chunk in (250, 250, 600)
    ]
    np.testing.assert_allclose(runs[0].samples, runs[2].samples, rtol=1e-5)
    np.testing.assert_allclose(runs[0].p_leader, runs[2].p_leader, rtol=1e-5)
    # one program per chunk length, reused by every chunk (3 chunks of 250 steps, 1 of 600)
    assert svi_method._chunk._cache_size() - before == 2
    assert runs[0].info["final_loss"] == runs[1].info["final_loss"]


def test_restarts_keep_the_best_final_elbo(recovery_trace):
    post = fit(recovery_trace, "svi-normal", steps=400, restarts=3)
    finals = post.info["restart_final_losses"]
    assert post.info["restarts"] == 3 and len(set(finals)) == 3  # different initialisations
    assert post.info["best_restart"] == int(np.argmin(finals))
    assert post.info["final_loss"] == min(finals)


def test_temperature_schedule():
    constant = get("svi-normal").Settings(steps=10).validate().temperatures()
    np.testing.assert_allclose(constant, 0.1)
    annealed = get("svi-normal").Settings(steps=10, temperature_start=1.0).validate()
    t = annealed.temperatures()
    assert t[0] == pytest.approx(1.0) and np.all(t[5:] == pytest.approx(0.1))
    assert np.all(np.diff(t) <= 0)  # geometric decay, then constant


def test_final_loss_is_the_mean_of_the_last_five_percent():
    losses = np.array([[5.0] * 95 + [1.0] * 5, [5.0] * 99 + [np.nan]])
    np.testing.assert_array_equal(svi_method.final_losses(losses), [1.0, np.inf])


def test_absurd_learning_rate_stops_with_a_clear_error(recovery_trace):
    with pytest.raises(ViOdError, match=r"loss became NaN at step \d+; try a smaller method.lr"):
        fit(recovery_trace, "svi-normal", steps=500, lr=1e6)


def test_trace_without_interactions_cannot_be_fitted():
    trace = Trace(
        X=np.zeros((1, 3), np.float32), u=np.zeros((0, 2), np.int32), v=np.zeros((0, 2), np.int32),
        s_plus=np.zeros((0, 2), np.int8), s_minus=np.zeros((0, 2), np.int8),
        mu_plus=np.full(2, 0.02), mu_minus=np.full(2, 0.02), rho=32.0,
    )  # fmt: skip
    with pytest.raises(ViOdError, match="no interactions"):
        fit(trace, "svi-normal", steps=10)


def test_label_switch_flips_the_raw_role_draws_too():
    eps = np.tile([0.1, 0.3, 0.6, 0.9], (2, 1))
    roles = np.array([[0.9, 0.8, 0.1], [0.7, 0.9, 0.3]])  # two of three agents leaders
    post = svi_method._posterior("m", BCM_ROLES, eps, roles, np.array([1.0]), 0, 10)
    np.testing.assert_allclose(post.mean, [0.3, 0.1, 0.9, 0.6])
    np.testing.assert_allclose(post.p_leader, [0.2, 0.15, 0.8])
    np.testing.assert_allclose(post.draws["roles"][0].mean(axis=0), post.p_leader)
    np.testing.assert_allclose(post.draws["params"][0], post.samples)


@pytest.mark.parametrize(
    "override,message",
    [
        ("method.steps=0", "method.steps=0 is not allowed: must be an integer >= 1"),
        ("method.lr=-1", "method.lr=-1 is not allowed: must be a number > 0"),
        ("method.temperature=0", "method.temperature=0 is not allowed"),
        ("method.restarts=1.5", "method.restarts=1.5 is not allowed"),
        ("method.temperature_start=-1", "method.temperature_start=-1 is not allowed"),
        ("method.stepz=3", "unknown config key 'method.stepz'"),
    ],
)
def test_bad_settings_name_the_key(override, message):
    with pytest.raises(ViOdError) as err:
        method_settings(compose_config(["method=svi-normal", override]))
    assert message in str(err.value)


def test_flow_settings_from_config():
    method, settings = method_settings(compose_config(["method=svi-nf", "method.num_flows=1"]))
    assert method.name == "svi-nf" and settings.num_flows == 1
    assert settings.hidden_factors == (8, 8) and settings.steps == 10000
    with pytest.raises(ViOdError, match="method.hidden_factors"):
        method_settings(compose_config(["method=svi-nf", "method.hidden_factors=[8,0]"]))
    assert dataclasses.asdict(settings)["hidden_factors"] == (8, 8)
