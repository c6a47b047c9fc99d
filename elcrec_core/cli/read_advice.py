"""Advice on the options when reading a file failed where a guess (the format, the header, the timestamps) may be
at fault: which options to give, and what the file looks like instead."""

from __future__ import annotations

import ast
import csv
import re
from pathlib import Path
from typing import Protocol

import polars as pl

from elcrec_core.cli.format_guessing import FORMAT_FIX, first_lines, is_number, looks_like, parquet_schema
from elcrec_core.cli.settings_origin import COLUMNS, SPACE_DELIMITER, Fix, SettingsOrigin
from elcrec_core.data.files import HEADER_IS_DATA, SourceReadError
from elcrec_core.data.sequence_summary import counted
from elcrec_core.data.source_config import SourceConfig
from elcrec_core.data.timestamp_patterns import FORMATS_TEXT, format_text


def read_advice(exc: SourceReadError, first: Path, source: SourceConfig, how: str | None,
                origin: SettingsOrigin = SettingsOrigin()) -> str:
    """What to try when reading failed: the column options where columns are missing, the timestamp options
    where no time could be read, and, where another format may read the file, the format where it was guessed
    (``how``) or the first line looks like another format. Each fix is named as ``origin`` has the user give it:
    an option, or a setting of the ``--source`` file (``; set timestamp_format: ... in /abs/events.yaml``)."""
    tips = []
    # a header that holds another delimiter: the reader asks whether that is it, and no column option would help
    if exc.cause.startswith("no column(s)") and not exc.cause.endswith(": is that the delimiter?"):
        header = _first_fields(first, source) if source.header else []
        if header and all(is_number(f) or not f.strip() for f in header):
            read = [c for c in (source.columns.user, source.columns.item, source.columns.timestamp) if c]
            tips.append(f"its first line looks like data, not a header: {origin.give(*_NO_HEADER)} with a name "
                        f"for each of its {counted(len(header), 'column')} (those read: {', '.join(read)})")
        elif len(header) == 1 and len(header[0].split()) > 1:
            tips.append(f"its first line has no {source.separator!r} but spaces between names: "
                        f"{origin.give(SPACE_DELIMITER)} if spaces separate its fields")
        elif siblings := siblings_having(Path(exc.path), exc.cause, source):  # options would miss theirs
            tips.append(siblings_text(siblings))  # (helper-238: "name the columns with --event-type-column")
        else:  # the options of the columns missing (--event-type-column's was never named: helper-190)
            tips.append(f"name the columns with {origin.named(*_column_settings(exc.cause, source))}"
                        + ("" if source.format in ("jsonl", "parquet") else
                           f", or {origin.named(('names', None), ('header', 'true'), joiner=' with ')} (names that "
                           f"replace the header's; {origin.named(*_NO_HEADER, joiner=' and ')} for a file without "
                           "one)"))
        if exc.cause.startswith(f"no column(s) [{source.columns.timestamp!r}]"):  # CSV's "; the file", JSONL's " ("
            tips.append(f"a file without times: {origin.named(('timestamp_column', 'none'))} (each user's events in "
                        "file order)")
    if HEADER_IS_DATA in exc.cause:
        tips.append(f"{origin.give(*_NO_HEADER)} with a name for each of its columns")
    if source.quote is None and "TOO MANY COLUMNS: " in exc.cause and _quotes_fit(first, source):
        tips.append(f"its fields are quoted, with the delimiter inside: leave out {origin.named(_NO_QUOTE)} "
                    "(quotes then group a field's text)")
    if "bad_timestamp" in exc.cause or "missing_timestamp" in exc.cause:
        tips.append(f"the timestamps were read as {format_text(source.timestamp_format)}: "
                    f"{origin.give(('timestamp_format', FORMATS_TEXT), ('timestamp_column', 'none'), joiner=', or ')}"
                    " (the latter where the file has no times)")
    content = looks_like(first)
    if "NUL byte" in exc.cause and content != "parquet":
        wide = re.search(r"the source setting encoding: (utf-\d+) reads it", exc.cause)  # its byte order mark
        tips.append(origin.give(("encoding", wide[1])) if wide else
                    f"{origin.give(('encoding', 'utf-16'))} if it is UTF-16 text (as some spreadsheets export it)")
    if _format_may_be_at_fault(exc.cause, content) and not (content == source.format == "parquet"):  # its magic
        if how is not None:
            tips.append(f"it was read as {source.format}, {how}: {origin.give(FORMAT_FIX)} if that is wrong")
        elif content not in (None, source.format):
            tips.append(f"{'it is' if content == 'parquet' else 'its first line looks like'} {content}: try "
                        f"{origin.named(('format', content))}")
    return "".join(f"; {tip}" for tip in tips)


_NO_HEADER: tuple[Fix, ...] = (("header", "false"), ("names", None))  # a file whose first line is data
_NO_QUOTE: Fix = ("quote", "''")


def _column_settings(cause: str, source: SourceConfig) -> list[Fix]:
    """The settings of the columns that ``cause`` (``no column(s) ['a', 'b']; ...``) names as missing; those of the
    user, item and time where it names none of them."""
    missing = re.findall(r"'((?:[^'\\]|\\.)*)'", cause.split("]", 1)[0])
    columns = source.columns
    settings = {name: setting for name, setting in ((columns.event_type, "event_type_column"),
                                                    (columns.rating, "rating_column"),
                                                    (columns.timestamp, "timestamp_column"),
                                                    (columns.item, "item_column"), (columns.user, "user_column"))
                if name is not None}
    named = [settings[name] for name in missing if name in settings]
    return [(setting, None) for setting in named] or list(COLUMNS)


def _first_fields(path: Path, source: SourceConfig) -> list[str]:
    try:
        lines = first_lines(path)
        return next(csv.reader([lines[0]], delimiter=source.separator)) if lines else []
    except (OSError, csv.Error):
        return []


def _quotes_fit(path: Path, source: SourceConfig) -> bool:
    """Whether read with quotes, a line of the file's first that has more fields than its first line without them
    has as many (``u,"Soap, big",1``): its quotes group fields that hold the delimiter. A quote inside a value
    (``TV 55", black``) groups nothing."""
    try:
        lines = first_lines(path, source.encoding)
    except (OSError, LookupError):
        return False
    if len(lines) < 2 or source.format not in ("csv", "tsv"):
        return False
    count = (lambda line, quoting: len(next(csv.reader([line], delimiter=source.separator, quoting=quoting))))
    width = count(lines[0], csv.QUOTE_NONE)
    wide = [line for line in lines[1:] if count(line, csv.QUOTE_NONE) > width]
    return bool(wide) and all(count(line, csv.QUOTE_MINIMAL) == width for line in wide)


def _format_may_be_at_fault(cause: str, content: str | None) -> bool:
    """Whether another format might read what gave ``cause`` (``content``: what the file looks like): columns not
    found, every row rejected, a Parquet file read as another; not an empty file, nor one of a spreadsheet's empty
    rows alone (``;;;;``, every row ``empty_row``: it said a wrong format might be at fault), compressed data, text in
    another encoding or an unclosed quote, which are the file's whatever its format."""
    return (cause.startswith(("no rows accepted", "no column(s)", "not a Parquet file"))
            and not _NO_DATA.match(cause)) or ("NUL byte" in cause and content == "parquet")


# the counts of a file without data: no row read, or empty rows alone (count_text's words)
_NO_DATA = re.compile(r"no rows accepted: (0 rows read|[\d,]+ rows? read, 0 accepted, [\d,]+ rejected \(empty_row: "
                      r"[\d,]+\)($|;))")


class ReadSettings(Protocol):
    """How a source's files are read: the library's :class:`SourceConfig` or the pipeline's source settings."""

    format: str
    header: bool | None
    names: tuple[str, ...] | list[str] | None
    encoding: str | None
    delimiter: str | None


def siblings_having(path: Path, cause: str, source: ReadSettings) -> list[str]:
    """The other data files of ``path``'s folder (of its suffix; the first 10) that have every column that
    ``cause`` (``no column(s) [...]; the file has ...``) says ``path`` lacks: a part file of a day whose schema
    differs from the others'. Parquet and delimited text with a header; none otherwise."""
    if source.format not in ("parquet", "csv", "tsv") or source.header is False or source.names:
        return []
    try:
        lacking = set(ast.literal_eval(cause.removeprefix("no column(s) ").split("; the file has")[0]))
    except (ValueError, SyntaxError):  # not the reader's list of names
        return []
    others = [file for file in sorted(path.parent.iterdir()) if file.is_file() and file != path
              and file.suffix.lower() == path.suffix.lower() and not file.name.startswith((".", "_"))][:10]
    return [file.name for file in others if lacking <= set(_columns(file, source))]


def siblings_text(siblings: list[str]) -> str:
    """That the files ``siblings`` of a file's folder have the columns it lacks (:func:`siblings_having`)."""
    more = ", ..." if len(siblings) > 3 else ""
    return (f"the other file(s) of its folder have them ({', '.join(siblings[:3])}{more}): this file's columns "
            "differ from theirs (a changed schema, or a file of another export), and settings that name its columns "
            "would miss theirs: deliver it with their columns")


def _columns(path: Path, source: ReadSettings) -> list[str]:
    """The column names of the Parquet or delimited text file ``path`` (its header), or none where it cannot be read."""
    try:
        if source.format == "parquet":
            return list(parquet_schema(path))
        lines = first_lines(path, source.encoding or "utf-8")
        separator = source.delimiter or ("\t" if source.format == "tsv" else ",")
        return next(csv.reader(lines[:1], delimiter=separator)) if lines else []
    except (OSError, ValueError, csv.Error, pl.exceptions.PolarsError):
        return []
