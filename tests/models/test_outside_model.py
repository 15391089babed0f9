"""A model written outside vi_od, as a lab would: simulate -> fit -> check -> a sweep row, with
no file of vi_od/ changed. The package and its config file are written to a temporary folder;
`model=toy` finds the config through $VI_OD_CONFIG_PATH, whose `model.name` names the package.

The toy model: every interaction is positive with one unknown probability, rate =
sigmoid(theta), whatever the opinions (a null model a researcher would compare against).
"""

import json
import sys
import textwrap

import numpy as np
import pytest
from typer.testing import CliRunner

from vi_od.cli import app
from vi_od.experiments import results, worker

TOY = '''
import jax, jax.numpy as jnp, numpy as np, numpyro, numpyro.distributions as dist
from dataclasses import dataclass
from typing import NamedTuple
from vi_od.data.trace import Trace
from vi_od.errors import ViOdError, as_number
from vi_od.models import Collapsed, Model, Relaxed, Simulation


@dataclass(frozen=True)
class Settings:
    N: int
    T: int
    rate: float = 0.3
    rho: float = 1.0
    mu_plus: tuple = (0.0, 0.0)
    mu_minus: tuple = (0.0, 0.0)

    def validate(self):
        if not 0 < self.rate < 1:
            raise ViOdError(f"simulator.rate={self.rate} is not allowed: must be in (0, 1)")
        return self


def from_config(values):
    return Settings(as_number(int, "N", values["N"]), as_number(int, "T", values["T"]),
                    as_number(float, "simulator.rate", values["simulator"]["rate"])).validate()


def simulate(settings, seed, rate=None):
    rng = np.random.default_rng(seed)
    rate = settings.rate if rate is None else rate
    N, T, E = settings.N, settings.T, 10
    u = rng.integers(0, N, (T - 1, E)).astype(np.int32)
    v = ((u + rng.integers(1, N, (T - 1, E))) % N).astype(np.int32)
    s = (rng.random((T - 1, E)) < rate).astype(np.int8)
    X = np.repeat(rng.random(N)[None], T, axis=0).astype(np.float32)
    return Trace(X=X, u=u, v=v, s_plus=s, s_minus=np.zeros_like(s), mu_plus=np.zeros(2),
                 mu_minus=np.zeros(2), rho=1.0, eps=np.array([rate], np.float32),
                 meta={"seed": seed})


def table(obs):
    return jnp.asarray([obs.s_plus.sum(), obs.M], jnp.float32)


def model(data, *args, **kwargs):
    theta = numpyro.sample("theta", dist.Normal(0.0, 1.0).expand([1]).to_event(1))
    rate = numpyro.deterministic("params", jax.nn.sigmoid(theta))
    ones, n = data[0], data[1]
    numpyro.factor("likelihood", ones * jnp.log(rate[0]) + (n - ones) * jnp.log1p(-rate[0]))


class Draws(NamedTuple):
    rate: np.ndarray


class Check(NamedTuple):
    p_value: float

    def summary_line(self):
        return f"rate check: p = {self.p_value:.3f}"


class ppc:
    @staticmethod
    def draws_from_record(record, obs, most):
        return Draws(np.asarray(record.draws)[:most, 0])

    @staticmethod
    def check(obs, draws, seed=0, alpha=0.05):
        rng = np.random.default_rng(seed)
        replicated = rng.binomial(obs.M, draws.rate) / obs.M
        return Check(float(np.mean(replicated >= obs.s_plus.mean())))

    @staticmethod
    def to_json(result, **context):
        return {"p_value": result.p_value, **context}


TOY = Model(
    name="toy",
    param_names=("rate",),
    from_theta=jax.nn.sigmoid,
    relaxed=Relaxed(table=table, exact=None, model=model, table_bytes=lambda obs: 8.0,
                    unpack=lambda sites: (jax.nn.sigmoid(sites["theta"][..., :1]), None)),
    collapsed=Collapsed(table=table, model=model, table_bytes=lambda obs: 8.0),
    simulation=Simulation(settings=Settings, from_config=from_config, simulate=simulate,
                          experiment_key=lambda s: (s.N, s.T)),
    ppc=ppc,
)
'''

CONF = """
# @package _global_
model:
  name: toyrate:TOY
simulator:
  rate: 0.3
"""

runner = CliRunner()


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """The package on sys.path and its config folder on $VI_OD_CONFIG_PATH."""
    (tmp_path / "toyrate").mkdir()
    (tmp_path / "toyrate" / "__init__.py").write_text(textwrap.dedent(TOY))
    (tmp_path / "conf" / "model").mkdir(parents=True)
    (tmp_path / "conf" / "model" / "toy.yaml").write_text(CONF)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("VI_OD_CONFIG_PATH", str(tmp_path / "conf"))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # for the sweep's job processes
    yield tmp_path
    sys.modules.pop("toyrate", None)


def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def test_simulate_fit_check_and_a_sweep_row_of_a_model_outside_vi_od(toy):
    run("simulate", "model=toy", "N=20", "T=401", "simulator.rate=0.25", "--seed", "3",
        "--out", toy / "t.npz")  # fmt: skip
    run("fit", toy / "t.npz", "--model", "toy", "--method", "nuts-marginal",
        "--out", toy / "fit.json")  # fmt: skip
    fit = json.loads((toy / "fit.json").read_text())
    assert fit["model"] == "toyrate:TOY" and fit["param_names"] == ["rate"]
    # 4000 interactions: rate's posterior sd is about 0.007; 4 sds from the truth at most
    assert abs(fit["mean"]["rate"] - 0.25) <= 4 * fit["std"]["rate"], fit["mean"]
    assert "p_leader" not in fit and "rmse_eps" in fit["metrics"]
    out = run("check", toy / "t.npz", toy / "fit.json")
    assert out.output.startswith("rate check: p = ")

    bad = runner.invoke(app, ["sweep", "-m", "model=toy", "--dry-run"])  # smoke sets leaders
    assert bad.exit_code == 2 and "sweep smoke sets leader_proportion" in bad.stderr
    run("sweep", "-m", "sweep=custom", "model=toy", "N=20", "T=101", "method=svi-normal",
        "method.steps=500", "rep=range(2)", "--jobs", "1", "--results", toy / "res")  # fmt: skip
    rows = results.load(toy / "res")
    assert len(rows) == 2 and set(rows["status"]) == {"ok"}
    assert set(rows["model"]) == {"toyrate:TOY"}
    assert {"rate", "est_rate", "std_rate", "q05_rate", "rank_rate"} <= set(rows)
    assert np.all(np.abs(rows["est_rate"] - 0.3) < 5 * rows["std_rate"] + 0.01)


def test_a_row_of_the_outside_model_is_written_by_the_workers_own_code(toy):
    """worker.make_row names the columns by the model's parameters, null for a failed job."""
    job = {"job_id": "x", "sweep": "s", "method": "svi-normal", "model": "toyrate:TOY",
           "rep": 0, "seed": 1, "settings": {}, "simulator": {"N": 5, "T": 9, "rate": 0.3},
           "sweep_seed": 0, "fit_seed": 2}  # fmt: skip
    row = worker.make_row(job, None, None, "error", "boom", 1.0)
    assert row["model"] == "toyrate:TOY" and row["status"] == "error"
    assert row["rate"] is None and row["est_rate"] is None and row["rank_rate"] is None
