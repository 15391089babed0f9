"""Bad inputs of a probe sweep (docs/data-and-errors.md): one line, exit 2, nothing written."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vi_od.atomic import atomic_write
from vi_od.cli import app
from vi_od.data import load_observations
from vi_od.data import trace as trace_io
from vi_od.errors import ViOdError
from vi_od.outputs import all_or_nothing

runner = CliRunner()
HEADER = "time,sender,receiver,sender_opinion,receiver_opinion,positive,negative\n"


def one_line_error(args, *, match: str):
    """Run the CLI; assert exit 2, one line on stderr containing `match`, no traceback."""
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and match in lines[0], result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture
def trace_file(small_trace, tmp_path):
    return trace_io.save(small_trace, tmp_path / "t.npz")


@pytest.fixture
def log_file(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(HEADER + "1,a,b,0.1,0.2,1,0\n2,b,a,0.3,0.4,0,1\n")
    return path


def test_a_duplicate_column_name_is_one_line(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(HEADER.replace("negative", "positive") + "1,a,b,0.1,0.2,1,0\n")
    one_line_error(["inspect", path], match="column 'positive' appears twice in the header")


def test_a_folder_as_data_is_named_a_folder(tmp_path):
    (tmp_path / "data.csv").mkdir()
    (tmp_path / "trace.npz").mkdir()
    one_line_error(["inspect", tmp_path / "data.csv"], match="data.csv: is a folder")
    one_line_error(["inspect", tmp_path / "trace.npz"], match="trace.npz: is a folder")


def test_a_non_zip_npz_and_a_renamed_npy_say_what_they_are(tmp_path):
    (tmp_path / "junk.npz").write_text("hello")
    np.save(tmp_path / "x.npy", np.zeros(3))
    os.rename(tmp_path / "x.npy", tmp_path / "x.npz")
    one_line_error(["inspect", tmp_path / "junk.npz"], match="not a zip archive")
    one_line_error(["inspect", tmp_path / "x.npz"], match="a single .npy array")


def test_an_id_with_spaces_is_the_same_agent_with_a_warning(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(HEADER + "1,7,8,0.1,0.2,1,0\n2, 7,8,0.3,0.4,0,1\n")
    obs = load_observations(path)
    assert obs.agent_ids.tolist() == [7, 8]
    assert "1 id(s) had spaces around them, stripped (first: ' 7', row 2)" in obs.meta["notes"][0]
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exit_code == 0 and "warning:" in result.stderr and "' 7'" in result.stderr


def test_float_noise_outside_0_1_is_refused_naming_clip_opinions_which_clips_it(
    small_trace, tmp_path
):
    X = small_trace.X.copy()
    X[0, :3] = [-0.0012, 1.0005, -0.0001]  # the paper's saved traces hold -0.0012
    path = trace_io.save(trace_io.Trace(**{**small_trace.__dict__, "X": X}), tmp_path / "t.npz")
    one_line_error(["inspect", path], match="--clip-opinions 0.01")
    result = runner.invoke(app, ["inspect", str(path), "--clip-opinions", "0.01"])
    assert result.exit_code == 0, result.output
    assert "clipped 3 opinion(s)" in result.stderr
    obs = load_observations(path, clip_opinions=0.01)
    assert obs.sender_opinion.min() >= 0 and obs.trace.X[0, :3].tolist() == [0.0, 1.0, 0.0]
    one_line_error(["inspect", path, "--clip-opinions", "0.0001"], match="must lie in [0, 1]")
    log = tmp_path / "log.csv"
    log.write_text(HEADER + "1,a,b,-0.0012,0.2,1,0\n2,b,a,0.3,1.2,0,1\n")
    with pytest.raises(ViOdError, match="row 1: -0.0012 is outside .*--clip-opinions"):
        load_observations(log)
    with pytest.raises(ViOdError, match="column 'receiver_opinion', row 2: 1.2 is outside"):
        load_observations(log, clip_opinions=0.01)  # a real violation stays an error


@pytest.mark.parametrize("command", ["fit", "simulate", "check"])
def test_an_unknown_plot_format_is_refused_before_any_work(command, trace_file, tmp_path):
    args = {"fit": ["fit", trace_file], "simulate": ["simulate", "--out", tmp_path / "s.npz"],
            "check": ["check", trace_file, tmp_path / "no-fit.json"]}[command]  # fmt: skip
    one_line_error([*args, "--plot", tmp_path / "x.xyz"], match="unknown image format '.xyz'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.npz"]


@pytest.mark.parametrize("option", ["--out", "--agents-out", "--idata"])
def test_fit_outputs_at_a_folder_or_under_a_file_are_refused_before_any_work(
    option, trace_file, tmp_path
):
    name = "a.csv" if option == "--agents-out" else "out.json"
    (tmp_path / name).mkdir()
    one_line_error(["fit", trace_file, option, tmp_path / name], match=f"{name}: is a folder")
    one_line_error(["fit", trace_file, option, trace_file / name], match="is a file, not a folder")


def test_simulate_out_at_a_folder_is_refused(tmp_path):
    (tmp_path / "s.npz").mkdir()
    one_line_error(["simulate", "--out", tmp_path / "s.npz"], match="s.npz: is a folder")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_folder_is_refused_before_any_work(trace_file, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    one_line_error(["fit", trace_file, "--out", locked / "f.json"], match="permission denied")


def test_fit_outputs_are_all_or_nothing(trace_file, tmp_path):
    """--agents-out at a folder used to fail after the fit, leaving fit.json behind."""
    (tmp_path / "agents.csv").mkdir()
    args = ["fit", trace_file, "--out", tmp_path / "fit.json", "--agents-out"]
    one_line_error([*args, tmp_path / "agents.csv"], match="agents.csv: is a folder")
    assert not (tmp_path / "fit.json").exists()
    with pytest.raises(OSError), all_or_nothing() as wrote:  # a failure past the checks
        wrote(atomic_write(tmp_path / "fit.json", lambda tmp: Path(tmp).write_text("{}")))
        wrote(atomic_write(tmp_path / "agents.csv", lambda tmp: None))
    assert not (tmp_path / "fit.json").exists()


@pytest.mark.parametrize(
    "args, match",
    [
        (["N=50", "~N"], "deleting (~key) config keys is not supported"),
        (["+foo=1"], "adding (+key) or deleting"),
        (["--seed", "99999999999999999999"], "--seed=99999999999999999999 is not allowed"),
        (["--seed", "-1"], "must be an integer in [0, 2**63)"),
        (["simulator.eps=abc"], "simulator.eps=abc is not allowed"),
    ],
)
def test_bad_overrides_and_seeds_are_one_line(args, match, tmp_path):
    one_line_error(["simulate", *args, "--out", tmp_path / "s.npz"], match=match)
    assert not (tmp_path / "s.npz").exists()


def test_method_option_and_override_must_agree(trace_file):
    one_line_error(
        ["fit", trace_file, "--method", "svi-normal", "method=nuts"],
        match="--method svi-normal and method=nuts disagree",
    )


def test_unknown_key_hint_lists_the_chosen_methods_keys(trace_file):
    line = one_line_error(
        ["fit", trace_file, "--method", "nuts", "method.steps=10"],
        match="unknown config key 'method.steps'",
    )
    assert "method.warmup" in line and "method.lr" not in line


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A real svi-normal fit record of a 20-agent trace, and the trace."""
    from vi_od.models.bcm_roles.simulate import SimulatorSettings, simulate_trace

    folder = tmp_path_factory.mktemp("fit")
    trace = simulate_trace(SimulatorSettings(N=20, T=60, leader_proportion=0.1), seed=1)
    path = trace_io.save(trace, folder / "t.npz")
    out = folder / "fit.json"
    args = ["fit", path, "--method", "svi-normal", "method.steps=200", "--out", out]
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return path, json.loads(out.read_text())


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda r: r["draws"].update(params=[["a", 0.1, 0.6, 0.7]] * 3), "'draws' must hold"),
        (lambda r: r.update(p_leader=["x"] * len(r["p_leader"])), "'p_leader' must hold"),
        (lambda r: r["draws"]["params"][0].__setitem__(0, float("nan")), "NaN or infinite"),
        (lambda r: r["draws"]["params"][0].__setitem__(0, 7.0), "hold 7, outside [0, 1]"),
        (lambda r: r["p_leader"].__setitem__(0, 2), "'p_leader' holds 2, outside"),
        (lambda r: r["mean"].update(eps_plus_F="0.3"), "eps_plus_F='0.3' is not a finite number"),
        (lambda r: r.update(agent_ids=[f"x{i}" for i in r["agent_ids"]]), "not the data's"),
    ],
)
def test_check_refuses_a_bad_or_foreign_fit_record(fitted, tmp_path, edit, match):
    trace, record = fitted
    record = json.loads(json.dumps(record))
    edit(record)
    path = tmp_path / "fit.json"
    path.write_text(json.dumps(record))
    one_line_error(["check", trace, path, "--out", tmp_path / "c.json"], match=match)
    assert not (tmp_path / "c.json").exists()
