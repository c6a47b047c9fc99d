"""Guessing how to read a file from its first bytes: the format (Parquet's magic bytes, the name, the first
line), the delimiter and the timestamp format; and advice on the options when a read fails where a guess may be at
fault. Files are sniffed through their first :data:`SNIFF_BYTES` only."""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from dataclasses import replace
from pathlib import Path

import polars as pl

from elcrec_core.cli.data_options import ALIASES, FORMATS, DataOptions
from elcrec_core.cli.format_checks import check_names, check_sequence_guess
from elcrec_core.cli.settings_origin import OPTIONS, SEQUENCE_FORMAT, SPACE_DELIMITER, Fix, SettingsOrigin
from elcrec_core.data.detail_shortening import shorten
from elcrec_core.data.files import SourceReadError
from elcrec_core.data.packed_files import packed_refusal
from elcrec_core.data.source_config import ColumnMap, SourceConfig
from elcrec_core.data.text_encoding import is_utf8

SNIFF_BYTES = 1 << 16

SAMPLE_ROWS = 200

# the format of a file by its name's suffix (lower case): how the readers guess it, and how elcrec synth writes it
SUFFIX_FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
                  ".parquet": "parquet", ".pq": "parquet"}

_DELIMITERS = [",", "\t", ";", "|"]

_BOM = b"\xef\xbb\xbf"

_PARQUET_MAGIC = b"PAR1"

FORMAT_FIX: Fix = ("format", "|".join(FORMATS))  # the fix of a format guessed wrong (SettingsOrigin.give)


def _head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(SNIFF_BYTES)


def _lines(head: bytes, encoding: str = "utf-8") -> list[str]:
    """The complete, non-blank lines of a file's first bytes (all of them when the file is shorter), decoded."""
    text = head.removeprefix(_BOM).decode(encoding, errors="replace")
    eol = "\r" if "\r" in text and "\n" not in text else "\n"
    lines = text.split(eol)
    if len(head) == SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # cut off
    return [line.rstrip("\r") for line in lines if line.strip()]


def first_lines(path: Path, encoding: str = "utf-8") -> list[str]:
    """The complete, non-blank lines of the file's first :data:`SNIFF_BYTES`, decoded from ``encoding``."""
    return _lines(_head(path), encoding)


def guess_format(path: Path, encoding: str = "utf-8", origin: SettingsOrigin = OPTIONS) -> tuple[str, str]:
    """(format, how it was guessed) from the file's magic bytes, name or first line (in ``encoding``: UTF-16 text
    was refused for its NUL bytes, ``--encoding utf-16`` or not, helper-187); raises :class:`SourceReadError` when
    none of these tells, naming the fixes as ``origin`` has the user give them."""
    head = _head(path)
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if head.startswith(_PARQUET_MAGIC) and fmt != "parquet":
        return "parquet", "guessed from its content"
    if fmt:
        return fmt, f"guessed from the name {path.suffix}"
    if refusal := packed_refusal(head):
        raise SourceReadError(path, refusal)
    if not is_utf8(encoding):
        head = head.decode(encoding, errors="replace").encode("utf-8")
    if b"\x00" in head:
        raise SourceReadError(path, "cannot tell its format: it holds NUL bytes (binary or compressed data, or "
                                    f"UTF-16 text? {origin.give(('encoding', 'utf-16'))}); {origin.give(FORMAT_FIX)}")
    lines = _lines(head)
    if not lines:
        raise SourceReadError(path, f"cannot tell the format of an empty file; {origin.give(FORMAT_FIX)}")
    found = _format_of_line(lines[0])
    if found is None:
        after = next((fmt for line in lines[1:] if (fmt := _format_of_line(line))), None)
        title = (f" (the lines after it look like {after}: is it a title above the data? Remove it: no option "
                 "skips lines)" if after else "")
        raise SourceReadError(path, f"cannot tell its format from the name or the first line "
                                    f"{shorten(lines[0], 80)!r}{title}; {origin.give(FORMAT_FIX)}")
    return found, "guessed from its first line"


def _space_separated_header(lines: list[str]) -> bool:
    """Whether the first of ``lines`` (2 or more) is names (no digit) and every line has as many fields."""
    names = lines[0].split()
    return (len(lines) > 1 and not any(c.isdigit() for c in lines[0])
            and all(len(line.split()) == len(names) for line in lines[1:]))


def _format_of_line(line: str) -> str | None:
    """The format a first line looks like, or None."""
    if line.lstrip().startswith("{"):
        return "jsonl"
    if "\t" in line:
        return "tsv"
    if any(d in line for d in ",;|"):
        return "csv"  # _guess_delimiter finds a delimiter other than the comma
    if len(line.split()) >= 2:
        return "sequence"
    return None


def choose_format(first: Path, options: DataOptions) -> tuple[str, list[str]]:
    """The source format for the file ``first`` and notes on how it was chosen."""
    given = options.format
    if given not in (None, "auto", "events"):
        return ALIASES.get(given, given), []
    if given == "events":  # as earlier versions: an events file, by its name (csv unless named otherwise)
        if _head(first).startswith(_PARQUET_MAGIC):
            return "parquet", ["--format events: Parquet by its content"]
        fmt = SUFFIX_FORMATS.get(first.suffix.lower(), "csv")
        return fmt, [f"--format events: {fmt} by its name"]
    fmt, how = guess_format(first, options.encoding, options.origin)
    if options.delimiter is not None and fmt == "sequence":  # such as a space-delimited file with a header
        return "csv", ["delimited text: --delimiter given"]
    if fmt == "sequence" and _space_separated_header(lines := first_lines(first)):
        fixes = options.origin.give(SPACE_DELIMITER), options.origin.named(SEQUENCE_FORMAT)
        raise SourceReadError(first, f"its first line {shorten(lines[0], 80)!r} looks like the header of a table "
                                     f"separated by spaces (every line has {len(lines[0].split())} fields), not a "
                                     f"user and their items: {fixes[0]} to read its events, or {fixes[1]} if each "
                                     "line is one user's items")
    if fmt == "sequence":
        check_sequence_guess(first, lines, options.origin)
    return fmt, [how]


def check_one_format(path: str, files: list[Path]) -> None:
    """Raise :class:`SourceReadError` where the names of ``files`` (those that ``path`` names) tell more than one
    format, or one for some files and none for others (a README.txt beside the CSV files): the format of the first
    file would be taken for all."""
    by_format: dict[str | None, list[str]] = {}
    for file in files:
        by_format.setdefault(SUFFIX_FORMATS.get(file.suffix.lower()), []).append(file.name)
    if len(by_format) > 1 and set(by_format) != {None}:
        kinds = "; ".join(f"{fmt or 'no known suffix'}: {', '.join(names[:3])}{', ...' * (len(names) > 3)}"
                          for fmt, names in by_format.items())
        raise SourceReadError(path, f"its files are not of one format by their names ({kinds}): name the files "
                                    "to read with a glob (such as 'folder/*.csv'), or give --format")


def event_source(path: str, files: list[Path], fmt: str, options: DataOptions) -> tuple[SourceConfig, list[str]]:
    """The source config of event ``files`` (of one ``path``), with the delimiter guessed from the first file and the
    timestamp format from the first file whose rows tell (a file with a header only does not), where not given."""
    notes, first = [], files[0]
    defaults = ColumnMap()
    timestamp = options.timestamp_column if options.timestamp_column is not None else defaults.timestamp
    columns = ColumnMap(user=options.user_column or defaults.user, item=options.item_column or defaults.item,
                        timestamp=None if timestamp in ("none", "") else timestamp, rating=options.rating_column,
                        event_type=options.event_type_column)
    delimiter = _delimiter(options.delimiter)
    if fmt in ("csv", "tsv") and delimiter is None:
        delimiter = _guess_delimiter(first, fmt)
        if delimiter is not None:
            notes.append(f"delimiter {delimiter!r} guessed from the first lines")
    source = SourceConfig(format=fmt, path=path, columns=columns, delimiter=delimiter,
                          header=options.header and (options.names is None or options.header_names),
                          names=options.names, quote=options.quote,
                          timestamp_format=options.timestamp_format or "epoch_s", encoding=options.encoding,
                          timezone=options.timezone)
    if options.names is not None and not options.header_names and fmt in ("csv", "tsv"):
        check_names(first, first_lines(first, options.encoding), options.names, (columns.user, columns.item),
                    source.separator, options.quote, options.origin)
    if columns.timestamp is not None and options.timestamp_format is None:
        detected = next(filter(None, (_detect_timestamp_format(file, source) for file in files)), None)
        if detected is not None:
            source = replace(source, timestamp_format=detected)
            notes.append(f"timestamps: {detected}, detected from the first rows")
    return source, notes


def _delimiter(text: str | None) -> str | None:
    if text is None:
        return None
    text = {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(text, text)
    if len(text) != 1:
        raise ValueError(f"--delimiter must be one character (or \\t, tab), not {text!r}")
    return text


def _guess_delimiter(path: Path, fmt: str) -> str | None:
    """Another delimiter than the format's own where some first lines lack it and all are records of one field count
    by one other alone (``qty (units, each)`` among ';' fields: helper-220; the own kept where it splits every line,
    as tabs around ``Doe, Jane``: helper-221); else where the first line lacks the own and holds one other."""
    try:
        lines = first_lines(path)
    except OSError:
        return None
    own = "\t" if fmt == "tsv" else ","
    if not lines or min(_field_counts(lines, own)) > 1:
        return None
    counts = {d: _field_counts(lines, d) for d in _DELIMITERS if d != own}
    if len(fitting := [d for d, c in counts.items() if len(set(c)) == 1 and c[0] > 1]) == 1:  # one count, 2 or more
        return fitting[0]
    others = [d for d in _DELIMITERS if d != own and d in lines[0]]
    return others[0] if len(others) == 1 and own not in lines[0] else None


def _field_counts(lines: list[str], delimiter: str) -> list[int]:
    """Each record's field count, read by the csv module; [0] for lines it cannot read (a stray \\r: helper-223)."""
    try:
        return [len(row) for row in csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)]
    except csv.Error:
        return [0]


def _detect_timestamp_format(path: Path, source: SourceConfig) -> str | None:
    """epoch_s, epoch_ms, epoch_us or iso8601 from the first rows' timestamps (epoch numbers by their size: times
    since 1973 in milliseconds and microseconds pass 1e11 and 1e14); None when they do not tell (the reader's
    default applies, and it reports what it cannot parse)."""
    try:
        samples = _timestamp_samples(path, source)
    except Exception:  # sniffing never fails a load: the reader names what is wrong
        return None
    values = [s.strip() for s in samples if s is not None and s.strip()]
    if not values:
        return None
    numbers = [float(v) for v in values if is_number(v)]
    if len(numbers) * 2 < len(values):
        return "iso8601"
    median = statistics.median(abs(n) for n in numbers)
    return "epoch_us" if median >= 1e14 else "epoch_ms" if median >= 1e11 else "epoch_s"


def is_number(text: str) -> bool:
    """Whether ``text`` is a finite number."""
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _timestamp_samples(path: Path, source: SourceConfig) -> list[str]:
    column = source.columns.timestamp
    if source.format == "parquet":
        dtype = parquet_schema(path).get(column)
        if dtype is None or dtype.is_temporal():
            return []  # a missing column is the reader's to name; a typed time needs no format
        frame = pl.scan_parquet(path, glob=False).select(pl.col(column).cast(pl.String)).head(SAMPLE_ROWS).collect()
        return frame[column].to_list()
    lines = first_lines(path, source.encoding)  # another encoding: UTF-16's times were not detected
    if source.format == "jsonl":
        values = []
        for line in lines[:SAMPLE_ROWS]:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get(column), (str, int, float)):
                values.append(str(record[column]))
        return values
    quote = source.quote
    rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=source.separator, quotechar=quote or None,
                           quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE))
    if not rows:
        return []
    names = list(source.names) if source.names else rows[0] if source.header else [
        f"column{i}" for i in range(len(rows[0]))]
    if column not in names:
        return []
    at = names.index(column)
    return [row[at] for row in rows[1 if source.header else 0:][:SAMPLE_ROWS] if len(row) > at]


def looks_like(path: Path) -> str | None:
    """The format the file's content looks like (Parquet's magic bytes, else its first line), or None."""
    try:
        head = _head(path)
    except OSError:
        return None
    if head.startswith(_PARQUET_MAGIC):
        return "parquet"
    lines = [] if b"\x00" in head else _lines(head)
    return _format_of_line(lines[0]) if lines else None


def parquet_schema(path: Path) -> dict[str, pl.DataType]:
    """The schema of the Parquet file ``path``, read through an open file: Polars takes a name with ``*``, ``?`` or
    ``[`` for a pattern."""
    with path.open("rb") as fh:
        return dict(pl.read_parquet_schema(fh))


def is_sequences_parquet(path: Path) -> bool:
    """The pipeline's sequences.parquet: columns user_id and items, a list."""
    try:
        schema = parquet_schema(path)
    except Exception:
        return False  # the reader names what is wrong
    return "user_id" in schema and isinstance(schema.get("items"), (pl.List, pl.Array))
