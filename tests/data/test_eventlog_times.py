"""Times read right: every text and typed form of the same instants joins the same way
(docs/data-and-errors.md).

The reproducer: 400 interactions over 20 agents at 37-minute steps from 2024-03-01 09:00;
each agent holds 0.2 from an hour before the first interaction and 0.9 from an hour after
the last, so every interaction must read 0.2. Before the fix, text times of one form and
typed times of another were compared in different units (us against ns): 0.9, exit 0.
"""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from vi_od.cli import app
from vi_od.data import load_observations
from vi_od.errors import ViOdError

runner = CliRunner()
START = pd.Timestamp("2024-03-01 09:00")
STEPS = [START + pd.Timedelta(minutes=37 * i) for i in range(400)]
BEFORE, AFTER = STEPS[0] - pd.Timedelta(hours=1), STEPS[-1] + pd.Timedelta(hours=1)

NAIVE_TEXT = {
    "iso": "%Y-%m-%dT%H:%M:%S",
    "space": "%Y-%m-%d %H:%M:%S",
    "basic": "%Y%m%dT%H%M%S",
    "fraction": "%Y-%m-%dT%H:%M:%S.%f",
}
ZONED_TEXT = {
    "Z": "%Y-%m-%dT%H:%M:%SZ",
    "+0000": "%Y-%m-%dT%H:%M:%S+0000",
    "+00:00": "%Y-%m-%dT%H:%M:%S+00:00",
    "basic+0000": "%Y%m%dT%H%M%S+0000",
}


def _column(stamps, form: str):
    """The instants written in one form: strftime text, or a typed Arrow timestamp column."""
    if form.startswith("typed"):
        _, unit, tz = form.split(":")
        array = pa.array([s.value for s in stamps], pa.int64()).cast(pa.timestamp("ns"))
        array = array.cast(pa.timestamp(unit))
        return array if tz == "naive" else array.cast(pa.timestamp(unit, "UTC"))
    fmt = {**NAIVE_TEXT, **ZONED_TEXT}[form]
    return [s.strftime(fmt) for s in stamps]


def _write(table: dict, path):
    """A table as CSV or Parquet, by the path's suffix (CSV takes text columns only)."""
    if path.suffix == ".csv":
        pd.DataFrame({k: v.to_pylist() if isinstance(v, pa.Array) else v
                      for k, v in table.items()}).to_csv(path, index=False)  # fmt: skip
    else:
        pq.write_table(pa.table(table), path)
    return path


def reproducer(tmp_path, log_form: str, book_form: str, suffix: str = ".csv"):
    """(events file, opinions file) of the issue's reproducer in the given time forms."""
    rng = np.random.default_rng(0)
    events = {
        "time": _column(STEPS, log_form),
        "sender": rng.integers(0, 20, 400),
        "receiver": rng.integers(0, 20, 400),
        "positive": np.ones(400, np.int8),
        "negative": np.zeros(400, np.int8),
    }
    book = {
        "agent": np.tile(np.arange(20), 2),
        "time": _column([BEFORE] * 20 + [AFTER] * 20, book_form),
        "opinion": np.repeat([0.2, 0.9], 20),
    }
    log_suffix = ".parquet" if log_form.startswith("typed") else suffix
    book_suffix = ".parquet" if book_form.startswith("typed") else suffix
    return (
        _write(events, tmp_path / f"events{log_suffix}"),
        _write(book, tmp_path / f"opinions{book_suffix}"),
    )


NAIVE = [*NAIVE_TEXT, "typed:s:naive", "typed:us:naive", "typed:ns:naive"]
ZONED = [*ZONED_TEXT, "typed:s:utc", "typed:ms:utc", "typed:ns:utc"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize(
    "log_form, book_form",
    [("iso", b) for b in NAIVE] + [(a, "iso") for a in NAIVE[1:]] + [("Z", b) for b in ZONED]
    + [(a, "+0000") for a in ZONED],
)  # fmt: skip
def test_every_form_of_the_same_instants_reads_the_opinion_before(
    tmp_path, log_form, book_form, suffix
):
    events, opinions = reproducer(tmp_path, log_form, book_form, suffix)
    obs = load_observations(events, opinions)
    assert obs.receiver_opinion.mean() == pytest.approx(0.2)
    assert obs.meta["time"]["first"].startswith("2024-03-01 09:00:00")


@pytest.mark.parametrize(
    "log_form, book_form",
    [("iso", "Z"), ("typed:s:naive", "+0000"), ("Z", "basic"), ("typed:ns:utc", "iso")],
)
def test_naive_beside_zoned_is_refused_naming_both(tmp_path, log_form, book_form):
    events, opinions = reproducer(tmp_path, log_form, book_form)
    with pytest.raises(ViOdError, match="no time zone but .* has one: .*--timezone") as err:
        load_observations(events, opinions)
    assert "2024-" in str(err.value) and "\n" not in str(err.value)


def test_timezone_reads_naive_times_in_that_zone(tmp_path):
    events, opinions = reproducer(tmp_path, "iso", "Z")
    assert load_observations(events, opinions, timezone="UTC").receiver_opinion.mean() == (
        pytest.approx(0.2)
    )
    # in UTC+3 the naive 09:00 is 06:00Z, before the opinions' 08:00Z: none known yet
    with pytest.raises(ViOdError, match="has no opinion at or before time 2024-03-01 06:00"):
        load_observations(events, opinions, timezone="+03:00")
    with pytest.raises(ViOdError, match="--timezone Mars/Olympus: unknown time zone"):
        load_observations(events, opinions, timezone="Mars/Olympus")


def test_offsets_are_instants_not_wall_clock(tmp_path):
    """Naive log times beside +01:00 opinion times were taken as UTC (56% shifted)."""
    (tmp_path / "events.csv").write_text(
        "time,sender,receiver,positive,negative\n2024-03-01T09:30:00+01:00,0,1,1,0\n"
    )
    (tmp_path / "opinions.csv").write_text(
        "agent,time,opinion\n0,2024-03-01T08:00:00Z,0.2\n1,2024-03-01T08:00:00Z,0.2\n"
        "0,2024-03-01T08:45:00Z,0.9\n1,2024-03-01T08:45:00Z,0.9\n"
    )  # 09:30+01:00 is 08:30Z: before the 0.9
    obs = load_observations(tmp_path / "events.csv", tmp_path / "opinions.csv")
    assert obs.receiver_opinion.tolist() == pytest.approx([0.2])


def test_naive_and_zoned_in_one_column_is_refused(tmp_path):
    (tmp_path / "events.csv").write_text(
        "time,sender,receiver,sender_opinion,receiver_opinion,positive,negative\n"
        "2024-03-01T09:00:00,0,1,0.1,0.2,1,0\n2024-03-01T09:00:00+01:00,1,0,0.1,0.2,1,0\n"
    )
    with pytest.raises(
        ViOdError,
        match=r"row 2: '2024-03-01T09:00:00' has no time zone but "
        r"'2024-03-01T09:00:00\+01:00' has one",
    ):
        load_observations(tmp_path / "events.csv")
    obs = load_observations(tmp_path / "events.csv", timezone="Europe/Paris")
    assert obs.time.tolist() == [0, 0]  # 09:00 in Paris in March is 09:00+01:00: one instant


def test_numbers_beside_timestamps_is_refused(tmp_path):
    events, opinions = reproducer(tmp_path, "iso", "iso")
    (tmp_path / "numbers.csv").write_text("agent,time,opinion\n0,1,0.2\n")
    with pytest.raises(ViOdError, match="holds integer times, the event log's are timestamp"):
        load_observations(events, tmp_path / "numbers.csv")


@pytest.mark.parametrize("text", ["inf", "1e400", "-inf"])
def test_infinite_number_times_are_refused(tmp_path, text):
    (tmp_path / "events.csv").write_text(
        "time,sender,receiver,sender_opinion,receiver_opinion,positive,negative\n"
        f"1,0,1,0.1,0.2,1,0\n{text},1,0,0.1,0.2,1,0\n"
    )
    with pytest.raises(ViOdError, match="column 'time', row 2: .* is not a time"):
        load_observations(tmp_path / "events.csv")


def test_timestamps_out_of_nanosecond_range_are_one_line(tmp_path):
    table = {"time": pa.array([0, 40_000_000_000], pa.timestamp("s")), "sender": [0, 1],
             "receiver": [1, 0], "sender_opinion": [0.1, 0.2], "receiver_opinion": [0.1, 0.2],
             "positive": [1, 0], "negative": [0, 0]}  # fmt: skip
    with pytest.raises(ViOdError, match="column 'time', row 2: .* outside the years"):
        load_observations(_write(table, tmp_path / "log.parquet"))


def test_inspect_shows_the_real_first_time_not_1970(tmp_path):
    events, opinions = reproducer(tmp_path, "basic", "iso")
    result = runner.invoke(app, ["inspect", str(events), "--opinions", str(opinions)])
    assert result.exit_code == 0, result.output
    assert "2024-03-01 09:00:00" in result.output and "1970" not in result.output
    assert "timestamp (naive)" in result.output
    mixed = reproducer(tmp_path, "iso", "Z")
    result = runner.invoke(app, ["inspect", str(mixed[0]), "--opinions", str(mixed[1])])
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    args = ["inspect", str(mixed[0]), "--opinions", str(mixed[1]), "--timezone", "UTC"]
    assert runner.invoke(app, args).exit_code == 0
