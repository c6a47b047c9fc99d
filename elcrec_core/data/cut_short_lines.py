"""A delimited file's last line cut short: a file copied or read while still being written ends in half a line,
without a line end. Its values may still read as values (``C00`` for the user ``C0017``, ``1767`` for the time
``1767225600``), so the line is judged against the file's other rows."""

from __future__ import annotations

import csv
from collections.abc import Mapping

import polars as pl

from elcrec_core.data.event_normalisation import rejected_where
from elcrec_core.data.validation import CUT_SHORT

MIN_IDS_TO_COMPARE = 10  # other rows of the file before a value is judged shorter than every other
_EPOCH_UNITS = {"epoch_s": "s", "epoch_ms": "ms", "epoch_us": "us"}
_SHORT = "MISSING COLUMNS: "  # DuckDB's words for a record of too few fields, before its line
LAST_LINE_OPEN = (" (the file's last line, without a line end: the file may be cut short, copied or read while still "
                  "being written)")


def _shapes(ids: pl.Series) -> pl.Series:
    """The form of each id: each digit 9, each letter a, anything else itself (``C0017``: ``a9999``)."""
    return ids.str.replace_all("[0-9]", "9").str.replace_all("[^0-9\\W_]", "a")


def last_line_cut_short(frame: pl.DataFrame, fields: Mapping[str, str | None],
                        timestamp_format: str) -> pl.DataFrame:
    """``frame`` (normalised events of one delimited file, in file order, whose last row is the file's last line and
    has no line end) where that row's user or item id is shorter than every other of the file (of at least
    :data:`MIN_IDS_TO_COMPARE` rows), which are all of one length and one form (letters and digits in the same
    places), and the start of that form: ``malformed_line``, as the last line of a file still being written or
    copied, cut short (``C00`` for ``C0017``: a user who does not exist). Ids of many lengths or forms (``u7`` among
    ``u12``, ``guest`` among UUIDs) and a number (user 9 among 907) are not judged. An epoch time of fewer digits
    than every other of the file, all of one count (``1767`` for ``1767225600``, read as 1970-01-01), is its
    ``bad_timestamp`` (no file without times, nor of times before 1970, is judged so). A time or rating on that line
    that cannot be read (``21:4`` for ``21:45``) keeps its reason, and its detail says where it is (helper-186)
    where it is the file's only one of that reason: not ``4,5`` where each rating is written so (helper-195)."""
    if (reason := frame["error"][-1]) in ("bad_timestamp", "bad_rating"):
        alone = (frame["error"] == reason).sum() == 1
        return frame.with_columns(detail=pl.when((pl.int_range(pl.len()) == pl.len() - 1) & alone).then(
            pl.col("detail") + CUT_SHORT).otherwise("detail"))
    if len(frame) <= MIN_IDS_TO_COMPARE or reason is not None:
        return frame
    others = frame.head(-1).filter(pl.col("error").is_null())
    if len(others) < MIN_IDS_TO_COMPARE:
        return frame
    last = pl.int_range(pl.len()) == pl.len() - 1
    for alias, column in (("u", "user_id"), ("i", "item_id")):
        value, lengths = frame[column][-1], others[column].str.len_chars()
        if value is None or value.isdigit() or not len(value) < lengths.min() == lengths.max():
            continue  # a number of fewer digits may be an id (user 9 beside 907)
        shapes = _shapes(others[column]).unique()
        if len(shapes) == 1 and shapes[0].startswith(_shapes(pl.Series([value]))[0]):  # C00: C9999's start
            detail = (f"{fields[alias]} {value!r} is shorter than every other of the file, all {lengths.min()} "
                      "characters of one form, on its last line, which has no line end: the file cut short?")
            return rejected_where(frame, last, "malformed_line", pl.lit(detail))
    unit = _EPOCH_UNITS.get(timestamp_format) if fields.get("t") else None  # no time column: no time to judge
    if unit and frame["timestamp"][-1] is not None:
        number, times = frame["timestamp"].tail(1).dt.epoch(unit)[0], others["timestamp"].drop_nulls().dt.epoch(unit)
        digits = times.cast(pl.String).str.len_chars()
        judged = len(times) >= MIN_IDS_TO_COMPARE and min(number, times.min()) >= 0  # times before 1970: not judged
        if judged and len(str(number)) < digits.min() == digits.max():
            detail = (f"{fields['t']}: {number} has fewer digits than every other time of the file ({timestamp_format},"
                      f" all {digits.min()} digits), on its last line, which has no line end: the file cut short?")
            return rejected_where(frame, last, "bad_timestamp", pl.lit(detail))
    return frame


def short_lines(rejects: pl.DataFrame, columns: list[str], ids: Mapping[str, str], delimiter: str,
                quote: str | None, open_line: int | None) -> pl.DataFrame:
    """``rejects`` (malformed records: ``source_row``, ``reason``, ``detail`` as DuckDB's error type and the line)
    with each record of too few of the file's ``columns`` told in the project's words, ``a line with 2 of 5 fields:
    C0017,SKU-10`` (DuckDB's read ``MISSING COLUMNS: C0017,SKU-10``), that of line ``open_line``, the file's last
    where it ends without a line end (else None), saying that the file may be cut short (:data:`LAST_LINE_OPEN`),
    and a column
    for each alias of ``ids`` (alias -> column name) holding the value of that column where the line has it (the
    user and item of a line cut short: helper-275's rejected row had neither), else null."""
    short = rejects.with_row_index("at").filter(pl.col("detail").str.starts_with(_SHORT))
    details, found = [], {alias: [] for alias in ids}
    for row, detail in zip(short["source_row"], short["detail"]):
        line = detail.removeprefix(_SHORT)
        values = _fields(line, delimiter, quote)
        details.append(f"a line with {len(values)} of {len(columns)} fields: {line}"
                       + (LAST_LINE_OPEN if row == open_line else ""))
        for alias, column in ids.items():
            place = columns.index(column)
            found[alias].append(values[place] if place < len(values) else None)
    at = short["at"]
    return rejects.with_columns(rejects["detail"].clone().scatter(at, details), *(
        pl.Series(alias, [None] * len(rejects), pl.String).scatter(at, values) for alias, values in found.items()))


def _fields(line: str, delimiter: str, quote: str | None) -> list[str]:
    """The fields of the text ``line`` of a delimited file (``quote``: None for none)."""
    if len(delimiter) != 1:  # the csv module's delimiter is one character
        return line.split(delimiter)
    return next(csv.reader([line], delimiter=delimiter, quotechar=quote or None,
                           quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE), [""])
