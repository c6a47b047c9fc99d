"""The command line's advice names what the user wrote (helper-273): under ``--source FILE`` a fix is a setting of
that file, named with the file as read (``set timestamp_format: ... in /abs/team/events.yaml``), never an option
that the user did not type; under options alone it is the option, as before; an option typed beside ``--source``
wins over the file, so its fix stays the option."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from elcrec_core.cli.main import main
from elcrec_core.cli.serving_notes import SEQUENCES_FILE, history_note
from elcrec_core.cli.settings_origin import SettingsOrigin
from elcrec_core.data.sequences import ITEM_INDEX_FILE

T0 = 1_700_000_000
EVENTS = f"user_id,item_id,timestamp\nu1,i1,{T0}\nu1,i2,{T0 + 60}\nu2,i1,{T0 + 120}\n"
# an option as the command line spells it (--timestamp-format), not a dash inside a value or a path
OPTION = re.compile(r"(?<![\w-])--[a-z]")

# (file name, its bytes, the source file's settings, the options that read it alike, the advice as options,
# the advice as the file's settings: {file} is the source file resolved)
CASES = {
    "US dates without a pattern": (
        "us.csv", b"user_id,item_id,timestamp\nu1,i1,03/15/2026 10:00\nu2,i1,03/16/2026 11:00\n",
        "format: csv\n", ["--format", "csv"],
        "the timestamps were read as iso8601: give --timestamp-format epoch_s",
        "the timestamps were read as iso8601: set timestamp_format: epoch_s, epoch_ms, epoch_us, iso8601 or a "
        "strptime pattern such as '%d.%m.%Y %H:%M', or timestamp_column: '' in {file} (the latter where the file has "
        "no times)"),
    "UTF-16 without a byte order mark": (
        "wide.csv", EVENTS.encode("utf-16-le"), "format: csv\n", ["--format", "csv"],
        "; give --encoding utf-16 if it is UTF-16 text",
        "; set encoding: utf-16 in {file} if it is UTF-16 text (as some spreadsheets export it)"),
    "UTF-16 with its byte order mark": (
        "bom.csv", EVENTS.encode("utf-16"), "format: csv\n", ["--format", "csv"],
        "reads it); give --encoding utf-16", "reads it); set encoding: utf-16 in {file}"),
    "a file without a header": (
        "bare.csv", f"1,10,{T0}\n1,11,{T0 + 60}\n2,10,{T0 + 120}\n".encode(), "format: csv\n", ["--format", "csv"],
        "not a header: give --no-header and --names with a name for each of its 3 columns",
        "not a header: set header: false and names in {file} with a name for each of its 3 columns"),
    "fields separated by spaces": (
        "spaced.csv", EVENTS.replace(",", " ").encode(), "format: csv\n", ["--format", "csv"],
        "but spaces between names: give --delimiter ' ' if spaces separate its fields",
        "but spaces between names: set delimiter: ' ' in {file} if spaces separate its fields"),
    "columns of other names": (
        "named.csv", EVENTS.replace("user_id,item_id,timestamp", "who,what,when").encode(), "format: csv\n",
        ["--format", "csv"],
        "name the columns with --user-column, --item-column, --timestamp-column, or --names with --header-names "
        "(names that replace the header's; --no-header and --names for a file without one)",
        "name the columns with user_column, item_column, timestamp_column in {file}, or names with header: true in "
        "{file} (names that replace the header's; header: false and names in {file} for a file without one)"),
    "quoted fields read without quotes": (
        "quoted.csv", f'user_id,item_id,timestamp\nu1,"Soap, big",{T0}\n'.encode(),
        "format: csv\nquote: ''\n", ["--format", "csv", "--no-quote"],
        "leave out --no-quote (quotes then group", "leave out quote: '' in {file} (quotes then group"),
    "a header read as an event by the names": (
        "header.csv", EVENTS.encode(), "format: csv\nheader: false\nnames: [user_id, item_id, timestamp]\n",
        ["--format", "csv", "--names", "user_id,item_id,timestamp"],
        "where --names puts them), which --names would read as an event: leave out --names (and --no-header) and "
        "name the columns with --user-column, --item-column, --timestamp-column",
        "where names puts them), which names would read as an event: leave out names (and header: false in {file}) "
        "and name the columns with user_column, item_column, timestamp_column in {file}"),
    "integer ids of the sequence format": (
        "ids.txt", f"1 5 {T0}\n2 6 {T0 + 1}\n".encode(), "format: sequence\n", ["--format", "sequence"],
        f"as --format sequence asks: the largest, {T0 + 1:,}, would give the model {T0 + 1:,} items for the 4 that "
        "occur. Is it a table of events separated by spaces? Give --delimiter ' ' and --names (user, item, timestamp "
        "columns), not --format sequence",
        f"as format: sequence in {{file}} asks: the largest, {T0 + 1:,}, would give the model {T0 + 1:,} items for "
        "the 4 that occur. Is it a table of events separated by spaces? Set delimiter: ' ' and names in {file} (user, "
        "item, timestamp columns), not format: sequence in {file}"),
    "a file without times": (
        "untimed.csv", b"user_id,item_id\nu,a\nu,b\n", "format: csv\n", ["--format", "csv"],
        "; a file without times: --timestamp-column none (each user's events in file order)",
        "; a file without times: timestamp_column: '' in {file} (each user's events in file order)"),
    "times of 1970": (
        "ms.csv", b"user_id,item_id,timestamp\nu1,i1,1\nu1,i2,2\n", "format: csv\ntimestamp_format: epoch_ms\n",
        ["--format", "csv", "--timestamp-format", "epoch_ms"],
        "times in the wrong unit (is --timestamp-format right for this file?)",
        "times in the wrong unit (is timestamp_format in {file} right for this file?)"),
}


def _advice(capsys, *argv: str) -> str:
    """What ``elcrec sequences`` says on stderr, its error or its notes."""
    main(["sequences", *argv])
    return capsys.readouterr().err


@pytest.mark.parametrize("case", CASES)
def test_advice_under_source_names_the_files_settings_and_under_options_the_options(
        case: str, tmp_path: Path, monkeypatch, capsys) -> None:
    """helper-273: ``--source team/events.yaml`` was told ``give --timestamp-format ...``, a fix that is a setting of
    that file (options given beside it win, so an option would hide the file's fix). Each advice names the file as
    read (resolved: ``team/../x.csv`` is read as ``x.csv``) with the setting, and no option."""
    name, content, settings, options, as_options, as_settings = CASES[case]
    (tmp_path / "team").mkdir()
    (tmp_path / name).write_bytes(content)
    (tmp_path / "team" / "events.yaml").write_text(f"path: ../{name}\n{settings}", encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # a relative --source: the advice names the file resolved
    err = _advice(capsys, "--source", "team/events.yaml")
    assert as_settings.format(file=tmp_path.resolve() / "team" / "events.yaml") in err, err
    assert not OPTION.search(err) and "team/../" not in err, err
    assert as_options in _advice(capsys, "--data", name, *options)


def test_an_option_typed_beside_the_source_file_is_named_as_the_option(tmp_path: Path, capsys) -> None:
    """The command line's options win over the file's settings: where the user typed ``--timestamp-format``, its fix
    is that option (setting the file's would change nothing); the others' are still the file's."""
    (tmp_path / "us.csv").write_text("user_id,item_id,timestamp\nu1,i1,03/15/2026 10:00\n", encoding="utf-8")
    source = tmp_path / "events.yaml"
    source.write_text("path: us.csv\nformat: csv\ntimestamp_format: iso8601\n", encoding="utf-8")
    err = _advice(capsys, "--source", str(source), "--timestamp-format", "iso8601")
    assert (f"give --timestamp-format epoch_s, epoch_ms, epoch_us, iso8601 or a strptime pattern such as "
            f"'%d.%m.%Y %H:%M', or set timestamp_column: '' in {source.resolve()}") in err, err


def test_a_guessed_format_under_a_source_file_without_one_names_its_format_setting(tmp_path: Path, capsys) -> None:
    """A source file without ``path`` (nor ``format``) with ``--data``: the format is guessed, and its fix is the
    file's ``format`` setting."""
    (tmp_path / "ratings.txt").write_text("1 10 5\n1 20 3\n2 10 4\n", encoding="utf-8")
    source = tmp_path / "events.yaml"
    source.write_text("user_column: user\n", encoding="utf-8")
    err = _advice(capsys, "--source", str(source), "--data", str(tmp_path / "ratings.txt"))
    assert (f"a sequence file has one line per user: set delimiter: ' ' with names in {source.resolve()} (or a "
            f"header) to read a table of events separated by spaces, or format: sequence in {source.resolve()} if it "
            "is of that format") in err, err


def test_a_source_files_relative_path_is_named_as_read(tmp_path: Path, monkeypatch, capsys) -> None:
    """``path: ../logs/e.txt`` without a format was refused naming ``team/../logs/e.txt`` and ``--source
    team/events.yaml``, relative to nothing the user could tell: both are named as read, absolute and without
    ``..``."""
    (tmp_path / "team").mkdir()
    (tmp_path / "team" / "events.yaml").write_text("path: ../logs/e.txt\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        main(["sequences", "--source", "team/events.yaml"])
    err = capsys.readouterr().err
    root = tmp_path.resolve()
    assert f"--source {root / 'team' / 'events.yaml'}: path '{root / 'logs' / 'e.txt'}' is given, but no format" \
        in err, err


def test_a_row_rule_without_its_column_names_the_files_settings(tmp_path: Path, capsys) -> None:
    """``min_rating: 3`` in the file without ``rating_column`` was refused as ``--min-rating needs --rating-column``,
    options the user never typed; ``--event-types`` (the run config's: an option always) needs the file's column."""
    (tmp_path / "e.csv").write_text(EVENTS, encoding="utf-8")
    source = tmp_path / "events.yaml"
    source.write_text("path: e.csv\nformat: csv\nmin_rating: 3\n", encoding="utf-8")
    assert _advice(capsys, "--source", str(source)) == (
        f"elcrec: error: min_rating needs rating_column in {source}: the column that holds the ratings\n")
    source.write_text("path: e.csv\nformat: csv\n", encoding="utf-8")
    assert _advice(capsys, "--source", str(source), "--event-types", "buy") == (
        f"elcrec: error: --event-types needs event_type_column in {source}: the column that holds the event types\n")
    assert _advice(capsys, "--data", str(tmp_path / "e.csv"), "--min-rating", "3") == (
        "elcrec: error: --min-rating needs --rating-column: the column that holds the ratings\n")


def test_recommends_note_on_another_history_names_the_files_row_rules(tmp_path: Path) -> None:
    """recommend --serving's note on a history that differs from the pipeline's named ``--min-timestamp, ...`` under
    ``--source`` too; it names the file's settings there, and the options under options."""
    day = tmp_path / "2026-03-01"
    day.mkdir()
    pl.DataFrame({"user_id": ["u"], "items": [[1]]}).write_parquet(day / SEQUENCES_FILE)
    pl.DataFrame({"item_index": [1, 2], "item_id": ["a", "b"]}).write_parquet(day / ITEM_INDEX_FILE)
    source = tmp_path / "events.yaml"
    in_file = history_note(day, "u", ["a", "b"], SettingsOrigin(source))
    assert ("(max_timestamp: 2026-03-01T23:59:59.999999 in " f"{source} leaves them out), or rows that the source "
            "settings' rules rejected: set min_timestamp, max_timestamp, max_rating, null_ids in "
            f"{source} as they have them;") in in_file, in_file
    assert OPTION.findall(in_file) == ["--d", "--d"], in_file  # --data alone: what it read, and the day's file
    assert ("(--max-timestamp 2026-03-01T23:59:59.999999 leaves them out), or rows that the source settings' rules "
            "rejected: give --min-timestamp, --max-timestamp, --max-rating, --null-ids as they have them;") in \
        history_note(day, "u", ["a", "b"])
