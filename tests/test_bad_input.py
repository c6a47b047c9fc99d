"""Bad input, tried as a new user would: each case gets a clear error or the result README's "Bad input" lists."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from unittest import mock

import dagster as dg
import numpy as np
import polars as pl
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets.sequences import interaction_sequences
from elcrec_core.cli.data_loading import LoadedData, load
from elcrec_core.cli.data_options import DataOptions
from elcrec_core.cli.main import main
from elcrec_core.config.settings import ModelConfig
from elcrec_core.data import files as reading
from elcrec_core.data import warehouse
from elcrec_core.data.events_to_sequences import SequenceConfig, build_sequences, write_sequences
from elcrec_core.data.files import SourceReadError, scan_lines
from elcrec_core.data.ingestion import ingest
from elcrec_core.data.sequences import (
    ITEM_INDEX_FILE,
    Sequences,
    read_item_index_file,
    read_sequence_file,
    read_sequence_parquet,
    write_item_index_file,
)
from elcrec_core.data.source_config import ColumnMap, SourceConfig
from elcrec_core.data.rejections import rejected_files_note
from elcrec_core.data.sources import read_source
from elcrec_core.data.expectations import ExpectationConfig, expect_interactions
from elcrec_core.data.validation import RowRules, check_rows
from elcrec_core.model.elcrec import ELCRec
from elcrec_core.train.checkpoint import CheckpointError, item_catalogue, save_checkpoint
from elcrec_pipeline.config import SequenceSettings, SourceSettings
from elcrec_pipeline.resources import Storage

RULES = RowRules(now=datetime(2026, 11, 27))
T0 = 1_772_366_400  # 2026-03-01 12:00 UTC
TEXT_FORMATS = ["csv", "tsv", "jsonl", "sequence"]
NUL = "holds a NUL byte: binary or compressed data, or text in another encoding than UTF-8 (such as UTF-16)"


def _write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path.resolve()


# --- the streamed line scan ---------------------------------------------------------------------------------


def _oracle(data: bytes, quote: bytes | None, eol: int) -> tuple[list[tuple[int, bool]], int, bool, bool, int | None]:
    """Byte by byte: where each record starts and whether it is not empty, the number of lines, whether the file
    ends inside quotes, whether a CR LF occurs, the first stray CR's line."""
    starts, line, quoted, begin, begin_line, stray = [], 1, False, 0, 1, None
    for pos, byte in enumerate(data):
        if quote is not None and byte == quote[0]:
            quoted = not quoted
        if eol == 10 and byte == 13 and stray is None and pos + 1 < len(data) and data[pos + 1] != 10:
            stray = line
        if byte == eol:
            if not quoted:
                starts.append((begin_line, data[begin:pos] not in (b"", b"\r")))
                begin, begin_line = pos + 1, line + 1
            line += 1
    if data[begin:] not in (b"", b"\r"):
        starts.append((begin_line, True))
    if eol == 10 and data.endswith(b"\r") and b"\r\n" not in data and stray is None:  # ends no line of an LF file
        stray = line
    lines = data.count(bytes([eol])) + (not data.endswith(bytes([eol])) and data != b"")
    return starts, lines, quoted, eol == 10 and b"\r\n" in data, stray


@settings(max_examples=100, deadline=None)
@given(parts=st.lists(st.sampled_from([b"a", b"bc", b",", b'"', b"\r", b"\n", b"\r\n"]), max_size=40),
       chunk=st.integers(1, 9), quote=st.sampled_from([None, b'"']), limit=st.integers(1, 12))
def test_line_scan_matches_a_byte_by_byte_oracle_across_chunks(parts: list[bytes], chunk: int, quote: bytes | None,
                                                                limit: int) -> None:
    data = b"".join(parts)
    eol = 13 if b"\r" in data[:chunk] and b"\n" not in data[:chunk] else 10  # CR line ends: no LF in the first chunk
    with tempfile.TemporaryDirectory() as tmp, mock.patch.object(reading, "CHUNK_BYTES", chunk):
        path = Path(tmp) / "f"
        path.write_bytes(data)
        too_long = [n for n, line in enumerate(data.split(bytes([eol])), start=1) if len(line) > limit]
        if too_long:
            with pytest.raises(SourceReadError, match=f"^{re.escape(str(path))}: line {too_long[0]} is longer "
                                                      f"than the limit of {limit} bytes"):
                scan_lines(path, quote and quote.decode(), limit)
            return
        scan = scan_lines(path, quote and quote.decode(), limit)
        copy = Path(tmp) / "copy"
        reading.copy_without_crlf(path, copy)
        assert copy.read_bytes() == data.replace(b"\r\n", b"\n")
    records = list(zip(scan.starts.tolist(), scan.filled.tolist()))
    assert (records, scan.line_count, scan.open_quote, scan.crlf, scan.stray_cr_line) == _oracle(data, quote, eol)
    assert scan.record_lines.tolist() == [start for start, filled in records if filled]


# --- empty files, wrong delimiter, binary, non-UTF-8, stray CR ----------------------------------------------


@pytest.mark.parametrize(("fmt", "content"), [
    ("csv", b""), ("csv", b"user_id,item_id,timestamp\n"), ("tsv", b"\xef\xbb\xbfuser_id\titem_id\ttimestamp\r\n"),
    ("jsonl", b""), ("jsonl", b"\n\r\n"), ("sequence", b""), ("sequence", b"\n\n"), ("parquet", None),
])
def test_an_empty_or_header_only_file_loads_no_rows(tmp_path: Path, fmt: str, content: bytes | None) -> None:
    path = tmp_path / f"e.{fmt}"
    if content is None:
        pl.DataFrame(schema={"user_id": pl.String, "item_id": pl.String, "timestamp": pl.Int64}).write_parquet(path)
    else:
        _write(path, content)
    report, check = ingest(SourceConfig(format=fmt, path=str(path)), RULES, tmp_path / "w.duckdb")
    assert (report.rows_in, report.accepted, report.rejected, report.files) == (0, 0, 0, [str(path.resolve())])
    assert warehouse.table_counts(tmp_path / "w.duckdb")["loads"] == 1


def test_an_empty_load_fails_the_interaction_expectations(tmp_path: Path) -> None:
    path = _write(tmp_path / "e.csv", "user_id,item_id,timestamp\n")
    _, check = ingest(SourceConfig(format="csv", path=str(path)), RULES, tmp_path / "w.duckdb")
    result = expect_interactions(check.accepted, check)
    assert not result.success
    assert result.failed[0].expectation == "expect_table_row_count_to_be_between"
    # the row count and the distinct users and items; no null rate of no rows (min_rows decides an empty load)
    assert [(o.expectation, o.column, o.observed) for o in result.failed] == [
        ("expect_table_row_count_to_be_between", None, 0),
        ("expect_column_unique_value_count_to_be_between", "user_id", 0),
        ("expect_column_unique_value_count_to_be_between", "item_id", 0)]
    relaxed = ExpectationConfig(min_rows=0, min_users=0, min_items=0)  # what the source settings' min_rows: 0 give
    assert expect_interactions(check.accepted, check, relaxed).success


@pytest.mark.parametrize(("fmt", "delimiter", "text", "seen"), [
    ("csv", None, "user_id;item_id;timestamp\nu;i;1\n", ";"),
    ("tsv", None, "user_id,item_id,timestamp\nu,i,1\n", ","),
    ("csv", "|", "user_id\titem_id\ttimestamp\nu\ti\t1\n", "\t"),
])
def test_a_wrong_delimiter_is_named(tmp_path: Path, fmt: str, delimiter: str | None, text: str, seen: str) -> None:
    path = _write(tmp_path / "e.txt", text)
    with pytest.raises(SourceReadError) as info:
        read_source(SourceConfig(format=fmt, path=str(path), delimiter=delimiter))
    header = text.split("\n")[0]
    assert str(info.value) == (f"{path}: no column(s) ['user_id', 'item_id', 'timestamp']; the file has [{header!r}]; "
                               f"the header holds {seen!r}: is that the delimiter?")


@pytest.mark.parametrize(("fmt", "text", "hint"), [
    ("csv", "User_ID, item_id,timestamp\nu,i,1\n", "; 'user_id' is 'User_ID' there, 'item_id' is ' item_id' there: "
                                                    "names compare exactly, give them as the file has them"),
    ("jsonl", '{"USER_ID": "u", "item_id": "i", "timestamp": 1}\n', "; 'user_id' is 'USER_ID' there: names compare "
                                                                   "exactly, give them as the file has them"),
    ("tsv", "user_id:token\titem_id:token\ttimestamp:float\nu\ti\t1\n", "; 'user_id' is 'user_id:token' there, "
     "'item_id' is 'item_id:token' there, 'timestamp' is 'timestamp:float' there: names compare exactly, give them as "
     "the file has them"),  # RecBole's atomic files type their columns (helper-178): the refusal named no setting
    ("csv", "sep=,\nuser_id,item_id,timestamp\nu,i,1\n", "; its first line (sep=...) is Excel's delimiter line: "
                                                          "remove it, the header is the next line"),
])
def test_names_that_differ_only_in_case_or_an_excel_delimiter_line_are_named(tmp_path: Path, fmt: str, text: str,
                                                                             hint: str) -> None:
    """A header in other case (Customer for customer) or with a space after the comma was refused naming both lists,
    not why; Excel's sep=, line was read as the header (helper-159's trial)."""
    path = _write(tmp_path / f"e.{fmt}", text)
    with pytest.raises(SourceReadError) as info:
        read_source(SourceConfig(format=fmt, path=str(path)))
    assert str(info.value).startswith(f"{path}: no column(s) ") and str(info.value).endswith(hint)
    parquet = tmp_path / "e.parquet"
    pl.DataFrame({"User_Id": ["u"], "item_id": ["i"], "timestamp": [1]}).write_parquet(parquet)
    with pytest.raises(SourceReadError, match="; 'user_id' is 'User_Id' there: names compare exactly"):
        read_source(SourceConfig(format="parquet", path=str(parquet)))


def test_a_sequence_file_with_another_delimiter_is_rejected_line_by_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "seq.txt", "1,5,6\n2,7\n")
    check = check_rows(read_source(SourceConfig(format="sequence", path=str(path))), RULES)
    assert (check.rows_in, len(check.accepted)) == (2, 0)
    assert check.rejected.select("source_row", "reason", "detail").rows() == [
        (1, "malformed_line", "no items: 1,5,6"), (2, "malformed_line", "no items: 2,7")]
    with pytest.raises(SourceReadError) as info:
        read_sequence_file(path)
    assert str(info.value) == f"{path}: line 1: not integer ids: b'1,5,6'"


def test_a_rejected_item_of_a_sequence_file_is_named_by_its_place_among_the_items(tmp_path: Path) -> None:
    """A sequence file numbers its events by their place among the file's items, and a malformed line by its line:
    an NA item was named "line 5" of a file of three lines (helper-212). It is "event 5" now."""
    from elcrec_core.data.rejections import rejected_examples

    path = _write(tmp_path / "seq.txt", "u1 a b c d NA\nu2 e f\nu3\n")
    check = check_rows(read_source(SourceConfig(format="sequence", path=str(path))), RULES)
    assert rejected_examples(check.rejected, 5, [str(path)], "sequence") == [
        "seq.txt line 3: malformed_line (no items: u3)",
        "seq.txt event 5: missing_item (item_id 'NA' means no value (source setting null_ids))"]


@pytest.mark.parametrize("content", [bytes(range(256)), "user_id,item_id\nu,i\n".encode("utf-16"),
                                     b"user_id,item_id,timestamp\nu,i,1\nu\x00,i,1\n"])
@pytest.mark.parametrize("fmt", TEXT_FORMATS)
def test_binary_data_is_refused_with_its_line(tmp_path: Path, fmt: str, content: bytes) -> None:
    path = _write(tmp_path / "e.bin", content)
    line = 3 if content.startswith(b"user_id") else 1
    with pytest.raises(SourceReadError) as info:
        read_source(SourceConfig(format=fmt, path=str(path)))
    # UTF-16 text says so, and the setting that reads it (helper-159: the message did not)
    utf16 = ("; it starts with UTF-16's byte order mark: UTF-16 text, as a spreadsheet's Unicode Text export writes it "
             "(the source setting encoding: utf-16 reads it)") if content.startswith(b"\xff\xfe") else ""
    assert str(info.value) == f"{path}: line {line} {NUL}{utf16}"


UTF16_TIP = "; give --encoding utf-16 if it is UTF-16 text (as some spreadsheets export it)"


def test_utf16_and_utf32_text_is_named_by_its_byte_order_mark(tmp_path: Path) -> None:
    """A UTF-32 file starts with UTF-16's mark and more: it was called UTF-16, whose setting cannot read it; the
    command line added a second tip for the same cause (a review of 12-06)."""
    for encoding, name in (("utf-32", "UTF-32"), ("utf-16-be", "UTF-16")):
        path = _write(tmp_path / f"{encoding}.csv", ("\ufeffuser_id,item_id\nu,i\n").encode(encoding))
        with pytest.raises(SourceReadError) as info:
            load(str(path), DataOptions(format="events"))
        assert str(info.value).endswith(f"it starts with {name}'s byte order mark: {name} text, as a spreadsheet's "
                                        f"Unicode Text export writes it (the source setting encoding: {name.lower()} "
                                        f"reads it); give --encoding {name.lower()}")


@pytest.mark.parametrize(("reader", "advice"), [
    (read_sequence_file, ""), (lambda path: load(str(path), DataOptions(format="sequence")), UTF16_TIP),
    (lambda path: load(str(path), DataOptions(format="events")), UTF16_TIP)])
def test_the_cli_readers_refuse_binary_data_too(tmp_path: Path, reader, advice: str) -> None:
    path = _write(tmp_path / "e.csv", bytes(range(256)))
    with pytest.raises(SourceReadError) as info:
        reader(path)
    assert str(info.value) == f"{path}: line 1 {NUL}{advice}"
    with pytest.raises(SourceReadError) as info:  # the format guessed from the name
        load(str(path))
    assert str(info.value) == f"{path}: line 1 {NUL}{UTF16_TIP}"  # no format reads a NUL byte: no --format tip


@pytest.mark.parametrize(("fmt", "good", "bad"), [
    ("tsv", f"u\ti\t{T0}", "caf\xe9\ti\t1"),
    ("jsonl", json.dumps({"user_id": "u", "item_id": "i", "timestamp": T0}), '{"user_id": "caf\xe9"}'),
    ("sequence", "u 1 2", "caf\xe9 1 2"),
])
def test_a_line_that_is_not_utf8_is_one_rejected_row(tmp_path: Path, fmt: str, good: str, bad: str) -> None:
    header = "user_id\titem_id\ttimestamp\n" if fmt == "tsv" else ""
    path = _write(tmp_path / "e.txt", (header + good + "\n" + bad + "\n").encode("latin-1"))
    check = check_rows(read_source(SourceConfig(format=fmt, path=str(path))), RULES)
    assert check.rows_in == len(check.accepted) + 1 == {"tsv": 2, "jsonl": 2, "sequence": 3}[fmt]
    ((row, reason, detail),) = check.rejected.select("source_row", "reason", "detail").rows()
    assert (row, reason) == (2 + bool(header), "malformed_line") and detail.startswith("INVALID ENCODING: ")
    # the line as it is, the bad byte written as \xe9 (DuckDB's rendering dropped the byte after it: caf??i)
    assert detail.split(" (not UTF-8 text")[0] == "INVALID ENCODING: " + bad.replace("\xe9", "\\xe9")


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet", "sequence"])
def test_an_id_an_export_writes_for_no_value_is_missing_in_every_format(tmp_path: Path, fmt: str) -> None:
    """``NULL`` (csv, tsv, and as a JSON or Parquet string) or ``\\N`` as a user or item is no user or item of
    that name: missing_item / missing_user; counts reconcile. JSON null was missing already."""
    rows = [("u1", "a"), ("u1", "NULL"), ("\\N", "b"), ("u2", " n/a ")]
    path = tmp_path / f"e.{fmt}"
    if fmt == "parquet":
        pl.DataFrame({"user_id": [u for u, _ in rows], "item_id": [i for _, i in rows],
                      "timestamp": [T0] * len(rows)}).write_parquet(path)
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps({"user_id": u, "item_id": i, "timestamp": T0}) + "\n" for u, i in rows))
    elif fmt == "sequence":  # one user a line: its items
        path.write_text("u1 a NULL\n\\N b\n")
    else:
        sep = "," if fmt == "csv" else "\t"
        path.write_text(f"user_id{sep}item_id{sep}timestamp\n" + "".join(f"{u}{sep}{i}{sep}{T0}\n" for u, i in rows))
    check = check_rows(read_source(SourceConfig(format=fmt, path=str(path))), RULES)
    assert check.rows_in == len(check.accepted) + len(check.rejected)
    assert check.accepted.select("user_id", "item_id").rows() == [("u1", "a")]
    assert check.by_reason == ({"missing_item": 1, "missing_user": 1} if fmt == "sequence" else
                               {"missing_item": 2, "missing_user": 1})


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_a_time_or_rating_that_an_export_writes_for_no_value_is_no_value(tmp_path: Path, fmt: str) -> None:
    """A rating of NULL or N/A was a bad_rating that dropped its event, where an empty rating keeps it; a time of
    \\N (MySQL's and PostgreSQL's NULL) was a bad_timestamp "ts: \\N" (a trial of 2026-12-04). Each is no value,
    as an empty one, with the source setting null_ids (without case and outer spaces); the reader given none (that
    setting []) reads them as before; a word that is no null text stays a bad value."""
    rows = [("a", "1700000000", "NULL"), ("b", "\\N", "4"), ("c", "1700000000", " n/a "), ("d", "N/A", "2"),
            ("e", "1700000000", "five"), ("f", "soon", "3"), ("g", "1700000000", "-")]
    frame = pl.DataFrame(rows, schema=["customer", "ts", "stars"], orient="row").with_columns(sku=pl.lit("i"))
    path = tmp_path / f"e.{fmt}"
    if fmt == "parquet":
        frame.write_parquet(path)
    else:
        frame.write_csv(path) if fmt == "csv" else frame.write_ndjson(path)
    config = SourceConfig(format=fmt, path=str(path), columns=ColumnMap(user="customer", item="sku", timestamp="ts",
                                                                       rating="stars"))
    read = read_source(config).select("user_id", "rating", "error", "detail").cast({"error": pl.String})
    assert read.rows() == [
        ("a", None, None, None),
        ("b", 4.0, "missing_timestamp", "ts '\\N' means no value (source setting null_ids)"),
        ("c", None, None, None),
        ("d", 2.0, "missing_timestamp", "ts 'N/A' means no value (source setting null_ids)"),
        ("e", None, "bad_rating", "stars: five"),
        ("f", 3.0, "bad_timestamp", "ts: soon"),
        ("g", None, None, None),
    ]
    as_before = read_source(config, null_values=()).select("error", "detail").cast({"error": pl.String})
    assert as_before.rows() == [("bad_rating", "stars: NULL"), ("bad_timestamp", "ts: \\N"),
                                ("bad_rating", "stars: n/a"), ("bad_timestamp", "ts: N/A"),
                                ("bad_rating", "stars: five"), ("bad_timestamp", "ts: soon"), ("bad_rating", "stars: -")]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_times_of_two_forms_in_one_source_reject_the_other_forms_rows_naming_it(tmp_path: Path, fmt: str) -> None:
    """An analytics export mixing ISO times and epoch milliseconds: the source has one timestamp_format, and the
    rows of the other form are bad_timestamp rows whose detail says what they look like (helper-172, README's Bad
    input). A JSON object with a trailing comma, which Python's json refuses, is read (DuckDB's reader takes it)."""
    rows = [("a", "2026-03-01T10:00:00+01:00"), ("b", "1772383706693"), ("c", "2026-03-01T10:00:00Z")]
    path = tmp_path / f"e.{fmt}"
    path.write_text("user_id,item_id,timestamp\n" + "".join(f"{u},i,{t}\n" for u, t in rows) if fmt == "csv" else
                    "".join(f'{{"user_id": "{u}", "item_id": "i", "timestamp": {t if t.isdigit() else repr(t)},}}\n'
                            .replace("'", '"') for u, t in rows))
    read = read_source(SourceConfig(format=fmt, path=str(path), timestamp_format="iso8601"))
    assert read.select("user_id", "timestamp", "error", "detail").cast({"error": pl.String}).rows() == [
        ("a", datetime(2026, 3, 1, 9), None, None),
        ("b", None, "bad_timestamp", "timestamp: 1772383706693 (a number, no ISO 8601 time: an epoch time? "
                                     "timestamp_format)"),
        ("c", datetime(2026, 3, 1, 10), None, None)]
    # a date of a locale (a European or US spreadsheet's): the detail names the strptime pattern that reads it, day
    # first where its first field is above 12, month first where its second is (helper-253; it said to write them
    # as ISO 8601, which no timestamp_format but iso8601 read: helper-187)
    local = tmp_path / "local.csv"
    local.write_text("user_id,item_id,timestamp\nu,a,31.12.1997 21:16\nu,b,12/31/1997 9:16 PM\n")
    for fmt in ("iso8601", "epoch_s", "epoch_ms"):  # under every format: epoch_s (the default) had no word (helper-195)
        assert read_source(SourceConfig(format="csv", path=str(local), timestamp_format=fmt))["detail"].to_list() == [
            "timestamp: 31.12.1997 21:16 (a date of a locale, day first: timestamp_format \"%d.%m.%Y %H:%M\")",
            "timestamp: 12/31/1997 9:16 PM (a date of a locale, month first: timestamp_format \"%m/%d/%Y %I:%M %p\")"
        ], fmt
    # an epoch number of the format's unit past the year 9999 (or before the year 1) said no word why
    beyond = tmp_path / "beyond.csv"
    beyond.write_text("user_id,item_id,timestamp\nu,a,253402300799\nu,b,253402300800\nu,c,-62135596801\n")
    assert read_source(SourceConfig(format="csv", path=str(beyond)))["detail"].to_list() == [
        None, "timestamp: 253402300800 (a time outside the years 1-9999 as epoch_s)",
        "timestamp: -62135596801 (a time outside the years 1-9999 as epoch_s)"]



def test_a_missing_id_is_named_by_the_files_column() -> None:
    """Every detail named the file's columns (customer is empty, ts 'N/A' ...) but an id of null_ids: user_id 'NA'
    means no value, a column the team's file lacks (a trial of 2026-12-05)."""
    from elcrec_core.data.ingestion import read_checked

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "e.csv"
        path.write_text("customer,sku,ts\nNA,a,1769850000\n,b,1769850000\nu1, null ,1769850000\nu2,c,1769850000\n")
        check = read_checked(SourceConfig(format="csv", path=str(path),
                                          columns=ColumnMap(user="customer", item="sku", timestamp="ts"))).check
    assert check.rejected.select("source_row", "reason", "detail").cast({"reason": pl.String}).rows() == [
        (2, "missing_user", "customer 'NA' means no value (source setting null_ids)"),
        (3, "missing_user", "customer is empty"),
        (4, "missing_item", "sku ' null ' means no value (source setting null_ids)")]


def test_the_cli_names_the_file_and_line_of_text_that_is_not_utf8(tmp_path: Path, capsys) -> None:
    path = _write(tmp_path / "seq.txt", "1 2 3\ncaf\xe9 1\n".encode("latin-1"))
    with pytest.raises(SourceReadError) as info:
        read_sequence_file(path)
    assert str(info.value) == f"{path}: line 2: not integer ids: b'caf\\xe9 1'"
    events = _write(tmp_path / "e.csv", "user_id,item_id,timestamp\ncaf\xe9,1,1\nu,1,1\n".encode("latin-1"))
    for data in (path, events):  # the CLI reads as the pipeline: one rejected row, the rest is read
        assert main(["sequences", "--data", str(data), "--json"]) == 0
        out, err = capsys.readouterr()
        assert out == {path: '{"user": "1", "items": ["2", "3"]}\n', events: '{"user": "u", "items": ["1"]}\n'}[data]
        counts, example = err.splitlines()[1:3]
        assert counts.endswith("1 rejected (malformed_line: 1)")
        assert example.startswith("  line 2: malformed_line (INVALID ENCODING: caf")


@pytest.mark.parametrize(("text", "cause"), [
    ("1 2\n5\n", "line 2: a user without items"),
    ("1 2\n\n3 0\n", "line 3: item ids must be integers in 1..2147483647"),
    ("1 2147483648\n", "line 1: item ids must be integers in 1..2147483647"),
    ("", "no sequences"),
])
def test_the_benchmark_sequence_reader_names_the_bad_line(tmp_path: Path, text: str, cause: str) -> None:
    path = _write(tmp_path / "seq.txt", text)
    with pytest.raises(SourceReadError) as info:
        read_sequence_file(path)
    assert str(info.value) == f"{path}: {cause}"


@pytest.mark.parametrize(("text", "line"), [(f"user_id,item_id,timestamp\nu,i,{T0}\nu\r2,i,{T0}\n", 3),
                                            (f"user_id,item_id,timestamp\nu,i,{T0}\nv,i,{T0}\r", 3),  # the last byte
                                            (f"user_id,item_id,timestamp\nu,i,{T0}\n\r", 3)])
def test_a_carriage_return_inside_a_line_is_named(tmp_path: Path, text: str, line: int) -> None:
    path = _write(tmp_path / "e.csv", text)
    with pytest.raises(SourceReadError) as info:
        read_source(SourceConfig(format="csv", path=str(path)))
    assert str(info.value) == (f"{path}: line {line} holds a carriage return (\\r) that ends no line; DuckDB's "
                               "strict CSV parser cannot read it")


# --- a very large file without line breaks -------------------------------------------------------------------

_PROBE = """
import resource, sys
from elcrec_core.data.ingestion import ingest
from elcrec_core.cli.data_options import DataOptions
from elcrec_core.cli.data_loading import load
from elcrec_core.data.sequences import read_sequence_file
from elcrec_core.data.source_config import SourceConfig
from elcrec_core.data.files import SourceReadError
path, db = sys.argv[1:]
readers = {fmt: lambda fmt=fmt: ingest(SourceConfig(format=fmt, path=path), path=db) for fmt in ("csv", "jsonl", "sequence")}
readers |= {"benchmark sequences": lambda: read_sequence_file(path),
            "cli sequences": lambda: load(path, DataOptions(format="sequences")),
            "cli events": lambda: load(path, DataOptions(format="events"))}
for name, read in readers.items():
    try:
        read()
        print(name, "read it")
    except SourceReadError as exc:
        print(name, exc)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)  # MiB
"""


def _probe(path: Path, db: Path) -> tuple[list[str], int]:
    out = subprocess.run([sys.executable, "-c", _PROBE, str(path), str(db)], capture_output=True, text=True,
                         check=True, timeout=120).stdout.splitlines()
    return out[:-1], int(out[-1])


def test_a_200_mb_file_without_line_breaks_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    small, big = tmp_path / "small.csv", tmp_path / "big.csv"
    block = b"1,2," * (1 << 18)  # 1 MiB
    small.write_bytes(block * 3)
    with big.open("wb") as fh:
        for _ in range(200):
            fh.write(block)
    assert big.stat().st_size == 200 << 20
    small_messages, small_peak = _probe(small, tmp_path / "small.duckdb")
    big_messages, big_peak = _probe(big, tmp_path / "big.duckdb")
    limit = "line 1 is longer than the limit of 2097152 bytes (max_line_bytes): not a file of text lines?"
    names = ["csv", "jsonl", "sequence", "benchmark sequences", "cli sequences", "cli events"]
    assert big_messages == [f"{name} {big}: {limit}" for name in names]
    assert small_messages == [f"{name} {small}: {limit}" for name in names]
    assert big_peak - small_peak < 64, (small_peak, big_peak)  # MiB: the 200 MiB file is never held
    assert not (tmp_path / "big.duckdb").exists()  # nothing was written
    big.unlink()


# --- ids, k-core, a single user ------------------------------------------------------------------------------

USERS = ['a,b', 'say "hi"', "it's", " padded "]
ITEMS = ['x,y', '"q"', "o'k", "z z"]


def _pipeline_sequences(tmp_path: Path, rows: list[tuple[str, str, int]], k_core: int) -> Path:
    """Rows through ingest, build and write, as the pipeline does; returns sequences.parquet."""
    path = tmp_path / "events.csv"
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows([("user_id", "item_id", "timestamp"), *rows])
    db = tmp_path / "w.duckdb"
    ingest(SourceConfig(format="csv", path=str(path)), RULES, db)
    return write_sequences(build_sequences(SequenceConfig(k_core=k_core), db), tmp_path / "seq", db)["sequences"]


def test_ids_with_commas_and_quotes_survive_every_step(tmp_path: Path, capsys) -> None:
    rows = [(u, ITEMS[(n + j) % 4], T0 + j) for n, u in enumerate(USERS) for j in range(2)]
    sequences = _pipeline_sequences(tmp_path, rows, k_core=0)
    seqs, item_ids = read_sequence_parquet(sequences)
    assert sorted(seqs.user_ids) == sorted(USERS) and sorted(item_ids) == sorted(ITEMS)
    history = {(u, item_ids[i - 1]) for u, n in zip(seqs.user_ids, range(len(seqs))) for i in seqs.sequence(n)}
    assert history == {(u, i) for u, i, _ in rows}
    checkpoint = _checkpoint(tmp_path / "model", len(item_ids), item_ids)
    assert main(["recommend", "--checkpoint", str(checkpoint), "--data", str(sequences), "--user", 'say "hi"',
                 "--k", "2", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["user"] == 'say "hi"' and {r["item"] for r in answer["items"]} == {"z z", 'x,y'}


def test_a_k_core_that_removes_every_user_fails_the_sequences_asset(tmp_path: Path) -> None:
    data = tmp_path / "data"
    path = _write(tmp_path / "e.csv", "user_id,item_id,timestamp\n" + "".join(
        f"u{u},i{(u + j) % 6},{T0 + j}\n" for u in range(6) for j in range(4)))
    ingest(SourceConfig(format="csv", path=str(path)), RULES, data / "warehouse.duckdb")
    build = build_sequences(SequenceConfig(k_core=5), data / "warehouse.duckdb")
    summary = build.summary
    assert (summary.events_in, summary.k_core_removed, summary.users, summary.interactions) == (24, 24, 0, 0)
    with pytest.raises(dg.Failure) as info:
        list(interaction_sequences(dg.build_asset_context(partition_key="2026-03-01"),
                                   config=SequenceSettings(k_core=5), storage=Storage(data_dir=str(data))))
    assert info.value.description == ("no sequences left for 2026-03-01: 24 events in; the sequence filters "
                                      "removed 0, events stored by another file too 0, de-duplication 0, "
                                      "k-core with k = 5: 24 (run config ops.interaction_sequences.config: "
                                      "event_types, min_rating, k_core); k_core 4 keeps 6 users (24 events)")
    with pytest.raises(dg.Failure) as info:  # a typo in the event types: the filters removed them, not the k-core
        list(interaction_sequences(dg.build_asset_context(partition_key="2026-03-01"),
                                   storage=Storage(data_dir=str(data)),
                                   config=SequenceSettings(k_core=5, event_types=["purchse"])))
    assert ("the filter event_types removed 24, events stored by another file too 0, de-duplication "
            "0, k-core with k = 5: 0") in info.value.description  # the one set, not min_rating too (helper-279)
    assert info.value.allow_retries is False
    with pytest.raises(dg.Failure) as info:  # min_rating on events without ratings (no rating_column): all dropped
        list(interaction_sequences(dg.build_asset_context(partition_key="2026-03-01"),
                                   storage=Storage(data_dir=str(data)), config=SequenceSettings(min_rating=4)))
    assert info.value.description.endswith(
        "the filter min_rating removed 24, events stored by another file too 0, de-duplication 0, "
        "k-core with k = 5: 0 (run config ops.interaction_sequences.config: event_types, min_rating, k_core); "
        "min_rating drops every event without a rating, and ratings are read only from the column that the source "
        "settings' rating_column names")
    with pytest.raises(dg.Failure) as info:  # a day before every stored event: nothing loaded yet, not the filters
        list(interaction_sequences(dg.build_asset_context(partition_key="2026-01-02"),
                                   storage=Storage(data_dir=str(data)), config=SequenceSettings(k_core=0)))
    assert info.value.description == ("no sequences for 2026-01-02: the warehouse holds no event up to its end: "
                                      "materialize raw_interactions of the day (or of an earlier day) first")


def test_a_single_user_builds_one_sequence_that_training_refuses(tmp_path: Path, capsys) -> None:
    sequences = _pipeline_sequences(tmp_path, [("solo", f"i{j}", T0 + j) for j in range(6)], k_core=0)
    seqs, _ = read_sequence_parquet(sequences)
    assert (seqs.user_ids.tolist(), seqs.sequence(0)) == (["solo"], [1, 2, 3, 4, 5, 6])
    assert main(["train", "--data", str(sequences), "--format", "parquet", "--out", str(tmp_path / "run"),
                 "--intents", "2", "--hidden", "8", "--epochs", "1", "--device", "cpu"]) == 2
    assert capsys.readouterr().err.endswith("elcrec: error: k-means needs at least n_intents = 2 training "
                                            "sequences, got 1\n")


# --- recommending: unseen items, another catalogue -----------------------------------------------------------

N_MODEL = 5


def _checkpoint(folder: Path, n_items: int, item_ids: np.ndarray | None, seed: int = 0) -> Path:
    """An (untrained) model of ``n_items`` items with its item index beside it, as training writes them."""
    torch.manual_seed(seed)
    model = ELCRec(ModelConfig(n_items=n_items, hidden=8, n_heads=2, n_layers=1, max_len=4, n_intents=2))
    folder.mkdir(parents=True, exist_ok=True)
    save_checkpoint(folder / "best.pt", {"model": model.state_dict(), "model_config": asdict(model.cfg)})
    if item_ids is not None:
        write_item_index_file(folder / ITEM_INDEX_FILE, item_ids)
    return folder / "best.pt"


def _sequences(folder: Path, histories: dict[str, list[str]], item_ids: list[str]) -> Path:
    """A sequences.parquet and its item index, as the pipeline writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    index = {item: n for n, item in enumerate(item_ids, start=1)}
    pl.DataFrame({"user_id": list(histories), "items": [[index[i] for i in h] for h in histories.values()]},
                 schema={"user_id": pl.String, "items": pl.List(pl.Int64)}).write_parquet(folder / "sequences.parquet")
    write_item_index_file(folder / ITEM_INDEX_FILE, np.array(item_ids))
    return folder / "sequences.parquet"


def _recommend(capsys, checkpoint: Path, data: Path, user: str, *extra: str) -> dict:
    code = main(["recommend", "--checkpoint", str(checkpoint), "--data", str(data), "--user", user, "--json", *extra])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def test_items_unseen_at_training_are_left_out_of_the_history(tmp_path: Path, capsys) -> None:
    known = list("abcde")
    checkpoint = _checkpoint(tmp_path / "model", N_MODEL, np.array(known))
    later = _sequences(tmp_path / "later", {"u": ["a", "f", "b", "g"], "v": ["f", "g"]}, known + ["f", "g"])
    only_known = _sequences(tmp_path / "known", {"u": ["a", "b"], "v": []}, known)
    for user in ("u", "v"):
        got = _recommend(capsys, checkpoint, later, user, "--k", "3")
        expected = _recommend(capsys, checkpoint, only_known, user, "--k", "3")
        assert got["items"] == expected["items"] and got["intent"] == expected["intent"]
        assert got["history_length"] == {"u": 4, "v": 2}[user]
    assert len(got["items"]) == 3 and {r["item"] for r in got["items"]} <= set(known)  # user v: no known history
    assert {r["item"] for r in _recommend(capsys, checkpoint, later, "u", "--k", "3")["items"]} == {"c", "d", "e"}


def test_asking_for_more_items_than_a_user_has_not_seen_lists_only_those(tmp_path: Path, capsys) -> None:
    checkpoint = _checkpoint(tmp_path / "model", N_MODEL, np.array(list("abcde")))
    data = _sequences(tmp_path / "seen", {"u": ["a", "b", "c"]}, list("abcde"))
    got = _recommend(capsys, checkpoint, data, "u", "--k", "5")
    assert [r["rank"] for r in got["items"]] == [1, 2] and {r["item"] for r in got["items"]} == {"d", "e"}


def test_a_known_item_view_keeps_order_and_users() -> None:
    seqs = Sequences.from_lists(["u", "v", "w"], [[1, 6, 2, 7], [6], []], n_items=7)
    known = seqs.known(5)
    assert ([known.sequence(n) for n in range(3)], known.n_items) == ([[1, 2], [], []], 5)


def test_data_numbered_otherwise_is_matched_by_item_id_and_another_catalogue_is_refused(tmp_path: Path,
                                                                                        capsys) -> None:
    """The command line matches the data's items to the checkpoint's index by id: data that numbers them
    otherwise (c left out, X and f new) recommends as the same histories numbered as the model does; data with
    none of the model's items is refused."""
    checkpoint = _checkpoint(tmp_path / "model", N_MODEL, np.array(list("abcde")))
    other = _sequences(tmp_path / "other", {"u": ["a", "X", "b", "f"]}, ["b", "a", "X", "d", "e", "f"])
    same = _sequences(tmp_path / "same", {"u": ["a", "b"]}, list("abcde"))
    assert (_recommend(capsys, checkpoint, other, "u", "--k", "3")["items"]
            == _recommend(capsys, checkpoint, same, "u", "--k", "3")["items"])
    unrelated = _sequences(tmp_path / "unrelated", {"u": ["p", "q", "r"]}, ["p", "q", "r"])
    for command in (["recommend", "--user", "u"], ["evaluate"]):
        assert main([*command, "--checkpoint", str(checkpoint), "--data", str(unrelated), "--format", "parquet"]) == 2
        assert capsys.readouterr().err == (f"elcrec: error: checkpoint {checkpoint} is from another item catalogue: "
                                           "none of the data's 3 items is among its 5 (or every one is newer "
                                           "than the model: an item first seen after it trained, as a new "
                                           "listing)\n")


def test_item_catalogue_without_an_index_beside_the_checkpoint(tmp_path: Path) -> None:
    bare = _checkpoint(tmp_path / "bare", N_MODEL, None)
    assert item_catalogue(bare, N_MODEL, None) is None
    assert item_catalogue(bare, N_MODEL, np.array(list("abcdefg"))).tolist() == list("abcdefg")
    with pytest.raises(CheckpointError) as info:
        item_catalogue(bare, N_MODEL, np.array(list("abc")))
    assert str(info.value) == (f"checkpoint {bare} knows 5 items, the data's item index only 3: without an "
                               "item_index.parquet beside it, the data's items are matched to the model's by position, "
                               "so the data must hold the catalogue the model was trained on (a part of it cannot be "
                               "matched: give the data as the training read it, such as the sequence file whose "
                               "integer ids are its indices)")
    wrong = _checkpoint(tmp_path / "wrong", N_MODEL, np.array(list("abc")))
    with pytest.raises(CheckpointError) as info:
        item_catalogue(wrong, N_MODEL, None)
    assert str(info.value) == f"{tmp_path / 'wrong' / ITEM_INDEX_FILE} lists 3 items, checkpoint {wrong} has 5"
    indexed = _checkpoint(tmp_path / "indexed", N_MODEL, np.array(list("abcde")))
    assert item_catalogue(indexed, N_MODEL, np.array(list("abc"))).tolist() == list("abcde")  # names every index


def test_cli_training_writes_its_item_index_so_data_is_matched_to_it_by_id(tmp_path: Path, capsys) -> None:
    events = tmp_path / "events.csv"
    events.write_text("user_id,item_id,timestamp\n" + "".join(
        f"u{u},i{(u + k) % 9},{k}\n" for u in range(40) for k in range(6)))
    out = tmp_path / "run"
    assert main(["train", "--data", str(events), "--format", "events", "--out", str(out), "--epochs", "1",
                 "--intents", "2", "--hidden", "8", "--max-len", "6", "--device", "cpu"]) == 0
    capsys.readouterr()
    assert read_item_index_file(out / ITEM_INDEX_FILE).tolist() == [f"i{k}" for k in range(9)]
    renamed = tmp_path / "renamed.csv"
    renamed.write_text(events.read_text().replace("i2,", "i2x,"))  # i2 is gone, i2x a new item
    assert main(["evaluate", "--data", str(renamed), "--format", "events", "--checkpoint", str(out / "best.pt")]) == 0
    # i0..i8 with i2 renamed: 9 items, 1 of them new (the catalogue's 9 and the new one make 10 indices)
    assert "1 of its 9 items are beyond the checkpoint's 9 (newer than it)" in capsys.readouterr().err
    one_user = tmp_path / "one_user.csv"  # its 6 items numbered 1..6 on their own: matched by id
    one_user.write_text("user_id,item_id,timestamp\n" + "".join(f"u5,i{(5 + k) % 9},{k}\n" for k in range(6)))
    assert main(["recommend", "--data", str(one_user), "--format", "events", "--checkpoint", str(out / "best.pt"),
                 "--user", "u5", "--k", "3", "--json"]) == 0
    from_one = json.loads(capsys.readouterr().out)
    assert main(["recommend", "--data", str(events), "--format", "events", "--checkpoint", str(out / "best.pt"),
                 "--user", "u5", "--k", "3", "--json"]) == 0
    assert from_one == json.loads(capsys.readouterr().out)


# --- config paths in the pipeline ----------------------------------------------------------------------------


@pytest.fixture
def folders(tmp_path: Path, monkeypatch) -> tuple[Path, Path]:
    """A data folder with logs/2026-01-31.csv (the working directory) and a folder outside it with e.csv."""
    data, outside = tmp_path / "data", tmp_path / "outside"
    (data / "logs").mkdir(parents=True)
    outside.mkdir()
    for path in (data / "logs" / "2026-01-31.csv", outside / "e.csv"):
        path.write_text(f"user_id,item_id,timestamp\nu,i,{T0}\n")
    monkeypatch.chdir(data)
    return data.resolve(), outside.resolve()


def _refusal(storage: Storage, path: str) -> str:
    with pytest.raises(dg.Failure) as info:
        storage.input_path(path)
    assert info.value.allow_retries is False
    return info.value.description


def test_config_paths_inside_the_data_folder_are_accepted(folders: tuple[Path, Path]) -> None:
    data, outside = folders
    storage = Storage(data_dir=str(data))
    day = str(data / "logs" / "2026-01-31.csv")
    assert storage.input_path("logs/2026-01-31.csv") == storage.input_path(day) == day
    assert storage.input_path("logs/../logs/*.csv") == str(data / "logs" / "*.csv")
    assert Storage(data_dir=str(data), input_dirs=[str(outside)]).input_path("../outside/e.csv") == str(
        outside / "e.csv")
    settings = SourceSettings(format="csv", path="logs/{date}.csv", item_metadata_path=day).resolved({})
    assert settings.source_config("2026-01-31", storage).path == day
    assert settings.item_metadata(storage).path == day


def test_config_paths_that_escape_the_data_folder_are_refused(folders: tuple[Path, Path]) -> None:
    data, outside = folders
    storage = Storage(data_dir=str(data))
    allowed = (f"outside the folders sources are read from ({data}); add its folder to the storage resource's "
               "input_dirs (ELCREC_INPUT_DIRS) to read it")
    assert _refusal(storage, "../outside/e.csv") == f"source path '../outside/e.csv' is {outside / 'e.csv'}, {allowed}"
    assert _refusal(storage, "../../../../../../../../etc/passwd") == (
        f"source path '../../../../../../../../etc/passwd' is /etc/passwd, {allowed}")
    assert _refusal(storage, "/etc/passwd") == f"source path '/etc/passwd' is /etc/passwd, {allowed}"
    (data / "logs" / "link.csv").symlink_to(outside / "e.csv")
    assert _refusal(storage, "logs/link.csv") == f"source path 'logs/link.csv' is {outside / 'e.csv'}, {allowed}"
    for pattern in ("logs", "logs/*.csv", str(data / "logs" / "**")):
        assert _refusal(storage, pattern) == (
            f"source path {pattern!r} leads to {outside / 'e.csv'} through a link, {allowed}")
    with pytest.raises(dg.Failure):
        SourceSettings(format="csv", path="../outside/{date}.csv").resolved({}).source_config("2026-01-31", storage)
    with pytest.raises(dg.Failure):
        SourceSettings(item_metadata_path=str(outside / "e.csv")).item_metadata(storage)


def test_a_config_path_that_does_not_exist_is_named(folders: tuple[Path, Path]) -> None:
    data, _ = folders
    storage = Storage(data_dir=str(data))
    assert _refusal(storage, "logs/2026-02-01.csv") == (
        f"source path 'logs/2026-02-01.csv': {data / 'logs' / '2026-02-01.csv'}: no such file or folder")
    assert _refusal(storage, "logs/*.parquet") == f"source path 'logs/*.parquet': {data / 'logs' / '*.parquet'}: " \
                                                  "no files found"
    # a {date} day without its file: what to do, and files whose names have the day in another form (a trial)
    advice = ("; the path's {date} is the day as YYYY-MM-DD (2026-12-01): deliver the day's file, or for a day "
              "without events an empty file with min_rows: 0 in the source settings")
    for other, note in (([], ""), (["events_20261130.csv", "events_20261129.csv", "events_2026-11-28.csv"],
                                   f"; {data / 'logs'} holds events_20261129.csv and events_20261130.csv of a date in "
                                   "another form: name each with its day as YYYY-MM-DD, as events_{date}.csv reads "
                                   "them")):
        for name in other:
            _write(data / "logs" / name, "user_id,item_id,timestamp\n")
        with pytest.raises(dg.Failure) as refused:
            SourceSettings(format="csv", path=str(data / "logs" / "events_{date}.csv")).resolved({}).source_config(
                "2026-12-01", storage)
        missing = data / "logs" / "events_2026-12-01.csv"
        assert refused.value.description == f"source path '{missing}': {missing}: no such file or folder{advice}{note}"


# --- fuzzing the readers ------------------------------------------------------------------------------------

_PIECES = [b"a", b"7", b",", b"\t", b" ", b'"', b"\r", b"\n", b"\r\n", b"{", b"}", b":", b'"user_id"', b"\xff",
           b"\xc3", str(T0).encode(), b"\x00"]
_BYTES = st.binary(max_size=200) | st.lists(st.sampled_from(_PIECES), max_size=60).map(b"".join)


def _read_or_refuse(path: Path, read) -> object | None:
    """``read()``, or None when it raised the project's error naming ``path``."""
    try:
        return read()
    except SourceReadError as exc:
        assert str(exc).startswith(f"{path}: ") and exc.path == str(path)
        return None


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_BYTES, fmt=st.sampled_from(TEXT_FORMATS), header=st.booleans())
def test_readers_turn_any_bytes_into_reconciled_rows_or_a_clear_error(data: bytes, fmt: str, header: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp) / "f", data)
        columns = ColumnMap("a", "b", "c") if header else ColumnMap("column0", "column1", "column2")
        delimited = {"header": header} if fmt in ("csv", "tsv") else {}  # no header setting for the others
        config = SourceConfig(format=fmt, path=str(path), columns=columns, **delimited)
        frame = _read_or_refuse(path, lambda: read_source(config))
    if frame is not None:
        check = check_rows(frame, RULES)
        assert check.rows_in == len(frame) == len(check.accepted) + len(check.rejected)
        assert frame["source_row"].null_count() == 0
        if fmt == "jsonl" and b"\r" not in data:  # one row per line that is not empty
            assert check.rows_in == sum(1 for line in data.removeprefix(b"\xef\xbb\xbf").split(b"\n") if line)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_BYTES, fmt=st.sampled_from([None, "sequences", "events"]), name=st.sampled_from(["f.csv", "f"]))
def test_cli_readers_turn_any_bytes_into_data_or_a_clear_error(data: bytes, fmt: str | None, name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp) / name, data)
        result = _read_or_refuse(path, lambda: load(str(path), DataOptions(format=fmt)))
    if isinstance(result, LoadedData):  # every accepted row is in the sequences, in 1..n_items
        report, seqs = result.report, result.sequences
        assert report.rows_in == report.accepted + report.rejected and report.accepted == len(seqs.items) > 0
        assert seqs.items.min() >= 1 and seqs.items.max() <= seqs.n_items


@pytest.mark.parametrize("first", [f"196\t242\t3\t{T0}", "196\t242\t3\t2026-03-01 12:00:00",
                                   "196\t242\t3.5\t03/01/2026", "196\t242\t3\t2026-03-01T12:00:00Z",
                                   f"196\t242\t3\t{T0}000"])
def test_header_true_with_names_refuses_a_first_line_of_data(tmp_path: Path, first: str) -> None:
    """``header: true`` with names skipped the first line as the header whatever it held: a file without a header
    (MovieLens' ``u.data``) lost its first event without a word. A time or a rating in the time or rating column
    is no column name: the load is refused, naming the line, the value and the setting that fixes it; so where the
    columns are picked by such a line's values. A header of pandas' column numbers (``0,1,2,3``, or some of them:
    a frame without names) stays a header, and so does a rating column's name where the time column's is no time."""
    path = _write(tmp_path / "u.data", f"{first}\n186\t302\t3\t{T0 + 1}\n")
    names = ["user_id", "item_id", "rating", "timestamp"]
    config = {"format": "tsv", "path": str(path), "header": True, "names": names}
    value = first.split("\t")[3]
    with pytest.raises(SourceReadError) as info:
        read_source(SourceConfig.from_dict(config))
    assert str(info.value) == (
        f"{path}: line 1, which header: true reads as the header, holds {value!r} in the column of times: a value, "
        "not a column name. It is the first record of data, which would be lost: set header: false (with names for "
        "the columns of a file without a header)")
    # without names, columns picked by the first line's values: the same
    picked = {"format": "tsv", "path": str(path), "columns": dict(zip(("user", "item", "timestamp"),
                                                                      first.split("\t")[:2] + [value]))}
    with pytest.raises(SourceReadError, match="holds .* in the column of times: a value, not a column name"):
        read_source(SourceConfig.from_dict(picked))
    assert len(read_source(SourceConfig.from_dict({**config, "header": False}))) == 2  # the fix loads both rows
    for numbers in ("0\t1\t2\t3", "0\t1\t4\t7"):  # df.to_csv of unnamed columns, or of df[[0, 1, 4, 7]]
        pandas = _write(tmp_path / "p.tsv", f"{numbers}\n196\t242\t3\t{T0}\n")
        frame = read_source(SourceConfig.from_dict({**config, "path": str(pandas)}))
        assert frame.select("user_id", "item_id", "source_row").rows() == [("196", "242", 2)]
    columns = {"user": "0", "item": "1", "timestamp": "7"}  # the columns picked by those numbers
    frame = read_source(SourceConfig.from_dict({"format": "tsv", "path": str(pandas), "columns": columns}))
    assert frame.select("user_id", "item_id", "source_row").rows() == [("196", "242", 2)]


def test_a_spreadsheets_empty_rows_are_kept_apart_and_bound_by_no_share(tmp_path: Path) -> None:
    """Excel's CSV export writes the sheet's empty rows as lines of delimiters only (``;;;;``): each was a
    missing_user row counted against max_rejected_share, so that a small day's file with a few was refused whole
    (helper-251). They are rejected rows ``empty_row`` (kept, counted in rows in), left out of the share and its
    rows as empty lines are, and bounded only where max_rejected_share_by_reason gives them a share; a row with
    any value (only an item) is still missing_user."""
    rows = [f"{'000123' if i < 2 else '0005'};{i};{T0 + i};1;12,99" for i in range(20)]
    lines = ["Kunde;Artikel;Zeitpunkt;Menge;Preis", *rows, ";;;;", " ; ;\t;;", ";x;;;", ";;;;", ";;;;"]
    folder = tmp_path / "export"
    folder.mkdir()
    _write(folder / "a.csv", "\r\n".join(lines) + "\r\n")
    _write(folder / "b.csv", "Kunde;Artikel;Zeitpunkt;Menge;Preis\n" + "\n".join(rows) + "\n")
    config = SourceConfig(format="csv", path=str(folder / "*.csv"), delimiter=";",
                          columns=ColumnMap(user="Kunde", item="Artikel", timestamp="Zeitpunkt"))
    check = check_rows(read_source(config), RULES)
    assert (check.rows_in, len(check.accepted)) == (45, 40) and check.by_reason == {"empty_row": 4, "missing_user": 1}
    assert check.rejected.select("source_row", "reason", "detail").cast({"reason": pl.String}).rows() == [
        (22, "empty_row", "every field is empty: a line of delimiters only, as a spreadsheet's empty row"),
        (23, "empty_row", "every field is empty: a line of delimiters only, as a spreadsheet's empty row"),
        (24, "missing_user", "Kunde is empty"),
        (25, "empty_row", "every field is empty: a line of delimiters only, as a spreadsheet's empty row"),
        (26, "empty_row", "every field is empty: a line of delimiters only, as a spreadsheet's empty row")]
    assert check.accepted["user_id"].to_list()[:3] == ["000123", "000123", "0005"]  # leading zeros kept

    def observed(**limits: object) -> dict[str, float]:
        report = expect_interactions(check.accepted, check, ExpectationConfig(**limits))
        return {o.column: o.observed for o in report.outcomes if o.column and o.column.endswith("_share")
                } | {"success": report.success}

    # the missing_user row alone, of the 41 rows that are no empty row
    assert observed() == {"rejected_share": pytest.approx(1 / 41), "success": True}
    assert observed(max_rejected_share_by_reason={"empty_row": 0.05}) == {
        "rejected_share": pytest.approx(1 / 45), "empty_row_share": pytest.approx(4 / 45), "success": False}
    # file a alone: 1 of its 21 rows with data, within 0.05; every other reason counts (a missing_user share of
    # its own leaves nothing above)
    assert rejected_files_note(check, 0.05, "csv", [str(folder / "a.csv"), str(folder / "b.csv")]) == ""
    assert "a.csv: " in rejected_files_note(check, 0.04, "csv", [str(folder / "a.csv"), str(folder / "b.csv")])


def test_a_spreadsheets_empty_rows_of_fewer_delimiters_are_empty_rows_too(tmp_path: Path) -> None:
    """Excel leaves out the empty last columns of a block of rows: its empty rows below the data may have fewer
    delimiters than the header (;; under five columns). They were malformed_line rows (MISSING COLUMNS: ;;), counted
    against max_rejected_share, where the same rows with every delimiter were empty_row; a line of too few fields
    with a value stays malformed_line. The catalogue's reader, which shares the reading, keeps them apart too."""
    import dataclasses

    from elcrec_core.data.expectations import rejected_shares
    from elcrec_core.data.item_metadata import read_item_metadata
    from elcrec_core.data.source_config import ItemMetadataConfig

    empty = "every field is empty: a line of delimiters only, as a spreadsheet's empty row"
    lines = ["Kunde;Artikel;Zeitpunkt;Menge;Preis", f"k1;a;{T0};1;2", ";;;;", ";;", ";", "\xa0 ; ", '"";""', ";x"]
    path = _write(tmp_path / "e.csv", "\r\n".join(lines) + "\r\n")
    config = SourceConfig(format="csv", path=str(path), delimiter=";",
                          columns=ColumnMap(user="Kunde", item="Artikel", timestamp="Zeitpunkt"))
    check = check_rows(read_source(config), RULES)
    assert check.rejected.select("source_row", "reason", "detail").cast({"reason": pl.String}).rows() == [
        *((row, "empty_row", empty) for row in range(3, 8)), (8, "malformed_line", "a line with 2 of 5 fields: ;x")]
    assert (check.rows_in, len(check.accepted)) == (7, 1)
    # without quoting (a sequence file's reading too), a quote is data: "";"" holds a value
    unquoted = check_rows(read_source(dataclasses.replace(config, quote=None)), RULES)
    assert unquoted.rejected.select("source_row", "reason").cast({"reason": pl.String}).rows() == [
        *((row, "empty_row") for row in range(3, 7)), (7, "malformed_line"), (8, "malformed_line")]
    # the malformed line alone is judged, of the 2 rows with data (5 of 7 were rejected before)
    assert rejected_shares(check.by_reason, check.rows_in, ExpectationConfig())["rejected_share"][0] == 0.5
    items = _write(tmp_path / "artikel.csv", "Artikel;Bezeichnung;Kategorie\na;Mug;x\n;;\n;\n")
    _, rejected = read_item_metadata(ItemMetadataConfig(str(items), delimiter=";", item="Artikel",
                                                        title="Bezeichnung", categories="Kategorie"))
    assert sorted(rejected.select("source_row", "reason", "detail").rows()) == [(3, "empty_row", empty),
                                                                           (4, "empty_row", empty)]


def test_a_spreadsheets_blank_columns_at_the_end_of_every_line_are_read_past(tmp_path: Path) -> None:
    """Excel pads every line of a CSV export to its used range: a header ``...;Stars;;`` with rows ending ``;;``
    was refused (header field 5 has no name) where one trailing delimiter was read. Empty names at the end are
    columns that no setting reads; an empty name between names is still refused."""
    path = _write(tmp_path / "e.csv", f"Customer ID;Product;When;Stars;;\n00042;SKU-1;{T0};4;;\n7;SKU-2;{T0};;;\n")
    config = SourceConfig(format="csv", path=str(path), delimiter=";",
                          columns=ColumnMap(user="Customer ID", item="Product", timestamp="When", rating="Stars"))
    check = check_rows(read_source(config), RULES)
    assert check.accepted.select("user_id", "item_id", "rating", "source_row").rows() == [
        ("00042", "SKU-1", 4.0, 2), ("7", "SKU-2", None, 3)]
    assert check.rejected.is_empty()
    gap = _write(tmp_path / "g.csv", f"user_id;;item_id;timestamp\nu;x;i;{T0}\n")
    with pytest.raises(SourceReadError, match="line 1: header field 2 has no name"):
        read_source(SourceConfig(format="csv", path=str(gap), delimiter=";"))
    # rows with and without the padding, in any order and with any line ends, Excel's default names Column1..: the
    # rows load, and a row short of a named column, or with a value where the header has none, is malformed
    for end in ("\n", "\r\n", "\r"):
        lines = ["Column1;Column2;Column3;;;", f"u;i;{T0};;;", f"v;j;{T0}", f"w;k;{T0};", "z;l", f"y;m;{T0};x"]
        excel = _write(tmp_path / "x.csv", end.join(lines) + end)
        check = check_rows(read_source(SourceConfig(format="csv", path=str(excel), delimiter=";", columns=ColumnMap(
            user="Column1", item="Column2", timestamp="Column3"))), RULES)
        assert check.accepted["user_id"].to_list() == ["u", "v", "w"] and check.by_reason == {"malformed_line": 2}
    # padded rows: a row cut short is malformed too (not read with empty fields), a quoted field over two lines
    # loads, and a header glued to a row's last value is refused as without the padding
    cut = _write(tmp_path / "c.csv", f'user_id,item_id,timestamp,rating,note,,\nu1,i1,{T0},4,"a\nb",,\n'
                                     f"u2,i2,{T0},5,,,\nu3,i3,{T0}\nu4,i4\n")
    check = check_rows(read_source(SourceConfig(format="csv", path=str(cut), columns=ColumnMap(rating="rating"))),
                       RULES)
    assert check.accepted.select("user_id", "item_id", "source_row").rows() == [("u1", "i1", 2), ("u2", "i2", 4)]
    assert check.rejected.select("source_row", "reason").cast({"reason": pl.String}).rows() == [
        (5, "malformed_line"), (6, "malformed_line")]
    glued = _write(tmp_path / "gl.csv", f"user_id,item_id,timestamp,rating,,\nu1,i1,{T0},4,,\n"
                                        f"u2,i2,{T0},5item_id,user_id,timestamp,rating\ni3,u3,{T0},1\n")
    with pytest.raises(SourceReadError, match="line 3 ends with the column names in another order"):
        read_source(SourceConfig(format="csv", path=str(glued), columns=ColumnMap(rating="rating")))
    # names given for a padded header: they replace its names (and may name its blank columns), never read
    four = ("user_id", "item_id", "timestamp", "rating")
    for names in (four, (*four, "x")):
        named = SourceConfig(format="csv", path=str(path), delimiter=";", header=True, names=names,
                             columns=ColumnMap(rating="rating"))
        assert check_rows(read_source(named), RULES).accepted["user_id"].to_list() == ["00042", "7"]
    # pandas' column numbers with blank columns: a header
    numbers = _write(tmp_path / "n.csv", f"0,1,2,3,,\nu,i,4,{T0},,\n")
    frame = read_source(SourceConfig(format="csv", path=str(numbers), columns=ColumnMap("0", "1", "3", rating="2")))
    assert frame.select("user_id", "rating", "source_row").rows() == [("u", 4.0, 2)]
