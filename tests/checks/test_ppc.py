"""The posterior predictive check: passes the model's own data, fails a drift, JSON, CLI."""

import dataclasses
import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from vi_od.cli import app
from vi_od.data import trace as trace_io
from vi_od.data.trace import to_observations
from vi_od.errors import ViOdError
from vi_od.inference import get
from vi_od.inference.fitting import fit_observations, write_json
from vi_od.inference.record import FitRecord
from vi_od.models.bcm_roles import ppc
from vi_od.models.bcm_roles.misspecified import simulate_misspecified
from vi_od.models.bcm_roles.simulate import SimulatorSettings, simulate_trace
from vi_od.progress import quiet

# 200 agents, 10,000 interactions; eps away from the grid's edges so a drift of 0.2 fits in.
SETTINGS = SimulatorSettings(N=200, T=1001, leader_proportion=0.1, eps=(0.25, 0.15, 0.65, 0.85))
runner = CliRunner()


def fitted(trace):
    """(observations, fit record as read back from JSON) of svi-marginal with 1000 steps."""
    obs = to_observations(trace)
    settings = get("svi-marginal").Settings(steps=1000).validate()
    with quiet():
        record = fit_observations(obs, "svi-marginal", settings, seed=0).record.to_json()
    return obs, json.loads(json.dumps(record))


def draws_of(record: dict, obs, most: int = ppc.DRAWS):
    """The check's draws from a fit file's content, read back as vi-od check reads it."""
    return ppc.draws_from_record(FitRecord.from_json(record), obs, most)


@pytest.fixture(scope="module")
def well():
    return fitted(simulate_misspecified(SETTINGS, seed=1))


@pytest.fixture(scope="module")
def drifting():
    return fitted(simulate_misspecified(SETTINGS, seed=1, drift=0.2))


def test_the_models_own_data_pass(well):
    obs, record = well
    result = ppc.check(obs, draws_of(record, obs), seed=0)
    assert not result.misfit and result.failing == []
    assert result.summary_line().startswith("no misfit: none of")
    families = {s.family for s, p in zip(result.statistics, result.p_values) if not np.isnan(p)}
    assert families == {"distance", "time", "spread"}  # every family was tested


def test_a_drifting_eps_plus_fails_over_time(drifting):
    obs, record = drifting
    result = ppc.check(obs, draws_of(record, obs), seed=0)
    assert result.misfit
    failing = {s.name for s in result.failing}
    assert {"s+ F time 1/5", "s+ F time 5/5"} <= failing  # followers' early and late windows
    first, last = (next(s for s in result.statistics if s.name == f"s+ F time {w}/5")
                   for w in (1, 5))  # fmt: skip
    assert first.observed < first.replicated.min() and last.observed > last.replicated.max()
    line = result.summary_line()
    assert line.startswith(f"MISFIT: {len(failing)} of ") and "s+ F time" in line
    assert "\n" not in line


def test_json_has_the_verdict_and_every_statistic(well):
    obs, record = well
    result = ppc.check(obs, draws_of(record, obs, most=50), seed=0)
    out = json.loads(json.dumps(ppc.to_json(result, data="t.npz")))
    assert out["data"] == "t.npz" and out["misfit"] is False and out["draws"] == 50
    assert out["tested"] == sum(s["tested"] for s in out["statistics"])
    first = out["statistics"][0]
    assert {"name", "observed", "p_value", "p_holm", "p_empirical", "fails", "n"} <= set(first)
    tested = [s for s in out["statistics"] if s["tested"]]
    assert all(0 <= s["p_value"] <= 1 and s["p_holm"] >= s["p_value"] for s in tested)
    assert all(s["p_value"] is None for s in out["statistics"] if not s["tested"])


def test_fit_records_keep_their_posterior_draws(well):
    obs, record = well
    eps = np.asarray(record["draws"]["params"])
    assert eps.shape == (500, 4)  # svi-marginal's num_samples
    assert np.allclose(eps.mean(axis=0), list(record["mean"].values()), atol=1e-6)
    draws = draws_of(record, obs, most=40)
    assert draws.eps.shape == (40, 4) and draws.p_leader.shape == (obs.N,)


def test_holm_and_the_p_values_match_hand_computations():
    adjusted = ppc.holm(np.array([0.01, 0.04, 0.03, 0.5]))
    assert adjusted.tolist() == pytest.approx([0.04, 0.09, 0.09, 0.5])  # 4p, max(3p, .), 2p, p
    replicated = np.array([-1.0, 1.0] * 50)
    z = 2 / replicated.std(ddof=1)
    assert ppc.p_value(2.0, replicated) == pytest.approx(math.erfc(z / 2**0.5))
    assert ppc.p_value(0.0, replicated, correction=0.5) == 1.0
    assert ppc.p_value(1.0, np.ones(10)) == 1.0 and ppc.p_value(2.0, np.ones(10)) == 0.0
    assert ppc.p_empirical(5.0, replicated) == pytest.approx(2 / 101)


def test_a_record_without_draws_or_of_other_data_is_refused(well):
    obs, record = well
    with pytest.raises(ViOdError, match="'draws' is missing"):
        draws_of({k: v for k, v in record.items() if k != "draws"}, obs)
    other = to_observations(simulate_trace(SimulatorSettings(N=30, T=20, leader_proportion=0.1), 0))
    with pytest.raises(ViOdError, match="the fit is of 200 agents but the data have 30"):
        draws_of(record, other)
    renamed = dataclasses.replace(obs, agent_ids=np.arange(obs.N) + 1)
    with pytest.raises(ViOdError, match="agents are not the data's"):
        draws_of(record, renamed)


def test_without_misspecification_the_generator_is_the_grid_simulator():
    settings = SimulatorSettings(N=30, T=60, leader_proportion=0.1)
    a, b = simulate_trace(settings, 4), simulate_misspecified(settings, 4)
    for key in ("X", "u", "v", "s_plus", "s_minus", "roles", "eps"):
        assert np.array_equal(getattr(a, key), getattr(b, key)), key


def test_a_third_group_takes_the_thresholds_farthest_from_both_roles():
    trace = simulate_misspecified(SETTINGS, seed=2, third_share=0.1)
    third = trace.meta["misspecified"]
    assert len(third["third_group"]) == 20 and third["third_eps"] == [0.45, 0.95]
    assert trace.roles[third["third_group"]].sum() == 0  # taken from the followers
    with pytest.raises(ViOdError, match="out of"):
        simulate_misspecified(SETTINGS, seed=2, drift=0.3)


def test_check_command_prints_one_line_and_writes_json_and_figure(well, tmp_path):
    obs, record = well
    trace_io.save(obs.trace, tmp_path / "t.npz")
    write_json(record, tmp_path / "fit.json")
    args = ["check", str(tmp_path / "t.npz"), str(tmp_path / "fit.json"), "--draws", "50"]
    args += ["--out", str(tmp_path / "check.json"), "--plot", str(tmp_path / "check.png")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("no misfit: none of")
    assert json.loads((tmp_path / "check.json").read_text())["misfit"] is False
    assert (tmp_path / "check.png").stat().st_size > 10_000


def test_check_command_bad_input_is_one_line_exit_2(well, tmp_path):
    obs, record = well
    trace_io.save(obs.trace, tmp_path / "t.npz")
    other = simulate_trace(SimulatorSettings(N=30, T=20, leader_proportion=0.1), 0)
    trace_io.save(other, tmp_path / "other.npz")
    write_json(record, tmp_path / "fit.json")
    for args, message in (
        (["t.npz", "t.npz"], "t.npz: not a JSON fit record"),
        (["other.npz", "fit.json"], "the fit is of 200 agents but the data have 30"),
        (["missing.npz", "fit.json"], "missing.npz: no such trace file"),
    ):
        result = runner.invoke(app, ["check", *(str(tmp_path / a) for a in args)])
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("error: ") and message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
