"""Fuzzing the event-log readers, as pandas and pyarrow fuzz theirs (docs/data-and-errors.md).

Hypothesis writes event logs and opinions tables (CSV or Parquet; random column orders,
dtypes, time forms and zones, ids with spaces or leading zeros, NaN/inf, duplicates, empty
tables) and asserts each read either raises vi-od's one-line ViOdError where the slow,
obviously-correct reference below says the data are bad, or returns exactly the reference's
observations where it says they are good. Bounded in `make test`; `-m slow` runs longer.
"""

import math
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from vi_od.data import load_observations
from vi_od.errors import ViOdError

BASE = datetime(2024, 3, 1, 9, 0, 0)  # naive forms: wall clock; zoned forms: UTC
BASE_EPOCH = 1709283600  # BASE in seconds since 1970, UTC
NAIVE = ("iso", "basic", "space", "typed-naive", "mixed-naive")
AWARE = ("zulu", "offset", "typed-utc", "mixed-aware")
NUMBERS = ("int", "float")
TIME_FORMS = NUMBERS + NAIVE + AWARE + ("mixed-zone",)
IDS = ("0", "1", "2", "7", "007", "a", "b")
BAD_OPINIONS = (math.nan, math.inf, -0.5, 1.5)


# ----------------------------------------------------------------------------- the reference


def zone_of(form: str, row: int) -> str | None:
    """How a value of this form says its time: None (a number), 'naive' or 'aware'."""
    if form in NUMBERS:
        return None
    if form == "mixed-zone":
        return "naive" if row % 2 == 0 else "aware"
    return "naive" if form in NAIVE else "aware"


def column_ok(form: str, n: int, timezone: str | None) -> bool:
    """Naive beside zoned times in one column needs a time zone."""
    return not (form == "mixed-zone" and n > 1 and timezone is None)


def reference(case: dict) -> list[tuple] | None:
    """The observations the files must give, by plain loops; None where they must be refused."""
    log, book, tz = case["log"], case["book"], case["timezone"]
    if not log or (case["as_of"] and not book):
        return None
    if any(r["positive"] not in (0, 1) or r["negative"] not in (0, 1) for r in log):
        return None
    if not column_ok(case["log_form"], len(log), tz):
        return None
    good = lambda x: math.isfinite(x) and 0 <= x <= 1
    rows = []
    if not case["as_of"]:
        if not all(good(r["sender_opinion"]) and good(r["receiver_opinion"]) for r in log):
            return None
        for r in log:
            rows.append((r["t"], r["sender"].strip(), r["receiver"].strip(), r["sender_opinion"],
                         r["receiver_opinion"], r["positive"], r["negative"]))  # fmt: skip
    else:
        if not column_ok(case["book_form"], len(book), tz):
            return None
        # a mixed-zone column that passed has one row (naive) or a time zone to read it in
        log_zone, book_zone = zone_of(case["log_form"], 0), zone_of(case["book_form"], 0)
        if (log_zone is None) != (book_zone is None):
            return None  # numbers beside timestamps
        if tz is None and log_zone != book_zone:
            return None  # naive beside zoned across the two files
        if not all(good(e["opinion"]) for e in book):
            return None
        seen = set()
        for e in book:
            key = (e["agent"].strip(), e["t"])
            if key in seen:
                return None  # two opinions of one agent at one time
            seen.add(key)
        for r in log:
            found = []
            for who in ("sender", "receiver"):
                latest = None
                for e in book:
                    if e["agent"].strip() == r[who].strip() and e["t"] <= r["t"]:
                        if latest is None or e["t"] > latest["t"]:
                            latest = e
                if latest is None:
                    return None  # no opinion at or before the interaction
                found.append(latest["opinion"])
            rows.append((r["t"], r["sender"].strip(), r["receiver"].strip(), *found,
                         r["positive"], r["negative"]))  # fmt: skip
    return sorted(rows, key=lambda row: row[0])  # stable: equal times keep file order


# ----------------------------------------------------------------------------- writing files


def time_text(form: str, t: int, row: int, offset: int) -> str:
    """Instant t (seconds after BASE, UTC for zoned forms) written in a text form."""
    if form == "int":
        return str(t)
    if form == "float":
        return repr(float(t))
    zone = zone_of(form, row)
    if form.startswith("mixed"):
        form = (
            ("iso", "basic", "space")[row % 3] if zone == "naive" else ("zulu", "offset")[row % 2]
        )
    form = {"typed-naive": "iso", "typed-utc": "zulu"}.get(form, form)
    when = BASE + timedelta(seconds=t)
    if form == "offset":
        local = when + timedelta(minutes=offset)
        sign, minutes = ("+" if offset >= 0 else "-"), abs(offset)
        return local.strftime("%Y-%m-%dT%H:%M:%S") + f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    fmt = {"iso": "%Y-%m-%dT%H:%M:%S", "basic": "%Y%m%dT%H%M%S", "space": "%Y-%m-%d %H:%M:%S",
           "zulu": "%Y-%m-%dT%H:%M:%SZ"}[form]  # fmt: skip
    return when.strftime(fmt)


def time_array(form: str, ts: list[int], offsets: list[int], unit: str) -> pa.Array:
    """A Parquet time column: typed timestamps, numbers, or text."""
    if form.startswith("typed"):
        seconds = pa.array([BASE_EPOCH + t for t in ts], pa.int64()).cast(pa.timestamp("s"))
        tz = "UTC" if form == "typed-utc" else None
        return seconds.cast(pa.timestamp(unit)).cast(pa.timestamp(unit, tz))
    if form == "int":
        return pa.array(ts, pa.int64())
    if form == "float":
        return pa.array([float(t) for t in ts], pa.float64())
    return pa.array([time_text(form, t, i, o) for i, (t, o) in enumerate(zip(ts, offsets))])


def write(path: Path, columns: dict, order: list[str], texts: dict) -> Path:
    """A table in the given column order: CSV from `texts`, Parquet from Arrow `columns`."""
    if path.suffix == ".csv":
        lines = [",".join(order)] + [",".join(row) for row in zip(*(texts[c] for c in order))]
        path.write_text("\n".join(lines) + "\n")
    else:
        pq.write_table(pa.table({c: columns[c] for c in order}), path)
    return path


def flag_text(value: int, style: str) -> str:
    return ("true" if value else "false") if style == "bool" and value in (0, 1) else str(value)


def id_array(values: list[str], numeric: bool) -> pa.Array:
    return pa.array([int(v) for v in values], pa.int64()) if numeric else pa.array(values)


def write_case(folder: Path, case: dict) -> tuple[Path, Path | None]:
    """The case's event log (and opinions table) as files."""
    log, book = case["log"], case["book"]
    numeric = case["numeric_ids"]
    log_cols = ["time", "sender", "receiver", "positive", "negative"]
    if not case["as_of"]:
        log_cols += ["sender_opinion", "receiver_opinion"]
    order = [log_cols[i] for i in case["log_order"] if i < len(log_cols)] + case["extra"]
    arrays = {
        "time": time_array(
            case["log_form"], [r["t"] for r in log], [r["offset"] for r in log], case["unit"]
        ),  # fmt: skip
        "sender": id_array([r["sender"] for r in log], numeric),
        "receiver": id_array([r["receiver"] for r in log], numeric),
        "positive": pa.array([r["positive"] for r in log], pa.int64()),
        "negative": pa.array([r["negative"] for r in log], pa.int8()),
        "sender_opinion": pa.array([r["sender_opinion"] for r in log], case["float_type"]),
        "receiver_opinion": pa.array([r["receiver_opinion"] for r in log], pa.float64()),
        "note": pa.array(["x"] * len(log)),
    }
    texts = {
        "time": [time_text(case["log_form"], r["t"], i, r["offset"]) for i, r in enumerate(log)],
        "sender": [r["sender"] for r in log],
        "receiver": [r["receiver"] for r in log],
        "positive": [flag_text(r["positive"], case["flags"]) for r in log],
        "negative": [flag_text(r["negative"], case["flags"]) for r in log],
        "sender_opinion": [repr(r["sender_opinion"]) for r in log],
        "receiver_opinion": [repr(r["receiver_opinion"]) for r in log],
        "note": ["x"] * len(log),
    }
    events = write(folder / f"events{case['log_suffix']}", arrays, order, texts)
    if not case["as_of"]:
        return events, None
    b_arrays = {
        "agent": id_array([e["agent"] for e in book], numeric),
        "time": time_array(
            case["book_form"], [e["t"] for e in book], [e["offset"] for e in book], case["unit"]
        ),  # fmt: skip
        "opinion": pa.array([e["opinion"] for e in book], pa.float64()),
    }
    b_texts = {
        "agent": [e["agent"] for e in book],
        "time": [time_text(case["book_form"], e["t"], i, e["offset"]) for i, e in enumerate(book)],
        "opinion": [repr(e["opinion"]) for e in book],
    }
    b_order = [("agent", "time", "opinion")[i] for i in case["book_order"]]
    return events, write(folder / f"opinions{case['book_suffix']}", b_arrays, b_order, b_texts)


# ----------------------------------------------------------------------------- the cases


@st.composite
def cases(draw) -> dict:
    """One event log (and opinions table) with its form, dtypes and contents."""
    numeric = draw(st.booleans())
    pool = [i for i in IDS if i.isdigit() and i == str(int(i))] if numeric else list(IDS)
    agent = st.sampled_from(pool)
    if not numeric:  # spaces around an id are the same agent, with a warning
        agent = st.tuples(agent, st.sampled_from(["", " "])).map(lambda p: p[1] + p[0])
    opinion = (
        st.one_of(st.floats(0, 1), st.sampled_from(BAD_OPINIONS))
        if draw(st.integers(0, 9)) == 0
        else st.floats(0, 1)
    )
    flag = st.sampled_from([0, 1]) if draw(st.integers(0, 9)) else st.sampled_from([0, 1, 2])
    times = st.integers(0, 40).map(lambda m: 60 * m)
    offsets = st.sampled_from([0, 60, -330, 120])
    log = draw(st.lists(st.fixed_dictionaries({
        "t": times, "offset": offsets, "sender": agent, "receiver": agent,
        "sender_opinion": opinion, "receiver_opinion": opinion,
        "positive": flag, "negative": flag,
    }), min_size=0 if draw(st.integers(0, 9)) == 0 else 1, max_size=8))  # fmt: skip
    as_of = draw(st.booleans())
    book = []
    if as_of:
        early = [{"agent": a, "t": 0, "offset": 0, "opinion": 0.5} for a in pool
                 if draw(st.integers(0, 15))]  # fmt: skip
        more = st.fixed_dictionaries(
            {"agent": agent, "t": times.filter(bool), "offset": offsets, "opinion": opinion}
        )
        book = draw(st.permutations(early + draw(st.lists(more, max_size=6))))
    parquet = lambda: draw(st.sampled_from([".csv", ".parquet"]))
    log_form = draw(st.sampled_from(TIME_FORMS))
    alike = next(group for group in (NUMBERS, NAIVE, AWARE, TIME_FORMS) if log_form in group)
    book_form = draw(st.sampled_from(alike if draw(st.integers(0, 3)) else TIME_FORMS))
    return {
        "log": log, "book": book, "as_of": as_of, "numeric_ids": numeric,
        "log_form": log_form, "book_form": book_form,
        "timezone": draw(st.sampled_from([None, None, "UTC"])),
        "unit": draw(st.sampled_from(["s", "ms", "us", "ns"])),
        "float_type": draw(st.sampled_from([pa.float32(), pa.float64()])),
        "flags": draw(st.sampled_from(["int", "bool"])),
        "log_order": draw(st.permutations(range(7))),
        "book_order": draw(st.permutations(range(3))),
        "extra": draw(st.sampled_from([[], ["note"]])),
        "log_suffix": parquet(), "book_suffix": parquet(),
    }  # fmt: skip


def check(case: dict) -> None:
    """The reader agrees with the reference: the same rows, or a one-line ViOdError."""
    with tempfile.TemporaryDirectory() as folder:
        events, opinions = write_case(Path(folder), case)
        want = reference(case)
        try:
            obs = load_observations(events, opinions, timezone=case["timezone"])
        except ViOdError as exc:
            assert "\n" not in str(exc)
            assert want is None, f"refused good data: {exc}"
            event(f"refused: {str(exc).split(': ', 1)[-1][:40]}")
            return
    assert want is not None, "accepted data the reference refuses"
    ids = np.asarray(obs.agent_ids).astype(str)
    opinions = obs.sender_opinion.tolist(), obs.receiver_opinion.tolist()
    got = list(zip(ids[obs.sender], ids[obs.receiver], *opinions, obs.s_plus.tolist(),
                   obs.s_minus.tolist()))  # fmt: skip
    f32 = lambda x: float(np.float32(x))
    assert got == [(s, r, f32(so), f32(ro), p, n) for _, s, r, so, ro, p, n in want]
    instants = [row[0] for row in want]
    ranks = [sorted(set(instants)).index(t) for t in instants]
    assert obs.time.tolist() == ranks
    event(f"read: {'as-of' if case['as_of'] else 'direct'}")


FAST = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
LONG = settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(cases())
def test_readers_agree_with_the_reference(case):
    check(case)


@pytest.mark.slow
@LONG
@given(cases())
def test_readers_agree_with_the_reference_long(case):
    check(case)
