"""BCM-G (rewiring): the simulator's graph and rules, the tabulated likelihood, the event-log
form, bad rewiring logs, and recovery of eps and beta."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from vi_od.cli import app
from vi_od.data import eventlog_writer, load_observations
from vi_od.data import trace as trace_io
from vi_od.data.trace import to_observations
from vi_od.errors import ViOdError
from vi_od.inference import get
from vi_od.inference.fitting import fit_observations
from vi_od.models import get_model
from vi_od.models.bcm_rewire.model import (
    Settings,
    _exact_log_likelihood,
    _log_likelihood,
    _simulate,
    erdos_renyi,
    events,
    simulate_trace,
    tabulate,
)
from vi_od.models.bcm_rewire.settings import COLUMNS
from vi_od.progress import quiet

MODEL = get_model("bcm-rewire")
runner = CliRunner()


def _trace(seed: int = 2, **kw):
    values = {"N": 100, "T": 256, "q": 0.5, "eps": (0.25, 0.75), "beta": 0.35} | kw
    return simulate_trace(Settings(**values).validate(), seed)


def test_the_deterministic_simulator_follows_the_rules_on_its_events():
    t = _trace(deterministic=True)
    rewire, cut = t.extra["rewire"] == 1, t.extra["cut"] == 1
    d = np.abs(t.abs_diff())
    assert 0.3 < rewire.mean() < 0.7 and cut.any()
    assert np.array_equal(t.s_plus == 1, (d < 0.25) & ~rewire)
    assert np.array_equal(t.s_minus == 1, (d > 0.75) & ~rewire)
    assert not (cut & ~rewire).any()
    assert d[cut].mean() > d[rewire & ~cut].mean()  # far pairs are cut more often


def test_rewiring_keeps_every_degree_and_the_pairs_are_edges():
    A = erdos_renyi(60, 0.1, seed=1)
    f32 = jnp.float32
    X0 = jax.random.uniform(jax.random.PRNGKey(0), (60,))
    params = jnp.asarray([0.2, 0.8, 0.05], f32)  # beta low: most rewiring events cut
    X, u, v, sp, sm, rewire, cut, A_last = _simulate(
        jax.random.PRNGKey(1), jnp.asarray(A), X0, params, f32(0.3), f32(0.02), f32(0.02),
        f32(32.0), T=200, E=5, deterministic=False)  # fmt: skip
    A_last = np.asarray(A_last)
    assert np.array_equal(A_last.sum(axis=1), A.sum(axis=1))
    assert np.array_equal(A_last, A_last.T) and not np.diag(A_last).any()
    assert (A_last & ~A).sum() > 0  # the graph did change
    assert A[np.asarray(u[0]), np.asarray(v[0])].all()  # the first step's pairs are edges


def test_the_tables_match_the_exact_sums():
    obs = to_observations(_trace())
    tables, exact = tabulate(obs), events(obs)
    for p in ([0.1, 0.6, 0.1], [0.25, 0.75, 0.35], [0.45, 0.95, 0.9]):
        p = jnp.asarray(p)
        np.testing.assert_allclose(float(_log_likelihood(p, tables)),
                                   float(_exact_log_likelihood(p, exact)), rtol=5e-5)  # fmt: skip


def _log(tmp_path, change=lambda t: t):
    t = _trace()
    log = tmp_path / "events.parquet"
    eventlog_writer.write_trace_log(log, t, "bcm-rewire", COLUMNS.to_log(t))
    pq.write_table(change(pq.read_table(log)), log)
    return t, log


def test_the_event_log_gives_the_trace_s_observations(tmp_path):
    t, log = _log(tmp_path)
    dense, read = to_observations(t), load_observations(log, columns=COLUMNS)
    assert read.eps.tolist() == t.eps.tolist()
    for name in ("rewire", "cut"):
        assert np.array_equal(dense.extra[name], read.extra[name])
    back = trace_io.load(trace_io.save(t, tmp_path / "t.npz"))
    assert np.array_equal(back.extra["cut"], t.extra["cut"])


def _set(name, value):
    def change(t):
        column = t.column(name).to_numpy().copy()
        row = np.flatnonzero(t.column("rewire").to_numpy() == (name != "cut"))[0]
        column[row] = value
        return t.set_column(t.column_names.index(name), name, pa.array(column))

    return change


@pytest.mark.parametrize(("change", "match"), [
    (lambda t: t.drop_columns(["cut"]), "missing column(s) 'cut'"),
    (_set("cut", 1), "an opinion update (rewire = 0) cannot cut an edge"),
    (_set("positive", 1), "a rewiring event has no opinion outcome"),
    (_set("rewire", 2), "column 'rewire', row"),
])  # fmt: skip
def test_a_bad_rewiring_log_gets_one_line_exit_2_and_nothing_written(tmp_path, change, match):
    _, log = _log(tmp_path, change)
    out = tmp_path / "fit.json"
    result = runner.invoke(app, ["fit", str(log), "--model", "bcm-rewire", "--out", str(out)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and match in lines[0], result.stderr
    assert not out.exists()


def test_a_trace_without_its_events_is_refused_in_one_line(tmp_path):
    t = _trace()
    path = trace_io.save(trace_io.Trace(**{**t.__dict__, "extra": {}}), tmp_path / "t.npz")
    with pytest.raises(ViOdError, match="needs each event's kind and outcome"):
        load_observations(path, columns=COLUMNS)


@pytest.mark.parametrize("method", ["nuts-marginal", "svi-normal"])
def test_the_methods_recover_eps_and_beta(method):
    """eps+, eps- and beta within 4 posterior sds (+0.005 for the tables and the guide; at
    this size the sds are ~0.004, ~0.01 and ~0.02)."""
    t = _trace(seed=7, N=200, T=1024, eps=(0.35, 0.65), beta=0.45)
    with quiet():
        fit = fit_observations(to_observations(t), method, get(method).Settings(), 1, MODEL)
    post = fit.posterior
    assert fit.record.param_names == ("eps_plus", "eps_minus", "beta")
    err = np.abs(post.mean - t.eps)
    assert np.all(err <= 4 * post.std + 0.005), (post.mean, post.std, t.eps)


def test_the_abc_replay_reproduces_the_hard_rules_counts():
    t = _trace(deterministic=True, T=64)
    observed = MODEL.simulator.observe(to_observations(t))
    s_plus, s_minus, _ = MODEL.simulator.rule_counts(jnp.asarray(t.eps), jnp.zeros(0), observed)
    assert np.array_equal(np.asarray(s_plus), t.s_plus.sum(axis=1))
    assert np.array_equal(np.asarray(s_minus), t.s_minus.sum(axis=1))


def test_simulate_writes_an_event_log_that_fits_like_its_trace(tmp_path):
    base = ["model=bcm-rewire", "N=60", "T=64", "--seed", "5"]
    fits = []
    for out in ("t.npz", "e.parquet"):
        result = runner.invoke(app, ["simulate", *base, "--out", str(tmp_path / out)])
        assert result.exit_code == 0, result.output
        fit = tmp_path / f"{out}.json"
        args = ["fit", str(tmp_path / out), "--model", "bcm-rewire", "method.warmup=100",
                "method.samples=100", "--out", str(fit)]  # fmt: skip
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        fits.append({k: v for k, v in json.loads(fit.read_text()).items() if k != "wall_time_s"})
    assert fits[0] == fits[1]
