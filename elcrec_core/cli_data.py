"""The command line's data: any source file read exactly as the pipeline reads it, into sequences.

Event files (csv, tsv, jsonl, Parquet events) and the benchmark ``sequence`` format go through the pipeline's
own steps: :func:`elcrec_core.ingestion.ingest` (the readers of :mod:`elcrec_core.sources`, ids as text, and the
default :class:`~elcrec_core.validation.RowRules`) into a temporary warehouse, then
:func:`elcrec_core.sequence_building.build_sequences` (events ordered by timestamp, source file and source row;
items indexed in natural id order; k-core off unless asked for). The pipeline's own ``sequences.parquet`` (with
its ``item_index.parquet``) is read as it is.

One rule is the command line's own: in the ``sequence`` format, when every item id is a positive integer in
canonical form (``7``, not ``007``), the item index is the integer itself (``n_items`` = the largest id), as the
benchmark files and the paper's checkpoints expect; the item ids are then the indices (``item_ids`` is None).

The format is guessed when not given: from a Parquet file's magic bytes, from the name (``.csv``, ``.tsv``,
``.jsonl``, ``.parquet``), else from the first line (``{`` jsonl, a tab tsv, a comma csv, whitespace-separated
tokens the sequence format). The timestamp format (epoch seconds, epoch milliseconds or ISO 8601) is detected
from the first rows when not given. Files are sniffed through their first :data:`SNIFF_BYTES` only.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import polars as pl

from elcrec_core.ingestion import ingest
from elcrec_core.reading import SourceReadError
from elcrec_core.sequence_building import SequenceConfig, build_sequences
from elcrec_core.sequences import MAX_ITEM_ID, Sequences, read_sequence_parquet
from elcrec_core.sources import ColumnMap, SourceConfig, resolve_files
from elcrec_core.synthetic import SyntheticConfig
from elcrec_core.validation import REASONS, RowRules
from elcrec_core.warehouse import LoadReport

SYNTHETIC = "synthetic"
FORMATS = ("sequence", "csv", "tsv", "jsonl", "parquet")
ALIASES = {"sequences": "sequence", "events": "events"}  # the names of earlier versions; events: by the name
FORMAT_CHOICES = ("auto", *FORMATS, *ALIASES)
SNIFF_BYTES = 1 << 16
SAMPLE_ROWS = 200
_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
             ".parquet": "parquet", ".pq": "parquet"}
_DELIMITERS = [",", "\t", ";", "|"]
_BOM = b"\xef\xbb\xbf"
_PARQUET_MAGIC = b"PAR1"
_FORMAT_OPTION = "--format " + "|".join(FORMATS)


@dataclass(frozen=True)
class DataOptions:
    """How to read ``--data``: the format (None: guess), the columns of event files (None: the defaults
    user_id, item_id, timestamp), the timestamp format (None: detect), delimited-text settings and the k-core."""

    format: str | None = None
    user_column: str | None = None
    item_column: str | None = None
    timestamp_column: str | None = None  # "none": the file has no times (events keep their file order)
    timestamp_format: str | None = None
    delimiter: str | None = None
    header: bool = True
    names: tuple[str, ...] | None = None
    k_core: int = 0
    seed: int = 0  # of the synthetic data

    def __post_init__(self) -> None:
        if self.format is not None and self.format != "auto" and self.format not in FORMAT_CHOICES:
            raise ValueError(f"unknown format {self.format!r}; known: {', '.join(FORMAT_CHOICES)}")
        if self.k_core < 0:
            raise ValueError(f"--k-core must be >= 0, not {self.k_core}")

    @property
    def event_options(self) -> list[str]:
        """The options given that only event files (csv, tsv, jsonl, Parquet events) have."""
        given = {"--user-column": self.user_column, "--item-column": self.item_column,
                 "--timestamp-column": self.timestamp_column, "--timestamp-format": self.timestamp_format,
                 "--delimiter": self.delimiter, "--names": self.names}
        return [name for name, value in given.items() if value is not None] + ([] if self.header else ["--no-header"])


@dataclass
class LoadedData:
    """Sequences read for a command, the item id of each index (None: the integer ids are the indices) and
    what the reading did (for the lines :meth:`describe` prints)."""

    sequences: Sequences
    item_ids: np.ndarray | None
    path: str
    format: str  # sequence, csv, tsv, jsonl, parquet (events), sequences-parquet, synthetic
    notes: list[str] = field(default_factory=list)  # how the format and timestamps were chosen
    report: LoadReport | None = None  # None for the pipeline's sequences.parquet
    rejected_examples: list[str] = field(default_factory=list)
    k_core_removed: int = 0

    def item_names(self, indices: np.ndarray) -> list[str]:
        """The item id (text) of each of the item ``indices`` (1..n_items)."""
        if self.item_ids is None:
            return np.asarray(indices).astype(str).tolist()
        return np.asarray(self.item_ids)[np.asarray(indices) - 1].astype(str).tolist()

    def describe(self) -> list[str]:
        """Lines for stderr: what was read as what, and the row counts with the reasons for rejected rows."""
        if self.report is None:
            return []
        how = f" ({'; '.join(self.notes)})" if self.notes else ""
        what = "" if self.format == SYNTHETIC else f" as {self.format}"
        lines = [f"reading {self.path}{what}{how}", "data: " + counts(self.report)]
        lines += [f"  {example}" for example in self.rejected_examples]
        if self.k_core_removed:
            lines.append(f"k-core: {self.k_core_removed} events removed")
        return lines


def counts(report: LoadReport) -> str:
    """``N rows read, A accepted, R rejected (reason: count, ...)``, reasons in order of precedence."""
    text = f"{report.rows_in} rows read, {report.accepted} accepted, {report.rejected} rejected"
    if report.by_reason:
        ordered = sorted(report.by_reason.items(), key=lambda kv: REASONS.index(kv[0]) if kv[0] in REASONS else 99)
        text += " (" + ", ".join(f"{reason}: {n}" for reason, n in ordered) + ")"
    return text


def load(path: str, options: DataOptions = DataOptions()) -> LoadedData:
    """Read ``path`` (a file, folder or glob, or ``synthetic``) into sequences; see the module docstring.
    A file that cannot be read, or that gives no accepted rows, raises :class:`SourceReadError` naming it
    (with advice on the options when a guess may be at fault)."""
    if path == SYNTHETIC:
        if options.event_options:
            raise ValueError(f"{', '.join(options.event_options)}: only for event files, not the synthetic data")
        source = SourceConfig(format="synthetic", synthetic=SyntheticConfig(seed=options.seed))
        return _load_source(source, f"the synthetic data (seed {options.seed})", SYNTHETIC, [], options,
                            lambda exc: "")
    files = resolve_files(path)
    first = files[0]
    name = str(first) if len(files) == 1 else path
    fmt, notes = _choose_format(first, options)
    if fmt == "parquet" and len(files) == 1 and _is_sequences_parquet(first):
        if options.event_options or options.k_core:
            extra = [*options.event_options, *(["--k-core"] if options.k_core else [])]
            raise ValueError(f"{', '.join(extra)}: {name} is the pipeline's sequences.parquet, built already")
        seqs, item_ids = read_sequence_parquet(first)
        return LoadedData(seqs, item_ids, name, "sequences-parquet", notes)
    if fmt == "sequence":
        if options.event_options:
            raise ValueError(f"{', '.join(options.event_options)}: only for event files (csv, tsv, jsonl, "
                             "parquet), not the sequence format")
        source = SourceConfig(format="sequence", path=path)
    else:
        source, more = _event_source(path, first, fmt, options)
        notes += more
    how = notes[0] if options.format in (None, "auto") and notes else None
    return _load_source(source, name, fmt, notes, options, lambda exc: _advice(exc, first, source, how))


def _load_source(source: SourceConfig, name: str, fmt: str, notes: list[str], options: DataOptions,
                 advice) -> LoadedData:
    """Ingest ``source`` into a temporary warehouse and build its sequences, as the pipeline does."""
    with tempfile.TemporaryDirectory(prefix="elcrec-data-") as tmp:
        db = Path(tmp) / "warehouse.duckdb"
        try:
            report, check = ingest(source, RowRules(), db)
            if report.accepted == 0:
                raise SourceReadError(name, f"no rows accepted: {counts(report)}"
                                            + "".join(f"; {e}" for e in _examples(check.rejected, report, fmt, 1)))
        except SourceReadError as exc:
            raise SourceReadError(exc.path, exc.cause + advice(exc)) from None
        build = build_sequences(SequenceConfig(k_core=options.k_core), db)
    if not len(build.sequences):
        raise ValueError(f"{name}: --k-core {options.k_core} removed every one of its {report.accepted} events")
    seqs, item_ids = build.sequences, build.item_ids
    if fmt == "sequence" and (as_integers := _integer_ids(item_ids)) is not None:
        seqs = Sequences(seqs.user_ids, as_integers[seqs.items - 1], seqs.offsets, int(as_integers.max()))
        item_ids = None
        notes = [*notes, f"item ids are integers: used as the item indices 1..{seqs.n_items}"]
    return LoadedData(seqs, item_ids, name, fmt, notes, report, _examples(check.rejected, report, fmt, 3),
                      build.summary.k_core_removed)


def _integer_ids(item_ids: np.ndarray) -> np.ndarray | None:
    """The ids as integers when every one is a positive integer in canonical form up to MAX_ITEM_ID."""
    ids = pl.Series(np.asarray(item_ids).astype(str))
    if not len(ids) or not ids.str.contains(r"^[1-9][0-9]{0,9}$").all():
        return None
    values = ids.cast(pl.Int64).to_numpy()
    return values if values.max() <= MAX_ITEM_ID else None


def _examples(rejected: pl.DataFrame, report: LoadReport, fmt: str, n: int) -> list[str]:
    """The first ``n`` rejected rows as ``line 5: bad_timestamp (timestamp: x)`` (with the file's name first
    when the load read several files)."""
    where = "row" if fmt in ("parquet", "synthetic") else "line"
    out = []
    for file, row, reason, detail in rejected.head(n).select("source_file", "source_row", "reason",
                                                             "detail").iter_rows():
        text = (f"{Path(file).name} " if len(report.files) > 1 else "") + f"{where} {row}: {reason}"
        out.append(text + (f" ({_shorten(detail)})" if detail else ""))
    return out


def _shorten(text: str, limit: int = 120) -> str:
    text = text.rstrip("\r\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- choosing the format -------------------------------------------------------------------------------------


def _head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(SNIFF_BYTES)


def _lines(head: bytes) -> list[str]:
    """The complete, non-blank lines of a file's first bytes (all of them when the file is shorter), decoded."""
    text = head.removeprefix(_BOM).decode("utf-8", errors="replace")
    eol = "\r" if "\r" in text and "\n" not in text else "\n"
    lines = text.split(eol)
    if len(head) == SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # cut off
    return [line.rstrip("\r") for line in lines if line.strip()]


def guess_format(path: Path) -> tuple[str, str]:
    """(format, how it was guessed) from the file's magic bytes, name or first line; raises
    :class:`SourceReadError` when none of these tells."""
    head = _head(path)
    fmt = _SUFFIXES.get(path.suffix.lower())
    if head.startswith(_PARQUET_MAGIC) and fmt != "parquet":
        return "parquet", "guessed from its content"
    if fmt:
        return fmt, f"guessed from the name {path.suffix}"
    if b"\x00" in head:
        raise SourceReadError(path, "cannot tell its format: it holds NUL bytes (binary or compressed data, or "
                                    f"UTF-16 text?); give {_FORMAT_OPTION}")
    lines = _lines(head)
    if not lines:
        raise SourceReadError(path, f"cannot tell the format of an empty file; give {_FORMAT_OPTION}")
    found = _format_of_line(lines[0])
    if found is None:
        raise SourceReadError(path, f"cannot tell its format from the name or the first line "
                                    f"{_shorten(lines[0], 80)!r}; give {_FORMAT_OPTION}")
    return found, "guessed from its first line"


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


def _choose_format(first: Path, options: DataOptions) -> tuple[str, list[str]]:
    """The source format for the file ``first`` and notes on how it was chosen."""
    given = options.format
    if given not in (None, "auto", "events"):
        return ALIASES.get(given, given), []
    if given == "events":  # as earlier versions: an events file, by its name (csv unless named otherwise)
        if _head(first).startswith(_PARQUET_MAGIC):
            return "parquet", ["--format events: Parquet by its content"]
        fmt = _SUFFIXES.get(first.suffix.lower(), "csv")
        return fmt, [f"--format events: {fmt} by its name"]
    fmt, how = guess_format(first)
    if options.delimiter is not None and fmt == "sequence":  # such as a space-delimited file with a header
        return "csv", ["delimited text: --delimiter given"]
    return fmt, [how]


def _event_source(path: str, first: Path, fmt: str, options: DataOptions) -> tuple[SourceConfig, list[str]]:
    """The source config of an event file, with the delimiter and timestamp format guessed where not given."""
    notes = []
    defaults = ColumnMap()
    timestamp = options.timestamp_column if options.timestamp_column is not None else defaults.timestamp
    columns = ColumnMap(user=options.user_column or defaults.user, item=options.item_column or defaults.item,
                        timestamp=None if timestamp in ("none", "") else timestamp)
    delimiter = _delimiter(options.delimiter)
    if fmt in ("csv", "tsv") and delimiter is None:
        delimiter = _guess_delimiter(first, fmt)
        if delimiter is not None:
            notes.append(f"delimiter {delimiter!r} guessed from the first line")
    source = SourceConfig(format=fmt, path=path, columns=columns, delimiter=delimiter,
                          header=options.header and options.names is None, names=options.names,
                          timestamp_format=options.timestamp_format or "epoch_s")
    if columns.timestamp is not None and options.timestamp_format is None:
        detected = _detect_timestamp_format(first, source)
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
    """Another delimiter than the format's own when the first line lacks that one and holds exactly one other."""
    try:
        lines = _lines(_head(path))
    except OSError:
        return None
    own = "\t" if fmt == "tsv" else ","
    if not lines or own in lines[0]:
        return None
    others = [d for d in _DELIMITERS if d != own and d in lines[0]]
    return others[0] if len(others) == 1 else None


# --- timestamps ----------------------------------------------------------------------------------------------


def _detect_timestamp_format(path: Path, source: SourceConfig) -> str | None:
    """epoch_s, epoch_ms or iso8601 from the first rows' timestamps; None when they do not tell (the reader's
    default applies, and it reports what it cannot parse)."""
    try:
        samples = _timestamp_samples(path, source)
    except Exception:  # sniffing never fails a load: the reader names what is wrong
        return None
    values = [s.strip() for s in samples if s is not None and s.strip()]
    if not values:
        return None
    numbers = [float(v) for v in values if _is_number(v)]
    if len(numbers) * 2 < len(values):
        return "iso8601"
    return "epoch_ms" if statistics.median(abs(n) for n in numbers) >= 1e11 else "epoch_s"


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _timestamp_samples(path: Path, source: SourceConfig) -> list[str]:
    column = source.columns.timestamp
    if source.format == "parquet":
        dtype = pl.read_parquet_schema(path).get(column)
        if dtype is None or dtype.is_temporal():
            return []  # a missing column is the reader's to name; a typed time needs no format
        frame = pl.scan_parquet(path).select(pl.col(column).cast(pl.String)).head(SAMPLE_ROWS).collect()
        return frame[column].to_list()
    lines = _lines(_head(path))
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


# --- advice --------------------------------------------------------------------------------------------------


def _advice(exc: SourceReadError, first: Path, source: SourceConfig, how: str | None) -> str:
    """What to try when reading failed: the column options where columns are missing, the timestamp options
    where no time could be read, and the format where it was guessed (``how``) or the first line looks like
    another format."""
    tips = []
    if exc.cause.startswith("no column(s)"):
        header = _first_fields(first, source) if source.header else []
        if header and all(_is_number(f) or not f.strip() for f in header):
            read = [c for c in (source.columns.user, source.columns.item, source.columns.timestamp) if c]
            tips.append(f"its first line looks like data, not a header: give --no-header and --names with a name "
                        f"for each of its {len(header)} columns (those read: {', '.join(read)})")
        else:
            tips.append("name the columns with --user-column, --item-column, --timestamp-column"
                        + ("" if source.format in ("jsonl", "parquet") else ", or --no-header and --names"))
    if "bad_timestamp" in exc.cause or "missing_timestamp" in exc.cause:
        tips.append(f"the timestamps were read as {source.timestamp_format}: give --timestamp-format "
                    "epoch_s|epoch_ms|iso8601, or --timestamp-column (none: the file has no times)")
    if how is not None:
        tips.append(f"it was read as {source.format}, {how}: give {_FORMAT_OPTION} if that is wrong")
    elif exc.cause.startswith(("no rows accepted", "no column(s)")) and source.format != "parquet" and (
            looks_like := _looks_like(first)) not in (None, source.format):
        tips.append(f"its first line looks like {looks_like}: try --format {looks_like}")
    return "".join(f"; {tip}" for tip in tips)


def _looks_like(path: Path) -> str | None:
    try:
        head = _head(path)
    except OSError:
        return None
    lines = [] if b"\x00" in head else _lines(head)
    return _format_of_line(lines[0]) if lines else None


def _first_fields(path: Path, source: SourceConfig) -> list[str]:
    try:
        lines = _lines(_head(path))
        return next(csv.reader([lines[0]], delimiter=source.separator)) if lines else []
    except (OSError, csv.Error):
        return []


def _is_sequences_parquet(path: Path) -> bool:
    """The pipeline's sequences.parquet: columns user_id and items, a list."""
    try:
        schema = pl.read_parquet_schema(path)
    except Exception:
        return False  # the reader names what is wrong
    return "user_id" in schema and isinstance(schema.get("items"), (pl.List, pl.Array))
