"""Write a simulation as an event log (Parquet), chunk by chunk: no size limit but the disk's.

One row per interaction (`vi_od.data.eventlog` reads it back):

| column | type | meaning |
|---|---|---|
| time | int64 | step; every interaction of a step reads the opinions at its start |
| sender, receiver | int64 | agent ids u, v in [0, N) |
| sender_opinion, receiver_opinion | float32 | x_u, x_v at the start of the step |
| positive, negative | int8 | s+ (attraction) and s- (backfire), 0 or 1 |

The truth goes into the schema metadata under key b"vi_od" as JSON: what the model's
stream records (`vi_od.data.stream.StreamedLog.meta`: its truth, dynamics, seed and
settings; docs/data.md shows the default model's), then "activity" and "vi_od_version".
Snapshots of the opinions, when asked for, go to a side file `<name>.snapshots.npz`
(`time` (S,) int64, `X` (S, N) float32). Files appear complete or not at all (temp file
+ rename).

A model with columns of its own (vi_od.data.columns) is written from its trace instead
(`write_trace_log`): the same columns, then the model's, and the metadata names the model
and its parameters ("model", "names") with its truth under "eps" in that order.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vi_od import __version__
from vi_od.atomic import atomic_write
from vi_od.data.stream import Activity, Events, StreamedLog

META_KEY = b"vi_od"
SCHEMA = pa.schema(
    [
        ("time", pa.int64()),
        ("sender", pa.int64()),
        ("receiver", pa.int64()),
        ("sender_opinion", pa.float32()),
        ("receiver_opinion", pa.float32()),
        ("positive", pa.int8()),
        ("negative", pa.int8()),
    ]
)


def log_metadata(log: StreamedLog, activity: Activity) -> dict:
    """The JSON stored under META_KEY: the model's truth, dynamics and seed, then how the
    log was made."""
    return {**log.meta, "activity": dataclasses.asdict(activity), "vi_od_version": __version__}


def snapshots_path(path: str | os.PathLike) -> Path:
    """Where the opinion snapshots of event log `path` go: <stem>.snapshots.npz beside it."""
    path = Path(path)
    return path.with_name(f"{path.stem}.snapshots.npz")


def write_event_log(
    path: str | os.PathLike,
    chunks: Iterable[Events],
    meta: dict,
    snapshots: bool = False,
    advance: Callable[[int], None] = lambda n: None,
) -> dict:
    """Write every chunk as a row group; returns counts for the summary.

    `advance(n)` is called with the steps of each chunk written (a progress bar).
    """
    schema = SCHEMA.with_metadata({META_KEY: json.dumps(meta).encode()})
    counts = {"interactions": 0, "positive": 0, "negative": 0}
    kept: list = []

    def write(tmp: str) -> None:
        with pq.ParquetWriter(tmp, schema) as writer:
            for chunk in chunks:
                writer.write_table(_table(chunk, schema), row_group_size=chunk.time.size)
                counts["interactions"] += chunk.time.size
                counts["positive"] += int(chunk.s_plus.sum(dtype=np.int64))
                counts["negative"] += int(chunk.s_minus.sum(dtype=np.int64))
                if snapshots:
                    kept.append((chunk.snapshot_time, chunk.snapshots))
                advance(int(np.unique(chunk.time).size))

    atomic_write(path, write)
    if snapshots:
        times = np.concatenate([t for t, _ in kept])
        X = np.concatenate([x for _, x in kept])
        counts["snapshots"] = int(times.size)
        atomic_write(snapshots_path(path), lambda tmp: np.savez(tmp, time=times, X=X))
    return counts


def _table(chunk: Events, schema: pa.Schema) -> pa.Table:
    columns = [
        chunk.time,
        chunk.sender.astype(np.int64),
        chunk.receiver.astype(np.int64),
        chunk.sender_opinion,
        chunk.receiver_opinion,
        chunk.s_plus,
        chunk.s_minus,
    ]
    return pa.Table.from_arrays([pa.array(c) for c in columns], schema=schema)


def trace_metadata(trace, model: str, names=()) -> dict:
    """The JSON stored under META_KEY for a log written from a model's trace: its name, its
    truth in the order of its parameter `names`, the dynamics, seed and simulator settings."""
    meta = {k: trace.meta[k] for k in ("seed", "simulator", "vi_od_version") if k in trace.meta}
    return {
        "model": model,
        "names": list(names),
        "eps": None if trace.eps is None else [float(e) for e in trace.eps],
        "rho": float(trace.rho),
        "mu_plus": [float(m) for m in trace.mu_plus],
        "mu_minus": [float(m) for m in trace.mu_minus],
        **meta,
    }


def write_trace_log(path: str | os.PathLike, trace, model: str, extra: dict, names=()) -> dict:
    """A simulated trace as an event log: the common columns, then the model's own `extra`
    columns {name: (M,) array} (vi_od.data.columns); one row per interaction, in step order."""
    steps, E = trace.u.shape
    rows = np.repeat(np.arange(steps), E)
    u, v = trace.u.ravel(), trace.v.ravel()
    common = [rows, u, v, trace.X[rows, u], trace.X[rows, v], trace.s_plus.ravel(),
              trace.s_minus.ravel()]  # fmt: skip
    arrays = [pa.array(c.astype(f.type.to_pandas_dtype())) for c, f in zip(common, SCHEMA)]
    arrays += [pa.array(np.asarray(a)) for a in extra.values()]
    fields = list(SCHEMA) + [pa.field(name, a.type) for name, a in zip(extra, arrays[7:])]
    meta = {META_KEY: json.dumps(trace_metadata(trace, model, names)).encode()}
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=meta))
    atomic_write(path, lambda tmp: pq.write_table(table, tmp))
    return {"interactions": int(rows.size), "positive": int(trace.s_plus.sum()),
            "negative": int(trace.s_minus.sum())}  # fmt: skip
