"""The per-agent likelihood table (relaxed.likelihood_table): streaming, steep sigmoids."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vi_od.data.trace import to_observations
from vi_od.models.bcm_roles import relaxed
from vi_od.models.bcm_roles.relaxed import (
    grid_size,
    interactions,
    likelihood_table,
    log_likelihood_agents,
)
from vi_od.models.bcm_roles.simulate import SimulatorSettings, simulate_trace


def test_chunking_does_not_change_the_table(small_trace, monkeypatch):
    data = interactions(to_observations(small_trace))
    whole = likelihood_table(data)
    monkeypatch.setattr(relaxed, "BLOCK_ROWS", 8)
    monkeypatch.setattr(relaxed, "CHUNK_ROWS", 16)  # 16 rows per call: several calls
    assert relaxed._chunk_rows(data.abs_diff.size, data.N) == 16 < data.abs_diff.size // 32
    chunked = likelihood_table(data)
    for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(chunked)):
        np.testing.assert_array_equal(a, b)  # same sums in the same order


def test_exp_free_sigmoids_match_the_direct_ones(small_trace, monkeypatch):
    data = interactions(to_observations(small_trace))
    args = (data.abs_diff, np.asarray(data.receiver), data.N, 100.0, 255)
    factored = relaxed.sigmoid_sums(*args)
    monkeypatch.setattr(relaxed, "FACTORED_RHO", 0.0)
    direct = relaxed.sigmoid_sums(*args)
    np.testing.assert_allclose(factored, direct, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("rho", [32.0, 300.0])
def test_table_matches_the_exact_sum_at_any_steepness(rho):
    """A steeper sigmoid gets a finer grid (rho h <= 0.25), so the error stays ~1e-6."""
    settings = SimulatorSettings(N=30, T=300, leader_proportion=0.1, rho=rho)
    data = interactions(to_observations(simulate_trace(settings, 1)))
    table = likelihood_table(data)
    assert table.plus.value.shape == (grid_size(rho), 30)
    assert grid_size(32.0) == 128 and grid_size(300.0) == 601
    rng = np.random.default_rng(0)
    with jax.enable_x64(True):
        exact = data._replace(**{k: getattr(data, k).astype(jnp.float64)
                                 for k in ("abs_diff", "s_plus", "s_minus")})  # fmt: skip
        value_and_grad = jax.value_and_grad(log_likelihood_agents, argnums=(0, 1))
        for _ in range(3):
            plus, minus = rng.uniform(0, 0.5, 30), rng.uniform(0.5, 1, 30)
            want, want_g = value_and_grad(jnp.asarray(plus), jnp.asarray(minus), exact)
            f32 = lambda a: jnp.asarray(a, jnp.float32)
            got, got_g = value_and_grad(f32(plus), f32(minus), table)
            assert float(got) == pytest.approx(float(want), rel=1e-5)  # measured <= 8e-7
            for g, w in zip(got_g, want_g):  # measured <= 1e-5 of the largest component
                np.testing.assert_allclose(g, w, atol=1e-4 * float(jnp.abs(w).max()))


def test_cell_cubics_are_the_hermite_table_read_per_agent(small_trace):
    """The relaxed model's layout: the same values and gradients to float32 rounding at any
    x (grid points, cell interiors, both ends of each range); compiled fits of svi-normal,
    svi-nf and nuts came out bit for bit the same."""
    data = interactions(to_observations(small_trace))
    table, cubics = likelihood_table(data), relaxed.relaxed_table(data)
    assert cubics.N == data.N and cubics.plus.coef.shape == (data.N, grid_size(data.rho) - 1, 4)
    rng = np.random.default_rng(2)
    grid = np.linspace(0.0, 0.5, grid_size(data.rho), dtype=np.float32)
    for x in (rng.uniform(0, 0.5, data.N), rng.choice(grid, data.N), np.full(data.N, 0.5)):
        plus = jnp.asarray(x, jnp.float32)
        minus = plus + jnp.float32(0.5)
        grads = [
            jax.value_and_grad(log_likelihood_agents, argnums=(0, 1))(plus, minus, t)
            for t in (table, cubics)
        ]
        for a, b in zip(jax.tree.leaves(grads[0]), jax.tree.leaves(grads[1])):
            np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-6)
