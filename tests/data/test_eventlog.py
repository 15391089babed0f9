"""Event logs: the same Observations as the trace they come from, the as-of join, bad logs."""

import dataclasses
import json

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from vi_od.cli import app
from vi_od.data import load_observations
from vi_od.data.eventlog import read_roles, sorted_codes, summary
from vi_od.data.trace import save, to_observations
from vi_od.errors import ViOdError
from vi_od.inference import get
from vi_od.inference.fitting import fit_observations
from vi_od.models import DEFAULT, get_model
from vi_od.models.bcm_roles.forward import observe
from vi_od.models.bcm_roles.simulate import SimulatorSettings, simulate_trace
from vi_od.progress import quiet

runner = CliRunner()
LIKELIHOOD_INPUTS = ("time", "receiver", "s_plus", "s_minus")


def log_table(obs, ids=None) -> pa.Table:
    """The observations as an event log table (ids mapped through `ids` when given)."""
    ids = obs.agent_ids if ids is None else np.asarray(ids)
    return pa.table(
        {
            "time": obs.time,
            "sender": ids[obs.sender],
            "receiver": ids[obs.receiver],
            "sender_opinion": obs.sender_opinion,
            "receiver_opinion": obs.receiver_opinion,
            "positive": obs.s_plus.astype(bool),
            "negative": obs.s_minus,
        }
    )


def truth_metadata(obs) -> dict:
    """The b"vi_od" metadata `vi-od simulate --out events.parquet` writes."""
    return {
        "eps": obs.eps.tolist(),
        "roles": obs.roles.tolist(),
        "rho": obs.rho,
        "mu_plus": obs.mu_plus.tolist(),
        "mu_minus": obs.mu_minus.tolist(),
        "seed": 0,
        "simulator": {"N": obs.N},
    }


def write(table: pa.Table, path, metadata: dict | None = None):
    """Write a table as .parquet (with the metadata), .csv or .csv.gz, by suffix."""
    if str(path).endswith(".parquet"):
        if metadata is not None:
            table = table.replace_schema_metadata({b"vi_od": json.dumps(metadata)})
        pq.write_table(table, path)
    else:
        with pa.output_stream(path, compression="detect") as stream:
            pa_csv.write_csv(table, stream)
    return path


@pytest.fixture(scope="module")
def trace_obs(small_trace):
    return to_observations(small_trace)


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".csv.gz"])
def test_log_of_a_trace_gives_the_same_likelihood_inputs(trace_obs, tmp_path, suffix):
    path = write(log_table(trace_obs), tmp_path / f"log{suffix}", truth_metadata(trace_obs))
    back = load_observations(path)
    for name in LIKELIHOOD_INPUTS + ("sender",):
        np.testing.assert_array_equal(getattr(back, name), getattr(trace_obs, name), name)
    np.testing.assert_array_equal(back.abs_diff, trace_obs.abs_diff)
    np.testing.assert_array_equal(back.agent_ids, np.arange(trace_obs.N))
    if suffix == ".parquet":  # the truth travels in the schema metadata
        np.testing.assert_array_equal(back.roles, trace_obs.roles)
        np.testing.assert_array_equal(back.eps, trace_obs.eps)
        assert back.rho == trace_obs.rho and back.meta["seed"] == 0
    else:
        assert back.roles is None and back.eps is None and back.meta["rho_from"] == "config"


# Small budgets: the comparison needs two identical runs, not good estimates.
SAME_FIT_BUDGETS = {
    "svi-normal": {"steps": 300},
    "svi-nf": {"steps": 100, "num_samples": 50},
    "nuts": {"warmup": 30, "samples": 30, "num_samples": 30},
    "nuts-marginal": {"warmup": 50, "samples": 50},
    "svi-marginal": {"steps": 200, "num_samples": 100},
    "abc": {"simulations": 1000, "chunk_size": 500, "min_accepted": 10},
    "abc-smc": {"simulations": 1500, "population": 100, "chunk_size": 500},
}


def test_every_method_has_a_same_fit_budget():
    from vi_od.inference import registry

    assert set(SAME_FIT_BUDGETS) == set(registry())


@pytest.mark.parametrize("method", sorted(SAME_FIT_BUDGETS))
def test_log_of_a_trace_gives_the_same_fit(small_trace, trace_obs, tmp_path, method):
    """End to end through load_observations: a trace and its event log, same seed, same
    estimates to 1e-6 for every method (abc from the trace's X, or replaying the log)."""
    path = write(log_table(trace_obs), tmp_path / "log.parquet", truth_metadata(trace_obs))
    npz = save(small_trace, tmp_path / "t.npz")
    settings = get(method).Settings(**SAME_FIT_BUDGETS[method]).validate()
    with quiet():
        a = fit_observations(load_observations(npz), method, settings, seed=4).record.to_json()
        b = fit_observations(load_observations(path), method, settings, seed=4).record.to_json()
    for key in ("mean", "std"):
        np.testing.assert_allclose(list(a[key].values()), list(b[key].values()), atol=1e-6)
    np.testing.assert_allclose(a["p_leader"], b["p_leader"], atol=1e-6)
    assert a["roles"] == b["roles"] and a["agent_ids"] == b["agent_ids"]
    for key, value in a["metrics"].items():
        np.testing.assert_allclose(value, b["metrics"][key], atol=1e-6, err_msg=key)


def test_abc_replays_a_log_of_a_trace_as_the_trace_itself(trace_obs, tmp_path):
    path = write(log_table(trace_obs), tmp_path / "log.parquet", truth_metadata(trace_obs))
    dense, replayed = observe(trace_obs), observe(load_observations(path))
    assert replayed.mask is not None and bool(replayed.mask.all())
    for name in ("X0", "u", "v", "summary", "mu_plus", "mu_minus", "rho"):
        np.testing.assert_array_equal(getattr(dense, name), getattr(replayed, name), name)


def test_abc_refuses_a_log_whose_padding_would_swamp_it():
    busy = np.zeros(3000, np.int64)
    busy[2000:] = np.arange(1, 1001)  # 2000 interactions at one time, then 1000 alone
    obs = log_observations(busy)
    with pytest.raises(ViOdError, match="padded to its busiest time .* fit it with nuts-marginal"):
        observe(obs)


def log_observations(time):
    """Observations of a hand-made log with the given times (agents 0/1, fixed opinions)."""
    from vi_od.data.observations import from_columns

    M = time.size
    ones = np.ones(M)
    return from_columns(
        time, np.zeros(M), ones, 0.2 * ones, 0.6 * ones, ones, 0 * ones, np.arange(2),
        mu_plus=np.full(2, 0.02), mu_minus=np.full(2, 0.02),
    )  # fmt: skip


def test_unsorted_rows_and_string_ids(trace_obs, tmp_path):
    names = np.array([f"user-{i:03d}" for i in range(trace_obs.N)], dtype=object)[::-1]
    table = log_table(trace_obs, names)
    shuffled = table.take(np.random.default_rng(0).permutation(table.num_rows))
    back = load_observations(write(shuffled, tmp_path / "log.csv"))
    assert list(back.agent_ids) == sorted(names)

    def rows(obs):
        ids = np.asarray(obs.agent_ids)
        cols = (obs.time, ids[obs.sender], ids[obs.receiver], obs.abs_diff, obs.s_plus, obs.s_minus)
        return sorted(zip(*(c.tolist() for c in cols)))

    assert rows(back) == rows(dataclasses.replace(trace_obs, agent_ids=names))


@pytest.mark.parametrize(
    "values",
    [
        np.array([7, 3, 3, 9, 7, 0]),  # dense integers: the bincount path
        np.array([-5, 2, -5, 11]),  # negative
        np.array([10**12, 3, 10**12]),  # sparse: np.unique's path
        np.array([2.5, -1.0, 2.5]),
        np.array(["b", "a", "b", "c"], dtype=object),
    ],
)
def test_sorted_codes_is_numpys_unique_with_inverse(values):
    uniques, codes = sorted_codes(values)
    expected_uniques, expected_codes = np.unique(values, return_inverse=True)
    np.testing.assert_array_equal(uniques, expected_uniques)
    np.testing.assert_array_equal(codes, expected_codes)


def test_equal_times_share_one_index_in_time_order(tmp_path):
    stamps = ["2024-05-01T10:00:00", "2024-05-01T09:00:00", "2024-05-01T10:00:00", "2024-05-02"]
    table = pa.table(
        {
            "time": pa.array(stamps).cast(pa.timestamp("s")),
            "sender": ["a", "b", "c", "a"],
            "receiver": ["b", "a", "b", "c"],
            "sender_opinion": [0.1, 0.2, 0.3, 0.4],
            "receiver_opinion": [0.5, 0.6, 0.5, 0.7],
            "positive": [1, 0, 1, 0],
            "negative": [0, 0, 1, 1],
        }
    )
    obs = load_observations(write(table, tmp_path / "log.parquet"))
    # 09:00 first; the two 10:00 rows (file rows 1 and 3, in file order) share index 1
    np.testing.assert_array_equal(obs.time, [0, 1, 1, 2])
    np.testing.assert_allclose(obs.sender_opinion, [0.2, 0.1, 0.3, 0.4])
    assert obs.meta["time"] == {
        "kind": "timestamp",
        "first": "2024-05-01 09:00:00",
        "last": "2024-05-02 00:00:00",
        "distinct": 3,
        "zone": "naive",
    }
    # ABC replays them as one step: both 10:00 interactions read the opinions before 10:00
    replayed = observe(obs)
    assert replayed.u.shape == (3, 2) and replayed.mask.sum() == 4


AS_OF_LOG = {
    "time": [5, 6, 4, 7, 7],
    "sender": ["a", "b", "a", "a", "a"],
    "receiver": ["b", "a", "b", "b", "a"],
    "positive": [1, 0, 1, 0, 1],
    "negative": [0, 1, 0, 0, 0],
}
AS_OF_OPINIONS = {
    "agent": ["a", "a", "b", "a", "b"],
    "time": [0, 5, 0, 7, 6],
    "opinion": [0.1, 0.3, 0.5, 0.9, 0.55],
}


def test_as_of_join_takes_the_latest_opinion_at_or_before_each_time(tmp_path):
    log = write(pa.table(AS_OF_LOG), tmp_path / "log.csv")
    book = write(pa.table(AS_OF_OPINIONS), tmp_path / "opinions.csv")
    obs = load_observations(log, book)
    # time order: t=4 (a->b), 5 (a->b), 6 (b->a), 7 (a->b), 7 (a->a)
    np.testing.assert_allclose(obs.sender_opinion, [0.1, 0.3, 0.55, 0.9, 0.9])
    np.testing.assert_allclose(obs.receiver_opinion, [0.5, 0.5, 0.3, 0.55, 0.9])
    np.testing.assert_array_equal(obs.agent_ids, ["a", "b"])


def test_as_of_form_of_a_trace_equals_its_explicit_form(trace_obs, small_trace, tmp_path):
    # the opinions table holds only the changes: each agent's X0, then X[t] where it moved
    X = small_trace.X
    moved = np.vstack([np.ones((1, X.shape[1]), bool), X[1:] != X[:-1]])
    t, agent = np.nonzero(moved)
    book = pa.table({"agent": agent, "time": t, "opinion": X[t, agent]})
    log = log_table(trace_obs).drop_columns(["sender_opinion", "receiver_opinion"])
    obs = load_observations(
        write(log, tmp_path / "log.parquet"), write(book, tmp_path / "o.parquet")
    )
    for name in LIKELIHOOD_INPUTS + ("sender", "sender_opinion", "receiver_opinion"):
        np.testing.assert_array_equal(getattr(obs, name), getattr(trace_obs, name), name)


def test_metadata_roles_cover_agents_that_never_interacted(trace_obs, tmp_path):
    table = log_table(trace_obs)
    quiet_agent = trace_obs.N - 1
    keep = pa.array((trace_obs.sender != quiet_agent) & (trace_obs.receiver != quiet_agent))
    path = write(table.filter(keep), tmp_path / "log.parquet", truth_metadata(trace_obs))
    obs = load_observations(path)
    assert obs.N == trace_obs.N and obs.received()[quiet_agent] == 0
    np.testing.assert_array_equal(obs.roles, trace_obs.roles)


def test_a_logs_truth_is_named_by_its_model(trace_obs, tmp_path):
    """A log without "model" is the default model's: its truth under that model's names; a
    log of another model under the names it records."""
    default = load_observations(
        write(log_table(trace_obs), tmp_path / "old.parquet", truth_metadata(trace_obs))
    )
    feed = {"model": "bcm-feed", "names": ["eps_plus", "eps_minus", "k"], "eps": [0.25, 0.75, 3]}
    other = load_observations(write(log_table(trace_obs), tmp_path / "feed.parquet", feed))
    names = lambda obs: [k.removesuffix(" (truth)") for k in summary(obs) if "(truth)" in k]
    assert names(default) == ["leaders", *get_model(DEFAULT).names]
    assert names(other) == feed["names"] and other.meta["model"] == "bcm-feed"


def test_read_roles_aligns_known_roles_with_the_data(tmp_path):
    path = write(
        pa.table({"agent": ["c", "a", "b", "zed"], "role": ["leader", "follower", "1", "0"]}),
        tmp_path / "truth.csv",
    )
    roles, notes = read_roles(path, np.array(["a", "b", "c"], dtype=object))
    np.testing.assert_array_equal(roles, [0, 1, 1])
    assert len(notes) == 1 and "1 agent(s) not in the data" in notes[0] and "'zed'" in notes[0]
    with pytest.raises(ViOdError, match=r"no role for 1 of the data's 4 agents \(first: 'd'\)"):
        read_roles(path, np.array(["a", "b", "c", "d"], dtype=object))


# --- bad logs: one line on stderr, exit 2, naming the file, the column and the first bad row --

GOOD = {
    "time": [3, 1, 2, 2, 5, 4],
    "sender": ["a", "b", "c", "a", "b", "c"],
    "receiver": ["b", "c", "a", "c", "a", "b"],
    "sender_opinion": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
    "receiver_opinion": [0.6, 0.5, 0.4, 0.3, 0.2, 0.1],
    "positive": [1, 0, 1, 0, 1, 0],
    "negative": [0, 0, 1, 1, 0, 0],
}


def changed(suffix=".csv", **columns):
    """GOOD with some columns replaced (None drops one), written with this suffix."""
    data = {k: v for k, v in (GOOD | columns).items() if v is not None}
    return lambda tmp: write(pa.table(data), tmp / f"log{suffix}")


def at(column, row, value):
    """GOOD[column] with the value at a 1-based row (as the messages count); text stays text."""
    values = [str(v) for v in GOOD[column]] if isinstance(value, str) else list(GOOD[column])
    values[row - 1] = value
    return values


def raw(text, name="log.csv"):
    def make(tmp):
        (tmp / name).write_bytes(text if isinstance(text, bytes) else text.encode())
        return tmp / name

    return make


def truth(metadata):
    """GOOD as a Parquet log whose schema metadata carries this truth."""
    return lambda tmp: write(pa.table(GOOD), tmp / "log.parquet", metadata)


def with_opinions(log_columns, opinions):
    def make(tmp):
        return write(pa.table(log_columns), tmp / "log.csv"), write(
            pa.table(opinions), tmp / "o.csv"
        )

    return make


BAD = {
    "missing column": (changed(negative=None), "missing column(s) 'negative'"),
    "missing opinions": (
        changed(sender_opinion=None, receiver_opinion=None),
        "missing column(s) 'sender_opinion', 'receiver_opinion' (an event log needs",
    ),
    "opinion above 1": (changed(receiver_opinion=at("receiver_opinion", 4, 1.2)),
                        "column 'receiver_opinion', row 4: 1.2 is outside [0, 1]"),
    "opinion below 0": (changed(sender_opinion=at("sender_opinion", 2, -0.1)),
                        "column 'sender_opinion', row 2: -0.1 is outside [0, 1]"),
    "opinion NaN (parquet)": (changed(".parquet", sender_opinion=at("sender_opinion", 3, np.nan)),
                              "column 'sender_opinion', row 3: value is NaN"),
    "opinion empty (csv)": (changed(sender_opinion=at("sender_opinion", 5, None)),
                            "column 'sender_opinion', row 5: value is missing"),
    "opinion not a number": (changed(sender_opinion=at("sender_opinion", 6, "high")),
                             "column 'sender_opinion', row 6: 'high' is not a number"),
    "s not 0/1": (changed(positive=at("positive", 3, 2)),
                  "column 'positive', row 3: 2 is not 0/1"),
    "s a word": (changed(negative=at("negative", 2, "yes")),
                 "column 'negative', row 2: 'yes' is not 0/1"),
    "float id": (changed(".parquet", sender=[1.0, 2.5, 3.0, 1.0, 2.0, 3.0]),
                 "column 'sender', row 2: 2.5 is not an id"),
    "bool id": (changed(".parquet", receiver=[True] * 6),
                "column 'receiver', row 1: must hold integer or string ids, the column holds bool"),
    "time not a time": (changed(time=at("time", 4, "noon")),
                        "column 'time', row 4: 'noon' is not a number"),
    "first bad row wins": (
        changed(receiver_opinion=at("receiver_opinion", 5, 2.0), positive=at("positive", 3, 7)),
        "column 'positive', row 3:",
    ),
    "empty log": (raw(",".join(GOOD) + "\n"), "no rows: an event log needs at least one"),
    "empty file": (raw(""), "not a readable CSV file"),
    "garbage parquet": (raw(b"PAR1 not really", "log.parquet"), "not a readable Parquet file"),
    "ragged csv": (raw(",".join(GOOD) + "\n1,a,b,0.1,0.2,1\n"), "not a readable CSV file"),
    "no such file": (lambda tmp: tmp / "nope.csv", "no such file"),
    "unknown suffix": (raw("x", "log.txt"), "unknown data format (expected .npz (trace), .parquet"),
    "bad metadata": (
        lambda tmp: write(pa.table(GOOD), tmp / "log.parquet", {"roles": [0, 1]}),
        "schema metadata 'vi_od': 'roles' has 2 values for the log's 3 agents",
    ),
    "truth: the default model checks its own": (
        truth({"eps": [0.7, 0.1, 0.6, 0.9]}),  # a log without "model" is the default model's
        "schema metadata 'vi_od': 'eps'=[0.7, 0.1, 0.6, 0.9] is not allowed: must be eps+ in",
    ),
    "truth: the model the log names checks it": (
        truth({"model": "bcm-feed", "eps": [0.25, 0.75, 0.5]}),
        "'eps'=[0.25, 0.75, 0.5] is not allowed: must be [eps+, eps-, k] with k an integer",
    ),
    "truth: of a model vi-od cannot find": (
        truth({"model": "nope", "eps": [0.1]}), "schema metadata 'vi_od': unknown model 'nope'"
    ),
    "as-of: no opinion yet": (
        with_opinions(
            AS_OF_LOG | {"time": [5, 6, 4, 7, -1]},
            AS_OF_OPINIONS,
        ),
        "log.csv: column 'sender', row 5: agent 'a' has no opinion at or before time -1 in",
    ),
    "as-of: first bad row in file order": (
        with_opinions(AS_OF_LOG | {"receiver": ["x", "b", "a", "b", "x"], "time": [9, 6, 4, 7, 0]},
                      AS_OF_OPINIONS),
        "column 'receiver', row 1: agent 'x' has no opinion",
    ),
    "as-of: log has opinions": (
        with_opinions(GOOD, AS_OF_OPINIONS), "the log has its own opinion columns"
    ),
    "opinions table: missing column": (
        with_opinions(AS_OF_LOG, {"agent": ["a"], "time": [0]}),
        "o.csv: missing column(s) 'opinion' (an opinions table needs agent, time, opinion)",
    ),
    "opinions table: bad opinion": (
        with_opinions(AS_OF_LOG, AS_OF_OPINIONS | {"opinion": [0.1, 0.3, 0.5, 9.0, 0.55]}),
        "o.csv: column 'opinion', row 4: 9 is outside [0, 1]",
    ),
    "opinions table: twice at one time": (
        with_opinions(AS_OF_LOG, AS_OF_OPINIONS | {"time": [0, 5, 0, 5, 6]}),
        "o.csv: column 'time', row 4: agent 'a' has a second opinion at the same time",
    ),
    "opinions table: other kind of time": (
        with_opinions(
            AS_OF_LOG,
            AS_OF_OPINIONS | {"time": ["2024-01-01T00:00:00"] * 5},
        ),
        "column 'time' holds timestamp times, the event log's are integer times",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD))
def test_bad_log_is_one_line_exit_2(tmp_path, case):
    make, message = BAD[case]
    made = make(tmp_path)
    log, book = made if isinstance(made, tuple) else (made, None)
    args = ["inspect", str(log)] + ([] if book is None else ["--opinions", str(book)])
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.output


def test_opinions_table_with_a_trace_is_an_error(small_trace, tmp_path):
    npz = save(small_trace, tmp_path / "t.npz")
    with pytest.raises(ViOdError, match="an opinions table goes with an event log"):
        load_observations(npz, tmp_path / "o.csv")


# --- fitting an event log ------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulated_log(tmp_path_factory):
    """A simulated log as a user would hand it in: string ids, rows shuffled, truth aside."""
    eps = (0.35, 0.15, 0.65, 0.85)
    settings = SimulatorSettings(N=40, T=256, leader_proportion=0.1, eps=eps)
    obs = to_observations(simulate_trace(settings, seed=11))
    names = np.array([f"@{i:02d}" for i in range(obs.N)], dtype=object)
    table = log_table(obs, names)
    table = table.take(np.random.default_rng(1).permutation(table.num_rows))
    path = write(table, tmp_path_factory.mktemp("log") / "events.csv.gz")
    return path, dataclasses.replace(obs, agent_ids=names)


def test_nuts_marginal_recovers_the_truth_of_a_log(simulated_log):
    path, truth = simulated_log
    obs = load_observations(path)
    settings = get("nuts-marginal").Settings(warmup=200, samples=200).validate()
    with quiet():
        post = fit_observations(obs, "nuts-marginal", settings, seed=0).posterior
    # the posterior is calibrated (README): its mean lies within 4 sd of each true eps
    # (for a calibrated posterior each fails with probability < 1e-4), and roles are
    # called from the sharp P(leader) of 64 received interactions per agent on average
    assert (np.abs(post.mean - truth.eps) <= 4 * post.std).all(), post.mean
    assert post.std.max() < 0.05
    np.testing.assert_array_equal(obs.agent_ids, truth.agent_ids)
    assert (post.roles != truth.roles).mean() <= 1 / 40


@pytest.mark.parametrize(
    "method,budget", [("svi-normal", {"steps": 300}), ("svi-marginal", {"steps": 300})]
)
def test_other_methods_fit_a_log(simulated_log, method, budget):
    path, truth = simulated_log
    obs = load_observations(path)
    settings = get(method).Settings(**budget).validate()
    with quiet():
        record = fit_observations(obs, method, settings, seed=0).record.to_json()
    assert record["agent_ids"] == list(truth.agent_ids)
    assert len(record["p_leader"]) == obs.N and np.isfinite(list(record["mean"].values())).all()
