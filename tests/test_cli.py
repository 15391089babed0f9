"""The command line: outputs, one-line errors and exit code 2 on bad input."""

import numpy as np
from typer.testing import CliRunner

from vi_od import trace as trace_io
from vi_od.cli import app

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
    assert again.exit_code == 0 and "valid trace" in again.output


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
