"""Test setup: CPU only, fixed seeds, small shared traces."""

import os
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")
# The CLI turns on the persistent compilation cache (vi_od.compilation_cache): tests keep
# theirs out of the user's own folder.
os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR",
    os.path.join(tempfile.gettempdir(), f"vi-od-tests-jax-{os.getuid()}"),
)

import pytest  # noqa: E402

from vi_od.models.bcm_roles.simulate import SimulatorSettings, simulate_trace  # noqa: E402


@pytest.fixture(scope="session")
def small_trace():
    """N=30, T=200, 3 leaders, eps drawn from the grid by seed 0."""
    return simulate_trace(SimulatorSettings(N=30, T=200, leader_proportion=0.1), seed=0)


EST = ("est_eps_plus_F", "est_eps_plus_L", "est_eps_minus_F", "est_eps_minus_L")


@pytest.fixture
def results_frame():
    """A small results table in the sweep's row schema, with the awkward cases of real sweeps.

    svi-normal runs in every (N, T, leader_proportion) cell, 2 reps, one run timed out;
    nuts only at N=50, two runs errored; zz-new (a method vi-od does not know) never
    finished; svi-nf is absent. Failed rows carry NaN metrics, as the sweep writes them.
    """
    import itertools

    import numpy as np
    import pandas as pd

    from vi_od.models.bcm_roles import EPS_NAMES

    rng = np.random.default_rng(0)
    eps = np.array([0.35, 0.15, 0.65, 0.85])
    rows = []
    for N, T, p, rep in itertools.product([50, 100], [128, 512], [0.02, 0.1], range(2)):
        cell = {"N": N, "T": T, "leader_proportion": p, "n_leaders": round(N * p), "rep": rep}
        cell |= dict(zip(EPS_NAMES, eps)) | {"abs_diff_eps_plus": 0.2, "abs_diff_eps_minus": 0.2}
        cell |= {
            "pos_interactions_F": 100.0 * T / 128 * (rep + 1),
            "pos_interactions_L": 10.0 * (rep + 1),
            "var_X_final": 0.01 * (rep + 1),
        }
        for method in ("svi-normal", "nuts", "zz-new"):
            if method == "nuts" and N != 50:
                continue
            est = eps + rng.normal(0, 0.02, 4)
            rows.append(
                cell
                | dict(zip(EST, est))
                | {
                    "method": method,
                    "status": "ok",
                    "error": "",
                    "wall_time_s": float(T / 10 + rep),
                    "rmse_eps": float(np.sqrt(np.mean((est - eps) ** 2))),
                    "role_error_rate": rep * 0.1,
                    "perfect_roles": rep == 0,
                }
            )
    df = pd.DataFrame(rows).astype({"perfect_roles": object})  # bools and None, as Parquet reads
    timeout = (df.method == "svi-normal") & (df.N == 100) & (df["T"] == 512) & (df.rep == 1)
    error = ((df.method == "nuts") & (df["T"] == 128) & (df.rep == 0)) | (df.method == "zz-new")
    for mask, status in ((timeout, "timeout"), (error, "error")):
        df.loc[mask, "status"] = status
        df.loc[mask, [*EST, "rmse_eps", "role_error_rate"]] = np.nan
        df.loc[mask, "perfect_roles"] = None
    return df
