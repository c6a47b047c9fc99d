"""Text and Parquet files through DuckDB, as the source and metadata readers share them: one connection per
read, transcoding to UTF-8, delimited text as text columns with its structural errors as rows, Parquet columns by
name."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from elcrec_core.data.cut_short_lines import short_lines
from elcrec_core.data.empty_rows import empty_short_rows, record_errors_sql
from elcrec_core.data.files import (
    MAX_LINE_BYTES,
    LineScan,
    SourceReadError,
    copy_without_crlf,
    delimiter_hint,
    ends_with_line_end,
    fields_delimiter_hint,
    names_hint,
    reading,
    scan_lines,
)
from elcrec_core.data.header_lines import refuse_data_as_header, refuse_glued_header, repeated_header_sql
from elcrec_core.data.header_names import first_fields, first_line, header_names, renamed_header
from elcrec_core.data.scratch_duckdb import scratch_connection
from elcrec_core.data.stray_quotes import refuse_records_in_a_value
from elcrec_core.data.warehouse import quote_identifier

INVALID_ENCODING = "INVALID ENCODING"  # DuckDB's error type of a line that is not UTF-8

log = logging.getLogger(__name__)



def literal_path(path: str | Path) -> str:
    """``path`` as DuckDB's file readers take it literally: they expand ``*``, ``?`` and ``[...]`` in a name as a
    glob, so ``day[1].csv`` read ``day1.csv``; each such character goes inside brackets (``[[]``), which match it
    alone."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in str(path))


def empty_rejects() -> pl.DataFrame:
    """No rejected rows, in the columns a reader gives them: source_row, reason, detail."""
    return pl.DataFrame(schema={"source_row": pl.Int64, "reason": pl.String, "detail": pl.String})


@contextmanager
def connection_for(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A new DuckDB connection of its own (its settings, transaction and temporary objects) to an in-memory
    database; a failure to read becomes a :class:`SourceReadError` for ``path``."""
    with reading(path), scratch_connection() as con:
        con.execute("SET TimeZone = 'UTC'")  # TIMESTAMPTZ -> TIMESTAMP gives UTC wall time
        # one thread: the readers number the records by their order, and DuckDB 2.0's parallel CSV scan gave a
        # file over its 8 MiB buffer in another order through a query (helper-209: every row another's line)
        con.execute("SET threads = 1")
        yield con


def quoting_fix(setting: str, option: str = "") -> str:
    """What a refusal of a stray quote advises: the source ``setting`` that reads a file without quoting (and the
    command line's ``option``, where it has one)."""
    return f"fix the quoting, or read the file without quoting (source setting {setting}: ''{option})"


QUOTING_FIX = quoting_fix("quote", ", elcrec --no-quote")  # the events'


def read_delimited(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    wanted: Mapping[str, str | None],
    delimiter: str | None,
    header: bool,
    names: tuple[str, ...] | None,
    quote: str | None,
    escape: str | None,
    build: Callable[[duckdb.DuckDBPyRelation], pl.DataFrame] = duckdb.DuckDBPyRelation.pl,
    max_line_bytes: int = MAX_LINE_BYTES,
    typed: Mapping[str, str] | None = None,
    refusal_fix: str = QUOTING_FIX,
    one_line: Mapping[str, str] | None = None,
    ids: tuple[str, ...] = (),
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Read the ``wanted`` columns (alias -> column name) of a delimited file as text, through ``build``; with
    ``delimiter`` None, every line is one field (split on a control character the file does not hold). ``typed``:
    the aliases of columns of times, numbers or flags, where a column's name is no value, and what they hold
    (``{"t": "times"}``, for messages)
    (:func:`~elcrec_core.data.header_lines.repeated_header_sql`); ``refusal_fix``: what a refusal of a stray quote
    advises (:func:`quoting_fix`); ``one_line``: the text columns of ``build``'s frame that hold no line end, and
    what they hold (:func:`refuse_values_over_lines`); ``ids``: the aliases of the id columns. A value of any
    column, read or not, that takes whole records (judged by the ids' and the ``typed`` columns' forms)
    into it is refused too (:func:`~elcrec_core.data.stray_quotes.refuse_records_in_a_value`).

    A streamed pass (:func:`elcrec_core.data.files.scan_lines`) first refuses binary files and lines longer than
    ``max_line_bytes``; then DuckDB's strict reader scans the file once, inside ``build`` (which turns the
    relation of the aliases, plus ``error`` and ``detail``: ``repeated_header`` and the names for a record of the
    header's names, else NULL, into a frame). Returns that frame with
    ``source_row`` (the line where each record starts) and the malformed records (``source_row``, ``reason``,
    ``detail``: DuckDB's error type and the raw line, a line of too few fields in the project's words, and a
    column of each alias of ``ids`` with its value where such a line has it: :func:`short_lines`). ``names`` name
    the columns: with ``header`` they replace the header's names (as many; :class:`SourceReadError` otherwise),
    without it they name a headerless file's (:class:`SourceReadError` where no record has as many columns: every
    one would be rejected).
    """
    lines = scan_lines(path, quote, max_line_bytes)
    if delimiter is None and (delimiter := lines.absent_control_character()) is None:
        raise SourceReadError(path, "it holds every ASCII control character: not a file of text lines")
    first = int(lines.record_lines[0]) if len(lines.record_lines) else 0  # empty lines before it are skipped
    columns, own, found = [], [], []  # own: a record of the header's own names, which the names replace
    if first and header:
        # the blank columns at the header's end are no columns (DuckDB reads past empty fields at a line's end),
        # unless names given name them
        found = renamed_header(path, first, delimiter, quote, names) if names else \
            header_names(path, first, delimiter, quote)
        own, columns = ([found] if names else []), list(names or found)
    elif first:
        columns = list(names or (f"column{i}" for i in range(len(first_fields(path, first, delimiter, quote)))))
    # a record of the columns' names, or of the header's own: a header line again
    typed = typed or {}
    headers = [columns, *own] if header or names else []  # column0, column1, ...: no names to repeat
    picks = [f"{quote_identifier(c)} AS {a}" for a, c in wanted.items() if c is not None]
    if not columns:  # an empty file
        empty = ", ".join(f"NULL::VARCHAR AS {a}" for a, c in wanted.items() if c is not None)
        frame = build(con.sql(f"SELECT {empty}, NULL::VARCHAR AS error, NULL::VARCHAR AS detail LIMIT 0"))
        return frame.with_columns(source_row=pl.lit(None, pl.Int64)), empty_rejects()
    if missing := [c for c in wanted.values() if c is not None and c not in columns]:
        raise SourceReadError(path, f"no column(s) {missing}; the file has {columns}"
                                    + delimiter_hint(columns, delimiter) + names_hint(missing, columns))
    if header:
        refuse_data_as_header(path, first, found, columns, wanted, typed, renamed=bool(names))
    # with one column DuckDB reads an empty line as a record of one empty field: skip those, as it does otherwise
    where = f" WHERE rtrim({quote_identifier(columns[0])}, chr(13)) <> ''" if len(columns) == 1 else ""

    errors = record_errors_sql(columns, *repeated_header_sql(wanted, columns, headers, typed))

    def scan(file: Path) -> pl.DataFrame:
        con.execute("DROP TABLE IF EXISTS csv_rejects; DROP TABLE IF EXISTS csv_reject_scans")
        return build(con.sql(
            f"SELECT {', '.join(picks)}, {errors}"
            " FROM read_csv(?, auto_detect = false, header = ?, skip = ?, columns = ?, delim = ?, quote = ?,"
            " escape = ?, max_line_size = ?, store_rejects = true, rejects_table = 'csv_rejects',"
            f" rejects_scan = 'csv_reject_scans', hive_partitioning = false){where}",
            params=[literal_path(file), header, max(first - 1, 0) if header else 0, {c: "VARCHAR" for c in columns},
                    delimiter, quote or "", (escape if escape is not None else quote) or "", max_line_bytes],
        ))

    def scan_lf_ends() -> pl.DataFrame:
        """Mixed CR LF and LF line ends stop the strict parser, or (after an empty first line) make it read no
        record at all: read a copy with LF ends (same line numbers)."""
        if not lines.mixed_line_ends:
            return scan(path)
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / path.name
            copy_without_crlf(path, copy)
            return scan(copy)

    try:
        good = scan_lf_ends()
    except duckdb.InvalidInputException:
        if lines.stray_cr_line is None:
            raise
        # the strict parser stops at a CR inside a line
        raise SourceReadError(path, f"line {lines.stray_cr_line} holds a carriage return (\\r) that ends no "
                                    "line; DuckDB's strict CSV parser cannot read it") from None
    rejects = con.sql(
        "SELECT line AS source_row,"
        " arg_min(CAST(error_type AS VARCHAR) || ': ' || trim(coalesce(csv_line, ''), chr(13) || chr(10)),"
        "         coalesce(column_idx, 0)) AS detail"
        " FROM csv_rejects GROUP BY line ORDER BY line"
    ).pl().with_columns(pl.col("source_row").cast(pl.Int64), reason=pl.lit("malformed_line"))
    counts = rejects["detail"].str.contains("^(TOO MANY|MISSING) COLUMNS: ")  # every record: names that do not fit
    if names and not header and len(good) == 0 and len(rejects) and counts.all():
        line = first_line(path).decode("utf-8", errors="replace")
        raise SourceReadError(path, f"none of its {len(rejects)} records has the {len(names)} columns that the names "
                                    f"give ({list(names)}); line {first}: {rejects['detail'][0][:200]}"
                                    + fields_delimiter_hint(line, delimiter, len(names)))
    # DuckDB numbers the records as lines, empty ones included: the scan's records tell on which line each starts.
    # DuckDB reads a quote inside an unquoted field (12" TV) as data, where the scan opened a quoted field: then
    # the lines of a scan without quoting are its records
    at = rejects["source_row"].to_numpy() - 1
    data = _data_records(lines, header, len(good), at)
    if data is None and quote is not None:
        lines = scan_lines(path, None, max_line_bytes)
        data = _data_records(lines, header, len(good), at)
    if data is not None:
        _refuse_records_over_lines(path, lines, at, rejects["detail"], max_line_bytes, refusal_fix)
        rejects = rejects.with_columns(source_row=pl.Series(lines.starts[at], dtype=pl.Int64))
        if (undecoded := np.flatnonzero(rejects["detail"].str.starts_with(INVALID_ENCODING).to_numpy())).size:
            details = rejects["detail"].to_list()  # DuckDB's text of such a line drops the byte after a bad one
            for k, (_, text) in zip(undecoded, lines.iter_record_texts(path, at[undecoded])):  # in file order
                details[k] = f"{INVALID_ENCODING}: {text}"
            rejects = rejects.with_columns(detail=pl.Series(details, dtype=pl.String))
        rows = pl.Series("source_row", data[~np.isin(data, lines.starts[at])], dtype=pl.Int64)
    else:  # a quoted field over several lines and a quote inside a field: number the good rows in order
        log.warning("%s: could not match records to lines; numbering %d good rows in order", path, len(good))
        rows = pl.int_range(1, len(good) + 1, dtype=pl.Int64, eager=True).alias("source_row") + int(header)
    refuse_glued_header(path, rejects, columns, delimiter)
    good = good.with_columns(rows)
    refuse_values_over_lines(path, good, one_line or {}, refusal_fix, data is not None)  # matched to lines or not
    if data is not None:  # then any column's value, in the words of the file's own records (helper-206)
        refuse_records_in_a_value(path, lines, at, header, delimiter, quote or '"', columns,
                                  [wanted[alias] for alias in (*ids, *typed) if wanted.get(alias)], refusal_fix)
    kept = {alias: wanted[alias] for alias in ids if wanted.get(alias)}  # each with its value on a short line
    last = None if ends_with_line_end(path) else max(good["source_row"].max() or 0, rejects["source_row"].max() or 0)
    rejects = short_lines(empty_short_rows(rejects, delimiter, quote), columns, kept, delimiter or "", quote, last)
    return good, rejects.select("source_row", "reason", "detail", *kept)


def _data_records(lines: LineScan, header: bool, good: int, at: np.ndarray) -> np.ndarray | None:
    """The first lines of the data records (after the header) of scan ``lines``, or None where they do not match
    DuckDB's reading: ``good`` records read and the malformed ones at scan records ``at``."""
    data = lines.record_lines[int(header):]
    known = bool(((at >= 0) & (at < len(lines.starts))).all())
    return data if known and len(data) == good + len(at) and np.isin(lines.starts[at], data).all() else None


def refuse_values_over_lines(path: Path, good: pl.DataFrame, values: Mapping[str, str],
                             fix: str = QUOTING_FIX, numbered: bool = True) -> None:
    """Raise :class:`SourceReadError` where a value of a record read (``values``: a text column of ``good`` and what
    it holds, ``{"user_id": "user id"}``) holds a line end: a stray quote that another closes lines later at a
    field's end (``u2,"b,...`` and, two lines on, ``u4,d",...``) makes one well-formed quoted field of those lines,
    and their events one event, or one rejected row, unsaid. No id, time, rating or event type holds a line end.
    ``fix``: what the refusal advises; ``numbered``: whether ``good``'s ``source_row`` are the records' lines (not
    where they could not be matched: counted in order, they named other lines, helper-207)."""
    for column, name in values.items():
        held = good.filter(pl.col(column).str.contains("\n", literal=True))
        if len(held):
            start, text = int(held["source_row"][0]), held[column][0]
            where = (f"lines {start}-{start + text.count(chr(10))}: a quoted field takes them" if numbered else
                     f"a quoted field takes {text.count(chr(10)) + 1} lines")
            raise SourceReadError(path, f"{where} into one {name} ({text[:80]!r}): does a quote not close? {fix} (a "
                                        "value written with a line break in it, as a quoted field may hold one, is "
                                        "refused: no id holds one; remove it from the export)")


def _refuse_records_over_lines(path: Path, lines: LineScan, at: np.ndarray, details: pl.Series,
                               max_line_bytes: int, fix: str) -> None:
    """Raise :class:`SourceReadError` for the first malformed record (scan record ``at``, DuckDB's ``details``)
    that takes several lines because of its quoting: a quote that never closes, a record DuckDB could not
    unquote (``UNQUOTED VALUE``: a quote that closes lines later, in the middle of a field), or one longer than
    ``max_line_bytes`` (each of its lines is shorter: the limit refuses a file, as for one long line). Its lines
    would be lost in one rejected row. A well-quoted field over several lines in a record rejected for another
    reason (too many columns, a bad value) is one record, and stays one rejected row."""
    spans = lines.spans()[at]
    last = len(lines.starts) - 1
    for k in np.flatnonzero(spans > 1):
        start, n, error = int(lines.starts[at[k]]), int(spans[k]), details[int(k)].split(":", 1)[0]
        if lines.open_quote and at[k] == last:
            raise SourceReadError(path, f"line {start}: a quote opens a field that never closes (it would take the "
                                        f"{n - 1} line{'s' * (n > 2)} after it into one field); {fix}")
        if "LINE SIZE OVER MAXIMUM" in error:
            raise SourceReadError(path, f"lines {start}-{start + n - 1}: a record over {n} lines is longer than the "
                                        f"limit of {max_line_bytes} bytes (max_line_bytes)")
        if "QUOTED" in error:
            raise SourceReadError(path, f"lines {start}-{start + n - 1}: a quoted field takes {n} lines into one "
                                        f"record that cannot be read ({error}): does a quote not close? {fix}")


def parquet_relation(con: duckdb.DuckDBPyConnection, path: Path, wanted: Mapping[str, str | None]):
    """The Parquet file ``path`` as a DuckDB relation with its 1-based row number as ``source_row``, its columns
    ``wanted`` values (None: not read) named by their keys; raises SourceReadError naming a wanted column the file
    lacks. A binary column (text written without its UTF-8 annotation) reads as the text it holds, as the same
    ids of a CSV file read; bytes that are not UTF-8 as DuckDB spells them (``caf\\xE9``)."""
    try:
        rel = con.sql("SELECT * FROM read_parquet(?, file_row_number = true, hive_partitioning = false)",
                      params=[literal_path(path)])
    except duckdb.InvalidInputException as err:  # text, or a damaged file: "No magic bytes found at end of file"
        raise SourceReadError(path, f"not a Parquet file ({str(err).splitlines()[0]})") from None
    if missing := [c for c in wanted.values() if c is not None and c not in rel.columns]:
        raise SourceReadError(path, f"no column(s) {missing}; the file has {rel.columns[:-1]}"
                                    + names_hint(missing, rel.columns[:-1]))
    types = dict(zip(rel.columns, (str(t) for t in rel.types)))

    def pick(column: str) -> str:
        name = quote_identifier(column)
        if types[column] != "BLOB":
            return name
        return f"CASE WHEN TRY(decode({name})) IS NOT NULL THEN decode({name}) ELSE CAST({name} AS VARCHAR) END"

    picks = ", ".join(f"{pick(c)} AS {a}" for a, c in wanted.items() if c is not None)
    return rel.query("parquet_file", f"SELECT {picks}, file_row_number + 1 AS source_row FROM parquet_file")
