"""Sweep results: one atomic Parquet file per job, one fixed schema, one DataFrame back."""

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vi_od.errors import ViOdError
from vi_od.experiments import results
from vi_od.experiments.worker import make_row

EPS = ("eps_plus_F", "eps_plus_L", "eps_minus_F", "eps_minus_L")
# The fixed columns: every model's rows have them (the paper model's metrics null elsewhere)
FIXED = """job_id sweep model method rep seed N T E leader_proportion n_leaders rmse_eps
role_error_rate perfect_roles leaders_recall brier ece est_leader_proportion wall_time_s status
error settings n_steps n_samples n_simulations pos_interactions_L neg_interactions_L
pos_interactions_F neg_interactions_F var_X_final abs_diff_eps_plus abs_diff_eps_minus
versions n_draws truth converged""".split()
# the paper model's own columns, named by its parameters (typed by results.column_type)
PER_PARAMETER = [f"{kind}{name}" for kind in ("", "est_", "std_", "q05_", "q25_", "q75_",
                                              "q95_", "rank_") for name in EPS]  # fmt: skip
COLUMNS_OF_THE_BRIEF = FIXED[:2] + FIXED[3:11] + PER_PARAMETER[:12] + FIXED[11:-3]  # before 13
NEW_IN_ISSUE_13 = PER_PARAMETER[12:] + ["n_draws", "truth"]
NEW_IN_ISSUE_26 = ["converged"]  # at the end: rows written before read it as null
OLD = COLUMNS_OF_THE_BRIEF


def row(job_id, status="ok", **extra):
    base = {"job_id": job_id, "sweep": "t", "method": "svi-normal", "rep": 0, "N": 30, "T": 64}
    return base | {"status": status} | extra


def test_schema_has_exactly_the_agreed_columns():
    assert list(results.COLUMNS) == FIXED


def _type(name: str) -> pa.DataType:
    return results.SCHEMA.field(name).type if name in results.COLUMNS else results.column_type(
        name, None)  # fmt: skip


def test_rows_written_before_the_new_columns_load_with_new_ones(tmp_path):
    """A results folder of an earlier version (e.g. a paper grid half done, before docs/checks.md
    and before models were plug-ins) keeps loading beside rows of this one."""
    old_schema = pa.schema([(name, _type(name)) for name in OLD])
    old = {name: None for name in OLD} | row("old", rmse_eps=0.1)
    pq.write_table(pa.Table.from_pylist([old], schema=old_schema), tmp_path / "old.parquet")
    results.write_row(tmp_path, row("new", rmse_eps=0.2, q05_eps_plus_F=0.1, rank_eps_plus_F=7))
    table = results.load_table(tmp_path)
    assert set(table.schema.names) == set(FIXED) | set(PER_PARAMETER[:12]) | {
        "q05_eps_plus_F", "rank_eps_plus_F"}  # fmt: skip
    assert table.schema.field("rank_eps_plus_F").type == pa.int64()
    df = results.load(tmp_path).set_index("job_id")
    assert df.loc["old", "rmse_eps"] == pytest.approx(0.1) and df.loc["new", "rank_eps_plus_F"] == 7
    assert df.loc["old", ["q05_eps_plus_F", "model", "n_draws", "converged"]].isna().all()
    assert df.loc["new", "q05_eps_plus_F"] == pytest.approx(0.1)


def test_all_null_columns_keep_their_types(tmp_path):
    """A failed job (estimates all null) and an ok one read back as one typed table."""
    results.write_row(tmp_path, row("a", "error", error="boom"))
    results.write_row(tmp_path, row("b", rmse_eps=0.05, perfect_roles=True, n_steps=300))
    for name in ("a", "b"):
        assert pq.read_schema(tmp_path / f"{name}.parquet").equals(results.SCHEMA, False)
    table = results.load_table(tmp_path)
    assert table.schema.equals(results.SCHEMA, False)  # the fixed columns keep their types
    df = results.load(tmp_path).set_index("job_id")
    assert df.loc["a", "status"] == "error" and df.loc["a", "error"] == "boom"
    assert df.loc["b", "rmse_eps"] == pytest.approx(0.05) and df.loc["b", "n_steps"] == 300
    assert df["rmse_eps"].isna().tolist() == [True, False]


def test_a_folder_of_only_failures_still_loads_with_every_column(tmp_path):
    """The worker writes a failed job's row with every parameter column of its model, null."""
    job = {"job_id": "a", "sweep": "t", "method": "svi-normal", "model": "bcm-roles", "rep": 0,
           "seed": 1, "settings": {}, "sweep_seed": 0, "fit_seed": 2,
           "simulator": {"N": 30, "T": 64, "edges_per_step": 10, "leader_proportion": 0.1}}
    results.write_row(tmp_path / "runs", make_row(job, None, None, "timeout", "late", 1.0))
    df = results.load(tmp_path)
    assert set(df.columns) == set(FIXED) | set(PER_PARAMETER) and len(df) == 1
    assert df["est_eps_plus_F"].isna().all() and df["status"].tolist() == ["timeout"]


def test_empty_or_missing_folder_is_an_empty_frame(tmp_path):
    assert results.load(tmp_path).empty
    df = results.load(tmp_path / "not-yet")
    assert df.empty and list(df.columns) == FIXED


def test_rewrite_replaces_and_temp_files_are_ignored(tmp_path):
    results.write_row(tmp_path, row("a", "timeout"))
    results.write_row(tmp_path, row("a", "ok", rmse_eps=0.1))
    (tmp_path / ".a.123.tmp").write_bytes(b"half a file from a killed writer")
    assert sorted(os.listdir(tmp_path)) == [".a.123.tmp", "a.parquet"]
    df = results.load(tmp_path)
    assert df["status"].tolist() == ["ok"]
    assert results.statuses(results.finished(tmp_path)) == {"a": "ok"}


def test_bad_rows_are_refused(tmp_path):
    with pytest.raises(ViOdError, match="status=done is not allowed"):
        results.write_row(tmp_path, row("a", "done"))
    assert list(tmp_path.iterdir()) == []


def folder_of(tmp_path, name, rows):
    for r in rows:
        results.write_row(tmp_path / name / "runs", r)
    return tmp_path / name


def test_pack_then_unpack_gives_back_every_row_and_type(tmp_path):
    """ok and failed rows (all-null estimates) survive a pack and an unpack unchanged."""
    rows = [row("b", rmse_eps=0.05, perfect_roles=True, n_steps=300, settings='{"a": 1}'),
            row("a", "error", error="boom"), row("c", "timeout", method="nuts")]  # fmt: skip
    source = folder_of(tmp_path, "source", rows)
    packed = tmp_path / "table" / "grid.parquet"
    assert results.pack(source, packed) == 3
    meta = pq.ParquetFile(packed).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    assert pq.read_schema(packed).equals(results.SCHEMA, False)
    assert results.read_packed(packed)["job_id"].to_pylist() == ["a", "b", "c"]  # sorted
    assert results.unpack(packed, tmp_path / "copy") == 3
    assert sorted(p.name for p in (tmp_path / "copy" / "runs").iterdir()) == [
        "a.parquet", "b.parquet", "c.parquet"]  # fmt: skip
    back = results.load_table(tmp_path / "copy").sort_by("job_id")
    assert back.equals(results.load_table(source).sort_by("job_id"))
    assert results.load(packed).equals(back.to_pandas())


def test_unpack_keeps_rows_already_on_disk_and_writes_only_missing_jobs(tmp_path):
    packed = tmp_path / "grid.parquet"
    results.pack(folder_of(tmp_path, "old", [row("a", "timeout"), row("b")]), packed)
    folder = folder_of(tmp_path, "live", [row("a", rmse_eps=0.1)])  # a newer rerun of "a"
    assert results.unpack(packed, folder) == 1
    df = results.load(folder).set_index("job_id")
    assert df.loc["a", "status"] == "ok" and df.loc["b", "status"] == "ok"
    assert results.unpack(packed, folder) == 0  # a second seed writes nothing


def test_a_packed_table_without_a_newer_column_reads_it_as_null(tmp_path):
    """Tables packed before a column was added still load and unpack under the schema."""
    old = results.to_table(row("a", rmse_eps=0.2)).drop_columns(["brier", "ece"])
    pq.write_table(old, tmp_path / "old.parquet")
    table = results.read_packed(tmp_path / "old.parquet")
    assert table.schema.equals(results.SCHEMA, False)
    assert table["brier"].to_pylist() == [None] and table["rmse_eps"].to_pylist() == [0.2]
    assert results.unpack(tmp_path / "old.parquet", tmp_path / "res") == 1


def test_read_packed_refuses_what_is_not_a_table_of_sweep_rows(tmp_path):
    with pytest.raises(ViOdError, match="does not exist"):
        results.read_packed(tmp_path / "missing.parquet")
    (tmp_path / "notes.parquet").write_text("not parquet")
    with pytest.raises(ViOdError, match="is not a Parquet file"):
        results.read_packed(tmp_path / "notes.parquet")
    pq.write_table(pa.table({"x": [1]}), tmp_path / "other.parquet")
    with pytest.raises(ViOdError, match="no sweep results .no column job_id, method, status"):
        results.read_packed(tmp_path / "other.parquet")


def test_a_sweep_into_a_folder_seeded_from_a_packed_table_runs_none_of_its_jobs(tmp_path):
    """Resume across machines: a fresh folder seeded from the table skips every packed job."""
    from vi_od.experiments import sweep

    plan = sweep.expand(["sweep=smoke", "method=svi-normal,abc", "N=30", "T=64", "rep=range(2)"])
    done, rest = plan.jobs[:3], plan.jobs[3:]
    source = folder_of(tmp_path, "old", [row(job.job_id) for job in done])
    results.pack(source, tmp_path / "grid.parquet")
    fresh = tmp_path / "fresh"
    results.unpack(tmp_path / "grid.parquet", fresh)
    todo, n_done = sweep.pending(plan, fresh)
    assert n_done == 3 and [job.job_id for job in todo] == [job.job_id for job in rest]
    only_packed = sweep.Plan(plan.sweep, done, plan.skipped_cells)
    assert sweep.run(only_packed, fresh) == {}  # nothing started
