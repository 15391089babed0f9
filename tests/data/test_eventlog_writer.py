"""The streamed event-log writer: the exact format the event-log reader expects."""

import json

import numpy as np
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from vi_od.data.eventlog_writer import META_KEY, log_metadata, snapshots_path, write_event_log
from vi_od.data.stream import Activity
from vi_od.models.bcm_roles.simulate import SimulatorSettings, simulate_stream, stream_log

SETTINGS = SimulatorSettings(N=30, T=200, leader_proportion=0.1)  # the small_trace


def write(path, snapshots=None, chunk=64):
    """The default model's streamed log, in chunks of `chunk` steps."""
    meta = log_metadata(stream_log(SETTINGS, 0, Activity(), snapshots), Activity())
    stream = simulate_stream(SETTINGS, 0, snapshot_every=snapshots, chunk=chunk)
    return write_event_log(path, stream.chunks, meta, snapshots is not None), stream


def test_columns_types_and_truth_are_the_agreed_format(small_trace, tmp_path):
    counts, stream = write(tmp_path / "log.parquet")
    table = pq.read_table(tmp_path / "log.parquet")
    assert table.schema.names == ["time", "sender", "receiver", "sender_opinion",
                                  "receiver_opinion", "positive", "negative"]  # fmt: skip
    assert [str(t) for t in table.schema.types] == ["int64", "int64", "int64", "float",
                                                    "float", "int8", "int8"]  # fmt: skip
    steps, E = small_trace.u.shape
    assert table.num_rows == counts["interactions"] == steps * E
    np.testing.assert_array_equal(table["time"], np.repeat(np.arange(steps), E))
    np.testing.assert_array_equal(table["sender"], small_trace.u.ravel())
    np.testing.assert_array_equal(table["receiver"], small_trace.v.ravel())
    rows, u, v = np.repeat(np.arange(steps), E), small_trace.u.ravel(), small_trace.v.ravel()
    np.testing.assert_array_equal(table["sender_opinion"], small_trace.X[rows, u])
    np.testing.assert_array_equal(table["receiver_opinion"], small_trace.X[rows, v])
    np.testing.assert_array_equal(table["positive"], small_trace.s_plus.ravel())
    np.testing.assert_array_equal(table["negative"], small_trace.s_minus.ravel())
    assert counts["positive"] == int(small_trace.s_plus.sum())
    meta = json.loads(table.schema.metadata[META_KEY])
    assert meta["eps"] == pytest.approx(list(small_trace.eps))
    assert meta["roles"] == small_trace.roles.tolist() and len(meta["roles"]) == 30
    assert meta["rho"] == 32.0 and meta["seed"] == 0
    assert meta["mu_plus"] == [0.02, 0.02] and meta["mu_minus"] == [0.02, 0.02]
    assert meta["simulator"]["N"] == 30 and meta["simulator"]["T"] == 200
    assert list(meta)[-2:] == ["activity", "vi_od_version"]  # how the log was made, last
    assert pq.ParquetFile(tmp_path / "log.parquet").num_row_groups == 4  # chunks of 64 steps
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.parquet"]


def test_snapshots_go_to_a_side_file(small_trace, tmp_path):
    counts, _ = write(tmp_path / "log.parquet", snapshots=25)
    with np.load(snapshots_path(tmp_path / "log.parquet")) as snaps:
        np.testing.assert_array_equal(snaps["time"], np.arange(0, 200, 25))
        np.testing.assert_array_equal(snaps["X"], small_trace.X[::25])
    assert counts["snapshots"] == 8


def test_a_failed_write_leaves_nothing(tmp_path):
    stream = simulate_stream(SETTINGS, 0, chunk=64)

    def broken():
        yield next(stream.chunks)
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_event_log(tmp_path / "log.parquet", broken(), {})
    assert list(tmp_path.iterdir()) == []


def test_schema_is_readable_as_one_dataset(tmp_path):
    write(tmp_path / "log.parquet")
    dataset = ds.dataset(tmp_path / "log.parquet")
    assert dataset.count_rows() == 1990
