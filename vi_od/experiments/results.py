"""Sweep results: one Parquet file per job, read back as one DataFrame.

Each finished job writes `runs/<job_id>.parquet` through a dot-temp file and `os.replace`, so
a killed sweep leaves only whole files (readers skip dot files). Every file carries the
fixed schema below, typed column by column: a schema inferred per file would turn an
all-null column into type `null` and break the dataset when files disagree. A model's own
parameters beyond the BCM's (wide columns: the truth under the parameter's name, est_<name>,
std_<name>, q05/q25/q75/q95_<name>, rank_<name>, and metrics such as <latent>_right) are
added to a row's schema with fixed types by name (`column_type`), so a sweep over several
models lands in one table: each model's columns are null in the other models' rows.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from vi_od.atomic import atomic_write
from vi_od.errors import ViOdError

SCHEMA = pa.schema(
    [
        ("job_id", pa.string()),
        ("sweep", pa.string()),
        ("model", pa.string()),  # null in rows written before models were plug-ins: bcm-roles
        ("method", pa.string()),
        ("rep", pa.int64()),
        ("seed", pa.int64()),
        ("N", pa.int64()),
        ("T", pa.int64()),
        ("E", pa.int64()),
        ("leader_proportion", pa.float64()),
        ("n_leaders", pa.int64()),
        ("rmse_eps", pa.float64()),
        ("role_error_rate", pa.float64()),
        ("perfect_roles", pa.bool_()),
        ("leaders_recall", pa.float64()),
        ("brier", pa.float64()),
        ("ece", pa.float64()),
        ("est_leader_proportion", pa.float64()),
        ("wall_time_s", pa.float64()),
        ("status", pa.string()),
        ("error", pa.string()),
        ("settings", pa.string()),
        ("n_steps", pa.int64()),
        ("n_samples", pa.int64()),
        ("n_simulations", pa.int64()),
        ("pos_interactions_L", pa.int64()),
        ("neg_interactions_L", pa.int64()),
        ("pos_interactions_F", pa.int64()),
        ("neg_interactions_F", pa.int64()),
        ("var_X_final", pa.float64()),
        ("abs_diff_eps_plus", pa.float64()),
        ("abs_diff_eps_minus", pa.float64()),
        ("versions", pa.string()),
        # the truth's rank among n_draws evenly thinned draws (SBC), and where the truth came
        # from ("prior" for SBC rows); per parameter columns are the model's (row_schema)
        ("n_draws", pa.int64()),
        ("truth", pa.string()),
        # r_hat/ESS (MCMC) or a finite loss (SVI) by the field's convention; null
        # for methods without a check (ABC) and for rows written before
        ("converged", pa.bool_()),
    ]
)
COLUMNS = tuple(SCHEMA.names)
STATUSES = ("ok", "timeout", "error")


def runs_dir(path: str | os.PathLike) -> Path:
    """The folder holding the per-job files: `<results>/runs`, or `path` itself if it has none."""
    path = Path(path)
    return path / "runs" if (path / "runs").is_dir() or not path.exists() else path


def column_type(name: str, value) -> pa.DataType:
    """The type of a model's own column: ranks and counts are integers, `*_right` and other
    flags booleans, text strings, every other value a float."""
    if name.startswith(("rank_", "n_")):
        return pa.int64()
    if isinstance(value, bool) or name.endswith("_right"):
        return pa.bool_()
    if isinstance(value, str):
        return pa.string()
    return pa.float64()


def row_schema(row: dict) -> pa.Schema:
    """The fixed schema, then the row's own columns by name (sorted, typed by column_type)."""
    extra = sorted(set(row) - set(COLUMNS))
    return pa.schema([*SCHEMA, *(pa.field(c, column_type(c, row[c])) for c in extra)])


def to_table(row: dict) -> pa.Table:
    """One row as a table of its schema; missing fixed columns are null."""
    if row.get("status") not in STATUSES:
        raise ViOdError(f"status={row.get('status')} is not allowed: must be one of {STATUSES}")
    schema = row_schema(row)
    return pa.Table.from_pylist([{name: row.get(name) for name in schema.names}], schema=schema)


def write_row(directory: str | os.PathLike, row: dict) -> Path:
    """Write `<directory>/<job_id>.parquet` atomically (dot-temp file, then os.replace)."""
    table = to_table(row)
    directory = Path(directory)
    path = directory / f"{row['job_id']}.parquet"
    atomic_write(path, lambda tmp: pq.write_table(table, tmp))
    return path


def finished(path: str | os.PathLike) -> dict[str, Path]:
    """Job id -> file of every job with a result (dot-temp files of killed writers excluded)."""
    directory = runs_dir(path)
    if not directory.is_dir():
        return {}
    return {p.stem: p for p in directory.glob("*.parquet") if not p.name.startswith(".")}


def readable(path: Path) -> bool:
    """Whether a row file is whole: Parquet's magic bytes at both ends (a killed copy or a
    full disk leaves a truncated file without its footer)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
            f.seek(-4, os.SEEK_END)
            return head == f.read(4) == b"PAR1"
    except OSError:  # shorter than 4 bytes, or gone
        return False


def statuses(files: dict[str, Path]) -> dict[str, str]:
    """Job id -> status read from each file (only two columns are read)."""
    if not files:
        return {}
    table = _read(list(files.values()), columns=["job_id", "status"])
    return dict(zip(table["job_id"].to_pylist(), table["status"].to_pylist()))


def _read(files: list[Path], columns: list[str] | None = None) -> pa.Table:
    """The files' rows; an unreadable file is a ViOdError naming it."""
    try:
        schema = SCHEMA if columns else _unified(files)  # the model columns only when read
        return _dataset(files, schema).to_table(columns=columns)
    except (pa.ArrowException, OSError):
        bad = next((f for f in files if not _parses(f)), files[0])
        raise ViOdError(
            f"{bad}: not a readable results row (truncated?); delete it, or run the sweep "
            "again: it reruns jobs whose row cannot be read"
        ) from None


def _parses(path: Path) -> bool:
    try:
        pq.read_metadata(path)
        return readable(path)
    except (pa.ArrowException, OSError):
        return False


@contextmanager
def lock(folder: str | os.PathLike) -> Iterator[None]:
    """Hold `<folder>/.lock` while a sweep runs there: a second sweep on the folder refuses
    (two would run every job twice). The lock goes with the process, even on kill -9."""
    import fcntl

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise ViOdError(
                f"{folder}: another vi-od sweep (pid {holder}) is running in this results "
                "folder; wait for it to end, or give another --results"
            ) from None
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        yield


def _dataset(files: list[Path], schema: pa.Schema = SCHEMA):
    """The files as one pyarrow dataset of `schema` (read in parallel)."""
    import pyarrow.dataset as ds  # not at the top: job processes only write, and start faster

    return ds.dataset([str(p) for p in files], schema=schema, format="parquet")


def _unified(files: list[Path]) -> pa.Schema:
    """The fixed schema and every model column any of the files holds (footers only)."""
    extra: dict[str, pa.Field] = {}
    for path in files:
        for f in pq.read_schema(path):
            if f.name not in SCHEMA.names and f.name not in extra:
                extra[f.name] = f.remove_metadata()
    return pa.schema([*SCHEMA, *(extra[n] for n in sorted(extra))])


def load_table(path: str | os.PathLike) -> pa.Table:
    """All rows of a results folder (or its runs/ folder, or one file) under the fixed schema."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(finished(path).values())
    if not files:
        return SCHEMA.empty_table()
    return _read(files)


def load(path: str | os.PathLike):
    """A results folder as a pandas DataFrame, one row per job (empty if nothing finished yet)."""
    return load_table(path).to_pandas()


# ----------------------------------------------------------------------------- one packed file

REQUIRED = ("job_id", "method", "status")  # what makes a Parquet file a table of sweep rows


def read_packed(file: str | os.PathLike) -> pa.Table:
    """A packed results file under the fixed schema (columns it lacks read as null).

    A missing file, a file that is not Parquet, or a Parquet file without the sweep's
    job_id/method/status columns is a ViOdError.
    """
    file = Path(file)
    if not file.is_file():
        raise ViOdError(f"results file {file} does not exist")
    try:
        names = pq.read_schema(file).names
    except (pa.ArrowInvalid, OSError):
        raise ViOdError(f"{file} is not a Parquet file") from None
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise ViOdError(f"{file} holds no sweep results (no column {', '.join(missing)})")
    return _dataset([file], _unified([file])).to_table()


def pack(folder: str | os.PathLike, file: str | os.PathLike) -> int:
    """Write every row of a results folder as one zstd Parquet file, sorted by job id; returns
    the number of rows. The write is atomic, so a killed pack keeps the previous file."""
    table = load_table(folder).sort_by("job_id")
    atomic_write(
        file,
        lambda tmp: pq.write_table(
            table, tmp, compression="zstd", compression_level=19, use_dictionary=True
        ),
    )
    return table.num_rows


def unpack(file: str | os.PathLike, folder: str | os.PathLike) -> int:
    """Write each row of a packed file whose job has no file yet in the results folder as
    `runs/<job_id>.parquet`, so a sweep into that folder skips it; returns how many were written.

    Rows already on disk win: they may be newer than the packed table.
    """
    table = read_packed(file)
    runs = Path(folder) / "runs"
    have = finished(runs)
    written = 0
    for row in table.to_pylist():
        if row["job_id"] not in have:
            write_row(runs, row)
            written += 1
    return written
