"""Messages about bad rows that misled a new user's trial (helper-275, fixed by helper-278): a time of its pattern's
form with a field that does not exist (month 13, February 30th) was told to add a pattern; a refused load of a few
rows without a user asked whether user_column was right; a line cut short between columns had DuckDB's words
and no ids; a time without a UTC offset among times with one was read as UTC without a word."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml

from assets.load_advice import rejected_note
from elcrec_core.cli.main import main
from elcrec_core.data.source_config import ColumnMap, SourceConfig
from elcrec_core.data.sources import read_source
from elcrec_core.data.validation import REJECTED_COLUMNS, RowCheck
from elcrec_pipeline.resources import SourceFile
from tests.data.test_time_setting_edges import _events
from tests.pipeline.test_source_file import ingest

US = "%m/%d/%Y %I:%M %p"


def _details(tmp_path: Path, times: list[str], fmt: object) -> list[str | None]:
    frame = read_source(SourceConfig(format="csv", path=str(_events(tmp_path, times)),
                                     columns=ColumnMap(timestamp="ts"), timestamp_format=fmt))
    return frame["detail"].to_list()


@pytest.mark.parametrize(("fmt", "times", "details"), [
    (US, ["02/30/2026 01:30 PM", "02/29/2024 01:30 PM", "12/01/2026 13:30 PM", "12/01/2026 11:60 PM"], [
        f'ts: 02/30/2026 01:30 PM (of timestamp_format "{US}", but its day 30 of February 2026 does not exist)', None,
        f'ts: 12/01/2026 13:30 PM (of timestamp_format "{US}", but its hour 13 of a 12-hour clock (%I) does not exist)',
        f'ts: 12/01/2026 11:60 PM (of timestamp_format "{US}", but its minute 60 does not exist)']),
    # the ISO form the hint detects: no advice to add its pattern, which reads it no better
    (US, ["2026-13-45 25:00"], [
        f'ts: 2026-13-45 25:00 (not of timestamp_format "{US}") (its form: ISO 8601, "%Y-%m-%d %H:%M", but its month '
        "13, day 45 and hour 25 do not exist)"]),
    ([US, "%Y-%m-%d %H:%M"], ["2026-13-45 25:00", "02/30/2026 01:30 PM"], [
        "ts: 2026-13-45 25:00 (of timestamp_format's pattern \"%Y-%m-%d %H:%M\", but its month 13, day 45 and hour 25 "
        "do not exist)",
        f"ts: 02/30/2026 01:30 PM (of timestamp_format's pattern \"{US}\", but its day 30 of February 2026 does not "
        "exist)"]),
    ("iso8601", ["2026-02-30T10:00:00Z", "2026-13-01", "2026-01-01T10:61:00"], [
        "ts: 2026-02-30T10:00:00Z (its day 30 of February 2026 does not exist)",
        "ts: 2026-13-01 (its month 13 does not exist)", "ts: 2026-01-01T10:61:00 (its minute 61 does not exist)"]),
    ("%d/%m/%y", ["29/02/25", "29/02/24"], [
        'ts: 29/02/25 (of timestamp_format "%d/%m/%y", but its day 29 of February 2025 does not exist)', None]),
    ("%Y-%j", ["2026-366", "0000-001"], [
        'ts: 2026-366 (of timestamp_format "%Y-%j", but its day 366 of the year 2026 does not exist)',
        'ts: 0000-001 (of timestamp_format "%Y-%j", but its year 0 does not exist)']),
    # a date of the other order is a date of a locale: its hint names the order, as before
    (US, ["13/02/2026 01:30 PM"], [
        f'ts: 13/02/2026 01:30 PM (not of timestamp_format "{US}") (a date of a locale, day first: timestamp_format '
        '"%d/%m/%Y %I:%M %p")']),
])
def test_a_time_of_a_patterns_form_whose_field_does_not_exist_names_the_field(tmp_path: Path, fmt: object,
                                                                              times: list[str],
                                                                              details: list[str | None]) -> None:
    """``02/30/2026 01:30 PM`` was 'not of timestamp_format' although it has its form, and ``2026-13-45 25:00`` was
    told to add its ISO pattern, which then said 'of none of timestamp_format's patterns' (helper-275)."""
    assert _details(tmp_path, times, fmt) == details


def test_the_command_prints_the_field_that_does_not_exist_as_the_rejected_rows_have_it(tmp_path: Path,
                                                                                      capsys) -> None:
    path = _events(tmp_path, ["02/01/2026 08:33 AM", "02/30/2026 01:30 PM"])
    main(["sequences", "--data", str(path), "--timestamp-column", "ts", "--timestamp-format", US,
          "--rejected-out", str(tmp_path / "rejected.csv")])
    detail = f'ts: 02/30/2026 01:30 PM (of timestamp_format "{US}", but its day 30 of February 2026 does not exist)'
    assert f"line 3: bad_timestamp ({detail})" in capsys.readouterr().err
    assert pl.read_csv(tmp_path / "rejected.csv")["detail"].to_list() == [detail]


def _check(by_reason: dict[str, int], accepted: int) -> RowCheck:
    """A load's rows: ``accepted`` good ones, then the rejected ones of each reason."""
    reasons = [reason for reason, count in by_reason.items() for _ in range(count)]
    rejected = pl.DataFrame([("f.csv", n + 2 + accepted, reason, "x") + (None,) * 5
                             for n, reason in enumerate(reasons)], schema=REJECTED_COLUMNS, orient="row")
    rows = pl.DataFrame({"user_id": ["u"] * accepted, "item_id": ["i"] * accepted, "timestamp": [None] * accepted,
                         "source_file": ["f.csv"] * accepted},
                        schema={"user_id": pl.String, "item_id": pl.String, "timestamp": pl.Datetime,
                                "source_file": pl.String})
    return RowCheck(rows, rejected, accepted + sum(by_reason.values()), by_reason)


@pytest.mark.parametrize(("by_reason", "accepted", "said"), [
    ({"missing_user": 6}, 101, "6 of 107 rows read lack a user (missing_user), which the other rows have: these rows "
                               "lack a value, and user_column is not in doubt"),
    ({"missing_item": 3, "missing_timestamp": 3}, 10, "3 of 16 rows read lack a time (missing_timestamp), which the "
                                                      "other rows have: these rows lack a value, and timestamp_column "
                                                      "is not in doubt. 3 of 16 rows read lack an item (missing_item)"),
    ({"empty_row": 100, "bad_timestamp": 5}, 40, "5 of 45 rows read (the empty rows aside) lack a time that "
                                                 "timestamp_format reads (bad_timestamp), which the other rows have: "
                                                 "their values are at fault, and timestamp_format is not in doubt"),
    ({"rating_out_of_range": 2}, 8, "lack a rating within min_rating, max_rating (rating_out_of_range), which the "
                                    "other rows have: their values are at fault, and min_rating, max_rating are not "
                                    "in doubt"),
    ({"timestamp_out_of_window": 4}, 6, "their values are at fault, and min_timestamp, max_timestamp are not in "
                                        "doubt"),
])
def test_a_refusal_asks_about_a_setting_only_where_most_rows_lack_its_field(by_reason: dict[str, int], accepted: int,
                                                                            said: str) -> None:
    """6 blank customers of 107 rows asked 'Is user_column in the source settings (...) right for these files?'
    (helper-275's trial); each reason whose setting the note asks about is told so where its rows are half the
    rows read or fewer: the rows lack a value, or hold one at fault (a bad time, a rating out of bounds: helper-281,
    they were said to lack one)."""
    note = rejected_note(_check(by_reason, accepted), "csv", "iso8601", "source settings")
    assert said in note
    assert " right for these files" not in note


@pytest.mark.parametrize(("by_reason", "setting"), [
    ({"missing_user": 60}, "user_column"), ({"empty_row": 100, "bad_timestamp": 41}, "timestamp_format ("),
    ({"rating_out_of_range": 41}, "min_rating, max_rating"), ({"missing_timestamp": 41}, "timestamp_column")])
def test_a_refusal_of_mostly_such_rows_still_asks_about_the_setting(by_reason: dict[str, int], setting: str) -> None:
    note = rejected_note(_check(by_reason, 40), "csv", "iso8601", "source settings")
    assert f"Is {setting}" in note and " rows read lack " not in note


OPEN = (" (the file's last line, without a line end: the file may be cut short, copied or read while still being "
        "written)")


@pytest.mark.parametrize("end", ["\r\n", "\n"])
def test_a_line_of_too_few_fields_keeps_its_ids_and_the_last_without_a_line_end_says_the_file_may_be_cut(
        tmp_path: Path, end: str, capsys) -> None:
    """A CRLF file with a byte order mark whose last line is ``C0017,SKU-10`` (no line end) was ``malformed_line
    (MISSING COLUMNS: C0017,SKU-10)``, DuckDB's words, with neither id in the rejected row (helper-275)."""
    lines = ["customer_id,sku,event_time,event_type,qty", "C0001,SKU-1,1769850000,view,1", "C0002,SKU-2",
             "C0003,SKU-3,1769850000,view,1", ",SKU-4,1769850000", "C0017,SKU-10"]
    path = tmp_path / "events.csv"
    path.write_bytes(b"\xef\xbb\xbf" + end.join(lines).encode())
    frame = read_source(SourceConfig(format="csv", path=str(path), columns=ColumnMap(
        user="customer_id", item="sku", timestamp="event_time"))).cast({"error": pl.String})
    assert frame.filter(pl.col("error").is_not_null()).select("source_row", "user_id", "item_id", "detail").rows() == [
        (3, "C0002", "SKU-2", "a line with 2 of 5 fields: C0002,SKU-2"),
        (5, "", "SKU-4", "a line with 3 of 5 fields: ,SKU-4,1769850000"),
        (6, "C0017", "SKU-10", f"a line with 2 of 5 fields: C0017,SKU-10{OPEN}")]
    main(["sequences", "--data", str(path), "--user-column", "customer_id", "--item-column", "sku",
          "--timestamp-column", "event_time"])
    assert f"line 6: malformed_line (a line with 2 of 5 fields: C0017,SKU-10{OPEN})" in capsys.readouterr().err
    path.write_bytes(b"\xef\xbb\xbf" + end.join(lines).encode() + end.encode())  # a line end: not cut short
    assert read_source(SourceConfig(format="csv", path=str(path), columns=ColumnMap(
        user="customer_id", item="sku", timestamp="event_time")))["detail"][-1] == \
        "a line with 2 of 5 fields: C0017,SKU-10"


def _iso_with_one_naive(folder: Path) -> Path:
    """A day's file of 12 ISO times with a UTC offset (or Z) and, on line 5, one without."""
    times = [f"2026-01-31T{9 + n}:00:00{'Z' if n % 2 else '-05:00'}" for n in range(12)]
    times[3] = "2026-01-31 14:00:00"
    folder.mkdir(parents=True)
    path = folder / "2026-01-31.csv"
    path.write_text("user_id,item_id,timestamp\n" + "".join(f"u{n % 3},i{n},{t}\n" for n, t in enumerate(times)),
                    encoding="utf-8")
    return path


def test_a_time_without_an_offset_among_times_with_one_is_read_and_the_command_warns(tmp_path: Path,
                                                                                     capsys) -> None:
    """A mid-file time without its offset was read as UTC, 5 hours off New York's, without a word (helper-275): it
    is accepted, and stderr names the count, the line and --timezone, which decides how it is read."""
    path = _iso_with_one_naive(tmp_path / "logs")
    main(["sequences", "--data", str(path), "--timestamp-format", "iso8601"])
    assert ("1 ISO 8601 time(s) without a UTC offset, in files whose times mostly have one, were read as UTC times "
            "(--timezone not set: UTC) and accepted: 2026-01-31.csv line 5; where they are another zone's times, "
            "write each with its offset, or name the zone they were written in with --timezone") in \
        capsys.readouterr().err
    main(["sequences", "--data", str(path), "--timestamp-format", "iso8601", "--timezone", "America/New_York"])
    assert "were read as America/New_York times (--timezone) and accepted: 2026-01-31.csv line 5;" in \
        capsys.readouterr().err
    frame = read_source(SourceConfig(format="csv", path=str(path), timestamp_format="iso8601"))
    assert frame["error"].null_count() == 12 and frame["timestamp"][3] == datetime(2026, 1, 31, 14)


def test_the_pipelines_load_warns_of_a_time_without_an_offset_among_times_with_one(tmp_path: Path) -> None:
    _iso_with_one_naive(tmp_path / "team" / "logs")
    source = tmp_path / "team" / "source.yaml"
    source.write_text(yaml.safe_dump({"format": "csv", "path": "logs/{date}.csv", "timestamp_format": "iso8601"}),
                      encoding="utf-8")
    instance = dg.DagsterInstance.ephemeral()
    result = ingest(tmp_path / "data", SourceFile(path=str(source)), "2026-01-31", instance=instance)
    warnings = [entry.user_message for entry in instance.all_logs(result.run_id) if entry.level == logging.WARNING]
    assert result.success and [w for w in warnings if "UTC offset" in w] == [
        "1 ISO 8601 time(s) without a UTC offset, in files whose times mostly have one, were read as UTC times "
        f"(timezone in the source settings ({source}) not set: UTC) and accepted: 2026-01-31.csv line 5; where they "
        "are another zone's times, write each with its offset, or name the zone they were written in with timezone"]
