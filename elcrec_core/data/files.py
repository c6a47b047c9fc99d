"""What every file reader shares: the error for a file that cannot be read, and one streamed pass over a text
file, in fixed-size chunks (bounded memory whatever the file holds), that refuses binary data and over-long
lines before a parser sees them and notes where each record starts."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from elcrec_core.data.packed_files import packed_refusal

CHUNK_BYTES = 1 << 20
MAX_LINE_BYTES = 1 << 21  # 2 MiB: DuckDB's default max_line_size
_LF, _CR, _NUL = 10, 13, 0
_BOM = b"\xef\xbb\xbf"
_WIDE_BOMS = (("UTF-32", (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")), ("UTF-16", (b"\xff\xfe", b"\xfe\xff")))
_CONTROL = [*range(1, 9), *range(14, 32)]  # ASCII control characters other than NUL and whitespace
_DELIMITERS = ",;\t|"


class SourceReadError(ValueError):
    """A source file could not be read at all; nothing of the load is written."""

    def __init__(self, path: str | Path, cause: str) -> None:
        super().__init__(f"{path}: {cause}")
        self.path, self.cause = str(path), cause


def is_nested(column_type: str) -> bool:
    """Whether a DuckDB type holds several values: a list (its type ends in "[]"), an array ("[n]"), a struct, a
    map or a union."""
    return column_type.endswith("]") or column_type.split("(")[0] in ("STRUCT", "MAP", "UNION")


def refuse_non_id_columns(path: str | Path, columns: dict[str, str]) -> None:
    """Raise :class:`SourceReadError` where one of the id ``columns`` (name -> DuckDB type of a Parquet column)
    holds lists, structs, maps, unions or booleans: a user or item id is one value that names one user or item."""
    for name, column_type in columns.items():
        if is_nested(column_type) or column_type == "BOOLEAN":  # true/false name no one
            raise SourceReadError(path, f"column {name} holds {column_type} values: a user or item id is one value "
                                        "(text or a number)")


@contextmanager
def reading(path: str | Path) -> Iterator[None]:
    """Turn a library's failure to read ``path`` into a :class:`SourceReadError` that names the file."""
    try:
        yield
    except SourceReadError:
        raise
    except (duckdb.Error, pl.exceptions.PolarsError, OSError, UnicodeDecodeError, csv.Error) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SourceReadError(path, f"{type(exc).__name__}: {first}") from exc


@dataclass
class LineScan:
    """What one pass over a text file found."""

    starts: np.ndarray  # 1-based line where each record starts, empty ones included (quoted fields may span lines)
    filled: np.ndarray  # whether each record is not empty
    line_count: int  # lines in the file (a last line without a line end included)
    open_quote: bool  # the file ends inside a quoted field
    crlf: bool  # some line ends in CR LF
    stray_cr_line: int | None  # the first line holding a CR that is not part of a CR LF line end
    byte_counts: np.ndarray  # occurrences of each byte value

    @property
    def record_lines(self) -> np.ndarray:
        """The line where each non-empty record starts."""
        return self.starts[self.filled]

    @property
    def mixed_line_ends(self) -> bool:
        """Whether some lines end in CR LF and others in LF alone."""
        return self.crlf and self.byte_counts[_CR] < self.byte_counts[_LF]

    def spans(self) -> np.ndarray:
        """How many lines each record takes (more than one where a quoted field holds line ends)."""
        return np.diff(np.append(self.starts, self.line_count + 1))

    def iter_record_texts(self, path: Path, records: np.ndarray) -> Iterator[tuple[int, str]]:
        """Each of ``records`` (indices into ``starts``, in file order) of ``path``, the file scanned, with its text:
        line ends dropped (lines joined by ``\\n``), a byte that is not UTF-8 as ``\\xNN`` (DuckDB's text drops the
        byte after a bad one). One pass, one record held at a time (all at once took gigabytes: helper-206)."""
        spans = self.spans()
        with path.open("rb") as file:
            at = 1  # the file's line that ``file`` reads next
            for record in records:
                start, span = int(self.starts[record]), int(spans[record])
                for _ in range(start - at):
                    file.readline()
                parts = [file.readline().rstrip(b"\r\n") for _ in range(span)]
                at = start + span
                yield int(record), b"\n".join(parts).decode("utf-8", "backslashreplace")

    def absent_control_character(self) -> str | None:
        """An ASCII control character the file does not hold: a field delimiter that never splits a line."""
        absent = [b for b in _CONTROL if not self.byte_counts[b]]
        return chr(absent[0]) if absent else None


def scan_lines(path: Path, quote: str | None = None, max_line_bytes: int = MAX_LINE_BYTES) -> LineScan:
    """Scan ``path`` in chunks of :data:`CHUNK_BYTES`. Raises :class:`SourceReadError` at the first NUL byte
    (binary or compressed data, or UTF-16 text) and as soon as a line grows past ``max_line_bytes``; a record
    ends at a line end outside ``quote`` characters. Lines end in LF (or CR LF), or in CR in a file whose first
    chunk has CRs and no LF (as DuckDB reads it). Records are numbered as DuckDB numbers lines: empty ones count.
    Memory use is a few chunks plus 9 bytes per record."""
    starts: list[np.ndarray] = []
    filled: list[np.ndarray] = []
    crlf, stray = False, None
    offset = lines_before = quotes_before = 0
    last_end = record_end = -1  # file offsets of the last line end and the last record's end
    record_line = 1  # line where the next record starts
    prev = -1  # the previous chunk's last byte
    counts = np.zeros(256, dtype=np.int64)
    with path.open("rb") as fh:
        chunk = fh.read(CHUNK_BYTES)
        if refusal := packed_refusal(chunk):  # the text readers met them as a NUL byte
            raise SourceReadError(path, refusal)
        eol = _CR if _CR in chunk and _LF not in chunk else _LF
        if chunk.startswith(_BOM):  # not content: the first record starts after it
            record_end = len(_BOM) - 1
        while chunk:
            buf = np.frombuffer(chunk, dtype=np.uint8)
            counts += np.bincount(buf, minlength=256)
            lf = np.flatnonzero(buf == eol)
            if len(nul := np.flatnonzero(buf == _NUL)):
                line = lines_before + int(np.searchsorted(lf, nul[0])) + 1
                wide = offset == 0 and next((name for name, marks in _WIDE_BOMS if chunk.startswith(marks)), None)
                raise SourceReadError(path, f"line {line} holds a NUL byte: binary or compressed data, or text in "
                                            "another encoding than UTF-8 (such as UTF-16)"
                                      + (f"; it starts with {wide}'s byte order mark: {wide} text, as a spreadsheet's "
                                         f"Unicode Text export writes it (the source setting encoding: {wide.lower()} "
                                         "reads it)" if wide else ""))
            ends = np.concatenate([lf + offset, [offset + len(buf) - 1]])  # the open line, as if it ended here
            lengths = ends - np.concatenate([[last_end], ends[:-1]]) - 1
            lengths[-1] += 1
            if len(long := np.flatnonzero(lengths > max_line_bytes)):
                raise SourceReadError(path, f"line {lines_before + int(long[0]) + 1} is longer than the limit of "
                                            f"{max_line_bytes} bytes (max_line_bytes): not a file of text lines?")
            if eol == _LF:
                cr = np.flatnonzero(buf == _CR)
                if prev == _CR:  # the previous chunk ended in a CR
                    cr = np.concatenate([[-1], cr])
                inner = cr[cr < len(buf) - 1]  # a CR in the last byte is judged with the next chunk
                followed = buf[inner + 1] == _LF
                crlf = crlf or bool(followed.any())
                if stray is None and not followed.all():
                    stray = lines_before + int(np.searchsorted(lf, inner[~followed][0])) + 1
            closed = lf
            if quote is not None:
                quotes = np.flatnonzero(buf == ord(quote))
                closed = lf[(quotes_before + np.searchsorted(quotes, lf)) % 2 == 0]
                quotes_before += len(quotes)
            if len(closed):
                numbers = lines_before + np.searchsorted(lf, closed) + 1  # the line each record end closes
                begin = np.concatenate([[record_end + 1], closed[:-1] + offset + 1])
                first = np.concatenate([[record_line], numbers[:-1] + 1])
                starts.append(first)
                # each record's last byte, as int16: prev is -1 before the first chunk, which no uint8 holds
                last_bytes = buf[closed - 1].astype(np.int16)
                last_bytes[closed == 0] = prev
                filled.append(_non_empty(closed + offset - begin, last_bytes))
                record_end, record_line = int(closed[-1]) + offset, int(numbers[-1]) + 1
            if len(lf):
                last_end = int(lf[-1]) + offset
            lines_before += len(lf)
            offset += len(buf)
            prev = int(buf[-1])
            chunk = fh.read(CHUNK_BYTES)
    if eol == _LF and prev == _CR and not crlf and stray is None:  # an LF file's last byte: no line end
        stray = lines_before + 1
    tail = offset - record_end - 1
    if _non_empty(np.array([tail]), np.array([prev]))[0]:
        starts.append(np.array([record_line]))
        filled.append(np.array([True]))
    record_starts = np.concatenate(starts).astype(np.int64) if starts else np.zeros(0, dtype=np.int64)
    record_filled = np.concatenate(filled) if filled else np.zeros(0, dtype=bool)
    line_count = lines_before + int(offset - last_end - 1 > 0)
    return LineScan(record_starts, record_filled, line_count, quotes_before % 2 == 1, crlf, stray, counts)


def _non_empty(lengths: np.ndarray, last_bytes: np.ndarray) -> np.ndarray:
    """Records with content: neither empty nor a lone CR (a blank line of a CR LF file)."""
    return (lengths > 0) & ~((lengths == 1) & (last_bytes == _CR))


def copy_without_crlf(path: Path, dest: Path) -> None:
    """Copy ``path`` to ``dest`` with every CR LF line end made LF (line numbers stay), chunk by chunk."""
    carry = b""
    with path.open("rb") as src, dest.open("wb") as out:
        while chunk := src.read(CHUNK_BYTES):
            buf = np.frombuffer(carry + chunk, dtype=np.uint8)
            cut = len(buf) - 1 if buf[-1] == _CR else len(buf)  # a final CR waits for the next chunk
            crlf = np.flatnonzero((buf[: cut - 1] == _CR) & (buf[1:cut] == _LF))
            np.delete(buf[:cut], crlf).tofile(out)
            carry = buf[cut:].tobytes()
        out.write(carry)


def delimiter_hint(columns: list[str], delimiter: str) -> str:
    """For a header read as one column: which other common delimiter it holds, as advice (else empty)."""
    if len(columns) != 1:
        return ""
    found = [d for d in _DELIMITERS if d != delimiter and d in columns[0]]
    return f"; the header holds {found[0]!r}: is that the delimiter?" if found else ""


def ends_with_line_end(path: Path) -> bool:
    """Whether the last byte of the file at ``path`` ends a line (LF, or CR); an empty file leaves no line open."""
    with path.open("rb") as fh:
        if fh.seek(0, 2) == 0:
            return True
        fh.seek(-1, 2)
        return fh.read(1) in (b"\n", b"\r")


def names_hint(missing: list[str], columns: list[str]) -> str:
    """For the column names ``missing`` of a file whose columns are ``columns``: those of its names that are the same
    but for case and white space around them, or for a type after a colon (RecBole's atomic files: ``user_id:token``),
    or Excel's delimiter line (``sep=,``) read as the header, as advice (else empty)."""
    if columns and str(columns[0]).lower().startswith("sep="):
        return f"; its first line ({columns[0]}...) is Excel's delimiter line: remove it, the header is the next line"
    near = [f"{name!r} is {column!r} there" for name in missing for column in map(str, columns)
            if column != name and name.strip().lower() in (column.strip().lower(), _typed_name(column))]
    return f"; {', '.join(near)}: names compare exactly, give them as the file has them" if near else ""


def _typed_name(column: str) -> str | None:
    """``name`` of a typed column name ``name:type`` (RecBole's ``user_id:token``), in lower case; else None."""
    name, colon, kind = column.partition(":")
    return name.strip().lower() if colon and re.fullmatch(r"[a-z_]+", kind.strip().lower()) else None


def fields_delimiter_hint(line: str, delimiter: str, fields: int) -> str:
    """For a line that ``delimiter`` does not split into the ``fields`` columns that names give: the other common
    delimiter that does (a trailing one aside), as advice (else empty)."""
    found = [d for d in _DELIMITERS if d != delimiter and len(line.removesuffix(d).split(d)) == fields]
    return f"; the line holds {found[0]!r} between as many fields: is that the delimiter?" if found else ""


HEADER_IS_DATA = "is it data? A file without a header line needs names for its columns"


def header_data_hint(names: list[str]) -> str:
    """For a header line that cannot be one (a field without a name, a name twice) and holds a number: that it may
    be the first line of data (:data:`HEADER_IS_DATA`), as advice (else empty)."""
    numbers = any(re.fullmatch(r"[-+]?\d+(\.\d*)?", name.strip()) for name in names)
    return f"; {HEADER_IS_DATA}" if numbers else ""


def file_sha256(path: str | Path) -> bytes:
    """The SHA-256 of the file's bytes (read once, in chunks). Raises OSError where it cannot be read."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").digest()


def byte_copies(files: list[Path]) -> dict[Path, Path]:
    """Each of ``files`` whose bytes equal those of an older file (a delivery copied under a second name), with
    that file: the oldest by modification time, else the first in the list (``events (1).csv`` sorts first, and
    was named the original: helper-186). Only files of equal size are read, once each (SHA-256); a file that
    cannot be read (gone since) is none."""
    by_size: dict[int, list[tuple[int, int, Path]]] = {}
    for order, file in enumerate(files):
        with contextlib.suppress(OSError):
            stat = file.stat()
            by_size.setdefault(stat.st_size, []).append((stat.st_mtime_ns, order, file))
    copies: dict[Path, Path] = {}
    for same_size in (group for group in by_size.values() if len(group) > 1):
        first_of: dict[bytes, Path] = {}
        for _, _, file in sorted(same_size):  # the oldest first
            try:
                digest = file_sha256(file)
            except OSError:
                continue
            if digest in first_of:
                copies[file] = first_of[digest]
            else:
                first_of[digest] = file
    return copies

