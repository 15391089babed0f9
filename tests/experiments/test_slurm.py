"""The SLURM backend: its settings and job script here; its runs against a real SLURM.

The runs need a SLURM whose node is up (scripts/start_slurm.sh starts one on this machine as
root; .ci/run does). Without one they skip and say why.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vi_od.cli import app
from vi_od.errors import ViOdError
from vi_od.experiments import results, slurm, sweep

pytest.importorskip("dask_jobqueue")
runner = CliRunner()
VI_OD = str(Path(sys.executable).parent / "vi-od")
# 2 short real jobs: two methods on one small experiment (the smoke sweep's budgets).
GRID = ["sweep=smoke", "method=svi-normal,abc", "N=20", "T=32", "leader_proportion=0.1", "rep=0"]
# 12 shorter ones: ABC with few simulations on 12 reps of that cell (enough that a worker
# still runs when the first row lands, to be killed mid-grid).
ABC = [*GRID[:1], *GRID[2:-1], "method=abc", "method.simulations=200", "method.min_accepted=20"]
ABC += ["rep=range(12)"]
ENDLESS = ["method=nuts", "method.warmup=10000000", "method.samples=4", "method.num_samples=4"]


def _slurm_down() -> str | None:
    """Why the real-SLURM tests cannot run here, or None if a node is up."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "no SLURM here (sinfo/sbatch absent); scripts/start_slurm.sh starts one as root"
    try:
        sinfo = ["sinfo", "-h", "-o", "%t"]
        out = subprocess.run(sinfo, capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 20 s (is slurmctld running?)"
    states = out.stdout.split()
    if not {"idle", "mix", "alloc"} & set(states):
        why = out.stderr.strip().splitlines()[-1:] or states or ["no node"]
        return f"no SLURM node is up (sinfo: {why[0]}); scripts/start_slurm.sh starts one"
    return None


SLURM_DOWN = _slurm_down()
real_slurm = pytest.mark.skipif(SLURM_DOWN is not None, reason=SLURM_DOWN or "")


def _sweep(*args: str, env: dict | None = None, timeout: float = 300):
    """vi-od sweep in its own process, as a user runs it (the dask scheduler lives in it)."""
    return subprocess.run(
        [VI_OD, "sweep", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def _one_error_line(proc, text: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1
    assert text in proc.stderr, proc.stderr


def _rows(folder) -> dict:
    """job_id -> (status, estimates) of a results folder."""
    df = results.load(folder)
    est = [c for c in df.columns if c.startswith("est_")]
    return {r["job_id"]: (r["status"], tuple(r[c] for c in est)) for _, r in df.iterrows()}


def _vi_od_jobs() -> list[str]:
    """SLURM job ids of the running vi-od workers."""
    out = subprocess.run(
        ["squeue", "-h", "-n", slurm.JOB_NAME, "-t", "RUNNING", "-o", "%i"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.split()


# ----------------------------------------------------------------------------- settings


def test_dry_run_prints_the_job_script_from_the_config_group_and_the_options(tmp_path):
    args = ["sweep", "-m", *GRID, "backend=slurm", "backend.partition=from-config"]
    args += ["backend.account=lab", "backend.extra=['--qos=short']", "--dry-run"]
    args += ["--results", str(tmp_path), "--workers", "3", "--worker-walltime", "1-00:00:00"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    script = result.stdout[result.stdout.index("#!/usr/bin/env bash") :]
    assert "each of 3 SLURM workers" in result.stdout
    for line in ("-p from-config", "-A lab", "--mem=4G", "-t 1-00:00:00", "--qos=short"):
        assert f"#SBATCH {line}\n" in script
    assert f"-o {tmp_path.resolve()}/slurm/vi-od-%J.out" in script
    assert "--nthreads 1" in script and f"{sys.executable} -m distributed" in script
    result = runner.invoke(app, [*args, "--partition", "from-cli", "--slurm-extra", "--exclusive"])
    assert "#SBATCH -p from-cli\n" in result.stdout and "-p from-config" not in result.stdout
    assert "#SBATCH --exclusive\n" in result.stdout and "--qos" not in result.stdout


def test_a_labs_own_config_file_outside_the_package(tmp_path):
    (tmp_path / "backend").mkdir()
    (tmp_path / "backend" / "mylab.yaml").write_text("name: slurm\npartition: lab\nworkers: 7\n")
    args = ["sweep", "-m", *GRID, f"hydra.searchpath=[file://{tmp_path}]", "backend=mylab"]
    result = runner.invoke(app, [*args, "--dry-run", "--results", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "each of 7 SLURM workers" in result.stdout and "#SBATCH -p lab\n" in result.stdout
    assert "#SBATCH -t 04:00:00\n" in result.stdout  # what the file leaves out: the defaults


def test_backend_choice_alone_reads_its_config_file(tmp_path):
    where = slurm.resolve([], tmp_path, "slurm")
    assert where.slurm == slurm.SlurmSettings(log_directory=str(tmp_path.resolve() / "slurm"))
    assert slurm.resolve(["backend=dask", "backend.scheduler=tcp://h:1"], tmp_path).scheduler
    assert slurm.resolve([], tmp_path) == slurm.Backend("loky")


@pytest.mark.parametrize(
    "args,message",
    [
        (["--worker-walltime", "4h"], "--worker-walltime=4h is not allowed"),
        (["--worker-memory", "lots"], "--worker-memory=lots is not allowed"),
        (["--timeout", "3h", "--worker-walltime", "01:00:00"], "is longer than --worker-walltime"),
        (["backend.start_timeout=soon"], "backend.start_timeout=soon is not allowed"),
        (["backend.partiton=x"], "backend.partiton"),
        (["--jobs", "2"], "--jobs is not an option of --backend slurm"),
    ],
)
def test_bad_settings_are_one_line_exit_2(args, message, tmp_path):
    base = ["sweep", "-m", *GRID, "--backend", "slurm", "--dry-run", "--results", str(tmp_path)]
    result = runner.invoke(app, [*base, *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_slurm_options_need_the_slurm_backend(tmp_path):
    args = ["sweep", "-m", *GRID, "--partition", "x", "--dry-run", "--results", str(tmp_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "--partition is an option of --backend slurm" in result.stderr


def test_without_sbatch_the_sweep_says_so(tmp_path):
    env = dict(os.environ, PATH=str(Path(sys.executable).parent))  # vi-od, but no SLURM
    proc = _sweep("-m", *GRID, "--backend", "slurm", "--results", str(tmp_path), env=env)
    _one_error_line(proc, "--backend slurm needs SLURM's sbatch and sinfo on PATH")
    assert not (tmp_path / "runs").exists()


def test_walltime_and_durations():
    assert slurm.walltime_seconds("04:00:00") == 4 * 3600
    assert slurm.walltime_seconds("2-00:30:00") == 48 * 3600 + 1800
    assert slurm.duration_seconds("90s") == 90
    with pytest.raises(ViOdError):
        slurm.walltime_seconds("4:00")
    assert slurm.split_overrides(["backend=slurm", "backend.workers=2", "N=3", "method=abc"]) == (
        ["backend=slurm", "backend.workers=2"],
        ["N=3", "method=abc"],
    )


# ----------------------------------------------------------------------------- real SLURM


@real_slurm
def test_unknown_partition_is_one_line_exit_2(tmp_path):
    proc = _sweep(
        "-m", *GRID, "--backend", "slurm", "--partition", "nope", "--results", str(tmp_path)
    )
    _one_error_line(proc, "--partition=nope: no such SLURM partition (sinfo lists: ")


@real_slurm
def test_no_worker_within_the_start_timeout_is_one_line_exit_2(tmp_path):
    pending = ["--slurm-extra", "--begin=now+1hour", "backend.start_timeout=3s"]
    proc = _sweep("-m", *GRID, "--backend", "slurm", *pending, "--results", str(tmp_path))
    _one_error_line(proc, "no SLURM worker started within 3s")
    time.sleep(1)
    assert _vi_od_jobs() == []
    queued = subprocess.run(["squeue", "-h", "-n", slurm.JOB_NAME], capture_output=True, text=True)
    assert queued.stdout.strip() == ""  # the pending jobs were cancelled


@real_slurm
def test_a_grid_on_slurm_gives_the_rows_of_the_local_backend(tmp_path):
    start = time.monotonic()
    args = ["--backend", "slurm", "--workers", "2", "--timeout", "10m"]
    args += ["--worker-walltime", "00:30:00", "--results", str(tmp_path / "slurm")]
    proc = _sweep("-m", *GRID, *args)
    slurm_s = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    assert "ran 2 jobs" in proc.stdout and "ok 2" in proc.stdout
    plan = sweep.expand(GRID)
    assert sweep.run(plan, tmp_path / "loky", jobs=2, timeout_s=600) == {"ok": 2}
    assert _rows(tmp_path / "slurm") == _rows(tmp_path / "loky")
    assert len(list((tmp_path / "slurm" / "slurm").glob("vi-od-*.err"))) >= 1  # workers' logs
    print(f"2 jobs on SLURM in {slurm_s:.0f} s")


@real_slurm
def test_a_worker_killed_mid_grid_loses_no_row_and_its_jobs_end_ok(tmp_path):
    folder = tmp_path / "res"
    args = ["-m", *ABC, "--backend", "slurm", "--workers", "2", "--timeout", "10m"]
    args += ["--worker-walltime", "00:30:00", "--results", str(folder)]
    proc = subprocess.Popen([VI_OD, "sweep", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:  # a failed assertion must not leave the sweep's pipes to the garbage collector
        runs, deadline = folder / "runs", time.monotonic() + 240
        while not (runs.is_dir() and any(runs.glob("*.parquet"))) and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = _vi_od_jobs()  # as soon as the first row lands, while the grid still runs
        before = {p.name: p.stat().st_mtime_ns for p in runs.glob("*.parquet")}
        assert before and workers, (before, workers, proc.poll())
        subprocess.run(["scancel", "--signal=KILL", workers[0]], check=True)
        _, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    after = {p.name: p.stat().st_mtime_ns for p in runs.glob("*.parquet")}
    assert {k: after[k] for k in before} == before  # finished rows are kept, not run again
    rerun = _sweep(*args)  # a no-op if dask already reran the lost worker's jobs
    assert rerun.returncode == 0, rerun.stderr
    df = results.load(folder)
    assert sorted(df["job_id"]) == sorted(j.job_id for j in sweep.expand(ABC).jobs)
    assert (df["status"] == "ok").all(), df[["status", "error"]]
    assert proc.returncode == 0, stderr  # dask reran the lost worker's job on the other one
    assert _processes_mentioning(str(folder)) == []  # nothing of the killed worker lives on


def _processes_mentioning(text: str) -> list[int]:
    """Pids whose command line contains text (a job's carries its results folder)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text in cmdline.read_bytes().decode(errors="replace"):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


@real_slurm
def test_a_job_over_its_timeout_is_recorded_as_timeout(tmp_path):
    grid = ["N=20", "T=32", "rep=0", *ENDLESS]
    proc = _sweep(*grid, "--backend", "slurm", "--workers", "1", "--timeout", "4s",
                  "--results", str(tmp_path))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    row = results.load(tmp_path).iloc[0]
    assert row.status == "timeout" and "time limit of 4 s" in row.error
