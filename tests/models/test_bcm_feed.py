"""BCM-I (feeds): the simulator's rule, k summed out exactly, the feed's trace and event-log
forms, bad feed logs, k's prior through its theta (abc), and recovery of eps and k."""

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.special import ndtri
from typer.testing import CliRunner

from vi_od.cli import app
from vi_od.data import eventlog_writer, load_observations
from vi_od.data import trace as trace_io
from vi_od.data.trace import to_observations
from vi_od.errors import ViOdError
from vi_od.inference import get
from vi_od.inference.abc import summary_distance
from vi_od.inference.fitting import fit_observations
from vi_od.models import get_model
from vi_od.models.bcm_feed.model import (
    Settings,
    _exact_log_likelihoods,
    _log_likelihoods,
    feeds,
    k_from_theta,
    simulate_trace,
    tabulate,
)
from vi_od.models.bcm_feed.settings import COLUMNS, settings_from_config
from vi_od.progress import quiet

MODEL = get_model("bcm-feed")
runner = CliRunner()


def _trace(seed: int = 2, **kw):
    values = {"N": 100, "T": 256, "feed_size": 6, "k": 3, "eps": (0.25, 0.75)} | kw
    return simulate_trace(Settings(**values).validate(), seed)


def test_the_deterministic_simulator_follows_the_mean_of_the_first_k_senders():
    t = _trace(deterministic=True, k=4)
    feed = np.concatenate([t.u[..., None], t.extra["feed"]], axis=2)  # (T-1, E, F)
    steps = np.arange(t.T - 1)[:, None, None]
    d = t.X[:-1][steps, feed[..., :4]].mean(axis=2) - t.X[:-1][np.arange(t.T - 1)[:, None], t.v]
    assert t.extra["feed"].shape == (t.T - 1, 10, 5)
    assert np.array_equal(t.s_plus, (np.abs(d) < 0.25).astype(np.int8))
    assert np.array_equal(t.s_minus, (np.abs(d) > 0.75).astype(np.int8))
    assert list(t.eps) == [0.25, 0.75, 4.0]


def test_the_table_of_the_F_candidates_matches_their_exact_sums():
    obs = to_observations(_trace())
    table, exact = tabulate(obs), feeds(obs)
    assert exact.abs_diff.shape == (6, obs.M)
    np.testing.assert_allclose(np.asarray(exact.abs_diff[0]), obs.abs_diff, atol=1e-6)  # k = 1
    for eps in ([0.1, 0.6], [0.25, 0.75], [0.45, 0.95]):
        eps = jnp.asarray(eps)
        # 2550 interactions per candidate summed in float32: ~1e-5 relative, far below the
        # differences of order 1 between candidates that move P(k)
        np.testing.assert_allclose(np.asarray(_log_likelihoods(eps, table)),
                                   np.asarray(_exact_log_likelihoods(eps, exact)), rtol=5e-5)


def test_settings_are_checked_in_one_line():
    base = {"N": 100, "T": 50, "simulator": {"feed_size": 5, "k": 6}}
    with pytest.raises(ViOdError, match="simulator.k=6 is not allowed"):
        settings_from_config(base)
    with pytest.raises(ViOdError, match="unknown config key 'simulator.size'"):
        settings_from_config({**base, "simulator": {"size": 5}})


def test_the_trace_keeps_its_feed_and_the_event_log_gives_the_same_observations(tmp_path):
    t = _trace()
    back = trace_io.load(trace_io.save(t, tmp_path / "t.npz"))
    assert np.array_equal(back.extra["feed"], t.extra["feed"])
    log = tmp_path / "events.parquet"
    eventlog_writer.write_trace_log(log, t, "bcm-feed", COLUMNS.to_log(t))
    dense, read = to_observations(back), load_observations(log, columns=COLUMNS)
    assert read.eps.tolist() == t.eps.tolist() and read.meta["model"] == "bcm-feed"
    same = np.testing.assert_array_equal
    same(np.asarray(feeds(dense).abs_diff), np.asarray(feeds(read).abs_diff))
    assert "feed_opinion" in read.extra and "feed_opinion" not in dense.extra


def test_a_trace_without_its_feed_is_refused_in_one_line(tmp_path):
    t = _trace()
    path = trace_io.save(trace_io.Trace(**{**t.__dict__, "extra": {}}), tmp_path / "t.npz")
    with pytest.raises(ViOdError, match="needs each interaction's feed"):
        load_observations(path, columns=COLUMNS)


def _bad_log(tmp_path, change) -> list:
    t = _trace()
    log = tmp_path / "events.parquet"
    eventlog_writer.write_trace_log(log, t, "bcm-feed", COLUMNS.to_log(t))
    table = change(pq.read_table(log))
    bad = tmp_path / "bad.parquet"
    pq.write_table(table, bad)
    return ["fit", bad, "--model", "bcm-feed", "--out", tmp_path / "fit.json"]


@pytest.mark.parametrize(("change", "match"), [
    (lambda t: t.drop_columns(["sender_opinion_3"]), "missing column 'sender_opinion_3'"),
    (lambda t: t.drop_columns([c for c in t.column_names if c[-1].isdigit()]),
     "reads a feed per interaction"),
    (lambda t: t.set_column(t.column_names.index("sender_opinion_2"), "sender_opinion_2",
                            pa.array(np.full(t.num_rows, 1.5, np.float32))),
     "column 'sender_opinion_2', row 1: 1.5 is outside [0, 1]"),
    (lambda t: t.set_column(t.column_names.index("sender_4"), "sender_4",
                            pa.array([None] * t.num_rows, pa.int64())),
     "column 'sender_4', row 1: value is missing"),
])  # fmt: skip
def test_a_bad_feed_log_gets_one_line_exit_2_and_nothing_written(tmp_path, change, match):
    args = _bad_log(tmp_path, change)
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and match in lines[0], result.stderr
    assert not (tmp_path / "fit.json").exists()


@pytest.mark.parametrize("F", [1, 5, 20])
def test_k_through_its_theta_is_uniform_on_1_to_F(F):
    """k = 1 + floor(F Phi(theta)) is j exactly on [Phi^-1((j-1)/F), Phi^-1(j/F)), an interval
    of N(0, 1) mass 1/F; 200 000 draws land within 4 binomial sds of 1/F on every k."""
    observed = SimpleNamespace(feed=np.zeros((1, 1, F), np.int32))
    k = lambda theta: np.asarray(jax.vmap(k_from_theta, (0, None))(
        jnp.asarray(theta, jnp.float32)[:, None], observed))[:, 0]  # fmt: skip
    edges = ndtri(np.arange(1, F) / F)
    assert k(edges - 1e-3).tolist() == list(range(1, F))
    assert k(edges + 1e-3).tolist() == list(range(2, F + 1))
    assert k([-40.0, 40.0]).tolist() == [1, F]  # Phi rounds to 0 and 1 there
    draws = k(np.random.default_rng(0).standard_normal(200_000))
    share = np.bincount(draws, minlength=F + 1)[1:] / draws.size
    assert draws.min() == 1 and np.all(np.abs(share - 1 / F) <= 4 * np.sqrt((1 / F) / draws.size))


def test_the_simulator_replays_its_trace_from_X0_under_the_truth():
    """Same X0, receivers, feeds, eps, k (and key, for the stochastic rule): the very
    outcomes, so the distance is 0; another k moves the outcomes."""
    for deterministic in (True, False):
        t = _trace(deterministic=deterministic, k=4)
        observed = MODEL.simulator.observe(to_observations(t))
        key = jax.random.split(jax.random.PRNGKey(2), 4)[3]  # the trace's outcome key
        eps = jnp.asarray(t.eps[:2])
        counts = MODEL.simulator.counts(key, eps, jnp.array([4]), observed)
        if deterministic:
            counts = MODEL.simulator.rule_counts(eps, jnp.array([4]), observed)
        assert float(summary_distance(counts, observed)) == 0.0
        other = MODEL.simulator.rule_counts(eps, jnp.array([2]), observed)
        assert float(summary_distance(other, observed)) > 0.0


def test_abc_refuses_an_event_log_in_one_line(tmp_path):
    t = _trace()
    log = tmp_path / "events.parquet"
    eventlog_writer.write_trace_log(log, t, "bcm-feed", COLUMNS.to_log(t))
    with pytest.raises(ViOdError, match="abc on model bcm-feed re-simulates a dense trace"):
        MODEL.simulator.observe(load_observations(log, columns=COLUMNS))


# abc at 1 x sqrt(T) keeps its 100 closest of 4000 (at its default 5 x sqrt(T) it keeps the prior)
ABC_BUDGETS = {
    "abc": {"simulations": 4000, "threshold_factor": 1.0},
    "abc-smc": {"simulations": 4000, "population": 200},
}


@pytest.mark.parametrize("method", ["abc", "abc-smc"])
def test_abc_and_abc_smc_recover_k_and_eps(method):
    """k right (mean rounded) and each eps within 3 of its ABC posterior sds: ~0.015 for
    eps+, ~0.1 for eps- (at eps- = 0.65 almost no |d| exceeds it: the summaries barely
    move it off its prior), ~0.4 for k, here and on the same design with seed 8."""
    t = _trace(seed=7, feed_size=5, k=4, eps=(0.35, 0.65), T=128)
    with quiet():
        fit = fit_observations(to_observations(t), method,
                               get(method).Settings(**ABC_BUDGETS[method]), 0, MODEL)  # fmt: skip
    post = fit.posterior
    assert fit.record.param_names == ("eps_plus", "eps_minus", "k")
    assert fit.record.metrics["k_right"], post.mean
    assert np.all(np.abs(post.mean[:2] - t.eps[:2]) <= 3 * post.std[:2]), (post.mean, post.std)
    assert set(np.unique(post.samples[:, 2])) <= set(range(1, 6))  # k as simulated, 1..F


@pytest.mark.parametrize("method", ["nuts-marginal", "svi-marginal"])
def test_the_exact_methods_recover_eps_and_k(method):
    """k drawn back and right; eps within 4 posterior sds (+0.005 for the table and the guide;
    at this size the sds are ~0.003 for eps+ and ~0.02 for eps-)."""
    t = _trace(seed=7, N=200, T=512, feed_size=10, k=6, eps=(0.35, 0.65))
    with quiet():
        fit = fit_observations(to_observations(t), method, get(method).Settings(), 1, MODEL)
    post = fit.posterior
    assert fit.record.param_names == ("eps_plus", "eps_minus", "k")
    assert fit.record.metrics["k_right"], post.mean
    err = np.abs(post.mean[:2] - t.eps[:2])
    assert np.all(err <= 4 * post.std[:2] + 0.005), (post.mean, post.std, t.eps)
    assert set(np.unique(post.samples[:, 2])) <= set(range(1, 11))  # k drawn, not averaged


def test_the_relaxed_view_and_rho_learned_run():
    t = _trace(seed=3, T=128)
    obs = to_observations(t)
    with quiet():
        fit = fit_observations(obs, "svi-normal", get("svi-normal").Settings(steps=300), 0, MODEL)
        learned = get_model("bcm-feed+rho")
        table = learned.collapsed.table(obs)
        theta = learned.collapsed.start(table)
    assert fit.posterior.mean.shape == (3,) and 1 <= fit.posterior.mean[2] <= 6
    assert theta.shape == (3,) and bool(jnp.all(jnp.isfinite(theta)))
    assert jax.numpy.isfinite(_exact_log_likelihoods(jnp.asarray([0.25, 0.75, 32.0]), table)).all()


def test_simulate_writes_an_event_log_that_fits_like_its_trace(tmp_path):
    base = ["model=bcm-feed", "N=60", "T=64", "simulator.feed_size=4", "--seed", "5"]
    for out in ("t.npz", "e.parquet"):
        result = runner.invoke(app, ["simulate", *base, "--out", str(tmp_path / out)])
        assert result.exit_code == 0, result.output
    fits = []
    for data in ("t.npz", "e.parquet"):
        out = tmp_path / f"{data}.json"
        args = ["fit", str(tmp_path / data), "--model", "bcm-feed", "method.warmup=100",
                "method.samples=100", "--out", str(out)]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        fits.append(out.read_text())
    strip = lambda text: {k: v for k, v in __import__("json").loads(text).items()
                          if k != "wall_time_s"}  # fmt: skip
    assert strip(fits[0]) == strip(fits[1])


def test_rho_learned_keeps_the_candidates_near_the_best_and_draws_their_k():
    """The pruned candidates hold the true k; k drawn back is theirs, not a position."""
    t = _trace(seed=4, N=200, T=512, feed_size=10, k=7, deterministic=True)
    learned = get_model("bcm-feed+rho")
    data = learned.collapsed.table(to_observations(t))
    assert 7 in np.asarray(data.ks).tolist() and data.abs_diff.shape[0] < 10
    params = jnp.asarray([[0.25, 0.75, 200.0]] * 50)
    drawn = learned.collapsed.complete(jax.random.PRNGKey(0), params, data)
    assert set(np.asarray(drawn[:, 3]).tolist()) <= set(np.asarray(data.ks).tolist())


def test_a_log_simulated_with_rho_learned_names_the_truth_it_records(tmp_path):
    out = tmp_path / "f.parquet"
    args = ["simulate", "model=bcm-feed", "model.rho=learn", "N=20", "T=20", "--seed", "1",
            "--out", str(out)]  # fmt: skip
    assert runner.invoke(app, args).exit_code == 0
    obs = load_observations(out)
    assert obs.meta["names"] == ["eps_plus", "eps_minus", "k"]  # rho is fitted, not simulated
    assert len(obs.eps) == 3
