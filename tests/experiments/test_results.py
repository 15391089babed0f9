"""Sweep results: one atomic Parquet file per job, one fixed schema, one DataFrame back."""

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vi_od.errors import ViOdError
from vi_od.experiments import results

COLUMNS_OF_THE_BRIEF = """job_id sweep method rep seed N T E leader_proportion n_leaders
eps_plus_F eps_plus_L eps_minus_F eps_minus_L est_eps_plus_F est_eps_plus_L est_eps_minus_F
est_eps_minus_L std_eps_plus_F std_eps_plus_L std_eps_minus_F std_eps_minus_L rmse_eps
role_error_rate perfect_roles leaders_recall brier ece est_leader_proportion wall_time_s status
error settings n_steps n_samples n_simulations pos_interactions_L neg_interactions_L
pos_interactions_F neg_interactions_F var_X_final abs_diff_eps_plus abs_diff_eps_minus
versions""".split()
# issue 13: intervals for coverage, SBC ranks and where the truth came from
NEW_IN_ISSUE_13 = [
    f"{kind}_{name}"
    for kind in ("q05", "q25", "q75", "q95", "rank")
    for name in ("eps_plus_F", "eps_plus_L", "eps_minus_F", "eps_minus_L")
] + ["n_draws", "truth"]


def row(job_id, status="ok", **extra):
    base = {"job_id": job_id, "sweep": "t", "method": "svi-normal", "rep": 0, "N": 30, "T": 64}
    return base | {"status": status} | extra


def test_schema_has_exactly_the_agreed_columns():
    assert list(results.COLUMNS) == COLUMNS_OF_THE_BRIEF + NEW_IN_ISSUE_13


def test_rows_written_before_the_new_columns_load_with_new_ones(tmp_path):
    """A results folder of an earlier version (e.g. a paper grid half done) keeps loading."""
    old_schema = pa.schema([results.SCHEMA.field(name) for name in COLUMNS_OF_THE_BRIEF])
    old = {name: None for name in COLUMNS_OF_THE_BRIEF} | row("old", rmse_eps=0.1)
    pq.write_table(pa.Table.from_pylist([old], schema=old_schema), tmp_path / "old.parquet")
    results.write_row(tmp_path, row("new", rmse_eps=0.2, q05_eps_plus_F=0.1, rank_eps_plus_F=7))
    table = results.load_table(tmp_path)
    assert table.schema.equals(results.SCHEMA, False)
    df = results.load(tmp_path).set_index("job_id")
    assert df.loc["old", "rmse_eps"] == pytest.approx(0.1) and df.loc["new", "rank_eps_plus_F"] == 7
    assert df.loc["old", NEW_IN_ISSUE_13].isna().all()
    assert df.loc["new", "q05_eps_plus_F"] == pytest.approx(0.1)


def test_all_null_columns_keep_their_types(tmp_path):
    """A failed job (estimates all null) and an ok one read back as one typed table."""
    results.write_row(tmp_path, row("a", "error", error="boom"))
    results.write_row(tmp_path, row("b", rmse_eps=0.05, perfect_roles=True, n_steps=300))
    for name in ("a", "b"):
        assert pq.read_schema(tmp_path / f"{name}.parquet").equals(results.SCHEMA, False)
    table = results.load_table(tmp_path)
    assert table.schema.equals(results.SCHEMA, False)
    df = results.load(tmp_path).set_index("job_id")
    assert df.loc["a", "status"] == "error" and df.loc["a", "error"] == "boom"
    assert df.loc["b", "rmse_eps"] == pytest.approx(0.05) and df.loc["b", "n_steps"] == 300
    assert df["rmse_eps"].isna().tolist() == [True, False]


def test_a_folder_of_only_failures_still_loads_with_every_column(tmp_path):
    results.write_row(tmp_path / "runs", row("a", "timeout"))
    df = results.load(tmp_path)
    assert list(df.columns) == COLUMNS_OF_THE_BRIEF + NEW_IN_ISSUE_13 and len(df) == 1


def test_empty_or_missing_folder_is_an_empty_frame(tmp_path):
    assert results.load(tmp_path).empty
    df = results.load(tmp_path / "not-yet")
    assert df.empty and list(df.columns) == COLUMNS_OF_THE_BRIEF + NEW_IN_ISSUE_13


def test_rewrite_replaces_and_temp_files_are_ignored(tmp_path):
    results.write_row(tmp_path, row("a", "timeout"))
    results.write_row(tmp_path, row("a", "ok", rmse_eps=0.1))
    (tmp_path / ".a.123.tmp").write_bytes(b"half a file from a killed writer")
    assert sorted(os.listdir(tmp_path)) == [".a.123.tmp", "a.parquet"]
    df = results.load(tmp_path)
    assert df["status"].tolist() == ["ok"]
    assert results.statuses(results.finished(tmp_path)) == {"a": "ok"}


def test_bad_rows_are_refused(tmp_path):
    with pytest.raises(ViOdError, match="unknown result column"):
        results.write_row(tmp_path, row("a", rmse=1.0))
    with pytest.raises(ViOdError, match="status=done is not allowed"):
        results.write_row(tmp_path, row("a", "done"))
    assert list(tmp_path.iterdir()) == []
