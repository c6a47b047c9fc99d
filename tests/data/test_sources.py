"""Source readers: every format, timestamp format and column mapping, and the errors for unreadable files."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from elcrec_core.data.events_to_sequences import SequenceConfig
from elcrec_core.data.expectations import ExpectationConfig
from elcrec_core.data.files import SourceReadError, byte_copies
from elcrec_core.data.item_metadata import read_item_metadata
from elcrec_core.data.source_config import NORMALISED_SCHEMA, ColumnMap, ItemMetadataConfig, SourceConfig, resolve_files
from elcrec_core.data.sources import read_source
from elcrec_core.data.synthetic import SyntheticConfig
from elcrec_core.data.rejections import decimal_comma_note
from elcrec_core.data.validation import CUT_SHORT, RowRules, check_rows

T0 = datetime(2026, 3, 1, 12, 0, 0)  # 1772366400 epoch seconds
EPOCH0 = 1_772_366_400


def _write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def _events(frame: pl.DataFrame) -> list[tuple]:
    return frame.select("user_id", "item_id", "timestamp", "source_row").rows()


def test_csv_with_header_keeps_ids_as_given(tmp_path: Path) -> None:
    path = _write(tmp_path / "e.csv", f"uid,iid,ts\n007,A-1,{EPOCH0}\n u 8 ,\"b,2\",{EPOCH0 + 1}\n")
    frame = read_source(SourceConfig(format="csv", path=str(path), columns=ColumnMap("uid", "iid", "ts")))
    assert frame.schema == pl.Schema(NORMALISED_SCHEMA)
    assert _events(frame) == [("007", "A-1", T0, 2), (" u 8 ", "b,2", datetime(2026, 3, 1, 12, 0, 1), 3)]
    assert frame["source_file"].cast(pl.String).to_list() == [str(path.resolve())] * 2
    assert frame["error"].null_count() == 2


def test_tsv_without_header_and_other_delimiters(tmp_path: Path) -> None:
    tsv = _write(tmp_path / "e.tsv", f"u1\ti1\t{EPOCH0}\nu2\ti2\t{EPOCH0}\n")
    frame = read_source(SourceConfig(format="tsv", path=str(tsv), header=False,
                                     columns=ColumnMap("column0", "column1", "column2")))
    assert _events(frame) == [("u1", "i1", T0, 1), ("u2", "i2", T0, 2)]
    semi = _write(tmp_path / "e.txt", f"x;u1;i1;{EPOCH0 * 1000}\n")
    frame = read_source(SourceConfig(format="csv", path=str(semi), delimiter=";", header=False,
                                     names=("junk", "user", "item", "when"), timestamp_format="epoch_ms",
                                     columns=ColumnMap("user", "item", "when")))
    assert _events(frame) == [("u1", "i1", T0, 1)]


def test_rating_and_event_type_columns(tmp_path: Path) -> None:
    path = _write(tmp_path / "e.csv", f"u,i,t,r,kind\na,b,{EPOCH0},4.5,view\na,c,{EPOCH0},,buy\na,d,{EPOCH0},good,\n")
    frame = read_source(SourceConfig(format="csv", path=str(path), columns=ColumnMap("u", "i", "t", "r", "kind")))
    assert frame["rating"].to_list() == [4.5, None, None]
    assert frame["event_type"].to_list() == ["view", "buy", None]
    assert frame["error"].to_list() == [None, None, "bad_rating"]
    assert frame["detail"].to_list() == [None, None, "r: good"]  # the file's own column


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_file_over_duckdbs_8_mib_buffer_keeps_each_rows_line(tmp_path: Path, fmt: str) -> None:
    """A file over DuckDB's 8 MiB CSV buffer, with a rating read, came back from its parallel scan in another order,
    so every row was numbered as another's line: ties of time ordered by the wrong row, rejected rows named at
    another's line (helper-209, an Excel export of 200,000 rows). Each row's source_row is its line, in its order."""
    rows = 300_000  # about 9.6 MB as csv
    text = "".join(f"u{k % 97},item-{k:09d},{EPOCH0},5\n" if fmt == "csv" else
                   f'{{"user_id": "u{k % 97}", "item_id": "item-{k:09d}", "timestamp": {EPOCH0}, "rating": 5}}\n'
                   for k in range(rows))
    path = _write(tmp_path / f"big.{fmt}", ("user_id,item_id,timestamp,rating\n" if fmt == "csv" else "") + text)
    assert path.stat().st_size > 8 * 2**20
    frame = read_source(SourceConfig(format=fmt, path=str(path), columns=ColumnMap(rating="rating")))
    first = 2 if fmt == "csv" else 1  # after the header's line
    assert frame["item_id"].to_list() == [f"item-{k:09d}" for k in range(rows)]
    assert frame["source_row"].to_list() == list(range(first, first + rows))


@pytest.mark.parametrize(
    ("fmt", "raw", "expected"),
    [
        ("epoch_s", str(EPOCH0), T0),
        ("epoch_s", f"{EPOCH0}.5", datetime(2026, 3, 1, 12, 0, 0, 500000)),
        ("epoch_ms", str(EPOCH0 * 1000 + 250), datetime(2026, 3, 1, 12, 0, 0, 250000)),
        ("epoch_us", str(EPOCH0 * 1_000_000 + 250), datetime(2026, 3, 1, 12, 0, 0, 250)),
        ("iso8601", "2026-03-01T12:00:00Z", T0),
        ("iso8601", "2026-03-01 14:00:00+02:00", T0),
        ("iso8601", "2026-03-01T12:00:00", T0),
        ("iso8601", "2026-03-01", datetime(2026, 3, 1)),
        ("iso8601", "2026-03-01T23:59:00+11:59", datetime(2026, 3, 1, 12, 0, 0)),
        ("iso8601", "2026-03-01T12:00:00.5-0000", datetime(2026, 3, 1, 12, 0, 0, 500000)),
        ("iso8601", "2026-03-31", datetime(2026, 3, 31)),  # no time, no offset: -31 is the day
        ("iso8601", "2026-03-01T17:30:00.123456+05:30:00", datetime(2026, 3, 1, 12, 0, 0, 123456)),
        ("iso8601", "2026-03-01 12:00", T0),  # no seconds: a whole time
        ("iso8601", "2026-03-01 13:00:00 CET", T0),  # a zone's name
        ("iso8601", "2026-03-01t12:00:00z", T0),  # RFC 3339 allows lower case: DuckDB refused it
        ("iso8601", "2026-03-01T07:00:00 America/New_York", T0),
    ],
)
def test_timestamp_formats(tmp_path: Path, fmt: str, raw: str, expected: datetime) -> None:
    path = _write(tmp_path / "e.csv", f"user_id,item_id,timestamp\nu,i,{raw}\n")
    frame = read_source(SourceConfig(format="csv", path=str(path), timestamp_format=fmt))
    assert frame["timestamp"].to_list() == [expected]
    assert frame["error"].to_list() == [None]


@pytest.mark.parametrize(("fmt", "raw"), [("epoch_s", "soon"), ("epoch_s", "1e300"), ("epoch_s", "inf"),
                                          ("epoch_s", "1_000"), ("epoch_ms", "1_700_000_000_000"),
                                          ("iso8601", "2026-13-01"), ("iso8601", "yesterday"),
                                          # DuckDB's words and its years past Python's 1-9999: they were accepted,
                                          # and the load then failed without naming the file or the row
                                          ("iso8601", "epoch"), ("iso8601", "infinity"), ("iso8601", "-infinity"),
                                          ("iso8601", "-0044-03-15"), ("iso8601", "10000-01-01"),
                                          # offsets past 23:59 moved the time silently (+99:00 by four days)
                                          ("iso8601", "2026-01-01T10:00:00+99:00"),
                                          ("iso8601", "2026-01-01T10:00:00+02:75"),
                                          ("iso8601", "2026-01-01T10:00:00-99:99"),
                                          ("iso8601", "2026-01-01 10:00:00.5+2500"),
                                          ("iso8601", "2026-01-01T10:00+24"),
                                          ("iso8601", "2026-01-01T10:00:00+05:99:00"),
                                          ("iso8601", "2026-01-01T10:00:00+05:30:99"),
                                          ("iso8601", "2026-01-01 10:00:00 +99:00"),
                                          ("iso8601", "2026-01-01 10:00:00 + 0100"),
                                          # a time cut short (a file still being written) read as 09:00, 09:03
                                          # and 09:27:05 where 09:27:51+01:00 was meant
                                          ("iso8601", "2026-12-03T09:"), ("iso8601", "2026-12-03T09:3"),
                                          ("iso8601", "2026-12-03T09:27:5"), ("iso8601", "2026-12-03 09:27:51."),
                                          # a date cut short, read as 2026-01-02, 19 days before its file's day
                                          ("iso8601", "2026-01-2"), ("iso8601", "2026-1-21T10:00:00Z")])
def test_unparseable_timestamps_are_flagged_not_dropped(tmp_path: Path, fmt: str, raw: str) -> None:
    path = _write(tmp_path / "e.csv", f"user_id,item_id,timestamp\nu,i,{raw}\nu,i,\n")
    frame = read_source(SourceConfig(format="csv", path=str(path), timestamp_format=fmt))
    assert frame["error"].to_list() == ["bad_timestamp", "missing_timestamp"]
    said = " (its month 13 does not exist)" if raw == "2026-13-01" else ""  # of ISO 8601's form (helper-278)
    assert frame["detail"].to_list() == [f"timestamp: {raw}{said}", "timestamp is empty"]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_time_cut_short_before_its_offset_or_after_its_date_is_a_bad_timestamp(tmp_path: Path, fmt: str) -> None:
    """The last line of a file still being written, cut after its date or before its UTC offset, was read as
    midnight or as UTC (an hour off for +01:00), where the file's other times have both: such a last time, shorter
    than most of its file's, is a bad_timestamp. Other lines may mix forms (events of a day alone among timed ones);
    a zone name counts as an offset; a file of dates alone, or of times without offsets, reads as before; a last
    line rejected for another reason keeps it."""
    def read(values: list[str], users: list[str] | None = None) -> pl.DataFrame:
        rows = [{"user_id": (users or ["u"] * len(values))[n], "item_id": f"i{n}", "ts": t}
                for n, t in enumerate(values)]
        text = ("user_id,item_id,ts\n" + "".join(f"{r['user_id']},{r['item_id']},{r['ts']}\n" for r in rows)
                if fmt == "csv" else "".join(json.dumps(r) + "\n" for r in rows))
        path = _write(tmp_path / f"e.{fmt}", text)
        return read_source(SourceConfig(format=fmt, path=str(path), timestamp_format="iso8601",
                                        columns=ColumnMap(timestamp="ts"))).cast({"error": pl.String})
    timed = ["2026-12-03T09:27:51+01:00", "2026-12-03T10:00:00Z", "2026-12-03 11:00:00.5-02:00"]
    frame = read([*timed, "2026-12-03T09:27:51"])
    assert frame.select("error", "detail").rows() == [(None, None)] * 3 + [
        ("bad_timestamp", "ts: 2026-12-03T09:27:51 without a UTC offset, where most of the file's times have one: the "
                          "last line cut short?")]
    assert frame["timestamp"][:3].to_list() == [datetime(2026, 12, 3, 8, 27, 51), datetime(2026, 12, 3, 10),
                                                datetime(2026, 12, 3, 13, 0, 0, 500000)]
    dated = read([*timed, "2026-12-04", "2026-12-03T12:00:00", "2026-12-03"])  # a day alone, a time without offset
    assert dated.select("error", "detail").rows() == [(None, None)] * 5 + [
        ("bad_timestamp", "ts: 2026-12-03 (a date alone, where most of the file's times have a time of day: the last "
                          "line cut short?)")]
    assert read([*timed, "2026-12-03T12:00:00 UTC"])["error"].to_list() == [None] * 4  # a zone: an offset
    local = read(["2026-12-03 09:00:00", "2026-12-03T10:00:00", "2026-12-03"])  # no offsets: a date alone is cut
    assert local["error"].to_list() == [None, None, "bad_timestamp"]
    assert read(["2026-12-03", "2026-12-04", "2026-12-04T10:00:00+01:00"])["error"].to_list() == [None] * 3
    assert read(["2026-12-03T09:00:00", "2026-12-03T10:00:00", "2026-12-03T11:00:00Z"])["error"].to_list() == [
        None] * 3  # most without an offset: those are the file's form
    assert read([*timed, "2026-12-03"], users=["u", "u", "u", " "])["error"].to_list() == [None] * 3 + [
        "missing_user"]
    if fmt == "csv":  # a time cut inside its hours, with no line end after it: the detail says where (helper-186)
        path = _write(tmp_path / "cut.csv", "user_id,item_id,ts\nu,a,2026-11-29T21:40:00Z\nu,b,2026-11-29T21:4")
        cut = read_source(SourceConfig(format="csv", path=str(path), timestamp_format="iso8601",
                                       columns=ColumnMap(timestamp="ts")))
        assert cut["detail"].to_list()[-1].startswith("ts: 2026-11-29T21:4") and cut["detail"][-1].endswith(
            " (on the last line, which has no line end: the file cut short?)")
        _write(path, "user_id,item_id,ts\nu,a,2026-11-29T21:40:00Z\nu,b,2026-11-29T21:4\n")  # a line end: no guess
        assert "cut short" not in read_source(SourceConfig(format="csv", path=str(path), timestamp_format="iso8601",
                                                           columns=ColumnMap(timestamp="ts")))["detail"][-1]
        # nor where other lines' times are of its form: a form of the file, no cut (helper-195: each "4,5" rating)
        _write(path, "user_id,item_id,ts,r\nu,a,2026-11-29T21:4,4\nu,b,2026-11-29T21:40:00Z,\"4,5\"\n"
                     "u,c,2026-11-29T21:4,\"3,5\"")
        rows = read_source(SourceConfig(format="csv", path=str(path), timestamp_format="iso8601",
                                        columns=ColumnMap(timestamp="ts", rating="r")))
        assert rows["detail"].to_list() == ["ts: 2026-11-29T21:4", "r: 4,5", "ts: 2026-11-29T21:4"]
        _write(path, "user_id,item_id,ts,r\nu,a,2026-11-29T21:40:00Z,4\nu,b,2026-11-29T21:41:00Z,\"4,5\"")
        rows = read_source(SourceConfig(format="csv", path=str(path), timestamp_format="iso8601",
                                        columns=ColumnMap(timestamp="ts", rating="r")))
        assert rows["detail"].to_list() == [None, "r: 4,5" + CUT_SHORT]  # alone: a cut "4,5x"? it may be
        rejected = rows.rename({"error": "reason"}).cast({"reason": pl.String})
        assert decimal_comma_note(rejected).startswith("1 of the 1 bad_rating rows hold a number with a decimal comma "
                                                       "(4,5)")  # its value, not the note's end (none: helper-195)


def test_an_iso_time_with_a_space_before_its_offset_is_read(tmp_path: Path) -> None:
    """git's and Ruby's times (``2026-12-03 10:00:00 +0100``) were bad timestamps: DuckDB reads no space there."""
    times = ["2026-12-03 10:00:00 +0100", "2026-12-03 10:00:00 -05:30", "2026-12-03T10:00:00.5 +01"]
    lines = "".join(f"u,i{n},{t}\n" for n, t in enumerate(times))
    path = _write(tmp_path / "e.csv", f"user_id,item_id,timestamp\n{lines}")
    frame = read_source(SourceConfig(format="csv", path=str(path), timestamp_format="iso8601"))
    assert frame["error"].to_list() == [None] * 3
    assert frame["timestamp"].to_list() == [datetime(2026, 12, 3, 9), datetime(2026, 12, 3, 15, 30),
                                            datetime(2026, 12, 3, 9, 0, 0, 500000)]


def test_a_rating_with_a_digit_separator_is_a_bad_rating(tmp_path: Path) -> None:
    path = _write(tmp_path / "e.csv", "user_id,item_id,timestamp,rating\nu,i,1,1_0\nu,j,2,4\n")
    frame = read_source(SourceConfig(format="csv", path=str(path), columns=ColumnMap(rating="rating")))
    assert frame.select("rating", "error", "detail").rows() == [(None, "bad_rating", "rating: 1_0"), (4.0, None, None)]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_bad_value_is_named_by_the_files_own_column(tmp_path: Path, fmt: str) -> None:
    """bad_timestamp and bad_rating said "timestamp: x" and "rating: y" where the file's columns are ts and stars,
    while missing_user named the file's column."""
    rows = [{"customer": "u", "sku": "i", "ts": "not-a-time", "stars": "4"},
            {"customer": "u", "sku": "j", "ts": "2", "stars": "four"}]
    text = ("customer,sku,ts,stars\n" + "".join(",".join(row.values()) + "\n" for row in rows) if fmt == "csv"
            else "".join(json.dumps(row) + "\n" for row in rows))
    path = _write(tmp_path / f"e.{fmt}", text)
    columns = ColumnMap(user="customer", item="sku", timestamp="ts", rating="stars")
    frame = read_source(SourceConfig(format=fmt, path=str(path), columns=columns))
    assert frame.select("error", "detail").rows() == [("bad_timestamp", "ts: not-a-time"),
                                                      ("bad_rating", "stars: four")]


def test_parquet_times_outside_the_years_1_to_9999_are_bad_timestamps(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "e.parquet"
    far = -62_135_596_800_000 - 10**15  # milliseconds: the year 31689 BC, which Python's datetime cannot hold
    pq.write_table(pa.table({"user_id": ["u", "u"], "item_id": ["i", "j"],
                             "timestamp": pa.array([EPOCH0 * 1000, far], pa.timestamp("ms"))}), path)
    check = check_rows(read_source(SourceConfig(format="parquet", path=str(path))))
    assert check.accepted["item_id"].to_list() == ["i"]
    assert check.rejected.select("item_id", "reason").cast({"reason": pl.String}).rows() == [("j", "bad_timestamp")]


@pytest.mark.parametrize("timestamp_format", ["epoch_ms", "iso8601"])
def test_a_parquet_part_whose_columns_hold_no_value_loads_its_rows(tmp_path: Path, timestamp_format: str) -> None:
    """An empty hour written by pandas or polars (every column of type null), and a part whose times are all
    missing: 'timestamp column is "NULL", not an epoch number' refused the day's whole load (helper-238). The empty
    one has no row; the other's rows are missing_timestamp, each with its detail, and its ratings are none."""
    parts = tmp_path / "2026-11-28"
    parts.mkdir()
    pl.DataFrame({"user": [], "item": [], "ts": [], "stars": []}).write_parquet(parts / "part-09.parquet")
    pl.DataFrame({"user": ["u1", "u2"], "item": ["m1", "m2"], "ts": [None, None],
                  "stars": [None, None]}).write_parquet(parts / "part-10.parquet")
    pl.DataFrame({"user": ["u1"], "item": ["m3"], "ts": [EPOCH0 * 1000 if timestamp_format == "epoch_ms" else
                                                         "2026-11-28T10:00:00Z"],
                  "stars": [4.0]}).write_parquet(parts / "part-11.parquet")
    columns = ColumnMap(user="user", item="item", timestamp="ts", rating="stars")
    check = check_rows(read_source(SourceConfig(format="parquet", path=str(parts), columns=columns,
                                                timestamp_format=timestamp_format)))
    assert check.accepted.select("item_id", "rating").rows() == [("m3", 4.0)]
    rejected = check.rejected.select("source_file", "source_row", "reason", "detail").cast({"reason": pl.String})
    assert rejected.rows() == [
        (str(parts / "part-10.parquet"), 1, "missing_timestamp", "ts is empty"),
        (str(parts / "part-10.parquet"), 2, "missing_timestamp", "ts is empty")]


@pytest.mark.parametrize("zone", [None, "UTC"])
def test_parquet_nanosecond_times_are_cut_to_the_microsecond(tmp_path: Path, zone: str | None) -> None:
    """As ISO text is read: DuckDB's cast rounded 23:59:59.9999999 to the next day's midnight (helper-130), and
    two events 100 ns apart into one time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "e.parquet"
    last = 1_767_657_599_999_999_900  # 2026-01-05 23:59:59.9999999 UTC
    pq.write_table(pa.table({"user_id": ["u"] * 3, "item_id": ["i", "j", "k"],
                             "timestamp": pa.array([last, last - 500, -100], pa.timestamp("ns", tz=zone))}), path)
    frame = read_source(SourceConfig(format="parquet", path=str(path)))
    assert frame["timestamp"].to_list() == [datetime(2026, 1, 5, 23, 59, 59, 999999),
                                            datetime(2026, 1, 5, 23, 59, 59, 999999),
                                            datetime(1969, 12, 31, 23, 59, 59, 999999)]


def test_malformed_lines_become_rows_with_their_line_number(tmp_path: Path) -> None:
    path = _write(tmp_path / "e.csv", f"user_id,item_id,timestamp,note\nu1,i1,{EPOCH0},a\nu2,i2\n\n"
                                      f"u3,i3,{EPOCH0},b,extra\nu4,i4,{EPOCH0},\"a note\nover two lines\"\n"
                                      f"u5,i5,{EPOCH0},c\n")
    frame = read_source(SourceConfig(format="csv", path=str(path))).sort("source_row")
    assert frame.select("source_row", "error", "item_id").rows() == [
        (2, None, "i1"), (3, "malformed_line", "i2"), (5, "malformed_line", None), (6, None, "i4"), (8, None, "i5"),
    ]  # a line of too few fields keeps the ids it has (helper-278)
    assert frame["detail"].to_list()[1:3] == ["a line with 2 of 4 fields: u2,i2",
                                              f"TOO MANY COLUMNS: u3,i3,{EPOCH0},b,extra"]


def test_mixed_line_ends_and_bad_encoding(tmp_path: Path) -> None:
    path = _write(tmp_path / "e.csv", f"user_id,item_id,timestamp\r\nu1,i1,{EPOCH0}\nu2,\xff\xfe,{EPOCH0}\r\n".encode(
        "latin-1"))
    frame = read_source(SourceConfig(format="csv", path=str(path))).sort("source_row")
    assert frame.select("source_row", "user_id", "error").rows() == [(2, "u1", None), (3, None, "malformed_line")]
    assert frame["detail"][1].startswith("INVALID ENCODING")


@pytest.mark.parametrize("first", ["\n", "\r\n"])
def test_mixed_line_ends_after_an_empty_first_line(tmp_path: Path, first: str) -> None:
    # DuckDB's strict reader read no record at all from such a file, without an error
    path = _write(tmp_path / "e.csv", f"{first}user_id,item_id,timestamp\r\nu1,i1,{EPOCH0}\nu2,i2,{EPOCH0}\r\n"
                                      f"u3,i3,{EPOCH0}\n")
    frame = read_source(SourceConfig(format="csv", path=str(path))).sort("source_row")
    assert frame.select("source_row", "user_id", "item_id", "error").rows() == [
        (3, "u1", "i1", None), (4, "u2", "i2", None), (5, "u3", "i3", None)]


@pytest.mark.parametrize("header", [True, False])
def test_a_file_with_cr_line_ends_only(tmp_path: Path, header: bool) -> None:
    """Old Mac exports end lines with a CR alone: DuckDB reads them, but the header was read up to the first LF
    (the whole file) and refused as 'new-line character seen in unquoted field'."""
    lines = ["user_id,item_id,timestamp"] * header + [f"u1,i1,{EPOCH0}", f"u2,i2,{EPOCH0 + 1}"]
    path = _write(tmp_path / "e.csv", "\r".join(lines) + "\r")
    names = None if header else ("user_id", "item_id", "timestamp")
    frame = read_source(SourceConfig(format="csv", path=str(path), header=header, names=names))
    first = 1 + header
    assert _events(frame) == [("u1", "i1", T0, first), ("u2", "i2", datetime(2026, 3, 1, 12, 0, 1), first + 1)]


def test_a_quoted_record_over_several_lines_longer_than_the_limit_is_refused(tmp_path: Path) -> None:
    """Each of its lines is within max_line_bytes, the record is not: DuckDB rejects it without a column, and
    reading its reject crashed (AttributeError). It is refused as one long line is, naming its lines."""
    field = "\n".join(("a" * 30, "b" * 36, "c" * 28))
    text = f'user_id,item_id,timestamp,note\nu0,i0,{EPOCH0},a\nu1,i1,{EPOCH0},"{field}"\nu2,i2,{EPOCH0},b\n'
    path = _write(tmp_path / "e.csv", text)
    with pytest.raises(SourceReadError, match=r"lines 3-5: a record over 3 lines is longer than the limit of 60 "
                                              r"bytes \(max_line_bytes\)"):
        read_source(SourceConfig(format="csv", path=str(path), max_line_bytes=60))
    frame = read_source(SourceConfig(format="csv", path=str(path), max_line_bytes=200))
    assert frame.select("user_id", "source_row").rows() == [("u0", 2), ("u1", 3), ("u2", 6)]


def test_whole_numbers_of_a_float_id_column_read_as_integers(tmp_path: Path) -> None:
    """pandas writes an integer id column with a missing value as floats: the ids read "7.0", which matched no
    item metadata (its ids "7") and went out as "7.0" in the recommendations. A whole number reads as an integer
    in the events and in the item metadata alike; other floats keep their text. NaN and infinity are no id: they
    read as missing (they read "nan", one user of every such row, or one item)."""
    events = tmp_path / "e.parquet"
    pl.DataFrame({"user_id": [1.0, 2.5, 3.0], "item_id": [7.0, 1e17, float("nan")],
                  "timestamp": [EPOCH0] * 3}).write_parquet(events)
    assert read_source(SourceConfig(format="parquet", path=str(events))).select("user_id", "item_id").rows() == [
        ("1", "7"), ("2.5", "1e+17"), ("3", None)]  # 1e17 is past the floats that hold every integer exactly
    pl.DataFrame({"user_id": ["a", "b"], "item_id": [7.0, float("nan")], "timestamp": [EPOCH0] * 2}).write_parquet(
        events)  # DuckDB cast the NaN to an integer here, and the whole file was refused
    assert read_source(SourceConfig(format="parquet", path=str(events)))["item_id"].to_list() == ["7", None]
    pl.DataFrame({"user_id": [float("nan"), float("-inf"), 1.0], "item_id": ["a", "b", "c"],
                  "timestamp": [EPOCH0] * 3}).write_parquet(events)
    check = check_rows(read_source(SourceConfig(format="parquet", path=str(events))))
    assert check.rejected["reason"].cast(pl.String).to_list() == ["missing_user"] * 2 and len(check.accepted) == 1
    # the same frame as JSON Lines (pandas' to_json): numbers read as in Parquet; a JSON string is text as written
    lines = tmp_path / "e.jsonl"
    lines.write_text("".join(f'{{"user_id": {u}, "item_id": {i}, "timestamp": {EPOCH0}}}\n' for u, i in (
        ("1.0", "7.0"), ("2.5", "1e17"), ("3", "1e1"), ("4.0", '"7.0"'), ("5", "123456789012345678901234"),
        ("5", "123456789012345678901235"), ("NaN", '"x"'), ("-Infinity", "1e400"))))  # past 2^64: DOUBLE
    assert read_source(SourceConfig(format="jsonl", path=str(lines))).select("user_id", "item_id").rows() == [
        ("1", "7"), ("2.5", "100000000000000000.0"), ("3", "10"), ("4", "7.0"), ("5", "123456789012345678901234"),
        ("5", "123456789012345678901235"), (None, "x"), (None, "1e400")]  # past the doubles: its text
    # fractions with more digits than a double holds keep the line's text: two Google Analytics client ids were one
    # visitor, 1234567890.17, and 1.000000000000000001 was the item 1 (helper-172)
    # (20 digits past the point too, and a whole number past 2^53 written with .0 is the one written without;
    # trailing zeros of a fraction are no digits: helper-174)
    lines.write_text("".join(f'{{"visitor": {u}, "sku": {i}, "ts": {EPOCH0}}}\n' for u, i in (
        ("1234567890.1700000001", "1.000000000000000001"), ("1234567890.1700000002", "2.50"),
        ("1234567890.17", "7.0"), ("-0.12345678901234567890", "0.5"), ("1234567890.17000000000000000001", "1.5e3"),
        ("1234567890.1700000010", "12345678901234567.0"), ("1234567890.170000001", "12345678901234567"))) +
        f'{{"ctx": {{"visitor": 1}}, "visitor": 1.23456789012345678, "sku": 1, "ts": {EPOCH0}}}\n')  # named twice:
    read = read_source(SourceConfig(format="jsonl", path=str(lines),  # the double's text
                                    columns=ColumnMap("visitor", "sku", "ts")))
    assert read.select("user_id", "item_id").rows() == [
        ("1234567890.1700000001", "1.000000000000000001"), ("1234567890.1700000002", "2.5"), ("1234567890.17", "7"),
        ("-0.1234567890123456789", "0.5"), ("1234567890.17000000000000000001", "1500"),
        ("1234567890.170000001", "12345678901234567"), ("1234567890.170000001", "12345678901234567"),
        ("1.2345678901234567", "1")]
    items = tmp_path / "items.parquet"
    pl.DataFrame({"item_id": [7.0, None, 9.5, float("inf")], "title": ["a", "b", "c", "d"]}).write_parquet(items)
    stored, rejected = read_item_metadata(ItemMetadataConfig(path=str(items), categories=None))
    assert stored.select("item_id", "title").rows() == [("7", "a"), ("9.5", "c")]
    assert rejected.select("source_row", "reason").rows() == [(2, "missing_item"), (4, "missing_item")]


def test_whole_numbers_of_a_decimal_id_column_read_as_integers(tmp_path: Path) -> None:
    """A DECIMAL(10, 2) id 7 read "7.00": another user or item than the 7 of an integer or float column, and no
    item metadata joined. Whole numbers read as integers, in the events and the item metadata; others as written."""
    from decimal import Decimal

    ids = pl.Series([Decimal("7.00"), Decimal("2.50"), Decimal("-3.00")], dtype=pl.Decimal(10, 2))
    events = tmp_path / "e.parquet"
    pl.DataFrame({"user_id": ids, "item_id": ids, "timestamp": [EPOCH0] * 3}).write_parquet(events)
    assert read_source(SourceConfig(format="parquet", path=str(events))).select("user_id", "item_id").rows() == [
        ("7", "7"), ("2.50", "2.50"), ("-3", "-3")]
    items = tmp_path / "items.parquet"
    pl.DataFrame({"item_id": ids, "title": ["a", "b", "c"]}).write_parquet(items)
    stored, _ = read_item_metadata(ItemMetadataConfig(path=str(items), categories=None))
    assert stored.select("item_id", "title").rows() == [("7", "a"), ("2.50", "b"), ("-3", "c")]


def test_decimal_epoch_times_and_ratings_are_read_as_numbers(tmp_path: Path) -> None:
    """A DECIMAL(13, 3) column of epoch seconds (a warehouse export's type for times to the millisecond) refused the
    file ("timestamp column is DECIMAL(13,3), not an epoch number"); it reads as the same times as a float column."""
    from decimal import Decimal

    times = [Decimal("1772366400.250"), Decimal("1772366401.000")]
    path = tmp_path / "e.parquet"
    pl.DataFrame({"user_id": ["u", "u"], "item_id": ["a", "b"], "timestamp": pl.Series(times, dtype=pl.Decimal(13, 3)),
                  "rating": pl.Series([Decimal("4.5"), Decimal("2.0")], dtype=pl.Decimal(2, 1))}).write_parquet(path)
    frame = read_source(SourceConfig(format="parquet", path=str(path), columns=ColumnMap(rating="rating")))
    assert frame["timestamp"].to_list() == [datetime(2026, 3, 1, 12, 0, 0, 250000), datetime(2026, 3, 1, 12, 0, 1)]
    assert frame["rating"].to_list() == [4.5, 2.0]
    millis = tmp_path / "ms.parquet"
    stamp = pl.Series([Decimal("1772366400250")], dtype=pl.Decimal(15, 0))
    pl.DataFrame({"user_id": ["u"], "item_id": ["a"], "timestamp": stamp}).write_parquet(millis)
    assert read_source(SourceConfig(format="parquet", path=str(millis), timestamp_format="epoch_ms"))[
        "timestamp"].to_list() == [datetime(2026, 3, 1, 12, 0, 0, 250000)]


def test_binary_parquet_ids_read_as_their_text_in_events_and_item_metadata(tmp_path: Path) -> None:
    """Text stored as Parquet binary (no UTF-8 annotation): the events read b"caf\\xc3\\xa9" as the escaped bytes
    'caf\\xC3\\xA9', the item metadata as 'café', so titles never joined their items, nor the CSV's ids."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    events, items = tmp_path / "e.parquet", tmp_path / "items.parquet"
    pq.write_table(pa.table({"user_id": pa.array([b"caf\xc3\xa9", b"caf\xe9"], pa.binary()),
                             "item_id": pa.array([b"caf\xc3\xa9", b"x"], pa.large_binary()),
                             "timestamp": [EPOCH0] * 2}), events)
    assert read_source(SourceConfig(format="parquet", path=str(events))).select("user_id", "item_id").rows() == [
        ("café", "café"), ("caf\\xE9", "x")]  # bytes that are no UTF-8: as DuckDB spells them, in both readers
    pq.write_table(pa.table({"item_id": pa.array([b"caf\xc3\xa9", b"caf\xe9"], pa.binary()), "title": ["A", "B"]}),
                   items)
    stored, _ = read_item_metadata(ItemMetadataConfig(path=str(items), categories=None))
    assert stored.select("item_id", "title").rows() == [("café", "A"), ("caf\\xE9", "B")]


def test_parquet_with_typed_columns(tmp_path: Path) -> None:
    path = tmp_path / "e.parquet"
    pl.DataFrame({
        "user": [7, 8], "item": [70, 80], "at": [T0, None], "stars": [5.0, 1.0],
    }).write_parquet(path)
    columns = ColumnMap("user", "item", "at", "stars")
    frame = read_source(SourceConfig(format="parquet", path=str(path), columns=columns))
    assert _events(frame) == [("7", "70", T0, 1), ("8", "80", None, 2)]
    assert frame["error"].to_list() == [None, "missing_timestamp"]
    assert frame["rating"].to_list() == [5.0, 1.0]
    epochs = tmp_path / "ms.parquet"
    pl.DataFrame({"user_id": ["a"], "item_id": ["b"], "timestamp": [EPOCH0 * 1000]}).write_parquet(epochs)
    assert read_source(SourceConfig(format="parquet", path=str(epochs), timestamp_format="epoch_ms"))[
        "timestamp"].to_list() == [T0]


def test_jsonl_with_malformed_lines(tmp_path: Path) -> None:
    lines = [json.dumps({"u": 1, "i": "x", "t": "2026-03-01T12:00:00Z", "kind": "click"}), "{not json", "[1, 2]", "",
             json.dumps({"u": None, "i": "y", "t": "2026-03-01T12:00:00Z"})]
    path = _write(tmp_path / "e.jsonl", "\n".join(lines) + "\n")
    frame = read_source(SourceConfig(format="jsonl", path=str(path), timestamp_format="iso8601",
                                     columns=ColumnMap("u", "i", "t", event_type="kind")))
    assert frame.select("source_row", "user_id", "item_id", "event_type", "error").rows() == [
        (1, "1", "x", "click", None), (2, None, None, None, "malformed_line"), (3, None, None, None, "malformed_line"),
        (5, None, "y", None, "missing_user"),
    ]
    assert frame["detail"][3] == "u is empty"  # the configured key, not the field's name
    # a key that the object lacks read "i is empty" too, as if its value were empty (a key renamed upstream)
    lacking = _write(tmp_path / "lacking.jsonl", "".join(json.dumps(row) + "\n" for row in (
        {"u": 1, "i": "x", "t": "2026-03-01T12:00:00Z"}, {"u": 2, "t": "2026-03-01T12:00:00Z"},
        {"i": "y", "t": "2026-03-01T12:00:00Z"}, {"u": 3, "i": "z"}, {"u": 4, "i": None, "t": "2026-03-01T12:00:00Z"})))
    read = read_source(SourceConfig(format="jsonl", path=str(lacking), timestamp_format="iso8601",
                                    columns=ColumnMap("u", "i", "t")))
    assert read.select("error", "detail").rows() == [
        (None, None), ("missing_item", 'i is no key of the object: {"u": 2, "t": "2026-03-01T12:00:00Z"}'),
        ("missing_user", 'u is no key of the object: {"i": "y", "t": "2026-03-01T12:00:00Z"}'),
        ("missing_timestamp", 't is no key of the object: {"u": 3, "i": "z"}'), ("missing_item", "i is empty")]
    # a file written as one JSON array (pretty-printed, 142 rejected lines a file) said only "not a JSON object: ["
    assert frame["detail"][:3].to_list() == [None, "not a JSON object: {not json", "a JSON array, not an object "
                                             "(JSON Lines holds one object a line; a file that is one JSON array is "
                                             "no JSON Lines): [1, 2]"]


def test_jsonl_keys_of_nested_objects_are_named_with_dots(tmp_path: Path) -> None:
    """A clickstream's product id inside an object, ``{"product": {"id": 5001}}``, could not be named: ``product.id``
    was 'no column(s) ['product.id'] (keys of no line)' (helper-259). A name with dots that no line has as a key
    reads the nested key; one that a line has (pandas' json_normalize writes ``product.id``) reads that key."""
    t = "2026-03-01T12:00:00Z"
    rows = ['{"u": 1, "product": {"id": 5001, "name": "Mug"}, "ev": {"at": "%s"}}' % t,
            '{"u": "2", "product": {"id": "5002"}, "ev": {"at": "%s"}}' % t,
            '{"u": 3, "product": {"id": 7.0}, "ev": {"at": "%s"}}' % t,  # pandas' float ids: 7
            '{"u": 4, "product": null, "ev": {"at": "%s"}}' % t,
            '{"u": 5, "product": {"name": "Pen"}, "ev": {"at": "%s"}}' % t,
            '{"u": 6, "product": {"id": {"sku": 1}}, "ev": {"at": "%s"}}' % t,
            '{"u": 7, "product": {"id": 1, "id": 2}, "ev": {"at": "%s"}}' % t]
    path = _write(tmp_path / "e.jsonl", "\n".join(rows) + "\n")
    frame = read_source(SourceConfig(format="jsonl", path=str(path), timestamp_format="iso8601",
                                     columns=ColumnMap("u", "product.id", "ev.at")))
    assert frame.select("user_id", "item_id", "timestamp", "error").rows()[:3] == [
        ("1", "5001", T0, None), ("2", "5002", T0, None), ("3", "7", T0, None)]
    assert frame.select("error", "detail").rows()[3:] == [
        ("missing_item", "product.id is no key of the object: " + rows[3]),
        ("missing_item", "product.id is no key of the object: " + rows[4]),
        ("malformed_line", "product.id is a JSON object or array, not an id: " + rows[5]),
        ("malformed_line", "product.id is a key of the object more than once: " + rows[6])]
    flat = _write(tmp_path / "flat.jsonl", json.dumps({"u": 1, "product.id": "a", "product": {"id": "b"}, "t": t}))
    assert read_source(SourceConfig(format="jsonl", path=str(flat), timestamp_format="iso8601", columns=ColumnMap(
        "u", "product.id", "t")))["item_id"].to_list() == ["a"]
    with pytest.raises(SourceReadError, match=r"no column\(s\) \['product\.sku'\] \(keys of no line\); the file has "
                                              r"\['u', 'product', 'ev'\] \(the keys of its first object; a key of a "
                                              r"nested object is named with dots, product\.id\)"):
        read_source(SourceConfig(format="jsonl", path=str(path), columns=ColumnMap("u", "product.sku", "ev.at")))


def test_a_json_number_id_and_the_string_of_its_digits_are_one_id(tmp_path: Path) -> None:
    """A clickstream's export writes a user's id as 123 on some lines and "123" on others: one user, as README says
    (ids are text; a string keeps its text, so "0123" and "123.0" stay other ids) (helper-259)."""
    t = "2026-03-01T12:00:00Z"
    path = _write(tmp_path / "e.jsonl", "".join(json.dumps({"u": u, "i": "a", "t": t}) + "\n"
                                                for u in (123, "123", 123.0, "0123", "123.0")))
    frame = read_source(SourceConfig(format="jsonl", path=str(path), timestamp_format="iso8601",
                                     columns=ColumnMap("u", "i", "t")))
    assert frame["user_id"].to_list() == ["123", "123", "123", "0123", "123.0"]


def test_json_objects_glued_on_one_line_say_how_that_comes_about(tmp_path: Path) -> None:
    """Two exports joined (cat), the first without a line end at its end: the line holding the first's last object
    and the second's first said only "not a JSON object"; it now names what happened. A cut-short object whose text
    holds "} {" is no such line."""
    first, second = (json.dumps({"u": u, "i": "x", "t": "2026-03-01T12:00:00Z"}) for u in (1, 2))
    path = _write(tmp_path / "e.jsonl", f"{first}\n{first}{second}\n{first} {second}\n" + first[:-1]
                  + ', "note": "a } { b"\n')
    frame = read_source(SourceConfig(format="jsonl", path=str(path), timestamp_format="iso8601",
                                     columns=ColumnMap("u", "i", "t")))
    glued = ("JSON objects one after another on a line, not one object (a file without a line end at its end joined "
             "with the next?): ")
    assert frame.select("error", "detail").rows() == [
        (None, None), ("malformed_line", glued + first + second), ("malformed_line", f"{glued}{first} {second}"),
        ("malformed_line", "not a JSON object: " + first[:-1] + ', "note": "a } { b"')]


def test_a_json_key_that_no_line_has_refuses_the_file_naming_the_keys_it_has(tmp_path: Path) -> None:
    """A misspelt key (userId for user_id) rejected every row as missing_user, "user_id is empty"; CSV and Parquet
    name the missing column and the file's own. A key that only some lines lack rejects those rows, as before."""
    path = _write(tmp_path / "e.jsonl", "".join(json.dumps({"userId": u, "item_id": "a", "timestamp": EPOCH0}) + "\n"
                                               for u in ("u1", "u2")))
    with pytest.raises(SourceReadError, match=re.escape("e.jsonl: no column(s) ['user_id'] (keys of no line); the "
                                                        "file has ['userId', 'item_id', 'timestamp']")):
        read_source(SourceConfig(format="jsonl", path=str(path)))
    assert read_source(SourceConfig(format="jsonl", path=str(path), columns=ColumnMap(user="userId")))[
        "user_id"].to_list() == ["u1", "u2"]
    some = _write(tmp_path / "some.jsonl", json.dumps({"user_id": "u", "item_id": "a", "timestamp": EPOCH0}) + "\n"
                  + json.dumps({"item_id": "b", "timestamp": EPOCH0}) + "\n")
    assert check_rows(read_source(SourceConfig(format="jsonl", path=str(some)))).by_reason == {"missing_user": 1}
    # an optional key (rating, event type) may be absent from every line: a day without ratings
    unrated = read_source(SourceConfig(format="jsonl", path=str(some), columns=ColumnMap(rating="rating")))
    assert unrated["rating"].to_list() == [None, None] and check_rows(unrated).by_reason == {"missing_user": 1}


def test_an_id_that_is_no_single_value_is_refused(tmp_path: Path) -> None:
    """A JSON object, array, true or false as an id was accepted as its text ({"id": 7} a user, "true" an item);
    a Parquet list or boolean column too."""
    rows = [{"user_id": {"id": 7}, "item_id": "a", "timestamp": EPOCH0}, {"user_id": "u", "item_id": [1, 2],
                                                                          "timestamp": EPOCH0},
            {"user_id": "u", "item_id": "b", "timestamp": EPOCH0}, {"user_id": True, "item_id": "c", "timestamp": 1},
            {"user_id": "u", "item_id": False, "timestamp": EPOCH0}]
    path = _write(tmp_path / "e.jsonl", "".join(json.dumps(row) + "\n" for row in rows))
    frame = read_source(SourceConfig(format="jsonl", path=str(path)))
    assert frame.select("source_row", "error", "detail").rows() == [
        (1, "malformed_line", f"user_id is a JSON object or array, not an id: {json.dumps(rows[0])}"),
        (2, "malformed_line", f"item_id is a JSON object or array, not an id: {json.dumps(rows[1])}"),
        (3, None, None),
        (4, "malformed_line", f"user_id is a JSON true or false, not an id: {json.dumps(rows[3])}"),
        (5, "malformed_line", f"item_id is a JSON true or false, not an id: {json.dumps(rows[4])}")]
    check = check_rows(frame)
    assert (check.rows_in, len(check.accepted), len(check.rejected)) == (5, 1, 4)
    lists = tmp_path / "lists.parquet"
    pl.DataFrame({"user_id": ["u"], "item_id": [[1]], "timestamp": [EPOCH0]}).write_parquet(lists)
    with pytest.raises(SourceReadError, match=r"lists.parquet: column item_id holds BIGINT\[\] values: a user or "
                                              r"item id is one value"):
        read_source(SourceConfig(format="parquet", path=str(lists)))
    flags = tmp_path / "flags.parquet"
    pl.DataFrame({"user_id": [True], "item_id": ["a"], "timestamp": [EPOCH0]}).write_parquet(flags)
    with pytest.raises(SourceReadError, match=r"flags.parquet: column user_id holds BOOLEAN values: a user or "
                                              r"item id is one value"):
        read_source(SourceConfig(format="parquet", path=str(flags)))


def test_a_json_object_with_a_key_twice_is_a_malformed_line(tmp_path: Path) -> None:
    """{"user_id": "a", ..., "user_id": "b"} was read as user a (DuckDB takes the first; Python's json the last):
    which one the export meant is unknown, so the row is rejected naming the key; other keys may repeat."""
    lines = [f'{{"user_id": "a", "item_id": "x", "timestamp": {EPOCH0}, "user_id": "b"}}',
             f'{{"user_id": "a", "item_id": "x", "timestamp": {EPOCH0}, "timestamp": {EPOCH0 + 1}}}',
             f'{{"user_id": "a", "item_id": "y", "timestamp": {EPOCH0}, "note": 1, "note": 2}}']
    path = _write(tmp_path / "e.jsonl", "".join(line + "\n" for line in lines))
    frame = read_source(SourceConfig(format="jsonl", path=str(path)))
    assert frame.select("source_row", "error", "detail").rows() == [
        (1, "malformed_line", f"user_id is a key of the object more than once: {lines[0]}"),
        (2, "malformed_line", f"timestamp is a key of the object more than once: {lines[1]}"),
        (3, None, None)]
    assert frame["item_id"][2] == "y"


def test_a_text_file_in_another_encoding_is_read_with_its_encoding(tmp_path: Path) -> None:
    """Latin-1 events: each row with an accented id was a malformed_line (a garbled detail), with no setting to
    read them; the encoding reads them, the rows keep their file and line numbers."""
    path = _write(tmp_path / "e.csv", f"user_id,item_id,timestamp\nJosé,café,{EPOCH0}\n\nu2,thé,{EPOCH0}\n"
                                      .encode("latin-1"))
    frame = read_source(SourceConfig(format="csv", path=str(path), encoding="latin-1"))
    assert frame.select("user_id", "item_id", "source_row").rows() == [("José", "café", 2), ("u2", "thé", 4)]
    assert frame["source_file"].cast(pl.String).to_list() == [str(path.resolve())] * 2
    assert frame["error"].to_list() == [None, None]
    as_utf8 = read_source(SourceConfig(format="csv", path=str(path)))
    assert as_utf8["error"].to_list() == ["malformed_line"] * 2
    assert as_utf8["detail"][0].endswith("(not UTF-8 text: give its encoding, such as cp1252 or latin-1: the source "
                                         "setting encoding, elcrec --encoding)")
    sequence = _write(tmp_path / "s.txt", "José café thé\n".encode("cp1252"))
    assert read_source(SourceConfig(format="sequence", path=str(sequence), encoding="cp1252"))[
        "item_id"].to_list() == ["café", "thé"]
    with pytest.raises(ValueError, match="unknown encoding 'latin-9x'"):
        SourceConfig(format="csv", path=str(path), encoding="latin-9x")
    for codec in ("rot13", "base64"):  # Python's codecs, of no text (their reads failed with a traceback)
        with pytest.raises(ValueError, match=f"^'{codec}' is no text encoding"):
            SourceConfig(format="csv", path=str(path), encoding=codec)
    with pytest.raises(ValueError, match="^'undefined' is no encoding of text files"):  # every read fails
        SourceConfig(format="csv", path=str(path), encoding="undefined")
    assert SourceConfig(format="csv", path=str(path), encoding="utf-16").encoding == "utf-16"  # two bytes a unit


def test_a_utf8_file_read_with_another_encoding_is_refused_not_garbled(tmp_path: Path) -> None:
    """Settings with latin-1 for a team whose day-2 export came in UTF-8: its user café was stored as cafÃ©, one
    person as two users, with no word (a trial of 2026-12-04). A file that is UTF-8 text beyond ASCII is refused,
    naming its first such line and what the encoding would make of it; an ASCII file, and a latin-1 one, read."""
    text = f"user_id,item_id,timestamp\nu1,a,{EPOCH0}\ncafé,b,{EPOCH0}\n"
    utf8 = _write(tmp_path / "day2.csv", text.encode("utf-8"))
    for encoding in ("latin-1", "cp1252"):
        with pytest.raises(SourceReadError, match=re.escape(
                f"day2.csv: it is UTF-8 text (line 3: 'café,b,{EPOCH0}'), which encoding {encoding} would read as "
                f"'cafÃ©,b,{EPOCH0}': give it encoding utf-8 (the source setting encoding, elcrec --encoding)")):
            read_source(SourceConfig(format="csv", path=str(utf8), encoding=encoding))
    latin = _write(tmp_path / "day1.csv", text.encode("latin-1"))
    assert read_source(SourceConfig(format="csv", path=str(latin), encoding="latin-1"))["user_id"].to_list() == [
        "u1", "café"]
    plain = _write(tmp_path / "ascii.csv", text.replace("é", "e").encode())
    assert len(read_source(SourceConfig(format="csv", path=str(plain), encoding="latin-1"))) == 2
    # cp1252 has no character for the second byte of UTF-8's Á (0x81): it failed on that byte with no word of UTF-8
    accent = _write(tmp_path / "day3.csv", text.replace("café", "Álvaro").encode("utf-8"))
    with pytest.raises(SourceReadError, match=r"day3\.csv: byte 43 \(line 3\) is not cp1252 text; the file reads as UTF-8 text: "
                                              "give it encoding utf-8"):
        read_source(SourceConfig(format="csv", path=str(accent), encoding="cp1252"))
    # a byte order mark says UTF-8 too
    marked = _write(tmp_path / "bom.csv", b"\xef\xbb\xbf" + text.replace("é", "e").encode())
    with pytest.raises(SourceReadError, match=r"it is UTF-8 text \(line 1: '\\ufeffuser_id,item_id,timestamp'\)"):
        read_source(SourceConfig(format="csv", path=str(marked), encoding="latin-1"))


def test_a_byte_order_mark_inside_a_file_of_joined_exports_is_skipped(tmp_path: Path) -> None:
    """Two exports joined with cat, each with a byte order mark: JSON Lines rejected the second's first line as no
    JSON object (the mark shows as nothing: the detail looked like valid JSON), and the sequence format took the mark
    into the user id; csv reads the second header as a repeated_header row (helper-172)."""
    mark = "\ufeff"
    jsonl = _write(tmp_path / "joined.jsonl", "".join(
        f'{mark}{{"user_id": "{u}", "item_id": "i", "timestamp": {EPOCH0}}}\n' for u in "ab").encode())
    assert read_source(SourceConfig(format="jsonl", path=str(jsonl))).select("user_id", "error").rows() == [
        ("a", None), ("b", None)]
    lines = _write(tmp_path / "joined.txt", f"{mark}1 5 6\n{mark}2 7 8\n".encode())
    assert read_source(SourceConfig(format="sequence", path=str(lines))).select("user_id", "item_id").rows() == [
        ("1", "5"), ("1", "6"), ("2", "7"), ("2", "8")]
    csv = _write(tmp_path / "joined.csv", f"{mark}user_id,item_id,timestamp\na,i,{EPOCH0}\n".encode() * 2)
    assert read_source(SourceConfig(format="csv", path=str(csv))).select("user_id", "error").rows() == [
        ("a", None), (f"{mark}user_id", "repeated_header"), ("a", None)]
    # Excel's "CSV UTF-8" quotes its header: DuckDB reads the mark and the quotes as text, and the line, without
    # times, was an event of user \ufeff"User ID" (helper-209)
    quoted = _write(tmp_path / "excel.csv", f'{mark}"User ID";"Item ID"\n"a";"i"\n'.encode() * 2)
    assert read_source(SourceConfig(format="csv", path=str(quoted), delimiter=";", columns=ColumnMap(
        "User ID", "Item ID", None))).select("user_id", "error").rows() == [
        ("a", None), (f'{mark}"User ID"', "repeated_header"), ("a", None)]
    # quotes as data, without the mark, are data: ids "user_id" and "item_id", quotes and all (helper-214)
    data = _write(tmp_path / "quoted.csv", '"user_id","item_id"\n"""user_id""","""item_id"""\n')
    assert read_source(SourceConfig(format="csv", path=str(data), columns=ColumnMap(timestamp=None))).select(
        "user_id", "error").rows() == [('"user_id"', None)]


@pytest.mark.parametrize("chunk", [1, 2, 7, 1 << 20])
@pytest.mark.parametrize("encoding", ["latin-1", "iso8859-15", "cp1252"])
def test_a_file_of_latin1_and_utf8_lines_is_refused_not_garbled(tmp_path: Path, monkeypatch, encoding: str,
                                                                chunk: int) -> None:
    """Two exports joined, one in latin-1 and one in UTF-8: the file is not UTF-8 as a whole, so latin-1 read every
    line, and the UTF-8 line's user café was stored as cafÃ©, one person as two users, with no word. Refused,
    naming the first UTF-8 line and what the encoding makes of it; latin-1 text whose accented letters stand
    before ASCII or other letters (Zoë, Ñandú, ÀÉÎ) reads, wherever the chunks end."""
    from elcrec_core.data import text_encoding

    monkeypatch.setattr(text_encoding, "CHUNK_BYTES", chunk)
    latin = f"user_id,item_id,timestamp\nZoë,Ñandú,{EPOCH0}\nu2,ÀÉÎ,{EPOCH0}\n".encode(encoding)
    path = _write(tmp_path / "joined.csv", latin + f"u3,a,{EPOCH0}\ncafé,b,{EPOCH0}\n".encode("utf-8"))
    with pytest.raises(SourceReadError, match=re.escape(
            f"joined.csv: line 5 is UTF-8 text ('café,b,{EPOCH0}'), which encoding {encoding} would read as "
            f"'cafÃ©,b,{EPOCH0}', but the file is not UTF-8 as a whole: it mixes two encodings (two exports "
            f"joined?); convert it to one (its UTF-8 lines to {encoding}, or the rest to UTF-8 and give encoding "
            "utf-8) and load it again")):
        read_source(SourceConfig(format="csv", path=str(path), encoding=encoding))
    alone = _write(tmp_path / "latin.csv", latin)
    assert read_source(SourceConfig(format="csv", path=str(alone), encoding=encoding))["user_id"].to_list() == [
        "Zoë", "u2"]


@pytest.mark.parametrize(("encoding", "text"), [
    ("cp1252", "NESCAFÉ™ Gold"), ("cp1252", "JOSÉ’S TACOS"), ("cp1252", "„Spaß“"), ("cp1252", "“Un café…”"),
    ("cp1252", "ÉTÉ€5"), ("latin-1", "»Spaß«"), ("latin-1", "«Y TÚ»"), ("latin-1", "«\u00a0déjà\u00a0»"),
    ("latin-1", "SÃO JOÃOº"), ("iso8859-15", "ÉTÉ€5"),
])
def test_latin1_and_cp1252_text_whose_bytes_pair_as_utf8_reads(tmp_path: Path, encoding: str, text: str) -> None:
    """The check for UTF-8 lines refused ordinary text whose bytes happen to form UTF-8 sequences (É™ is C9 99,
    ß“ DF 93, à before a no-break space and » E0 A0 BB): it now looks for UTF-8 letters of Latin-1 and Latin
    Extended-A (é as C3 A9) on a line that is UTF-8 as a whole."""
    path = _write(tmp_path / "e.csv", f"user_id,item_id,timestamp\nu1,{text},{EPOCH0}\nu2,b,{EPOCH0}\n"
                  .encode(encoding))
    assert read_source(SourceConfig(format="csv", path=str(path), encoding=encoding))["item_id"].to_list() == [
        text, "b"]


@pytest.mark.parametrize("encoding", ["latin-1", "iso8859-15"])
def test_windows_text_read_as_latin1_is_refused_not_stored_with_control_characters(tmp_path: Path,
                                                                                   encoding: str) -> None:
    """A cp1252 export (Windows' ’ is byte 0x92) read with encoding latin-1 stored "Schindler\x92s List", a
    control character in an item id, with no word (a trial of 2026-12-04): latin-1 reads every byte. A text with a
    character U+0080-U+009F is refused, naming the line and what cp1252 reads; cp1252 reads the file."""
    text = f"user_id,item_id,timestamp\nu1,a,{EPOCH0}\nu2,Schindler’s List,{EPOCH0}\n"
    path = _write(tmp_path / "e.csv", text.encode("cp1252"))
    with pytest.raises(SourceReadError, match=re.escape(
            f"e.csv: line 3 holds U+0092, a control character that no text holds, as {encoding} reads the file: is "
            f"it Windows text (cp1252), where byte 0x92 is '’' (line 3: 'u2,Schindler’s List,{EPOCH0}')? Give it "
            "encoding cp1252 (the source setting encoding, elcrec --encoding)")):
        read_source(SourceConfig(format="csv", path=str(path), encoding=encoding))
    assert read_source(SourceConfig(format="csv", path=str(path), encoding="cp1252"))["item_id"].to_list() == [
        "a", "Schindler’s List"]
    undefined = _write(tmp_path / "f.csv", f"user_id,item_id,timestamp\nu1,a\x81b,{EPOCH0}\n".encode("latin-1"))
    with pytest.raises(SourceReadError, match=r"f\.csv: line 2 holds U\+0081, a control character that no text "
                                              r"holds, as latin-1 reads the file: is it in another encoding\?"):
        read_source(SourceConfig(format="csv", path=str(undefined), encoding="latin-1"))
    central = _write(tmp_path / "g.csv", f"user_id,item_id,timestamp\nu1,Łódź’s,{EPOCH0}\n".encode("cp1250"))
    with pytest.raises(SourceReadError, match=re.escape(  # iso8859-2's Windows code is cp1250, not cp1252
            "is it Windows text (cp1250), where byte 0x9F is 'ź' (line 2: 'u1,Łódź’s,")):
        read_source(SourceConfig(format="csv", path=str(central), encoding="iso8859-2"))
    metadata = _write(tmp_path / "items.csv", "item_id,title\na,Schindler’s List\n".encode("cp1252"))
    with pytest.raises(SourceReadError, match="line 2 holds U\\+0092"):
        read_item_metadata(ItemMetadataConfig(path=str(metadata), encoding="latin-1"))


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 29, 30, 31, 1 << 20])
def test_the_utf8_check_holds_across_chunk_boundaries(tmp_path: Path, monkeypatch, chunk: int) -> None:
    """A character of two bytes split over two chunks (and ASCII chunks around it) is still UTF-8; a latin-1 é
    followed by ASCII is not, wherever the chunks end."""
    from elcrec_core.data import text_encoding

    monkeypatch.setattr(text_encoding, "CHUNK_BYTES", chunk)
    text = f"user_id,item_id,timestamp\nu1,a,{EPOCH0}\ncafé,b,{EPOCH0}\n"
    utf8 = _write(tmp_path / "u.csv", text.encode("utf-8"))
    with pytest.raises(SourceReadError, match=re.escape(f"it is UTF-8 text (line 3: 'café,b,{EPOCH0}')")):
        read_source(SourceConfig(format="csv", path=str(utf8), encoding="latin-1"))
    latin = _write(tmp_path / "l.csv", text.encode("latin-1"))
    assert read_source(SourceConfig(format="csv", path=str(latin), encoding="latin-1"))["user_id"].to_list() == [
        "u1", "café"]


def test_folder_of_daily_files_and_glob(tmp_path: Path) -> None:
    folder = tmp_path / "daily"
    folder.mkdir()
    for day in (2, 1):
        _write(folder / f"2026-03-0{day}.csv", f"user_id,item_id,timestamp\nu,i{day},{EPOCH0 + day}\n")
    _write(folder / ".hidden.csv", "junk")
    _write(folder / "_SUCCESS", "")  # a writer's markers (Spark, Hadoop), skipped as Spark and pyarrow skip them
    _write(folder / "_temporary.csv", "junk")
    by_folder = read_source(SourceConfig(format="csv", path=str(folder)))
    assert by_folder["item_id"].to_list() == ["i1", "i2"]
    assert [p.name for p in resolve_files(str(folder / "*.csv"))] == ["2026-03-01.csv", "2026-03-02.csv"]
    assert [p.name for p in resolve_files(str(folder / "*"))] == ["2026-03-01.csv", "2026-03-02.csv"]
    assert [p.name for p in resolve_files(str(folder / "_SUCCESS"))] == ["_SUCCESS"]  # named itself: that file
    assert [p.name for p in resolve_files(str(folder / "_*.csv"))] == ["_temporary.csv"]  # a glob that names them
    (tmp_path / "events" / "dt=2026-03-01").mkdir(parents=True)  # Hive-style day folders: a glob reads them
    with pytest.raises(SourceReadError, match=r"events: no files found; its subfolders \(dt=2026-03-01\) are read "
                                              r"only through a glob, such as .*/events/\*/\*$"):
        resolve_files(tmp_path / "events")
    assert read_source(SourceConfig(format="csv", path=str(folder / "*-02.csv")))["item_id"].to_list() == ["i2"]
    _write(tmp_path / "events" / "dt=2026-03-01" / "_SUCCESS", "")  # a day that Spark wrote with no part file
    for given in ("dt=2026-03-01", "dt=2026-03-01/*.parquet"):
        with pytest.raises(SourceReadError, match=re.escape(
                "no files found; _SUCCESS in dt=2026-03-01: not data (a name that starts with _ or ., such as "
                "Spark's _SUCCESS; a day without events needs an empty data file, and min_rows: 0)")):
            resolve_files(tmp_path / "events" / given)


def test_a_glob_under_a_folder_whose_name_holds_glob_characters(tmp_path: Path) -> None:
    """A glob in a folder named "data [v2]" found no file (the folder's own name was read as a pattern), and the
    sensor, given no file, launched no run, without a word: the folders that exist are taken as named."""
    folder = tmp_path / "data [v2] {x}" / "incoming"
    folder.mkdir(parents=True)
    for day in (1, 2):
        _write(folder / f"2026-03-0{day}.csv", f"user_id,item_id,timestamp\nu,i{day},{EPOCH0 + day}\n")
    assert [p.name for p in resolve_files(str(folder / "*.csv"))] == ["2026-03-01.csv", "2026-03-02.csv"]
    assert [p.name for p in resolve_files(str(folder.parent / "*" / "*-02.csv"))] == ["2026-03-02.csv"]


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet", "sequence"])
def test_a_file_whose_name_holds_glob_characters_is_that_file(tmp_path: Path, fmt: str) -> None:
    """DuckDB's readers expand *, ? and [...] in a name: day[1].csv read day1.csv beside it (its rows lost, the
    other's read twice), and a name given alone found no file."""
    folder = tmp_path / "daily"
    folder.mkdir()
    rows = {"day[1]": [("u", "a"), ("u", "b")], "day1": [("v", "z")], "w?x*": [("w", "c")], "wAxB": [("x", "d")]}
    for name, events in rows.items():
        frame = pl.DataFrame({"user_id": [u for u, _ in events], "item_id": [i for _, i in events],
                              "timestamp": [EPOCH0 + k for k in range(len(events))]})
        path = folder / f"{name}.{fmt}"
        if fmt == "parquet":
            frame.write_parquet(path)
        elif fmt == "jsonl":
            frame.write_ndjson(path)
        elif fmt == "sequence":
            _write(path, f"{events[0][0]} {' '.join(i for _, i in events)}\n")
        else:
            frame.write_csv(path, separator="\t" if fmt == "tsv" else ",")
    read = read_source(SourceConfig(format=fmt, path=str(folder)))
    assert sorted(read.select("user_id", "item_id").rows()) == sorted(e for events in rows.values() for e in events)
    alone = read_source(SourceConfig(format=fmt, path=str(folder / f"day[1].{fmt}")))
    assert alone.select("user_id", "item_id").rows() == rows["day[1]"]
    assert resolve_files(folder / f"w?x*.{fmt}") == [(folder / f"w?x*.{fmt}").resolve()]  # the file, not a glob


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_folder_named_key_equals_value_gives_no_column(tmp_path: Path, fmt: str) -> None:
    """DuckDB read a folder user_id=zzz as a hive partition: every row of the file in it became user zzz."""
    folder = tmp_path / "user_id=zzz"
    folder.mkdir()
    frame = pl.DataFrame({"user_id": ["u1", "u2"], "item_id": ["a", "b"], "timestamp": [EPOCH0, EPOCH0 + 1]})
    path = folder / f"e.{fmt}"
    frame.write_parquet(path) if fmt == "parquet" else frame.write_csv(path)
    assert read_source(SourceConfig(format=fmt, path=str(path)))["user_id"].to_list() == ["u1", "u2"]


def test_item_metadata_from_a_file_whose_name_holds_glob_characters(tmp_path: Path) -> None:
    for name, title in (("items[1].csv", "Lipstick"), ("items1.csv", "Soap")):
        _write(tmp_path / name, f"item_id,title,categories\n1,{title},x\n")
    meta, _ = read_item_metadata(ItemMetadataConfig(str(tmp_path / "items[1].csv")))
    assert meta["title"].to_list() == ["Lipstick"]


def test_a_link_to_a_file_of_the_folder_is_that_file_read_once(tmp_path: Path) -> None:
    """A latest.csv that links to a day's file: its rows were read twice, the second time all duplicate_event
    of themselves (a rejected share of 50% refuses the load)."""
    folder = tmp_path / "daily"
    folder.mkdir()
    day = _write(folder / "2026-03-01.csv", f"user_id,item_id,timestamp\nu,i,{EPOCH0}\nv,i,{EPOCH0}\n")
    (folder / "latest.csv").symlink_to(day)
    for path in (folder, folder / "*.csv"):
        assert resolve_files(path) == [day]
        check = check_rows(read_source(SourceConfig(format="csv", path=str(path))))
        assert (check.rows_in, len(check.accepted), len(check.rejected)) == (2, 2, 0)


def test_names_that_repeat_a_column_are_refused() -> None:
    with pytest.raises(ValueError, match=r"names repeat a column: \['user_id', 'item_id', 'timestamp', 'item_id'\]"):
        SourceConfig(format="csv", path="e.csv", names=("user_id", "item_id", "timestamp", "item_id"))


def test_sequence_format_orders_events_by_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "seq.txt", "1 5 6 5\n\n2  9\n3\n")
    frame = read_source(SourceConfig(format="sequence", path=str(path)))
    assert frame.select("user_id", "item_id", "source_row", "error", "detail").rows() == [
        ("1", "5", 1, None, None), ("1", "6", 2, None, None), ("1", "5", 3, None, None), ("2", "9", 4, None, None),
        (None, None, 4, "malformed_line", "no items: 3")]  # a user without items: line 4
    assert frame["timestamp"].null_count() == 5


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_a_sequence_line_of_white_space_only_is_a_rejected_row(tmp_path: Path, eol: str) -> None:
    """As in the other formats (a line without fields is malformed), while an empty line is no row."""
    path = _write(tmp_path / "seq.txt", eol.join(["1 5", " \t ", "", "2 9", ""]))
    frame = read_source(SourceConfig(format="sequence", path=str(path)))
    assert frame.select("user_id", "item_id", "source_row", "error", "detail").rows() == [
        ("1", "5", 1, None, None), ("2", "9", 2, None, None),
        (None, None, 2, "malformed_line", "no user and no items: white space only")]


def test_synthetic_source() -> None:
    cfg = SyntheticConfig(n_users=20, n_items=30, n_intents=4, seed=3)
    frame = read_source(SourceConfig.from_dict({"format": "synthetic", "synthetic": {
        "n_users": 20, "n_items": 30, "n_intents": 4, "seed": 3}}))
    assert frame.schema == pl.Schema(NORMALISED_SCHEMA)
    assert frame["user_id"].n_unique() == cfg.n_users and frame["error"].null_count() == len(frame)


def test_config_from_plain_data() -> None:
    cfg = SourceConfig.from_dict({"format": "tsv", "path": "x", "header": False, "names": ["a", "b", "c"],
                                  "columns": {"user": "a", "item": "b", "timestamp": "c"}})
    assert cfg.separator == "\t" and cfg.names == ("a", "b", "c") and cfg.columns.user == "a"
    with pytest.raises(ValueError, match="unknown source setting"):
        SourceConfig.from_dict({"format": "csv", "path": "x", "sep": ";"})
    with pytest.raises(ValueError, match=r"^SourceConfig.format: Input should be 'csv', 'tsv', 'parquet', 'jsonl', "
                                         r"'sequence' or 'synthetic' \(given 'xml'\)$"):
        SourceConfig(format="xml", path="x")


def test_settings_of_the_wrong_type_are_refused_naming_the_field_or_read_as_meant(tmp_path: Path) -> None:
    """The library's settings classes took any value (helper-177): dedupe "false" was true and removed 12 of 42
    events, event_types "purchase" became the letters p, u, r, ... and no event was left, header "false" was a
    header, a fractional k-core passed and a text one failed later naming no field; now they are checked as the
    run config is (pydantic's lax mode: "false" is false, "5" is 5; no fraction for an int, no text for a list). A
    reading setting of delimited text given to another format, which ignored it, is refused."""
    assert SequenceConfig.from_dict({"dedupe": "false", "k_core": "3"}) == SequenceConfig(dedupe=False, k_core=3)
    assert SequenceConfig.from_dict({"event_types": ["purchase"]}).event_types == ("purchase",)
    for wrong, problem in (({"event_types": "purchase"}, "event_types: Input should be a valid tuple (given "
                                                         "'purchase')"),
                           ({"k_core": 5.5}, "k_core: Input should be a valid integer, got a number with a fractional "
                                             "part (given 5.5)"),
                           ({"min_rating": "four"}, "min_rating: Input should be a valid number, unable to parse "
                                                    "string as a number (given 'four')"),
                           # true is no number: lax mode read k_core true as a k-core of 1 (helper-188)
                           ({"k_core": True}, "k_core: true or false is no value of this field, a number or a "
                                              "choice (given True)")):
        with pytest.raises(ValueError) as info:
            SequenceConfig.from_dict(wrong)
        assert str(info.value) == f"SequenceConfig.{problem}"
    source = SourceConfig.from_dict({"format": "tsv", "path": tmp_path / "u.data", "header": "false",
                                     "columns": {"user": "u"}, "max_line_bytes": "10"})
    assert (source.path, source.header, source.columns, source.max_line_bytes) == (
        str(tmp_path / "u.data"), False, ColumnMap(user="u"), 10)
    for wrong, problem in (({"columns": {"usr": "u"}}, "columns: ColumnMap.__init__() got an unexpected keyword "
                                                       "argument 'usr'"),
                           ({"header": "maybe"}, "header: Input should be a valid boolean, unable to interpret input "
                                                 "(given 'maybe')"),
                           ({"names": "a,b"}, "names: Input should be a valid tuple (given 'a,b')"),
                           ({"synthetic": {"n_users": 1.5}}, "synthetic: SyntheticConfig.n_users: Input should be a "
                                                             "valid integer, got a number with a fractional part "
                                                             "(given 1.5)")):
        with pytest.raises(ValueError) as info:
            SourceConfig.from_dict({"format": "tsv", "path": "x", **wrong})
        assert str(info.value) == f"SourceConfig.{problem}"
    with pytest.raises(ValueError, match=r"^RowRules.min_rating: Input should be a finite number \(given nan\)$"):
        RowRules(min_rating=float("nan"))
    # a time of another zone (text with Z, an aware datetime) is held in naive UTC, as the events' times: the row
    # rules' comparison failed with a SchemaError naming no setting (helper-181)
    rules = RowRules(min_timestamp="2026-03-01T01:00:00+01:00", now=datetime(2026, 3, 2, tzinfo=timezone.utc))
    assert (rules.min_timestamp, rules.now) == (datetime(2026, 3, 1), datetime(2026, 3, 2))
    events = pl.DataFrame({"user_id": ["u", "v"], "item_id": ["a", "b"],
                           "timestamp": [datetime(2026, 2, 28, 23), datetime(2026, 3, 1, 1)]})
    events.write_parquet(tmp_path / "e.parquet")
    check = check_rows(read_source(SourceConfig(format="parquet", path=str(tmp_path / "e.parquet"))), rules)
    assert check.accepted["user_id"].to_list() == ["v"] and check.by_reason == {"timestamp_out_of_window": 1}
    with pytest.raises(ValueError, match=r"^max_rejected_share = 5\.0: must be 0 or more, at most 1$"):
        ExpectationConfig(max_rejected_share=5)
    for fmt, given, named in (("parquet", {"delimiter": ";"}, "delimiter"), ("jsonl", {"quote": None}, "quote"),
                              ("sequence", {"names": ["u", "i"], "header": False}, "names, header")):
        with pytest.raises(ValueError, match=f"^{named}: settings of delimited text \\(csv, tsv\\) that a {fmt} "
                                             "source has no use for; leave them out$"):
            SourceConfig.from_dict({"format": fmt, "path": "x", **given})


def _zipped(*parts: str) -> bytes:
    """A zip file of ``parts``, each ``name`` or ``name:content``, stored in that order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as packed:
        for part in parts:
            name, _, content = part.partition(":")
            packed.writestr(name, content or "<x/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "cfg", "cause"),
    [
        ("absent.csv", None, {"format": "csv"}, "no such file"),
        ("e.csv", "user,item,ts\nu,i,1\n", {"format": "csv"}, "no column(s) ['user_id', 'item_id', 'timestamp']"),
        ("e.parquet", "not parquet at all", {"format": "parquet"}, "not a Parquet file (Invalid Input Error: No magic"),
        ("e.csv", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", {"format": "csv"}, "line 3 holds a NUL byte: binary"),
        ("e.csv", "usér,item_id\n".encode("latin-1"), {"format": "csv"}, "the first line is not UTF-8"),
        # it said "line 1 holds a NUL byte"
        ("e.csv.gz", gzip.compress(b"user_id,item_id,timestamp\nu,i,1\n"), {"format": "csv"},
         "a gzip file: compressed files are not read; decompress it first"),
        ("e.jsonl", b"PK\x03\x04\x14\x00", {"format": "jsonl"}, "a zip file: compressed files are not read"),
        # a spreadsheet's workbook is no archive to decompress (helper-187: "decompress it first", no help), as Excel
        # writes one and as openpyxl (pandas) does: docProps/app.xml first, its workbook's parts after (helper-189)
        ("e.csv", _zipped("[Content_Types].xml", "_rels/.rels", "xl/workbook.xml"), {"format": "csv"},
         "a spreadsheet's workbook (Excel, LibreOffice), not text: save its sheet as CSV (UTF-8) and read that"),
        ("e.csv", _zipped("docProps/app.xml", "docProps/core.xml", "xl/theme/theme1.xml"), {"format": "csv"},
         "a spreadsheet's workbook"),
        ("e.csv", _zipped("mimetype:application/vnd.oasis.opendocument.spreadsheet", "content.xml"),
         {"format": "csv"}, "a spreadsheet's workbook"),  # ods
        ("e.csv", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", {"format": "csv"},
         "an OLE2 file (an Excel 97-2003 workbook, .xls, or another office document: .doc), not text: save its sheet"),
        # a Word or PowerPoint file is no workbook, nor a zip whose folder's name holds xl/ (helper-195)
        ("e.csv", _zipped("[Content_Types].xml", "word/document.xml"), {"format": "csv"},
         "an office document (Word, PowerPoint, LibreOffice), not text: export its events as CSV (UTF-8)"),
        ("e.csv", _zipped("data_xl/events.csv"), {"format": "csv"}, "a zip file: compressed files are not read"),
        ("e.csv", "user_id,item_id,timestamp\nu,i,x\n", {"format": "csv", "timestamp_format": "iso8601",
                                                          "columns": {"timestamp": "timestamp"}}, None),
    ],
)
def test_unreadable_files_name_the_file_and_cause(tmp_path: Path, name: str, content, cfg: dict, cause) -> None:
    path = tmp_path / name
    if content is not None:
        _write(path, content)
    config = SourceConfig.from_dict({**cfg, "path": str(path)})
    if cause is None:  # readable, for contrast: the bad value is a row-level problem
        assert read_source(config)["error"].to_list() == ["bad_timestamp"]
        return
    with pytest.raises(SourceReadError) as info:
        read_source(config)
    assert str(path) in str(info.value) and cause in str(info.value)


def test_typed_timestamp_column_must_fit_the_format(tmp_path: Path) -> None:
    path = tmp_path / "e.parquet"
    pl.DataFrame({"user_id": ["a"], "item_id": ["b"], "timestamp": [1.5]}).write_parquet(path)
    with pytest.raises(SourceReadError, match="DOUBLE, but the format is iso8601"):
        read_source(SourceConfig(format="parquet", path=str(path), timestamp_format="iso8601"))


def test_item_metadata_csv_and_parquet(tmp_path: Path) -> None:
    path = _write(tmp_path / "items.csv", 'item_id,title,categories\n1,"Lipstick, red",Beauty|Makeup\n,untitled,x\n'
                                          "2,Soap\n3,Shampoo,Hair\n")
    meta, rejected = read_item_metadata(ItemMetadataConfig(str(path)))
    assert meta.rows() == [("1", "Lipstick, red", ["Beauty", "Makeup"]), ("3", "Shampoo", ["Hair"])]
    assert rejected.select("source_row", "reason").sort("source_row").rows() == [(3, "missing_item"),
                                                                                  (4, "malformed_line")]
    pq = tmp_path / "items.parquet"
    pl.DataFrame({"sku": [5], "name": ["Comb"], "tags": [["Hair", "Tools"]]}).write_parquet(pq)
    meta, rejected = read_item_metadata(ItemMetadataConfig(str(pq), item="sku", title="name", categories="tags"))
    assert meta.rows() == [("5", "Comb", ["Hair", "Tools"])] and rejected.is_empty()
    pl.DataFrame({"sku": [None], "name": ["Comb"], "tags": [["Hair"]]}).write_parquet(pq)  # the column, named
    _, rejected = read_item_metadata(ItemMetadataConfig(str(pq), item="sku", title="name", categories="tags"))
    assert rejected.select("reason", "detail").rows() == [("missing_item", "sku is empty")]


@pytest.mark.parametrize(("fmt", "sep"), [("csv", ","), ("tsv", "\t")])
def test_an_empty_field_at_the_end_of_a_line_is_read_as_absent_and_a_filled_one_rejects_it(
        tmp_path: Path, fmt: str, sep: str) -> None:
    """ml-100k's u.data in ../shared has a line ending in a tab: exporters leave such a trailing delimiter. The
    empty last field is no value, so the line is read; an extra field that holds something is a malformed line."""
    lines = [f"u1{sep}i1{sep}{EPOCH0}{sep}", f"u2{sep}i2{sep}{EPOCH0}{sep}x", f"u3{sep}i3{sep}{EPOCH0}"]
    path = _write(tmp_path / f"e.{fmt}", "\n".join([sep.join(["user_id", "item_id", "timestamp"]), *lines]) + "\n")
    frame = read_source(SourceConfig(format=fmt, path=str(path))).sort("source_row")
    assert frame.select("source_row", "error", "user_id", "item_id").rows() == [
        (2, None, "u1", "i1"), (3, "malformed_line", None, None), (4, None, "u3", "i3")]
    assert frame["detail"][1] == f"TOO MANY COLUMNS: u2{sep}i2{sep}{EPOCH0}{sep}x"


def test_a_quote_that_never_closes_refuses_the_file_naming_its_line(tmp_path: Path) -> None:
    """An opening quote without its closing one would take every line after it into one field: one rejected row
    would hide 1000 lines of data. The file is refused, naming the line; read without quoting, every line counts."""
    good = [f"u{n},i{n},{EPOCH0}" for n in range(1, 2001)]
    good[999] = f'u1000,"i1000,{EPOCH0}'
    path = _write(tmp_path / "e.csv", "\n".join(["user_id,item_id,timestamp", *good]) + "\n")
    with pytest.raises(SourceReadError) as info:
        read_source(SourceConfig(format="csv", path=str(path)))
    assert str(info.value) == (f"{path}: line 1001: a quote opens a field that never closes (it would take the 1000 "
                               "lines after it into one field); fix the quoting, or read the file without quoting "
                               "(source setting quote: '', elcrec --no-quote)")
    frame = read_source(SourceConfig(format="csv", path=str(path), quote=None))
    assert len(frame) == 2000 and frame["error"].null_count() == 2000 and frame["item_id"][999] == '"i1000'
    path.write_text(f'user_id,item_id,timestamp\nu1,"i1,{EPOCH0}\nu2,i2,{EPOCH0}\n')  # one line after it
    with pytest.raises(SourceReadError, match=r"line 2: a quote opens a field that never closes \(it would take the "
                                              r"1 line after it into one field\)"):
        read_source(SourceConfig(format="csv", path=str(path)))


def test_a_quote_inside_a_field_keeps_the_true_line_numbers(tmp_path: Path) -> None:
    """DuckDB reads a quote inside an unquoted field (12" TV) as data, where the line scan took it to open a quoted
    field: the records could not be matched to lines and the good rows were numbered 2, 3, 4 in order, past the
    empty lines and the rejected row. They are lines 3, 6 and 7."""
    path = _write(tmp_path / "e.csv", f'user_id,item_id,timestamp\n\nu1,12" TV,{EPOCH0}\n\nu2,i2,{EPOCH0},extra\n'
                                      f"u3,i3,{EPOCH0}\nu4,i4,{EPOCH0}\n")
    frame = read_source(SourceConfig(format="csv", path=str(path))).sort("source_row")
    assert frame.select("source_row", "user_id", "item_id", "error").rows() == [
        (3, "u1", '12" TV', None), (5, None, None, "malformed_line"), (6, "u3", "i3", None), (7, "u4", "i4", None)]


def test_a_second_stray_quote_closing_the_first_refuses_the_lines_between(tmp_path: Path) -> None:
    path = _write(tmp_path / "e.csv", f'user_id,item_id,timestamp\nu1,i1,{EPOCH0}\nu2,"i2,{EPOCH0}\nu3,i3,{EPOCH0}\n'
                                      f'u4,"i4,{EPOCH0}\nu5,i5,{EPOCH0}\n')
    with pytest.raises(SourceReadError, match=r"lines 3-5: a quoted field takes 3 lines into one record that cannot "
                                              r"be read \(UNQUOTED VALUE\): does a quote not close\?"):
        read_source(SourceConfig(format="csv", path=str(path)))


def test_a_well_quoted_record_over_two_lines_with_a_bad_field_count_is_one_rejected_row(tmp_path: Path) -> None:
    """A field over two lines, properly quoted, in a record with one field too many: that is one record, rejected
    as one row named by its first line; the file is not refused (its quoting is fine)."""
    path = _write(tmp_path / "e.csv", f'user_id,item_id,timestamp\nu1,"i\n1",{EPOCH0},extra\nu2,i2,{EPOCH0}\n')
    frame = read_source(SourceConfig(format="csv", path=str(path))).sort("source_row")
    assert frame.select("source_row", "item_id", "error").rows() == [(2, None, "malformed_line"), (4, "i2", None)]
    assert frame["detail"][0].startswith("TOO MANY COLUMNS")


def test_a_stray_quote_in_a_column_not_read_that_takes_whole_records_is_refused(tmp_path: Path) -> None:
    """A review that opens a quote, closed lines later by another's inch mark (12"): the records between were one
    review of u1, lost with no rejected row (2 rows read of 5: helper-200); a title alike in item metadata took four
    items and gave item 1 item 5's categories. A review written over lines of other text is read."""
    path = _write(tmp_path / "r.tsv", f'user_id\titem_id\ttimestamp\treview\nu1\ti1\t{EPOCH0}\t"great toy\n'
                                      f'u2\ti2\t{EPOCH0}\tok\nu3\ti3\t{EPOCH0}\tfine\nu4\ti4\t{EPOCH0}\tmy 12"\n'
                                      f'u5\ti5\t{EPOCH0}\tnice\n')
    with pytest.raises(SourceReadError) as info:
        read_source(SourceConfig(format="tsv", path=str(path)))
    text = f'u1\\ti1\\t{EPOCH0}\\t"great toy\\nu2\\ti2\\t{EPOCH0}\\tok\\nu3\\ti3\\t{EPOCH0}\\tfine\\nu4\\ti4\\t1772'
    assert str(info.value) == (f"{path}: lines 2-5: a quoted field takes the 3 line(s) after line 2, records of 4 "
                               f"fields as the others, into one value ('{text}'): does a quote not close? fix the "
                               "quoting, or read the file without quoting (source setting quote: '', elcrec "
                               "--no-quote)")
    assert len(read_source(SourceConfig(format="tsv", path=str(path), quote=None))) == 5  # the advice reads it
    # a review over lines of other text is read, whatever commas they hold (their count alone refused half of the
    # ordinary exports: helper-205)
    for text in ("great toy\nmy son, 5, loves it", "Works well.\nPros: cheap, light, fast",
                 "Works well.\nPros: cheap, light, fast, quiet", "Soft.\n\nAvailable in red, blue, and green."):
        _write(path, f'user_id,item_id,timestamp,review\nu1,i1,{EPOCH0},"{text}"\nu2,i2,{EPOCH0},ok\n')
        assert read_source(SourceConfig(format="csv", path=str(path)))["user_id"].to_list() == ["u1", "u2"], text
        _write(path, f'user_id,item_id,review,timestamp\nu1,i1,"{text}",{EPOCH0}\nu2,i2,ok,{EPOCH0}\n')
        assert read_source(SourceConfig(format="csv", path=str(path)))["user_id"].to_list() == ["u1", "u2"], text
    # one record taken, its quote closed at the end of the next line (helper-207: no line lay between the two)
    _write(path, f'user_id,item_id,timestamp,review\nu6,i6,{EPOCH0},"oops\nu7,i7,{EPOCH0},ok"\nu8,i8,{EPOCH0},x\n')
    with pytest.raises(SourceReadError, match=r": lines 2-3: a quoted field takes the 1 line\(s\) after line 2"):
        read_source(SourceConfig(format="csv", path=str(path)))
    # item metadata alike, judged by its ids (and flags where it has them)
    items = _write(tmp_path / "items.tsv", 'item_id\ttitle\tcategories\n1\t"Toy Story\tAnimation\n2\tHeat\tAction\n'
                                           '5\tCopycat 12"\tCrime\n6\tUp\tFamily\n')
    with pytest.raises(SourceReadError, match=r"items.tsv: lines 2-4: a quoted field takes the 2 line\(s\) after line "
                                              r"2, records of 3 fields as the others, into one value"):
        read_item_metadata(ItemMetadataConfig(str(items), delimiter="\t"))
    _write(items, 'item_id,title,description\n1,Tee,"Soft cotton tee.\nAvailable in red, blue, and green."\n2,Cap,x\n')
    assert read_item_metadata(ItemMetadataConfig(str(items), categories=None))[0]["item_id"].to_list() == ["1", "2"]


def test_rows_after_a_field_over_several_lines_keep_their_line_numbers(tmp_path: Path) -> None:
    """DuckDB numbers records, not lines: a rejected row after a quoted line end is still named by its line."""
    path = _write(tmp_path / "e.csv", f'user_id,item_id,timestamp,note\nu1,i1,{EPOCH0},"a\n\nb"\n\nu2,i2\n'
                                      f"u3,i3,{EPOCH0},c\n")
    frame = read_source(SourceConfig(format="csv", path=str(path))).sort("source_row")
    assert frame.select("source_row", "item_id", "error").rows() == [
        (2, "i1", None), (6, "i2", "malformed_line"), (7, "i3", None)]


def test_a_stray_quote_closed_lines_later_at_a_fields_end_refuses_the_id_it_makes(tmp_path: Path) -> None:
    """A stray quote that another closes lines later at a field's end makes one well-formed quoted field: lines 3-5
    were one event of item 'b,...\\nu3,c,...\\nu4,d' (3 rows read of 5, 0 rejected: helper-180). No id holds a line
    end: the file is refused, as where the closing quote is mid-field; the same in item metadata."""
    path = _write(tmp_path / "e.csv", f'user_id,item_id,timestamp\nu1,a,{EPOCH0}\nu2,"b,{EPOCH0}\nu3,c,{EPOCH0}\n'
                                      f'u4,d",{EPOCH0}\nu5,e,{EPOCH0}\n')
    with pytest.raises(SourceReadError) as info:
        read_source(SourceConfig(format="csv", path=str(path)))
    assert str(info.value) == (f"{path}: lines 3-5: a quoted field takes them into one item id ('b,{EPOCH0}\\nu3,c,"
                               f"{EPOCH0}\\nu4,d'): does a quote not close? fix the quoting, or read the file without "
                               "quoting (source setting quote: '', elcrec --no-quote) (a value written with a line "
                               "break in it, as a quoted field may hold one, is refused: no id holds one; remove it "
                               "from the export)")  # the advice alone would break its other quoted ids (helper-197)
    assert len(read_source(SourceConfig(format="csv", path=str(path), quote=None))) == 5  # the advice reads it
    # also where the records cannot be matched to lines (a review over lines, and an inch mark unquoted: 12" TV),
    # which a version of 2026-12-06 read as one item 'i3,...\nu4,...\nu5,i5' (helper-206)
    _write(path, f'user_id,item_id,timestamp,review\nu1,i1,{EPOCH0},"para1\npara2"\nu3,"i3,{EPOCH0},x\n'
                 f'u4,i4,{EPOCH0},y\nu5,i5",{EPOCH0},z\nu6,i6,{EPOCH0},a 12" TV\nu7,i7,{EPOCH0},ok\n')
    with pytest.raises(SourceReadError, match=r"e.csv: a quoted field takes 3 lines into one item id \('i3,"):
        read_source(SourceConfig(format="csv", path=str(path)))  # no line numbers: the records' lines are unknown
    _write(path, f'user_id,item_id,timestamp\n"u1,a,{EPOCH0}\nu2",b,{EPOCH0}\n')
    with pytest.raises(SourceReadError, match=r": lines 2-3: a quoted field takes them into one user id \('u1,a,"):
        read_source(SourceConfig(format="csv", path=str(path)))
    # in the event type, the time or the rating alike: one event, or one rejected row, hid the lines (helper-181)
    _write(path, f'u,i,t,kind\nu1,a,{EPOCH0},view\nu2,b,{EPOCH0},"view\nu3,c,{EPOCH0},view\nu4,d,{EPOCH0},view"\n')
    with pytest.raises(SourceReadError, match=r": lines 3-5: a quoted field takes them into one event type \('view"):
        read_source(SourceConfig(format="csv", path=str(path), columns=ColumnMap("u", "i", "t", event_type="kind")))
    rated = ColumnMap("u", "i", "t", rating="stars")
    for text, value in ((f'u2,b,"{EPOCH0}\nu3,c,{EPOCH0}",5', f"t: {EPOCH0}\\\\nu3,c,{EPOCH0}"),
                        (f'u2,b,{EPOCH0},"5\nu3,c,{EPOCH0},5"', f"stars: 5\\\\nu3,c,{EPOCH0},5")):
        _write(path, f"u,i,t,stars\nu1,a,{EPOCH0},4\n{text}\nu4,d,{EPOCH0},3\n")
        with pytest.raises(SourceReadError, match=rf": lines 3-4: a quoted field takes them into one rejected value "
                                                  rf"\('{value}'\)"):
            read_source(SourceConfig(format="csv", path=str(path), columns=rated))
    # also in a row rejected for an earlier check: its detail named the empty user, and the lines went unseen
    _write(path, f'u,i,t,stars\nu1,a,{EPOCH0},4\n,b,{EPOCH0},"5\nu3,c,{EPOCH0},5"\nu4,d,{EPOCH0},3\n')  # helper-188
    with pytest.raises(SourceReadError, match=rf": lines 3-4: a quoted field takes them into one rejected value "
                                              rf"\('stars: 5\\nu3,c,{EPOCH0},5'\)"):
        read_source(SourceConfig(format="csv", path=str(path), columns=rated))
    items = _write(tmp_path / "items.csv", 'item_id,title\n1,A\n"2,B\n3",C\n4,"a title\nover two lines"\n')
    with pytest.raises(SourceReadError) as info:
        read_item_metadata(ItemMetadataConfig(str(items), categories=None))
    assert str(info.value) == (f"{items}: lines 3-4: a quoted field takes them into one item id ('2,B\\n3'): does a "
                               "quote not close? fix the quoting, or read the file without quoting (source setting "
                               "item_metadata_quote: '') (a value written with a line break in it, as a quoted field "
                               "may hold one, is refused: no id holds one; remove it from the export)")  # its setting
    # categories and category flags alike: item 3 was lost into item 2's categories, unsaid (helper-188)
    _write(items, 'item_id,title,categories\n1,A,x\n2,B,"Action\n3,C,Comedy"\n4,D,Drama\n')
    with pytest.raises(SourceReadError, match=r"lines 3-4: a quoted field takes them into one categories value "
                                              r"\('Action\\n3,C,Comedy'\)"):
        read_item_metadata(ItemMetadataConfig(str(items)))
    _write(items, 'item_id,title,Action,Comedy\n1,A,1,0\n2,B,1,"0\n3,C,0,1"\n4,D,0,1\n')
    with pytest.raises(SourceReadError, match=r"lines 3-4: a quoted field takes them into one category flag Comedy "
                                              r"\('0\\n3,C,0,1'\)"):
        read_item_metadata(ItemMetadataConfig(str(items), categories=None, category_flags=("Action", "Comedy")))
    _write(items, 'item_id,title\n1,A\n4,"a title\nover two lines"\n')  # a title may: it is no id
    assert read_item_metadata(ItemMetadataConfig(str(items), categories=None))[0]["title"].to_list() == [
        "A", "a title\nover two lines"]


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
@pytest.mark.parametrize("blank", ["", " "])  # an empty line, or a line of white space before the header
def test_empty_lines_before_the_header_are_skipped(tmp_path: Path, eol: str, blank: str) -> None:
    text = eol.join(["", "", "user_id,item_id,timestamp", f"u1,i1,{EPOCH0}", "u1,i2", f"u1,i3,{EPOCH0}", ""])
    path = _write(tmp_path / "e.csv", text)
    if blank:  # a line of white space is no empty line: it is the header
        with pytest.raises(SourceReadError, match=r"no column\(s\) \['user_id', 'item_id', 'timestamp'\]"):
            read_source(SourceConfig(format="csv", path=str(_write(path, blank + text))))
        return
    frame = read_source(SourceConfig(format="csv", path=str(path))).sort("source_row")
    assert frame.select("source_row", "item_id", "error").rows() == [
        (4, "i1", None), (5, "i2", "malformed_line"), (6, "i3", None)]
    columns = ColumnMap("column0", "column1", "column2")  # without a header: the first line that is not empty
    frame = read_source(SourceConfig(format="csv", path=str(path), header=False, columns=columns))
    assert frame.sort("source_row").select("source_row", "item_id").rows() == [
        (3, "item_id"), (4, "i1"), (5, "i2"), (6, "i3")]


@pytest.mark.parametrize(("fmt", "sep"), [("csv", ","), ("tsv", "\t")])
def test_a_header_with_a_trailing_delimiter_has_no_empty_column(tmp_path: Path, fmt: str, sep: str) -> None:
    """As the trailing empty field of a data line, the header's is no column; an empty name elsewhere is refused."""
    path = _write(tmp_path / f"e.{fmt}", f"user_id{sep}item_id{sep}timestamp{sep}\nu1{sep}i1{sep}{EPOCH0}{sep}\n"
                                         f"u2{sep}i2{sep}{EPOCH0}\n")
    frame = read_source(SourceConfig(format=fmt, path=str(path)))
    assert frame.select("source_row", "user_id", "item_id", "error").rows() == [(2, "u1", "i1", None),
                                                                                  (3, "u2", "i2", None)]
    _write(path, f"user_id{sep}{sep}timestamp\nu1{sep}i1{sep}{EPOCH0}\n")
    with pytest.raises(SourceReadError) as info:
        read_source(SourceConfig(format=fmt, path=str(path)))
    assert str(info.value) == f"{path}: line 1: header field 2 has no name: ['user_id', '', 'timestamp']"
    hint = "; is it data? A file without a header line needs names for its columns"  # where a name is a number
    for first, said in ((f"u1{sep}{sep}{EPOCH0}", f"line 1: header field 2 has no name: ['u1', '', '{EPOCH0}']"),
                        (f"u1{sep}7{sep}7", "header has repeated column names: ['u1', '7', '7']")):
        _write(path, f"{first}\nu2{sep}i2{sep}{EPOCH0}\n")
        with pytest.raises(SourceReadError) as info:
            read_source(SourceConfig(format=fmt, path=str(path)))
        assert str(info.value) == f"{path}: {said}{hint}"


def test_names_mean_the_file_has_no_header(tmp_path: Path) -> None:
    """``names`` name the columns of a file without header: with ``header`` left at its default the first line
    is data, not a header to skip (as the command line's --names)."""
    path = _write(tmp_path / "e.csv", f"u1,i1,{EPOCH0}\nu2,i2,{EPOCH0}\n")
    config = SourceConfig(format="csv", path=str(path), names=("user_id", "item_id", "timestamp"))
    assert config.header is False
    assert _events(read_source(config)) == [("u1", "i1", T0, 1), ("u2", "i2", T0, 2)]


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_a_header_in_a_file_said_to_have_none_is_a_rejected_row_not_an_event(tmp_path: Path, fmt: str) -> None:
    """MovieLens' settings (header: false, names) copied for a team's export that has a header: without a time or
    rating column to reject it, the header line was stored as an event of user 'customer' and item 'product'. A
    first line whose ids are not numbers where every other row's are (in one id column at least: ISBNs beside
    numeric users) is rejected as repeated_header, kept with the reason; the counts reconcile. Only from 19 other
    rows: the row, if it is data after all, is then at most 5% of the load and never refuses it. With a time column
    too (it was bad_timestamp); ids that are names elsewhere, a small file, and header: true read as before."""
    sep = "," if fmt == "csv" else "\t"
    rows = [(n % 7 - 3, 10 + n) for n in range(19)]
    path = _write(tmp_path / f"e.{fmt}", sep.join(["customer", "product"]) + "\n" + "".join(
        f"{u}{sep}{i}\n" for u, i in rows))
    config = SourceConfig(format=fmt, path=str(path), names=("user_id", "item_id"), columns=ColumnMap(timestamp=None))
    check = check_rows(read_source(config))
    assert (check.rows_in, len(check.accepted), len(check.rejected)) == (20, 19, 1)
    assert check.rejected.select("source_row", "reason", "detail", "user_id", "item_id").rows() == [(
        1, "repeated_header", "the first line looks like a header (user 'customer', item 'product': its user and item "
        "id not a number, as every other row's), and the source settings say the file has none (header: false; "
        "header: true reads it as one)", "customer", "product")]
    assert check.accepted["user_id"].to_list() == [str(u) for u, _ in rows]
    isbn = _write(tmp_path / "b.csv", "User-ID;ISBN\n" + "".join(f"{n};03454510{n:02d}X\n" for n in range(19)))
    check = check_rows(read_source(SourceConfig(format="csv", path=str(isbn), delimiter=";",
                                                names=("user_id", "item_id"), columns=ColumnMap(timestamp=None))))
    assert check.by_reason == {"repeated_header": 1} and "its user id not a number" in check.rejected["detail"][0]
    timed = _write(tmp_path / "t.csv", "user,item,ts\n" + "".join(f"{n},{n + 1},{EPOCH0}\n" for n in range(19)))
    check = check_rows(read_source(SourceConfig(format="csv", path=str(timed), names=("user_id", "item_id",
                                                                                      "timestamp"))))
    assert check.by_reason == {"repeated_header": 1} and len(check.accepted) == 19
    # a first user that is a name, with a time or a rating read from its line: an event, not a header
    for first, reasons in ((f"ACME Co,x1,{EPOCH0},\n", {}), ("ACME Co,x1,,4\n", {"missing_timestamp": 1})):
        named = _write(tmp_path / "a.csv", first + "".join(f"{n},{n + 1},{EPOCH0},3\n" for n in range(19)))
        check = check_rows(read_source(SourceConfig(format="csv", path=str(named), timestamp_format="epoch_s",
                                                    names=("user_id", "item_id", "timestamp", "rating"),
                                                    columns=ColumnMap(rating="rating"))))
        assert check.by_reason == reasons and check.rows_in == 20
        assert "ACME Co" in [*check.accepted["user_id"], *check.rejected["user_id"]]

    def accepted(text: str) -> int:
        file = _write(tmp_path / "n.csv", text)
        return len(check_rows(read_source(SourceConfig(format="csv", path=str(file), names=("user_id", "item_id"),
                                                       columns=ColumnMap(timestamp=None)))).accepted)

    assert accepted("alice,apple\n" + "bob,pear\n" * 19) == 20  # names everywhere: data
    assert accepted("u9,x\n" + "".join(f"{n},u{n}\n" for n in range(18)) + "u7,12\n") == 20  # a name below too
    assert accepted("customer,product\n" + "1,10\n2,11\n3,12\n") == 4  # 3 rows: too few to tell
    headed = SourceConfig(format=fmt, path=str(path), header=True, names=("user_id", "item_id"),
                          columns=ColumnMap(timestamp=None))
    assert check_rows(read_source(headed)).accepted["user_id"].to_list() == [str(u) for u, _ in rows]


def test_names_with_header_true_replace_the_header_names(tmp_path: Path) -> None:
    """An explicit ``header`` true with ``names``: the header line is skipped and the names replace its names; a
    count that differs from the header's is refused (every record would be rejected)."""
    path = _write(tmp_path / "e.csv", f"UserID,ItemID,When,\nu1,i1,{EPOCH0}\nu2,i2,{EPOCH0}\n")
    config = SourceConfig.from_dict({"format": "csv", "path": str(path), "header": True,
                                     "names": ["user_id", "item_id", "timestamp"]})
    assert config.header is True
    frame = read_source(config)
    assert _events(frame) == [("u1", "i1", T0, 2), ("u2", "i2", T0, 3)]
    assert frame["error"].to_list() == [None, None]
    with pytest.raises(SourceReadError) as info:
        read_source(SourceConfig(format="csv", path=str(path), header=True, names=("user_id", "item_id")))
    assert str(info.value) == (f"{path}: line 1: the header has 3 columns but 2 names are given: "
                               "['user_id', 'item_id']")


def test_a_byte_copy_is_the_newer_file_not_the_one_whose_name_sorts_later(tmp_path: Path) -> None:
    """``events (1).csv`` (a browser's second download) sorts before ``events.csv``: the load named the real file
    the copy and advised its removal (helper-186). The older file is the original; of files of one time, the first
    listed."""
    original = _write(tmp_path / "events.csv", f"user_id,item_id,timestamp\nu,a,{EPOCH0}\n")
    copy = _write(tmp_path / "events (1).csv", original.read_bytes())
    os.utime(original, ns=(10**18, 10**18))
    os.utime(copy, ns=(2 * 10**18, 2 * 10**18))
    listed = sorted([original, copy])  # the name order the loads list them in
    assert listed[0] == copy and byte_copies(listed) == {copy: original}
    os.utime(copy, ns=(10**18, 10**18))
    assert byte_copies(listed) == {original: copy}  # one time: the first listed


# --- timestamps of a locale: strptime patterns (helper-253) --------------------------------------------------------

GERMAN = ("Kunde;Artikel;Zeit\nk1;a;07.12.2026 14:03\nk1;b;13.1.2026 9:05\nk2;a;31.12.1997 21:16\n"
          "k2;b;1.2.2026 00:00\nk2;c;01.02.2026 24:00\n")


def _german(tmp_path: Path, text: str, fmt: str, name: str = "de.csv") -> pl.DataFrame:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    columns = ColumnMap(user="Kunde", item="Artikel", timestamp="Zeit")
    return read_source(SourceConfig(format="csv", path=str(path), delimiter=";", columns=columns,
                                    timestamp_format=fmt)).cast({"error": pl.String})


def test_a_german_excel_exports_times_read_by_a_strptime_pattern(tmp_path: Path) -> None:
    """Day first, as written (13.1. is January 13th, 07.12. December 7th: never swapped), leading zeros optional,
    naive times as UTC; a value the pattern does not read is bad_timestamp naming the column, value and pattern."""
    read = _german(tmp_path, GERMAN, "%d.%m.%Y %H:%M")
    assert read.select("user_id", "timestamp", "error", "detail").rows() == [
        ("k1", datetime(2026, 12, 7, 14, 3), None, None), ("k1", datetime(2026, 1, 13, 9, 5), None, None),
        ("k2", datetime(1997, 12, 31, 21, 16), None, None), ("k2", datetime(2026, 2, 1), None, None),
        ("k2", None, "bad_timestamp",
         'Zeit: 01.02.2026 24:00 (of timestamp_format "%d.%m.%Y %H:%M", but its hour 24 does not exist)')]
    # an offset (%z) is read and converted to UTC; a pattern reads the text of a number column (20261207)
    offsets = _german(tmp_path, "Kunde;Artikel;Zeit\nk;a;07.12.2026 14:03 +01:00\nk;b;07.12.2026 14:03 -0500\n",
                      "%d.%m.%Y %H:%M %z")
    assert offsets["timestamp"].to_list() == [datetime(2026, 12, 7, 13, 3), datetime(2026, 12, 7, 19, 3)]
    assert _german(tmp_path, "Kunde;Artikel;Zeit\nk;a;20261207\nk;b;20260113\n", "%Y%m%d")["timestamp"].to_list() \
        == [datetime(2026, 12, 7), datetime(2026, 1, 13)]
    # US: month first, a 12-hour clock
    us = _german(tmp_path, "Kunde;Artikel;Zeit\nk;a;12/31/1997 9:16 PM\nk;b;1/2/2026 12:05 am\n", "%m/%d/%Y %I:%M %p")
    assert us["timestamp"].to_list() == [datetime(1997, 12, 31, 21, 16), datetime(2026, 1, 2, 0, 5)]


def test_a_german_exports_last_line_cut_short_is_a_bad_timestamp(tmp_path: Path) -> None:
    """strptime reads 14:0 as 14:00 and 7.12.202 as the year 202: minutes, seconds and years that end a pattern
    need all their digits; 14: is no time; a last line without a line end says so."""
    head = "Kunde;Artikel;Zeit\nk1;a;07.12.2026 14:03\n"
    for first, cut, fmt in (("07.12.2026 14:03", "07.12.2026 14:", "%d.%m.%Y %H:%M"),
                            ("07.12.2026 14:03", "07.12.2026 14:0", "%d.%m.%Y %H:%M"),
                            ("07.12.2026", "7.12.202", "%d.%m.%Y")):
        read = _german(tmp_path, f"Kunde;Artikel;Zeit\nk1;a;{first}\nk1;b;{cut}", fmt)
        assert read["timestamp"][0] == (datetime(2026, 12, 7, 14, 3) if "%H" in fmt else datetime(2026, 12, 7))
        assert read.select("timestamp", "error", "detail").rows()[-1] == (
            None, "bad_timestamp", f'Zeit: {cut} (not of timestamp_format "{fmt}": its last field lacks a digit)'
            + CUT_SHORT), cut
    assert _german(tmp_path, head + "k1;b;07.12.2026 14:3\n", "%d.%m.%Y %H:%M")["error"].to_list() == [
        None, "bad_timestamp"]


def test_fields_without_a_separator_need_all_their_digits(tmp_path: Path) -> None:
    """strptime reads %Y%m%d's 2026121 (20261215 cut short) as December 1st and %H%M's 143 as 14:03: fields that
    another follows without a separator need all their digits (the last field's rule, helper-253, knew separated
    fields alone); fields of no fixed width (%-d) and those past a UTC offset are read as strptime reads them."""
    run_on = "(not of timestamp_format \"{}\": fields with no separator need all their digits ({}))"
    read = _german(tmp_path, "Kunde;Artikel;Zeit\nk;a;20261207\nk;b;2026127\nk;c;2026121\n", "%Y%m%d")
    assert read.select("timestamp", "detail").rows() == [(datetime(2026, 12, 7), None)] + [
        (None, f"Zeit: {cut} " + run_on.format("%Y%m%d", "%Y%m%d: 8")) for cut in ("2026127", "2026121")]
    fmt = "%Y%m%d %H%M %z"
    read = _german(tmp_path, "Kunde;Artikel;Zeit\nk;a;20261207 1403 +0100\nk;b;20261207 143 +0100\n"
                   "k;c;20261207 1403 +01:00\n", fmt)
    assert read.select("timestamp", "detail").rows() == [
        (datetime(2026, 12, 7, 13, 3), None),
        (None, "Zeit: 20261207 143 +0100 " + run_on.format(fmt, "%Y%m%d: 8, %H%M: 4")),
        (datetime(2026, 12, 7, 13, 3), None)]
    assert _german(tmp_path, "Kunde;Artikel;Zeit\nk;a;2026127\n", "%Y%m%-d")["timestamp"].to_list() == [
        datetime(2026, 12, 7)]


def test_a_date_of_a_locale_names_the_pattern_that_the_files_dates_fit(tmp_path: Path) -> None:
    """Read as epoch_s (the default) or iso8601: day first where a first field is above 12, month first where a
    second is, both where the file's dates cannot tell; under a pattern of the other order, the right one."""
    day_first = 'Zeit: {} (a date of a locale, day first: timestamp_format "%d.%m.%Y %H:%M")'
    for fmt in ("epoch_s", "iso8601"):
        assert _german(tmp_path, GERMAN, fmt)["detail"].to_list() == [day_first.format(value) for value in (
            "07.12.2026 14:03", "13.1.2026 9:05", "31.12.1997 21:16", "1.2.2026 00:00", "01.02.2026 24:00")]
    us = _german(tmp_path, "Kunde;Artikel;Zeit\nk;a;12/31/1997 9:16 PM\nk;b;01/02/2026 10:00:05\n", "epoch_s")
    assert us["detail"].to_list() == [
        'Zeit: 12/31/1997 9:16 PM (a date of a locale, month first: timestamp_format "%m/%d/%Y %I:%M %p")',
        'Zeit: 01/02/2026 10:00:05 (a date of a locale, month first: timestamp_format "%m/%d/%Y %H:%M:%S")']
    either = _german(tmp_path, "Kunde;Artikel;Zeit\nk;a;01.02.2026\nk;b;03.04.26\n", "epoch_s")["detail"]
    assert either.to_list() == [
        f"Zeit: {value} (a date of a locale, day or month first, which the file's dates cannot tell (none has a field "
        f'above 12): timestamp_format "%d.%m.{year}" (day first) or "%m.%d.{year}" (month first))'
        for value, year in (("01.02.2026", "%Y"), ("03.04.26", "%y"))]
    wrong = _german(tmp_path, GERMAN, "%m.%d.%Y %H:%M")
    assert wrong["detail"][1] == ('Zeit: 13.1.2026 9:05 (not of timestamp_format "%m.%d.%Y %H:%M") (a date of a '
                                  'locale, day first: timestamp_format "%d.%m.%Y %H:%M")')


def test_a_time_of_another_form_than_the_patterns_names_its_form(tmp_path: Path) -> None:
    """A US till's export whose times lack seconds where the pattern has them (2/28/2026 6:33 PM under
    %m/%d/%Y %I:%M:%S %p) said only 'not of timestamp_format' (helper-257): the detail names the value's form; a
    value of the pattern's own form that fails (month 13, hour 24) gets no such word, but names the field that does
    not exist (helper-278)."""
    text = ("Kunde;Artikel;Zeit\nk;a;2/28/2026 6:33 PM\nk;b;2/28/2026\nk;c;3/8/2026 1:30:05 AM\n"
            "k;d;13/28/2026 1:30:05 AM\n")
    read = _german(tmp_path, text, "%m/%d/%Y %I:%M:%S %p")
    said = ' (not of timestamp_format "%m/%d/%Y %I:%M:%S %p")'
    assert read.select("timestamp", "detail").rows() == [
        (None, f'Zeit: 2/28/2026 6:33 PM{said} (its form: "%m/%d/%Y %I:%M %p", another than timestamp_format\'s)'),
        (None, f'Zeit: 2/28/2026{said} (its form: "%m/%d/%Y", another than timestamp_format\'s)'),
        (datetime(2026, 3, 8, 1, 30, 5), None),
        (None, 'Zeit: 13/28/2026 1:30:05 AM (of timestamp_format "%m/%d/%Y %I:%M:%S %p", but its month 13 does not '
               "exist)")]
    german = _german(tmp_path, "Kunde;Artikel;Zeit\nk;a;31.12.2026 14:03:09\nk;b;31.12.2026 24:00\n", "%d.%m.%Y %H:%M")
    assert german["detail"].to_list() == [
        'Zeit: 31.12.2026 14:03:09 (not of timestamp_format "%d.%m.%Y %H:%M") (its form: "%d.%m.%Y %H:%M:%S", '
        "another than timestamp_format's)",
        'Zeit: 31.12.2026 24:00 (of timestamp_format "%d.%m.%Y %H:%M", but its hour 24 does not exist)']


def test_a_date_that_neither_order_reads_does_not_hide_the_files_order(tmp_path: Path) -> None:
    """One garbage date of a US till's export, 13/40/2026 (both fields above 12), counted as a day-first date: the
    hint of every row said the dates could not tell the order (helper-257); it names month first, as 2/28 does."""
    text = "Kunde;Artikel;Zeit\nk;a;2/28/2026 6:33 PM\nk;b;13/40/2026 1:00 PM\n"
    assert _german(tmp_path, text, "iso8601")["detail"].to_list() == [
        f'Zeit: {value} (a date of a locale, month first: timestamp_format "%m/%d/%Y %I:%M %p")'
        for value in ("2/28/2026 6:33 PM", "13/40/2026 1:00 PM")]


def test_a_time_of_p_m_with_dots_gets_no_pattern_that_reads_it_as_a_m(tmp_path: Path) -> None:
    """2/28/2026 2:05:33 p.m. was told timestamp_format "%m/%d/%Y %H:%M:%S p.m.", which reads it as 02:05:33, every
    afternoon's time 12 hours early (helper-257): no pattern reads a.m. or p.m., and the detail says so."""
    text = "Kunde;Artikel;Zeit\nk;a;2/28/2026 2:05:33 p.m.\nk;b;2/28/2026 2:05:33 PM\n"
    dots = "strptime's %p reads AM and PM, not a.m. and p.m.: write them without dots"
    assert _german(tmp_path, text, "iso8601")["detail"].to_list() == [
        f'Zeit: 2/28/2026 2:05:33 p.m. (a date of a locale, month first: timestamp_format "%m/%d/%Y" and the time\'s '
        f"fields; {dots})",
        'Zeit: 2/28/2026 2:05:33 PM (a date of a locale, month first: timestamp_format "%m/%d/%Y %I:%M:%S %p")']
    read = _german(tmp_path, text, "%m/%d/%Y %I:%M:%S %p")
    assert read.select("timestamp", "detail").rows() == [
        (None, f'Zeit: 2/28/2026 2:05:33 p.m. (not of timestamp_format "%m/%d/%Y %I:%M:%S %p") ({dots})'),
        (datetime(2026, 2, 28, 14, 5, 33), None)]


@pytest.mark.parametrize("fmt, message", [
    ("%d.%m.%Q", "timestamp_format = '%d.%m.%Q': no strptime pattern (Failed to parse format specifier %d.%m.%Q: "
                 "Unrecognized format for strftime/strptime: %Q)"),
    ("%d.%m.%Y %", "timestamp_format = '%d.%m.%Y %': no strptime pattern"),
    ("dd.mm.yyyy", "timestamp_format = 'dd.mm.yyyy': one of epoch_s, epoch_ms, epoch_us, iso8601 or a strptime "
                   "pattern such as '%d.%m.%Y %H:%M' (text holding %)"),
])
def test_a_timestamp_format_that_is_no_strptime_pattern_is_refused_naming_the_setting(fmt: str, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        SourceConfig(format="csv", path="e.csv", timestamp_format=fmt)
    assert str(refused.value).startswith(message)


def test_a_month_name_of_another_language_says_strptime_reads_english_names(tmp_path: Path) -> None:
    """DuckDB's strptime reads %b, %B, %a and %A in English alone: a German export's 07 Dez 2026 was bad_timestamp
    'not of timestamp_format' without a word why (helper-256); a value of English names that fails otherwise, or
    of the pattern's own words (GMT, at), is not told so."""
    english = ": strptime reads the names of months and days in English alone: Dec, December, Mon, Monday)"
    read = _german(tmp_path, "Kunde;Artikel;Zeit\nk;a;07 Dez 2026\nk;b;07 Dec 2026\nk;c;07 Dec 2026 25:00\n"
                   "k;d;07 März 2026\n", "%d %b %Y")
    assert read.select("timestamp", "detail").rows() == [
        (None, 'Zeit: 07 Dez 2026 (not of timestamp_format "%d %b %Y"' + english), (datetime(2026, 12, 7), None),
        (None, 'Zeit: 07 Dec 2026 25:00 (not of timestamp_format "%d %b %Y")'),
        (None, 'Zeit: 07 März 2026 (not of timestamp_format "%d %b %Y"' + english)]
    fmt = "%a, %d %B %Y at %I %p GMT"
    read = _german(tmp_path, "Kunde;Artikel;Zeit\nk;a;Mon, 07 December 2026 at 2 PM GMT\n"
                   "k;b;Mo, 07 Dezember 2026 at 2 PM GMT\nk;c;Mon, 07 December 2026 at 13 PM GMT\n", fmt)
    assert read.select("timestamp", "detail").rows() == [
        (datetime(2026, 12, 7, 14), None),
        (None, f'Zeit: Mo, 07 Dezember 2026 at 2 PM GMT (not of timestamp_format "{fmt}"' + english),
        (None, f'Zeit: Mon, 07 December 2026 at 13 PM GMT (of timestamp_format "{fmt}", but its hour 13 of a '
               "12-hour clock (%I) does not exist)")]
