"""Six rough edges of the time settings that a new user's trial found (helper-268): the summary's first rejected rows
kept the value and lost the advice; ``timezone: EST`` (UTC-05:00 all year) passed without a word; a swapped window
of a ``--source`` file named no file; a bad pattern among repeated ``--timestamp-format`` options had no place; a
named format among them got the top-level usage; an ISO 8601 time under a list of a till's patterns had no hint of
its form."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import yaml

from elcrec_core.cli.main import main
from elcrec_core.data.detail_shortening import shorten_detail
from elcrec_core.data.rejections import rejected_examples
from elcrec_core.data.source_config import ColumnMap, SourceConfig
from elcrec_core.data.sources import read_source
from elcrec_core.data.time_zones import zone_warning

TILL = ["%m/%d/%Y", "%m/%d/%Y %I:%M:%S %p"]
LISTED = "(of none of timestamp_format's patterns: \"%m/%d/%Y\"; \"%m/%d/%Y %I:%M:%S %p\")"


def _events(tmp_path: Path, times: list[str]) -> Path:
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,ts\n" + "".join(f"u,i{n},{t}\n" for n, t in enumerate(times, 1)),
                    encoding="utf-8")
    return path


def _details(tmp_path: Path, times: list[str], fmt: object) -> list[str]:
    frame = read_source(SourceConfig(format="csv", path=str(_events(tmp_path, times)),
                                     columns=ColumnMap(timestamp="ts"), timestamp_format=fmt))
    return frame.filter(pl.col("error").is_not_null())["detail"].to_list()


def test_an_iso_time_under_patterns_says_its_form_and_what_reads_it(tmp_path: Path) -> None:
    """Under a list of a till's forms, 2026-01-31T10:00:00 and 2026-01-31 10:00:00 say their pattern and to add it
    to the list (under a pattern alone: to make a list); Z, which no pattern reads as UTC, names iso8601; a date that
    is none (2026-02-30) of a form the list has names that pattern and the day that does not exist, no form hint
    (helper-278)."""
    times = ["01/05/2026", "2026-01-31T10:00:00", "2026-01-31 10:00:00", "2026-01-31T10:00:00Z", "2026-02-30"]
    end = (", another than timestamp_format's: add it to the list, or timestamp_format iso8601 where every time is "
           "ISO 8601)")
    assert _details(tmp_path, times, TILL + ["%Y-%m-%d"]) == [
        f"ts: 2026-01-31T10:00:00 {LISTED[:-1]}; \"%Y-%m-%d\") (its form: ISO 8601, \"%Y-%m-%dT%H:%M:%S\"{end}",
        f"ts: 2026-01-31 10:00:00 {LISTED[:-1]}; \"%Y-%m-%d\") (its form: ISO 8601, \"%Y-%m-%d %H:%M:%S\"{end}",
        f"ts: 2026-01-31T10:00:00Z {LISTED[:-1]}; \"%Y-%m-%d\") (its form: ISO 8601 in UTC, Z: timestamp_format "
        "iso8601 reads it, where every time is ISO 8601)",
        "ts: 2026-02-30 (of timestamp_format's pattern \"%Y-%m-%d\", but its day 30 of February 2026 does not exist)"]
    assert _details(tmp_path, times[:2], TILL[0]) == [
        "ts: 2026-01-31T10:00:00 (not of timestamp_format \"%m/%d/%Y\") (its form: ISO 8601, \"%Y-%m-%dT%H:%M:%S\", "
        "another than timestamp_format's: make timestamp_format a list of both, or timestamp_format iso8601 where "
        "every time is ISO 8601)"]


def test_the_first_rejected_rows_keep_their_advice_and_cut_the_value() -> None:
    """Every kind of detail keeps what it says to do: the hints in parentheses after a bad time, the words after a
    column's quoted value, a null id's setting; the value is cut (not below 40 characters), a raw line at its end."""
    hint = f"{LISTED} (its form: \"%m/%d/%Y %I:%M %p\", another than timestamp_format's)"
    details = [f"ts: 01/06/2026 10:00 AM {hint}", f"ts: {'9' * 200} {hint}",
               f"user_id {'C0' * 100!r} is shorter than every other of the file, all 5 characters of one form, on "
               "its last line, which has no line end: the file cut short?",
               f"ts '{'N' * 200}' means no value (source setting null_ids)", f"TOO MANY COLUMNS: {'a,' * 100}\n"]
    rejected = pl.DataFrame({"source_file": "e.csv", "source_row": range(2, 2 + len(details)),
                             "reason": "bad_timestamp", "detail": details})
    assert rejected_examples(rejected, 5, None, "csv") == [f"line {n}: bad_timestamp ({text})" for n, text in [
        (2, details[0]), (3, f"ts: {'9' * 33}... {hint}"),
        (4, f"user_id '{'C0' * 18}C...' is shorter than every other of the file, all 5 characters of one form, on "
            "its last line, which has no line end: the file cut short?"),
        (5, f"ts '{'N' * 71}...' means no value (source setting null_ids)"),
        (6, f"TOO MANY COLUMNS: {'a,' * 49}a...")]]
    assert shorten_detail("rating: f(" + "x" * 200 + ")") == "rating: f(" + "x" * 107 + "..."  # a value's own ()


def test_a_us_zone_of_a_fixed_offset_is_warned_of_naming_the_offset_and_the_zone_meant(tmp_path: Path,
                                                                                         capsys) -> None:
    """EST and MST are read (valid zones) with a warning naming their offset and the zone meant; HST, EST5EDT (the
    clocks of the zones meant) and a region's zone are not; Etc/GMT+5 is said to be UTC-05:00. The CLI says it on
    stderr, naming the --source file."""
    assert zone_warning("EST") == (
        "timezone = 'EST' is UTC-05:00 all year, without summer time: where the clocks of America/New_York are "
        "meant, its times of summer are read an hour off; give America/New_York")
    assert zone_warning("MST", "--timezone").endswith(
        "give America/Denver (in Arizona, America/Phoenix, whose clocks are MST's all year)")
    assert [zone_warning(zone) for zone in ("HST", "EST5EDT", "America/Phoenix", "UTC", "Etc/GMT", None)] == [None] * 6
    assert zone_warning("Etc/GMT+5").startswith(
        "timezone = 'Etc/GMT+5' is UTC-05:00 all year, without summer time: the POSIX sign, Etc/GMT+5 is 5 hours "
        "behind UTC")
    assert "Etc/GMT-3 is 3 hours ahead of UTC" in zone_warning("Etc/GMT-3")
    _events(tmp_path, ["01/05/2026", "01/06/2026"])
    source = tmp_path / "source.yaml"
    source.write_text(yaml.safe_dump({"format": "csv", "path": "events.csv", "timestamp_column": "ts",
                                      "timestamp_format": TILL[0], "timezone": "EST"}), encoding="utf-8")
    assert main(["sequences", "--source", str(source), "--json"]) == 0
    assert f"--source {source}: timezone = 'EST' is UTC-05:00 all year" in capsys.readouterr().err


def test_europes_names_kept_for_compatibility_are_warned_of_naming_a_countrys_zone() -> None:
    """CET, MET, EET and WET were read without a word (helper-274): names the tz database keeps for compatibility,
    with the EU's summer time (unlike EST) but no country's own rules, past or to come: a note naming the offsets,
    a country's zone and the years whose clocks differed from it (DuckDB's ICU tz data: CET and MET are Europe/
    Brussels's clocks, EET Europe/Athens's, WET Europe/Lisbon's)."""
    def note(zone: str, offsets: str, country: str, differed: str = "") -> str:
        return (f"timezone = '{zone}' is a name the tz database keeps for compatibility, not a place's zone: it has "
                f"the EU's summer time today ({offsets} in summer), but not a country's own rules, past or to "
                f"come{differed}; where a country's clocks are meant, give its zone, such as {country}")

    assert zone_warning("CET") == note("CET", "UTC+01:00, UTC+02:00", "Europe/Paris",
                                       " (its clocks and Europe/Paris's differed in 1976)")  # France's first summer
    assert zone_warning("MET") == note("MET", "UTC+01:00, UTC+02:00", "Europe/Berlin",
                                       " (its clocks and Europe/Berlin's differed in 1977-1979)")  # none till 1980
    assert zone_warning("EET") == note("EET", "UTC+02:00, UTC+03:00", "Europe/Athens")
    assert zone_warning("WET") == note("WET", "UTC+00:00, UTC+01:00", "Europe/Lisbon")
    assert [zone_warning(zone) for zone in ("Europe/Paris", "Europe/Brussels", "Europe/Lisbon")] == [None] * 3


def test_a_swapped_window_of_a_source_file_names_the_file_and_the_settings(tmp_path: Path, capsys) -> None:
    """min_timestamp above max_timestamp in a --source file: the command's error names the file and both settings
    (an option beside them as the command line's); a bound that is no time is named as the file's setting."""
    _events(tmp_path, ["01/05/2026"])
    source = tmp_path / "source.yaml"
    settings = {"format": "csv", "path": "events.csv", "timestamp_column": "ts", "timestamp_format": TILL[0],
                "min_timestamp": "2026-02-01", "max_timestamp": "2026-01-01"}
    for given, extra, said in [
            ({}, [], "min_timestamp 2026-02-01 00:00:00 is above max_timestamp 2026-01-01 00:00:00 (UTC): every row "
                     "would be rejected (the two swapped?)"),
            ({"max_timestamp": None}, ["--max-timestamp", "2025-01-01"], "min_timestamp 2026-02-01 00:00:00 is "
             "above max_timestamp 2025-01-01 00:00:00 (UTC): every row would be rejected (the two swapped?) "
             "(--max-timestamp: the command line's)"),
            ({"min_timestamp": "yesterday"}, [], "min_timestamp: 'yesterday' is no ISO 8601 time"),
            ({"min_rating": 5, "max_rating": 1, "rating_column": "item_id", "min_timestamp": None}, [],
             "min_rating 5.0 is above max_rating 1.0: every row would be rejected")]:
        source.write_text(yaml.safe_dump(settings | given), encoding="utf-8")
        with pytest.raises(SystemExit) as refused:
            main(["sequences", "--source", str(source), *extra])
        last = capsys.readouterr().err.splitlines()[-1]
        assert (refused.value.code, last.startswith(f"elcrec sequences: error: --source {source}: {said}")) == (2, True)


def test_repeated_timestamp_formats_are_refused_by_the_command_naming_the_place_and_value(tmp_path: Path,
                                                                                           capsys) -> None:
    """A bad pattern among repeated --timestamp-format options is named with its place and value; a named format
    among them is refused by the subcommand (its usage, exit 2) as a settings file's list is; one option alone is
    named as before."""
    data = str(_events(tmp_path, ["01/05/2026"]))
    for formats, said in [
            (["%d/%m/%Y", "%Q"], "the second --timestamp-format = '%Q': no strptime pattern (Failed to parse format "
                                 "specifier %Q"),
            (["%Q"], "--timestamp-format = '%Q': no strptime pattern"),
            (["iso8601", "%d/%m/%Y"], "--timestamp-format = ['iso8601', '%d/%m/%Y']: pattern 1, 'iso8601', is a "
                                      "named format, which stands alone")]:
        with pytest.raises(SystemExit) as refused:
            main(["sequences", "--data", data, *[arg for fmt in formats for arg in ("--timestamp-format", fmt)]])
        err = capsys.readouterr().err
        assert (refused.value.code, err.startswith("usage: elcrec sequences "),
                f"elcrec sequences: error: {said}" in err) == (2, True, True)
