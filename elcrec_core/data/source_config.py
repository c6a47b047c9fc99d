"""Interaction sources' settings: the normalised event schema every reader returns, the column map, the
source and item-metadata settings, and which files a source path names."""

from __future__ import annotations

import glob as globlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl
import yaml
from pydantic import SkipValidation

from elcrec_core.config.field_types import check_field_types
from elcrec_core.config.settings import check_keys
from elcrec_core.data.files import (
    MAX_LINE_BYTES,
    SourceReadError,
)
from elcrec_core.data.synthetic import SyntheticConfig
from elcrec_core.data.text_encoding import encoding_problem, is_utf8
from elcrec_core.data.time_zones import timezone_problem
from elcrec_core.data.timestamp_patterns import timestamp_format_problem, timestamp_format_value
from elcrec_core.data.validation import REASONS

SourceFormat = Literal["csv", "tsv", "parquet", "jsonl", "sequence", "synthetic"]


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


@dataclass(frozen=True)
class ColumnMap:
    """Which source column (or JSON key) holds each field; ``None`` for a field the source does not have."""

    user: str = "user_id"
    item: str = "item_id"
    timestamp: str | None = "timestamp"
    rating: str | None = None
    event_type: str | None = None

    def __post_init__(self) -> None:
        check_field_types(self)


@dataclass(frozen=True)
class SourceConfig:
    """Where interactions come from and how to read them.

    ``path`` is a file, a folder (its files in name order, not ``.*`` nor ``_*``) or a glob. Delimited text is
    ``csv`` or ``tsv``; for it alone ``delimiter`` (default ``,`` for csv and tab for tsv: any one character),
    ``header`` (whether the first line that is not empty is a header; default true, or false where ``names``
    are given), ``names`` (the column names, instead of the header's, or of a file without header; default the
    header's, or ``column0``, ``column1``, ...), ``quote`` (``None``: no quoting) and ``escape`` apply (another
    format refuses them, where given otherwise than their defaults: ValueError naming them). The
    sequence format is the benchmark line format ``user item item ...`` (no timestamps: the order is the line
    order). A text file with a line longer than ``max_line_bytes`` is refused. ``encoding`` (any Python codec
    name, such as ``latin-1`` or ``cp1252``; default ``utf-8``) is that of text files, read as UTF-8 copies of the
    same lines. ``timestamp_format`` is a named format, a strptime pattern or a list of patterns (each value read by
    the first that reads it whole; a list of one is that pattern); another value raises ValueError naming it (and a
    pattern's place in a list). ``timezone`` (an IANA name, such as ``America/New_York``; default None: UTC) is the
    zone of times written without a UTC offset, stored as UTC (:mod:`~elcrec_core.data.time_zones`); an unknown
    name raises ValueError naming it. ``synthetic`` configures the generator for ``format="synthetic"``.
    """

    format: SourceFormat
    path: str | None = None
    columns: ColumnMap = field(default_factory=ColumnMap)
    # timestamp_patterns' TimestampFormat, a strptime pattern ("%d.%m.%Y %H:%M") or a list of them (a tuple)
    timestamp_format: SkipValidation[str | tuple[str, ...]] = "epoch_s"
    delimiter: str | None = None
    header: bool | None = None  # None: true, or false where ``names`` are given
    names: tuple[str, ...] | None = None
    quote: str | None = '"'
    escape: str | None = None  # default: the quote character (a doubled quote)
    max_line_bytes: int = MAX_LINE_BYTES
    encoding: str = "utf-8"
    timezone: str | None = None  # None: UTC
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)

    def __post_init__(self) -> None:
        check_field_types(self)
        if problem := encoding_problem(self.encoding) or timestamp_format_problem(self.timestamp_format) or (
                self.timezone is not None and timezone_problem(self.timezone)):
            raise ValueError(problem)
        object.__setattr__(self, "timestamp_format", timestamp_format_value(self.timestamp_format))
        if self.format != "synthetic" and not self.path:
            raise ValueError(f"a {self.format} source needs a path")
        if self.delimiter is not None and len(self.delimiter) != 1:
            raise ValueError(f"delimiter must be one character, not {self.delimiter!r}")
        if self.max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be positive, not {self.max_line_bytes}")
        if self.quote is not None and len(self.quote) != 1:
            raise ValueError(f"quote must be one character or None (no quoting), not {self.quote!r}")
        if self.names is not None and len(set(self.names)) != len(tuple(self.names)):
            raise ValueError(f"names repeat a column: {list(self.names)}")
        if self.format not in ("csv", "tsv") and (given := delimited_settings(vars(self))):
            raise ValueError(delimited_refusal(given, self.format))
        if self.header is None:  # names given alone name the columns of a file without header
            object.__setattr__(self, "header", self.names is None)

    @property
    def separator(self) -> str:
        """The field delimiter of delimited text."""
        return self.delimiter or ("\t" if self.format == "tsv" else ",")

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> "SourceConfig":
        """Build from plain data (TOML, YAML, Dagster run config); ``columns`` and ``synthetic`` are mappings. Raises
        ValueError naming an unknown setting or a value of the wrong type (:func:`check_field_types`)."""
        check_keys(dict(config), cls, "source")
        return cls(**config)


def delimited_settings(settings: Mapping[str, Any]) -> list[str]:
    """The settings of delimited text that ``settings`` (a source's, by name) give otherwise than their defaults:
    ``delimiter``, ``names``, ``escape``, ``header`` false (no header line), a ``quote`` other than ``"``."""
    given = [name for name in ("delimiter", "names", "escape") if settings.get(name) is not None]
    return given + (["header"] if settings.get("header") is False else []) + (
        ["quote"] if settings.get("quote", '"') != '"' else [])


def path_without_format(settings: Mapping[str, Any]) -> str | None:
    """Why source ``settings`` (by name) that give a ``path`` but no format that reads it (none: the default,
    synthetic, which loaded demo data in the file's place, helper-187; or synthetic) are refused; None where not."""
    if settings.get("path") is None or settings.get("format") not in (None, "synthetic"):
        return None
    return f"path {settings['path']!r} is given, but " + (
        "no format: give the file's format (format: csv, tsv, parquet, jsonl or sequence); without it the source is "
        "the synthetic data, which reads no file" if settings.get("format") is None else
        "format synthetic reads no file: give the file's format (csv, tsv, parquet, jsonl or sequence)")


def delimited_refusal(given: list[str], fmt: str) -> str:
    """Why a source of format ``fmt`` (not csv or tsv) refuses the delimited-text settings ``given``."""
    return (f"{', '.join(given)}: settings of delimited text (csv, tsv) that a {fmt} source has no use for; leave "
            "them out")


@dataclass(frozen=True)
class ItemMetadataConfig:
    """Optional item metadata kept for profiling: Parquet (by the ``.parquet`` suffix), else delimited text.

    ``item`` and ``title`` name the columns of the item id and title (``title=None``: no titles). Categories
    come from ``categories``, a list column or text split on ``categories_separator`` (``None``: no such
    column), and/or from 0/1 flag columns, ``category_flags``: a mapping ``{column: category}`` or a sequence
    of columns named as their categories; a row's categories are those of its flags that hold ``1`` (any
    number 1, such as ``1.0``, or ``true``), in the order of ``category_flags``, after the ones of the list
    column. A flag may be 0, ``false`` or empty; any other value rejects the row (``bad_category_flag``).
    Categories are stripped of surrounding white space; empty ones (``a||b``, ``x|``) are dropped.

    Delimited text: ``delimiter`` (any one character), ``header`` (``False``: no header line; the columns are
    then ``column0``, ``column1``, ...; default true, or false where ``names`` are given), ``names`` (the column
    names, instead of the header's or of a file without header), ``quote`` (``None``: no quoting) and ``encoding``
    (any Python codec name, such as ``latin-1``; the file is read as UTF-8 text after a streamed conversion).
    MovieLens 100K's ``u.item``: ``delimiter="|"``, ``header=False``, ``encoding="latin-1"``, ``names`` =
    ``item_id, title, release, video_release, url`` and the 19 genres of ``u.genre``, ``categories=None`` and
    ``category_flags`` = the genres (:data:`MOVIELENS_GENRES` but its first, ``unknown``: the mark of a film
    without a known genre, not a genre).
    """

    path: str
    item: str = "item_id"
    title: str | None = "title"
    categories: str | None = "categories"  # a list column, or text split on ``categories_separator``
    categories_separator: str = "|"
    delimiter: str = ","
    header: bool | None = None  # None: true, or false where ``names`` are given
    names: tuple[str, ...] | None = None
    encoding: str = "utf-8"
    quote: str | None = '"'
    # checked below, with messages of its own (pydantic's for a union of three forms name none of them plainly)
    category_flags: SkipValidation[tuple[tuple[str, str], ...] | Mapping[str, str] | Sequence[str] | None] = None

    def __post_init__(self) -> None:
        check_field_types(self)
        if len(self.delimiter) != 1:
            raise ValueError(f"item metadata delimiter must be one character, not {self.delimiter!r}")
        if self.quote is not None and len(self.quote) != 1:
            raise ValueError(f"item metadata quote must be one character or None, not {self.quote!r}")
        if not self.categories_separator:
            raise ValueError("item metadata categories_separator must not be empty")
        if problem := encoding_problem(self.encoding, "item metadata encoding"):
            raise ValueError(problem)
        if self.names is not None and len(set(self.names)) != len(self.names):
            raise ValueError(f"item metadata names repeat a column: {list(self.names)}")
        if Path(self.path).suffix.lower() == ".parquet" and (given := delimited_settings(  # ignored (helper-200)
                {**vars(self), "delimiter": None if self.delimiter == "," else self.delimiter})
                + (["encoding"] if not is_utf8(self.encoding) else [])):
            raise ValueError(f"item metadata {', '.join(given)}: settings of delimited text that a Parquet file has no "
                             "use for; leave them out")
        if self.header is None:  # names given alone name the columns of a file without header
            object.__setattr__(self, "header", self.names is None)
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


def _listed(name: str, pattern: str = "") -> bool:
    """Whether a folder's or a glob's file is data: not hidden (``.``) nor a writer's marker or temporary file
    (``_``: Spark's ``_SUCCESS``, Hadoop's ``_temporary``), which Spark, pyarrow and DuckDB's Hive reading skip;
    but where the glob's own ``pattern`` for the name starts so (``_events_*.csv``)."""
    return not name.startswith((".", "_")) or pattern.startswith(name[0])


def resolve_files(path: str | Path) -> list[Path]:
    """The files a source path names, as absolute paths with links resolved: the file itself (also where its name
    holds ``*``, ``?`` or ``[``), a folder's files, or a glob's matches, in name order, each file once (a link to a
    file beside it, such as latest.csv, is that file); of a folder or glob, not those whose names start with ``.``
    or ``_`` (:func:`_listed`). Raises SourceReadError where it names no file, naming a folder's subfolders."""
    text = str(path)
    p = Path(text)
    if p.is_dir():
        files = sorted({f.resolve() for f in p.iterdir() if f.is_file() and _listed(f.name)})
    elif p.is_file():
        files = [p.resolve()]
    elif any(c in text for c in "*?["):
        base = next((parent for parent in p.parents if parent.is_dir()), Path("."))  # its folders that exist are
        pattern = str(Path(globlib.escape(str(base))) / p.relative_to(base))  # named, not patterns: "data [v2]"
        files = sorted({Path(f).resolve() for f in globlib.glob(pattern, recursive=True)
                        if Path(f).is_file() and _listed(Path(f).name, p.name)})
    else:
        raise SourceReadError(text, "no such file or folder")
    if not files:
        folders = sorted(f.name for f in p.iterdir() if f.is_dir()) if p.is_dir() else []
        where = p if p.is_dir() else p.parent
        skipped = sorted(f.name for f in where.iterdir() if not _listed(f.name) and f.is_file()) \
            if where.is_dir() else []  # the name first: a stat of each of a large folder's files is slow
        raise SourceReadError(text, "no files found" + (
            f"; its subfolders ({', '.join(folders[:3])}{', ...' if len(folders) > 3 else ''}) are read only through "
            f"a glob, such as {(p / '*' / '*').as_posix()}" if folders else "") + (
            f"; {', '.join(skipped[:3])}{', ...' if len(skipped) > 3 else ''} in {where.name or where}: not data (a "
            "name that starts with _ or ., such as Spark's _SUCCESS; a day without events needs an empty data "
            "file, and min_rows: 0)" if skipped else ""))
    return files


def day_files(pattern: str, day: str) -> list[Path]:
    """The files that the source path ``pattern`` names for ``day`` (``{date}`` filled in; a file, a folder's
    files or a glob's matches, as the ingestion reads them), none where there are none yet."""
    return files_now(pattern.replace("{date}", day))


def files_now(path: str | Path) -> list[Path]:
    """The files that ``path`` names (:func:`resolve_files`), none where it names none, or a folder that cannot be
    read now (the read or the next tick says so)."""
    try:
        return resolve_files(path)
    except (SourceReadError, OSError):
        return []


def read_settings_file(file: Path) -> dict[str, Any]:
    """The settings in the source settings file ``file`` (YAML holding a mapping: the pipeline's ``ELCREC_SOURCE``,
    the command line's ``--source``), its ``path`` and ``item_metadata_path`` made absolute against the file's
    folder (resolved, without ``..``: the path read, as messages name it). Raises OSError where it cannot be read,
    ``yaml.YAMLError`` where it is no YAML, and TypeError, naming what it holds, where that is no mapping."""
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:  # an unquoted strptime pattern: YAML reads % as the start of a directive
        hint = "\n(a value that begins with % is quoted in YAML: timestamp_format: '%d.%m.%Y %H:%M')"
        raise yaml.YAMLError(f"{err}{hint}" if "'%'" in str(err) else err) from None
    if not isinstance(data, dict):
        raise TypeError(type(data).__name__)
    for key in ("path", "item_metadata_path"):
        if isinstance(data.get(key), str) and not Path(data[key]).is_absolute():
            data[key] = os.path.normpath(file.resolve().parent / data[key])  # as read: no "team/../logs"
    return data

