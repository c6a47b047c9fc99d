"""Interaction sources: configuration and readers that turn event files into one normalised frame.

Every reader returns the columns of :data:`NORMALISED_SCHEMA`, one row per event (or per line that could not be
parsed): ``user_id`` and ``item_id`` exactly as given (text), ``timestamp`` in UTC, optional ``rating`` and
``event_type``, the ``source_file`` and its 1-based ``source_row`` (the line where the record starts; for the
sequence format, where a line holds many events, the event's number in file order), and ``error``/``detail``
for rows the reader could not parse (a malformed line, a missing or unparseable timestamp, an unparseable
rating). Rows are never dropped here; :mod:`elcrec_core.validation` decides which are accepted. A file that
cannot be read at all raises :class:`SourceReadError` naming the file and the cause.

Delimited text, JSON Lines and Parquet are read with DuckDB (structural CSV errors become rows through its
``store_rejects`` table; every text field is read as text, so ids keep their exact spelling); the sequence
format and the synthetic generator are built in Polars.
"""

from __future__ import annotations

import codecs
import csv
import glob as globlib
import logging
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import polars as pl

from elcrec_core.config import _check_keys
from elcrec_core.reading import (
    CHUNK_BYTES,
    MAX_LINE_BYTES,
    SourceReadError,
    copy_without_crlf,
    delimiter_hint,
    reading,
    scan_lines,
)
from elcrec_core.synthetic import SyntheticConfig, generate
from elcrec_core.validation import REASONS, blank
from elcrec_core.warehouse import quote_identifier

log = logging.getLogger(__name__)

SourceFormat = Literal["csv", "tsv", "parquet", "jsonl", "sequence", "synthetic"]
TimestampFormat = Literal["epoch_s", "epoch_ms", "iso8601"]

NORMALISED_SCHEMA: dict[str, pl.DataType] = {
    "user_id": pl.String(),
    "item_id": pl.String(),
    "timestamp": pl.Datetime("us"),  # UTC
    "rating": pl.Float64(),
    "event_type": pl.String(),
    "source_file": pl.Categorical(),
    "source_row": pl.Int64(),
    "error": pl.Enum(REASONS),
    "detail": pl.String(),
}

_EPOCH_SCALE = {"epoch_s": 1_000_000, "epoch_ms": 1_000}  # to microseconds
_MIN_EPOCH_S, _MAX_EPOCH_S = -62_135_596_800, 253_402_300_799  # 0001-01-01 .. 9999-12-31
_NUMERIC_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                  "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE"}
_WHITESPACE = "' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13)"  # SQL: what trim() removes


@dataclass(frozen=True)
class ColumnMap:
    """Which source column (or JSON key) holds each field; ``None`` for a field the source does not have."""

    user: str = "user_id"
    item: str = "item_id"
    timestamp: str | None = "timestamp"
    rating: str | None = None
    event_type: str | None = None


@dataclass(frozen=True)
class SourceConfig:
    """Where interactions come from and how to read them.

    ``path`` is a file, a folder (every non-hidden file in it, in name order) or a glob. Delimited text is
    ``csv`` or ``tsv``; for it ``delimiter`` (default ``,`` for csv and tab for tsv: any one character),
    ``header``, ``names`` (column names of a file without header; default ``column0``, ``column1``, ...),
    ``quote`` (``None``: no quoting) and ``escape`` apply. The sequence format is the benchmark line format
    ``user item item ...`` (no timestamps: the order is the line order). A text file with a line longer than
    ``max_line_bytes`` is refused. ``synthetic`` configures the generator for ``format="synthetic"``.
    """

    format: SourceFormat
    path: str | None = None
    columns: ColumnMap = field(default_factory=ColumnMap)
    timestamp_format: TimestampFormat = "epoch_s"
    delimiter: str | None = None
    header: bool = True
    names: tuple[str, ...] | None = None
    quote: str | None = '"'
    escape: str | None = None  # default: the quote character (a doubled quote)
    max_line_bytes: int = MAX_LINE_BYTES
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)

    def __post_init__(self) -> None:
        if self.format not in SourceFormat.__args__:
            raise ValueError(f"unknown source format {self.format!r}; known: {SourceFormat.__args__}")
        if self.format != "synthetic" and not self.path:
            raise ValueError(f"a {self.format} source needs a path")
        if self.timestamp_format not in ("epoch_s", "epoch_ms", "iso8601"):
            raise ValueError(f"unknown timestamp format {self.timestamp_format!r}")
        if self.delimiter is not None and len(self.delimiter) != 1:
            raise ValueError(f"delimiter must be one character, not {self.delimiter!r}")
        if self.max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be positive, not {self.max_line_bytes}")

    @property
    def separator(self) -> str:
        """The field delimiter of delimited text."""
        return self.delimiter or ("\t" if self.format == "tsv" else ",")

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> "SourceConfig":
        """Build from plain data (TOML, YAML, Dagster run config); ``columns`` and ``synthetic`` are mappings."""
        config = dict(config)
        _check_keys(config, cls, "source")
        if isinstance(config.get("columns"), Mapping):
            config["columns"] = ColumnMap(**config["columns"])
        if isinstance(config.get("synthetic"), Mapping):
            config["synthetic"] = SyntheticConfig(**config["synthetic"])
        if config.get("names") is not None:
            config["names"] = tuple(config["names"])
        return cls(**config)


@dataclass(frozen=True)
class ItemMetadataConfig:
    """Optional item metadata kept for profiling: Parquet (by the ``.parquet`` suffix), else delimited text.

    ``item`` and ``title`` name the columns of the item id and title (``title=None``: no titles). Categories
    come from ``categories``, a list column or text split on ``categories_separator`` (``None``: no such
    column), and/or from 0/1 flag columns, ``category_flags``: a mapping ``{column: category}`` or a sequence
    of columns named as their categories; a row's categories are those of its flags that hold ``1`` (or
    ``true``), in the order of ``category_flags``, after the ones of the list column. A flag may be ``0``,
    ``false`` or empty; any other value rejects the row (``bad_category_flag``).

    Delimited text: ``delimiter`` (any one character), ``header`` (``False``: no header line; ``names`` then
    name the columns, else ``column0``, ``column1``, ...), ``quote`` (``None``: no quoting) and ``encoding``
    (any Python codec name, such as ``latin-1``; the file is read as UTF-8 text after a streamed conversion).
    MovieLens 100K's ``u.item``: ``delimiter="|"``, ``header=False``, ``encoding="latin-1"``, ``names`` =
    ``item_id, title, release, video_release, url`` and the 19 genres of ``u.genre``, ``categories=None`` and
    ``category_flags`` = the genres (:data:`MOVIELENS_GENRES`).
    """

    path: str
    item: str = "item_id"
    title: str | None = "title"
    categories: str | None = "categories"  # a list column, or text split on ``categories_separator``
    categories_separator: str = "|"
    delimiter: str = ","
    header: bool = True
    names: tuple[str, ...] | None = None
    encoding: str = "utf-8"
    quote: str | None = '"'
    category_flags: tuple[tuple[str, str], ...] | Mapping[str, str] | Sequence[str] | None = None

    def __post_init__(self) -> None:
        if len(self.delimiter) != 1:
            raise ValueError(f"item metadata delimiter must be one character, not {self.delimiter!r}")
        if self.quote is not None and len(self.quote) != 1:
            raise ValueError(f"item metadata quote must be one character or None, not {self.quote!r}")
        if not self.categories_separator:
            raise ValueError("item metadata categories_separator must not be empty")
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ValueError(f"unknown item metadata encoding {self.encoding!r}") from None
        if self.names is not None:
            names = tuple(self.names)
            if len(set(names)) != len(names):
                raise ValueError(f"item metadata names repeat a column: {list(names)}")
            object.__setattr__(self, "names", names)
        flags = self.category_flags
        if flags is not None:
            if isinstance(flags, str):
                raise ValueError("category_flags is a mapping {column: category} or a list of columns, not text")
            pairs = tuple(flags.items()) if isinstance(flags, Mapping) else tuple(
                tuple(f) if isinstance(f, (tuple, list)) else (f, f) for f in flags)
            if any(len(p) != 2 or not all(isinstance(x, str) and x for x in p) for p in pairs):
                raise ValueError(f"category_flags must name columns and categories as text: {flags!r}")
            if len({c for c, _ in pairs}) != len(pairs):
                raise ValueError(f"category_flags repeat a column: {[c for c, _ in pairs]}")
            object.__setattr__(self, "category_flags", pairs or None)


MOVIELENS_GENRES: tuple[str, ...] = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western")
"""The genre flags of MovieLens 100K's ``u.item``, in its column order (its ``u.genre``)."""


def resolve_files(path: str | Path) -> list[Path]:
    """The files a source path names, as absolute paths: the file itself, a folder's non-hidden files, or a
    glob's matches, in name order."""
    text = str(path)
    p = Path(text)
    if p.is_dir():
        files = sorted(f.resolve() for f in p.iterdir() if f.is_file() and not f.name.startswith("."))
    elif any(c in text for c in "*?["):
        files = sorted(Path(f).resolve() for f in globlib.glob(text, recursive=True) if Path(f).is_file())
    elif p.is_file():
        files = [p.resolve()]
    else:
        raise SourceReadError(text, "no such file or folder")
    if not files:
        raise SourceReadError(text, "no files found")
    return files


def read_source(config: SourceConfig) -> pl.DataFrame:
    """Read every file of a source into one normalised frame (files in name order, rows in file order)."""
    if config.format == "synthetic":
        return _synthetic_frame(config.synthetic)
    frames = [read_file(f, config) for f in resolve_files(config.path)]
    return pl.concat(frames, how="vertical") if len(frames) > 1 else frames[0]


def read_file(path: Path, config: SourceConfig) -> pl.DataFrame:
    """Read one file of a source into the normalised frame; raises :class:`SourceReadError` if unreadable."""
    readers = {"csv": _read_delimited_events, "tsv": _read_delimited_events, "jsonl": _read_jsonl,
               "parquet": _read_parquet, "sequence": _read_sequence_file}
    with _reading(path) as con:
        return readers[config.format](con, path, config)


def read_item_metadata(config: ItemMetadataConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Item metadata as (item_id, title, categories: list of text), and its unusable rows with a reason.

    A row is unusable when its line is malformed (``malformed_line``; with the UTF-8 encoding, a line that is
    not UTF-8 text is one too, and its detail suggests an encoding), its item id is missing (``missing_item``)
    or a category flag is neither 0 nor 1 (``bad_category_flag``, the detail names the column and the value);
    the rejected frame has source_file, source_row, reason and detail. A file that is not text of another
    configured encoding is refused (:class:`SourceReadError`, naming the byte).
    """
    path = Path(config.path).resolve()
    if not path.is_file():
        raise SourceReadError(path, "no such file")
    flags = dict(config.category_flags or ())
    wanted = {"item": config.item, "title": config.title, "categories": config.categories,
              **{f"flag{i}": column for i, column in enumerate(flags)}}
    with _reading(path) as con:
        if path.suffix.lower() == ".parquet":
            raw, malformed = _parquet_relation(con, path, wanted).pl(), _empty_rejects()
        else:
            with _as_utf8(path, config.encoding) as text:
                raw, malformed = _read_delimited(con, text, wanted, config.delimiter, config.header, config.names,
                                                 config.quote, None)
    if _is_utf8(config.encoding):
        malformed = malformed.with_columns(
            pl.when(pl.col("detail").str.starts_with("INVALID ENCODING"))
            .then(pl.col("detail") + " (not UTF-8 text: set the encoding, such as latin-1)")
            .otherwise(pl.col("detail")).alias("detail"))
    lists = []
    if config.categories is not None:
        column = raw["categories"]
        lists.append(
            pl.col("categories").cast(pl.List(pl.String))
            if isinstance(column.dtype, pl.List)
            else pl.col("categories").cast(pl.String).str.split(config.categories_separator)
        )
    bad_flag = pl.lit(None, pl.String)
    if flags:
        values = [pl.col(f"flag{i}").cast(pl.String).str.strip_chars().str.to_lowercase() for i in range(len(flags))]
        on = [v.is_in(["1", "true"]).fill_null(False) for v in values]
        off = [v.is_in(["0", "false", ""]).fill_null(True) for v in values]
        lists.append(pl.concat_list([pl.when(o).then(pl.lit(name)) for o, name in zip(on, flags.values())])
                     .list.drop_nulls())
        bad_flag = pl.coalesce([
            pl.when(~o & ~f).then(pl.lit(f"{column}: ") + pl.col(f"flag{i}").cast(pl.String))
            for i, (o, f, column) in enumerate(zip(on, off, flags))])
    if not lists:
        categories = pl.lit(None, pl.List(pl.String))
    elif len(lists) == 1:
        categories = lists[0]
    else:  # the list column's categories, then the flags' (each once)
        categories = pl.concat_list([lists[0].fill_null(pl.lit([], pl.List(pl.String))), lists[1]]) \
            .list.unique(maintain_order=True)
    title = pl.col("title").cast(pl.String) if config.title is not None else pl.lit(None, pl.String)
    frame = raw.select(
        pl.col("item").cast(pl.String).alias("item_id"), title.alias("title"), categories.alias("categories"),
        bad_flag.alias("bad_flag"), "source_row",
    )
    missing = frame.filter(blank("item_id"))
    flagged = frame.filter(~blank("item_id") & pl.col("bad_flag").is_not_null())
    rejected = pl.concat([
        malformed.select("source_row", "reason", "detail"),
        missing.select("source_row", pl.lit("missing_item").alias("reason"), pl.lit(None, pl.String).alias("detail")),
        flagged.select("source_row", pl.lit("bad_category_flag").alias("reason"), pl.col("bad_flag").alias("detail")),
    ]).with_columns(source_file=pl.lit(str(path))).select("source_file", "source_row", "reason", "detail")
    good = frame.filter(~blank("item_id") & pl.col("bad_flag").is_null())
    return good.drop("bad_flag", "source_row"), rejected


def _is_utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")


@contextmanager
def _as_utf8(path: Path, encoding: str) -> Iterator[Path]:
    """``path`` itself for UTF-8, else a UTF-8 copy in a temporary folder, converted chunk by chunk (same lines,
    so the same line numbers); an error names ``path``."""
    if _is_utf8(encoding):
        yield path
        return
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / path.name
        with path.open("rb") as src, copy.open("w", encoding="utf-8", newline="") as out:
            while True:
                chunk = src.read(CHUNK_BYTES)
                try:
                    out.write(decoder.decode(chunk, final=not chunk))
                except UnicodeDecodeError as err:
                    raise SourceReadError(path, f"byte {offset + err.start} is not {encoding} text") from None
                if not chunk:
                    break
                offset += len(chunk)
        try:
            yield copy
        except SourceReadError as err:  # name the file, not its copy
            raise SourceReadError(path, err.cause) from None


@contextmanager
def _reading(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A fresh in-memory DuckDB connection; a failure to read becomes a :class:`SourceReadError` for ``path``."""
    with reading(path), duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")  # TIMESTAMPTZ -> TIMESTAMP gives UTC wall time
        yield con


# --- delimited text ----------------------------------------------------------------------------------------


def _header_names(path: Path, delimiter: str, quote: str | None, header: bool) -> list[str]:
    """The header's column names, or ``column0..`` for as many fields as the first line has."""
    with path.open("rb") as fh:
        line = fh.readline().removeprefix(b"\xef\xbb\xbf").rstrip(b"\r\n")
    if not line:
        return []
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise SourceReadError(path, "the first line is not UTF-8 text") from None
    quoting = csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE
    first = next(csv.reader([text], delimiter=delimiter, quotechar=quote or None, quoting=quoting))
    if not header:
        return [f"column{i}" for i in range(len(first))]
    if len(set(first)) != len(first):
        raise SourceReadError(path, f"header has repeated column names: {first}")
    return first


def _read_delimited(
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
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Read the ``wanted`` columns (alias -> column name) of a delimited file as text, through ``build``; with
    ``delimiter`` None, every line is one field (split on a control character the file does not hold).

    A streamed pass (:func:`elcrec_core.reading.scan_lines`) first refuses binary files and lines longer than
    ``max_line_bytes``; then DuckDB's strict reader scans the file once, inside ``build`` (which turns the
    relation of the aliases, plus NULL ``error`` and ``detail``, into a frame). Returns that frame with
    ``source_row`` (the line where each record starts) and the malformed records (``source_row``, ``reason``,
    ``detail``: DuckDB's error type and the raw line).
    """
    lines = scan_lines(path, quote, max_line_bytes)
    if delimiter is None and (delimiter := lines.absent_control_character()) is None:
        raise SourceReadError(path, "it holds every ASCII control character: not a file of text lines")
    columns = list(names) if names else _header_names(path, delimiter, quote, header)
    picks = [f"{quote_identifier(c)} AS {a}" for a, c in wanted.items() if c is not None]
    if not columns:  # an empty file
        empty = ", ".join(f"NULL::VARCHAR AS {a}" for a, c in wanted.items() if c is not None)
        frame = build(con.sql(f"SELECT {empty}, NULL::VARCHAR AS error, NULL::VARCHAR AS detail LIMIT 0"))
        return frame.with_columns(source_row=pl.lit(None, pl.Int64)), _empty_rejects()
    if missing := [c for c in wanted.values() if c is not None and c not in columns]:
        raise SourceReadError(path, f"no column(s) {missing}; the file has {columns}"
                                    + delimiter_hint(columns, delimiter))
    # with one column DuckDB reads an empty line as a record of one empty field: skip those, as it does otherwise
    where = f" WHERE rtrim({quote_identifier(columns[0])}, chr(13)) <> ''" if len(columns) == 1 else ""

    def scan(file: Path) -> pl.DataFrame:
        con.execute("DROP TABLE IF EXISTS csv_rejects; DROP TABLE IF EXISTS csv_reject_scans")
        return build(con.sql(
            f"SELECT {', '.join(picks)}, NULL::VARCHAR AS error, NULL::VARCHAR AS detail"
            " FROM read_csv(?, auto_detect = false, header = ?, columns = ?, delim = ?, quote = ?, escape = ?,"
            " max_line_size = ?, store_rejects = true, rejects_table = 'csv_rejects',"
            f" rejects_scan = 'csv_reject_scans'){where}",
            params=[str(file), header, {c: "VARCHAR" for c in columns}, delimiter, quote or "",
                    (escape if escape is not None else quote) or "", max_line_bytes],
        ))

    try:
        good = scan(path)
    except duckdb.InvalidInputException:
        if lines.stray_cr_line is not None:  # the strict parser stops at a CR inside a line
            raise SourceReadError(path, f"line {lines.stray_cr_line} holds a carriage return (\\r) that ends no "
                                        "line; DuckDB's strict CSV parser cannot read it") from None
        if not lines.crlf:
            raise
        # mixed CRLF and LF line ends stop the strict parser: read a copy with LF ends (same line numbers)
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / path.name
            copy_without_crlf(path, copy)
            good = scan(copy)
    rejects = con.sql(
        "SELECT line AS source_row,"
        " arg_min(CAST(error_type AS VARCHAR) || ': ' || trim(coalesce(csv_line, ''), chr(13) || chr(10)),"
        "         column_idx) AS detail"
        " FROM csv_rejects GROUP BY line ORDER BY line"
    ).pl().with_columns(pl.col("source_row").cast(pl.Int64), reason=pl.lit("malformed_line"))
    starts = lines.record_lines[1 if header else 0:]
    candidates = starts[~np.isin(starts, rejects["source_row"].to_numpy())]
    if len(candidates) == len(good):
        rows = pl.Series("source_row", candidates, dtype=pl.Int64)
    else:  # records and lines disagree (a rejected record spanning lines): number the good rows in order
        log.warning("%s: could not match records to lines; numbering %d good rows in order", path, len(good))
        rows = pl.int_range(1, len(good) + 1, dtype=pl.Int64, eager=True).alias("source_row") + int(header)
    return good.with_columns(rows), rejects.select("source_row", "reason", "detail")


def _empty_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema={"source_row": pl.Int64, "reason": pl.String, "detail": pl.String})


def _event_fields(columns: ColumnMap) -> dict[str, str | None]:
    return {"u": columns.user, "i": columns.item, "t": columns.timestamp, "r": columns.rating, "e": columns.event_type}


def _read_delimited_events(con: duckdb.DuckDBPyConnection, path: Path, config: SourceConfig) -> pl.DataFrame:
    fields = _event_fields(config.columns)
    good, rejects = _read_delimited(
        con, path, fields, config.separator, config.header, config.names, config.quote, config.escape,
        build=lambda raw: _normalise(raw, fields, config.timestamp_format, path), max_line_bytes=config.max_line_bytes,
    )
    return _finish(_with_rejects(good, rejects), path)


# --- JSON Lines ------------------------------------------------------------------------------------------


def _read_jsonl(con: duckdb.DuckDBPyConnection, path: Path, config: SourceConfig) -> pl.DataFrame:
    fields = _event_fields(config.columns)
    valid = "json_type(CASE WHEN json_valid(line) THEN line ELSE 'null' END) = 'OBJECT'"
    picks = ", ".join(
        f"CASE WHEN {valid} THEN line ->> {_json_pointer(key)} END AS {alias}"
        for alias, key in fields.items() if key is not None
    )
    parse = (f"SELECT {picks}, CASE WHEN NOT ({valid}) THEN 'malformed_line' END AS error,"
             f" CASE WHEN NOT ({valid}) THEN 'not a JSON object: ' || line END AS detail FROM lines")
    good, rejects = _read_delimited(
        con, path, {"line": "line"}, None, False, ("line",), None, None,
        build=lambda raw: _normalise(raw.query("lines", parse), fields, config.timestamp_format, path),
        max_line_bytes=config.max_line_bytes,
    )
    return _finish(_with_rejects(good, rejects), path)


def _json_pointer(key: str) -> str:
    """A top-level key as an SQL literal of a JSON pointer: every character of the key stands for itself."""
    pointer = "/" + key.replace("~", "~0").replace("/", "~1")
    return "'" + pointer.replace("'", "''") + "'"


# --- Parquet ---------------------------------------------------------------------------------------------


def _parquet_relation(con: duckdb.DuckDBPyConnection, path: Path, wanted: Mapping[str, str | None]):
    rel = con.sql("SELECT * FROM read_parquet(?, file_row_number = true)", params=[str(path)])
    if missing := [c for c in wanted.values() if c is not None and c not in rel.columns]:
        raise SourceReadError(path, f"no column(s) {missing}; the file has {rel.columns[:-1]}")
    picks = ", ".join(f"{quote_identifier(c)} AS {a}" for a, c in wanted.items() if c is not None)
    return rel.query("parquet_file", f"SELECT {picks}, file_row_number + 1 AS source_row FROM parquet_file")


def _read_parquet(con: duckdb.DuckDBPyConnection, path: Path, config: SourceConfig) -> pl.DataFrame:
    fields = _event_fields(config.columns)
    raw = _parquet_relation(con, path, fields).query(
        "events", "SELECT *, NULL::VARCHAR AS error, NULL::VARCHAR AS detail FROM events")
    return _finish(_normalise(raw, fields, config.timestamp_format, path), path)


# --- normalisation (shared by the DuckDB readers) ---------------------------------------------------------


def _timestamp_sql(column_type: str, fmt: TimestampFormat, path: Path) -> str:
    """SQL that turns raw column ``t`` (its trimmed text ``t_raw``) into a UTC TIMESTAMP, NULL where it cannot
    be parsed."""
    if column_type.startswith("TIMESTAMP") or column_type == "DATE":
        return "CAST(t AS TIMESTAMP)"  # TIMESTAMPTZ converts to UTC (the session time zone)
    if fmt == "iso8601":
        if column_type != "VARCHAR":
            raise SourceReadError(path, f"timestamp column is {column_type}, but the format is iso8601")
        return "CAST(TRY_CAST(t_raw AS TIMESTAMPTZ) AS TIMESTAMP)"
    if column_type != "VARCHAR" and column_type not in _NUMERIC_TYPES:
        raise SourceReadError(path, f"timestamp column is {column_type}, not an epoch number")
    number = "TRY_CAST(t_raw AS DOUBLE)" if column_type == "VARCHAR" else "CAST(t AS DOUBLE)"
    seconds = f"{number} * {_EPOCH_SCALE[fmt] / 1e6!r}"
    return (f"CASE WHEN isfinite({seconds}) AND {seconds} BETWEEN {_MIN_EPOCH_S} AND {_MAX_EPOCH_S}"
            f" THEN make_timestamp(CAST(round({number} * {_EPOCH_SCALE[fmt]}) AS BIGINT)) END")


def _normalise(
    raw: duckdb.DuckDBPyRelation, fields: Mapping[str, str | None], fmt: TimestampFormat, path: Path
) -> pl.DataFrame:
    """Parse raw columns u, i (and t, r, e where mapped), error, detail and an optional source_row (passed
    through) into normalised columns. Unmapped fields are left out (:func:`_finish` adds them as nulls)."""
    types = dict(zip(raw.columns, (str(t) for t in raw.types)))
    texts = {}  # trimmed text of timestamp and rating, NULL when empty
    parsed = {"user_id": "CAST(u AS VARCHAR)", "item_id": "CAST(i AS VARCHAR)"}
    checks = []  # (condition, reason, detail), after the reader's own error
    if fields["t"]:
        texts["t_raw"] = f"NULLIF(trim(CAST(t AS VARCHAR), {_WHITESPACE}), '')"
        parsed |= {"timestamp": _timestamp_sql(types["t"], fmt, path), "t_raw": "t_raw"}
        checks += [("t_raw IS NULL", "missing_timestamp", "NULL"),
                   ("timestamp IS NULL", "bad_timestamp", "'timestamp: ' || t_raw")]
    if fields["r"]:
        texts["r_raw"] = f"NULLIF(trim(CAST(r AS VARCHAR), {_WHITESPACE}), '')"
        number = "CAST(r AS DOUBLE)" if types["r"] in _NUMERIC_TYPES else "TRY_CAST(r_raw AS DOUBLE)"
        parsed |= {"rating": f"CASE WHEN isfinite({number}) THEN {number} END", "r_raw": "r_raw"}
        checks.append(("r_raw IS NOT NULL AND rating IS NULL", "bad_rating", "'rating: ' || r_raw"))
    if fields["e"]:
        parsed["event_type"] = "CAST(e AS VARCHAR)"
    if "source_row" in types:
        parsed["source_row"] = "CAST(source_row AS BIGINT)"
    error = "CASE WHEN error IS NOT NULL THEN error " + " ".join(f"WHEN {c} THEN '{r}'" for c, r, _ in checks) + " END"
    detail = "CASE WHEN error IS NOT NULL THEN detail " + " ".join(f"WHEN {c} THEN {d}" for c, _, d in checks) + " END"
    reasons = ", ".join(f"'{r}'" for r in REASONS)
    outputs = ", ".join(c for c in parsed if not c.endswith("_raw"))
    with_texts = "".join(f", {sql} AS {name}" for name, sql in texts.items())
    return raw.query("raw", f"""
        SELECT {outputs}, CAST({error} AS ENUM({reasons})) AS error, {detail} AS detail
        FROM (SELECT {", ".join(f"{sql} AS {name}" for name, sql in parsed.items())}, error, detail
              FROM (SELECT *{with_texts} FROM raw))
    """).pl()


def _with_rejects(frame: pl.DataFrame, rejects: pl.DataFrame) -> pl.DataFrame:
    """Append the malformed records (their reason becomes the ``error``)."""
    if not len(rejects):
        return frame
    return pl.concat([frame, rejects.rename({"reason": "error"})], how="diagonal_relaxed")


def _finish(frame: pl.DataFrame, source: str | Path) -> pl.DataFrame:
    """Add the source file and give the frame exactly the normalised schema."""
    return frame.with_columns(source_file=pl.lit(str(source))).select(
        pl.col(name).cast(dtype) if name in frame.columns or name == "source_file" else pl.lit(None, dtype).alias(name)
        for name, dtype in NORMALISED_SCHEMA.items()
    )


# --- sequence format and the generator -------------------------------------------------------------------


def _read_sequence_file(con: duckdb.DuckDBPyConnection, path: Path, config: SourceConfig) -> pl.DataFrame:
    """``user item item ...`` per line: one event per item, no timestamps; a row is one event, numbered in file
    order. A malformed line, or one with a user and no items, is one rejected row with its line number."""
    lines, rejects = _read_delimited(con, path, {"line": "line"}, None, False, ("line",), None, None,
                                     max_line_bytes=config.max_line_bytes)
    tokens = lines.with_columns(pl.col("line").str.extract_all(r"\S+").alias("tokens"))
    no_items = tokens.filter(pl.col("tokens").list.len() == 1).select(
        "source_row", reason=pl.lit("malformed_line"), detail=pl.lit("no items: ") + pl.col("line"))
    events = (
        tokens.filter(pl.col("tokens").list.len() > 1)
        .select(pl.col("tokens").list.first().alias("user_id"), pl.col("tokens").list.slice(1).alias("item_id"))
        .explode("item_id")
        .with_row_index("source_row", offset=1)
    )
    return _finish(_with_rejects(events, pl.concat([rejects, no_items])), path)


def _synthetic_frame(config: SyntheticConfig) -> pl.DataFrame:
    """The generator's events as one source file named ``synthetic`` whatever the settings, so that a load with
    other settings replaces the previous synthetic load (ingestion records the settings in ``loads``)."""
    from elcrec_core.warehouse import SYNTHETIC_SOURCE_FILE

    events = generate(config).events
    return _finish(
        events.select(
            pl.col("user_id").cast(pl.String),
            pl.col("item_id").cast(pl.String),
            (pl.col("timestamp") * 1_000_000).cast(pl.Datetime("us")),
        ).with_row_index("source_row", offset=1),
        SYNTHETIC_SOURCE_FILE,
    )

