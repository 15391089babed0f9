"""Readers of observed data: each input format becomes one Observations table.

`.npz` is a dense trace (vi_od.data.trace); `.parquet`, `.csv` and `.csv.gz` are event logs
(vi_od.data.eventlog). The readers are imported on use: the trace reader must stay light
for the sweep's workers, which never read event logs; a missing, misnamed or unreadable
file is refused here before numpy or pandas is imported (docs/performance.md).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vi_od.errors import ViOdError

if TYPE_CHECKING:
    from vi_od.data.observations import Observations

FORMATS = ".npz (trace), .parquet, .csv or .csv.gz (event log)"
SUFFIXES = (".parquet", ".csv", ".csv.gz")  # event-log tables


def table_suffix(path: str | os.PathLike) -> str | None:
    """The table format of a file name (.parquet, .csv, .csv.gz), or None."""
    name = Path(path).name.lower()
    return next((s for s in SUFFIXES if name.endswith(s)), None)


def check_table_file(path: Path, what: str) -> None:
    """A table (an event log, an opinions table) is one existing file."""
    if path.is_dir():
        raise ViOdError(f"{path}: is a folder; {what} is one file")
    if not path.is_file():
        raise ViOdError(f"{path}: no such file")


def check_trace_file(path: Path) -> None:
    """A .npz trace is an existing file and a zip archive (numpy would guess a pickle or
    return a bare array)."""
    if path.is_dir():
        raise ViOdError(f"{path}: is a folder, not a trace file")
    if not path.is_file():
        raise ViOdError(f"{path}: no such trace file")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            npy = f.read(6) == b"\x93NUMPY"
        kind = "a single .npy array" if npy else "not a zip archive"
        raise ViOdError(
            f"{path}: not a readable .npz trace file ({kind}; save traces with numpy.savez)"
        )


def check_data_file(
    path: str | os.PathLike, opinions: str | os.PathLike | None = None, timezone: str | None = None
) -> None:
    """What `load_observations` refuses before reading a byte: a missing file, a folder, an
    unknown format, a .npz that is no zip archive (checked without numpy or pandas)."""
    path = Path(path)
    if path.name.lower().endswith(".npz"):
        if opinions is not None:
            raise ViOdError(f"{path}: an opinions table goes with an event log, not a .npz trace")
        check_trace_file(path)
        return
    if table_suffix(path) is None:
        raise ViOdError(f"{path}: unknown data format (expected {FORMATS})")
    if timezone is None:  # eventlog.read checks a --timezone (with pandas) before the file
        check_table_file(path, "an event log")


def load_observations(
    path: str | os.PathLike,
    opinions: str | os.PathLike | None = None,
    *,
    rho: float = 32.0,
    mu_plus: Sequence[float] = (0.02, 0.02),
    mu_minus: Sequence[float] = (0.02, 0.02),
    timezone: str | None = None,
    clip_opinions: float | None = None,
    columns=None,
) -> Observations:
    """Read a trace or an event log by its suffix; rho and mu fill what an event log lacks.

    `opinions` is the opinions table of an event log in the as-of form; `timezone` is how
    to read its naive timestamps (without it, naive beside zoned times is an error);
    `clip_opinions` how far outside [0, 1] an opinion may be to be clipped (float noise);
    `columns` (vi_od.data.columns.Columns) the model's own columns, read and checked.
    """
    path = Path(path)
    check_data_file(path, opinions, timezone)
    if path.name.lower().endswith(".npz"):
        from vi_od.data import trace

        obs = trace.to_observations(trace.load(path, clip_opinions))
        if columns is not None:
            columns.check(obs, str(path))
        return obs
    from vi_od.data import eventlog

    mu = {"mu_plus": mu_plus, "mu_minus": mu_minus}
    obs = eventlog.read(
        path, opinions, rho=rho, **mu, timezone=timezone, clip_opinions=clip_opinions,
        columns=columns,
    )  # fmt: skip
    if columns is not None:
        columns.check(obs, str(path))
    return obs
