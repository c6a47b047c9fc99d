"""The command line reads every format as the pipeline does (its readers, row rules and sequence building), guesses
the format when not given and says what it guessed, and `elcrec sequences` shows what the model sees."""

from __future__ import annotations

import dataclasses
import gzip
import json
import re
import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
import torch
import yaml

from elcrec_core.cli.data_loading import load
from elcrec_core.cli.data_options import DataOptions
from elcrec_core.cli.main import main
from elcrec_core.data.validation import REJECTED_COLUMNS

T0 = 1_772_366_400  # 2026-03-01 12:00 UTC
FORMATS = "sequence|csv|tsv|jsonl|parquet"


def _write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path.resolve()


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _sequences(capsys, path: Path, *extra: str) -> list[dict]:
    code, out, err = _run(capsys, "sequences", "--data", str(path), "--json", *extra)
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


# --- what the model sees: order and ids ----------------------------------------------------------------------


def test_iso_timestamps_with_offsets_are_ordered_in_true_time(tmp_path: Path, capsys) -> None:
    """As text (and in file order) c < b < a; in time a (05:00 UTC) < b (06:00 UTC) < c (06:30 UTC)."""
    path = _write(tmp_path / "e.csv", "user_id,item_id,timestamp\n"
                                      "u1,c,2026-03-01T01:30:00-05:00\n"
                                      "u1,b,2026-03-01T06:00:00Z\n"
                                      "u1,a,2026-03-01T10:00:00+05:00\n")
    assert _sequences(capsys, path) == [{"user": "u1", "items": ["a", "b", "c"]}]
    assert _sequences(capsys, path, "--timestamp-format", "iso8601") == [{"user": "u1", "items": ["a", "b", "c"]}]
    code, _, err = _run(capsys, "sequences", "--data", str(path))
    assert err.splitlines()[0] == (f"reading {path} as csv (guessed from the name .csv; timestamps: iso8601, "
                                   "detected from the first rows)")


def test_a_timestamp_format_pattern_reads_a_german_excel_export(tmp_path: Path, capsys) -> None:
    """--timestamp-format "%d.%m.%Y %H:%M": day first (13.1.2026 is January 13th), the times that the pipeline
    loads (tests/pipeline/test_source_file.py); a value it does not read is named with the pattern, and a pattern
    that is none is refused naming the option (every row was bad_timestamp: helper-253)."""
    path = _write(tmp_path / "e.csv", "user_id;item_id;timestamp\nu1;a;30.01.2026 9:05\nu1;b;13.1.2026 14:03\n"
                                      "u2;a;30.1.2026 23:59\nu2;b;30.1.2026 24:00\n")
    de = ("--delimiter", ";", "--timestamp-format", "%d.%m.%Y %H:%M")
    assert _sequences(capsys, path, *de) == [{"user": "u1", "items": ["b", "a"]}, {"user": "u2", "items": ["a"]}]
    code, _, err = _run(capsys, "sequences", "--data", str(path), *de)
    assert code == 0 and "events from 2026-01-13 to 2026-01-30 (UTC days)" in err
    assert ('line 5: bad_timestamp (timestamp: 30.1.2026 24:00 (of timestamp_format "%d.%m.%Y %H:%M", but its hour '
            "24 does not exist))") in err  # of the pattern's form: the field named (helper-278)
    with pytest.raises(SystemExit) as refused:
        _run(capsys, "sequences", "--data", str(path), "--delimiter", ";", "--timestamp-format", "%d.%m.%Q")
    assert refused.value.code == 2 and (
        "elcrec sequences: error: --timestamp-format = '%d.%m.%Q': no strptime pattern (Failed to parse format "
        "specifier %d.%m.%Q: Unrecognized format for strftime/strptime: %Q)") in capsys.readouterr().err
    # read as epoch_s (the default for numbers, here detected as none), each row names the pattern that fits
    code, _, err = _run(capsys, "sequences", "--data", str(path), "--delimiter", ";")
    assert 'timestamp: 30.01.2026 9:05 (a date of a locale, day first: timestamp_format "%d.%m.%Y %H:%M")' in err


def test_ids_keep_their_spelling(tmp_path: Path, capsys) -> None:
    path = _write(tmp_path / "e.csv", "user_id,item_id,timestamp\n"
                                      f"007,7,{T0}\n7,007,{T0}\n007,00123,{T0 + 1}\n007,007,{T0 + 2}\n7,123,{T0 + 3}\n")
    assert _sequences(capsys, path) == [{"user": "007", "items": ["7", "00123", "007"]},
                                        {"user": "7", "items": ["007", "123"]}]
    data = load(str(path))
    assert data.item_ids.tolist() == ["007", "7", "00123", "123"]  # natural order: by number, then by text


def test_ids_with_white_space_around_them_are_kept_and_named(tmp_path: Path, capsys) -> None:
    """An export written with ", " gives ' i1' beside 'i1': kept as given (two items, as README's bad input table
    says), with a notice naming the rows; it was silent."""
    path = _write(tmp_path / "e.csv", f"user_id,item_id,timestamp\nu1, i1, {T0}\nu1,i1 ,{T0 + 1}\nu1,i1,{T0 + 2}\n"
                                      f"u2 ,i1,{T0}\nu2 ,i2,{T0 + 1}\nu3,i1,{T0}\n")
    assert _sequences(capsys, path) == [{"user": "u1", "items": [" i1", "i1 ", "i1"]},
                                        {"user": "u2 ", "items": ["i1", "i2"]}, {"user": "u3", "items": ["i1"]}]
    code, _, err = _run(capsys, "sequences", "--data", str(path))
    assert "\n4 accepted row(s) have an id with white space around it, kept as given (' i1' and 'i1' are two items): " \
           "line 2: item_id ' i1'; line 3: item_id 'i1 '; line 5: user_id 'u2 '; ...\n" in err
    _write(tmp_path / "e.csv", f"user_id,item_id,timestamp\nu1,i1,{T0}\n")
    assert "white space" not in _run(capsys, "sequences", "--data", str(path))[2]
    # a zero-width space shows as nothing, and makes another id all the same
    _write(tmp_path / "e.csv", f"user_id,item_id,timestamp\nu1,i1\u200b,{T0}\nu1,i1,{T0 + 1}\n")
    assert "1 accepted row(s) have an id with white space around it, kept as given (' i1' and 'i1' are two " \
           "items): line 2: item_id 'i1\\u200b'\n" in _run(capsys, "sequences", "--data", str(path))[2]


def test_float_ids_past_exact_integers_are_named(tmp_path: Path, capsys) -> None:
    """pandas writes an integer id column with a missing value as floats: ids of 2^53 or more are no longer exact
    there, and four items became one, silently (helper-131). Smaller whole floats read as the integers."""
    path = tmp_path / "e.parquet"
    big = [1234567890123456789.0 + k for k in range(4)]  # one float, 1.2345678901234568e+18
    pl.DataFrame({"user_id": ["u"] * 6, "item_id": [*big, 7.0, 9007199254740992.0],
                  "timestamp": [T0 + k for k in range(6)]}).write_parquet(path)
    code, _, err = _run(capsys, "sequences", "--data", str(path))
    assert code == 0
    assert ("\n5 accepted row(s) have an id that a float column held at 2^53 or more (2^24 for 32 bits), where a "
            "float no longer holds every integer (pandas writes an integer id column with a missing value as floats): "
            "ids that differ may have become one; write the column as integers or text: row 1: item_id "
            "'1.2345678901234568e+18'; row 2: item_id '1.2345678901234568e+18'; row 3: item_id "
            "'1.2345678901234568e+18'; ...\n") in err
    assert "white space" not in err
    assert load(str(path)).item_ids.tolist() == ["7", "1.2345678901234568e+18", "9007199254740992.0"]
    # a 32-bit float column holds every integer only below 2^24: 16777217 is 16777216 there (helper-133)
    pl.DataFrame({"user_id": ["u"] * 3, "item_id": pl.Series([16777215.0, 16777216.0, 16777217.0], dtype=pl.Float32),
                  "timestamp": [T0 + k for k in range(3)]}).write_parquet(path)
    assert "2 accepted row(s) have an id that a float column held at 2^53 or more (2^24 for 32 bits)" in \
        _run(capsys, "sequences", "--data", str(path))[2]
    assert load(str(path)).item_ids.tolist() == ["16777215", "16777216.0"]


def test_ids_in_excels_scientific_notation_are_named(tmp_path: Path, capsys) -> None:
    """Excel saves a long number as 1.23457E+29: two items became one, and only the lower-case form (a float's) was
    named (helper-159's trial)."""
    path = _write(tmp_path / "e.csv", "user_id,item_id,timestamp\n" + "".join(
        f"u{k},{item},{T0 + k}\n" for k, item in enumerate(["1.23457E+29", "1.23457E+29", "12345678901", "E+1"])))
    code, _, err = _run(capsys, "sequences", "--data", str(path))
    assert code == 0 and ("\n2 accepted row(s) have an id in scientific notation, as Excel shows and saves a long "
                          "number (1.23457E+29: its digits past the sixth are lost): ids that differ may have become "
                          "one; format the column as text before saving: line 2: item_id '1.23457E+29'; line 3: "
                          "item_id '1.23457E+29'\n") in err
    assert "float column" not in err


def test_ids_that_differ_only_in_case_are_named(tmp_path: Path, capsys) -> None:
    """c0005 and C0005 became two users, with no word (helper-159's trial: their lists recommended what the same
    person had under the other spelling): kept as given, and named."""
    path = _write(tmp_path / "e.csv", "user_id,item_id,timestamp\n" + "".join(
        f"{user},{item},{T0 + k}\n" for k, (user, item) in enumerate(
            [("c0005", "a"), ("C0005", "b"), ("u1", "SKU-1"), ("u1", "sku-1"), ("U1", "x"), ("u2", "a"),
             ("u2", "caf\u00e9"), ("u2", "cafe\u0301")])))  # é as one character, and as e with an accent
    code, _, err = _run(capsys, "sequences", "--data", str(path))
    assert code == 0
    assert ("\n4 user ids differ from another only in case or Unicode form, kept as given (each a user of its own): "
            "'C0005' and 'c0005'; 'U1' and 'u1'; where an export changed them, write them alike\n") in err
    assert ("\n4 item ids differ from another only in case or Unicode form, kept as given (each an item of its "
            "own): 'cafe\u0301' and 'caf\u00e9'; 'SKU-1' and 'sku-1'; where an export changed them, write them "
            "alike\n") in err
    # keys of both cases by design (base62): their case is theirs, no notice (a review of 12-06)
    keys = _write(tmp_path / "k.csv", "user_id,item_id,timestamp\n" + "".join(
        f"u,{key},{T0 + k}\n" for k, key in enumerate(["aB3x", "Ab3X", "qRs9", "ZzY1"])))
    assert "only in case" not in _run(capsys, "sequences", "--data", str(keys))[2]


def test_a_user_id_that_starts_with_a_dash_is_given_with_an_equals_sign(tmp_path: Path, capsys) -> None:
    """argparse takes ``--user -x`` for two options; the help says how (helper-131)."""
    path = _write(tmp_path / "e.csv", f"user_id,item_id,timestamp\n-x,i1,{T0}\n-x,i2,{T0 + 1}\ny,i1,{T0}\n")
    assert _sequences(capsys, path, "--user=-x") == [{"user": "-x", "items": ["i1", "i2"]}]
    with pytest.raises(SystemExit):
        main(["sequences", "--help"])
    assert "one that starts with -: --user=-x" in " ".join(capsys.readouterr().out.split())


def test_a_text_id_after_many_numeric_ones(tmp_path: Path, capsys) -> None:
    rows = "".join(f"u,{k},{T0 + k}\n" for k in range(150)) + f"u,B1,{T0 + 150}\nv,B1,{T0}\n"
    path = _write(tmp_path / "e.csv", "user_id,item_id,timestamp\n" + rows)
    got = _sequences(capsys, path)
    assert got == [{"user": "u", "items": [str(k) for k in range(150)] + ["B1"]}, {"user": "v", "items": ["B1"]}]


def test_the_sequence_format_keeps_integer_ids_as_indices_and_other_ids_as_text(tmp_path: Path, capsys) -> None:
    integers = _write(tmp_path / "seq.txt", "2 9 3\n10 3 1\n")
    data = load(str(integers))
    assert (data.item_ids, data.sequences.n_items) == (None, 9)  # index = the id (the paper's checkpoints)
    assert [data.sequences.sequence(n) for n in range(2)] == [[9, 3], [3, 1]]
    assert data.sequences.user_ids.tolist() == ["2", "10"]  # natural order
    assert data.notes[-1] == ("item ids are integers: used as the item indices 1..9, of which 3 occur (the others, "
                              "which no event names, stay in the catalogue and are ranked too, by a trained model "
                              "from what it learned of them as negatives: a part of a benchmark file keeps its "
                              "numbering)")  # a subset of Beauty ranked 12,074 items for the 9,108 that occur
    assert load(str(_write(tmp_path / "all.txt", "1 1 2\n2 3\n"))).notes[-1].endswith("item indices 1..3")
    texts = _write(tmp_path / "seq2.txt", "1 007 7\n2 00123 7\n")
    data = load(str(texts))
    assert (data.item_ids.tolist(), data.sequences.n_items) == (["007", "7", "00123"], 3)
    assert _sequences(capsys, texts) == [{"user": "1", "items": ["007", "7"]}, {"user": "2", "items": ["00123", "7"]}]


def test_a_table_separated_by_spaces_is_not_taken_for_the_sequence_format(tmp_path: Path, capsys) -> None:
    """Guessed as the sequence format, a table's header became a user and its timestamps items; without a header
    the epoch seconds became item indices (a model of 1.7 billion items), both read without a word."""
    table = _write(tmp_path / "spaces.txt", f"user_id item_id timestamp\n1 5 {T0}\n1 6 {T0 + 1}\n2 5 {T0 + 2}\n")
    code, _, err = _run(capsys, "sequences", "--data", str(table))
    assert code == 2 and "its first line 'user_id item_id timestamp' looks like the header of a table separated " \
                         "by spaces (every line has 3 fields)" in err and "give --delimiter ' '" in err
    assert _sequences(capsys, table, "--delimiter", " ") == [{"user": "1", "items": ["5", "6"]},
                                                             {"user": "2", "items": ["5"]}]
    assert _sequences(capsys, table, "--format", "sequence")[0] == {  # if asked for
        "user": "1", "items": ["5", str(T0), "6", str(T0 + 1)]}
    headless = _write(tmp_path / "headless.txt", f"1 5 {T0}\n2 6 {T0 + 1}\n")
    code, _, err = _run(capsys, "sequences", "--data", str(headless))
    assert code == 2 and f"the largest, {T0 + 1:,}, would give the model {T0 + 1:,} items for the 4 that occur" in err
    sparse = _write(tmp_path / "sparse.txt", "1 5 250000 7\n2 5 7 250000\n")  # a sequence file, said so: read
    assert load(str(sparse), DataOptions(format="sequence")).sequences.n_items == 250000  # as a checkpoint's
    code, _, err = _run(capsys, "sequences", "--data", str(headless), "--format", "sequence")  # 1.7 billion items:
    assert code == 2 and err == (  # ml-100k read so asked for 228 GB, a traceback
        f"elcrec: error: {headless}: its item ids are integers, used as the item indices as --format sequence asks: "
        f"the largest, {T0 + 1:,}, would give the model {T0 + 1:,} items for the 4 that occur. Is it a table of events "
        "separated by spaces? Give --delimiter ' ' and --names (user, item, timestamp columns), not --format "
        "sequence\n")
    tabbed = _write(tmp_path / "u.data", f"1\t5\t3\t{T0}\n2\t6\t4\t{T0 + 1}\n")  # ml-100k's: tabs, not spaces
    code, _, err = _run(capsys, "sequences", "--data", str(tabbed), "--format", "sequence")
    assert code == 2 and err.endswith("Is it a table of events separated by tabs? Give --format tsv and --names "
                                      "(user, item, timestamp columns), not --format sequence\n")



def test_a_file_whose_lines_repeat_a_user_or_hold_no_items_is_not_taken_for_the_sequence_format(
        tmp_path: Path, capsys) -> None:
    """`user item rating` separated by spaces was read as sequences (ratings as items, a user's lines joined), and a
    comment above a CSV table as a user whose lines had no items, both without an error."""
    ratings = _write(tmp_path / "ratings.txt", "1 10 5\n1 20 3\n2 10 4\n")
    code, _, err = _run(capsys, "sequences", "--data", str(ratings))
    assert code == 2 and err == (
        f"elcrec: error: {ratings}: its first line looks like a user and their items (the sequence format), but the "
        "lines '1 10 5' and '1 20 3' begin with the same user, and a sequence file has one line per user: give "
        "--delimiter ' ' with --names (or a header) to read a table of events separated by spaces, or --format "
        "sequence if it is of that format\n")
    names = ["--names", "user_id,item_id,rating", "--timestamp-column", "none"]
    assert _sequences(capsys, ratings, "--delimiter", " ", *names) == [{"user": "1", "items": ["10", "20"]},
                                                                       {"user": "2", "items": ["10"]}]
    assert _sequences(capsys, ratings, "--format", "sequence") == [{"user": "1", "items": ["10", "5", "20", "3"]},
                                                                   {"user": "2", "items": ["10", "4"]}]
    commented = _write(tmp_path / "export.txt", f"# exported today\nuser_id,item_id,timestamp\nu,i,{T0}\nv,j,{T0}\n")
    code, _, err = _run(capsys, "sequences", "--data", str(commented))
    assert code == 2 and ("but 3 of its first 4 lines hold no item: if lines above a table (a title or a comment) "
                          "made it look so, remove them (no option skips lines), or --format sequence") in err
    two = _write(tmp_path / "two.txt", "1 5 6\n2 5\nu3\n")  # one user of three without items: a sequence file
    assert _sequences(capsys, two) == [{"user": "1", "items": ["5", "6"]}, {"user": "2", "items": ["5"]}]


def test_names_of_another_count_than_the_fields_or_that_the_first_line_holds_are_refused(
        tmp_path: Path, capsys) -> None:
    """--names with a header read the header as an event (a user 'user_id' who picked the item 'item_id'); names of
    another count rejected every row as ragged, or all but a row with an extra field, with advice on --format."""
    header = _write(tmp_path / "e.csv", f"user_id,item_id,time\nu,i,{T0}\nu,j,{T0 + 1}\n")
    code, _, err = _run(capsys, "sequences", "--data", str(header), "--names", "user_id,item_id,t",
                        "--timestamp-column", "none")
    assert code == 2 and err == (
        f"elcrec: error: {header}: its first line 'user_id,item_id,time' is a header (it names the columns user_id "
        "and item_id where --names puts them), which --names would read as an event: leave out --names (and "
        "--no-header) and name the columns with --user-column, --item-column, --timestamp-column\n")
    tabs = _write(tmp_path / "u.data", f"1\t50\t5\t{T0}\n2\t51\t3\t{T0 + 1}\t\n3\t52\t4\t{T0 + 2}\n")
    for given, count in (("user_id,item_id,rating,timestamp,extra,more", 6), ("user_id,item_id,rating", 3)):
        code, _, err = _run(capsys, "sequences", "--data", str(tabs), "--names", given)
        assert code == 2 and err == (f"elcrec: error: {tabs}: --names gives {count} names ({given.replace(',', ', ')})"
                                     ", but its lines have 4 fields separated by '\\t': give a name for each field\n")
    assert len(_sequences(capsys, tabs, "--names", "user_id,item_id,rating,timestamp")) == 3  # the extra tab: one of 3
    # a name for line 2's empty last field fits it, as the reader has it: line 2 is read, the others are rejected
    code, _, err = _run(capsys, "sequences", "--data", str(tabs), "--names", "user_id,item_id,rating,timestamp,x")
    assert code == 0 and "data: 3 rows read, 1 accepted, 2 rejected (malformed_line: 2)" in err, err
    # a spreadsheet's export pads each line with empty fields (;;;): as many names as values read every line, as the
    # pipeline reads them (helper-187: refused, "its lines have 6 fields")
    padded = _write(tmp_path / "p.csv", f"0;50;5;{T0};;\n1;51;3;{T0 + 1};;\n")
    assert len(_sequences(capsys, padded, "--names", "user_id,item_id,rating,timestamp", "--delimiter", ";")) == 2
    # lines of 2 and 3 fields, half and half: the names fit the second, which is read; the first is a rejected row
    # (it was refused: "its lines have 2 fields", false of line 2; the reader reads where some records fit: helper-180)
    mixed = _write(tmp_path / "m.csv", f"u1,a\nu2,b,{T0}\n")
    assert _sequences(capsys, mixed, "--names", "user_id,item_id,timestamp") == [{"user": "u2", "items": ["b"]}]
    trailing = _write(tmp_path / "t.csv", f"1,10,{T0},\n1,11,{T0 + 1},\n2,12,{T0 + 2}\n")
    assert _sequences(capsys, trailing, "--names", "user_id,item_id,timestamp") == [  # a trailing delimiter is no
        {"user": "1", "items": ["10", "11"]}, {"user": "2", "items": ["12"]}]  # field, as the reader has it
    trailing_header = _write(tmp_path / "h.csv", f"user_id,item_id,t,\nu,a,{T0},\n")  # a header all the same
    code, _, err = _run(capsys, "sequences", "--data", str(trailing_header), "--names", "user_id,item_id,t")
    assert code == 2 and "its first line 'user_id,item_id,t,' is a header" in err, err
    wide = _write(tmp_path / "w.tsv", f"user_id\titem_id\ttimestamp\nu\ta\t{T0}\n".encode("utf-16"))
    code, _, err = _run(capsys, "sequences", "--data", str(wide), "--encoding", "utf-16", "--names",
                        "user_id,item_id,timestamp", "--timestamp-column", "none")
    assert code == 2 and "its first line 'user_id\\titem_id\\ttimestamp' is a header" in err, err


def test_the_format_is_only_suggested_where_another_format_may_read_the_file(tmp_path: Path, capsys) -> None:
    """An empty file, one of a spreadsheet's empty rows alone (;;), compressed data or an unclosed quote are the
    file's whatever its format: no --format tip (the empty rows had one)."""
    for name, content in (("empty.csv", b""), ("packed.csv", gzip.compress(b"user_id,item_id\n")),
                          ("rows.csv", b"user_id;item_id;timestamp\r\n;;\r\n;;\r\n"),
                          ("quote.csv", f'user_id,item_id,timestamp\nu,"i,{T0}\nv,j,{T0}\n'.encode())):
        code, _, err = _run(capsys, "sequences", "--data", str(_write(tmp_path / name, content)))
        assert code == 2 and "elcrec: error:" in err and "--format" not in err, err
    wide = _write(tmp_path / "w.csv", f"user_id,item_id,timestamp\nu,a,{T0}\n".encode("utf-16"))
    code, _, err = _run(capsys, "sequences", "--data", str(wide))
    assert code == 2 and err.endswith("(the source setting encoding: utf-16 reads it); give --encoding utf-16\n"), err
    assert _sequences(capsys, wide, "--encoding", "utf-16") == [{"user": "u", "items": ["a"]}]
    ragged = _write(tmp_path / "ragged.csv", f"user_id,item_id,timestamp\nu,i,{T0},x,y\n")
    code, _, err = _run(capsys, "sequences", "--data", str(ragged))
    assert code == 2 and err.endswith(f"it was read as csv, guessed from the name .csv: give --format {FORMATS} if "
                                      "that is wrong\n")

def test_a_parquet_file_whose_name_holds_glob_characters_has_its_own_schema(tmp_path: Path, capsys) -> None:
    """Polars took x[1].parquet for a pattern: the schema came from x1.parquet beside it (or none), and ISO times
    were read as epoch seconds, every row rejected."""
    pl.DataFrame({"user_id": ["u"], "item_id": ["a"], "timestamp": ["2026-01-01T10:00:00Z"]}).write_parquet(
        tmp_path / "x[1].parquet")
    pl.DataFrame({"user_id": ["v"], "item_id": ["b"], "timestamp": [datetime(2026, 1, 1)]}).write_parquet(
        tmp_path / "x1.parquet")  # a typed time there: no format to detect
    assert _sequences(capsys, tmp_path / "x[1].parquet") == [{"user": "u", "items": ["a"]}]


def test_encoding_reads_a_text_file_in_another_encoding(tmp_path: Path, capsys) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes(f"user_id,item_id,timestamp\nJosé,café,{T0}\n".encode("latin-1"))
    assert _sequences(capsys, path, "--encoding", "latin-1") == [{"user": "José", "items": ["café"]}]
    # an unknown one is refused before the file is read, whatever its name says of its format (a file without a
    # suffix gave a LookupError's traceback, helper-195)
    for name in (path, _write(tmp_path / "noext", f"user_id,item_id,timestamp\nu,i,{T0}\n")):
        with pytest.raises(SystemExit) as info:
            main(["sequences", "--data", str(name), "--encoding", "foo"])
        err = capsys.readouterr().err
        assert info.value.code == 2 and "argument --encoding: unknown encoding 'foo' (a Python codec: utf-8" in err
    with pytest.raises(SystemExit) as info:  # a codec, but no text encoding: a LookupError's traceback (helper-202)
        main(["sequences", "--data", str(path), "--encoding", "rot13"])
    assert info.value.code == 2 and "argument --encoding: 'rot13' is no text encoding (a codec of bytes to bytes or " \
                                    "text to text) (a Python codec: utf-8" in capsys.readouterr().err


def test_a_folder_whose_files_are_of_several_formats_by_name_is_refused(tmp_path: Path, capsys) -> None:
    """A README.txt beside the CSV files: the folder was read in the format guessed from its first file (the
    sequence format), every CSV row rejected, and the command succeeded."""
    folder = tmp_path / "logs"
    folder.mkdir()
    _write(folder / "a.csv", f"user_id,item_id,timestamp\nu1,a,{T0}\nu1,b,{T0 + 1}\n")
    _write(folder / "README.txt", "some notes\n")
    code, _, err = _run(capsys, "sequences", "--data", str(folder))
    assert code == 2 and "its files are not of one format by their names (no known suffix: README.txt; csv: a.csv)" \
        in err
    assert _sequences(capsys, folder / "*.csv") == [{"user": "u1", "items": ["a", "b"]}]


# --- byte order marks ----------------------------------------------------------------------------------------

BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize(("fmt", "content"), [
    ("csv", f"user_id,item_id,timestamp\r\nu1,i1,{T0}\r\nu1,i2,{T0 + 1}\r\n"),
    ("tsv", f"user_id\titem_id\ttimestamp\nu1\ti1\t{T0}\nu1\ti2\t{T0 + 1}\n"),
    ("jsonl", "".join(json.dumps({"user_id": "u1", "item_id": i, "timestamp": T0 + n}) + "\n"
                      for n, i in enumerate(["i1", "i2"]))),
    ("sequence", "u1 i1 i2\n"),
])
@pytest.mark.parametrize("given", [True, False])
def test_a_byte_order_mark_is_skipped_in_every_text_format(tmp_path: Path, capsys, fmt: str, content: str,
                                                          given: bool) -> None:
    path = _write(tmp_path / "e.txt", BOM + content.encode())
    extra = ["--format", fmt] if given else []
    assert _sequences(capsys, path, *extra) == [{"user": "u1", "items": ["i1", "i2"]}]
    headerless = _write(tmp_path / "h.txt", BOM + f"u1,i1,{T0}\n".encode())
    assert _sequences(capsys, headerless, "--names", "user_id,item_id,timestamp") == [{"user": "u1", "items": ["i1"]}]


def test_a_byte_order_mark_before_integer_ids_of_a_benchmark_file(tmp_path: Path, capsys) -> None:
    path = _write(tmp_path / "Beauty-like.txt", BOM + b"1 1 2 3\n2 2 3\n")
    data = load(str(path))
    assert (data.item_ids, data.sequences.user_ids.tolist(), data.sequences.n_items) == (None, ["1", "2"], 3)
    assert _sequences(capsys, path, "--user", "1") == [{"user": "1", "items": ["1", "2", "3"]}]


# --- guessing the format, and saying so ------------------------------------------------------------------------


def _events(n_users: int = 40, n_items: int = 9, per_user: int = 6) -> pl.DataFrame:
    return pl.DataFrame({
        "user_id": [u for u in range(n_users) for _ in range(per_user)],
        "item_id": [(u + k) % n_items for u in range(n_users) for k in range(per_user)],
        "timestamp": [T0 + k for _ in range(n_users) for k in range(per_user)],
    })


def test_train_evaluate_and_recommend_without_format_on_csv_and_parquet(tmp_path: Path, capsys) -> None:
    events = _events()
    csv_path, parquet_path = tmp_path / "events.csv", tmp_path / "events.parquet"
    events.write_csv(csv_path)
    events.write_parquet(parquet_path)
    out = tmp_path / "run"
    code, stdout, err = _run(capsys, "train", "--data", str(csv_path), "--out", str(out), "--epochs", "1",
                             "--intents", "2", "--hidden", "8", "--max-len", "6", "--device", "cpu")
    assert code == 0, err
    assert "data: 240 rows read, 240 accepted, 0 rejected\n" in err
    trained = json.loads(stdout.strip().splitlines()[-1])["test"]
    for data in (csv_path, parquet_path):
        code, stdout, err = _run(capsys, "evaluate", "--data", str(data), "--checkpoint", str(out / "best.pt"),
                                 "--json")
        assert code == 0, err
        assert json.loads(stdout) == pytest.approx(trained, abs=1e-6)
    assert err.splitlines() == [f"reading {parquet_path.resolve()} as parquet (guessed from the name .parquet; "
                                "timestamps: epoch_s, detected from the first rows)",
                                "data: 240 rows read, 240 accepted, 0 rejected",
                                "events from 2026-03-01 to 2026-03-01 (UTC days)",
                                "40 of the 40 users ranked (a test target takes at least 2 items)"]
    # how many users it ranked: a subset's run was not told from a whole one (helper-170)
    code, stdout, err = _run(capsys, "evaluate", "--data", str(csv_path), "--checkpoint", str(out / "best.pt"),
                             "--split", "valid")
    assert code == 0, err
    lines = stdout.splitlines()  # the split it ranked, then one metric a line
    assert lines[0] == ("valid split: 40 of the 40 users ranked (a valid target takes at least 3 items); full ranking "
                        "over the model's 9 items, history excluded")
    with csv_path.open("a") as more:  # a user of one event has no test target
        more.write(f"one,{events['item_id'][0]},{events['timestamp'][0]}\n")
    code, stdout, err = _run(capsys, "evaluate", "--data", str(csv_path), "--checkpoint", str(out / "best.pt"))
    assert code == 0 and stdout.startswith("test split: 40 of the 41 users ranked"), err
    assert lines[1].startswith("HR@5 ")
    code, stdout, err = _run(capsys, "recommend", "--data", str(parquet_path), "--checkpoint", str(out / "best.pt"),
                             "--user", "3", "--k", "2", "--json")
    assert code == 0, err
    answer = json.loads(stdout)
    assert answer["history_length"] == 6 and len(answer["items"]) == 2  # user 3 has seen 6 of the 9 items
    assert "items, not" not in err
    code, stdout, err = _run(capsys, "recommend", "--data", str(parquet_path), "--checkpoint", str(out / "best.pt"),
                             "--user", "3", "--k", "5", "--json")
    assert code == 0 and len(json.loads(stdout)["items"]) == 3  # the 3 items user 3 has not seen, and a note
    assert "3 items, not 5: the model scores 9 items, and the others are in the user's history" in err
    newer = tmp_path / "newer.csv"  # user 3 has also picked an item the model was not trained on
    pl.concat([events, pl.DataFrame({"user_id": [3], "item_id": [99], "timestamp": [T0 + 9]})]).write_csv(newer)
    code, stdout, err = _run(capsys, "recommend", "--data", str(newer), "--checkpoint", str(out / "best.pt"),
                             "--user", "3", "--k", "2", "--json")
    assert code == 0 and json.loads(stdout)["history_length"] == 7  # the user's events in the data
    assert "1 of the user's 7 events are of items unknown to the model: left out of the history it reads" in err


def test_old_format_names_still_work(tmp_path: Path, capsys) -> None:
    seq = _write(tmp_path / "seq.data", "1 5 6\n")
    events = _write(tmp_path / "e.log", f"user_id,item_id,timestamp\nu,i,{T0}\n")
    assert _sequences(capsys, seq, "--format", "sequences") == [{"user": "1", "items": ["5", "6"]}]
    assert _sequences(capsys, events, "--format", "events") == [{"user": "u", "items": ["i"]}]
    pl.DataFrame({"user_id": ["u"], "item_id": ["i"], "timestamp": [T0]}).write_parquet(tmp_path / "e.parquet")
    assert _sequences(capsys, tmp_path / "e.parquet", "--format", "events") == [{"user": "u", "items": ["i"]}]


def test_a_format_that_cannot_be_guessed_asks_for_format(tmp_path: Path, capsys) -> None:
    path = _write(tmp_path / "ids.txt", "abc\ndef\n")
    assert _run(capsys, "sequences", "--data", str(path)) == (
        2, "", f"elcrec: error: {path}: cannot tell its format from the name or the first line 'abc'; give --format "
               f"{FORMATS}\n")
    # a title above a table: the lines after it tell, and no --format would read it (helper-180)
    titled = _write(tmp_path / "ratings.txt", f"Ratings\n1,5,{T0}\n2,6,{T0}\n")
    assert _run(capsys, "sequences", "--data", str(titled))[2] == (
        f"elcrec: error: {titled}: cannot tell its format from the name or the first line 'Ratings' (the lines after "
        "it look like csv: is it a title above the data? Remove it: no option skips lines); give --format "
        f"{FORMATS}\n")
    binary = _write(tmp_path / "blob", bytes(range(256)))
    assert _run(capsys, "sequences", "--data", str(binary))[2] == (
        f"elcrec: error: {binary}: cannot tell its format: it holds NUL bytes (binary or compressed data, or UTF-16 "
        f"text? give --encoding utf-16); give --format {FORMATS}\n")
    # UTF-16 text (Excel's "Unicode text") with its encoding given: its format is guessed from the text, as read
    # (helper-187: refused for its NUL bytes, --encoding or not)
    wide = _write(tmp_path / "export", f"user_id\titem_id\ttimestamp\nu\ta\t{T0}\n".encode("utf-16"))
    code, out, err = _run(capsys, "sequences", "--data", str(wide), "--encoding", "utf-16")
    assert (code, out) == (0, "u (1 event): a\n") and "as tsv (guessed from its first line" in err, err


def test_a_wrong_guess_names_the_guess_and_the_options(tmp_path: Path, capsys) -> None:
    headerless = _write(tmp_path / "u.data", f"1\t50\t5\t{T0}\n1\t51\t3\t{T0 + 1}\n")
    assert _run(capsys, "sequences", "--data", str(headerless))[2] == (
        f"elcrec: error: {headerless}: no column(s) ['user_id', 'item_id', 'timestamp']; the file has ['1', '50', "
        f"'5', '{T0}']; its first line looks like data, not a header: give --no-header and --names with a name for "
        "each of its 4 columns (those read: user_id, item_id, timestamp); it was read as tsv, guessed from its "
        f"first line: give --format {FORMATS} if that is wrong\n")
    names = ["--names", "user_id,item_id,rating,timestamp"]
    assert _sequences(capsys, headerless, *names) == [{"user": "1", "items": ["50", "51"]}]
    positions = ["--no-header", "--user-column", "column0", "--item-column", "column1", "--timestamp-column",
                 "column3"]
    assert _sequences(capsys, headerless, *positions) == [{"user": "1", "items": ["50", "51"]}]
    other = _write(tmp_path / "e.csv", f"user,item,time\nu,i,{T0}\n")
    assert _run(capsys, "sequences", "--data", str(other))[2] == (
        f"elcrec: error: {other}: no column(s) ['user_id', 'item_id', 'timestamp']; the file has ['user', 'item', "
        "'time']; name the columns with --user-column, --item-column, --timestamp-column, or --names with "
        "--header-names (names that replace the header's; --no-header and --names for a file without one); it was "
        f"read as csv, guessed from the name .csv: give --format {FORMATS} if that is wrong\n")
    assert _sequences(capsys, other, "--user-column", "user", "--item-column", "item", "--timestamp-column",
                      "time") == [{"user": "u", "items": ["i"]}]
    # the advice's second way; --no-header and --names, which it gave before, read the header as a rejected row
    assert _sequences(capsys, other, "--names", "user_id,item_id,timestamp", "--header-names") == [
        {"user": "u", "items": ["i"]}]
    # the options of the columns missing, an event type's too, and no format advice for a Parquet file by its bytes
    # (helper-190: it named the user, item and time options, and the format)
    code, _, err = _run(capsys, "sequences", "--data", str(other), "--user-column", "user", "--item-column", "item",
                        "--timestamp-column", "time", "--event-type-column", "kind", "--rating-column", "stars")
    assert code == 2 and "; name the columns with --rating-column, --event-type-column, or --names" in err, err
    pl.DataFrame({"user_id": ["u"], "item_id": ["i"], "timestamp": [T0]}).write_parquet(tmp_path / "e.parquet")
    code, _, err = _run(capsys, "sequences", "--data", str(tmp_path / "e.parquet"), "--event-type-column", "kind")
    assert code == 2 and err.rstrip().endswith("; name the columns with --event-type-column"), err



def test_advice_for_a_file_without_times_or_separated_by_spaces_and_times_of_another_encoding(
        tmp_path: Path, capsys) -> None:
    """A missing timestamp column did not name --timestamp-column none; a header separated by spaces (one column)
    did not name --delimiter; the times of a UTF-16 file were sniffed as UTF-8, not detected, and all rejected."""
    no_times = _write(tmp_path / "n.csv", "user_id,item_id\nu,a\nu,b\n")
    code, _, err = _run(capsys, "sequences", "--data", str(no_times))
    assert code == 2 and "; a file without times: --timestamp-column none (each user's events in file order);" in err
    assert _sequences(capsys, no_times, "--timestamp-column", "none") == [{"user": "u", "items": ["a", "b"]}]
    lines = _write(tmp_path / "n.jsonl", '{"user_id": "u", "item_id": "a"}\n')
    code, _, err = _run(capsys, "sequences", "--data", str(lines))
    assert code == 2 and "; a file without times: --timestamp-column none (each user's events in file order)" in err
    spaced = _write(tmp_path / "s.csv", f"user_id item_id timestamp\nu a {T0}\n")
    code, _, err = _run(capsys, "sequences", "--data", str(spaced))
    assert code == 2 and ("; its first line has no ',' but spaces between names: give --delimiter ' ' if spaces "
                          "separate its fields;") in err
    assert _sequences(capsys, spaced, "--delimiter", " ") == [{"user": "u", "items": ["a"]}]
    # --no-quote on quoted fields that hold the delimiter: every row has too many columns, and the advice says why
    quoted = _write(tmp_path / "q.csv", f'user_id,item_id,timestamp\nu,"Soap, big",{T0}\n')
    assert _run(capsys, "sequences", "--data", str(quoted), "--no-quote")[2] == (
        f"elcrec: error: {quoted}: no rows accepted: 1 row read, 0 accepted, 1 rejected (malformed_line: 1); line 2: "
        f'malformed_line (TOO MANY COLUMNS: u,"Soap, big",{T0}); its fields are quoted, with the delimiter inside: '
        "leave out --no-quote (quotes then group a field's text); it was read as csv, guessed from the name .csv: "
        f"give --format {FORMATS} if that is wrong\n")
    inches = _write(tmp_path / "i.csv", f'user_id,item_id,timestamp\nu,TV 55", black,{T0}\n')  # no quoting: no tip
    assert "--no-quote" not in _run(capsys, "sequences", "--data", str(inches), "--no-quote")[2]
    # a wrong --delimiter: the header's own delimiter is the advice, not the space inside a name
    semicolons = _write(tmp_path / "x.csv", f"Customer ID;Product;When\nu;a;{T0}\n")
    assert _run(capsys, "sequences", "--data", str(semicolons), "--delimiter", ",")[2] == (
        f"elcrec: error: {semicolons}: no column(s) ['user_id', 'item_id', 'timestamp']; the file has ['Customer "
        "ID;Product;When']; the header holds ';': is that the delimiter?; it was read as csv, guessed from the name "
        f".csv: give --format {FORMATS} if that is wrong\n")
    wide = _write(tmp_path / "w.tsv", "user_id\titem_id\ttimestamp\r\nu\ta\t2024-01-02\r\nu\tb\t2024-01-01\r\n"
                  .encode("utf-16"))
    assert _sequences(capsys, wide, "--encoding", "utf-16") == [{"user": "u", "items": ["b", "a"]}]

def test_a_given_format_that_reads_nothing_says_what_the_file_looks_like(tmp_path: Path, capsys) -> None:
    path = _write(tmp_path / "e.csv", f"user_id,item_id,timestamp\nu,i,{T0}\n")
    assert _run(capsys, "sequences", "--data", str(path), "--format", "sequences")[2] == (
        f"elcrec: error: {path}: no rows accepted: 2 rows read, 0 accepted, 2 rejected (malformed_line: 2); "
        "line 1: malformed_line (no items: user_id,item_id,timestamp); its first line looks like csv: try "
        "--format csv\n")


def test_a_given_format_that_is_not_the_files_says_which_it_is(tmp_path: Path, capsys) -> None:
    """--format parquet on a CSV file gave DuckDB's raw "No magic bytes found"; --format csv on a Parquet file said
    it holds a NUL byte, without a word of Parquet."""
    path = _write(tmp_path / "e.csv", f"user_id,item_id,timestamp\nu,i,{T0}\n")
    assert _run(capsys, "sequences", "--data", str(path), "--format", "parquet")[2] == (
        f"elcrec: error: {path}: not a Parquet file (Invalid Input Error: No magic bytes found at end of file "
        f"'{path}'); its first line looks like csv: try --format csv\n")
    parquet = tmp_path / "e.parquet"
    pl.read_csv(path).write_parquet(parquet)
    error = _run(capsys, "sequences", "--data", str(parquet), "--format", "csv")[2]
    assert error.startswith(f"elcrec: error: {parquet}: line ") and "holds a NUL byte" in error
    assert error.endswith("; it is parquet: try --format parquet\n")


def test_a_semicolon_delimiter_and_epoch_milliseconds_are_guessed(tmp_path: Path, capsys) -> None:
    path = _write(tmp_path / "e.csv", f"user_id;item_id;timestamp\nu;b;{(T0 + 1) * 1000}\nu;a;{T0 * 1000}\n")
    code, out, err = _run(capsys, "sequences", "--data", str(path), "--json")
    assert (code, out) == (0, '{"user": "u", "items": ["a", "b"]}\n')
    assert err.splitlines()[0] == (f"reading {path} as csv (guessed from the name .csv; delimiter ';' guessed from "
                                   "the first lines; timestamps: epoch_ms, detected from the first rows)")
    # a comma inside a header name kept the comma, and the error named the columns (helper-220): the lines are
    # records of one field count by ';' alone (a quoted ';' is inside a field)
    named = _write(tmp_path / "n.csv", f'user_id;item_id;timestamp;qty (units, each);note\nu;b;{(T0 + 1) * 1000};1;'
                                       f'"tent; 2-person"\nu;a;{T0 * 1000};2;\n')
    code, out, err = _run(capsys, "sequences", "--data", str(named), "--json")
    assert (code, out) == (0, '{"user": "u", "items": ["a", "b"]}\n') and "delimiter ';' guessed" in err, err
    for whole in (f"user_id,item_id,timestamp,note\nu,a,{T0},x;y\nu,b,{T0},z\n",  # the comma's: ';' inside a field
                  f"user_id,item_id,timestamp\nu,a,{T0}\n"):
        code, _, err = _run(capsys, "sequences", "--data", str(_write(tmp_path / "c.csv", whole)))
        assert code == 0 and "guessed from the first lines" not in err, err
    # lines that the format's own splits keep it, ragged or not: names with a comma in tab-separated lines, one with
    # a trailing tab, read as comma-separated (helper-221)
    tab = "\t"
    names = "".join(f"{name}\ti{n}\t{T0 + n}{tab * (n == 2)}\n" for n, name in enumerate(["Doe, Jane", "Roe, Jo"] * 3))
    code, out, err = _run(capsys, "sequences", "--data", str(_write(tmp_path / "n.tsv", names)), "--names",
                          "user_id,item_id,timestamp", "--json")
    assert code == 0 and "guessed from the first lines" not in err, err
    assert [json.loads(line)["user"] for line in out.splitlines()] == ["Doe, Jane", "Roe, Jo"]


def test_epoch_microseconds_are_guessed_and_read(tmp_path: Path, capsys) -> None:
    """Times in microseconds since 1970 (as Spark and Kafka write them): detected as epoch_us, and b (one
    microsecond later) comes after a; read as milliseconds they would lie past the year 9999."""
    path = _write(tmp_path / "e.csv", f"user_id,item_id,timestamp\nu,b,{T0 * 1_000_000 + 1}\nu,a,{T0 * 1_000_000}\n")
    code, out, err = _run(capsys, "sequences", "--data", str(path), "--json")
    assert (code, out) == (0, '{"user": "u", "items": ["a", "b"]}\n')
    assert "timestamps: epoch_us, detected from the first rows" in err.splitlines()[0]


def test_the_timestamp_format_is_detected_from_the_first_file_with_rows(tmp_path: Path, capsys) -> None:
    """A folder whose first file holds a header only: its ISO times were read as epoch seconds (the default, as the
    empty first file told nothing), and every row of the other files was rejected as bad_timestamp."""
    folder = tmp_path / "days"
    folder.mkdir()
    _write(folder / "2026-03-01.csv", "user_id,item_id,timestamp\n")
    _write(folder / "2026-03-02.csv", "user_id,item_id,timestamp\nu,b,2026-03-02T10:00:00Z\nu,a,2026-03-02T09:00:00Z\n")
    code, out, err = _run(capsys, "sequences", "--data", str(folder), "--json")
    assert (code, out) == (0, '{"user": "u", "items": ["a", "b"]}\n')
    assert err.splitlines()[0].endswith("timestamps: iso8601, detected from the first rows)")


def test_events_without_times_keep_their_file_order(tmp_path: Path, capsys) -> None:
    path = _write(tmp_path / "e.jsonl", '{"u": "x", "i": "b"}\n{"u": "x", "i": "a"}\n')
    options = ["--user-column", "u", "--item-column", "i", "--timestamp-column", "none"]
    assert _sequences(capsys, path, *options) == [{"user": "x", "items": ["b", "a"]}]


def test_no_quote_reads_a_stray_quote_as_data(tmp_path: Path, capsys) -> None:
    """What the error for a quote that never closes advises: --no-quote reads every line, the quote in the id."""
    path = _write(tmp_path / "e.csv", 'user_id,item_id,timestamp\nu1,"i1,1700000000\nu1,i2,1700000001\n')
    code, _, err = _run(capsys, "sequences", "--data", str(path))
    assert code == 2 and "elcrec --no-quote" in err
    assert _sequences(capsys, path, "--no-quote")[0]["items"] == ['"i1', "i2"]


def test_event_options_are_refused_for_the_sequence_format(tmp_path: Path, capsys) -> None:
    """Each named with the formats that have it: --no-header was said to be for jsonl and parquet too (helper-180)."""
    path = _write(tmp_path / "seq.txt", "1 5 6\n")
    assert _run(capsys, "sequences", "--data", str(path), "--user-column", "u")[2] == (
        "elcrec: error: --user-column: only for event files (csv, tsv, jsonl, parquet), not the sequence format\n")
    assert _run(capsys, "sequences", "--data", str(path), "--no-header", "--names", "u,i")[2] == (
        "elcrec: error: --names, --no-header: only for delimited text (csv, tsv), not the sequence format\n")
    assert _run(capsys, "sequences", "--data", str(path), "--user-column", "u", "--no-quote")[2] == (
        "elcrec: error: --user-column: only for event files (csv, tsv, jsonl, parquet); --no-quote: only for "
        "delimited text (csv, tsv), not the sequence format\n")


@pytest.mark.parametrize("name", ["e.jsonl", "e.parquet"])
@pytest.mark.parametrize(("options", "named"), [(["--delimiter", ";"], "--delimiter"), (["--no-header"], "--no-header"),
                                                (["--names", "user_id,item_id,timestamp"], "--names"),
                                                (["--no-quote"], "--no-quote")])
def test_delimited_text_options_are_refused_for_jsonl_and_parquet(tmp_path: Path, capsys, name: str,
                                                                   options: list[str], named: str) -> None:
    """They would be ignored: a user who meant them would get the file read otherwise than asked, silently."""
    path = tmp_path / name
    events = pl.DataFrame({"user_id": ["u"], "item_id": ["i"], "timestamp": [T0]})
    if name.endswith(".parquet"):
        events.write_parquet(path)
    else:
        events.write_ndjson(path)
    assert _run(capsys, "sequences", "--data", str(path), *options)[2] == (
        f"elcrec: error: {named}: only for delimited text (csv, tsv), not {path.suffix[1:]}\n")


# --- rejected rows, k-core -------------------------------------------------------------------------------------


def test_rejected_rows_are_counted_on_stderr(tmp_path: Path, capsys) -> None:
    path = _write(tmp_path / "e.csv", "user_id,item_id,timestamp\n"
                                      f"u,a,{T0}\nu,b,soon\n,c,{T0}\nu,a,{T0}\nu,d,{T0 + 1}\nu,e,{T0},extra\n")
    code, out, err = _run(capsys, "sequences", "--data", str(path))
    assert (code, out) == (0, "u (2 events): a d\n")
    assert err.splitlines() == [
        f"reading {path} as csv (guessed from the name .csv; timestamps: epoch_s, detected from the first rows)",
        "data: 6 rows read, 2 accepted, 4 rejected (malformed_line: 1, missing_user: 1, bad_timestamp: 1, "
        "duplicate_event: 1)",
        "  line 7: malformed_line (TOO MANY COLUMNS: u,e,1772366400,extra)",  # the first of each reason, as
        "  line 4: missing_user (user_id is empty)",  # the pipeline's message shows them: the most frequent
        "  line 3: bad_timestamp (timestamp: soon)",  # first, ties in the order of the counts
        "66.7% of the rows were rejected: the pipeline refuses a load of more than max_rejected_share (0.05 by "
        "default; see max_rejected_share_by_reason); read anyway",
        "events from 2026-03-01 to 2026-03-01 (UTC days)",
    ]
    # three rows of one reason hid the two of another: the first of each is shown, the most frequent first
    many = _write(tmp_path / "m.csv", "user_id,item_id,timestamp\n" + f"u,a,{T0}\n" + "u,b,soon\n" * 3
                  + f",c,{T0}\n" * 2)
    assert [line for line in _run(capsys, "sequences", "--data", str(many))[2].splitlines()
            if line.startswith("  line")] == ["  line 3: bad_timestamp (timestamp: soon)",
                                              "  line 6: missing_user (user_id is empty)"]
    # epoch seconds read as milliseconds: the days say so, and what such times may be (Excel's serial dates,
    # detected as epoch seconds, were every one accepted on 1970-01-01, the days' line alone telling: helper-187)
    code, _, err = _run(capsys, "sequences", "--data", str(path), "--timestamp-format", "epoch_ms")
    assert code == 0 and err.splitlines()[-1] == (
        "events from 1970-01-21 to 1970-01-21 (UTC days): times in the wrong unit (is --timestamp-format right for "
        "this file?), or Excel serial dates (days since 1899-12-30, such as 35795.89: epoch seconds of 1970-01-01), "
        "which no timestamp format reads: save the times as ISO 8601 text or epoch seconds")
    serial = _write(tmp_path / "x.csv", "user_id,item_id,timestamp\nu,a,35795.886725\nu,b,35796.5\n")
    assert _run(capsys, "sequences", "--data", str(serial))[2].splitlines()[-1].startswith(
        "events from 1970-01-01 to 1970-01-01 (UTC days): times in the wrong unit")


def test_every_rejected_row_can_be_kept_in_a_file(tmp_path: Path, capsys) -> None:
    """stderr shows 3 rejected rows; --rejected-out keeps all 4, each with its line, reason, detail and fields,
    so that none is lost (rows in = accepted + rejected); with none rejected the file holds the header alone."""
    path = _write(tmp_path / "e.csv", "user_id,item_id,timestamp\n"
                                      f"u,a,{T0}\nu,b,soon\n,c,{T0}\nu,a,{T0}\nu,d,{T0 + 1}\nu,e,{T0},extra\n")
    out = tmp_path / "rejected.csv"
    code, _, err = _run(capsys, "sequences", "--data", str(path), "--rejected-out", str(out))
    assert code == 0 and err.splitlines()[-1] == f"rejected rows: 4 written to {out}"
    rejected = pl.read_csv(out, infer_schema=False)
    assert rejected.select("source_row", "reason", "user_id", "item_id").rows() == [
        ("3", "bad_timestamp", "u", "b"), ("4", "missing_user", None, "c"), ("5", "duplicate_event", "u", "a"),
        ("7", "malformed_line", None, None)]
    assert rejected["source_file"].to_list() == [str(path)] * 4
    clean = _write(tmp_path / "clean.csv", f"user_id,item_id,timestamp\nu,a,{T0}\nu,b,{T0 + 1}\n")
    assert _run(capsys, "sequences", "--data", str(clean), "--rejected-out", str(out))[0] == 0
    assert out.read_text().splitlines() == [",".join(REJECTED_COLUMNS)]
    # a load that accepts no row is refused, and its rows are kept all the same: they are the ones wanted most
    # (helper-187: decimal-comma ratings, every row rejected, and no file written)
    refused = _write(tmp_path / "none.csv", f"user_id,item_id,timestamp\nu,a,soon\n,b,{T0}\n")
    code, _, err = _run(capsys, "sequences", "--data", str(refused), "--rejected-out", str(out))
    assert code == 2 and (f"(user_id is empty); rejected rows: 2 written to {out}; the timestamps were read as "
                          "epoch_s") in err, err
    assert pl.read_csv(out, infer_schema=False).select("source_row", "reason").rows() == [
        ("2", "bad_timestamp"), ("3", "missing_user")]
    # ratings with a decimal comma (a European spreadsheet's): said, as the pipeline says it (helper-187: the
    # command line said "bad_rating (rating: 5,0)" alone)
    comma = _write(tmp_path / "c.csv", f"user_id,item_id,timestamp,rating\nu,a,{T0},\"5,0\"\nu,b,{T0},\"3,5\"\n")
    code, _, err = _run(capsys, "sequences", "--data", str(comma), "--rating-column", "rating")
    assert code == 2 and "; 2 of the 2 bad_rating rows hold a number with a decimal comma (5,0), which is no number " \
                         "here: write the ratings with a decimal point, or as a number column" in err, err
    _write(comma, f"user_id,item_id,timestamp,rating\nu,a,{T0},4\nu,b,{T0},\"3,5\"\n")
    code, _, err = _run(capsys, "sequences", "--data", str(comma), "--rating-column", "rating")
    assert code == 0 and "\n1 of the 1 bad_rating rows hold a number with a decimal comma (3,5)" in err, err
    # a folder that does not exist: said before the data is read (it was "No such file or directory (os error 2)",
    # after reading the whole file)
    code, _, err = _run(capsys, "sequences", "--data", str(path), "--rejected-out", str(tmp_path / "no" / "r.csv"))
    assert code == 2 and err.strip().splitlines() == [
        f"elcrec: error: --rejected-out {tmp_path / 'no' / 'r.csv'}: {tmp_path / 'no'} is no folder"]
    code, _, err = _run(capsys, "sequences", "--data", str(path), "--rejected-out", str(path / "r.csv"))  # a file
    assert code == 2 and err.strip().splitlines() == [
        f"elcrec: error: --rejected-out {path / 'r.csv'}: {path} is no folder"]
    for out in (str(tmp_path), f"{tmp_path / 'new'}/", ""):  # a folder, one to come, nothing
        code, _, err = _run(capsys, "sequences", "--data", str(path), "--rejected-out", out)
        assert code == 2 and err.strip().splitlines() == [
            f"elcrec: error: --rejected-out {out!r} is no file: give a file, such as {Path(out) / 'rejected.csv'}"]


def test_k_core_is_off_unless_asked_for(tmp_path: Path, capsys) -> None:
    rows = "".join(f"u{u},i{i},{T0 + i}\n" for u in range(3) for i in range(3)) + f"lone,i9,{T0}\n"
    path = _write(tmp_path / "e.csv", "user_id,item_id,timestamp\n" + rows)
    assert [s["user"] for s in _sequences(capsys, path)] == ["lone", "u0", "u1", "u2"]
    code, out, err = _run(capsys, "sequences", "--data", str(path), "--k-core", "2", "--json")
    assert [json.loads(line)["user"] for line in out.splitlines()] == ["u0", "u1", "u2"]
    assert err.splitlines()[-1] == ("k-core (k = 2) removed 1 of 10 events, 1 of 4 users (25%) and 1 of 4 items "
                                    "(25%)")  # no users, and i9 with lone
    # an item new on the data's last day: that day is named, where 'the day' named none the command knows (helper-224)
    _write(path, "user_id,item_id,timestamp\n" + rows + f"late,i8,{T0 + 2 * 86_400}\n")
    code, out, err = _run(capsys, "sequences", "--data", str(path), "--k-core", "2", "--json")
    assert err.splitlines()[-1] == ("k-core (k = 2) removed 2 of 11 events, 2 of 5 users (40%) and 2 of 5 items "
                                    "(40%; 1 of them first seen on the data's newest day)")


def test_a_folder_with_a_copied_file_uses_each_event_once_and_says_so(tmp_path: Path, capsys) -> None:
    """Every row of both files is read and accepted (rows in = accepted + rejected), and the sequences use each
    event once: stderr counts the events that another file holds too."""
    folder = tmp_path / "exports"
    folder.mkdir()
    rows = "user_id,item_id,timestamp\n" + "".join(f"u{u},i{i},{T0 + i}\n" for u in range(3) for i in range(4))
    _write(folder / "day1.csv", rows)
    _write(folder / "day1 copy.csv", rows)
    code, out, err = _run(capsys, "sequences", "--data", str(folder), "--json")
    assert code == 0 and [len(json.loads(line)["items"]) for line in out.splitlines()] == [4, 4, 4]
    assert "data: 24 rows read, 24 accepted, 0 rejected" in err
    assert "events that another file holds too: 12, used once (copies, overlapping exports)" in err.splitlines()
    # with a filter, the count is of the events it keeps: said after the filter's line, and so (helper-238: 6 said
    # before the filters read as 4 of 10 copies lost)
    rated = "user_id,item_id,timestamp,stars\n" + "".join(f"u{u},i{i},{T0 + i},{1 + i % 5}\n" for u in range(3)
                                                          for i in range(8))
    _write(folder / "day1.csv", rated)
    _write(folder / "day1 copy.csv", rated)
    code, out, err = _run(capsys, "sequences", "--data", str(folder), "--rating-column", "stars",
                          "--sequence-min-rating", "3", "--k-core", "0", "--json")
    assert err.splitlines()[-2:] == [
        "--sequence-min-rating 3: 24 events rated below it or without a rating left out",
        "events that another file holds too: 12, used once (copies, overlapping exports) of those kept"], err


# --- elcrec sequences ------------------------------------------------------------------------------------------


def test_the_source_settings_row_rules_have_options(tmp_path: Path, capsys) -> None:
    """min_timestamp, max_timestamp, max_rating and null_ids had no option: a shop whose item is named NA could
    not be read, a rating of 11 on a 1-5 scale was kept, and a 1970 time that the pipeline rejected was a user's
    first event in recommend. Each option rejects as the source setting of its name does."""
    path = _write(tmp_path / "e.csv", "user_id,item_id,timestamp,stars\n"
                                      f"u,NA,{T0},5\nu,-,{T0 + 1},4\nu,b,0,3\nu,c,{T0 + 2},11\nu,d,{T0 + 3},2\n")
    assert _sequences(capsys, path, "--rating-column", "stars") == [{"user": "u", "items": ["b", "c", "d"]}]
    code, _, err = _run(capsys, "sequences", "--data", str(path), "--rating-column", "stars", "--null-ids", "",
                        "--min-timestamp", "2026-01-01", "--max-rating", "5", "--json")
    assert code == 0 and "data: 5 rows read, 3 accepted, 2 rejected (timestamp_out_of_window: 1, " \
        "rating_out_of_range: 1)" in err
    assert _sequences(capsys, path, "--rating-column", "stars", "--null-ids", "NA,N/A", "--max-timestamp",
                      "2026-03-01T12:00:01Z") == [{"user": "u", "items": ["b", "-"]}]
    assert _run(capsys, "sequences", "--data", str(path), "--min-timestamp", "yesterday")[2] == (
        "elcrec: error: --min-timestamp: 'yesterday' is no ISO 8601 time (such as 2026-01-01 or "
        "2026-01-01T00:00:00Z)\n")
    assert _run(capsys, "sequences", "--data", str(path), "--max-rating", "5")[2] == (
        "elcrec: error: --max-rating needs --rating-column: the column that holds the ratings\n")


def test_sequences_command_shows_users_in_natural_order_and_one_user_on_request(tmp_path: Path, capsys) -> None:
    path = _write(tmp_path / "e.tsv", "user_id\titem_id\ttimestamp\n"
                                      f"10\tz z\t{T0 + 5}\n2\tb\t{T0 + 1}\n10\tq\t{T0}\n2\ta\t{T0}\n")
    code, out, _ = _run(capsys, "sequences", "--data", str(path), "--json")
    assert out == '{"user": "2", "items": ["a", "b"]}\n{"user": "10", "items": ["q", "z z"]}\n'
    assert _run(capsys, "sequences", "--data", str(path))[1] == '2 (2 events): a b\n10 (2 events): q "z z"\n'
    assert _sequences(capsys, path, "--user", "10") == [{"user": "10", "items": ["q", "z z"]}]
    assert _run(capsys, "sequences", "--data", str(path), "--user", "3")[2].endswith(
        f"elcrec: error: user '3' is not in {path}\n")
    # an id typed as a number, or in another case: the ids it may mean
    assert _run(capsys, "sequences", "--data", str(path), "--user", "010")[2].endswith(
        f"elcrec: error: user '010' is not in {path}; did you mean '10'?\n")
    # a user whose rows were all rejected is in the file: the error said it was not
    with path.open("a") as out:
        out.write("7\ta\tsoon\n7\tb\t\n")
    assert _run(capsys, "sequences", "--data", str(path), "--user", "7")[2].endswith(
        f"elcrec: error: user '7' has no accepted row in {path}: its 2 row(s) were rejected (line 6: bad_timestamp "
        "(timestamp: soon); line 7: missing_timestamp (timestamp is empty))\n")
    # a user the k-core removed is in the file too: said for sure, where it said "not in ... (or the k-core removed
    # their events)" of a user it had read (helper-233); with their rejected rows counted
    cored = _write(tmp_path / "k.csv", "user_id,item_id,timestamp\n" + "".join(
        f"{user},{item},{T0 + n}\n" for n, (user, item) in enumerate(["ax", "ay", "bx", "by", "cz", "cw"])))
    assert _run(capsys, "sequences", "--data", str(cored), "--user", "c", "--k-core", "2")[2].endswith(
        f"elcrec: error: user 'c' is in {cored}, but no event of theirs is left after the filters (the k-core removed "
        "2 of the data's events)\n")
    with cored.open("a") as out:
        out.write("c,zz,soon\n")
    assert _run(capsys, "sequences", "--data", str(cored), "--user", "c", "--k-core", "2")[2].endswith(
        "(the k-core removed 2 of the data's events); 1 other row(s) of theirs were rejected\n")
    assert _run(capsys, "sequences", "--data", str(cored), "--user", "d", "--k-core", "2")[2].endswith(
        f"elcrec: error: user 'd' is not in {cored} (or the k-core removed 2 of the data's events)\n")


def test_sequences_of_the_pipelines_parquet_and_of_beauty(tmp_path: Path, capsys, shared: Path) -> None:
    from elcrec_core.data.sequences import write_item_index_file

    folder = tmp_path / "seq"
    folder.mkdir()
    pl.DataFrame({"user_id": ["u"], "items": [[2, 1]]}).write_parquet(folder / "sequences.parquet")
    write_item_index_file(folder / "item_index.parquet", pl.Series(["x", "y"]).to_numpy())
    assert _sequences(capsys, folder / "sequences.parquet") == [{"user": "u", "items": ["y", "x"]}]
    # a user its filters left out: the build's summary says which filters did (it said "not in" alone: a lead of
    # helper-193's trial)
    from elcrec_core.data.sequence_summary import SequenceSummary

    (folder / "summary.json").write_text(json.dumps(SequenceSummary(
        events_in=904, filtered_out=3, repeated_across_files=0, duplicates_removed=0, k_core_removed=0,
        k_core_users_removed=0, k_core_rounds=0, users=1, items=2, interactions=2, density=1.0, n_items=2, new_items=2,
        items_with_metadata=0, length={}, max_user_events_removed=899, max_user_events_users=1,
        filtered_out_by={"min_rating": 0, "event_types": 3}, filtered_out_users=1).to_dict()))
    assert _run(capsys, "sequences", "--data", str(folder / "sequences.parquet"), "--user", "bot")[2].endswith(
        f"user 'bot' is not in {folder / 'sequences.parquet'} (or max_user_events left out 1 user with 899 events) (or "
        "the filter event_types left out 3 events, among them every event of 1 user (no list for them))\n")
    beauty = shared / "data" / "Beauty.txt"
    code, out, err = _run(capsys, "sequences", "--data", str(beauty), "--user", "1", "--user", "2", "--json")
    assert out.splitlines() == ['{"user": "1", "items": ["1", "2", "3", "4", "5"]}',
                                '{"user": "2", "items": ["6", "7", "8", "9", "10", "4", "11"]}']
    assert err.splitlines() == [
        f"reading {beauty.resolve()} as sequence (guessed from its first line; item ids are integers: used as the "
        "item indices 1..12101)",
        "data: 198,502 rows read, 198,502 accepted, 0 rejected"]


def test_load_of_a_missing_file_names_it(tmp_path: Path, capsys) -> None:
    assert _run(capsys, "sequences", "--data", str(tmp_path / "nope.csv"))[2] == (
        f"elcrec: error: {tmp_path / 'nope.csv'}: no such file or folder\n")
    with pytest.raises(ValueError, match="unknown format"):
        DataOptions(format="xml")


def test_resuming_with_other_settings_names_each_change_and_fresh(tmp_path: Path, capsys) -> None:
    """The same --out with other settings stops and says what changed (not a config dump); a longer budget
    resumes; --fresh starts over."""
    data = tmp_path / "events.csv"
    _events().write_csv(data)
    out = tmp_path / "run"
    small = ["train", "--data", str(data), "--out", str(out), "--intents", "2", "--hidden", "8", "--max-len", "6",
             "--device", "cpu", "--lr", "0.001"]
    assert _run(capsys, *small, "--epochs", "1")[0] == 0
    code, _, err = _run(capsys, *small[:-1], "0.005", "--intents", "4", "--epochs", "1")
    assert code == 2
    assert "train.lr: 0.001 -> 0.005" in err and "model.n_intents: 2 -> 4" in err and "--fresh" in err
    assert "model.hidden" not in err and "{" not in err  # only what changed, no settings dump
    code, stdout, err = _run(capsys, *small, "--epochs", "2")  # a longer budget continues the run
    assert code == 0 and f"resumed from {out / 'last.pt'} after epoch 0" in stdout, err
    code, stdout, err = _run(capsys, *small[:-1], "0.005", "--epochs", "1", "--fresh")
    assert code == 0 and "resumed" not in stdout, err


def test_synth_writes_the_format_its_name_says_and_every_one_reads_back_alike(tmp_path, capsys):
    """synth --out x.jsonl wrote CSV, which the readers then took for JSON Lines (by its name) and rejected."""
    read = {}
    for name in ("e.csv", "e.tsv", "e.jsonl", "e.parquet", "e.pq", "e.TAB", "e.ndjson"):
        assert _run(capsys, "synth", "--out", str(tmp_path / name), "--users", "30", "--items", "20", "--intents",
                    "2")[0] == 0
        code, out, err = _run(capsys, "sequences", "--data", str(tmp_path / name), "--json")
        assert code == 0 and "0 rejected" in err, err
        read[name] = out
    assert (tmp_path / "e.jsonl").read_text().startswith('{"user_id":')
    assert len({*read.values()}) == 1 and read["e.csv"].count("\n") == 30
    for name in ("e.csv.gz", "e.bz2", "e.zst"):  # polars raised on .gz; .bz2 held plain CSV
        code, _, err = _run(capsys, "synth", "--out", str(tmp_path / name))
        assert (code, err) == (2, f"elcrec: error: --out {tmp_path / name}: synth writes uncompressed files (the "
                                  "readers read no compressed file); name it .csv, .tsv, .jsonl or .parquet\n")
        assert not (tmp_path / name).exists()
    for name in ("e.json", "e.XLSX"):  # CSV was written under these names
        code, _, err = _run(capsys, "synth", "--out", str(tmp_path / name))
        assert (code, err) == (2, f"elcrec: error: --out {tmp_path / name}: synth writes CSV, TSV, JSON Lines or "
                                  f"Parquet, not {Path(name).suffix} (that would be CSV under its name): name it "
                                  ".csv, .tsv, .jsonl or .parquet\n")
        assert not (tmp_path / name).exists()


# ------------------------------------------------------------------------------------------ train and evaluate
def test_cli_trains_on_events_and_evaluates(tmp_path, capsys):
    events = tmp_path / "events.csv"
    assert main(["synth", "--out", str(events), "--users", "400", "--items", "80", "--intents", "4"]) == 0
    out = tmp_path / "run"
    assert main(["train", "--data", str(events), "--format", "events", "--out", str(out), "--epochs", "2",
                 "--intents", "4", "--hidden", "16", "--max-len", "12", "--device", "cpu"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["best_epoch"] in (0, 1) and 0 <= summary["test"]["HR@20"] <= 1
    assert main(["evaluate", "--data", str(events), "--format", "events", "--checkpoint", str(out / "best.pt"),
                 "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip())
    assert metrics["HR@20"] == pytest.approx(summary["test"]["HR@20"], abs=1e-6)


def test_cli_reports_missing_file(tmp_path, capsys):
    assert main(["sequences", "--data", str(tmp_path / "nope.txt")]) == 2
    assert "nope.txt" in capsys.readouterr().err


def test_cli_reports_damaged_checkpoint(tmp_path, capsys):
    data = tmp_path / "seqs.txt"
    data.write_text("1 1 2 3 4\n2 2 3 4 5\n")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["evaluate", "--data", str(data), "--checkpoint", str(bad)]) == 2
    assert "bad.pt" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ settings flags
def test_every_setting_of_the_schema_is_a_train_flag(capsys) -> None:
    from elcrec_core.config.settings import settings_fields

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    shown = capsys.readouterr().out
    for setting in settings_fields():
        assert f"--{setting.option.replace('_', '-')}" in shown, setting.option
    assert "--layers LAYERS       transformer blocks (default: 1)" in shown
    # the default a run gets is preset auto's: the general preset's values, and the data's where auto derives them
    flat = " ".join(shown.split())
    assert "--lr LR Adam's learning rate (default: 0.005; reference: 0.001)" in flat
    assert "--epochs EPOCHS epoch budget (default: derived from the data; reference: 300)" in flat
    assert "--betas X X Adam's betas, each in [0, 1) (default: 0.9 0.999)" in flat


def test_train_flags_reach_the_config_as_their_fields_type(tmp_path: Path) -> None:
    from elcrec_core.cli.arguments import build_config
    from elcrec_core.cli.main import parser

    args = parser().parse_args(["train", "--out", str(tmp_path), "--preset", "general", "--layers", "2",
                                "--pooling", "all", "--weight-decay", "0.01", "--betas", "0.8", "0.9", "--compile",
                                "--negatives", "64", "--kmeans-sample", "500"])
    exp = build_config(args)
    assert (exp.model["n_layers"], exp.model["pooling"]) == (2, "all")
    assert (exp.train.weight_decay, exp.train.betas, exp.train.compile, exp.train.n_negatives,
            exp.train.kmeans_sample) == (0.01, (0.8, 0.9), True, 64, 500)
    assert build_config(parser().parse_args(["train", "--out", "x", "--preset", "general", "--no-compile"])
                        ).train.compile is False


def test_a_wrong_setting_on_the_command_line_is_refused_naming_it(tmp_path: Path, capsys) -> None:
    assert main(["train", "--out", str(tmp_path), "--dropout", "1.5", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "elcrec: error: invalid setting(s): model.dropout: Input should be less than 1 (given 1.5)" in err
    assert not (tmp_path / "best.pt").exists()


def test_a_rating_column_is_read_checked_and_filtered_as_the_pipeline_does(tmp_path: Path, capsys) -> None:
    """Without --rating-column the ratings are not read (every row counts); with it a rating that is no number is
    a rejected bad_rating row, and --min-rating rejects lower ones as rating_out_of_range, each named by line."""
    path = _write(tmp_path / "rated.csv", f"user_id,item_id,rating,timestamp\nu,a,5,{T0}\nu,b,five,{T0 + 1}\n"
                                          f"u,c,2,{T0 + 2}\nu,d,4,{T0 + 3}\n")
    assert _sequences(capsys, path) == [{"user": "u", "items": ["a", "b", "c", "d"]}]
    code, out, err = _run(capsys, "sequences", "--data", str(path), "--json", "--rating-column", "rating",
                          "--min-rating", "3")
    assert code == 0, err
    assert [json.loads(line) for line in out.splitlines()] == [{"user": "u", "items": ["a", "d"]}]
    assert "data: 4 rows read, 2 accepted, 2 rejected (bad_rating: 1, rating_out_of_range: 1)" in err
    assert "line 3" in err and "five" in err  # the rejected row is named, with its value
    code, _, err = _run(capsys, "sequences", "--data", str(path), "--min-rating", "3")
    assert code == 2 and "--min-rating needs --rating-column" in err


def test_event_types_are_modelled_as_the_pipeline_models_them(tmp_path: Path, capsys) -> None:
    """The command line had no event types: it modelled views with purchases, and recommend excluded every viewed
    item from a raw log's history, unlike the pipeline. --event-types keeps the listed types (without case and
    outer spaces), names a type that no event has with the data's close ones, and says when it leaves nothing."""
    path = _write(tmp_path / "e.csv", f"user_id,item_id,timestamp,kind\nu1,a,{T0},view\nu1,b,{T0 + 1},purchase\n"
                                      f"u1,c,{T0 + 2},Purchase \nu2,a,{T0},view\nu2,b,{T0 + 1},add_to_cart\n")
    assert _sequences(capsys, path) == [{"user": "u1", "items": ["a", "b", "c"]}, {"user": "u2", "items": ["a", "b"]}]
    code, out, err = _run(capsys, "sequences", "--data", str(path), "--json", "--event-type-column", "kind",
                          "--event-types", "purchase,add_to_cart")
    assert code == 0 and [json.loads(line) for line in out.splitlines()] == [
        {"user": "u1", "items": ["b", "c"]}, {"user": "u2", "items": ["b"]}]
    assert "--event-types purchase,add_to_cart: 2 events of other types left out" in err
    assert "no event has" not in err
    # a user whose events are all of other types is in the data: said why they have no sequence (helper-182)
    viewer = _write(tmp_path / "v.csv", f"user_id,item_id,timestamp,kind\nu1,b,{T0},purchase\nu3,a,{T0},view\n")
    code, _, err = _run(capsys, "sequences", "--data", str(viewer), "--event-type-column", "kind", "--event-types",
                        "purchase", "--user", "u3")
    assert code == 2 and err.endswith(f"user 'u3' is in {viewer}, but no event of theirs is left after the filters "
                                      "(--event-types purchase: 1 event of other types left out)\n"), err
    code, _, err = _run(capsys, "sequences", "--data", str(viewer), "--event-type-column", "kind", "--event-types",
                        "purchase,view", "--user", "u9")  # a filter that left nothing out is no cause (helper-184)
    assert code == 2 and err.endswith(f"user 'u9' is not in {viewer}\n"), err
    code, out, err = _run(capsys, "sequences", "--data", str(path), "--json", "--event-type-column", "kind",
                          "--event-types", "view,purchases,refund")
    assert code == 0 and [json.loads(line) for line in out.splitlines()] == [
        {"user": "u1", "items": ["a"]}, {"user": "u2", "items": ["a"]}]
    assert "--event-types names types that no event has: 'purchases' (the data has 'purchase'), 'refund'" in err
    code, _, err = _run(capsys, "sequences", "--data", str(path), "--event-type-column", "kind", "--event-types",
                        "refund")
    assert code == 2 and err.startswith(f"elcrec: error: {path}: --event-types refund: 5 events of other types left "
                                        "out; --event-types names types that no event has: 'refund'")
    code, _, err = _run(capsys, "sequences", "--data", str(path), "--event-types", "purchase")
    assert code == 2 and "--event-types needs --event-type-column" in err
    # with --sequence-min-rating: the events below it are not counted as of other types (helper-158: 6,470 were
    # said to be of other types, of which 1,843 were)
    rated = _write(tmp_path / "r.csv", "user_id,item_id,timestamp,kind,stars\n" + "".join(
        f"u1,{item},{T0 + n},{kind},{stars}\n" for n, (item, kind, stars) in enumerate(
            [("a", "view", 5), ("b", "purchase", 5), ("c", "purchase", 1), ("d", "purchase", ""), ("e", "view", 1)])))
    code, _, err = _run(capsys, "sequences", "--data", str(rated), "--event-type-column", "kind", "--event-types",
                        "purchase", "--rating-column", "stars", "--sequence-min-rating", "3", "--k-core", "0")
    assert code == 0, err
    assert "--event-types purchase: 2 events of other types left out" in err
    assert "--sequence-min-rating 3: 2 events of those types rated below it or without a rating left out" in err


def test_rejected_rows_name_the_file_within_the_loads_folder_and_a_share_the_pipeline_refuses(tmp_path, capsys):
    """Every day's file of a Spark-style layout is part-0.csv: the first rejected rows named only that. They now
    name the file's path in the folder of the load's files. A rejected share above the pipeline's default
    max_rejected_share was read without a word: the command line reads it all the same, and says so."""
    for day, rows in (("01", f"u1,a,{T0}\nu1,b,{T0 + 1}\n"), ("02", f"u2,a,{T0}\nu2,b,x\n")):
        _write((tmp_path / f"dt=2026-03-{day}").mkdir() or tmp_path / f"dt=2026-03-{day}" / "part-0.csv",
               f"user_id,item_id,timestamp\n{rows}")
    code, _, err = _run(capsys, "sequences", "--data", str(tmp_path / "*" / "part-0.csv"))
    assert code == 0 and "\n  dt=2026-03-02/part-0.csv line 3: bad_timestamp (timestamp: x)\n" in err
    assert "25.0% of the rows were rejected: the pipeline refuses a load of more than max_rejected_share (0.05 by " \
           "default; see max_rejected_share_by_reason); read anyway" in err
    code, _, err = _run(capsys, "sequences", "--data", str(tmp_path / "dt=2026-03-02" / "part-0.csv"))
    assert code == 0 and "\n  line 3: bad_timestamp (timestamp: x)\n" in err  # one file: no name


def test_the_note_names_the_options_that_read_events_as_the_pipeline_built_its_sequences() -> None:
    from elcrec_core.cli.data_options import DataOptions, sequence_settings_note
    from elcrec_core.data.events_to_sequences import SequenceConfig

    built = SequenceConfig(k_core=5, event_types=("purchase", "add_to_cart"))
    assert sequence_settings_note(DataOptions(event_type_column="kind", event_types=("Purchase ",)), built, "d") == (
        "the pipeline built the sequences of d with other settings (sequences/d/settings.json): give --k-core 5 and "
        "--event-types purchase,add_to_cart to read --data as it did")
    assert sequence_settings_note(DataOptions(k_core=5), built, "d").endswith(
        "give --event-type-column COLUMN --event-types purchase,add_to_cart to read --data as it did")
    alike = DataOptions(k_core=5, event_type_column="kind", event_types=("ADD_TO_CART", "purchase"))
    assert sequence_settings_note(alike, built, "d") == ""  # types compared without case and outer spaces
    assert sequence_settings_note(alike, SequenceConfig(k_core=5), "d").endswith("give no --event-types to read "
                                                                                 "--data as it did")
    rated = DataOptions(rating_column="stars", sequence_min_rating=3.5, dedupe=True)
    assert sequence_settings_note(rated, SequenceConfig(k_core=0), "d").endswith(
        "give no --sequence-min-rating and no --dedupe to read --data as it did")
    assert sequence_settings_note(rated, SequenceConfig(k_core=0, min_rating=3.5, dedupe=True), "d") == ""


def test_evaluate_json_gives_null_for_a_model_whose_scores_are_not_finite(tmp_path: Path, capsys) -> None:
    """A model whose scores overflow has no figure: evaluate --json writes null (NaN is not JSON). A model of NaN
    weights, a damaged file, is refused: its figures were null, rc 0, with no word why (helper-239)."""
    import torch

    from elcrec_core.config.settings import ExperimentConfig, ModelConfig
    from elcrec_core.model.elcrec import ELCRec
    from elcrec_core.train.checkpoint import save_checkpoint
    from elcrec_core.train.state import model_payload

    path = tmp_path / "seqs.txt"
    path.write_text("".join(f"{u} " + " ".join(str(1 + (u + j) % 9) for j in range(5)) + "\n" for u in range(1, 11)))
    model = ELCRec(ModelConfig(n_items=9, hidden=8, n_heads=2, n_layers=1, max_len=6, n_intents=2))
    exp = ExperimentConfig(model={"hidden": 8, "n_heads": 2, "n_layers": 1, "max_len": 6, "n_intents": 2})
    with torch.no_grad():
        model.item_emb.weight[2, 0] = float("nan")
    save_checkpoint(tmp_path / "damaged.pt", model_payload(model, exp, {}))
    code, stdout, err = _run(capsys, "evaluate", "--data", str(path), "--format", "sequence", "--checkpoint",
                             str(tmp_path / "damaged.pt"), "--json")
    assert (code, stdout) == (2, "") and err.endswith(f"elcrec: error: checkpoint {tmp_path / 'damaged.pt'} is "
                                                      "corrupt: 1 of its weights are NaN or infinite, which no "
                                                      "trained model's are (training stops where its loss is not "
                                                      "finite)\n"), err
    with torch.no_grad():
        model.item_emb.weight[2, 0] = 3e38  # finite, and the scores overflow
    save_checkpoint(tmp_path / "nan.pt", model_payload(model, exp, {}))
    code, stdout, err = _run(capsys, "evaluate", "--data", str(path), "--format", "sequence", "--checkpoint",
                             str(tmp_path / "nan.pt"), "--json")
    assert code == 0, err
    assert json.loads(stdout) == dict.fromkeys(["HR@5", "NDCG@5", "HR@10", "NDCG@10", "HR@20", "NDCG@20"])
    # data with no user to rank gave the same nulls, rc 0, no word: the same as a model without a figure
    pairs = _write(tmp_path / "pairs.txt", "1 1 2\n2 3 4\n")
    code, stdout, err = _run(capsys, "evaluate", "--data", str(pairs), "--format", "sequence", "--checkpoint",
                             str(tmp_path / "nan.pt"), "--split", "valid")
    assert (code, stdout) == (2, "") and err.endswith(f"elcrec: error: {pairs}: no user has a valid target to rank "
                                                      "(that takes at least 3 items; the longest history has 2)\n")
    singles = _write(tmp_path / "singles.txt", "1 1\n2 3\n")  # and baselines printed every model's figures null
    for extra in ((), ("--no-sasrec",)):
        code, stdout, err = _run(capsys, "baselines", "--data", str(singles), "--format", "sequence", "--json", *extra)
        assert (code, stdout) == (2, "") and err.endswith(f"elcrec: error: {singles}: no user has a test target to "
                                                          "rank (that takes at least 2 items; the longest history has "
                                                          "1)\n")
    repeats = _write(tmp_path / "repeats.txt", "1 1 2 1\n2 3 4 5\n")  # user 1's test target is an item it had
    note = ("1 of 2 users' test targets (50.0%) are items they had before: with history excluded no model ranks "
            "them (they count as misses), so no HR@K can exceed 0.5000 here. With --dedupe, ")
    for command in (("evaluate", "--checkpoint", str(tmp_path / "nan.pt")), ("baselines", "--no-sasrec")):
        code, stdout, err = _run(capsys, *command, "--data", str(repeats), "--format", "sequence", "--json")
        assert code == 0 and note in err
    assert "had before" not in _run(capsys, "evaluate", "--checkpoint", str(tmp_path / "nan.pt"), "--data",
                                    str(repeats), "--format", "sequence", "--split", "valid")[2]  # 2 after 1; 4


def test_a_settings_file_whose_preset_would_not_apply_is_refused(tmp_path: Path, capsys) -> None:
    """{"preset": "auto", "train": {"epochs": 1}}: the preset of a settings file is a record, so every other train
    setting took the schema's defaults (the reference's 256 intents on a tiny set: "k-means needs ..."), silently.
    A model folder's config.json gives every setting and reads as it was written."""
    from elcrec_core.cli.arguments import build_config
    from elcrec_core.cli.main import parser
    from elcrec_core.config.settings import load_preset, preset_names

    partial = _write(tmp_path / "partial.json", json.dumps({"preset": "auto", "train": {"epochs": 1}}))
    code, _, err = _run(capsys, "train", "--data", "synthetic", "--out", str(tmp_path / "run"),
                        "--config", str(partial))
    assert code == 2 and err.startswith(f"elcrec: error: --config {partial}: its preset 'auto' is a record of where "
                                        "the settings started, not applied, and it leaves out settings (train.")
    assert "give --preset auto with the settings as options, or every setting the preset makes" in err
    beauty = load_preset("beauty")
    # every train setting, but the preset's model settings left to the schema's (256 intents, not synthetic's 16)
    no_model = _write(tmp_path / "no_model.json", json.dumps({**load_preset("synthetic").to_dict(), "model": {}}))
    code, _, err = _run(capsys, "train", "--data", "synthetic", "--out", str(tmp_path / "run"),
                        "--config", str(no_model))
    assert code == 2 and ("leaves out settings (model.attn_dropout, model.dropout, model.n_intents, model.n_layers, "
                          "...)") in err
    # a preset that is none (misspelt): it trained 280 epochs on the schema's defaults, unsaid
    unknown = _write(tmp_path / "unknown.json", json.dumps({"preset": "foo", "train": {}, "model": {}}))
    code, _, err = _run(capsys, "train", "--data", "synthetic", "--out", str(tmp_path / "run"),
                        "--config", str(unknown))
    assert code == 2 and err.startswith(f"elcrec: error: --config {unknown}: its preset 'foo' is none of "
                                        f"{sorted(['auto', *preset_names()])}, and it leaves out settings (train.")
    assert err.rstrip().endswith("give every setting (a model folder's config.json has them), or --preset with the "
                                 "settings as options")
    renamed = _write(tmp_path / "renamed.json", json.dumps({**beauty.to_dict(), "preset": "beauty-2025"}))
    args = parser().parse_args(["train", "--out", str(tmp_path / "run"), "--config", str(renamed)])
    assert build_config(args).train == beauty.train  # every setting: a preset no longer known is a record
    whole = _write(tmp_path / "config.json", json.dumps({**beauty.to_dict(), "data": {"users": 3}}))
    args = parser().parse_args(["train", "--out", str(tmp_path / "run"), "--config", str(whole), "--epochs", "2"])
    assert build_config(args).train == dataclasses.replace(beauty.train, epochs=2)


def test_bad_counts_files_and_json_are_named_errors_not_tracebacks(tmp_path: Path, capsys, monkeypatch) -> None:
    """--k 0 and synth --users 0 are refused by argparse; a folder where a file is to be written, a --config that is
    not JSON and a damaged aliases.json end in 'elcrec: error:' naming the file (they raised tracebacks, or
    errors without the file)."""
    from elcrec_core.cli.main import parser

    for argv in (["recommend", "--checkpoint", "x.pt", "--data", "x", "--user", "1", "--k", "0"],
                 ["synth", "--out", str(tmp_path / "s.csv"), "--users", "0"],
                 ["train", "--out", str(tmp_path / "t"), "--nproc", "0"]):
        with pytest.raises(SystemExit) as info:
            parser().parse_args(argv)
        assert info.value.code == 2 and "must be at least 1, not 0" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:  # "invalid parse value: 'x'", the checking function's name (helper-240)
        parser().parse_args(["train", "--out", str(tmp_path / "t"), "--nproc", "x"])
    assert info.value.code == 2 and "argument --nproc: invalid integer value: 'x'" in capsys.readouterr().err
    computing = (["train", "--out", str(tmp_path / "t")], ["baselines", "--data", "x"],
                 ["evaluate", "--data", "x", "--checkpoint", "x.pt"],  # evaluate, recommend, rollback: refused
                 ["recommend", "--checkpoint", "x.pt", "--data", "x", "--user", "1"],
                 ["rollback", "--data-dir", str(tmp_path / "nope")])
    for command in computing:  # 0: torch's choice, as the pipeline's threads: 0
        assert parser().parse_args([*command, "--threads", "0"]).threads == 0
        with pytest.raises(SystemExit) as info:
            parser().parse_args([*command, "--threads", "-1"])
        assert info.value.code == 2 and "must be at least 0, not -1" in capsys.readouterr().err
    threads = []
    monkeypatch.setattr(torch, "set_num_threads", threads.append)
    for command in computing[2:]:  # failing on the missing files, with torch's threads set first
        assert _run(capsys, *command, "--threads", "1")[0] == 2
    assert threads == [1, 1, 1]
    code, _, err = _run(capsys, "synth", "--out", str(tmp_path), "--users", "5", "--items", "9", "--intents", "2")
    assert code == 2 and err.startswith("elcrec: error: ") and str(tmp_path) in err
    code, _, err = _run(capsys, "rollback", "--data-dir", str(tmp_path / "nope"))
    assert code == 2 and f"elcrec: error: {tmp_path / 'nope'}: no such data folder" in err
    big = _write(tmp_path / "big.csv", "user_id,item_id,timestamp\n" + f"u,i,{T0}\n" * 3)  # not read: the folder first
    for folder, said in ((tmp_path / "nope", "no such data folder"), (tmp_path, "no model serves in")):
        code, _, err = _run(capsys, "recommend", "--serving", str(folder), "--data", str(big), "--user", "u")
        assert code == 2 and said in err and "reading" not in err
    (tmp_path / "a.csv").write_text("user_id,item_id\n")
    code, _, err = _run(capsys, "train", "--data", "synthetic", "--out", str(tmp_path / "a.csv"))
    assert code == 2 and f"elcrec: error: --out {tmp_path / 'a.csv'} is a file" in err
    code, _, err = _run(capsys, "synth", "--out", str(tmp_path / "s.csv"), "--items", "1", "--intents", "2")
    assert code == 2 and "1 items for 2 intents (the CLI's --items and --intents)" in err
    (tmp_path / "bad.json").write_text("{bad")
    code, _, err = _run(capsys, "train", "--data", "synthetic", "--out", str(tmp_path / "run"),
                        "--config", str(tmp_path / "bad.json"))
    assert code == 2 and f"--config {tmp_path / 'bad.json'} is not JSON" in err
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "aliases.json").write_text('{"serving": ')
    code, _, err = _run(capsys, "rollback", "--data-dir", str(tmp_path))
    assert code == 2 and f"{tmp_path / 'models' / 'aliases.json'} is not valid JSON" in err
    # where its content is, not "repair or remove it": removed, no model served (helper-217)
    assert err.rstrip().endswith(f": repair it as the serving log's last line says (its \"serving\" and \"previous\", "
                                 f"in {tmp_path / 'models' / 'serving_log.jsonl'}); removed, it would leave no model "
                                 "serving"), err
    for damaged, said in (('"x"', "holds a JSON string, not the object that the pipeline writes"),
                          ('{"serving": "x"}', 'holds "x" where a model record is expected'),
                          ('{"serving": {"day": "2026-01-01"}}', 'holds {"day": "2026-01-01"} where a model')):
        (tmp_path / "models" / "aliases.json").write_text(damaged)
        for command in (["rollback", "--data-dir", str(tmp_path)],
                        ["recommend", "--serving", str(tmp_path), "--data", "synthetic", "--user", "1"]):
            code, _, err = _run(capsys, *command)
            assert code == 2 and f"elcrec: error: {tmp_path / 'models' / 'aliases.json'} {said}" in err, err
    code, _, err = _run(capsys, "train", "--data", "synthetic", "--out", str(tmp_path / "run"), "--device", "gpu")
    assert code == 2 and "elcrec: error: device 'gpu' is not a device name: auto, cpu, cuda or cuda:N" in err
    assert "reading" not in err  # refused before the data is read (it was read whole first)
    code, _, err = _run(capsys, "evaluate", "--data", "synthetic", "--checkpoint", "x.pt", "--device", "cuda:64")
    assert code == 2 and "elcrec: error: device 'cuda:64': this machine has " in err  # no machine has 65 GPUs
    from elcrec_core.train.device import select_device

    for kind in ("mps", "xpu"):  # on a machine without them (these machines: Linux, no Intel GPU)
        if getattr(torch, kind).device_count() == 0:
            with pytest.raises(ValueError, match=rf"^device '{kind}': this machine has 0 {kind} device\(s\)"):
                select_device(kind)
    for kind in ("hpu", "xla", "meta", "vulkan", "ipu"):  # torch knows the names, and has no module that counts them:
        with pytest.raises(ValueError) as refused:  # training failed inside torch (helper-226: 'No module named
            select_device(kind)  # torch.hpu', 'Cannot copy out of meta tensor')
        assert str(refused.value) == (f"device '{kind}': torch {torch.__version__} has no {kind} devices to train on "
                                      "here; use cpu, cuda[:N] or auto")
    code, _, err = _run(capsys, "train", "--data", "synthetic", "--out", str(tmp_path / "run"), "--device", "meta")
    assert code == 2 and err.splitlines()[-1].startswith("elcrec: error: device 'meta': torch "), err
    assert select_device("cpu") == torch.device("cpu") and select_device("auto").type in ("cpu", "cuda")
    assert parser().parse_args(["baselines", "--data", "x"]).preset == "auto"  # as the pipeline's challenger


def test_evaluate_data_with_items_newer_than_the_checkpoint(tmp_path: Path, capsys) -> None:
    """A new item (id 99, indexed after the 9 known ones) as user 0's test target: evaluate says so on stderr and
    counts that target a miss (it exited with code 1 and 'item ids up to 10' for a count)."""
    events = _events()
    events.write_csv(tmp_path / "events.csv")
    out = tmp_path / "run"
    assert _run(capsys, "train", "--data", str(tmp_path / "events.csv"), "--out", str(out), "--epochs", "1",
                "--intents", "2", "--hidden", "8", "--max-len", "6", "--device", "cpu")[0] == 0
    newer = pl.concat([events, pl.DataFrame({"user_id": [0], "item_id": [99], "timestamp": [T0 + 99]})])
    newer.write_csv(tmp_path / "newer.csv")
    code, stdout, err = _run(capsys, "evaluate", "--data", str(tmp_path / "newer.csv"), "--checkpoint",
                             str(out / "best.pt"), "--json", "--format", "csv")
    assert code == 0, err
    assert "1 of its 10 items are beyond the checkpoint's 9 (newer than it): their targets count as misses" in err
    assert "model of other data" not in err  # a tenth: a day's new items
    # a model of other data: most items unknown, said so (helper-170 evaluated a Beauty model on Sports silently)
    other = pl.concat([events.filter(pl.col("item_id") < 3), events.with_columns(pl.col("item_id") + 100)])
    other.write_csv(tmp_path / "other.csv")
    err = _run(capsys, "evaluate", "--data", str(tmp_path / "other.csv"), "--checkpoint", str(out / "best.pt"))[2]
    assert ("that is 75% of them: is the checkpoint a model of other data, or read otherwise (as without its "
            "--k-core)? Its config.json gives the numbers of users, items and interactions it trained on") in err
    alone = tmp_path / "alone"  # a checkpoint without its run's config.json (the authors'): none named (helper-237)
    alone.mkdir()
    shutil.copy(out / "best.pt", alone / "best.pt")
    err = _run(capsys, "evaluate", "--data", str(tmp_path / "other.csv"), "--checkpoint", str(alone / "best.pt"))[2]
    assert "--k-core)?\n" in err and "config.json" not in err, err
    # not 'the data it trained on': it holds no file, columns or k-core (helper-220)
    old = _run(capsys, "evaluate", "--data", str(tmp_path / "events.csv"), "--checkpoint", str(out / "best.pt"),
               "--json", "--format", "csv")[1]
    # 9 items, so every target that is no miss is a hit at 20; user 0's (item 5, a hit before) is now the new item
    assert json.loads(stdout)["HR@20"] == pytest.approx(json.loads(old)["HR@20"] - 1 / 40, abs=1e-6)


def test_train_into_a_run_of_other_items_is_refused_and_a_lone_checkpoint_warns(tmp_path: Path, capsys) -> None:
    """Training again into --out with data of other items (item 5 renamed) is refused before the run's item
    index is rewritten (it relabelled the finished model); --fresh starts over. A best.pt without the item index
    beside it is matched to the data by position, and evaluate and recommend say so."""
    _events().write_csv(tmp_path / "events.csv")
    _events().with_columns(pl.col("item_id").cast(pl.String).replace("5", "new")).write_csv(tmp_path / "other.csv")
    out = tmp_path / "run"
    train = ("train", "--out", str(out), "--epochs", "1", "--intents", "2", "--hidden", "8", "--max-len", "6",
             "--device", "cpu")
    assert _run(capsys, *train, "--data", str(tmp_path / "events.csv"))[0] == 0
    index, best = (out / "item_index.parquet").read_bytes(), (out / "best.pt").read_bytes()
    code, _, err = _run(capsys, *train, "--data", str(tmp_path / "other.csv"))
    assert code == 2 and f"{out} holds a run on another item catalogue" in err and "--fresh" in err
    assert ((out / "item_index.parquet").read_bytes(), (out / "best.pt").read_bytes()) == (index, best)
    assert _run(capsys, *train, "--data", str(tmp_path / "other.csv"), "--fresh")[0] == 0
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copy(out / "best.pt", lone / "best.pt")
    warning = f"no item_index.parquet beside {lone / 'best.pt'}: the data's items are matched to the model's by"
    for command in (("evaluate",), ("recommend", "--user", "1")):
        for folder, warned in ((lone, True), (out, False)):
            code, _, err = _run(capsys, *command, "--checkpoint", str(folder / "best.pt"), "--data",
                                str(tmp_path / "other.csv"))
            assert code == 0 and (warning in err) is warned, err
    # a part of the catalogue cannot be matched by position: said so (it said "another item catalogue"; helper-170)
    _events().filter(pl.col("item_id") < 5).write_csv(tmp_path / "part.csv")
    code, _, err = _run(capsys, "evaluate", "--checkpoint", str(lone / "best.pt"), "--data", str(tmp_path / "part.csv"))
    assert code == 2 and "without an item_index.parquet beside it, the data's items are matched to the model's by " \
        "position, so the data must hold the catalogue the model was trained on" in err


def test_init_from_gives_each_item_its_own_embedding_and_fresh_drops_the_old_model(tmp_path: Path, capsys,
                                                                                   monkeypatch) -> None:
    """--init-from a run whose items are numbered otherwise than the data file numbers its own (a new item 'a0'
    sorts before all): each known item starts from its own row of the old model (the copy was by position, so
    every item got its neighbour's). --fresh removes the folder's old best.pt and last.pt before it writes the
    new data's item index: a fresh run stopped before its first epoch left the old model beside it (and the old
    run's metrics.json and TensorBoard events)."""
    import torch

    from elcrec_core.data.sequences import read_item_index_file

    _events().with_columns(pl.format("i{}", "item_id").alias("item_id")).write_csv(tmp_path / "day1.csv")
    _events(n_items=10).with_columns(pl.when(pl.col("item_id") == 9).then(pl.lit("a0"))
                                     .otherwise(pl.format("i{}", "item_id")).alias("item_id")
                                     ).write_csv(tmp_path / "day2.csv")
    flags = ("--intents", "2", "--hidden", "8", "--max-len", "6", "--device", "cpu", "--lr", "1e-9")
    first, second = tmp_path / "day1", tmp_path / "day2"
    assert _run(capsys, "train", "--data", str(tmp_path / "day1.csv"), "--out", str(first), "--epochs", "1",
                *flags)[0] == 0
    assert _run(capsys, "train", "--data", str(tmp_path / "day2.csv"), "--out", str(second), "--epochs", "1",
                "--init-from", str(first / "best.pt"), *flags)[0] == 0
    old, new = (torch.load(run / "best.pt", weights_only=True)["model"]["item_emb.weight"] for run in (first, second))
    old_ids = read_item_index_file(first / "item_index.parquet").astype(str).tolist()
    new_ids = read_item_index_file(second / "item_index.parquet").astype(str).tolist()
    assert new_ids == old_ids + ["a0"]  # the old model's items keep their rows; the new one comes after
    for item in old_ids:  # lr 1e-9: the rows are the copies, but for Adam's steps of about 1e-9
        row, own = new[new_ids.index(item) + 1], old_ids.index(item) + 1
        assert torch.allclose(row, old[own], atol=1e-6), item
        assert not any(torch.allclose(row, old[i], atol=1e-3) for i in range(1, len(old)) if i != own), item
    assert (second / "best.pt").is_file() and (second / "last.pt").is_file()
    assert (second / "metrics.json").is_file() and any((second / "tensorboard").iterdir())
    # resumed, it numbers the data as it did at its start, with or without --init-from, whose model may be gone
    # (it was refused as a run on another item catalogue, and then for the moved model: helper-203)
    code, out, err = _run(capsys, "train", "--data", str(tmp_path / "day2.csv"), "--out", str(second), "--epochs",
                          "2", *flags)
    assert code == 0 and f"resumed from {second / 'last.pt'} after epoch 0" in out, err
    (first / "best.pt").rename(tmp_path / "moved.pt")
    code, out, err = _run(capsys, "train", "--data", str(tmp_path / "day2.csv"), "--out", str(second), "--epochs",
                          "3", "--init-from", str(first / "best.pt"), *flags)
    assert code == 0 and f"resumed from {second / 'last.pt'} after epoch 1" in out, err
    assert read_item_index_file(second / "item_index.parquet").astype(str).tolist() == old_ids + ["a0"]
    (tmp_path / "moved.pt").rename(first / "best.pt")
    # data none of whose items the run knows, and a damaged last.pt: each says how to go on (helper-206)
    _events().with_columns(pl.format("z{}", "item_id").alias("item_id")).write_csv(tmp_path / "other.csv")
    code, _, err = _run(capsys, "train", "--data", str(tmp_path / "other.csv"), "--out", str(second), *flags)
    assert code == 2 and f"error: {second} holds a run that cannot resume on this data (checkpoint " \
                         f"{second / 'last.pt'} is from another item catalogue: none of the data's" in err and \
        err.rstrip().endswith(
        "resume on the data it trained on, start over with --fresh, or write to another --out"), err
    last = (second / "last.pt").read_bytes()
    (second / "last.pt").write_bytes(b"")
    code, _, err = _run(capsys, "train", "--data", str(tmp_path / "day2.csv"), "--out", str(second), *flags)
    assert code == 2 and err.rstrip().endswith(f"checkpoint {second / 'last.pt'} is empty (a write cut short?); start "
                                               "over with --fresh (or resume=False), or write to another folder"), err
    (second / "last.pt").write_bytes(last)

    def stopped(*args, **kwargs):
        raise OSError("stopped before its first epoch")

    monkeypatch.setattr("elcrec_core.train.loop.train", stopped)
    code, _, err = _run(capsys, "train", "--data", str(tmp_path / "day1.csv"), "--out", str(second), "--fresh",
                        "--epochs", "1", *flags)
    assert code != 0 and "stopped before its first epoch" in err
    assert not (second / "best.pt").exists() and not (second / "last.pt").exists()
    # nor the old run's metrics (compare showed them as the new settings') or curves (TensorBoard drew two as one)
    assert not (second / "metrics.json").exists() and not (second / "tensorboard").exists()
    assert read_item_index_file(second / "item_index.parquet").astype(str).tolist() == old_ids
    monkeypatch.undo()  # --fresh --init-from the folder's own model: read first, then replaced (it was removed)
    assert _run(capsys, "train", "--data", str(tmp_path / "day2.csv"), "--out", str(first), "--fresh", "--epochs",
                "1", "--init-from", str(first / "best.pt"), *flags)[0] == 0
    assert read_item_index_file(first / "item_index.parquet").astype(str).tolist() == old_ids + ["a0"]


def test_recommend_gives_no_intent_for_a_model_that_learned_none(tmp_path: Path, capsys) -> None:
    """A SASRec checkpoint (every intent loss off) never trained its centres: no intent, where one was printed; nor
    for a user with no item the model knows."""
    _events().write_csv(tmp_path / "events.csv")
    sasrec = ["--cf-weight", "0", "--intent-cf-weight", "0", "--trade-off", "0"]
    for name, extra in (("sasrec", sasrec), ("elcrec", [])):
        assert _run(capsys, "train", "--data", str(tmp_path / "events.csv"), "--out", str(tmp_path / name),
                    "--epochs", "1", "--intents", "2", "--hidden", "8", "--max-len", "6", "--device", "cpu",
                    *extra)[0] == 0
    intents = {}
    for name in ("sasrec", "elcrec"):
        code, stdout, err = _run(capsys, "recommend", "--checkpoint", str(tmp_path / name / "best.pt"), "--data",
                                 str(tmp_path / "events.csv"), "--user", "1", "--k", "2", "--json")
        assert code == 0, err
        intents[name] = json.loads(stdout)["intent"]
    assert intents["sasrec"] is None and intents["elcrec"] in (0, 1)
    # a user whose every item is newer than the model: no intent (it was the centre nearest to an empty history)
    newer = pl.concat([_events(), pl.DataFrame({"user_id": [77, 77], "item_id": [98, 99], "timestamp": [T0, T0 + 1]})])
    newer.write_csv(tmp_path / "newer.csv")
    argv = ("recommend", "--checkpoint", str(tmp_path / "elcrec" / "best.pt"), "--data", str(tmp_path / "newer.csv"),
            "--user", "77", "--k", "2")
    code, stdout, err = _run(capsys, *argv, "--json")
    assert code == 0 and json.loads(stdout)["intent"] is None, err
    code, stdout, err = _run(capsys, *argv)
    assert code == 0 and stdout.startswith("user 77 (no intent: no item the intent model knows, 2 events of"), err
    assert "2 of the user's 2 events are of items unknown to the model: left out of the history it reads" in err
    assert json.loads(_run(capsys, *argv[:-3], "1", "--json")[1])["intent"] == intents["elcrec"]  # user 1 keeps it
    # --user again: the last one alone was answered, without a word (sequences --user takes each; helper-172)
    with pytest.raises(SystemExit):
        _run(capsys, *argv, "--user", "1")
    assert "--user given twice: recommend answers one user a command" in capsys.readouterr().err


def test_evaluate_and_recommend_read_the_synthetic_data_a_checkpoint_trained_on(tmp_path: Path, capsys) -> None:
    """train --data synthetic generates it with the run's seed (2024); evaluate and recommend generated seed 0's
    and refused the checkpoint as from another catalogue. They now take the checkpoint's seed."""
    out = tmp_path / "run"
    code, stdout, err = _run(capsys, "train", "--out", str(out), "--epochs", "1", "--intents", "2", "--hidden", "8",
                             "--max-len", "6", "--device", "cpu")
    assert code == 0 and "reading the synthetic data (seed 2024)" in err
    trained = json.loads(stdout.strip().splitlines()[-1])["test"]
    code, stdout, err = _run(capsys, "evaluate", "--checkpoint", str(out / "best.pt"), "--data", "synthetic", "--json")
    assert code == 0, err
    assert "(seed 2024)" in err and json.loads(stdout) == pytest.approx(trained, abs=1e-6)
    code, _, err = _run(capsys, "recommend", "--checkpoint", str(out / "best.pt"), "--data", "synthetic", "--user", "1")
    assert code == 0 and "(seed 2024)" in err


def _serving_trained_model(tmp_path: Path, capsys):
    """A pipeline data folder ``tmp_path/data`` whose serving model is one trained on ``tmp_path/events.csv``
    (written here): the store and the model's record."""
    from elcrec_core.serve.model_store import ModelRecord, ModelStore

    _events().write_csv(tmp_path / "events.csv")
    store = ModelStore(tmp_path / "data")
    record = ModelRecord(day="2026-05-01", run_id="a", dir="models/2026-05-01/a")
    assert _run(capsys, "train", "--data", str(tmp_path / "events.csv"), "--out", str(store.path(record.dir)),
                "--epochs", "1", "--intents", "2", "--hidden", "8", "--max-len", "6", "--device", "cpu")[0] == 0
    store.promote(record, "first")
    return store, record


def test_recommend_serving_a_baseline_gives_no_intent_for_items_the_intent_model_never_saw(tmp_path: Path,
                                                                                          capsys) -> None:
    """A baseline serves, fitted on the newest sequences (items x, y); the intents come from the ELCRec model that
    served before, which knows none of the user's items: no intent (the pipeline's null), not an error."""
    from elcrec_core.data.sequences import write_item_index_file
    from elcrec_core.serve.model_store import ModelRecord

    store, _ = _serving_trained_model(tmp_path, capsys)
    store.promote(ModelRecord(day="2026-05-02", run_id="a/most_popular", dir="models/2026-05-01/a/challengers/mp",
                              kind="most_popular"), "a baseline serves")
    day = tmp_path / "data" / "sequences" / "2026-05-02"
    day.mkdir(parents=True)
    pl.DataFrame({"user_id": ["p", "q", "r"], "items": [[1, 2], [2], [2, 1]]}).write_parquet(day / "sequences.parquet")
    write_item_index_file(day / "item_index.parquet", np.array(["x", "y"]))
    _write(tmp_path / "mine.csv", f"user_id,item_id,timestamp\nme,x,{T0}\n")
    code, out, err = _run(capsys, "recommend", "--serving", str(tmp_path / "data"), "--data",
                          str(tmp_path / "mine.csv"), "--user", "me", "--k", "1", "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert (answer["intent"], [row["item"] for row in answer["items"]]) == (None, ["y"])  # y: the most popular


def test_recommend_serving_opens_the_warehouse_once(tmp_path: Path, capsys, monkeypatch) -> None:
    """recommend --serving read the folder's warehouse in six opens here (the day of its lists three times, the seen
    items, the items on offer, the titles), each 20-35 ms and the file's lock (helper-274): one now, its reads in
    it."""
    from elcrec_core.data import warehouse
    from elcrec_core.data.sequences import write_item_index_file
    from elcrec_core.serve.model_store import ModelRecord, ModelStore

    day = tmp_path / "data" / "sequences" / "2026-05-02"
    day.mkdir(parents=True)
    pl.DataFrame({"user_id": ["me", "q", "r"], "items": [[1, 2], [3, 2], [3]]}).write_parquet(day / "sequences.parquet")
    write_item_index_file(day / "item_index.parquet", np.array(list("abc")))
    ModelStore(tmp_path / "data").promote(ModelRecord(day="2026-05-02", run_id="a/mp", kind="most_popular",
                                                      dir="models/2026-05-02/a/challengers/mp"), "a baseline serves")
    stored = tmp_path / "data" / "warehouse.duckdb"
    with warehouse.connect(stored) as con:  # the pipeline's tables, a title, and events: b and c on offer
        con.execute("INSERT INTO item_metadata (item_id, title) VALUES ('c', 'Heat (1995)')")
        con.execute("INSERT INTO raw_interactions (event_date, user_id, item_id, timestamp, source_file, source_row, "
                    "load_id) VALUES ('2026-05-01', 'q', 'b', '2026-05-01 10:00', 'e.csv', 1, 1), "
                    "('2026-05-01', 'q', 'c', '2026-05-01 11:00', 'e.csv', 2, 1)")
    opens: list[Path] = []
    real = warehouse.open_waiting

    def counted(path: Path, read_only: bool, wait_s: float) -> duckdb.DuckDBPyConnection:
        opens.append(Path(path))
        return real(path, read_only, wait_s)
    monkeypatch.setattr(warehouse, "open_waiting", counted)
    code, out, err = _run(capsys, "recommend", "--serving", str(tmp_path / "data"), "--data",
                          str(day / "sequences.parquet"), "--user", "me", "--k", "1", "--active-days", "30", "--json")
    assert code == 0, err
    assert opens == [stored]
    assert [(row["item"], row.get("title")) for row in json.loads(out)["items"]] == [("c", "Heat (1995)")]


def test_recommend_serving_breaks_ties_by_the_pipeline_s_popularity_not_the_user_s_file(tmp_path: Path,
                                                                                       capsys) -> None:
    """EASE serves: it scores 0 every item that shares no user with the history (a, b), and the pipeline serves those
    most popular first in its day (f 3 times, e 2, c and d once). For one user's file the ties followed that file's
    popularity (index order: c d e f); now the pipeline's, as user_recommendations."""
    from elcrec_core.data.sequences import write_item_index_file
    from elcrec_core.serve.model_store import ModelRecord, ModelStore

    day = tmp_path / "data" / "sequences" / "2026-05-02"
    day.mkdir(parents=True)
    pl.DataFrame({"user_id": ["me", "q", "r", "s", "t"], "items": [[1, 2], [6, 5], [6, 5], [6, 3], [4]]}) \
        .write_parquet(day / "sequences.parquet")
    write_item_index_file(day / "item_index.parquet", np.array(list("abcdef")))
    ModelStore(tmp_path / "data").promote(ModelRecord(day="2026-05-02", run_id="a/ease", kind="ease",
                                                      dir="models/2026-05-02/a/challengers/ease",
                                                      params={"lam": 10.0}), "EASE serves")
    _write(tmp_path / "me.csv", f"user_id,item_id,timestamp\nme,a,{T0}\nme,b,{T0 + 1}\n")
    code, out, err = _run(capsys, "recommend", "--serving", str(tmp_path / "data"), "--data", str(tmp_path / "me.csv"),
                          "--user", "me", "--k", "4", "--json")
    assert code == 0, err
    assert [row["item"] for row in json.loads(out)["items"]] == ["f", "e", "c", "d"]
    # no warehouse (deleted): said, where titles and the filtered-out seen items were lost silently (helper-217); the
    # seen items that only a day's sequences.parquet reads from the warehouse, for that data alone (helper-227)
    assert f"{tmp_path / 'data' / 'warehouse.duckdb'} is missing: the list shows no titles; to rebuild it" in err
    code, out, err = _run(capsys, "recommend", "--serving", str(tmp_path / "data"), "--data",
                          str(day / "sequences.parquet"), "--user", "me", "--k", "4")
    assert code == 0 and (f"{tmp_path / 'data' / 'warehouse.duckdb'} is missing: the list shows no titles, and of "
                          "the items the user had it excludes only those of the sequences (the warehouse holds also "
                          "those the sequence filters left out); to rebuild it") in err, err
    copy = tmp_path / "copy"  # a copy outside the serving folder: its warehouse is never read for it (helper-231)
    copy.mkdir()
    for name in ("sequences.parquet", "item_index.parquet"):
        shutil.copy(day / name, copy / name)
    code, out, err = _run(capsys, "recommend", "--serving", str(tmp_path / "data"), "--data",
                          str(copy / "sequences.parquet"), "--user", "me", "--k", "4")
    assert code == 0 and "is missing: the list shows no titles; to rebuild it" in err, err
    # the folder's item metadata gives the items' titles (ids alone said nothing to a person; a trial of 2026-12-06)
    with duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb")) as con:
        con.execute("CREATE TABLE item_metadata AS SELECT * FROM (VALUES ('f', 'Dumbo (1941)', 'Animation'), "
                    "('c', 'Heat' || chr(10) || '(1995)', NULL), ('e', NULL, 'Drama')) "
                    "AS t(item_id, title, categories)")
    code, out, err = _run(capsys, "recommend", "--serving", str(tmp_path / "data"), "--data", str(tmp_path / "me.csv"),
                          "--user", "me", "--k", "4", "--json")
    assert [(row["item"], row.get("title")) for row in json.loads(out)["items"]] == [
        ("f", "Dumbo (1941)"), ("e", None), ("c", "Heat\n(1995)"), ("d", None)]
    assert "is missing" not in err
    code, out, err = _run(capsys, "recommend", "--serving", str(tmp_path / "data"), "--data", str(tmp_path / "me.csv"),
                          "--user", "me", "--k", "4")
    assert re.fullmatch(r"  1\. f  -?\d+\.\d{4}  Dumbo \(1941\)", out.splitlines()[1]), out
    assert re.fullmatch(r"  2\. e  -?\d+\.\d{4}", out.splitlines()[2]), out
    assert re.fullmatch(r"  3\. c  -?\d+\.\d{4}  Heat\\n\(1995\)", out.splitlines()[3]), out  # one line a row
    # the day's candidate, whose intents are shown, with a checkpoint cut short: the list of the model that serves,
    # without intents, not a failure on the other model's file (helper-234)
    store = ModelStore(tmp_path / "data")
    candidate = ModelRecord(day="2026-05-02", run_id="c", dir="models/2026-05-02/c")
    store.folder(candidate).mkdir(parents=True)
    store.add_candidate(candidate, {"history": []})
    store.checkpoint(candidate).write_bytes(b"PK\x03\x04cut")
    code, cut, err = _run(capsys, "recommend", "--serving", str(tmp_path / "data"), "--data", str(tmp_path / "me.csv"),
                          "--user", "me", "--k", "4")
    assert code == 0 and cut == out, err
    assert (f"no intent is shown: the intents' model 2026-05-02/c cannot be read (checkpoint "
            f"{store.checkpoint(candidate)} is corrupt or truncated: ") in err, err
    shutil.rmtree(tmp_path / "data" / "models" / "2026-05-02" / "c")
    (tmp_path / "data" / "models" / "2026-05-02" / "latest.json").unlink()
    # a damaged file of the day's sequences: named, with the way back ('Expecting value: line 1 column 1' alone:
    # helper-217)
    (day / "settings.json").write_text("junk")
    code, out, err = _run(capsys, "recommend", "--serving", str(tmp_path / "data"), "--data", str(tmp_path / "me.csv"),
                          "--user", "me", "--k", "4")
    assert (code, err.splitlines()[-1]) == (2, f"elcrec: error: {day / 'settings.json'} is not valid JSON (Expecting "
                                               "value: line 1 column 1 (char 0)): run its day again, which writes it "
                                               "anew"), err
    (day / "settings.json").write_text("[]", encoding="utf-8")  # valid JSON of another type failed on a .get
    code, out, err = _run(capsys, "recommend", "--serving", str(tmp_path / "data"), "--data", str(tmp_path / "me.csv"),
                          "--user", "me", "--k", "4")
    assert (code, err.splitlines()[-1]) == (2, f"elcrec: error: {day / 'settings.json'} holds a JSON array, not the "
                                               "object that the pipeline writes: run its day again, which writes it "
                                               "anew"), err
    (day / "settings.json").unlink()
    # a damaged warehouse: one line naming it and the ways back, not DuckDB's traceback (helper-217)
    warehouse_file = tmp_path / "data" / "warehouse.duckdb"
    warehouse_file.write_bytes(b"not a database" * 100)
    code, out, err = _run(capsys, "recommend", "--serving", str(tmp_path / "data"), "--data", str(tmp_path / "me.csv"),
                          "--user", "me", "--k", "4")
    last = err.splitlines()[-1]
    assert (code, out) == (2, "") and last.startswith(f"elcrec: error: the warehouse {warehouse_file} is damaged, "
                                                      "and DuckDB cannot read it: ") and "Traceback" not in err, err


def test_recommend_reads_events_with_the_sequence_settings_and_never_lists_an_item_they_left_out(tmp_path: Path,
                                                                                                 capsys) -> None:
    """The pipeline's sequences leave out events rated below their min_rating, and its lists leave out their items
    too (seen); recommend had no such option (--min-rating rejects the rows: the items came back into the list) and
    its note named k-core and event types alone (a trial of 2026-12-05: a purchase rated 1 recommended again)."""
    from elcrec_core.data.events_to_sequences import SETTINGS_FILE, SequenceConfig
    from elcrec_core.data.sequences import write_item_index_file
    from elcrec_core.serve.model_store import ModelRecord, ModelStore

    day = tmp_path / "data" / "sequences" / "2026-05-02"
    day.mkdir(parents=True)
    pl.DataFrame({"user_id": ["q", "r", "s", "t"], "items": [[6, 5], [6, 5, 2], [6, 3], [4, 1]]}) \
        .write_parquet(day / "sequences.parquet")
    write_item_index_file(day / "item_index.parquet", np.array(list("abcdef")))
    (day / SETTINGS_FILE).write_text(json.dumps(dataclasses.asdict(SequenceConfig(min_rating=3.0, dedupe=True,
                                                                                    k_core=0))))
    ModelStore(tmp_path / "data").promote(ModelRecord(day="2026-05-02", run_id="a/ease", kind="ease",
                                                      dir="models/2026-05-02/a/challengers/ease",
                                                      params={"lam": 10.0}), "EASE serves")
    _write(tmp_path / "me.csv", f"user_id,item_id,timestamp,rating\nme,a,{T0},5\nme,b,{T0 + 1},1\nme,a,{T0 + 2},4\n")
    argv = ("recommend", "--serving", str(tmp_path / "data"), "--data", str(tmp_path / "me.csv"), "--user", "me",
            "--k", "6", "--json")
    code, out, err = _run(capsys, *argv)
    assert code == 0 and ("the pipeline built the sequences of 2026-05-02 with other settings (sequences/2026-05-02/"
                          "settings.json): give --rating-column COLUMN --sequence-min-rating 3 and --dedupe to read "
                          "--data as it did") in err
    code, out, err = _run(capsys, *argv, "--rating-column", "rating", "--sequence-min-rating", "3", "--dedupe")
    assert code == 0 and "other settings" not in err, err
    answer = json.loads(out)
    assert answer["history_length"] == 1  # a once; b rated 1 is out of the history, and out of the list
    assert sorted(row["item"] for row in answer["items"]) == ["c", "d", "e", "f"]
    code, out, err = _run(capsys, "sequences", "--data", str(tmp_path / "me.csv"), "--rating-column", "rating",
                          "--sequence-min-rating", "3", "--dedupe", "--json")
    assert json.loads(out) == {"user": "me", "items": ["a"]}
    code, _, err = _run(capsys, "sequences", "--data", str(tmp_path / "me.csv"), "--sequence-min-rating", "3")
    assert code == 2 and "--sequence-min-rating needs --rating-column" in err


def test_recommend_serving_says_where_data_is_another_days_sequences_than_the_tables(tmp_path: Path, capsys) -> None:
    """The table's lists come from its day's sequences; --data of an older day's sequences.parquet, built with other
    event types, fed the model other histories and gave another list without a word (helper-208). A newer day whose
    run built its sequences and not yet its lists leaves the table to the day before (it was called another day's:
    helper-213), and a day's folder without settings.json (an earlier version's) names no settings as differing."""
    from elcrec_core.data.events_to_sequences import SETTINGS_FILE, SequenceConfig
    from elcrec_core.data.sequences import write_item_index_file
    from elcrec_core.serve.model_store import ModelRecord, ModelStore

    days = tmp_path / "data" / "sequences"
    for day, types in (("2026-05-01", ("purchase", "view")), ("2026-05-02", ("purchase",)), ("2026-05-03", None)):
        (days / day).mkdir(parents=True)
        pl.DataFrame({"user_id": ["q", "r", "s", "t"], "items": [[6, 5], [6, 5, 2], [6, 3], [4, 1]]}) \
            .write_parquet(days / day / "sequences.parquet")
        write_item_index_file(days / day / "item_index.parquet", np.array(list("abcdef")))
        if types:
            (days / day / SETTINGS_FILE).write_text(json.dumps(dataclasses.asdict(SequenceConfig(event_types=types))))
    ModelStore(tmp_path / "data").promote(ModelRecord(day="2026-05-02", run_id="a/ease", kind="ease",
                                                      dir="models/2026-05-02/a/challengers/ease",
                                                      params={"lam": 10.0}), "EASE serves")
    from elcrec_core.data import warehouse

    warehouse.replace_table(tmp_path / "data" / "warehouse.duckdb", "user_recommendations", pl.DataFrame(
        {"user_id": ["q"], "rank": [1], "item_id": ["a"], "partition": ["2026-05-02"]}))  # the table's day

    def note(day: str) -> str:
        code, _, err = _run(capsys, "recommend", "--serving", str(tmp_path / "data"), "--data",
                            str(days / day / "sequences.parquet"), "--user", "q", "--json")
        assert code == 0, err
        return " ".join(err.split())

    listed = (days / "2026-05-02" / "sequences.parquet").resolve()
    assert ("--data holds the sequences of 2026-05-01, built with other sequence settings (event_types 'purchase', "
            "'view' then, 'purchase' now); user_recommendations' lists come from those of 2026-05-02: the list "
            f"differs where the user's history does (--data {listed} gives the table's)") in note("2026-05-01")
    assert "--data holds" not in note("2026-05-02")  # the table's day, though 2026-05-03 has sequences
    (days / "2026-05-01" / SETTINGS_FILE).unlink()  # a folder of an earlier version: which settings, cannot be told
    assert "--data holds the sequences of 2026-05-01; user_recommendations' lists come from those of 2026-05-02" in (
        note("2026-05-01"))


def test_recommend_makes_the_list_of_a_user_the_k_core_removed_from_their_short_history(tmp_path: Path,
                                                                                         capsys) -> None:
    """As the pipeline's user_recommendations: a user whom --k-core removed gets the list of their events on the
    sequences' items (the same items and scores as a user with only those events), every item of theirs excluded;
    it said the user was not in the data."""
    from elcrec_core.data.events_to_sequences import SETTINGS_FILE, SequenceConfig
    from elcrec_core.data.sequences import write_item_index_file
    from elcrec_core.serve.model_store import ModelRecord, ModelStore

    day = tmp_path / "data" / "sequences" / "2026-05-02"
    day.mkdir(parents=True)
    pl.DataFrame({"user_id": ["q", "r", "s", "t"], "items": [[6, 5], [6, 5, 2], [6, 3], [4, 1]]}) \
        .write_parquet(day / "sequences.parquet")
    write_item_index_file(day / "item_index.parquet", np.array(list("abcdef")))
    (day / SETTINGS_FILE).write_text(json.dumps(dataclasses.asdict(SequenceConfig(k_core=2))))
    ModelStore(tmp_path / "data").promote(ModelRecord(day="2026-05-02", run_id="a/ease", kind="ease",
                                                      dir="models/2026-05-02/a/challengers/ease",
                                                      params={"lam": 10.0}), "EASE serves")
    # lone's z has one event: the 2-core removes it, then lone, whose f the core keeps
    _write(tmp_path / "log.csv", "user_id,item_id,timestamp\n" + "".join(
        f"{user},{item},{T0 + n}\n" for n, (user, item) in enumerate(
            [("u", "f"), ("u", "b"), ("v", "f"), ("v", "b"), ("lone", "f"), ("lone", "z")])))
    argv = ("recommend", "--serving", str(tmp_path / "data"), "--user", "lone", "--k", "6", "--json")
    code, out, err = _run(capsys, *argv, "--data", str(tmp_path / "log.csv"), "--k-core", "2")
    assert code == 0, err
    said = ("the k-core removed the user's events: the list comes from their 1 event(s) on the sequences' items (a "
            "short history), as the pipeline's user_recommendations makes it")
    assert said in err
    answer = json.loads(out)
    _write(tmp_path / "alone.csv", f"user_id,item_id,timestamp\nlone,f,{T0}\n")
    alone = json.loads(_run(capsys, *argv, "--data", str(tmp_path / "alone.csv"), "--k-core", "0")[1])
    assert answer["history_length"] == alone["history_length"] == 1
    assert answer["items"] == alone["items"] and len(alone["items"]) == 5  # every item but f
    # the pipeline's day folder: its short histories beside its sequences (the README's recommend --data example)
    pl.DataFrame({"user_id": ["lone"], "items": [[6]]}).write_parquet(day / "short_histories.parquet")
    code, out, err = _run(capsys, *argv, "--data", str(day / "sequences.parquet"))
    assert code == 0 and json.loads(out)["items"] == alone["items"] and said in err, err  # it said --k-core 0
    # a removed user without an event on the sequences' items gets none: not in the data
    _write(tmp_path / "stray.csv", "user_id,item_id,timestamp\n" + "".join(
        f"{user},{item},{T0 + n}\n" for n, (user, item) in enumerate(
            [("u", "f"), ("u", "b"), ("v", "f"), ("v", "b"), ("lone", "z")])))
    assert _run(capsys, *argv, "--data", str(tmp_path / "stray.csv"), "--k-core", "2")[2].endswith(
        f"elcrec: error: user 'lone' is in {tmp_path / 'stray.csv'}, but no event of theirs is left after the filters "
        "(the k-core removed 1 of the data's events)\n")


def test_the_items_the_k_core_removed_stay_seen_in_a_sequence_file_of_integer_ids(tmp_path: Path) -> None:
    """A sequence file of integer ids (the ids are the indices): the items the k-core removed are still the users'
    (recommend leaves them out), each as its integer id; one id that is no index (007) dropped every user's."""
    path = _write(tmp_path / "seq.txt", "1 1 2 3\n2 1 2 9\n3 1 3 007\n4 2 3 1\n")
    data = load(str(path), DataOptions(format="sequence", k_core=2))  # 9 and 007: once each, removed
    assert data.item_ids is None and data.seen_item_ids is None
    assert {str(data.seen.user_ids[u]): sorted(data.seen.sequence(u)) for u in range(len(data.seen))} == {
        "1": [1, 2, 3], "2": [1, 2, 9], "3": [1, 3], "4": [1, 2, 3]}  # 007 is no model's item: left out


@pytest.mark.parametrize("command", ["evaluate", "recommend", "train"])
def test_a_missing_checkpoint_is_refused_before_the_data_is_read(tmp_path: Path, capsys, command: str) -> None:
    """evaluate, recommend and train --init-from read all of --data (minutes for a large log) before they found the
    checkpoint missing."""
    checkpoint = ["--init-from" if command == "train" else "--checkpoint", str(tmp_path / "best.pt")]
    extra = {"recommend": ["--user", "u"], "train": ["--out", str(tmp_path / "run")]}.get(command, [])
    argv = [command, *checkpoint, "--data", str(tmp_path / "no-such-data.csv"), *extra]
    code, _, err = _run(capsys, *argv)
    assert code != 0 and err.startswith(f"elcrec: error: checkpoint {tmp_path / 'best.pt'} does not exist"), err
    # a run's folder given for its checkpoint: it said the folder did not exist
    (tmp_path / "run" / "deep").mkdir(parents=True)
    checkpoint[1] = str(tmp_path / "run")
    code, _, err = _run(capsys, command, *checkpoint, "--data", str(tmp_path / "no-such-data.csv"), *extra)
    assert code != 0 and err.startswith(f"elcrec: error: checkpoint {tmp_path / 'run'} is a folder: give a "
                                        "checkpoint file, such as a run's best.pt\n"), err
    (tmp_path / "run" / "best.pt").write_bytes(b"")
    (tmp_path / "run" / "last.pt").write_bytes(b"")
    code, _, err = _run(capsys, command, *checkpoint, "--data", str(tmp_path / "no-such-data.csv"), *extra)
    assert code != 0 and err.startswith(f"elcrec: error: checkpoint {tmp_path / 'run'} is a folder: give a "
                                        "checkpoint file in it (best.pt, last.pt)\n"), err


def test_recommend_serving_a_trained_model_needs_no_pipeline_sequences(tmp_path: Path, capsys) -> None:
    """A folder of models only (copied from the pipeline's): a trained serving model answered, then recommend
    --serving asked for the pipeline's sequences, which only a serving baseline is fitted on."""
    store, record = _serving_trained_model(tmp_path, capsys)
    argv = ("recommend", "--data", str(tmp_path / "events.csv"), "--user", "1", "--k", "3", "--json")
    code, out, err = _run(capsys, *argv, "--serving", str(tmp_path / "data"))
    assert code == 0, err
    own = _run(capsys, *argv, "--checkpoint", str(store.path(record.dir) / "best.pt"))[1]
    assert json.loads(out)["items"] == json.loads(own)["items"]
    # its best.pt overwritten with NaN weights: a list of "0 items, not 3", rc 0, beside a warning that named the
    # same file corrupt for the intents (helper-239); refused, as --checkpoint refuses it
    import torch

    best = store.path(record.dir) / "best.pt"
    payload = torch.load(best, weights_only=True)
    payload["model"]["item_emb.weight"][1:3] = float("nan")
    torch.save(payload, best)
    code, out, err = _run(capsys, *argv, "--serving", str(tmp_path / "data"))
    rows = 2 * payload["model"]["item_emb.weight"].shape[1]
    assert (code, out) == (2, "") and err.endswith(f"elcrec: error: checkpoint {best} is corrupt: {rows} of its "
                                                   "weights are NaN or infinite, which no trained model's are "
                                                   "(training stops where its loss is not finite)\n"), err


@pytest.mark.parametrize("module", ["elcrec_core.cli", "elcrec_core.cli.main", "elcrec_core.cli.entry"])
def test_the_command_runs_as_a_module(module: str) -> None:
    """``python -m elcrec_core.cli.main rollback ...`` (the module pyproject.toml named) exited 0 and did nothing
    (an upgrade trial, helper-157): it runs the command, as ``python -m elcrec_core.cli`` does. Starting it imports
    no torch.compile machinery (``torch._dynamo``: 3 of the 7 seconds that every command took to start, helper-265),
    scikit-learn, SciPy's statistics or pyplot: the commands that use them import them."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-X", "importtime", "-m", module, "rollback", "--help"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "usage: elcrec rollback" in done.stdout, done.stderr[-3000:]
    imported = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "elcrec_core.cli.commands" in imported  # the whole command line
    assert imported & {"torch._dynamo", "sklearn", "scipy.stats", "matplotlib.pyplot"} == set()


def test_ctrl_c_ends_a_command_with_a_line_not_a_traceback(tmp_path: Path, capsys, monkeypatch) -> None:
    """Ctrl-C in elcrec train printed a traceback of where it fell, with no word that the run resumes (helper-170):
    one line, how to resume a training run, and the exit status a shell gives a process SIGINT ended."""
    from elcrec_core.cli import commands
    from elcrec_core.train.distributed import Terminated

    def interrupted(args) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "cmd_train", interrupted)
    monkeypatch.setattr(commands, "cmd_sequences", interrupted)
    assert _run(capsys, "train", "--out", str(tmp_path / "run")) == (
        130, "", "elcrec: interrupted: no epoch was complete, so the same command again starts over\n")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "last.pt").write_bytes(b"")  # an epoch complete
    assert _run(capsys, "train", "--out", str(tmp_path / "run")) == (
        130, "", f"elcrec: interrupted: the same command again resumes after the last complete epoch in "
                 f"{tmp_path / 'run'} (--fresh starts over)\n")
    assert _run(capsys, "train", "--out", str(tmp_path / "run"), "--fresh")[2].startswith(
        "elcrec: interrupted: the same command without --fresh resumes")  # again with --fresh, it starts over
    assert _run(capsys, "sequences", "--data", "synthetic") == (130, "", "elcrec: interrupted\n")
    # a TERM of train --nproc's launch: torch's traceback and status 1 (helper-240); as a shell reports SIGTERM

    for number, name in ((15, "SIGTERM"), (1, "SIGHUP")):  # SIGHUP read "terminated", 143 (helper-242)
        def terminated(args, number=number) -> int:
            raise Terminated(number)

        monkeypatch.setattr(commands, "cmd_train", terminated)
        assert _run(capsys, "train", "--out", str(tmp_path / "run")) == (
            128 + number, "", f"elcrec: ended by {name}: the same command again resumes after the last complete "
                              f"epoch in {tmp_path / 'run'} (--fresh starts over)\n")


def test_ctrl_c_while_the_command_imports_ends_with_a_line_too(capsys, monkeypatch) -> None:
    """Ctrl-C in the first second of a command, while torch imports, printed a traceback of the import (helper-170's
    lead): the executable's entry point imports the command line inside the same catch."""
    import builtins
    import sys

    from elcrec_core.cli import entry

    real_import = builtins.__import__

    def interrupted(name, *args, **kwargs):
        if name == "elcrec_core.cli.main":
            raise KeyboardInterrupt
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "elcrec_core.cli.main")
    monkeypatch.setattr(builtins, "__import__", interrupted)
    assert entry.main() == 130
    assert capsys.readouterr() == ("", "elcrec: interrupted\n")


def test_max_user_events_leaves_a_bot_out_of_the_sequences_as_the_pipeline_can(tmp_path: Path, capsys) -> None:
    """--max-user-events N, as the sequence settings' max_user_events: users with more events are left out, and
    stderr says how many, with their events (helper-172's bots)."""
    events = pl.concat([_events(), pl.DataFrame({"user_id": [999] * 30, "item_id": [1, 2, 3] * 10,
                                                 "timestamp": [T0 + n for n in range(30)]})])
    events.write_csv(tmp_path / "events.csv")
    code, out, err = _run(capsys, "sequences", "--data", str(tmp_path / "events.csv"), "--json",
                          "--max-user-events", "20")
    users = [json.loads(line)["user"] for line in out.splitlines()]
    assert code == 0 and "999" not in users and len(users) == 40, err
    assert "--max-user-events 20 left out 1 user with 30 events" in err
    code, out, _ = _run(capsys, "sequences", "--data", str(tmp_path / "events.csv"), "--json")
    assert "999" in [json.loads(line)["user"] for line in out.splitlines()]
    # --dedupe says what it left out, as the other filters do: the bot's 30 events are 3 (user, item) pairs, and
    # the accepted rows then add up to the events (helper-220)
    code, out, err = _run(capsys, "sequences", "--data", str(tmp_path / "events.csv"), "--json", "--dedupe")
    repeated = 27 + len(_events()) - _events().unique(["user_id", "item_id"]).height
    assert code == 0 and f"--dedupe left out {repeated:,} repeated (user, item) events" in err.splitlines(), err
    assert sum(len(json.loads(line)["items"]) for line in out.splitlines()) == len(events) - repeated
    # the user asked for, left out: said so (it was "not in" the data); every user left out: the option named, not
    # --k-core; the pipeline's sequences.parquet, built already: refused, as --k-core is (helper-174)
    code, _, err = _run(capsys, "sequences", "--data", str(tmp_path / "events.csv"), "--max-user-events", "20",
                        "--user", "999")
    assert code == 2 and err.endswith(f"user '999' is in {tmp_path / 'events.csv'}, but no event of theirs is left "
                                      "after the filters (--max-user-events 20 left out 1 user with 30 events)\n"), err
    code, _, err = _run(capsys, "sequences", "--data", str(tmp_path / "events.csv"), "--max-user-events", "1")
    assert code == 2 and err.endswith("--max-user-events 1 left out 41 users with 270 events\n"), err
    pl.DataFrame({"user_id": ["a"], "items": [[1, 2]]}).write_parquet(tmp_path / "sequences.parquet")
    code, _, err = _run(capsys, "sequences", "--data", str(tmp_path / "sequences.parquet"), "--max-user-events", "5")
    assert code == 2 and "--max-user-events: " in err and "is the pipeline's sequences.parquet, built already" in err


def test_source_reads_data_as_the_pipelines_source_settings_file_describes_it(tmp_path: Path, capsys) -> None:
    """elcrec baselines did not read the pipeline's source settings: a team typed its columns again as options
    (helper-165). --source FILE reads --data as the file describes it (format, columns, header and names, row rules),
    its path for --data (relative to the file; a {date} path: every day's files); options given win; the settings
    the command line does not use are named."""
    logs = tmp_path / "team" / "logs"
    logs.mkdir(parents=True)
    for day, rows in (("2026-03-01", _events().head(120)), ("2026-03-02", _events().tail(120))):
        rows.select("timestamp", "user_id", "item_id").write_csv(logs / f"{day}.csv", separator=";",
                                                                  include_header=False)
    source = tmp_path / "team" / "source.yaml"
    source.write_text(yaml.safe_dump({"format": "csv", "path": "logs/{date}.csv", "delimiter": ";", "header": False,
                                      "names": ["ts", "customer", "sku"], "user_column": "customer",
                                      "item_column": "sku", "timestamp_column": "ts", "min_rows": 0}))
    code, out, err = _run(capsys, "sequences", "--source", str(source), "--json")
    assert code == 0, err
    assert sorted(json.loads(line)["user"] for line in out.splitlines()) == sorted(
        str(u) for u in _events()["user_id"].unique())
    assert "data: 240 rows read, 240 accepted, 0 rejected" in err
    assert f"--source {source}: the command line does not use min_rows (the pipeline's own settings" in err
    code, out, err = _run(capsys, "sequences", "--source", str(source), "--data", str(logs / "2026-03-01.csv"))
    assert code == 0 and "data: 120 rows read" in err, err  # --data given wins
    code, _, err = _run(capsys, "sequences", "--source", str(source), "--user-column", "sku", "--item-column",
                        "customer", "--json")
    assert code == 0 and "data: 240 rows read" in err  # the options given win
    with pytest.raises(SystemExit):
        _run(capsys, "sequences", "--json")
    assert "the following arguments are required: --data (or --source, a source settings file)" in \
        capsys.readouterr().err
    # read as the pipeline reads them (helper-176): names that replace a header's (header: true), a folder a day,
    # a date of YAML as min_timestamp; train's data is the file's, not the synthetic data
    days = tmp_path / "team" / "days" / "2026-03-01"
    days.mkdir(parents=True)
    _events().rename({"user_id": "u", "item_id": "i", "timestamp": "t"}).write_csv(days / "part-0.csv")
    (tmp_path / "team" / "days.yaml").write_text(
        "format: csv\npath: days/{date}\nheader: true\nnames: [customer, sku, ts]\nuser_column: customer\n"
        "item_column: sku\ntimestamp_column: ts\nmin_timestamp: 2026-01-01\n")
    code, out, err = _run(capsys, "sequences", "--source", str(tmp_path / "team" / "days.yaml"), "--json")
    assert code == 0 and "data: 240 rows read, 240 accepted, 0 rejected" in err and len(out.splitlines()) == 40, err
    code, out, err = _run(capsys, "train", "--source", str(tmp_path / "team" / "days.yaml"), "--out",
                          str(tmp_path / "run"), "--epochs", "1", "--intents", "2", "--hidden", "8", "--max-len", "6",
                          "--device", "cpu")
    assert code == 0 and "data: 40 users" in out, err
    for setting, refused in (("names: a,b,c", "names is a list of texts, not 'a,b,c'"),
                             ("quote: \"'\"", "quote \"'\": the command line reads '\"' or no quoting")):
        (tmp_path / "team" / "bad.yaml").write_text(f"format: csv\npath: logs/{{date}}.csv\n{setting}\n")
        with pytest.raises(SystemExit):
            _run(capsys, "sequences", "--source", str(tmp_path / "team" / "bad.yaml"))
        assert refused in capsys.readouterr().err


def _source_refusal(capsys, source: Path) -> str:
    """What ``elcrec sequences --source source`` says on stderr as it refuses the settings file."""
    with pytest.raises(SystemExit):
        _run(capsys, "sequences", "--source", str(source))
    return capsys.readouterr().err


def test_source_whose_path_holds_the_item_metadata_file_says_to_leave_it_out(tmp_path: Path, capsys) -> None:
    """A RecBole dataset's folder as the path, its .item file the item metadata: the .item file was read as events
    and the command asked for column options, which could not fix it (helper-200)."""
    (tmp_path / "toys").mkdir()
    _write(tmp_path / "toys" / "toys.inter", "user_id\titem_id\ttimestamp\nu\ta\t1\n")
    _write(tmp_path / "toys" / "toys.item", "item_id\ttitle\na\tA\n")
    source = tmp_path / "source.yaml"
    source.write_text(yaml.safe_dump({"format": "tsv", "path": "toys", "item_metadata_path": "toys/toys.item"}))
    assert _source_refusal(capsys, source).endswith(
        f"--source {source}: the source's path names the item metadata file toys.item (item_metadata_path) among the "
        "events' files, and it is read as events: set path to the events' file(s) alone (a glob such as toys/*.inter "
        "leaves it out) (the pipeline's load fails on it too)\n")
    source.write_text(yaml.safe_dump({"format": "tsv", "path": "toys/*.inter", "item_metadata_path": "toys/toys.item"}))
    assert _run(capsys, "sequences", "--source", str(source))[:2] == (0, "u (1 event): a\n")


def test_source_date_path_reads_the_days_files_not_a_catalogue_beside_them(tmp_path: Path, capsys) -> None:
    """A {date} path read every file of its folder's extension: a shop's artikel.csv beside export/2026-03-30.csv
    was refused as item metadata among the events' files, and any other csv there read as events, where the
    pipeline reads the day's file alone (helper-251). It reads the files whose names hold a day."""
    (tmp_path / "export").mkdir()
    _write(tmp_path / "export" / "2026-03-30.csv", "Kunde;Artikel;Zeitpunkt\n000123;7;1772400000\n")
    _write(tmp_path / "export" / "2026-03-31.csv", "Kunde;Artikel;Zeitpunkt\n000123;8;1772500000\n")
    _write(tmp_path / "export" / "artikel.csv", "Artikel;Bezeichnung\n7;Topf\n8;Pfanne\n")
    _write(tmp_path / "export" / "notes.csv", "Kunde;Artikel;Zeitpunkt\nx;y;1772600000\n")
    source = tmp_path / "source.yaml"
    source.write_text(yaml.safe_dump({"format": "csv", "path": "export/{date}.csv", "delimiter": ";",
                                      "user_column": "Kunde", "item_column": "Artikel",
                                      "timestamp_column": "Zeitpunkt", "item_metadata_path": "export/artikel.csv",
                                      "item_metadata_delimiter": ";", "item_metadata_item_column": "Artikel",
                                      "item_metadata_title_column": "Bezeichnung"}))
    code, out, err = _run(capsys, "sequences", "--source", str(source))
    assert (code, out) == (0, "000123 (2 events): 7 8\n"), err
    assert "data: 2 rows read, 2 accepted, 0 rejected" in err



def test_source_date_folders_are_read_under_a_folder_whose_name_holds_a_bracket(tmp_path: Path, capsys) -> None:
    """A folder a day (days/{date}) under a folder named "data [v2]": the check for day folders read the name's
    brackets as a pattern, found none, and the day folders were read as files, "no files found", where the pipeline
    reads each day's files (helper-254)."""
    team = tmp_path / "data [v2]"
    for day, item in (("2026-03-30", 7), ("2026-03-31", 8)):
        (team / "days" / day).mkdir(parents=True)
        _write(team / "days" / day / "part-0.csv", f"Kunde;Artikel;Zeitpunkt\n000123;{item};17724{item}0000\n")
    (team / "days" / "2026-03-31" / "_SUCCESS").write_bytes(b"")
    source = team / "source.yaml"
    source.write_text(yaml.safe_dump({"format": "csv", "path": "days/{date}", "delimiter": ";", "user_column": "Kunde",
                                      "item_column": "Artikel", "timestamp_column": "Zeitpunkt"}), encoding="utf-8")
    code, out, err = _run(capsys, "sequences", "--source", str(source))
    assert (code, out) == (0, "000123 (2 events): 7 8\n"), err


def test_a_source_date_path_that_names_no_file_gets_the_pipelines_advice(tmp_path: Path, capsys) -> None:
    """A --source whose {date} path names no file said "no files found" alone, where the pipeline says what {date}
    is and names the files whose names hold a date of another form (helper-274): the same advice."""
    logs = tmp_path / "logs"
    logs.mkdir()
    for name in ("events_20261129.csv", "events_20261130.csv", "notes.csv"):
        _write(logs / name, f"user_id,item_id,timestamp\nu,i,{T0}\n")
    source = tmp_path / "source.yaml"
    source.write_text(yaml.safe_dump({"format": "csv", "path": "logs/events_{date}.csv"}), encoding="utf-8")
    days = "[0-9]" * 4 + "-" + "[0-9]" * 2 + "-" + "[0-9]" * 2
    said = (f"--source {source}: {logs / f'events_{days}.csv'}: no files found; the path's {{date}} is a day as "
            "YYYY-MM-DD (such as 2026-01-31), and no file is named with one")
    with pytest.raises(SystemExit):
        _run(capsys, "sequences", "--source", str(source))
    assert capsys.readouterr().err.endswith(
        f"{said}; {logs} holds events_20261129.csv and events_20261130.csv of a date in another form: name each "
        "with its day as YYYY-MM-DD, as events_{date}.csv reads them\n")
    for name in ("events_20261129.csv", "events_20261130.csv"):
        (logs / name).unlink()
    with pytest.raises(SystemExit):
        _run(capsys, "sequences", "--source", str(source))
    assert capsys.readouterr().err.endswith(f"{said}\n")  # no other form beside it: what {date} is, alone


@pytest.mark.parametrize("pattern, folder, files, named", [
    ("*/events_{date}.csv", ".", ["web/events_20261129.csv", "app/events_20261130.csv", "app/events_20261129.csv",
                                  "web/events_20261130.csv", "web/events_2026-11-28.txt"],
     "app/events_20261129.csv, app/events_20261130.csv, web/events_20261129.csv and 1 more"),
    ("logs/*/{date}.csv", "logs", ["logs/web/20261129.csv", "logs/app/notes.csv"], "web/20261129.csv")])
def test_a_source_date_path_under_a_glob_folder_names_the_files_of_another_form(
        tmp_path: Path, capsys, pattern: str, folder: str, files: list[str], named: str) -> None:
    """A --source {date} path under a glob folder (several systems' files: web/, app/) whose files hold the date
    in another form said only what {date} is: the advice could list a plain folder's files alone (helper-276)."""
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        _write(tmp_path / name, f"user_id,item_id,timestamp\nu,i,{T0}\n")
    source = tmp_path / "source.yaml"
    source.write_text(yaml.safe_dump({"format": "csv", "path": pattern}), encoding="utf-8")
    with pytest.raises(SystemExit):
        _run(capsys, "sequences", "--source", str(source))
    where = (tmp_path / folder / "*").resolve()
    assert capsys.readouterr().err.endswith(
        "; the path's {date} is a day as YYYY-MM-DD (such as 2026-01-31), and no file is named with one; "
        f"{where} holds {named} of a date in another form: name each with its day as YYYY-MM-DD, as "
        f"{Path(pattern).name} reads them\n")


def test_source_delimited_settings_for_another_format_are_named_as_settings(tmp_path: Path, capsys) -> None:
    """A JSON Lines source file with header: false was refused as "--no-header: only for delimited text", an option
    nobody typed (helper-181): the settings are named, as the pipeline names them."""
    _write(tmp_path / "e.jsonl", json.dumps({"user_id": "u", "item_id": "i", "timestamp": T0}) + "\n")
    source = tmp_path / "source.yaml"
    source.write_text(yaml.safe_dump({"format": "jsonl", "path": "e.jsonl", "header": False, "quote": ""}))
    with pytest.raises(SystemExit):
        _run(capsys, "sequences", "--source", str(source))
    assert capsys.readouterr().err.endswith(
        f"--source {source}: header, quote: settings of delimited text (csv, tsv) that a jsonl source has no use "
        "for; leave them out (the pipeline refuses them too)\n")
    source.write_text(yaml.safe_dump({"format": "jsonl", "path": "e.jsonl", "header": True, "quote": '"'}))
    assert _run(capsys, "sequences", "--source", str(source))[:2] == (0, "u (1 event): i\n")  # their defaults
    # the synthetic source alike, not as options nobody typed; escape is no setting of the pipeline's nor of the
    # command line's: refused as unknown below, as any other, not as "a setting of delimited text" (helper-188)
    source.write_text(yaml.safe_dump({"format": "synthetic", "header": False, "delimiter": ";"}))
    with pytest.raises(SystemExit):
        _run(capsys, "sequences", "--source", str(source))
    assert capsys.readouterr().err.endswith(
        f"--source {source}: delimiter, header: settings of delimited text (csv, tsv) that a synthetic source has no "
        "use for; leave them out (the pipeline refuses them too)\n")
    source.write_text(yaml.safe_dump({"path": "e.jsonl"}))  # no format: the pipeline's default reads no file
    assert _source_refusal(capsys, source).endswith(
        f"--source {source}: path '{tmp_path / 'e.jsonl'}' is given, but no format: give the file's format (format: "
        "csv, tsv, parquet, jsonl or sequence); without it the source is the synthetic data, which reads no file (the "
        "pipeline refuses it too)\n")
    # a setting the pipeline does not know is refused, as it refuses it (helper-187: a note, and the command read the
    # file the pipeline refuses); escape is none of the pipeline's, whatever the format (helper-188)
    for unknown, refused in ((["escape"], "['escape'], which the pipeline refuses too"),
                             (["decimal", "item_metadata_encodng"], "['decimal', 'item_metadata_encodng'] (did "
                                                                    "you mean 'item_metadata_encoding' for "
                                                                    "'item_metadata_encodng'?), which the pipeline"),
                             (["time_zone"], "['time_zone'] (did you mean 'timezone'?), which the pipeline refuses "
                                             "too\n"),
                             (["k_core", "keep_days"], "['k_core', 'keep_days'], which the pipeline refuses too; "
                                                       "k_core (--k-core), keep_days (none): how the sequences are "
                                                       "built, not what the source holds: the run config of the "
                                                       "pipeline (ops.interaction_sequences.config), and the command "
                                                       "line's option named beside each")):
        source.write_text(yaml.safe_dump({"format": "jsonl", "path": "e.jsonl", **dict.fromkeys(unknown, 3)}))
        with pytest.raises(SystemExit):
            _run(capsys, "sequences", "--source", str(source))
        assert f"--source {source}: unknown source setting(s) {refused}" in capsys.readouterr().err


def test_source_settings_the_command_line_knows_are_the_pipelines(capsys) -> None:
    """What --source reads, notes as the pipeline's own, or refuses as unknown is the pipeline's source settings'
    partition: a new setting of the pipeline's must be read or named here (it would be refused as unknown)."""
    from elcrec_core.cli.source_file import _PIPELINE_OWN, _READ, _SEQUENCE_SETTINGS
    from elcrec_pipeline.config import SequenceSettings, SourceSettings

    assert _READ | _PIPELINE_OWN == set(SourceSettings.model_fields) and not _READ & _PIPELINE_OWN
    assert set(_SEQUENCE_SETTINGS) == set(SequenceSettings.model_fields) - {"min_rating"}  # a row rule's name too
    # the options named for them are the command line's (keep_days was said to be one, helper-195)
    with pytest.raises(SystemExit):
        main(["sequences", "--help"])
    options = set(re.findall(r"--[a-z-]+", capsys.readouterr().out))
    assert {option for option in _SEQUENCE_SETTINGS.values() if option} <= options
    assert not {f"--{name.replace('_', '-')}" for name, option in _SEQUENCE_SETTINGS.items() if not option} & options


def test_source_bounds_on_rejected_rows_are_the_ones_the_note_names(tmp_path: Path, capsys) -> None:
    """A source file with max_rejected_share 0.5 still got "the pipeline refuses a load of more than
    max_rejected_share (0.05 by default ...)" for a third of the rows rejected, a load its pipeline accepts
    (helper-180): the note uses the file's bounds, those of max_rejected_share_by_reason too."""
    (tmp_path / "team").mkdir()
    _write(tmp_path / "team" / "e.csv", "user_id,item_id,timestamp\n"
                  f"u,a,{T0}\nu,b,soon\n,c,{T0}\nu,d,{T0 + 1}\nu,e,{T0 + 2}\nu,f,{T0 + 3}\n")
    source = tmp_path / "team" / "source.yaml"
    for bounds, *note in (({"max_rejected_share": 0.5}, None),
                         ({"max_rejected_share": 0.1}, "33.3% of the rows were rejected: the pipeline refuses a load "
                                                       "of more than max_rejected_share (0.1 in the --source file; "
                                                       "see max_rejected_share_by_reason); read anyway"),
                         # the other reasons keep max_rejected_share's default: bad_timestamp's 1 row of 6
                         # of the other reasons, said so: it read as the whole load's share (helper-229)
                         ({"max_rejected_share_by_reason": {"missing_user": 0.1}},
                          "16.7% of the rows were rejected for the reasons without a share of their own: the pipeline "
                          "refuses a load of more than max_rejected_share (0.05 by default; see "
                          "max_rejected_share_by_reason); read anyway",
                          "16.7% of the rows were rejected as missing_user: the pipeline refuses a load of more than "
                          "max_rejected_share_by_reason.missing_user (0.1 in the --source file; see "
                          "max_rejected_share_by_reason); read anyway"),
                         # the decimals that show a share above its bound: 2 of 6 rows, 33.3% read as below 0.3333
                         ({"max_rejected_share": 0.3333},
                          "33.333% of the rows were rejected: the pipeline refuses a load of more than "
                          "max_rejected_share (0.3333 in the --source file; see max_rejected_share_by_reason); read "
                          "anyway")):
        source.write_text(yaml.safe_dump({"format": "csv", "path": "e.csv", **bounds}))
        code, _, err = _run(capsys, "sequences", "--source", str(source))
        assert code == 0 and "does not use" not in err, err
        # the file named as read (helper-273: "in the --source file" did not say which)
        assert [line for line in err.splitlines() if "refuses" in line] == [
            n.replace("the --source file", str(source.resolve())) for n in note if n]
        # the rows shown: a reason of a share of its own after the others, as the pipeline's message shows them
        # (helper-231: the command line kept the counts' order alone)
        shown = [line.split(": ")[1].split(" ")[0] for line in err.splitlines() if line.startswith("  line ")]
        assert shown == (["bad_timestamp", "missing_user"] if "max_rejected_share_by_reason" in bounds
                         else ["missing_user", "bad_timestamp"]), err
    source.write_text(yaml.safe_dump({"format": "csv", "path": "e.csv", "max_rejected_share_by_reason": {"late": 1}}))
    with pytest.raises(SystemExit):
        _run(capsys, "sequences", "--source", str(source))
    assert "max_rejected_share_by_reason names no rejection reason: late" in capsys.readouterr().err


def test_a_user_of_a_short_history_is_not_offered_as_its_own_near_id(tmp_path: Path, capsys) -> None:
    """sequences --user 0 of a user the k-core removed (a short history) said "did you mean '0'?"."""
    events = pl.concat([_events(), pl.DataFrame({"user_id": [555], "item_id": [1], "timestamp": [T0]})])
    events.write_csv(tmp_path / "events.csv")
    code, _, err = _run(capsys, "sequences", "--data", str(tmp_path / "events.csv"), "--k-core", "2", "--user",
                        "555")
    assert code == 2 and "did you mean" not in err and err.endswith(
        "but no event of theirs is left after the filters (the k-core removed 1 of the data's events)\n"), err


def test_baselines_out_writes_the_item_index_beside_sasrec_as_train_does(tmp_path: Path, capsys) -> None:
    """baselines --out kept SASRec's checkpoints without item_index.parquet, so evaluate and recommend matched a grown
    file's items by position: other items, HR@20 0.0968 for 0.1045 (helper-224). With the index the grown file's
    items are matched by id: a new item that sorts first moves no other item."""
    events = _events().with_columns(pl.format("s{}", "item_id").alias("item_id"))
    events.write_csv(tmp_path / "events.csv")
    out = tmp_path / "baselines"
    code, _, err = _run(capsys, "baselines", "--data", str(tmp_path / "events.csv"), "--out", str(out), "--preset",
                        "synthetic", "--epochs", "1", "--lambdas", "10", "--device", "cpu", "--json")
    assert code == 0, err
    assert pl.read_parquet(out / "item_index.parquet")["item_id"].to_list() == [f"s{i}" for i in range(9)]
    grown = pl.concat([events, pl.DataFrame({"user_id": [99, 99], "item_id": ["a", "s1"], "timestamp": [T0, T0 + 1]})])
    grown.write_csv(tmp_path / "grown.csv")
    lists = []
    for path in ("events.csv", "grown.csv"):
        code, listed, err = _run(capsys, "recommend", "--data", str(tmp_path / path), "--checkpoint",
                                 str(out / "best.pt"), "--user", "3", "--k", "3", "--json")
        assert code == 0 and "no item_index.parquet beside" not in err, err
        lists.append([(row["item"], row["score"]) for row in json.loads(listed)["items"]])
    assert lists[0] == lists[1] and len(lists[0]) == 3  # the 3 items user 3 has not had
    # then data without item ids (the integers are the indices) into the same folder, by baselines and by train
    # --fresh: the earlier index is removed, which relabelled the new model as another catalogue (helper-227)
    lines = (f"{u} {' '.join(str(1 + (u + k) % 9) for k in range(6))}\n" for u in range(40))
    _write(tmp_path / "seq.txt", "".join(lines))
    index = (out / "item_index.parquet").read_bytes()
    for command in (["baselines", "--preset", "synthetic", "--lambdas", "10"], ["train", "--fresh", "--hidden", "8"]):
        (out / "item_index.parquet").write_bytes(index)  # the first run's, before each
        code, _, err = _run(capsys, *command, "--data", str(tmp_path / "seq.txt"), "--format", "sequence", "--out",
                            str(out), "--epochs", "1", "--device", "cpu")
        assert code == 0 and not (out / "item_index.parquet").exists(), err
        code, listed, err = _run(capsys, "recommend", "--data", str(tmp_path / "seq.txt"), "--format", "sequence",
                                 "--checkpoint", str(out / "best.pt"), "--user", "3", "--k", "3", "--json")
        assert code == 0 and len(json.loads(listed)["items"]) == 3, err
    # a run that fails after it wrote its index (3 items a user: SASRec cannot train) left the earlier model beside
    # it, relabelled with the new data's items: recommend listed an item the model never knew (helper-235); so did
    # train without --fresh where no last.pt was there to resume
    _events(per_user=3).with_columns(pl.format("s{}", "item_id").alias("item_id")).write_csv(tmp_path / "short.csv")
    for command in (["baselines", "--lambdas", "10"], ["train", "--hidden", "8"]):
        (out / "last.pt").unlink(missing_ok=True)
        assert (out / "best.pt").is_file() and (out / "metrics.json").is_file()  # the earlier run's
        code, _, err = _run(capsys, *command, "--data", str(tmp_path / "short.csv"), "--out", str(out), "--preset",
                            "synthetic", "--epochs", "1", "--device", "cpu")  # the auto preset refuses it sooner
        assert code == 2 and "none of the 40 users has the 4 items that one needs" in err, err
        assert pl.read_parquet(out / "item_index.parquet")["item_id"].to_list() == [f"s{i}" for i in range(9)]
        assert not (out / "best.pt").exists() and not (out / "metrics.json").exists()
        train = _run(capsys, "train", "--data", str(tmp_path / "seq.txt"), "--format", "sequence", "--out", str(out),
                     "--epochs", "1", "--hidden", "8", "--device", "cpu", "--fresh")  # the next command's earlier run
        assert train[0] == 0, train[2]


def test_a_reader_that_leaves_early_is_no_error(tmp_path: Path) -> None:
    """`elcrec compare a b | head` ended with 'elcrec: error: [Errno 32] Broken pipe' (helper-237); sequences alone
    handled it. Every command now ends quietly, with status 0, when the reader of its output leaves."""
    import os
    import subprocess
    import sys

    for run in ("a", "b"):  # two runs of default settings, no metrics: compare's table
        (tmp_path / run).mkdir()
        for name in ("config.json", "metrics.json"):
            (tmp_path / run / name).write_text("{}", encoding="utf-8")
    for args in (["sequences", "--data", "synthetic", "--json"], ["compare", str(tmp_path / "a"), str(tmp_path / "b")]):
        read, write = os.pipe()
        os.close(read)  # the reader has left before the first line: every write fails
        with os.fdopen(write, "wb") as stdout:
            done = subprocess.run([sys.executable, "-m", "elcrec_core.cli", *args], stdout=stdout,
                                  stderr=subprocess.PIPE, cwd=Path(__file__).parents[2], text=True, timeout=300)
        assert done.returncode == 0 and "error" not in done.stderr and "Broken pipe" not in done.stderr, done.stderr


def test_a_load_opens_its_warehouse_once_to_load_and_once_for_the_build_and_its_notes(tmp_path: Path,
                                                                                      monkeypatch) -> None:
    """The command line's private warehouse was opened by each query after the load (the build's two, the seen
    items' two with a filter), 20-30 ms each: now once for all of them; the sequences are those of the events."""
    from elcrec_core.data import warehouse

    opened = []
    real = warehouse.open_waiting
    monkeypatch.setattr(warehouse, "open_waiting", lambda *a: opened.append(a) or real(*a))
    path = _write(tmp_path / "e.csv", "user_id,item_id,timestamp\n" + "".join(
        f"u{u},i{(u + k) % 5},{T0 + k}\n" for u in range(4) for k in range(3)))
    for options in (DataOptions(), DataOptions(k_core=2)):  # the k-core: the seen items are read too
        opened.clear()
        loaded = load(str(path), options)
        assert [loaded.sequences.sequence(n) for n in range(4)] == [[1, 2, 3], [2, 3, 4], [3, 4, 5], [4, 5, 1]]
        assert len(opened) == 2, opened
