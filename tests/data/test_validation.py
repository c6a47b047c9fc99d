"""Row rules (each reason, precedence, generated malformed input) and the Great Expectations suites."""

from __future__ import annotations

import os
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from elcrec_core.cli.data_options import DataOptions
from elcrec_core.data import warehouse
from elcrec_core.data.ingestion import ingest, read_checked
from elcrec_core.data.source_config import ColumnMap, SourceConfig
from elcrec_core.data.files import SourceReadError
from elcrec_core.data.sources import read_source
from elcrec_core.data.expectations import ExpectationConfig, expect_interactions, expect_sequences
from elcrec_core.data.validation import NULL_IDS, REASONS, RowCheck, RowRules, check_rows
from elcrec_pipeline.config import SourceSettings

NOW = datetime(2026, 11, 27, 12, 0, 0)
RULES = RowRules(min_timestamp=datetime(2020, 1, 1), max_timestamp=datetime(2030, 1, 1), now=NOW,
                 future_tolerance=timedelta(0), min_rating=1.0, max_rating=5.0)
EPOCH = int((datetime(2026, 3, 1) - datetime(1970, 1, 1)).total_seconds())
MIN_EPOCH = int((RULES.min_timestamp - datetime(1970, 1, 1)).total_seconds())
NOW_EPOCH = int((NOW - datetime(1970, 1, 1)).total_seconds())
MAX_EPOCH = int((RULES.max_timestamp - datetime(1970, 1, 1)).total_seconds())


def _read(tmp_path: Path, text: str, **columns: str) -> pl.DataFrame:
    path = tmp_path / "e.csv"
    path.write_text(text)
    return read_source(SourceConfig(format="csv", path=str(path), columns=ColumnMap(**columns)))


def _check(tmp_path: Path, text: str, **columns: str) -> RowCheck:
    frame = _read(tmp_path, text, **columns)
    result = check_rows(frame, RULES)
    assert len(result.accepted) + len(result.rejected) == result.rows_in == len(frame)
    return result


def test_a_last_line_cut_short_in_an_id_is_malformed(tmp_path: Path) -> None:
    """A file copied while still being written ended in ``1005,2026-03-02T23:59:00,C00`` without a line end: C00
    (for C0017) was loaded as a user who does not exist (helper-159's trial). An id of its last line, without a line
    end, shorter than every other of the file and none of theirs is a malformed_line; with a line end, or ids of
    many lengths, it is data."""
    e = EPOCH
    rows = "sku,ts,customer\n" + "".join(f"{1000 + n},{e + n},C{n:04d}\n" for n in range(12))
    cut = _check(tmp_path, rows + f"1005,{e + 99},C00", user="customer", item="sku", timestamp="ts")
    assert len(cut.accepted) == 12 and cut.rejected.select("source_row", "reason", "detail").cast(
        {"reason": pl.String}).rows() == [(14, "malformed_line", "customer 'C00' is shorter than every other of the "
                                                                 "file, all 5 characters of one form, on its last "
                                                                 "line, which has no line end: the file cut short?")]
    for whole in (rows + f"1005,{e + 99},C00\n",  # a line end: the line is whole
                  rows + f"1005,{e + 99},C0001",  # an id of the others
                  rows.replace("C0000", "C0") + f"1005,{e + 99},C00",  # ids of many lengths
                  rows + f"10,{e + 99},C0001",  # a number: item 10 beside 1005 may be one (a review of 12-06)
                  rows + f"1005,{e + 99},X-1",  # not the start of the others' form (a guest beside UUIDs)
                  rows + f"1005,{e + 99},c00x"):
        assert _check(tmp_path, whole, user="customer", item="sku", timestamp="ts").by_reason == {}, whole[-20:]


def test_a_last_line_cut_short_in_an_epoch_time_is_a_bad_timestamp(tmp_path: Path) -> None:
    """A file still being written ended in ``u49,i29,1767`` (for 1767261540) without a line end: the time read as
    1970-01-01T00:29:27 and was accepted, the user's first event (the CLI; the pipeline refused the whole load for an
    event before its first partition and advised an earlier ELCREC_START_DATE: helper-215). An epoch time of its
    last line, without a line end, of fewer digits than every other time of the file (all of one count) is its
    bad_timestamp; with a line end, or times of many digit counts, it is data."""
    def checked(text: str, fmt: str = "epoch_s") -> RowCheck:
        path = tmp_path / "e.csv"
        path.write_text(text)
        frame = read_source(SourceConfig(format="csv", path=str(path), timestamp_format=fmt,
                                         columns=ColumnMap(user="u", item="i", timestamp="t")))
        return check_rows(frame, RowRules())

    def rows(scale: int = 1, n: int = 12) -> str:
        return "u,i,t\n" + "".join(f"u{k % 5},i{k % 7},{(EPOCH + 60 * k) * scale}\n" for k in range(n))

    for fmt, scale, digits in (("epoch_s", 1, 10), ("epoch_ms", 1000, 13)):
        cut = str(EPOCH * scale)[:digits - 5]
        result = checked(rows(scale) + f"u1,i1,{cut}", fmt)
        assert len(result.accepted) == 12 and result.rejected.select("source_row", "reason", "detail").cast(
            {"reason": pl.String}).rows() == [(14, "bad_timestamp", f"t: {cut} has fewer digits than every other "
                                                                    f"time of the file ({fmt}, all {digits} digits), "
                                                                    "on its last line, which has no line end: the "
                                                                    "file cut short?")], fmt
    cut = str(EPOCH)[:4]
    for whole in (rows() + f"u1,i1,{cut}\n",  # a line end: the line is whole (a time in 1970)
                  rows() + f"u1,i1,{EPOCH + 99}",  # a time of the others' digits
                  rows().replace(f",{EPOCH}\n", ",99\n") + f"u1,i1,{cut}",  # times of many digit counts
                  rows(n=9) + f"u1,i1,{cut}",  # too few other rows to judge by
                  rows().replace(f",{EPOCH}", f",-{EPOCH}") + "u1,i1,5000000"):  # times before 1970: not judged
        assert checked(whole).by_reason == {}, whole[-30:]
    # a file without times: no time to judge (its last line read the missing timestamp column: helper-221)
    path = tmp_path / "e.csv"
    path.write_text("u,i\n" + "".join(f"u{k % 3},i{k % 5}\n" for k in range(15)) + "u9,i9")
    frame = read_source(SourceConfig(format="csv", path=str(path),
                                     columns=ColumnMap(user="u", item="i", timestamp=None)))
    assert len(check_rows(frame, RowRules()).accepted) == 16


def test_every_reason_code(tmp_path: Path) -> None:
    e = EPOCH
    text = "\n".join([
        "u,i,t,r",
        f"a,x,{e},3",  # 2 accepted
        "a,x",  # 3 malformed_line
        f",x,{e},3",  # 4 missing_user
        f"  ,x,{e},3",  # 5 missing_user (blank)
        f"a,,{e},3",  # 6 missing_item
        "a,x,,3",  # 7 missing_timestamp
        "a,x,later,3",  # 8 bad_timestamp
        f"a,x,{MIN_EPOCH - 1},3",  # 9 timestamp_out_of_window
        f"a,x,{MAX_EPOCH + 1},3",  # 10 timestamp_out_of_window
        f"a,x,{NOW_EPOCH + 1},3",  # 11 timestamp_in_future
        f"a,x,{e},five",  # 12 bad_rating
        f"a,x,{e},9",  # 13 rating_out_of_range
        f"a,x,{e},3",  # 14 duplicate_event
        f"a,x,{e},4",  # 15 accepted: another rating is another event
        f"a,x,{e},",  # 16 accepted: no rating
        " u , i,t,r",  # 17 repeated_header (its names, white space around them)
        " ,,\t,",  # 18 empty_row (a line of delimiters only: a spreadsheet's empty row)
    ]) + "\n"
    result = _check(tmp_path, text, user="u", item="i", timestamp="t", rating="r")
    assert result.rejected.select("source_row", "reason").cast({"reason": pl.String}).rows() == [
        (3, "malformed_line"), (4, "missing_user"), (5, "missing_user"), (6, "missing_item"),
        (7, "missing_timestamp"), (8, "bad_timestamp"), (9, "timestamp_out_of_window"),
        (10, "timestamp_out_of_window"), (11, "timestamp_in_future"), (12, "bad_rating"),
        (13, "rating_out_of_range"), (14, "duplicate_event"), (17, "repeated_header"), (18, "empty_row"),
    ]
    assert result.accepted["source_row"].to_list() == [2, 15, 16]
    assert list(result.by_reason) == list(REASONS)  # every reason occurs, in this order (value_counts' was random)
    assert len(result.rejected) == 14 and result.rows_in == 17
    assert result.rejected.filter(pl.col("source_row") == 8)["detail"].to_list() == ["t: later"]  # its column
    details = dict(result.rejected.select("source_row", "detail").rows())  # a bound's rejection: value and bound
    window = "is outside 2020-01-01 00:00:00 .. 2030-01-01 00:00:00 (UTC)"
    assert details[9] == f"timestamp 2019-12-31 23:59:59 {window}"
    assert details[10] == f"timestamp 2030-01-01 00:00:01 {window}"
    assert details[11] == ("timestamp 2026-11-27 12:00:01 is after 2026-11-27 12:00:00 (UTC: now + future_tolerance "
                           "0:00:00)")
    assert details[13] == "rating 9.0 is outside 1.0 .. 5.0"
    # the empty id's column as the source names it (u, i), not the field (user_id, item_id)
    assert (details[4], details[5], details[6], details[7]) == ("u is empty", "u is empty", "i is empty",
                                                                "t is empty")  # the last one's detail was empty


def test_a_header_in_another_column_order_refuses_the_file_at_its_line(tmp_path: Path) -> None:
    """Two exports with their columns in other orders, joined with cat: the second header (item_id,user_id,...)
    was one rejected row (bad_timestamp), and every row after it loaded with user and item swapped (user 177 item
    158 for user 158 item 177; a trial of 2026-12-04). No row rule can tell such a row: the file is refused at that
    line, before anything is stored, naming both orders as the file has them. Only where a time or a rating column
    holds a name, which is no value there: ids alone in another order may be data (sku,customer above; 1,0 under a
    header 0,1)."""
    e = EPOCH
    text = (f"user_id,item_id,rating,timestamp\n158,177,4,{e}\n item_id ,user_id,rating,timestamp\r\n"
            f"177,158,4,{e}\n")
    joined = r"\): files whose columns were in other orders were joined, or the names given are not in the file's order"
    with pytest.raises(SourceReadError, match=r"e\.csv: line 3 holds the column names in another order \(item_id, "
                       r"user_id, rating, timestamp; the header: user_id, item_id, rating, timestamp" + joined):
        _read(tmp_path, text, user="user_id", item="item_id", timestamp="timestamp", rating="rating")
    swapped_rating = text.replace(" item_id ,user_id,rating,timestamp", "user_id,item_id,timestamp,rating")
    with pytest.raises(SourceReadError, match=r"line 3 holds the column names in another order \(user_id, item_id, "
                       r"timestamp, rating; the header: user_id, item_id, rating, timestamp\)"):
        _read(tmp_path, swapped_rating, user="user_id", item="item_id", timestamp="timestamp", rating="rating")
    # in another case (ITEM_ID), and with a column not read swapped in (the CLI without --rating-column): refused
    upper = text.replace(" item_id ,user_id", "ITEM_ID,USER_ID")
    with pytest.raises(SourceReadError, match=r"line 3 holds the column names in another order \(ITEM_ID, USER_ID, "
                       r"timestamp; the header: user_id, item_id, timestamp\)"):
        _read(tmp_path, upper, user="user_id", item="item_id", timestamp="timestamp")
    with pytest.raises(SourceReadError, match=r"line 3 holds the column names in another order \(user_id, item_id, "
                       r"rating; the header: user_id, item_id, timestamp\)"):
        _read(tmp_path, swapped_rating, user="user_id", item="item_id", timestamp="timestamp")
    # glued to the last line of a file without a line end at its end: one record of too many columns
    glued = (f"user_id,item_id,rating,timestamp\n158,177,4,{e}\n159,178,3,{e}item_id,user_id,rating,timestamp\n"
             f"177,158,4,{e}\n")
    with pytest.raises(SourceReadError, match=r"line 3 ends with the column names in another order \(item_id, "
                       r"user_id, rating, timestamp; the header: user_id, item_id, rating, timestamp\) glued to its "
                       r"last value: a file without a line end at its end was joined"):
        _read(tmp_path, glued, user="user_id", item="item_id", timestamp="timestamp", rating="rating")
    same_order = _check(tmp_path, glued.replace("item_id,user_id,rating", "user_id,item_id,rating").replace(
        "177,158", "160,179"), user="user_id", item="item_id", timestamp="timestamp", rating="rating")
    assert same_order.by_reason == {"malformed_line": 1} and len(same_order.accepted) == 2  # the rows after: right
    # a header of a wider schema (a column appended): every row after it was one TOO MANY COLUMNS rejection
    wider = (f"user_id,item_id,timestamp\n158,177,{e}\nuser_id,item_id,timestamp,event_type\n177,158,{e},view\n")
    with pytest.raises(SourceReadError, match=r"line 3 holds the column names with more columns \(user_id,item_id,"
                       r"timestamp,event_type; the header: user_id, item_id, timestamp\): a file of a wider schema"):
        _read(tmp_path, wider, user="user_id", item="item_id", timestamp="timestamp")
    # the header again in its own order but another case: one rejected row, the header again (the rows after it are
    # right; it was bad_timestamp, and without a time column an event: helper-159)
    again = _check(tmp_path, text.replace(" item_id ,user_id,rating,timestamp", "USER_ID,ITEM_ID,RATING,TIMESTAMP"),
                   user="user_id", item="item_id", timestamp="timestamp", rating="rating")
    assert again.by_reason == {"repeated_header": 1} and len(again.accepted) == 2
    # columns not read may hold anything, and a name in a column of its own is the header again (rejected)
    fine = _check(tmp_path, f"u,i,t,note\n1,2,{e},x\nu,i,t,i\n3,4,{e},u\n", user="u", item="i", timestamp="t")
    assert fine.accepted["user_id"].to_list() == ["1", "3"] and fine.by_reason == {"repeated_header": 1}
    pandas = _check(tmp_path, "0,1\n0,1\n1,0\n", user="0", item="1", timestamp=None)  # to_csv of a bare frame
    assert pandas.accepted.select("user_id", "item_id").rows() == [("1", "0")] and pandas.by_reason == {
        "repeated_header": 1}
    # names that fix a mislabelled header, in a file of days joined with their headers: its own header again is a
    # header line (rejected), not a header in another order
    path = tmp_path / "named.csv"
    path.write_text(f"item_id,user_id,timestamp\nu1,a,{e}\nitem_id,user_id,timestamp\nu2,b,{e}\n")
    named = check_rows(read_source(SourceConfig(format="csv", path=str(path), header=True,
                                                names=("user_id", "item_id", "timestamp"))), RULES)
    assert named.accepted.select("user_id", "item_id").rows() == [("u1", "a"), ("u2", "b")]
    assert named.by_reason == {"repeated_header": 1}


def test_ids_that_exports_write_for_no_value_are_missing(tmp_path: Path) -> None:
    """An export's NULL, \\N, N/A, NaN or - for a missing id was accepted as a user or item of that name: 6% of
    item ids NULL made 'NULL' the most popular item, recommended to 23 users (a trial of 2026-12-04). They are
    missing ids, in any case and with outer spaces; a longer id holding one (NULLABLE, NA-1) is an id; and
    ``null_ids`` () keeps every text as an id (a shop whose item is called NA)."""
    e = EPOCH
    text = "\n".join(["u,i,t", f"a,NULL,{e}", f" null ,x,{e}", f"b,\\N,{e}", f"c, N/A ,{e}", f"NaN,x,{e}", f"d,-,{e}",
                      f"None,y,{e}", f"e,NULLABLE,{e}", f"f,NA-1,{e}", f"g,undefined,{e}"]) + "\n"
    result = _check(tmp_path, text, user="u", item="i", timestamp="t")
    assert result.rejected.select("source_row", "reason", "detail").cast({"reason": pl.String}).rows() == [
        (2, "missing_item", "item_id 'NULL' means no value (source setting null_ids)"),
        (3, "missing_user", "user_id ' null ' means no value (source setting null_ids)"),
        (4, "missing_item", "item_id '\\N' means no value (source setting null_ids)"),
        (5, "missing_item", "item_id ' N/A ' means no value (source setting null_ids)"),
        (6, "missing_user", "user_id 'NaN' means no value (source setting null_ids)"),
        (7, "missing_item", "item_id '-' means no value (source setting null_ids)"),
        (8, "missing_user", "user_id 'None' means no value (source setting null_ids)"),
        (11, "missing_item", "item_id 'undefined' means no value (source setting null_ids)"),
    ]
    assert result.accepted["item_id"].to_list() == ["NULLABLE", "NA-1"]
    kept = check_rows(_read(tmp_path, text, user="u", item="i", timestamp="t"), RowRules(null_ids=(), now=NOW))
    assert len(kept.rejected) == 0 and "NULL" in kept.accepted["item_id"].to_list()
    only = check_rows(_read(tmp_path, text, user="u", item="i", timestamp="t"), RowRules(null_ids=(" NA ",), now=NOW))
    assert len(only.rejected) == 0  # N/A is not NA
    own = check_rows(_read(tmp_path, f"u,i,t\na, na ,{e}\nb,x,{e}\n", user="u", item="i", timestamp="t"),
                     RowRules(null_ids=(" NA ",), now=NOW))  # a team's own, without case and outer spaces
    assert own.rejected["detail"].to_list() == ["item_id ' na ' means no value (source setting null_ids)"]


def test_the_null_ids_setting_reaches_the_reader_of_times_and_ratings(tmp_path: Path) -> None:
    """A load reads a time or rating of ``null_ids`` as no value: the rules' own markers, not the reader's default
    (a team's [] keeps NULL a bad rating, its own "?" makes "?" none)."""
    path = tmp_path / "e.csv"
    path.write_text(f"u,i,t,r\na,x,{EPOCH},NULL\nb,y,{EPOCH},?\nc,z,?,3\n")
    source = SourceConfig(format="csv", path=str(path), columns=ColumnMap(user="u", item="i", timestamp="t",
                                                                         rating="r"))
    def outcome(null_ids: tuple[str, ...]) -> list[tuple[int, str]]:
        check = read_checked(source, RowRules(null_ids=null_ids, now=NOW)).check
        return check.rejected.select("source_row", "reason").cast({"reason": pl.String}).rows()

    assert outcome(NULL_IDS) == [(3, "bad_rating"), (4, "bad_timestamp")]
    assert outcome(()) == [(2, "bad_rating"), (3, "bad_rating"), (4, "bad_timestamp")]
    assert outcome(("?",)) == [(2, "bad_rating"), (4, "missing_timestamp")]
    # a team's null ids that are numbers (user 0 is anonymous) are values as a rating or time: -1 and 0 were lost
    path.write_text(f"u,i,t,r\na,x,{EPOCH},-1\nb,y,{EPOCH},0\nc,z,{EPOCH},1\n")
    check = read_checked(source, RowRules(null_ids=("0", "-1", "?"), now=NOW)).check
    assert check.accepted["rating"].to_list() == [-1.0, 0.0, 1.0] and len(check.rejected) == 0


def test_a_header_line_inside_the_data_is_rejected_even_where_no_time_would_refuse_it(tmp_path: Path) -> None:
    """Daily files joined with their headers: without a timestamp column the repeated header 'customer,sku' was
    accepted as an event of user 'customer' and item 'sku'. A row where only some columns hold their names is
    data."""
    result = _check(tmp_path, "customer,sku\nu1,a\ncustomer,sku\nu2,b\ncustomer,x\nsku,customer\nCUSTOMER,Sku\n",
                    user="customer", item="sku", timestamp=None)
    assert result.accepted.select("user_id", "item_id").rows() == [("u1", "a"), ("u2", "b"), ("customer", "x"),
                                                                   ("sku", "customer")]
    joined = ("the column names again (customer, sku): a header line inside the data, as where files were joined "
              "with their headers")
    # in another case too (an export that writes its header in capitals: helper-159 found it accepted as an event)
    assert result.rejected.select("source_row", "reason", "detail").cast({"reason": pl.String}).rows() == [
        (3, "repeated_header", joined), (7, "repeated_header", joined)]
    # names that replace the header's: its own line again is a header too, and so is one of the names
    path = tmp_path / "named.csv"
    path.write_text("a,b,c\nu1,i1,x\na,b,c\nu2,i2,y\ncustomer,sku,z\n")
    frame = read_source(SourceConfig(format="csv", path=str(path), header=True, names=("customer", "sku", "note"),
                                     columns=ColumnMap(user="customer", item="sku", timestamp=None)))
    named = check_rows(frame, RULES)
    assert named.accepted.select("user_id", "item_id").rows() == [("u1", "i1"), ("u2", "i2")]
    assert named.rejected.select("source_row", "reason", "detail").cast({"reason": pl.String}).rows() == [
        (3, "repeated_header", "the column names again (a, b): a header line inside the data, as where files were "
                               "joined with their headers"),
        (5, "repeated_header", "the column names again (customer, sku): a header line inside the data, as where "
                               "files were joined with their headers")]
    # files joined as Excel writes them: the second header keeps its byte order mark
    path.write_text("\ufeffuser_id,item_id\nu,a\n\ufeffuser_id,item_id\nv,b\n")
    marked = check_rows(read_source(SourceConfig(format="csv", path=str(path),
                                                 columns=ColumnMap(timestamp=None))), RULES)
    assert marked.accepted.select("user_id", "item_id").rows() == [("u", "a"), ("v", "b")]
    assert marked.rejected.select("source_row", "reason").cast({"reason": pl.String}).rows() == [
        (3, "repeated_header")]
    # a file without a header whose columns nobody named has no names to repeat: column0,column1 is data
    path.write_text("u,a\ncolumn0,column1\n")
    plain = check_rows(read_source(SourceConfig(format="csv", path=str(path), header=False,
                                                columns=ColumnMap(user="column0", item="column1", timestamp=None))),
                       RULES)
    assert plain.accepted.select("user_id", "item_id").rows() == [("u", "a"), ("column0", "column1")]
    # JSON Lines have no header: an object whose values are its keys is an event
    path = tmp_path / "events.jsonl"
    path.write_text('{"customer": "customer", "sku": "sku"}\n')
    frame = read_source(SourceConfig(format="jsonl", path=str(path),
                                     columns=ColumnMap(user="customer", item="sku", timestamp=None)))
    assert check_rows(frame, RULES).accepted.select("user_id", "item_id").rows() == [("customer", "sku")]


def test_first_broken_rule_is_the_reason(tmp_path: Path) -> None:
    # a value in a column not read: a row (without any value it would be an empty_row)
    result = _check(tmp_path, "u,i,t,note\n,,,n\n,x,soon,\na,,soon,\n,,,\n", user="u", item="i", timestamp="t")
    assert result.rejected["reason"].cast(pl.String).to_list() == ["missing_user", "missing_user", "missing_item",
                                                                    "empty_row"]



def test_an_id_of_unicode_white_space_or_null_ids_is_missing_with_its_own_detail(tmp_path: Path) -> None:
    """A spreadsheet's cell of a no-break space is white space as validation reads ids (polars' Unicode \\s), not
    as the reader's SQL did (RE2's \\s is ASCII): a user id of one was missing_user with the time's detail (``t:
    \\xa0``), and a line of them no empty_row; an id of null_ids beside a time of one read "t 'NULL' means no value"
    as missing_user (helper-254). Each detail names the field of its reason."""
    e = EPOCH
    path = tmp_path / "e.csv"
    path.write_text("\n".join(["u;i;t", f"a;x;{e}", f"\xa0;x;{e}", "\xa0;\u3000;\xa0", "NULL;x;NULL", f"a;\xa0 ;{e}",
                               f"\u200b;x;{e}"]) + "\n", encoding="utf-8")
    config = SourceConfig(format="csv", path=str(path), delimiter=";",
                          columns=ColumnMap(user="u", item="i", timestamp="t"))
    result = check_rows(read_source(config), RULES)
    assert result.rejected.select("source_row", "reason", "detail").cast({"reason": pl.String}).rows() == [
        (3, "missing_user", "u is empty"),
        (4, "empty_row", "every field is empty: a line of delimiters only, as a spreadsheet's empty row"),
        (5, "missing_user", "user_id 'NULL' means no value (source setting null_ids)"),
        (6, "missing_item", "i is empty")]
    assert result.accepted["source_row"].to_list() == [2, 7]  # a zero-width space is no white space: an id


def test_duplicates_keep_the_first_and_ignore_rejected_rows(tmp_path: Path) -> None:
    e = EPOCH
    text = f"u,i,t,k\na,x,{e},view\na,x,{e},buy\na,x,{e},view\n,x,{e},view\nb,x,{e},view\nb,x,{e},view\n"
    result = _check(tmp_path, text, user="u", item="i", timestamp="t", event_type="k")
    assert result.accepted["source_row"].to_list() == [2, 3, 6]
    assert result.rejected.select("source_row", "reason").cast({"reason": pl.String}).rows() == [
        (4, "duplicate_event"), (5, "missing_user"), (7, "duplicate_event")]
    # each names the row it repeats: row 4 repeats row 2 (not 3, another event type); row 7 repeats row 6
    assert result.rejected["detail"].to_list() == [
        "the same event as source_row 2", "u is empty", "the same event as source_row 6"]


def test_a_duplicate_may_differ_in_the_case_and_outer_space_of_its_event_type(tmp_path: Path) -> None:
    """The filters take ``View`` and ``view`` for one type (event_types: [view] selects both), so they are one
    event where everything else agrees: before, both rows were kept and the sequences held the item twice."""
    e = EPOCH
    text = f"u,i,t,k\na,x,{e},view\na,x,{e},View\na,x,{e},\u3000VIEW\u3000\na,x,{e},buy\nb,x,{e},İade\nb,x,{e},iade\n"
    result = _check(tmp_path, text, user="u", item="i", timestamp="t", event_type="k")
    assert result.accepted["source_row"].to_list() == [2, 5, 6]
    assert result.rejected.select("source_row", "reason", "detail").cast({"reason": pl.String}).rows() == [
        (3, "duplicate_event", "the same event as source_row 2"),
        (4, "duplicate_event", "the same event as source_row 2"),
        (7, "duplicate_event", "the same event as source_row 6")]  # DuckDB's lower, as the filters': İ is i
    assert result.rejected["event_type"].to_list() == ["View", "\u3000VIEW\u3000", "iade"]  # kept as written


def test_a_duplicate_of_a_row_without_source_row_is_still_rejected(tmp_path: Path) -> None:
    e = EPOCH
    frame = _read(tmp_path, f"u,i,t\na,x,{e}\na,x,{e}\nb,x,{e}\n", user="u", item="i", timestamp="t")
    frame = frame.with_columns(pl.when(pl.col("source_row") == 2).then(None).otherwise("source_row")
                               .alias("source_row"))  # a reader that gives no row number for the first
    result = check_rows(frame, RULES)
    assert result.accepted["user_id"].to_list() == ["a", "b"]
    assert result.rejected.select("source_row", "reason", "detail").cast({"reason": pl.String}).rows() == [
        (3, "duplicate_event", "the same event as an earlier row")]


def test_duplicates_are_found_within_a_file_only(tmp_path: Path) -> None:
    e = EPOCH
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.csv").write_text(f"u,i,t\na,x,{e}\nb,y,{e}\na,x,{e}\n")
    (folder / "b.csv").write_text(f"u,i,t\na,x,{e}\nb,y,{e + 1}\nb,y,{e + 1}\n")
    config = SourceConfig(format="csv", path=str(folder), columns=ColumnMap("u", "i", "t"))
    together = check_rows(read_source(config), RULES)
    rows = ["source_file", "source_row"]
    assert [(Path(f).name, r) for f, r in together.accepted.select(rows).rows()] == [
        ("a.csv", 2), ("a.csv", 3), ("b.csv", 2), ("b.csv", 3)]  # the same event in two files: one row per file
    assert [(Path(f).name, r) for f, r in together.rejected.select(rows).rows()] == [("a.csv", 4), ("b.csv", 4)]
    assert together.by_reason == {"duplicate_event": 2}
    # each file's outcome is the same whether it is checked alone or with the other
    for name in ("a.csv", "b.csv"):
        alone = check_rows(read_source(SourceConfig(format="csv", path=str(folder / name),
                                                    columns=ColumnMap("u", "i", "t"))), RULES)
        of_file = pl.col("source_file").cast(pl.String).str.ends_with(name)
        assert alone.accepted.equals(together.accepted.filter(of_file))
        assert alone.rejected.equals(together.rejected.filter(of_file))


def test_events_without_time_are_never_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "seq.txt"
    path.write_text("1 5 5 5\n")
    result = check_rows(read_source(SourceConfig(format="sequence", path=str(path))), RULES)
    assert len(result.accepted) == 3 and result.rejected.is_empty()



def test_bounds_are_inclusive_and_the_future_tolerance_is_added_to_now(tmp_path: Path) -> None:
    """A timestamp at the window's bounds and a rating at its bounds are accepted, one second or 0.5 past is not;
    the future check allows ``future_tolerance`` after ``now``, and ``reject_future=False`` turns it off."""
    low, high, now = datetime(2020, 1, 1), datetime(2021, 1, 1), datetime(2022, 6, 1)
    epoch = [int((t - datetime(1970, 1, 1)).total_seconds()) for t in (low, high, now)]
    text = "u,i,t,r\n" + "".join(f"a,{item},{t},{r}\n" for item, t, r in [
        ("low", epoch[0], 3), ("high", epoch[1], 3), ("before", epoch[0] - 1, 3), ("after", epoch[1] + 1, 3),
        ("r1", epoch[0], 1), ("r5", epoch[0], 5), ("r0", epoch[0], 0.5), ("r6", epoch[0], 5.5)])
    path = tmp_path / "b.csv"
    path.write_text(text)
    config = SourceConfig(format="csv", path=str(path), columns=ColumnMap("u", "i", "t", rating="r"))
    bounded = check_rows(read_source(config), RowRules(min_timestamp=low, max_timestamp=high, now=now,
                                                       min_rating=1.0, max_rating=5.0))
    assert bounded.accepted["item_id"].to_list() == ["low", "high", "r1", "r5"]
    assert bounded.rejected.select("item_id", "reason").cast({"reason": pl.String}).rows() == [
        ("before", "timestamp_out_of_window"), ("after", "timestamp_out_of_window"),
        ("r0", "rating_out_of_range"), ("r6", "rating_out_of_range")]

    path.write_text("u,i,t\n" + "".join(f"a,{item},{epoch[2] + s}\n" for item, s in [
        ("in_tolerance", 3599), ("at_tolerance", 3600), ("past_tolerance", 3601), ("days_ahead", 10 * 86400)]))
    config = SourceConfig(format="csv", path=str(path), columns=ColumnMap("u", "i", "t"))
    future = check_rows(read_source(config), RowRules(now=now, future_tolerance=timedelta(hours=1)))
    assert future.accepted["item_id"].to_list() == ["in_tolerance", "at_tolerance"]
    assert future.by_reason == {"timestamp_in_future": 2}
    allowed = check_rows(read_source(config), RowRules(now=now, future_tolerance=timedelta(hours=1),
                                                       reject_future=False))
    assert len(allowed.accepted) == 4 and allowed.rejected.is_empty()


def test_the_default_now_is_utc_whatever_the_local_time_zone(tmp_path: Path) -> None:
    """Timestamps are naive UTC, so the future check's default ``now`` is the UTC time, also on a machine whose
    local zone is 14 hours ahead (an event 1 hour ahead of UTC is in the future, one 1 hour ago is not)."""
    utc_now = datetime.now(timezone.utc).replace(tzinfo=None)
    seconds = int((utc_now - datetime(1970, 1, 1)).total_seconds())
    path = tmp_path / "tz.csv"
    path.write_text(f"u,i,t\na,ahead,{seconds + 3600}\na,ago,{seconds - 3600}\n")
    frame = read_source(SourceConfig(format="csv", path=str(path), columns=ColumnMap("u", "i", "t")))
    zone = os.environ.get("TZ")
    os.environ["TZ"] = "Etc/GMT-14"  # POSIX sign: UTC+14
    time.tzset()
    try:
        assert datetime.now() - utc_now > timedelta(hours=13)  # the zone took effect
        result = check_rows(frame)
    finally:
        if zone is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = zone
        time.tzset()
    assert result.accepted["item_id"].to_list() == ["ago"]
    assert result.by_reason == {"timestamp_in_future": 1}


def test_rejected_rows_are_in_file_then_row_order_with_reasons_of_the_reason_type(tmp_path: Path) -> None:
    """Rejected rows come sorted by source file, then row, even when the frame lists a later file first; the
    reason column is the Enum of :data:`REASONS` (duplicates included)."""
    e = EPOCH
    (tmp_path / "a.csv").write_text(f"u,i,t\n,x,{e}\n,y,{e}\nc,z,{e}\n")
    (tmp_path / "b.csv").write_text(f"u,i,t\nb,x,{e}\nb,x,{e}\n")
    frames = [read_source(SourceConfig(format="csv", path=str(tmp_path / name), columns=ColumnMap("u", "i", "t")))
              for name in ("b.csv", "a.csv")]
    result = check_rows(pl.concat(frames), RULES)
    assert [(Path(f).name, r, reason) for f, r, reason in result.rejected.select(
        "source_file", "source_row", pl.col("reason").cast(pl.String)).rows()] == [
        ("a.csv", 2, "missing_user"), ("a.csv", 3, "missing_user"), ("b.csv", 3, "duplicate_event")]
    assert result.rejected.schema["reason"] == pl.Enum(REASONS)


# --- generated malformed rows: never a crash, never a lost row, counts reconcile --------------------------

_ID = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters=',"'),
              max_size=5) | st.sampled_from(["", " ", "\t", "007", "7", "NULL", " n/a ", "-"])
_TS = st.one_of(
    st.tuples(st.just("ok"), st.integers(MIN_EPOCH, NOW_EPOCH).map(str)),
    st.tuples(st.just("ok"), st.sampled_from([f"{EPOCH}", f"{EPOCH}.25", f" {EPOCH} "])),
    st.tuples(st.just("missing"), st.sampled_from(["", " ", "  \t"])),
    st.tuples(st.just("bad"), st.text(alphabet="abcxyzEinf-:", min_size=1, max_size=8)),
    st.tuples(st.just("window"), st.integers(0, MIN_EPOCH - 1).map(str) | st.integers(MAX_EPOCH + 1, 10**11).map(str)),
    st.tuples(st.just("future"), st.integers(NOW_EPOCH + 1, MAX_EPOCH).map(str)),
)


_RATING = st.one_of(
    st.tuples(st.just("ok"), st.sampled_from(["1", "3", "4.5", "5", " 2 "])),
    st.tuples(st.just("none"), st.just("")),
    st.tuples(st.just("bad"), st.sampled_from(["five", "x", "inf", "*"])),
    st.tuples(st.just("none"), st.sampled_from(["nan", " NULL ", "-"])),  # an export's text for no value
    st.tuples(st.just("range"), st.sampled_from(["0", "9", "-1", "5.01"])),
)


@st.composite
def _lines(draw) -> list[tuple[bytes, str | None, tuple]]:
    """Lines of a CSV with columns u,i,t,r, each with the reason an oracle expects (None: accepted) and its
    event key."""
    out = []
    for _ in range(draw(st.integers(1, 25))):
        user, item, (kind, ts), (rating_kind, rating) = draw(_ID), draw(_ID), draw(_TS), draw(_RATING)
        if kind == "bad" and ts.strip().lower() in NULL_IDS:  # "-", "nan": a time of no value
            kind = "missing"
        fields = [user, item, ts, rating] + draw(st.sampled_from([[], [], [], ["extra"]]))
        if draw(st.integers(0, 9)) == 0:
            fields = fields[:3]
        raw = ",".join(fields).encode()
        if draw(st.integers(0, 14)) == 0:
            raw = raw[:1] + b"\xff" + raw[1:]  # not UTF-8
        broken = {  # in the order of REASONS
            # a line of delimiters only is a spreadsheet's empty row, also of fewer fields (helper-260)
            "malformed_line": (len(fields) > 4 or len(fields) < 4 and "".join(fields).strip() != "") or b"\xff" in raw,
            "empty_row": not "".join(fields).strip(),
            "missing_user": not user.strip() or user.strip().lower() in NULL_IDS,
            "missing_item": not item.strip() or item.strip().lower() in NULL_IDS,
            "missing_timestamp": kind == "missing",
            "bad_timestamp": kind == "bad",
            "timestamp_out_of_window": kind == "window",
            "timestamp_in_future": kind == "future",
            "bad_rating": rating_kind == "bad",
            "rating_out_of_range": rating_kind == "range",
        }
        reason = next((code for code, hit in broken.items() if hit), None)
        key = (user, item, float(ts) if kind == "ok" else None, float(rating) if rating_kind == "ok" else None)
        out.append((raw, reason, key))
    for i in draw(st.lists(st.integers(0, len(out) - 1), max_size=4)):
        out.append(out[i])  # exact repeats of earlier lines
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=_lines())
def test_generated_malformed_rows_reconcile(lines: list[tuple[bytes, str | None, tuple]]) -> None:
    seen, expected = set(), []
    for _, reason, key in lines:
        if reason is None and key in seen:
            reason = "duplicate_event"
        elif reason is None:
            seen.add(key)
        expected.append(reason)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.csv"
        path.write_bytes(b"u,i,t,r\n" + b"\n".join(raw for raw, _, _ in lines) + b"\n")
        db = Path(tmp) / "w.duckdb"
        report, check = ingest(
            SourceConfig(format="csv", path=str(path), columns=ColumnMap("u", "i", "t", "r")), RULES, db)
        counts = warehouse.table_counts(db)
    assert report.rows_in == len(lines) == report.accepted + report.rejected
    assert counts["raw_interactions"] == report.accepted and counts["rejected_interactions"] == report.rejected
    got = {row: reason for row, reason in check.rejected.select("source_row", pl.col("reason").cast(pl.String)).rows()}
    assert got == {n + 2: r for n, r in enumerate(expected) if r is not None}
    accepted = check.accepted.select("source_row", "user_id", "item_id").rows()
    assert accepted == [(n + 2, lines[n][2][0], lines[n][2][1]) for n, r in enumerate(expected) if r is None]


@settings(max_examples=25, deadline=None)
@given(lines=st.lists(st.text(alphabet=st.characters(blacklist_characters="\n\r\x00"), max_size=30), max_size=15))
def test_generated_jsonl_lines_never_crash_or_vanish(lines: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "e.jsonl"
        path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass") + b"\n")  # surrogates: not UTF-8
        check = check_rows(read_source(SourceConfig(format="jsonl", path=str(path))), RULES)
    assert check.rows_in == sum(1 for line in lines if line.strip("\r") != "")
    assert len(check.accepted) + len(check.rejected) == check.rows_in


# --- data-set expectations (Great Expectations) ------------------------------------------------------------


def _row_check(n_users: int, per_user: int, rejected: int) -> RowCheck:
    users = np.repeat(np.arange(n_users), per_user).astype(str)
    accepted = pl.DataFrame({"user_id": users, "item_id": np.tile(np.arange(per_user), n_users).astype(str),
                             "timestamp": [datetime(2026, 3, 1)] * len(users)})
    rejected_rows = pl.DataFrame({"reason": ["missing_user"] * rejected})
    return RowCheck(accepted, rejected_rows, len(accepted) + rejected, {"missing_user": rejected})


def test_interaction_expectations_pass_and_fail() -> None:
    check = _row_check(10, 5, rejected=1)
    ok = expect_interactions(check.accepted, check, ExpectationConfig(min_rows=50, min_users=10, min_items=5,
                                                                      max_rejected_share=0.05))
    assert ok.success and not ok.failed
    assert {o.expectation for o in ok.outcomes} >= {
        "expect_table_row_count_to_be_between", "expect_column_proportion_of_non_null_values_to_be_between",
        "expect_column_unique_value_count_to_be_between", "expect_column_max_to_be_between"}
    check = _row_check(10, 5, rejected=10)
    bad = expect_interactions(check.accepted.with_columns(timestamp=pl.lit(None, pl.Datetime("us"))), check,
                              ExpectationConfig(min_rows=51, min_users=11, max_rejected_share=0.1))
    assert not bad.success
    failed = {(o.expectation, o.column): o.observed for o in bad.failed}
    assert failed == {
        ("expect_table_row_count_to_be_between", None): 50,
        ("expect_column_unique_value_count_to_be_between", "user_id"): 10,
        ("expect_column_proportion_of_non_null_values_to_be_between", "timestamp"): 0.0,
        ("expect_column_max_to_be_between", "rejected_share"): pytest.approx(10 / 60),
    }
    assert bad.to_dict()["success"] is False


def test_a_reason_with_a_share_of_its_own_is_measured_apart_from_max_rejected_share() -> None:
    """A clickstream's anonymous events (missing_user) and its repeats refused the load through max_rejected_share,
    whose only remedy, a higher share, let every reason through (helper-172): a reason of
    max_rejected_share_by_reason is measured against its own share, the others together against
    max_rejected_share."""
    accepted = _row_check(10, 6, rejected=0).accepted  # 60 rows
    check = RowCheck(accepted, pl.DataFrame({"reason": ["missing_user"] * 30 + ["bad_timestamp"] * 4}), 94,
                     {"missing_user": 30, "bad_timestamp": 4})

    def failed(**config) -> dict:
        report = expect_interactions(accepted, check, ExpectationConfig(**config))
        return {(o.column, o.setting): o.observed for o in report.failed}

    assert failed() == {("rejected_share", "max_rejected_share"): pytest.approx(34 / 94)}
    assert failed(max_rejected_share_by_reason={"missing_user": 0.4}) == {}  # 4 / 94 bad times: within 0.05
    assert failed(max_rejected_share_by_reason={"missing_user": 0.3}) == {
        ("missing_user_share", "max_rejected_share_by_reason.missing_user"): pytest.approx(30 / 94)}
    assert failed(max_rejected_share=0.04, max_rejected_share_by_reason={"missing_user": 0.4,
                                                                         "duplicate_event": 0.0}) == {
        ("rejected_share", "max_rejected_share"): pytest.approx(4 / 94)}  # a reason without rows: share 0
    with pytest.raises(ValueError, match=r"max_rejected_share_by_reason names no rejection reason: anonymous \(the "
                                         r"reasons: malformed_line, .*\); max_rejected_share_by_reason.missing_user = "
                                         r"1.5: must be 0 or more, at most 1"):
        ExpectationConfig(max_rejected_share_by_reason={"anonymous": 0.4, "missing_user": 1.5})


def test_a_files_rejected_rows_of_a_reason_with_a_share_of_its_own_do_not_count_against_max_rejected_share() -> None:
    """The notice of a file whose own share of rejected rows is above max_rejected_share, hidden by the load's other
    files: rows of a reason with a share of its own (anonymous events) do not count (helper-172)."""
    from elcrec_core.data.rejections import rejected_files_note

    accepted = pl.DataFrame({"source_file": ["a.csv"] * 90 + ["b.csv"] * 7})
    rejected = pl.DataFrame({"source_file": ["b.csv"] * 3, "source_row": [2, 3, 4],
                             "reason": ["missing_user"] * 3, "detail": ["user_id is empty"] * 3})
    check = RowCheck(accepted, rejected, 100, {"missing_user": 3})
    assert "b.csv: 10 rows read, 7 accepted, 3 rejected (missing_user: 3)" in rejected_files_note(
        check, 0.05, "csv", ["a.csv", "b.csv"])
    assert rejected_files_note(check, 0.05, "csv", ["a.csv", "b.csv"], apart={"missing_user": 0.4}) == ""
    # b.csv flagged for its 10 bad times (10% > 5%): its first row shown was one of the 50 anonymous events, which
    # have a share of their own (helper-235); now the first of those it is judged by
    accepted = pl.DataFrame({"source_file": ["a.csv"] * 900 + ["b.csv"] * 40})
    rejected = pl.DataFrame({"source_file": ["b.csv"] * 60, "source_row": list(range(2, 62)),
                             "reason": ["missing_user"] * 50 + ["bad_timestamp"] * 10,
                             "detail": ["user_id is empty"] * 50 + ["timestamp: 'x'"] * 10})
    check = RowCheck(accepted, rejected, 1000, {"missing_user": 50, "bad_timestamp": 10})
    assert rejected_files_note(check, 0.05, "csv", ["a.csv", "b.csv"], apart={"missing_user": 0.6}).endswith(
        "b.csv: 100 rows read, 40 accepted, 60 rejected (missing_user: 50, bad_timestamp: 10); the first without a "
        "share of its own: line 52: bad_timestamp (timestamp: 'x'). The rejected rows are kept in "
        "rejected_interactions")


def test_a_rejected_share_above_its_bound_shows_the_digits_that_set_it_above() -> None:
    """0.445% over a bound of 0.0044 read 0.4%; 500,001 of 10,000,000 rows over 0.05 read 5.0000% (helper-235)."""
    from elcrec_core.data.rejections import percent_above

    assert [percent_above(0.3, 0.05), percent_above(0.00445, 0.0044), percent_above(500_001 / 10_000_000, 0.05)] \
        == ["30.0%", "0.45%", "5.00001%"]


def test_sequence_expectations_pass_and_fail() -> None:
    profile = pl.DataFrame({"user_id": ["a", "b", "c"], "length": [5, 7, 300],
                            "timestamps_monotonic": [True, True, False]})
    report = expect_sequences(profile, ExpectationConfig(min_length=5, max_length=200))
    assert not report.success
    assert {(o.column, o.unexpected_count) for o in report.failed} == {("length", 1), ("timestamps_monotonic", 1)}
    assert expect_sequences(profile.head(2), ExpectationConfig(min_length=5, max_length=200)).success


def test_sequence_expectations_need_one_user_and_name_their_suite() -> None:
    """The row-count expectation: at least 1 user (one passes, none fails); the suite is named ``sequences``, as
    the sequence_expectations check shows it."""
    config = ExpectationConfig(min_length=5, max_length=200)
    one = pl.DataFrame({"user_id": ["a"], "length": [5], "timestamps_monotonic": [True]})
    report = expect_sequences(one, config)
    assert report.success and report.suite == "sequences"
    (row_count,) = [o for o in report.outcomes if o.expectation == "expect_table_row_count_to_be_between"]
    assert (row_count.observed, row_count.kwargs["min_value"]) == (1, 1)
    empty = expect_sequences(one.head(0), config)
    assert not empty.success
    assert [o.expectation for o in empty.failed] == ["expect_table_row_count_to_be_between"]


def test_interaction_expectations_report_each_expectation_with_its_settings(capfd: pytest.CaptureFixture) -> None:
    """A null share within ``max_null_rate`` and a rejected share within its maximum pass; every outcome carries
    its observed value and its settings (no GX batch id), the suite is named ``interactions``, and GX prints
    nothing (no progress bars in the run's log)."""
    check = _row_check(10, 1, rejected=1)
    events = check.accepted.with_columns(
        timestamp=pl.when(pl.col("user_id") == "9").then(None).otherwise(pl.col("timestamp")))
    report = expect_interactions(events, check, ExpectationConfig(
        max_null_rate={"user_id": 0.0, "item_id": 0.0, "timestamp": 0.1}, max_rejected_share=1 / 11))
    assert report.success and report.suite == "interactions"
    outcomes = {(o.expectation, o.column): (o.success, o.observed, o.kwargs) for o in report.outcomes}
    nulls = "expect_column_proportion_of_non_null_values_to_be_between"
    distinct = "expect_column_unique_value_count_to_be_between"
    assert outcomes == {
        ("expect_table_row_count_to_be_between", None): (True, 10, {"min_value": 1}),
        (nulls, "user_id"): (True, 1.0, {"column": "user_id", "min_value": 1.0}),
        (nulls, "item_id"): (True, 1.0, {"column": "item_id", "min_value": 1.0}),
        (nulls, "timestamp"): (True, 0.9, {"column": "timestamp", "min_value": 0.9}),
        (distinct, "user_id"): (True, 10, {"column": "user_id", "min_value": 1}),
        (distinct, "item_id"): (True, 1, {"column": "item_id", "min_value": 1}),
        ("expect_column_max_to_be_between", "rejected_share"): (
            True, 1 / 11, {"column": "rejected_share", "max_value": 1 / 11}),
    }
    sequences = expect_sequences(pl.DataFrame({"length": [5], "timestamps_monotonic": [True]}),
                                 ExpectationConfig(min_length=5, max_length=200))
    assert {o.column: o.kwargs for o in sequences.outcomes if o.column} == {
        "length": {"column": "length", "min_value": 5, "max_value": 200},
        "timestamps_monotonic": {"column": "timestamps_monotonic", "value_set": [True]}}
    assert capfd.readouterr().err == ""


def test_expectations_leave_a_gx_project_in_the_working_directory_alone(tmp_path: Path, monkeypatch) -> None:
    """The suites run in an ephemeral GX context: run from a folder that holds a team's own GX file project, they
    add nothing to it (no suite, data source or validation definition written there)."""
    import great_expectations as gx

    gx.get_context(mode="file", project_root_dir=tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    snapshot = {p: (tmp_path / p).read_bytes() for p in before}
    monkeypatch.chdir(tmp_path)
    assert expect_sequences(pl.DataFrame({"length": [5], "timestamps_monotonic": [True]})).success
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert after == before and {p: (tmp_path / p).read_bytes() for p in after} == snapshot


def test_the_rows_shown_of_a_refused_load_put_the_reasons_of_a_share_of_their_own_last() -> None:
    """482 anonymous events (a share of their own, within it) and 370 repeats came before the 5 bad times that refused
    the load, which the 3 rows shown then left out (helper-229): the reasons max_rejected_share judges come first."""
    from elcrec_core.data.rejections import example_rows

    counts = {"missing_user": 482, "duplicate_event": 370, "bad_timestamp": 5, "malformed_line": 5}
    rejected = pl.DataFrame({"reason": [reason for reason, n in counts.items() for _ in range(n)],
                             "source_row": list(range(sum(counts.values())))})
    shown, said = example_rows(rejected, apart={"missing_user", "duplicate_event"})
    assert shown["reason"].to_list() == ["malformed_line", "bad_timestamp", "missing_user"]  # ties: REASONS' order
    assert said == "the first rejected of 3 reasons, those without a share of their own first, each most frequent first"
    shown, said = example_rows(rejected)  # no share of their own: the most frequent
    assert (shown["reason"].to_list(), said) == (["missing_user", "duplicate_event", "malformed_line"],
                                                 "the first rejected of the 3 most frequent reasons")


def test_a_window_whose_minimum_is_above_its_maximum_is_refused_naming_both() -> None:
    """Swapped bounds rejected every row, and the load's error then guessed at the format; now they are refused
    before any row is read, in the source settings and on the command line alike. Equal bounds are a window."""
    with pytest.raises(ValueError, match=r"^min_timestamp 2026-12-03 05:00:00 is above max_timestamp 2026-03-08 "
                                         r"05:00:00 \(UTC\): every row would be rejected \(the two swapped\?\)$"):
        DataOptions(timezone="America/New_York", min_timestamp="2026-12-03", max_timestamp="2026-03-08").row_rules()
    with pytest.raises(ValueError, match=r"^min_rating 5.0 is above max_rating 1.0: every row"):
        SourceSettings(format="csv", path="e.csv", min_rating=5, max_rating=1).resolved({}).row_rules()
    assert RowRules(min_rating=3.0, max_rating=3.0).min_rating == 3.0
