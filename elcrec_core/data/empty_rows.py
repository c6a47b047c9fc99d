"""A spreadsheet's empty rows in delimited text: a line of delimiters only (``;;;;``, which Excel's CSV export writes
below the data, with fewer delimiters where a block of rows has its last columns empty), rejected as ``empty_row``:
not a row without a user, nor a malformed line."""

from __future__ import annotations

import polars as pl

from elcrec_core.data.event_normalisation import NOT_SPACE, sql_text
from elcrec_core.data.warehouse import quote_identifier

EMPTY_RECORD = "every field is empty: a line of delimiters only, as a spreadsheet's empty row"


def record_errors_sql(columns: list[str], error: str, detail: str) -> str:
    """The ``error`` and ``detail`` columns: ``error`` and ``detail`` (SQL) where a record of two or more ``columns``
    holds a value; ``'empty_row'`` and :data:`EMPTY_RECORD` where every field is empty or white space (``;;;;``)."""
    if len(columns) < 2:  # a file of one column skips its empty lines
        return f"{error} AS error, {detail} AS detail"
    # white space as validation's (a spreadsheet's cell of a no-break space is empty: helper-254); an empty field,
    # NULL, is told without the regex (a sparse wide export's 27 empty columns read 20% slower: helper-256)
    empty = " AND ".join(f"({c} IS NULL OR NOT regexp_matches({c}, '{NOT_SPACE}'))"
                         for c in map(quote_identifier, columns))
    return (f"CASE WHEN {empty} THEN 'empty_row' ELSE {error} END AS error, "
            f"CASE WHEN {empty} THEN {sql_text(EMPTY_RECORD)} ELSE {detail} END AS detail")


def empty_short_rows(rejects: pl.DataFrame, delimiter: str, quote: str | None) -> pl.DataFrame:
    """``rejects`` (malformed records: ``reason``, ``detail`` as DuckDB's error type and the line) with those of too
    few fields whose line holds ``delimiter``, ``quote`` and white space alone as ``empty_row`` rows: Excel leaves
    out the empty last columns of a block of rows, so an empty row below the data may have fewer delimiters than
    the header (``;;`` under five columns), and it was a malformed_line that max_rejected_share counted (helper-260)."""
    marks = "".join(f"\\x{{{ord(c):x}}}" for c in delimiter + (quote or ""))  # the regex's escape of any character
    line = pl.col("detail").str.strip_prefix("MISSING COLUMNS: ")
    empty = pl.col("detail").str.starts_with("MISSING COLUMNS: ") & ~line.str.contains(NOT_SPACE[:-1] + marks + "]")
    return rejects.with_columns(reason=pl.when(empty).then(pl.lit("empty_row")).otherwise(pl.col("reason")),
                                detail=pl.when(empty).then(pl.lit(EMPTY_RECORD)).otherwise(pl.col("detail")))
