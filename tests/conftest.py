"""Test setup: CPU only, fixed seeds, small shared traces."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402

from vi_od.simulate import SimulatorSettings, simulate_trace  # noqa: E402


@pytest.fixture(scope="session")
def small_trace():
    """N=30, T=200, 3 leaders, eps drawn from the grid by seed 0."""
    return simulate_trace(SimulatorSettings(N=30, T=200, leader_proportion=0.1), seed=0)
