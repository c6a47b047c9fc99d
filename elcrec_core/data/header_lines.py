"""A header line again inside delimited text, as where daily files were joined with their headers (``cat day1.csv
day2.csv``): the SQL with which :func:`elcrec_core.data.duckdb_reading.read_delimited` marks such a record
``repeated_header`` (a rejected row that names the header, not an event of user ``user_id``), and the refusal of a
file that holds the header in another column order (files of other column orders joined: the rows after it would
be read into the wrong columns). Also a header read as data, in a file that the settings say has none."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl

from elcrec_core.data.event_normalisation import sql_text
from elcrec_core.data.files import SourceReadError
from elcrec_core.data.warehouse import quote_identifier

# around a name: spaces, tabs, the CR of a CR LF line end, and the byte order mark that a second file's header keeps
# where files were joined (an Excel "CSV UTF-8" export starts with one; only the first file's is the file's)
_WHITESPACE = "' ' || chr(9) || chr(13) || chr(65279)"
REORDERED = "the column names in another order ("  # the detail of such a record, before its names


def repeated_header_sql(wanted: Mapping[str, str | None], columns: Sequence[str],
                        headers: Sequence[Sequence[str]], typed: Mapping[str, str] | None = None) -> tuple[str, str]:
    """SQL expressions (no aliases) for the ``error`` and ``detail`` columns of a record of delimited text:
    ``'repeated_header'`` and the names where each ``wanted`` column (alias -> its name in ``columns``, the file's
    columns) holds that column's name in one of ``headers`` (each a name per column: the names given, the file's own
    header that they replace), white space around it and case aside; NULL and NULL otherwise, or with no
    ``headers`` (a file without a header whose columns nobody named). The other columns are not compared: a line
    may hold anything there.

    Where the wanted columns hold names of the header's columns (of any, in any case) in another order, and one of
    them is of the aliases ``typed`` (a time, a rating, a 0/1 flag: a name there is no value, so the line is no
    record of data), the detail is :data:`REORDERED` with the line's names and the header's, in the file's column
    order, which :func:`refuse_reordered_header` refuses. Ids alone in another order (``sku,customer``) may be
    data."""
    if not headers:
        return "NULL::VARCHAR", "NULL::VARCHAR"
    picked = sorted((column for column in wanted.values() if column is not None), key=columns.index)
    # and the quotes around a name that a byte order mark before it kept (files joined with cat: DuckDB reads
    # \ufeff"User ID" as text, quotes and all, helper-209); a value of quotes as data is compared as it is
    values = [f"CASE WHEN starts_with({quote_identifier(column)}, chr(65279)) THEN trim(trim({quote_identifier(column)}"
              f", {_WHITESPACE}), '\"') ELSE trim({quote_identifier(column)}, {_WHITESPACE}) END" for column in picked]
    listed = f"list_value({', '.join(values)})"
    same, others = [], []  # every header's own order first: a line of the file's own header is that header again
    for names in headers:
        texts = [names[columns.index(column)] for column in picked]
        said = f"the column names again ({', '.join(texts)}): a header line inside the data, as where files were " \
               "joined with their headers"
        same.append((" AND ".join(f"lower({value}) = {sql_text(text.lower())}" for value, text in zip(values, texts)),
                     sql_text(said)))  # in any case: CUSTOMER,SKU where the header is customer,sku
        if any(wanted.get(alias) is not None for alias in typed or {}):
            lower = [f"lower({value})" for value in values]
            every = ", ".join(sql_text(name.strip().lower()) for name in names)  # a column not read may be swapped in
            condition = (f"len(list_distinct(list_value({', '.join(lower)}))) = {len(values)} AND "
                         + " AND ".join(f"{value} IN ({every})" for value in lower)
                         + " AND NOT (" + " AND ".join(f"{value} = {sql_text(text.strip().lower())}"
                                                      for value, text in zip(lower, texts)) + ")")
            others.append((condition, f"{sql_text(REORDERED)} || array_to_string({listed}, ', ') || "
                                      f"{sql_text('; the header: ' + ', '.join(texts) + ')')}"))
    error = " ".join(f"WHEN {condition} THEN 'repeated_header'" for condition, _ in same + others)
    detail = " ".join(f"WHEN {condition} THEN {said}" for condition, said in same + others)
    return f"CASE {error} END", f"CASE {detail} END"


def refuse_reordered_header(path: Path, frame: pl.DataFrame) -> None:
    """Raise :class:`~elcrec_core.data.files.SourceReadError` naming the first record of ``frame`` (read with
    :func:`repeated_header_sql`: ``detail``, ``source_row``) that holds the column names in another order than the
    header: files whose columns were in other orders were joined (``cat``), or names were given in another order
    than the file's header, and the rows after it would be read into the wrong columns (an item id as the user),
    which no row rule can tell."""
    reordered = frame.filter(pl.col("detail").str.starts_with(REORDERED).fill_null(False))
    if len(reordered):
        row, said = reordered["source_row"][0], reordered["detail"][0]
        raise SourceReadError(path, f"line {row} holds {said}: files whose columns were in other orders were joined, "
                                    "or the names given are not in the file's order, and the rows after it would be "
                                    "read into the wrong columns; split the file there and load each part as its "
                                    "own file, or give the names in the file's order")


# a date or time as exports write them (2026-03-01, 2026-03-01T12:00:00Z, 20260301T120000, 03/01/2026 12:00)
_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}([T ].*)?|(19|20)\d{6}(T.*)?|\d{1,2}[/.]\d{1,2}[/.]\d{2,4}([ T].*)?",
                   re.IGNORECASE)
EPOCH_1980 = 315_532_800  # 1980-01-01 in epoch seconds (in a finer unit, a larger number): no column's number
_FLAG_VALUES = {"0", "1", "0.0", "1.0", "true", "false"}


def refuse_data_as_header(path: Path, line_no: int, header: Sequence[str], columns: Sequence[str],
                          wanted: Mapping[str, str | None], typed: Mapping[str, str], renamed: bool) -> None:
    """Raise :class:`~elcrec_core.data.files.SourceReadError` where the line ``line_no`` that ``header: true`` takes
    for the header (``header``: its fields, in the order of ``columns``, the names given or these fields) holds
    values in the columns of the aliases ``typed`` (alias -> what its column holds: ``"times"``, ``"ratings"`` or
    ``"flags"``; ``wanted``: alias -> name of ``columns``): it is the first record of a file without a header, and
    skipping it would lose an event without a word. Values: a date or time, or a number from 1980 on as epoch
    seconds (or a finer unit); a number where the line's fields are not column numbers (pandas' ``0,1,3``: a frame
    without names, or some of its columns); flags that are all 0, 1, true or false, where names given replace the
    header's (``renamed``: without them, the settings pick flag columns by the header's names, and a one-hot frame
    of a 0/1 column is named ``0,1``). Names that are numbers (pandas' ``12,16,28`` or ``1,2,3`` of a one-hot
    frame, ``1990,2000``) are no such values."""
    fields = [field.strip() for field in header]
    values = {alias: fields[i] if (i := columns.index(column)) < len(fields) else ""  # a blank column's: empty
              for alias, column in wanted.items() if column is not None and alias in typed}
    flags = [value for alias, value in values.items() if typed[alias] == "flags" and value]
    all_flags = renamed and bool(flags) and all(value.lower() in _FLAG_VALUES for value in flags)
    for alias, value in values.items():
        holding = typed[alias]
        if (all_flags and value) if holding == "flags" else _holds_value(holding, value, fields):
            raise SourceReadError(path, f"line {line_no}, which header: true reads as the header, holds {value!r} in "
                                        f"the column of {holding}: a value, not a column name. "
                                        "It is the first record of data, which would be lost: set header: false "
                                        "(with names for the columns of a file without a header)")


def _holds_value(holding: str, value: str, fields: Sequence[str]) -> bool:
    """Whether ``value``, a field of a header line's column of times or ratings (``holding``), is a value of such
    a column rather than a name (:func:`refuse_data_as_header`; ``fields``: the line's)."""
    number = _number(value)
    if holding == "times":
        return bool(_DATE.fullmatch(value)) or (number is not None and abs(number) >= EPOCH_1980)
    numbers = [_number(field) for field in fields if field]  # pandas' column numbers: 0,1,3 (ascending, whole)
    names = all(n is not None and n >= 0 and n == int(n) for n in numbers) and numbers == sorted(set(numbers))
    return number is not None and not names


def _number(text: str) -> float | None:
    """``text`` as a finite number (a decimal comma too), or None."""
    try:
        number = float(text.replace(",", "."))
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def refuse_glued_header(path: Path, rejects: pl.DataFrame, columns: Sequence[str], delimiter: str) -> None:
    """Raise :class:`~elcrec_core.data.files.SourceReadError` for the first malformed record of ``rejects``
    (``source_row``, ``detail``: DuckDB's ``TOO MANY COLUMNS: <line>``) that ends with a header of ``columns`` (3
    or more) in another order, glued to its last value: a file without a line end at its end joined (``cat``) with
    one whose columns are in another order (``...,1772324075item_id,user_id,rating,timestamp``), or that holds every
    name of ``columns`` and more (a header of a wider schema: a file with another column appended joined). The record
    is one rejected row either way; the rows after it would be read into the wrong columns, or not at all."""
    names = [name.strip().lower() for name in columns]
    if len(names) < 3 or delimiter is None:
        return
    glued = rejects.filter(pl.col("detail").str.starts_with("TOO MANY COLUMNS: "))
    for row, detail in glued.select("source_row", "detail").iter_rows():
        line = detail.split(": ", 1)[1].strip()
        fields = [field.strip().lower() for field in line.split(delimiter)]
        while len(fields) > 1 and not fields[-1]:  # a trailing delimiter, a spreadsheet's blank columns
            fields.pop()
        if set(names) <= set(fields) and len(set(fields)) == len(fields):  # every name, and more: a wider header
            raise SourceReadError(path, f"line {row} holds the column names with more columns "
                                        f"({line}; the header: {', '.join(columns)}): a "
                                        "file of a wider schema was joined, and none of the rows after it would "
                                        "load; split the file there and load each part as its own file")
        tail = fields[-(len(names) - 1):]
        rest = [name for name in names if name not in tail]
        if (len(fields) > len(names) and len(set(tail)) == len(tail) and len(rest) == 1 and tail != names[1:]
                and fields[-len(names)].endswith(rest[0])):
            said = f"{rest[0]}, {', '.join(tail)}; the header: {', '.join(columns)}"
            raise SourceReadError(path, f"line {row} ends with the column names in another order ({said}) glued to "
                                        "its last value: a file without a line end at its end was joined with one "
                                        "whose columns are in another order, and the rows after it would be read "
                                        "into the wrong columns; split the file there and load each part as its own "
                                        "file")


_WHOLE_NUMBER = r"^\s*-?\d+\s*$"
# the other rows that must be read before a first line is taken for a header: its row alone, rejected, is then at
# most 5% of the load (the default max_rejected_share), so that data taken for a header never refuses a load
FEWEST_ROWS_AFTER_A_HEADER = 19


def first_row_of_names(read: pl.DataFrame, ids: tuple[str, ...]) -> tuple[int, list[str]] | None:
    """The ``source_row`` of ``read``'s first row, and those of its text columns ``ids`` whose every other row is a
    whole number while its value is none, where there is one such column at least and at least
    :data:`FEWEST_ROWS_AFTER_A_HEADER` other rows: a header line read as data; else None."""
    if len(read) <= FEWEST_ROWS_AFTER_A_HEADER:
        return None
    first = int(read["source_row"].min())
    head, rest = read.filter(pl.col("source_row") == first), read.filter(pl.col("source_row") != first)
    numeric = [column for column in ids if rest[column].str.contains(_WHOLE_NUMBER).all()]
    if len(head) != 1 or not numeric or any(head[column].str.contains(_WHOLE_NUMBER).any() for column in numeric):
        return None
    return first, numeric


def header_read_as_data(frame: pl.DataFrame) -> pl.DataFrame:
    """Mark ``repeated_header`` the first row of ``frame`` (a file read without a header: normalised events, with
    ``error`` and ``detail``) where it looks like a header: in each id column (user, item) whose every other row is
    a whole number (one of them at least), its value is not (``User-ID`` over numbers, whatever ISBNs the item
    column holds). Such a line, the header of a file that the source settings say has none (header: false, as
    MovieLens' ``u.data``), was stored as an event of user ``customer`` and item ``product`` where no time or rating
    column rejected it. Read only where at least :data:`FEWEST_ROWS_AFTER_A_HEADER` other rows are; ids that are
    names in other rows, or a time or rating read from the line (no column's name is one), leave it as it is: data."""
    found = first_row_of_names(frame.filter(pl.col("user_id").is_not_null() & pl.col("item_id").is_not_null()),
                               ("user_id", "item_id"))
    if found is None:
        return frame
    first, numeric = found
    head = frame.filter(pl.col("source_row") == first)
    if head["timestamp"].is_not_null().any() or head["rating"].is_not_null().any():  # a time or a rating: data
        return frame
    user, item = head["user_id"][0], head["item_id"][0]
    ids = " and ".join(column.split("_")[0] for column in numeric)
    said = (f"the first line looks like a header (user {user!r}, item {item!r}: its {ids} id not a number, as every "
            "other row's), and the source settings say the file has none (header: false; header: true reads it as "
            "one)")
    at = pl.col("source_row") == first
    return frame.with_columns(error=pl.when(at).then(pl.lit("repeated_header", frame.schema["error"]))
                              .otherwise("error"),
                              detail=pl.when(at).then(pl.lit(said)).otherwise("detail"))
