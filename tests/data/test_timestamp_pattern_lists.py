"""A source whose times come in several forms: ``timestamp_format`` as a list of strptime patterns (a till's export
writes midnight as a date alone, ``12/7/2025``, other times with a clock, ``12/7/2025 2:05:33 PM``; an export merged
from two systems has ``07.12.2025 14:03`` and ``2025-12-07 14:03:00``), each time read by the first pattern that
reads it whole (helper-266)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
import yaml

from elcrec_core.cli.main import main
from elcrec_core.data.source_config import ColumnMap, SourceConfig, read_settings_file
from elcrec_core.data.sources import read_source
from elcrec_pipeline.config import SourceSettings
from elcrec_pipeline.resources import Storage

TILL = ["%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y"]
MERGED = ["%d.%m.%Y %H:%M", "%Y-%m-%d %H:%M:%S"]


def _read(tmp_path: Path, times: list[str], fmt: object, zone: str | None = None) -> pl.DataFrame:
    """The events of a CSV file of one row a time (user u, items i1, i2, ...), read with ``fmt`` and ``zone``."""
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,ts\n" + "".join(f"u,i{n},{t}\n" for n, t in enumerate(times, 1)),
                    encoding="utf-8")
    return read_source(SourceConfig(format="csv", path=str(path), columns=ColumnMap(timestamp="ts"),
                                    timestamp_format=fmt, timezone=zone))


def _rows(frame: pl.DataFrame) -> list[tuple]:
    return frame.select("source_row", "timestamp", "error", "detail").rows()


def test_each_form_of_a_tills_export_is_read_and_the_others_rejected_with_their_detail(tmp_path: Path) -> None:
    """A date alone is midnight, a time with a clock its time; a time of a third form (no seconds) is rejected,
    naming both patterns and its form; every row is kept, accepted or rejected."""
    frame = _read(tmp_path, ["12/7/2025", "12/7/2025 2:05:33 PM", "12/7/2025 2:05 PM", "12/31/2025 11:59:59 PM"],
                  TILL)
    listed = "(of none of timestamp_format's patterns: \"%m/%d/%Y %I:%M:%S %p\"; \"%m/%d/%Y\")"
    assert _rows(frame) == [
        (2, datetime(2025, 12, 7), None, None),
        (3, datetime(2025, 12, 7, 14, 5, 33), None, None),
        (4, None, "bad_timestamp", f"ts: 12/7/2025 2:05 PM {listed} (its form: \"%m/%d/%Y %I:%M %p\", another than "
                                   "timestamp_format's)"),
        (5, datetime(2025, 12, 31, 23, 59, 59), None, None)]
    assert (len(frame), frame["error"].is_null().sum(), frame["error"].is_not_null().sum()) == (4, 3, 1)


def test_no_pattern_of_the_list_reads_a_time_cut_short(tmp_path: Path) -> None:
    """Each pattern keeps its whole-field guarantee: ``14:0`` (a line cut short) is read by neither pattern as
    14:00, and the detail says which pattern's last field lacks a digit."""
    frame = _read(tmp_path, ["07.12.2025 14:03", "2025-12-07 14:03:00", "07.12.2025 14:0", "2025-12-07 14:03:0",
                             "2025-12-07T14:03:00"], MERGED)
    assert _rows(frame) == [
        (2, datetime(2025, 12, 7, 14, 3), None, None),
        (3, datetime(2025, 12, 7, 14, 3), None, None),
        (4, None, "bad_timestamp", "ts: 07.12.2025 14:0 (of none of timestamp_format's patterns: \"%d.%m.%Y %H:%M\": "
                                   "its last field lacks a digit; \"%Y-%m-%d %H:%M:%S\")"),
        (5, None, "bad_timestamp", "ts: 2025-12-07 14:03:0 (of none of timestamp_format's patterns: "
                                   "\"%d.%m.%Y %H:%M\"; \"%Y-%m-%d %H:%M:%S\": its last field lacks a digit)"),
        (6, None, "bad_timestamp", "ts: 2025-12-07T14:03:00 (of none of timestamp_format's patterns: "
                                   "\"%d.%m.%Y %H:%M\"; \"%Y-%m-%d %H:%M:%S\") (its form: ISO 8601, "
                                   "\"%Y-%m-%dT%H:%M:%S\", another than timestamp_format's: add it to the list, or "
                                   "timestamp_format iso8601 where every time is ISO 8601)")]


def test_the_zone_moves_the_naive_times_of_a_list_not_those_with_an_offset(tmp_path: Path) -> None:
    """With timezone America/New_York (UTC-5 in December), a local 09:03 is 14:03 UTC; a time with %z's offset is
    a moment, not moved."""
    frame = _read(tmp_path, ["07.12.2025 09:03", "2025-12-07T14:03:00+0000", "2025-12-07T15:03:00+01:00"],
                  ["%d.%m.%Y %H:%M", "%Y-%m-%dT%H:%M:%S%z"], zone="America/New_York")
    assert frame["timestamp"].to_list() == [datetime(2025, 12, 7, 14, 3)] * 3
    assert frame["error"].to_list() == [None] * 3


def test_a_list_of_one_pattern_is_that_pattern(tmp_path: Path) -> None:
    """The setting, the times and the detail of a value it does not read are the pattern's own."""
    times = ["07.12.2025 14:03", "07.12.2025 14:0"]
    assert SourceConfig(format="csv", path="e.csv", timestamp_format=[MERGED[0]]).timestamp_format == MERGED[0]
    listed, alone = _read(tmp_path, times, [MERGED[0]]), _read(tmp_path, times, MERGED[0])
    assert listed.equals(alone)
    assert listed["detail"].to_list() == [
        None, "ts: 07.12.2025 14:0 (not of timestamp_format \"%d.%m.%Y %H:%M\": its last field lacks a digit)"]


@pytest.mark.parametrize(("fmt", "said"), [
    ([], "timestamp_format = []: an empty list; give one strptime pattern or more, such as ['%d.%m.%Y %H:%M']"),
    (["%d.%m.%Y %H:%M", "iso8601"], "timestamp_format = ['%d.%m.%Y %H:%M', 'iso8601']: pattern 2, 'iso8601', is a "
                                    "named format, which stands alone: a list holds strptime patterns (ISO 8601's "
                                    "2026-12-07 14:03:00 is '%Y-%m-%d %H:%M:%S')"),
    (["%d.%m.%Y", "%d.%m.%Y %Q"], "timestamp_format = ['%d.%m.%Y', '%d.%m.%Y %Q']: pattern 2 = '%d.%m.%Y %Q': no "
                                  "strptime pattern (Failed to parse format specifier %d.%m.%Y %Q: Unrecognized "
                                  "format for strftime/strptime: %Q)"),
    (["%d.%m.%Y", "dd.mm.yyyy"], "timestamp_format = ['%d.%m.%Y', 'dd.mm.yyyy']: pattern 2, 'dd.mm.yyyy', is no "
                                 "strptime pattern (text holding %)"),
])
def test_a_list_that_is_no_list_of_patterns_is_refused_naming_the_pattern_and_its_place(fmt: list, said: str) -> None:
    """By the library's SourceConfig and by the pipeline's source settings (from the settings file or run config)."""
    with pytest.raises(ValueError) as refused:
        SourceConfig(format="csv", path="e.csv", timestamp_format=fmt)
    assert str(refused.value) == said
    with pytest.raises(ValueError) as refused:
        SourceSettings(format="csv", path="e.csv").resolved({"timestamp_format": fmt})
    assert str(refused.value) == said


def test_the_pipelines_settings_file_and_run_config_give_the_list_to_the_source(tmp_path: Path) -> None:
    """A list in the source settings file, a run config's list over it; a run config's one pattern over a file's
    list is that pattern."""
    (tmp_path / "events.csv").write_text("user_id,item_id,timestamp\n", encoding="utf-8")
    storage, path = Storage(data_dir=str(tmp_path)), str(tmp_path / "events.csv")
    for run, file, fmt in ((None, TILL, tuple(TILL)), (MERGED, TILL, tuple(MERGED)), ("%d.%m.%Y", TILL, "%d.%m.%Y"),
                           ([MERGED[0]], None, MERGED[0])):
        settings = SourceSettings(format="csv", path=path, timestamp_format=run).resolved(
            {"timestamp_format": file} if file else {})
        assert settings.source_config("2026-01-31", storage).timestamp_format == fmt


def test_elcrec_reads_a_list_from_the_option_given_again_and_from_a_source_file(tmp_path: Path, capsys) -> None:
    """``--timestamp-format`` given twice, or a source file's list: the till's midnight comes before its 2:05 PM
    (the items in time order, against the file's); a file of no such time says it was read as the list; iso8601
    among patterns is refused naming it."""
    (tmp_path / "events.csv").write_text("user_id,item_id,timestamp\nu,late,12/7/2025 2:05:33 PM\nu,early,12/7/2025\n",
                                         encoding="utf-8")
    source = tmp_path / "source.yaml"
    source.write_text(yaml.safe_dump({"format": "csv", "path": "events.csv", "timestamp_format": TILL}),
                      encoding="utf-8")
    given = ["--timestamp-format", TILL[0], "--timestamp-format", TILL[1]]
    for argv in (["--data", str(tmp_path / "events.csv"), *given], ["--source", str(source)]):
        assert main(["sequences", *argv, "--json"]) == 0
        assert [json.loads(line)["items"] for line in capsys.readouterr().out.splitlines()] == [["early", "late"]]
    (tmp_path / "iso.csv").write_text("user_id,item_id,timestamp\nu,a,2025-12-07\n", encoding="utf-8")
    assert main(["sequences", "--data", str(tmp_path / "iso.csv"), *given]) == 2
    assert ("the timestamps were read as ['%m/%d/%Y %I:%M:%S %p', '%m/%d/%Y']: give --timestamp-format"
            in capsys.readouterr().err)
    with pytest.raises(SystemExit):
        main(["sequences", "--source", str(source), "--timestamp-format", "iso8601", "--timestamp-format", TILL[1]])
    assert ("--timestamp-format = ['iso8601', '%m/%d/%Y']: pattern 1, 'iso8601', is a named format, which stands "
            "alone" in capsys.readouterr().err)


def test_an_unquoted_pattern_in_a_settings_file_is_refused_saying_to_quote_it(tmp_path: Path) -> None:
    """YAML reads a value that begins with % as a directive: its parser's error ends with how to write the pattern;
    another YAML error is told as the parser tells it."""
    file = tmp_path / "source.yaml"
    file.write_text("format: csv\ntimestamp_format: %m/%d/%Y %I:%M:%S %p\n", encoding="utf-8")
    with pytest.raises(yaml.YAMLError) as refused:
        read_settings_file(file)
    assert str(refused.value).endswith("\n(a value that begins with % is quoted in YAML: timestamp_format: "
                                       "'%d.%m.%Y %H:%M')")
    file.write_text("format: [csv\n", encoding="utf-8")
    with pytest.raises(yaml.YAMLError) as other:
        read_settings_file(file)
    assert "quoted in YAML" not in str(other.value)
