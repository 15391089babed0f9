"""fit_observations: the timed run and its JSON-ready record; ArviZ draws."""

import dataclasses
import json
import warnings

import numpy as np
import pytest

from vi_od.data.trace import to_observations
from vi_od.errors import ViOdError
from vi_od.inference import get
from vi_od.inference.fitting import fit_observations, save_idata, write_json
from vi_od.inference.record import FitRecord
from vi_od.models.bcm_roles import EPS_NAMES
from vi_od.progress import quiet


@pytest.fixture(scope="module")
def short_fit(small_trace):
    settings = get("svi-normal").Settings(steps=300).validate()
    with quiet():
        return fit_observations(to_observations(small_trace), "svi-normal", settings, seed=5)


def test_record_has_the_fit_output_keys(short_fit, small_trace):
    record = short_fit.record.to_json()
    assert record["method"] == "svi-normal" and record["seed"] == 5
    assert record["model"] == "bcm-roles" and record["param_names"] == list(EPS_NAMES)
    assert record["settings"]["steps"] == 300 and record["steps"] == 300
    assert record["wall_time_s"] > 0 and np.isfinite(record["final_loss"])
    for key in ("mean", "std", "q05", "q95"):
        assert list(record[key]) == list(EPS_NAMES)
    assert len(record["p_leader"]) == len(record["roles"]) == small_trace.N
    assert set(record["metrics"]) >= {"rmse_eps", "role_error_rate", "perfect_roles"}
    assert json.loads(json.dumps(record)) == record  # plain JSON types only


def test_the_record_reads_back_from_its_json_and_from_the_old_fit_files(short_fit):
    """to_json -> from_json -> to_json is the identity; a fit file of vi-od before models
    were plug-ins (eps_mean.., draws.eps) reads as the same record."""
    data = json.loads(json.dumps(short_fit.record.to_json()))
    again = FitRecord.from_json(data)
    assert again.param_names == EPS_NAMES and again.summary == short_fit.record.summary
    np.testing.assert_allclose(again.draws, short_fit.record.draws)
    old = {k: v for k, v in data.items() if k not in ("mean", "std", "q05", "q95", "draws",
                                                      "model", "param_names")}  # fmt: skip
    old |= {f"eps_{k}": data[k] for k in ("mean", "std", "q05", "q95")}
    old["draws"] = {"eps": data["draws"]["params"]}
    legacy = FitRecord.from_json(old)
    assert legacy.model == "bcm-roles" and legacy.summary == again.summary
    np.testing.assert_allclose(legacy.draws, again.draws)


def test_same_seed_same_estimates(short_fit, small_trace):
    with quiet():
        again = fit_observations(
            to_observations(small_trace), "svi-normal", get("svi-normal").Settings(steps=300), 5
        )
    assert again.record.summary == short_fit.record.summary
    np.testing.assert_array_equal(again.record.p_leader, short_fit.record.p_leader)


def test_trace_without_truth_has_no_metrics(small_trace):
    mine = dataclasses.replace(small_trace, roles=None, eps=None)
    with quiet():
        result = fit_observations(
            to_observations(mine), "svi-normal", get("svi-normal").Settings(steps=300), 5
        )
    assert result.record.metrics is None and len(result.record.p_leader) == mine.N


def test_json_written_atomically(short_fit, tmp_path):
    path = write_json(short_fit.record, tmp_path / "out" / "fit.json")
    assert json.loads(path.read_text()) == short_fit.record.to_json()
    assert [p.name for p in path.parent.iterdir()] == ["fit.json"]


def test_idata_round_trip(short_fit, small_trace, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az

    path = save_idata(short_fit.posterior, tmp_path / "post.nc")
    idata = az.from_netcdf(path)
    assert idata.posterior["params"].shape == (1, 200, 4)
    assert idata.posterior["roles"].shape == (1, 200, small_trace.N)
    assert list(idata.posterior["params"].coords["param"].values) == list(EPS_NAMES)
    np.testing.assert_allclose(
        idata.posterior["params"].values[0].mean(axis=0),
        list(short_fit.record.summary["mean"].values()),
    )


def test_idata_needs_draws(short_fit, tmp_path):
    without = dataclasses.replace(short_fit.posterior, draws=None)
    with pytest.raises(ViOdError, match="keeps no posterior draws"):
        save_idata(without, tmp_path / "post.nc")
