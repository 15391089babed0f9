"""A results folder survives what happens to folders: truncated rows, corrupt cached traces,
two sweeps started on it at once (docs/data-and-errors.md)."""

import numpy as np
import pytest
from typer.testing import CliRunner

from vi_od.cli import app
from vi_od.data import trace as trace_io
from vi_od.errors import ViOdError
from vi_od.experiments import results, sweep, worker

runner = CliRunner()
GRID = ["N=20", "T=32", "leader_proportion=0.1", "rep=range(2)", "method=abc"]


def row(job_id: str) -> dict:
    return {"job_id": job_id, "sweep": "t", "method": "abc", "rep": 0, "status": "ok"}


@pytest.fixture
def folder_with_a_truncated_row(tmp_path):
    """Rows for both jobs of GRID; the second file cut in half (a killed copy, a full disk)."""
    plan = sweep.expand(GRID)
    for job in plan.jobs:
        results.write_row(tmp_path / "runs", row(job.job_id))
    cut = tmp_path / "runs" / f"{plan.jobs[1].job_id}.parquet"
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    return plan, tmp_path, cut


@pytest.mark.parametrize("command", ["report", "figures"])
def test_a_truncated_row_is_one_line_naming_the_file(folder_with_a_truncated_row, command):
    _, folder, cut = folder_with_a_truncated_row
    result = runner.invoke(app, [command, str(folder)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{cut}: not a readable results row" in lines[0]


def test_resume_and_retry_failed_run_a_job_whose_row_cannot_be_read(folder_with_a_truncated_row):
    plan, folder, _ = folder_with_a_truncated_row
    for retry in (False, True):
        todo, done = sweep.pending(plan, folder, retry_failed=retry)
        assert [job.job_id for job in todo] == [plan.jobs[1].job_id] and done == 1


def test_a_corrupt_cached_trace_is_made_again(tmp_path):
    job = sweep.expand(GRID).jobs[0].__dict__
    path = worker.trace_path(tmp_path, job)
    path.parent.mkdir()
    path.write_bytes(b"PK\x03\x04 truncated")
    trace = worker._experiment_trace(job, str(tmp_path))
    again = trace_io.load(path)
    assert trace.N == again.N == 20 and np.array_equal(trace.X, again.X)


def test_a_second_sweep_on_a_folder_in_use_refuses_in_one_line(tmp_path):
    plan = sweep.expand(GRID)
    with results.lock(tmp_path):
        with pytest.raises(ViOdError, match="another vi-od sweep .* is running in this results"):
            sweep.run(plan, tmp_path, jobs=1)
        args = ["sweep", *GRID, "-m", "--results", str(tmp_path)]
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()  # neither started a job
    with results.lock(tmp_path):  # released when the holder ends
        pass
