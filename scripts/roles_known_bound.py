"""The eps error of the paper's model with rho learned when every agent's role is given.

    python scripts/roles_known_bound.py RESULTS_FOLDER OUT.csv

RESULTS_FOLDER is a `sweep=rho-learned` results folder (its traces and its nuts-marginal rows
with rho learned). Each trace is fitted again by NUTS (500 + 500, as nuts-marginal) on the same
likelihood tables and prior, but with the true roles instead of the roles summed out. Knowing
the roles can only lower the Bayes risk, so the mean RMSE here bounds what any method reaches
on these data with the roles unknown. One row per experiment: N, T, rep, both RMSEs.
"""

from __future__ import annotations

import glob
import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
from numpyro.infer import MCMC, NUTS

from vi_od.data import load_observations
from vi_od.experiments import results
from vi_od.models.bcm_roles import learned_rho


def roles_known_model(table, roles) -> None:
    """The collapsed model's prior and tables, each agent at its given role."""
    theta = numpyro.sample("theta", dist.Normal(0.0, 1.0).expand([5]).to_event(1))
    params = numpyro.deterministic("params", learned_rho.from_theta(theta))
    agent_ll = learned_rho.agent_log_likelihoods(params, table)
    numpyro.factor("likelihood", jnp.sum(jnp.where(roles == 1, agent_ll[1], agent_ll[0])))


def eps_rmse_roles_known(path: str) -> float:
    trace = np.load(path)
    table = learned_rho.rho_table(load_observations(path))
    mcmc = MCMC(NUTS(roles_known_model, max_tree_depth=8), num_warmup=500, num_samples=500,
                progress_bar=False)  # fmt: skip
    mcmc.run(jax.random.PRNGKey(0), table, jnp.asarray(trace["roles"].astype(np.int32)))
    estimate = np.asarray(mcmc.get_samples()["params"]).mean(axis=0)[:4]
    return float(np.sqrt(np.mean((estimate - trace["eps"]) ** 2)))


def main(folder: str, out: str) -> None:
    runs = results.load(folder)
    runs = runs[(runs.model == "bcm-roles+rho") & (runs.status == "ok")]
    trace_of = {json.loads(str(np.load(f)["meta"]))["seed"]: f
                for f in glob.glob(str(Path(folder) / "traces" / "*.npz"))}  # fmt: skip
    rows = []
    for run in runs.sort_values(["N", "T", "rep"]).itertuples():
        known = eps_rmse_roles_known(trace_of[run.seed])
        rows.append({"N": run.N, "T": run.T, "rep": run.rep, "rmse_roles_known": known,
                     "rmse_roles_unknown": run.rmse_eps})  # fmt: skip
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    table.to_csv(out, index=False, float_format="%.5f")
    print(table.groupby("N")[["rmse_roles_known", "rmse_roles_unknown"]].mean().round(4))
    print("mean:", table[["rmse_roles_known", "rmse_roles_unknown"]].mean().round(4).to_dict())


if __name__ == "__main__":
    main(*sys.argv[1:])
