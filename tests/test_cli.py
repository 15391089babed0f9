"""The command line: outputs, one-line errors and exit code 2 on bad input."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from vi_od.cli import app
from vi_od.data import trace as trace_io

runner = CliRunner()


def test_simulate_writes_a_valid_trace_and_plot(tmp_path):
    out, png = tmp_path / "t.npz", tmp_path / "t.png"
    result = runner.invoke(
        app,
        [
            "simulate",
            "N=20",
            "T=64",
            "leader_proportion=0.1",
            "--out",
            str(out),
            "--seed",
            "3",
            "--plot",
            str(png),
        ],
    )
    assert result.exit_code == 0, result.output
    trace = trace_io.load(out)
    assert (trace.N, trace.T, int(trace.roles.sum()), trace.meta["seed"]) == (20, 64, 2, 3)
    assert png.stat().st_size > 10_000
    again = runner.invoke(app, ["inspect", str(out)])
    assert again.exit_code == 0 and "valid trace" in " ".join(again.output.split())  # wrapped


def test_bad_override_is_one_line_exit_2(tmp_path):
    result = runner.invoke(app, ["simulate", "N=1", "--out", str(tmp_path / "t.npz")])
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: N=1 is not allowed: must be an integer >= 2"
    assert not (tmp_path / "t.npz").exists()


def test_inspect_bad_file_is_one_line_exit_2(small_trace, tmp_path):
    np.savez(tmp_path / "bad.npz", X=small_trace.X)
    result = runner.invoke(app, ["inspect", str(tmp_path / "bad.npz")])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "missing key(s)" in result.stderr
    assert "Traceback" not in result.output


def test_fit_writes_json_plot_and_idata(small_trace, tmp_path):
    trace_path = trace_io.save(small_trace, tmp_path / "t.npz")
    out, png, nc = tmp_path / "fit.json", tmp_path / "fit.png", tmp_path / "post.nc"
    args = ["fit", str(trace_path), "--method", "svi-normal", "method.steps=300", "--seed", "2"]
    args += ["--out", str(out), "--plot", str(png), "--idata", str(nc)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "eps_minus_L" in result.output and "role error" in result.output
    record = json.loads(out.read_text())
    assert record["method"] == "svi-normal" and record["seed"] == 2
    assert record["settings"]["steps"] == 300 and len(record["p_leader"]) == small_trace.N
    for key in ("mean", "std", "q05", "q95", "roles", "wall_time_s", "metrics"):
        assert key in record
    assert png.stat().st_size > 10_000 and nc.stat().st_size > 1_000


@pytest.mark.parametrize(
    "args,message",
    [
        (["--method", "nope"], "unknown method 'nope'"),
        (["--method", "svi-normal", "method.steps=0"], "method.steps=0 is not allowed"),
        (["--method=svi-normal", "method.lr=1e6", "method.steps=300"], "loss became NaN at step"),
        (["--method", "nuts", "method.warmup=abc"], "method.warmup=abc is not allowed: must be an"),
        (
            ["method.steps=100"],
            "unknown config key 'method.steps' (known: method.name, method.warmup",
        ),
    ],
)
def test_fit_bad_input_is_one_line_exit_2(small_trace, tmp_path, args, message):
    trace_path = trace_io.save(small_trace, tmp_path / "t.npz")
    result = runner.invoke(app, ["fit", str(trace_path), *args, "--out", str(tmp_path / "f.json")])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
    assert not (tmp_path / "f.json").exists()


def test_fit_bad_trace_file_is_one_line_exit_2(tmp_path):
    (tmp_path / "junk.npz").write_text("not a trace")
    result = runner.invoke(app, ["fit", str(tmp_path / "junk.npz")])
    assert result.exit_code == 2 and "not a readable .npz" in result.stderr


def packed_results(results_frame, tmp_path):
    """The conftest results table written as a sweep folder, then packed into one file."""
    from vi_od.experiments import results

    for i, row in enumerate(results_frame.to_dict("records")):
        results.write_row(tmp_path / "res" / "runs", row | {"job_id": f"job{i:03d}"})
    results.pack(tmp_path / "res", tmp_path / "grid.parquet")
    return tmp_path / "grid.parquet"


def test_report_reads_a_packed_file_as_it_reads_the_folder(results_frame, tmp_path):
    packed = packed_results(results_frame, tmp_path)
    from_file = runner.invoke(app, ["report", str(packed), "--markdown"])
    from_folder = runner.invoke(app, ["report", str(tmp_path / "res"), "--markdown"])
    assert from_file.exit_code == 0, from_file.output
    assert from_file.output == from_folder.output and "| zz-new | 0 | 0 | 16 |" in from_file.output


def test_figures_of_a_packed_file_go_next_to_it_by_default(results_frame, tmp_path):
    packed = packed_results(results_frame, tmp_path)
    result = runner.invoke(app, ["figures", str(packed)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "grid_figures"
    assert sorted(p.name for p in out.iterdir()) == [
        "fig3_eps_recovery.png", "fig4_errors.png", "fig5_time.png", "fig6_error_analysis.png",
        "paper_comparison.png", "summary.md"]  # fmt: skip
    assert runner.invoke(app, ["figures", str(packed), "--out", str(tmp_path / "o")]).exit_code == 0
    assert (tmp_path / "o" / "fig5_time.png").exists()


@pytest.mark.parametrize("command", ["figures", "report"])
@pytest.mark.parametrize(
    "name,content,message",
    [
        ("missing.parquet", None, "results file {path} does not exist"),
        ("notes.txt", b"some notes", "{path} is not a Parquet file"),
        ("junk.parquet", b"PAR1 but not really", "{path} is not a Parquet file"),
    ],
)
def test_a_bad_results_file_is_one_line_exit_2(command, name, content, message, tmp_path):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    result = runner.invoke(app, [command, str(path)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {message.format(path=path)}"
    assert not (tmp_path / f"{path.stem}_figures").exists()


def test_an_empty_packed_file_is_one_line_exit_2(tmp_path):
    from vi_od.experiments import results

    results.pack(tmp_path / "nothing", tmp_path / "empty.parquet")
    result = runner.invoke(app, ["report", str(tmp_path / "empty.parquet")])
    assert result.exit_code == 2
    empty = tmp_path / "empty.parquet"
    assert result.stderr.strip() == f"error: no results in {empty}: run vi-od sweep first"


# --- event logs ------------------------------------------------------------------------------


def write_log(obs, path, ids, metadata=None):
    """The observations as an event log with the user's ids (Parquet keeps the metadata)."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    ids = np.asarray(ids, dtype=object)
    table = pa.table(
        {
            "time": obs.time * 60.0,  # minutes as float seconds
            "sender": ids[obs.sender],
            "receiver": ids[obs.receiver],
            "sender_opinion": obs.sender_opinion,
            "receiver_opinion": obs.receiver_opinion,
            "positive": obs.s_plus,
            "negative": obs.s_minus,
        }
    )
    if path.suffix == ".parquet":
        table = table.replace_schema_metadata({b"vi_od": json.dumps(metadata or {})})
        pq.write_table(table, path)
    else:
        pa_csv.write_csv(table, path)
    return path


NAMES = [f"user{i}" for i in range(30)]


@pytest.fixture
def log_csv(small_trace, tmp_path):
    return write_log(trace_io.to_observations(small_trace), tmp_path / "events.csv", NAMES)


def test_fit_an_event_log_with_agents_out_and_truth(small_trace, log_csv, tmp_path):
    import pandas as pd

    truth = tmp_path / "truth.csv"
    roles = np.where(small_trace.roles == 1, "leader", "follower")
    pd.DataFrame({"agent": NAMES + ["stranger"], "role": [*roles, "leader"]}).to_csv(truth)
    out, agents, png = tmp_path / "fit.json", tmp_path / "agents.parquet", tmp_path / "fit.png"
    args = ["fit", str(log_csv), "--method", "svi-normal", "method.steps=300", "--seed", "2"]
    args += ["--out", str(out), "--agents-out", str(agents), "--truth", str(truth)]
    result = runner.invoke(app, [*args, "--plot", str(png)])
    assert result.exit_code == 0, result.output
    assert "from the config (not in the data)" in result.output
    assert "role error" in result.output and "eps RMSE" not in result.output  # roles known only
    assert result.stderr.strip().startswith("warning: ") and "'stranger'" in result.stderr
    record = json.loads(out.read_text())
    assert record["agent_ids"] == sorted(NAMES)
    assert set(record["metrics"]) >= {"role_error_rate", "leaders_recall"}
    assert "rmse_eps" not in record["metrics"]
    table = pd.read_parquet(agents)
    assert list(table.columns) == [
        "agent", "p_leader", "p_leader_std", "role", "interactions_received"
    ]  # fmt: skip
    assert table.agent.tolist() == sorted(NAMES)
    assert table.p_leader.tolist() == record["p_leader"]
    assert (table.role == "leader").sum() == record["n_leaders_found"]
    received = np.bincount(small_trace.v.ravel(), minlength=30)
    assert dict(zip(table.agent, table.interactions_received)) == dict(zip(NAMES, received))
    assert png.stat().st_size > 10_000


def test_the_default_method_fits_an_event_log_and_writes_csv_agents(log_csv, tmp_path):
    agents = tmp_path / "agents.csv"
    args = ["fit", str(log_csv), "method.warmup=50", "method.samples=50", "--agents-out"]
    result = runner.invoke(app, [*args, str(agents)])
    assert result.exit_code == 0, result.output
    assert "nuts-marginal (seed 0)" in result.output
    assert agents.read_text().splitlines()[0] == (
        "agent,p_leader,p_leader_std,role,interactions_received"
    )
    assert len(agents.read_text().splitlines()) == 31


def test_abc_fits_an_event_log_by_replaying_it(small_trace, tmp_path):
    obs = trace_io.to_observations(small_trace)
    meta = {"eps": obs.eps.tolist(), "roles": obs.roles.tolist(), "rho": 32.0}
    log = write_log(obs, tmp_path / "events.parquet", range(30), meta)
    args = ["fit", str(log), "--method", "abc", "method.simulations=200", "method.min_accepted=20"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "f.json")])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "f.json").read_text())
    assert record["simulations"] == 200 and "rmse_eps" in record["metrics"]


def test_inspect_an_event_log_prints_its_summary(small_trace, tmp_path):
    obs = trace_io.to_observations(small_trace)
    log = write_log(obs, tmp_path / "events.parquet", NAMES, {"roles": obs.roles.tolist()})
    result = runner.invoke(app, ["inspect", str(log)])
    assert result.exit_code == 0, result.output
    received = np.bincount(obs.receiver, minlength=30)
    for text in ("valid event log", "interactions", f"{obs.M}", "leaders (truth)"):
        assert text in result.output
    assert f"{received.max()} ('{NAMES[int(received.argmax())]}')" in result.output


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda tmp, log: ["--agents-out", str(tmp / "a.txt")], "must end in .csv or .parquet"),
        (lambda tmp, log: ["--truth", str(write_roles(tmp, NAMES[1:]))], "no role for 1 of"),
        (lambda tmp, log: ["--truth", str(write_roles(tmp, NAMES, "boss"))], "'boss' is not"),
        (lambda tmp, log: ["--opinions", str(log)], "the log has its own opinion columns"),
    ],
)
def test_fit_bad_event_log_input_writes_nothing(log_csv, tmp_path, make, message):
    out, agents = tmp_path / "f.json", tmp_path / "agents.csv"
    args = ["fit", str(log_csv), "--out", str(out), "--agents-out", str(agents)]
    result = runner.invoke(app, [*args, *make(tmp_path, log_csv)])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
    assert not out.exists() and not agents.exists()


def write_roles(tmp, names, role="follower"):
    path = tmp / "truth.csv"
    path.write_text("agent,role\n" + "".join(f"{n},{role}\n" for n in names))
    return path
