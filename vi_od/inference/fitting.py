"""Fit observations with one method: the timed run and its JSON-ready record (CLI and sweep).

No printing here: the sweep runs this in quiet workers, the CLI prints the record.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from vi_od.atomic import atomic_write
from vi_od.data.observations import Observations
from vi_od.errors import ViOdError
from vi_od.inference import get
from vi_od.inference.convergence import converged
from vi_od.inference.posterior import Posterior
from vi_od.inference.record import FitRecord, json_ready
from vi_od.models import Model, default_model
from vi_od.outputs import check_agents_path

if TYPE_CHECKING:
    import pandas as pd


class FitResult(NamedTuple):
    """The posterior of a fit and its record (method, settings, seed, time, estimates)."""

    posterior: Posterior
    record: FitRecord


def fit_observations(
    obs: Observations, method_name: str, settings, seed: int, model: Model | None = None
) -> FitResult:
    """Run `method_name` on the data with key PRNGKey(seed); wall time includes compiling.

    `model`: the model to fit (default: the paper's BCM with roles, vi_od.models).
    """
    import jax  # here: the CLI reads and checks its input before JAX starts

    model = model or default_model()
    method = get(method_name)
    start = time.perf_counter()
    posterior = method.fit(obs, settings, jax.random.PRNGKey(seed), model)
    wall = time.perf_counter() - start
    # None: the method has no convergence check (ABC)
    posterior = dataclasses.replace(
        posterior, info={**posterior.info, "converged": converged(posterior.info)}
    )
    record = FitRecord.of(posterior, obs, model, method=method_name, seed=seed, wall_time_s=wall,
                          settings=json_ready(dataclasses.asdict(settings)))  # fmt: skip
    return FitResult(posterior, record)


def agents_table(posterior: Posterior, obs: Observations) -> pd.DataFrame:
    """One row per agent, keyed by the user's ids: P(leader), its std and role where the
    model has a latent per agent, and the interactions each received."""
    import pandas as pd

    columns = {"agent": obs.agent_ids}
    if posterior.p_leader is not None:
        std = posterior.p_leader_std
        columns |= {
            "p_leader": posterior.p_leader,
            "p_leader_std": np.full(obs.N, np.nan) if std is None else std,
            "role": np.where(posterior.roles == 1, "leader", "follower"),
        }
    return pd.DataFrame(columns | {"interactions_received": obs.received()})


def write_agents(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write the agents table as CSV or Parquet (by suffix), atomically."""
    check_agents_path(path)
    if Path(path).suffix.lower() == ".csv":
        return atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))
    return atomic_write(path, lambda tmp: table.to_parquet(tmp, index=False))


def save_idata(posterior: Posterior, path: str | os.PathLike, agent_ids=None) -> Path:
    """Write the posterior's raw draws as ArviZ InferenceData (NetCDF), atomically.

    The roles' `agent` coordinate holds agent_ids (the user's ids) when given, else 0..N-1.
    """
    with warnings.catch_warnings():  # arviz announces its 1.0 refactor on import
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az

    if not posterior.draws:
        raise ViOdError(f"method {posterior.method} keeps no posterior draws to write")
    draws = {name: np.asarray(a) for name, a in posterior.draws.items()}
    dims = {"params": ["param"], "roles": ["agent"]}
    coords = {"param": list(posterior.param_names)}
    if "roles" in draws:
        n = draws["roles"].shape[-1]
        coords["agent"] = np.arange(n) if agent_ids is None else json_ready(list(agent_ids))
    idata = az.from_dict(
        posterior=draws,
        coords=coords,
        dims={k: v for k, v in dims.items() if k in draws},
        attrs={"method": posterior.method},
    )
    return atomic_write(path, idata.to_netcdf)


def write_json(record: dict | FitRecord, path: str | os.PathLike) -> Path:
    """Write a fit record (or any JSON-ready dict) as JSON, atomically (temp file + rename)."""
    if isinstance(record, FitRecord):
        record = record.to_json()
    text = json.dumps(record, indent=2, allow_nan=True)
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))
