import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vi_od.data.stream import Activity
from vi_od.data.trace import to_observations
from vi_od.errors import ViOdError
from vi_od.models.bcm_roles.simulate import (
    EPS_MINUS_GRID,
    EPS_PLUS_GRID,
    SimulatorSettings,
    chunk_steps,
    draw_eps_from_grid,
    dynamics_from_eps,
    simulate_counts,
    simulate_jit,
    simulate_stream,
    simulate_trace,
    split_simulation_key,
    stream_observations,
)


def replay(trace):
    """Recompute X from X0 and the recorded interactions, in plain numpy."""
    X = [trace.X[0].astype(np.float64)]
    for t in range(trace.T - 1):
        x = X[-1]
        u, v = trace.u[t], trace.v[t]
        r = trace.roles[v]
        d = x[u] - x[v]
        delta = (trace.mu_plus[r] * trace.s_plus[t] - trace.mu_minus[r] * trace.s_minus[t]) * d
        X.append(np.clip(x + np.bincount(v, delta, minlength=trace.N), 0, 1))
    return np.array(X)


def test_same_seed_same_trace_different_seed_different_trace():
    s = SimulatorSettings(N=20, T=50, leader_proportion=0.1)
    a, b, c = simulate_trace(s, 1), simulate_trace(s, 1), simulate_trace(s, 2)
    for name in ("X", "u", "v", "s_plus", "s_minus", "roles", "eps"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.X, c.X)
    assert not np.array_equal(a.u, c.u)


def test_recorded_opinions_follow_from_x0_and_interactions():
    s = SimulatorSettings(
        N=15, T=300, leader_proportion=0.2, mu_plus=(0.3, 0.1), mu_minus=(0.2, 0.4)
    )
    trace = simulate_trace(s, 5)
    assert trace.s_plus.sum() > 0 and trace.s_minus.sum() > 0
    np.testing.assert_allclose(trace.X, replay(trace), atol=1e-5)


def test_clipping_keeps_opinions_in_unit_interval():
    s = SimulatorSettings(
        N=10, T=200, leader_proportion=0.2, mu_minus=(1.0, 1.0), eps=(0.0, 0.0, 0.5, 0.5)
    )
    trace = simulate_trace(s, 3)
    assert trace.X.min() >= 0 and trace.X.max() <= 1
    assert (trace.X[-1] == 0).any() or (
        trace.X[-1] == 1
    ).any()  # repulsion pushed someone to an edge


def test_large_rho_gives_the_deterministic_rules():
    s = SimulatorSettings(N=40, T=300, leader_proportion=0.2, rho=1e6, eps=(0.35, 0.15, 0.65, 0.85))
    trace = simulate_trace(s, 4)
    d = trace.abs_diff()
    r = trace.roles[trace.v]
    eps_plus = np.where(r == 1, 0.15, 0.35)
    eps_minus = np.where(r == 1, 0.85, 0.65)
    away = (np.abs(d - eps_plus) > 1e-4) & (np.abs(d - eps_minus) > 1e-4)  # not on a threshold
    np.testing.assert_array_equal(trace.s_plus[away], (d < eps_plus)[away])
    np.testing.assert_array_equal(trace.s_minus[away], (d > eps_minus)[away])


@pytest.mark.parametrize(
    "N,p,expected", [(50, 0.02, 1), (100, 0.1, 10), (400, 0.2, 80), (200, 0.04, 8)]
)
def test_leader_count(N, p, expected):
    trace = simulate_trace(SimulatorSettings(N=N, T=3, leader_proportion=p), 0)
    assert trace.roles.sum() == expected


def test_count_only_variant_matches_full_simulator():
    dyn = dynamics_from_eps([0.25, 0.15, 0.65, 0.75], [0.02, 0.02], [0.02, 0.02], 32.0)
    key = jax.random.PRNGKey(9)
    sim = simulate_jit(key, dyn, N=30, T=400, E=10, n_leaders=3)
    k_out = split_simulation_key(key)[3]
    n_plus, n_minus = simulate_counts(k_out, sim.X[0], sim.u, sim.v, sim.roles, dyn)
    np.testing.assert_array_equal(n_plus, sim.s_plus.sum(axis=1))
    np.testing.assert_array_equal(n_minus, sim.s_minus.sum(axis=1))


def test_vmap_over_seeds_and_parameters():
    eps = jnp.array([[0.45, 0.05, 0.55, 0.95], [0.05, 0.05, 0.95, 0.95]])
    dyn = jax.vmap(lambda e: dynamics_from_eps(e, [0.02, 0.02], [0.02, 0.02], 32.0))(eps)
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    sims = jax.vmap(lambda k, d: simulate_jit(k, d, N=20, T=100, E=10, n_leaders=2))(keys, dyn)
    assert sims.X.shape == (2, 100, 20)
    # wide confidence attracts far more often than narrow confidence
    assert sims.s_plus[0].sum() > 3 * sims.s_plus[1].sum()


def test_eps_drawn_from_the_paper_grid_and_ordered():
    for seed in range(50):
        pf, pl, mf, ml = draw_eps_from_grid(seed)
        assert np.isclose(EPS_PLUS_GRID, pf).any() and np.isclose(EPS_PLUS_GRID, pl).any()
        assert np.isclose(EPS_MINUS_GRID, mf).any() and np.isclose(EPS_MINUS_GRID, ml).any()
        assert pf >= pl and mf <= ml


# --- streaming (event logs of any size) -----------------------------------------------

COLUMNS = ("time", "sender", "receiver", "sender_opinion", "receiver_opinion", "s_plus", "s_minus")


@pytest.mark.parametrize(("chunk", "every"), [(1 << 16, None), (7, None), (64, 10), (10, 50)])
def test_stream_is_the_dense_simulation_bit_for_bit(small_trace, chunk, every):
    settings = SimulatorSettings(N=30, T=200, leader_proportion=0.1)  # small_trace's
    stream = simulate_stream(settings, 0, snapshot_every=every, chunk=chunk)
    chunks = list(stream.chunks)
    assert len(chunks) == stream.n_chunks
    np.testing.assert_array_equal(stream.roles, small_trace.roles)
    np.testing.assert_array_equal(stream.eps, small_trace.eps)
    stream = simulate_stream(settings, 0, snapshot_every=every, chunk=chunk)
    got, want = stream_observations(stream, settings, 0), to_observations(small_trace)
    for name in COLUMNS:
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    if every is not None:
        times = np.concatenate([c.snapshot_time for c in chunks])
        np.testing.assert_array_equal(times, np.arange(0, 200, every))
        X = np.concatenate([c.snapshots for c in chunks])
        np.testing.assert_array_equal(X, small_trace.X[times])


def test_zipf_activity_gives_heavy_tailed_receivers():
    settings = SimulatorSettings(N=1000, T=2001, leader_proportion=0.1)
    activity = Activity.parse("zipf:0.9")
    obs = stream_observations(simulate_stream(settings, 3, activity), settings, 3)
    counts = np.sort(obs.received())[::-1]
    assert 0.25 < counts[:10].sum() / obs.M < 0.4  # the busiest 1% receive 31% (weights)
    assert np.all(obs.sender != obs.receiver)
    senders = np.bincount(obs.sender, minlength=1000)
    assert senders.max() < 3 * senders.mean()  # senders stay uniform
    again = stream_observations(simulate_stream(settings, 3, activity, chunk=333), settings, 3)
    np.testing.assert_array_equal(again.receiver, obs.receiver)
    np.testing.assert_array_equal(again.s_plus, obs.s_plus)


@pytest.mark.parametrize("text", ["pareto", "zipf", "zipf:x", "zipf:-1", "uniform:2"])
def test_bad_activity_is_named(text):
    with pytest.raises(ViOdError, match="--activity"):
        Activity.parse(text)


def test_chunks_fit_the_snapshot_stride():
    assert chunk_steps(100, None) == 1 << 16
    assert chunk_steps(100, 1000) == 65000  # a multiple of the stride
    assert chunk_steps(10**6, 1) == 33  # at most 2^25 opinions per chunk
    assert chunk_steps(100, 10**6) == 62500  # a divisor of the stride
    with pytest.raises(ViOdError, match="--snapshots"):
        chunk_steps(100, 1_000_003)  # prime: no divisor near a chunk
