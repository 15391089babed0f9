"""Event logs: one row per interaction (a reply, a mention), read into Observations.

Columns (README, "Your own data: event logs"): `time` (integer, float or timestamp),
`sender` and `receiver` (integer or string ids; u == v is allowed), `sender_opinion` and
`receiver_opinion` (floats in [0, 1]: each one's opinion just before the interaction),
`positive` and `negative` (0/1 or bool: s+ and s-). Rows need not be sorted; rows with the
same time read the opinions from before that instant, as the E interactions of one
simulator step do. Time becomes a dense rank (equal times share an index).

The as-of form leaves out the two opinion columns and comes with an opinions table
(`agent`, `time`, `opinion`): each interaction reads each agent's latest opinion AT OR
BEFORE its time. "At" because an opinion recorded at time t is the one the agent holds when
its interactions at t happen, as the simulator's X[t] is read by step t's interactions
(their effect is X[t + 1]); an opinions table with one row (a, t, X[t, a]) per agent and
step thus gives back a trace's own |x_u - x_v|. "Strictly before" would read X[t - 1].

A Parquet log may carry its truth as JSON in the schema metadata under b"vi_od": eps (its
model's true parameters; the default model's [F+, L+, F-, L-]), roles (0/1 aligned with the
sorted agent ids), rho, mu_plus and mu_minus ([F, L]), seed, simulator; what it lacks of rho
and mu comes from the caller (the config). A log names its model ("model") and the order of
its eps ("names"); one without them, as written before they were, is the default model's.
The model checks its own truth (`vi_od.models.truth_check`, without JAX for a built-in one).

A model with columns of its own (`vi_od.data.columns.Columns`: a feed of senders, an event's
kind) is read with them when the caller passes its `columns`: each is converted like the
common column of its kind (ids, opinions, 0/1 flags) and handed to the model, which checks
them and turns them into `Observations.extra`.

Bad input raises ViOdError naming the file, the column and the first bad row. Rows are
counted from 1 = the first data row, in the file's own order (a CSV's header is not a row).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from vi_od.data import check_table_file, table_suffix
from vi_od.data.columns import Columns
from vi_od.data.observations import Observations, from_columns
from vi_od.errors import ViOdError
from vi_od.models import DEFAULT, truth_check, truth_names

LOG_COLUMNS = (
    "time", "sender", "receiver", "sender_opinion", "receiver_opinion", "positive", "negative"
)  # fmt: skip
OPINION_COLUMNS = ("sender_opinion", "receiver_opinion")
OPINIONS_TABLE = ("agent", "time", "opinion")
TRUTH_TABLE = ("agent", "role")
ID_COLUMNS = ("sender", "receiver", "agent")
METADATA_KEY = b"vi_od"
ROLE_NAMES = {"leader": 1, "follower": 0, "1": 1, "0": 0}


def read_table(path: Path, what: str) -> pa.Table:
    """A .parquet, .csv or .csv.gz file as an Arrow table (CSV id columns kept as text)."""
    suffix = table_suffix(path)
    if suffix is None:
        raise ViOdError(f"{path}: {what} must be a .parquet, .csv or .csv.gz file")
    check_table_file(path, what)
    try:
        if suffix == ".parquet":
            table = pq.read_table(path)
        else:  # ids as text: "007" and "7" are two agents; canonical integers become ints later
            types = {c: pa.string() for c in ID_COLUMNS}
            options = pa_csv.ConvertOptions(column_types=types)
            table = pa_csv.read_csv(path, convert_options=options)
    except (pa.ArrowException, OSError, ValueError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        kind = "Parquet" if suffix == ".parquet" else "CSV"
        raise ViOdError(f"{path}: not a readable {kind} file ({detail})") from None
    twice = sorted({c for c in table.column_names if table.column_names.count(c) > 1})
    if twice:
        raise ViOdError(f"{path}: column '{twice[0]}' appears twice in the header")
    return table


class BadRow(Exception):
    """The first bad row of one column (0-based position in the file) and what is wrong."""

    def __init__(self, row: int, message: str):
        super().__init__(message)
        self.row, self.message = row, message


def _first(bad: np.ndarray) -> int:
    return int(np.flatnonzero(bad)[0])


def _plain(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Dictionary-encoded (categorical) columns decoded; missing values refused."""
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    null = col.is_null().to_numpy(zero_copy_only=False)
    if null.any():
        raise BadRow(_first(null), "value is missing (empty, null or NaN)")
    return col


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _text(col: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=object)


def _wrong_type(col: pa.ChunkedArray, expected: str) -> BadRow:
    return BadRow(0, f"must hold {expected}, the column holds {col.type} values")


def ids(col: pa.ChunkedArray, notes: list | None = None) -> np.ndarray:
    """Agent ids: integers (int64) or strings; text that is all canonical integers -> int64.

    Spaces around a text id are stripped (" 7" is agent 7, not a new agent), with a note.
    """
    col = _plain(col)
    if pa.types.is_integer(col.type):
        return col.to_numpy().astype(np.int64)
    if pa.types.is_floating(col.type):
        x = col.to_numpy()
        bad = x != np.round(x)
        if bad.any():
            raise BadRow(_first(bad), f"{x[_first(bad)]:g} is not an id (integers or strings)")
        return x.astype(np.int64)
    if not _is_text(col.type):
        raise _wrong_type(col, "integer or string ids")
    raw = pd.Series(_text(col))
    text = raw.str.strip()
    empty = (text == "").to_numpy()
    if empty.any():
        raise BadRow(_first(empty), "id is empty")
    spaced = (text != raw).to_numpy()
    if spaced.any() and notes is not None:
        notes.append(f"{int(spaced.sum())} id(s) had spaces around them, stripped (first: "
                     f"{raw[_first(spaced)]!r}, row {_first(spaced) + 1})")  # fmt: skip
    if text.str.fullmatch(r"-?(0|[1-9][0-9]*)").all() and text.str.len().max() < 19:
        return text.astype(np.int64).to_numpy()
    return text.to_numpy(dtype=object)


def opinions(col: pa.ChunkedArray, clip: float | None = None, notes: list | None = None):
    """Opinions as float64, each a number in [0, 1]; with `clip`, values up to clip outside
    (float noise such as -0.0012) are clipped into [0, 1] and counted in `notes`."""
    col = _plain(col)
    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
        x = col.to_numpy().astype(np.float64)
    elif _is_text(col.type):
        text = _text(col)
        x = pd.to_numeric(pd.Series(text), errors="coerce").to_numpy(np.float64)
        bad = np.isnan(x) & ~pd.Series(text).str.strip().str.lower().eq("nan").to_numpy()
        if bad.any():
            raise BadRow(_first(bad), f"{text[_first(bad)]!r} is not a number")
    else:
        raise _wrong_type(col, "numbers in [0, 1]")
    if np.isnan(x).any():
        raise BadRow(_first(np.isnan(x)), "value is NaN; opinions must lie in [0, 1]")
    x, clipped = clip_opinions(x, clip)
    bad = (x < 0) | (x > 1)
    if bad.any():
        raise BadRow(_first(bad), f"{x[_first(bad)]:g} is outside [0, 1]{CLIP_HINT}")
    if clipped and notes is not None:
        notes.append(f"clipped {clipped} opinion(s) into [0, 1] (--clip-opinions {clip:g})")
    return x


CLIP_HINT = " (if that is float noise, --clip-opinions 0.01 clips values that close)"


def clip_opinions(x: np.ndarray, clip: float | None) -> tuple[np.ndarray, int]:
    """(x with values at most `clip` outside [0, 1] clipped into it, how many were)."""
    if not clip:
        return x, 0
    near = ((x < 0) & (x >= -clip)) | ((x > 1) & (x <= 1 + clip))
    return np.where(near, np.clip(x, 0.0, 1.0), x), int(near.sum())


def flags(col: pa.ChunkedArray) -> np.ndarray:
    """An outcome s+ or s-: 0/1, 0.0/1.0, true/false -> int8."""
    col = _plain(col)
    if pa.types.is_boolean(col.type):
        return col.to_numpy(zero_copy_only=False).astype(np.int8)
    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
        x = col.to_numpy()
        values = x
    elif _is_text(col.type):
        values = _text(col)
        words = pd.Series(values).str.strip().str.lower()
        x = words.map({"0": 0, "1": 1, "true": 1, "false": 0}).to_numpy(np.float64)
    else:
        raise _wrong_type(col, "0/1 or true/false")
    bad = (x != 0) & (x != 1)
    if bad.any():
        raise BadRow(_first(bad), f"{_show(values[_first(bad)])} is not 0/1 (or true/false)")
    return x.astype(np.int8)


@dataclass(frozen=True, eq=False)
class Times:
    """A time column read once: numbers stay numbers, timestamps become int64 ns since 1970.

    zone says how timestamps were read: "naive" (wall-clock, no zone given), "UTC" (each had
    its zone), or the --timezone naive ones were read in (then all are UTC instants).
    `example` is the first value as written, to name in an error.
    """

    values: np.ndarray
    kind: str  # integer, float or timestamp
    zone: str | None = None
    example: str = ""

    def text(self, value) -> str:
        """A value as `inspect` and errors show it."""
        if self.kind == "timestamp":
            return str(pd.Timestamp(int(value), tz=None if self.zone == "naive" else "UTC"))
        return str(int(value)) if self.kind == "integer" else repr(float(value))


def check_timezone(timezone: str | None) -> None:
    """Refuse a --timezone pandas does not know, before any file is read."""
    if timezone is not None:
        try:
            pd.Timestamp(0).tz_localize(timezone)
        except Exception:  # zoneinfo, pytz and dateutil raise their own types
            raise ViOdError(
                f"--timezone {timezone}: unknown time zone (e.g. UTC, Europe/Paris, +01:00)"
            ) from None


def times(col: pa.ChunkedArray, timezone: str | None = None) -> Times:
    """Times as numbers (integer or float) or timestamps (int64 ns, one zone policy)."""
    col = _plain(col)
    t = col.type
    if pa.types.is_integer(t):
        return Times(col.to_numpy().astype(np.int64), "integer")
    if pa.types.is_floating(t):
        return Times(_finite(col.to_numpy().astype(np.float64), col), "float")
    if pa.types.is_date(t):
        col = col.cast(pa.timestamp("s"))
    if pa.types.is_timestamp(col.type):
        stamp = col.to_pandas()
        return _stamps(stamp, _Shown(stamp), timezone)
    if not _is_text(t):
        raise _wrong_type(col, "integer, float or timestamp times")
    text = _text(col)
    number = pd.to_numeric(pd.Series(text), errors="coerce").to_numpy(np.float64)
    if not np.isnan(number[0]):  # the first value says which kind the column is meant to be
        bad = np.isnan(number)
        if bad.any():
            raise BadRow(_first(bad), f"{text[_first(bad)]!r} is not a number")
        return Times(_finite(number, text), "float")
    return _stamps(_parse_text(text, timezone), text, timezone)


class _Shown:
    """Typed timestamps shown as text only when an error needs one (1e7 strings cost seconds)."""

    def __init__(self, stamp: pd.Series):
        self.stamp = stamp

    def __getitem__(self, row):
        return str(self.stamp.iloc[row])


def _finite(x: np.ndarray, shown) -> np.ndarray:
    bad = ~np.isfinite(x)
    if bad.any():
        raise BadRow(_first(bad), f"{shown[_first(bad)]} is not a time")
    return x


def _parse_text(text: np.ndarray, timezone: str | None) -> pd.Series:
    """ISO 8601 text (basic or extended) as datetimes; naive beside zoned rows needs a zone."""
    series = pd.Series(text)
    parse = lambda s, utc=False: pd.to_datetime(s, errors="coerce", format="ISO8601", utc=utc)
    try:
        stamp = parse(series)
    except ValueError:  # "Mixed timezones": several offsets, or naive beside zoned
        stamp = parse(series, utc=True)
        zoned = np.array([pd.Timestamp(x).tzinfo is not None if ok else True
                          for x, ok in zip(text, stamp.notna())])  # fmt: skip
        if not zoned.all() and timezone is None:
            naive, aware = _first(~zoned), _first(zoned)
            raise BadRow(
                max(naive, aware),
                f"{text[naive]!r} has no time zone but {text[aware]!r} has one: write every "
                "time with its zone, or say how to read naive times with --timezone",
            ) from None
        if not zoned.all():
            local = _localize(parse(series[~zoned]), timezone, text[~zoned])
            stamp = stamp.where(zoned, local.reindex(stamp.index))
    bad = stamp.isna().to_numpy()
    if bad.any():
        raise BadRow(_first(bad), f"{text[_first(bad)]!r} is not a number or an ISO timestamp")
    return stamp


def _localize(stamp: pd.Series, timezone: str, text) -> pd.Series:
    """Naive datetimes read as wall-clock times in `timezone`, as UTC instants."""
    local = stamp.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    bad = local.isna().to_numpy()
    if bad.any():
        row = int(stamp.index[_first(bad)])
        raise BadRow(row, f"{text[_first(bad)]} does not exist, or exists twice, in {timezone} "
                          "(a daylight-saving change)")  # fmt: skip
    return local.dt.tz_convert("UTC")


def _stamps(stamp: pd.Series, text, timezone: str | None) -> Times:
    """Datetimes as int64 ns: zoned ones in UTC, naive ones in --timezone or as written."""
    zone = "naive"
    if stamp.dt.tz is not None:
        stamp, zone = stamp.dt.tz_convert("UTC"), "UTC"
    elif timezone is not None:
        stamp, zone = _localize(stamp, timezone, text), timezone
    try:
        ns = stamp.dt.as_unit("ns").astype("int64").to_numpy()
    except (pd.errors.OutOfBoundsDatetime, OverflowError):
        bad = ((stamp.dt.year < 1678) | (stamp.dt.year > 2261)).to_numpy()
        row = _first(bad) if bad.any() else 0
        raise BadRow(row, f"{text[row]} is outside the years 1678-2261 vi-od reads") from None
    return Times(ns, "timestamp", zone, str(text[0]))


CONVERTERS = {
    "time": times,
    "sender": ids,
    "receiver": ids,
    "sender_opinion": opinions,
    "receiver_opinion": opinions,
    "positive": flags,
    "negative": flags,
}


def _convert(path: Path, table: pa.Table, converters: dict) -> dict:
    """Every column through its converter; the problem in the first row (file order) is raised."""
    out, problems = {}, []
    for name, convert in converters.items():
        try:
            out[name] = convert(table.column(name))
        except BadRow as bad:
            problems.append((bad.row, len(problems), name, bad.message))
    if problems:
        row, _, name, message = min(problems)
        raise ViOdError(f"{path}: column '{name}', row {row + 1}: {message}")
    return out


def _require_columns(path: Path, table: pa.Table, needed, what: str, hint: str = "") -> None:
    missing = [c for c in needed if c not in table.column_names]
    if missing:
        names = ", ".join(f"'{c}'" for c in missing)
        hint = hint if set(missing) <= set(OPINION_COLUMNS) else ""
        raise ViOdError(
            f"{path}: missing column(s) {names} ({what} needs {', '.join(needed)}{hint})"
        )
    if table.num_rows == 0:
        raise ViOdError(f"{path}: no rows: {what} needs at least one")


def _same_ids(*arrays: np.ndarray) -> list[np.ndarray]:
    """Integer ids stay integers unless another column has string ids: then all are strings."""
    if all(a.dtype != object for a in arrays):
        return list(arrays)
    return [a.astype(str).astype(object) if a.dtype != object else a for a in arrays]


def _same_times(a: Times, b: Times, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Times of two tables on one scale: numbers with numbers, instants with instants."""
    if (a.kind == "timestamp") != (b.kind == "timestamp"):
        raise ViOdError(
            f"{path}: column 'time' holds {b.kind} times, the event log's are {a.kind} times "
            f"({b.text(b.values[0])} beside {a.text(a.values[0])}): write both files alike"
        )
    if a.kind == "timestamp" and (a.zone == "naive") != (b.zone == "naive"):
        naive, aware = (a, b) if a.zone == "naive" else (b, a)
        raise ViOdError(
            f"{path}: time {naive.example!r} has no time zone but {aware.example!r} has one: "
            "write every time with its zone, or say how to read naive times with --timezone"
        )
    if a.kind != b.kind:
        return a.values.astype(np.float64), b.values.astype(np.float64)
    return a.values, b.values


def _show(agent) -> str:
    """An id as the user wrote it: 'bob' or 7 (not np.int64(7))."""
    return repr(agent.item() if isinstance(agent, np.generic) else agent)


def _as_of(path: Path, log: dict, book_path: Path, book: dict) -> dict:
    """Each interaction's sender and receiver opinion: the latest at or before its time.

    pandas.merge_asof(direction="backward", allow_exact_matches=True) per role, by agent.
    """
    log_time, book_time = _same_times(log["time"], book["time"], book_path)
    entries = pd.DataFrame({"t": book_time, "agent": book["agent"], "opinion": book["opinion"]})
    twice = entries.duplicated(["agent", "t"]).to_numpy()
    if twice.any():
        row = _first(twice)
        raise ViOdError(
            f"{book_path}: column 'time', row {row + 1}: agent {_show(entries.agent[row])} has "
            "a second opinion at the same time"
        )
    entries = entries.sort_values("t", kind="stable")
    events = pd.DataFrame({"t": log_time, "row": np.arange(log_time.size)})
    out, unknown = {}, []
    for who in ("sender", "receiver"):
        left = events.assign(agent=log[who]).sort_values("t", kind="stable")
        joined = pd.merge_asof(left, entries, on="t", by="agent", direction="backward")
        x = np.empty(log_time.size)
        x[joined["row"].to_numpy()] = joined["opinion"].to_numpy(np.float64)
        if np.isnan(x).any():
            unknown.append((_first(np.isnan(x)), len(unknown), who))
        out[f"{who}_opinion"] = x
    if unknown:
        row, _, who = min(unknown)
        when = log["time"].text(log["time"].values[row])
        raise ViOdError(
            f"{path}: column '{who}', row {row + 1}: agent {_show(log[who][row])} has no "
            f"opinion at or before time {when} in {book_path}"
        )
    return out


def _truth(path: Path, schema: pa.Schema, agent_ids: np.ndarray) -> tuple[np.ndarray, dict]:
    """(agent ids, Observations fields) from the b"vi_od" schema metadata, when present.

    The roles are aligned with the sorted agent ids. A simulation may leave agents out of the
    log (they never interacted); when the roles outnumber the ids and the ids are integers
    in [0, len(roles)), the agents are 0 .. len(roles) - 1.
    """
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        return agent_ids, {}
    where = f"{path}: schema metadata 'vi_od'"
    try:
        meta = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ViOdError(f"{where} is not JSON") from None
    if not isinstance(meta, dict):
        raise ViOdError(f"{where} must be a JSON object")
    kept = ("seed", "simulator", "model", "names")
    fields: dict = {"meta": {k: meta[k] for k in kept if k in meta}}
    if meta.get("eps") is not None:
        fields["eps"] = _truth_values(meta["eps"], where)
        check = _truth_check(meta, where)
        if check is not None:
            check(meta["eps"], f"{where}: 'eps'")
    if meta.get("roles") is not None:
        roles = meta["roles"]
        ok = isinstance(roles, list) and all(
            r in (0, 1) and not isinstance(r, float) for r in roles
        )
        if not ok:
            raise ViOdError(f"{where}: 'roles' must be a list of 0/1 (1 = leader)")
        agent_ids = _agents_of_truth(agent_ids, len(roles), where)
        fields["roles"] = np.asarray(roles, np.int8)
    if meta.get("rho") is not None:
        if not (_number(meta["rho"]) and meta["rho"] > 0):
            raise ViOdError(f"{where}: 'rho' must be a number > 0, got {meta['rho']}")
        fields["rho"] = float(meta["rho"])
    for name in ("mu_plus", "mu_minus"):
        if meta.get(name) is not None:
            mu = meta[name]
            ok = isinstance(mu, list) and len(mu) == 2 and all(_number(m) for m in mu)
            if not (ok and all(0 <= m <= 1 for m in mu)):
                raise ViOdError(f"{where}: '{name}' must be 2 numbers [F, L] in [0, 1], got {mu}")
            fields[name] = np.asarray(mu, np.float32)
    return agent_ids, fields


def _truth_values(eps, where: str) -> np.ndarray:
    """The log's model's true parameters: a list of finite numbers (the model checks the rest)."""
    if not (isinstance(eps, list) and eps and all(_number(e) for e in eps)):
        raise ViOdError(f"{where}: 'eps' must be a list of numbers, got {eps}")
    return np.asarray(eps, np.float32)


def _truth_check(meta: dict, where: str):
    """The check of the model a log's truth is of: the one it names, else the default (a log
    written before logs named their model)."""
    name = meta.get("model", DEFAULT)
    if not isinstance(name, str):
        raise ViOdError(f"{where}: 'model' must be a model's name, got {name}")
    try:
        return truth_check(name)
    except ViOdError as exc:
        raise ViOdError(f"{where}: {exc}") from None


def _agents_of_truth(agent_ids: np.ndarray, n: int, where: str) -> np.ndarray:
    """The log's agents, or 0 .. n-1 when the truth names n agents and the log a subset."""
    if n == agent_ids.size:
        return agent_ids
    subset = agent_ids.dtype != object and n > agent_ids.size
    if not (subset and agent_ids.min() >= 0 and agent_ids.max() < n):
        raise ViOdError(f"{where}: 'roles' has {n} values for the log's {agent_ids.size} agents")
    return np.arange(n, dtype=np.int64)


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x)


def _read_columns(
    path: Path, opinions_path: Path | None, timezone: str | None = None, clip=None,
    columns: Columns | None = None,
) -> tuple[dict, pa.Schema, list[str]]:  # fmt: skip
    """The log's checked columns (opinions joined from the table in the as-of form; a
    model's own columns under "extra"), and notes on what was fixed on the way (ids
    stripped, opinions clipped)."""
    check_timezone(timezone)
    notes: list[str] = []
    read_times = lambda col: times(col, timezone)
    read_ids = lambda col: ids(col, notes)
    read_opinions = lambda col: opinions(col, clip, notes)
    custom = {"time": read_times, "sender": read_ids, "receiver": read_ids}
    custom |= {"sender_opinion": read_opinions, "receiver_opinion": read_opinions}
    table = read_table(path, "an event log")
    as_of = opinions_path is not None
    if as_of and any(c in table.column_names for c in OPINION_COLUMNS):
        raise ViOdError(
            f"{path}: the log has its own opinion columns; give either them or an opinions table"
        )
    needed = tuple(c for c in LOG_COLUMNS if not (as_of and c in OPINION_COLUMNS))
    what = "an event log with an opinions table" if as_of else "an event log"
    hint = "; without the opinion columns, give an opinions table: --opinions"
    _require_columns(path, table, needed, what, hint)
    log = _convert(path, table, {name: custom.get(name, CONVERTERS[name]) for name in needed})
    if columns is not None:
        kinds = columns.log_columns(list(table.column_names), str(path))
        by_kind = {"id": read_ids, "opinion": read_opinions, "flag": flags}
        log["extra"] = _convert(path, table, {c: by_kind[k] for c, k in kinds.items()})
        log["extra_kinds"] = kinds
    notes[:] = [f"{path}: {note}" for note in notes]
    book_notes = len(notes)
    if as_of:
        book_table = read_table(opinions_path, "an opinions table")
        _require_columns(opinions_path, book_table, OPINIONS_TABLE, "an opinions table")
        converters = {"agent": read_ids, "time": read_times, "opinion": read_opinions}
        book = _convert(opinions_path, book_table, converters)
        notes[book_notes:] = [f"{opinions_path}: {note}" for note in notes[book_notes:]]
        log["sender"], log["receiver"], book["agent"] = _same_ids(
            log["sender"], log["receiver"], book["agent"]
        )
        log |= _as_of(path, log, opinions_path, book)
    return log, table.schema, notes


def sorted_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct values, each value's index among them): np.unique's inverse.

    Integers spanning a range not much wider than the data (agent ids 0..N-1, step
    indices) take one bincount instead of a sort: 10^7 interactions' ids in 0.2 s, not 2.5 s.
    """
    if values.dtype.kind in "iu" and values.size:
        low = int(values.min())
        span = int(values.max()) - low + 1
        if span <= 2 * values.size + 1024:
            shifted = values - low if low else values
            present = np.bincount(shifted, minlength=span) > 0
            index = (np.cumsum(present) - 1).astype(np.int32 if span < 2**31 else np.int64)
            return np.flatnonzero(present) + low, index[shifted]
    codes, uniques = pd.factorize(values, sort=True)
    return np.asarray(uniques), codes


def read(
    path: str | Path,
    opinions_path: str | Path | None = None,
    *,
    rho: float = 32.0,
    mu_plus=(0.02, 0.02),
    mu_minus=(0.02, 0.02),
    timezone: str | None = None,
    clip_opinions: float | None = None,
    columns: Columns | None = None,
) -> Observations:
    """Read an event log (and its opinions table, in the as-of form) into Observations.

    rho, mu_plus and mu_minus are used where the log's metadata does not give them;
    `timezone` is the zone of naive timestamps (else they must not meet zoned ones);
    `clip_opinions` the float noise outside [0, 1] to clip (meta["notes"] counts it);
    `columns` the model's own columns to read beside the common ones.
    """
    path = Path(path)
    opinions_path = None if opinions_path is None else Path(opinions_path)
    log, schema, notes = _read_columns(path, opinions_path, timezone, clip_opinions, columns)
    extra, kinds = log.get("extra", {}), log.get("extra_kinds", {})
    id_columns = [c for c in extra if kinds[c] == "id"]
    sender, receiver, *more = _same_ids(log["sender"], log["receiver"],
                                        *(extra[c] for c in id_columns))  # fmt: skip
    both = np.concatenate([sender, receiver, *more])
    agent_ids, codes = sorted_codes(both)
    agent_ids, truth = _truth(path, schema, np.asarray(agent_ids))
    if agent_ids.size != codes.max() + 1:  # the truth's agents 0..n-1 include unseen ones
        codes = both.astype(np.int64)
    time = log["time"]
    values, rank = sorted_codes(time.values)
    span = {"kind": time.kind, "first": time.text(values[0]), "last": time.text(values[-1])}
    span |= {"distinct": int(values.size)} | ({"zone": time.zone} if time.zone else {})
    meta = {"source": str(path), "opinions": None if opinions_path is None else str(opinions_path)}
    meta |= {"time": span, "rho_from": "data" if "rho" in truth else "config", "notes": notes}
    meta |= truth.pop("meta", {})
    M = time.values.size
    for i, c in enumerate(id_columns):  # agent indices, as sender and receiver become
        extra[c] = codes[(2 + i) * M : (3 + i) * M]
    if columns is not None:
        truth["extra"] = columns.from_log(extra, str(path))
    return from_columns(
        rank,
        codes[:M],
        codes[M : 2 * M],
        log["sender_opinion"],
        log["receiver_opinion"],
        log["positive"],
        log["negative"],
        agent_ids,
        rho=truth.pop("rho", float(rho)),
        mu_plus=truth.pop("mu_plus", np.asarray(mu_plus, np.float32)),
        mu_minus=truth.pop("mu_minus", np.asarray(mu_minus, np.float32)),
        meta=meta,
        **truth,
    )


def read_roles(path: str | Path, agent_ids: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Known roles (agent, role: leader/follower or 1/0) aligned with agent_ids, and warnings.

    Every agent of the data needs a role (else ViOdError); agents the data do not have are
    left out with a warning (a roster may list people who never interacted).
    """
    path = Path(path)
    table = read_table(path, "a truth table")
    _require_columns(path, table, TRUTH_TABLE, "a truth table")
    agent = _convert(path, table, {"agent": ids})["agent"]
    role_col = _plain_or_raise(path, table.column("role"))
    words = pd.Series(_text(role_col.cast(pa.string()))).str.strip().str.lower()
    role = words.map(ROLE_NAMES)
    if role.isna().any():
        row = _first(role.isna().to_numpy())
        raise ViOdError(
            f"{path}: column 'role', row {row + 1}: {words[row]!r} is not leader/follower or 1/0"
        )
    twice = pd.Series(agent).duplicated().to_numpy()
    if twice.any():
        row = _first(twice)
        raise ViOdError(
            f"{path}: column 'agent', row {row + 1}: agent {_show(agent[row])} is listed twice"
        )
    key = lambda a: pd.Index(np.asarray(a).astype(str))  # 7 and "7" name one agent
    known = pd.Series(role.to_numpy(np.int8), index=key(agent))
    data = key(agent_ids)
    missing = data.difference(known.index, sort=False)
    if len(missing):
        raise ViOdError(
            f"{path}: no role for {len(missing)} of the data's {data.size} agents "
            f"(first: {missing[0]!r}); every agent needs one"
        )
    extra = known.index.difference(data, sort=False)
    notes = [
        f"{path}: {len(extra)} agent(s) not in the data left out (first: {extra[0]!r})"
    ] if len(extra) else []  # fmt: skip
    return known.loc[data].to_numpy(np.int8), notes


def _plain_or_raise(path: Path, col: pa.ChunkedArray) -> pa.ChunkedArray:
    try:
        return _plain(col)
    except BadRow as bad:
        raise ViOdError(f"{path}: column 'role', row {bad.row + 1}: {bad.message}") from None


def summary(obs: Observations) -> dict:
    """What `vi-od inspect` prints about an event log: size, time span, activity, truth."""
    received = obs.received()
    top = int(np.argmax(received))
    span = obs.meta.get("time", {})
    out = {
        "agents": obs.N,
        "interactions": obs.M,
        "distinct times": span.get("distinct", int(obs.time.max()) + 1),
        "first time": span.get("first", ""),
        "last time": span.get("last", ""),
        "times": span.get("kind", "") + (f" ({span['zone']})" if span.get("zone") else ""),
        "positive rate": float(obs.s_plus.mean()),
        "negative rate": float(obs.s_minus.mean()),
        "self-interactions (u == v)": int((obs.sender == obs.receiver).sum()),
        "most received by one agent": f"{int(received[top])} ({_show(obs.agent_ids[top])})",
        "median received per agent": float(np.median(received)),
        "agents that received none": int((received == 0).sum()),
    }
    if obs.meta.get("rho_from") == "data":
        out["rho"] = obs.rho
        for name in ("mu_plus", "mu_minus"):
            out[f"{name} [F, L]"] = "[{:g}, {:g}]".format(*getattr(obs, name).astype(float))
    if obs.roles is not None:
        out["leaders (truth)"] = int(obs.roles.sum())
    if obs.eps is not None:
        names = obs.meta.get("names") or truth_names(obs.meta.get("model", DEFAULT))
        out |= {f"{name} (truth)": float(e) for name, e in zip(names, obs.eps)}
    return out
