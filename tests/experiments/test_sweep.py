"""Sweeps: grid expansion, job ids and seeds, real jobs with timeouts, errors, resume, dask."""

import dataclasses
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vi_od.cli import app
from vi_od.errors import ViOdError
from vi_od.experiments import results, sweep

runner = CliRunner()

# Tiny real jobs: 4 reps of a 20-agent model (one shape: one compile), ABC with few simulations.
TINY = ["N=20", "T=32", "leader_proportion=0.1", "rep=range(4)", "method=abc"]
TINY += ["method.simulations=200", "method.min_accepted=20"]
# NUTS that would take hours: only a timeout stops it.
ENDLESS = ["method=nuts", "method.warmup=10000000", "method.samples=4", "method.num_samples=4"]



# ----------------------------------------------------------------------------- expansion


def test_paper_dry_run_counts(tmp_path):
    # An empty results folder: the default results/paper may hold a real run's rows.
    args = ["sweep", "-m", "sweep=paper", "--dry-run", "--results", str(tmp_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "76 cells (4 skipped: round(N * leader_proportion) < 1)" in text
    assert "912 experiments, 3648 jobs" in text
    assert "first 12 of 3648 jobs" in text


def test_paper_grid_has_every_method_on_every_experiment():
    plan = sweep.expand(["sweep=paper"])
    assert (plan.cells, plan.experiments, len(plan.jobs)) == (76, 912, 3648)
    methods = {}
    for job in plan.jobs:
        methods.setdefault(job.exp_id, set()).add(job.method)
    assert set(map(frozenset, methods.values())) == {
        frozenset({"svi-normal", "svi-nf", "nuts", "abc"})
    }
    assert min(round(j.simulator["N"] * j.simulator["leader_proportion"]) for j in plan.jobs) == 1


def test_command_line_axes_replace_the_sweep_files():
    plan = sweep.expand(
        ["sweep=smoke", "method=svi-normal,abc", "N=30,60", "T=64,128", "rep=range(2)"]
    )
    assert (plan.cells, plan.experiments, len(plan.jobs)) == (4, 8, 16)
    steps = {j.settings.get("steps") for j in plan.jobs if j.method == "svi-normal"}
    assert steps == {300}  # conf/sweep/smoke.yaml's short budget
    plan = sweep.expand(["sweep=smoke", "method=svi-normal", "method.steps=50,70"])
    assert sorted({j.settings["steps"] for j in plan.jobs}) == [50, 70]  # the command line wins


def test_lists_ranges_globs_and_skipped_cells():
    plan = sweep.expand(["N=50,100", "leader_proportion=0.01,0.1", "rep=range(1,4)", "T=64"])
    assert plan.skipped_cells == 1  # N=50, p=0.01 has round(0.5) = 0 leaders
    assert (plan.cells, plan.experiments) == (3, 9)
    assert sorted({j.rep for j in plan.jobs}) == [1, 2, 3]
    plan = sweep.expand(["method=glob(svi-n*)", "N=30", "T=64", "rep=0"])
    assert sorted(j.method for j in plan.jobs) == ["svi-nf", "svi-normal"]


def test_job_ids_are_stable_and_name_the_resolved_config():
    svi = ["method=svi-normal", "N=30", "T=64"]
    a = sweep.expand([*svi, "leader_proportion=0.1", "method.steps=40"], multirun=False)
    b = sweep.expand(["method.steps=40", "leader_proportion=0.10", *svi[::-1]], multirun=False)
    assert [j.job_id for j in a.jobs] == [j.job_id for j in b.jobs]
    c = sweep.expand([*svi, "leader_proportion=0.1", "method.steps=41"], multirun=False)
    assert c.jobs[0].job_id != a.jobs[0].job_id
    assert c.jobs[0].exp_id == a.jobs[0].exp_id  # same experiment, same trace


def _grid_digest(plan) -> str:
    ids = sorted(job.job_id + job.exp_id for job in plan.jobs)
    return hashlib.sha256("".join(ids).encode()).hexdigest()[:16]


def test_job_ids_of_existing_grids_never_change():
    """Pinned before SBC added identity fields (docs/checks.md): a paper-grid run in progress is
    keyed by these ids and must resume across versions."""
    paper = sweep.expand(["sweep=paper"])
    assert (paper.jobs[0].job_id, paper.jobs[0].exp_id) == ("34e34cfc22127ce4", "3b6741ded7b2ac18")
    assert _grid_digest(paper) == "cec9e3a9f47bb2b6"  # all 3648 job and experiment ids
    marginal = sweep.expand(["sweep=paper", "method=nuts-marginal,svi-marginal"])
    assert _grid_digest(marginal) == "44e612f8cfc7dce5"
    assert _grid_digest(sweep.expand(["sweep=smoke"])) == "afc5b9fa6ac9a4d8"
    assert all(job.truth is None for job in paper.jobs)


def test_sbc_jobs_draw_their_truth_from_each_methods_prior():
    grid = ["N=30", "T=64", "rep=range(2)", "method=nuts-marginal,svi-marginal,svi-normal"]
    plan = sweep.expand(["sweep=sbc", *grid])
    assert (plan.experiments, len(plan.jobs)) == (4, 6)  # two priors per rep
    by = {(j.method, j.rep): j for j in plan.jobs}
    assert by["nuts-marginal", 0].truth["roles"] == "label-symmetric-beta"
    assert by["svi-normal", 0].truth["roles"] == "bernoulli-sigmoid-normal"
    assert by["nuts-marginal", 0].exp_id == by["svi-marginal", 0].exp_id  # one prior, one trace
    assert by["svi-normal", 0].exp_id != by["svi-marginal", 0].exp_id
    # the same method and simulator settings outside SBC are another job and experiment
    grid_job = sweep.expand(["sweep=paper", *grid]).jobs[0]
    sbc_job = by[grid_job.method, grid_job.rep]
    assert grid_job.truth is None and grid_job.settings == sbc_job.settings
    assert (grid_job.job_id, grid_job.exp_id) != (sbc_job.job_id, sbc_job.exp_id)
    with pytest.raises(ViOdError, match="sweep.truth=foo is not allowed: must be grid or prior"):
        sweep.expand(["sweep=sbc", "sweep.truth=foo", *grid])


def test_sbc_rows_carry_intervals_ranks_and_the_drawn_leaders(tmp_path):
    """A real SBC job with --jobs 1 (joblib then runs it in the sweep's own process)."""
    plan = sweep.expand(["sweep=sbc", "N=20", "T=32", "rep=0", "method=svi-marginal",
                         "method.steps=50", "method.num_samples=40"])  # fmt: skip
    assert sweep.run(plan, tmp_path, jobs=1, timeout_s=300) == {"ok": 1}
    row = results.load(tmp_path).iloc[0]
    with np.load(tmp_path / "traces" / f"{plan.jobs[0].exp_id}.npz") as trace:  # closed: no
        roles, eps = trace["roles"], trace["eps"]  # ResourceWarning in a later test
    assert row.truth == "prior" and row.n_leaders == roles.sum()
    assert row.n_draws == 40 and '"truth"' in row.settings
    for name in ("eps_plus_F", "eps_plus_L", "eps_minus_F", "eps_minus_L"):
        assert row[f"q05_{name}"] <= row[f"q25_{name}"] <= row[f"q75_{name}"] <= row[f"q95_{name}"]
        assert 0 <= row[f"rank_{name}"] <= 40
    assert row.eps_plus_F == pytest.approx(float(eps[0]))


def test_seeds_come_from_the_experiment_not_the_order():
    plan = sweep.expand(["N=30", "T=64,128", "rep=range(3)", "method=svi-normal,svi-nf"])
    reversed_plan = sweep.expand(["N=30", "T=128,64", "rep=2,1,0", "method=svi-nf,svi-normal"])
    seeds = {j.job_id: (j.seed, j.fit_seed) for j in plan.jobs}
    assert seeds == {j.job_id: (j.seed, j.fit_seed) for j in reversed_plan.jobs}
    per_experiment = {}
    for job in plan.jobs:
        per_experiment.setdefault(job.exp_id, set()).add(job.seed)
    assert all(len(s) == 1 for s in per_experiment.values())  # every method, one trace
    assert len({j.seed for j in plan.jobs}) == 6 and all(j.seed != j.fit_seed for j in plan.jobs)
    other = sweep.expand(["N=30", "T=64,128", "rep=range(3)", "method=svi-normal", "seed=1"])
    assert not {j.seed for j in other.jobs} & {j.seed for j in plan.jobs}


def test_without_multirun_a_sweep_value_is_an_error():
    with pytest.raises(ViOdError, match=r"N=30,60 is a sweep: add -m"):
        sweep.expand(["N=30,60"], multirun=False)
    assert len(sweep.expand(["sweep=paper"], multirun=False).jobs) == 1


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["Nx=3,4"], "unknown config key 'Nx'"),
        (["method.stepz=3"], "unknown config key 'method.stepz'"),
        (["method=nope,svi-nf"], "unknown method 'nope'"),
        (["N=interval(1,2)"], "only lists, range() and glob() can be expanded"),
        (["sweep=paper,smoke"], "one sweep file at a time"),
        (["method.steps=-3"], "method.steps=-3 is not allowed"),
        (["rep=-1"], "rep=-1 is not allowed: must be an integer >= 0"),
    ],
)
def test_bad_grids_say_what_is_wrong(overrides, message):
    with pytest.raises(ViOdError) as err:
        sweep.expand(overrides)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "text,seconds", [("90s", 90), ("20m", 1200), ("3h", 10800), ("1.5h", 5400)]
)
def test_durations(text, seconds):
    assert sweep.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["3", "3d", "-1h", "0s", "h", ""])
def test_bad_timeout_is_one_line_exit_2(text):
    result = runner.invoke(app, ["sweep", "-m", "--dry-run", f"--timeout={text}"])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith(f"error: --timeout={text} is not allowed")
    assert len(result.stderr.strip().splitlines()) == 1


def test_dask_without_scheduler_is_one_line_exit_2(tmp_path):
    result = runner.invoke(
        app, ["sweep", "N=20", "T=32", "--backend", "dask", "--results", str(tmp_path)]
    )
    assert result.exit_code == 2 and "--scheduler" in result.stderr


# ----------------------------------------------------------------------------- execution


def _rows(folder) -> dict:
    """job_id -> (status, estimates) of a results folder."""
    df = results.load(folder)
    est = [f"est_{n}" for n in ("eps_plus_F", "eps_plus_L", "eps_minus_F", "eps_minus_L")]
    return {r.job_id: (r.status, tuple(getattr(r, c) for c in est)) for r in df.itertuples()}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The tiny grid run once with loky, 2 jobs at a time."""
    folder = tmp_path_factory.mktemp("tiny")
    plan = sweep.expand(TINY)
    counts = sweep.run(plan, folder, jobs=2, timeout_s=300)
    return plan, folder, counts


def test_every_job_writes_one_row_with_truth_and_estimates(tiny_run):
    plan, folder, counts = tiny_run
    assert counts == {"ok": 4}
    df = results.load(folder).set_index("job_id")
    assert sorted(df.index) == sorted(j.job_id for j in plan.jobs)
    job = plan.jobs[0]
    got = df.loc[job.job_id, ["method", "N", "T", "rep", "seed", "n_leaders", "n_simulations"]]
    assert got.tolist() == ["abc", 20, 32, job.rep, job.seed, 2, 200]
    assert df["rmse_eps"].between(0, 0.5).all() and df["eps_plus_F"].notna().all()
    assert (df["pos_interactions_L"] + df["pos_interactions_F"] > 0).all()
    # one trace per experiment, shared by its jobs, simulated from the job's seed
    assert len(list((folder / "traces").glob("*.npz"))) == plan.experiments


def test_rerun_skips_finished_jobs(tiny_run):
    plan, folder, _ = tiny_run
    before = {p.name: p.stat().st_mtime_ns for p in (folder / "runs").iterdir()}
    assert sweep.run(plan, folder, jobs=2) == {}
    assert {p.name: p.stat().st_mtime_ns for p in (folder / "runs").iterdir()} == before


def test_one_job_at_a_time_runs_in_the_sweep_process_and_gives_the_same_row(tiny_run, tmp_path):
    # --jobs 1: joblib runs the task in this process, whose parent is no sweep to watch
    plan, folder, _ = tiny_run
    one = dataclasses.replace(plan, jobs=plan.jobs[:1])
    assert sweep.run(one, tmp_path, jobs=1, timeout_s=300) == {"ok": 1}
    job_id = one.jobs[0].job_id
    assert _rows(tmp_path)[job_id] == _rows(folder)[job_id]


def test_timeout_and_error_rows_while_others_complete(tmp_path):
    """One job runs past the limit (timeout), one cannot write its trace (error), one is ok."""
    quick, broken = sweep.expand(["N=20", "T=32", "rep=range(2)", *TINY[-3:]]).jobs
    endless = sweep.expand(["N=20", "T=32", "rep=0", *ENDLESS]).jobs[0]
    (tmp_path / "traces" / f"{broken.exp_id}.npz").mkdir(parents=True)  # a corrupt file is remade
    plan = sweep.Plan("t", (quick, broken, endless), 0)
    counts = sweep.run(plan, tmp_path, jobs=3, timeout_s=20)
    assert counts == {"ok": 1, "error": 1, "timeout": 1}
    df = results.load(tmp_path).set_index("job_id")
    assert df.loc[quick.job_id, "status"] == "ok"
    err = df.loc[broken.job_id]
    assert err.status == "error" and "Is a directory" in err.error
    assert np.isnan(err.rmse_eps) and np.isnan(err.eps_plus_F)  # no trace, no truth
    late = df.loc[endless.job_id]
    assert late.status == "timeout" and "time limit of 20 s" in late.error
    assert late.wall_time_s >= 20 and np.isnan(late.est_eps_plus_F)
    assert late.eps_plus_F == df.loc[quick.job_id, "eps_plus_F"]  # same experiment, same trace
    # --retry-failed picks exactly the failed ones again
    again, done = sweep.pending(plan, tmp_path, retry_failed=True)
    assert {j.job_id for j in again} == {broken.job_id, endless.job_id} and done == 1


def _processes_mentioning(text: str) -> list[int]:
    """Pids of live processes whose command line contains text."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmdline and int(entry.name) != os.getpid():
                pids.append(int(entry.name))
    return pids


def _children(pid: int) -> list[int]:
    """Pids of the live children of pid."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


@pytest.mark.slow
def test_kill_9_then_resume_loses_nothing_and_reruns_nothing(tmp_path):
    folder = tmp_path / "res"
    grid = ["N=20", "T=32,48,64", "rep=range(2)", *TINY[-3:]]
    command = [str(Path(sys.executable).parent / "vi-od"), "sweep", "-m", *grid, "--jobs", "2"]
    command += ["--results", str(folder)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = folder / "runs"
    deadline = time.monotonic() + 240
    while not (runs.is_dir() and any(runs.glob("*.parquet"))) and time.monotonic() < deadline:
        time.sleep(0.2)
    children = _children(proc.pid)  # loky's workers
    assert children
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(3)
    assert _processes_mentioning(str(folder)) == []  # no orphan job survives the sweep
    assert [pid for pid in children if Path(f"/proc/{pid}").exists()] == []
    before = {p.name: p.stat().st_mtime_ns for p in runs.glob("*.parquet")}
    assert 1 <= len(before) < 6
    plan = sweep.expand(grid)
    counts = sweep.run(plan, folder, jobs=2)
    assert sum(counts.values()) == 6 - len(before)
    after = {p.name: p.stat().st_mtime_ns for p in runs.glob("*.parquet")}
    assert {k: after[k] for k in before} == before  # finished jobs were not run again
    df = results.load(folder)
    assert sorted(df["job_id"]) == sorted(j.job_id for j in plan.jobs)
    assert (df["status"] == "ok").all()


def test_dask_backend_gives_the_same_rows(tiny_run, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    plan, loky_folder, _ = tiny_run
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        counts = sweep.run(plan, tmp_path, backend="dask", scheduler=cluster.scheduler_address)
    assert counts == {"ok": 4}
    assert _rows(tmp_path) == _rows(loky_folder)
