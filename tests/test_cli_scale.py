"""The command line at scale: event-log output, and refusals before any work (exit 2)."""

import json

import numpy as np
import pyarrow.parquet as pq
from typer.testing import CliRunner

from vi_od.cli import app

runner = CliRunner()


def one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_simulate_writes_an_event_log_with_snapshots(tmp_path):
    out = tmp_path / "log.parquet"
    args = ["simulate", "N=50", "T=101", "leader_proportion=0.1", "--seed", "4", "--out",
            str(out), "--snapshots", "20", "--activity", "zipf:1"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.num_rows == 1000 and "interactions" in result.output
    meta = json.loads(table.schema.metadata[b"vi_od"])
    assert meta["seed"] == 4 and sum(meta["roles"]) == 5
    assert meta["activity"] == {"kind": "zipf", "exponent": 1.0}
    with np.load(tmp_path / "log.snapshots.npz") as snaps:
        assert snaps["X"].shape == (6, 50) and snaps["time"].tolist() == [0, 20, 40, 60, 80, 100]


def test_dense_trace_too_big_is_refused_up_front(tmp_path):
    out = tmp_path / "x.npz"
    result = runner.invoke(app, ["simulate", "N=100000", "T=1000000", "--out", str(out)])
    one_line_error(result, "X alone is 373 GiB", "--out", "x.parquet")
    assert not out.exists()


def test_event_log_options_need_an_event_log(tmp_path):
    result = runner.invoke(app, ["simulate", "--out", str(tmp_path / "x.npz"), "--activity",
                                 "zipf:1"])  # fmt: skip
    one_line_error(result, ".parquet")
    result = runner.invoke(app, ["simulate", "--out", str(tmp_path / "x.csv")])
    one_line_error(result, ".npz", ".parquet")
    result = runner.invoke(app, ["simulate", "--out", str(tmp_path / "x.parquet"),
                                 "--activity", "pareto"])  # fmt: skip
    one_line_error(result, "--activity", "zipf:A")
    result = runner.invoke(app, ["simulate", "model=deffuant", "--out",
                                 str(tmp_path / "x.parquet")])  # fmt: skip
    one_line_error(result, "model deffuant writes .npz traces")  # it has no Simulation.stream
    assert list(tmp_path.iterdir()) == []


def test_fit_refuses_svi_nf_at_1e5_agents_before_any_work(tmp_path):
    trace = tmp_path / "wide.npz"
    result = runner.invoke(app, ["simulate", "N=100000", "T=2", "--out", str(trace)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["fit", str(trace), "--method", "svi-nf", "--out",
                                 str(tmp_path / "fit.json")])  # fmt: skip
    one_line_error(result, "svi-nf with 3.2e+12 flow parameters on N=100000 agents", "GiB")
    assert not (tmp_path / "fit.json").exists()
