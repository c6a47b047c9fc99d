"""The header line of delimited text: its fields (the first line that is not empty, without a byte order mark)
and the names of its columns, without the blank columns at its end that a spreadsheet's export pads every line
with."""

from __future__ import annotations

import csv
from pathlib import Path

from elcrec_core.data.files import SourceReadError, header_data_hint

_BOM = b"\xef\xbb\xbf"


class NotUtf8Header(SourceReadError):
    """The header (the first line that is not empty) is not UTF-8 text: :func:`~elcrec_core.data.text_encoding.as_utf8`
    names the setting of the file's encoding (the events' or the item metadata's: helper-195)."""


def header_fields(path: Path, line_no: int, delimiter: str, quote: str | None) -> tuple[list[str], int]:
    """The fields of the header, the first line that is not empty (line ``line_no``), without the empty ones at its
    end, and how many of those are blank columns: an empty last field, a trailing delimiter, is none; the empty
    fields before it are the blank columns that a spreadsheet's export pads every line with (``a;b;c;;``: one).
    They are no columns to read: DuckDB reads past empty fields at a line's end."""
    fields = first_fields(path, line_no, delimiter, quote)
    named = len(fields)
    while named > 1 and fields[named - 1] == "":
        named -= 1
    return fields[:named], max(len(fields) - named - 1, 0)


def header_names(path: Path, line_no: int, delimiter: str, quote: str | None) -> list[str]:
    """The names in the header (line ``line_no``), the blank columns at its end left out (:func:`header_fields`);
    raises :class:`SourceReadError` for a name that is empty or repeated."""
    first, _ = header_fields(path, line_no, delimiter, quote)
    if "" in first:
        raise SourceReadError(path, f"line {line_no}: header field {first.index('') + 1} has no name: {first}"
                                    + header_data_hint(first))
    if len(set(first)) != len(first):
        raise SourceReadError(path, f"header has repeated column names: {first}" + header_data_hint(first))
    return first


def first_fields(path: Path, line_no: int, delimiter: str, quote: str | None) -> list[str]:
    """The fields of the first line that is not empty (line ``line_no``)."""
    line = first_line(path)
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise NotUtf8Header(path, f"the first line is not UTF-8 text{f' (line {line_no})' * (line_no > 1)}: give "
                                    "its encoding, such as latin-1") from None
    quoting = csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE
    return next(csv.reader([text], delimiter=delimiter, quotechar=quote or None, quoting=quoting))


def first_line(path: Path, chunk: int = 1 << 16) -> bytes:
    """The first line of ``path`` that is not empty, without its byte order mark and line end: LF, CR LF or a CR
    alone (the line ends of old Mac exports, which DuckDB reads too); b"" for a file of empty lines."""
    buffer = b""
    with path.open("rb") as fh:
        while True:
            more = fh.read(chunk)
            buffer = (buffer + more).removeprefix(_BOM)
            for line in buffer.splitlines(keepends=True):
                text = line.rstrip(b"\r\n")
                if text and (text != line or not more):  # a whole line (one at the end of the file has no end)
                    return text
                if text:
                    break  # the line goes on in the next chunk
            if not more:
                return b""


def renamed_header(path: Path, line_no: int, delimiter: str, quote: str | None, names: tuple[str, ...]) -> list[str]:
    """The header's own names on line ``line_no``, which ``names`` replace (they may name its blank columns too:
    :func:`header_fields`); raises :class:`SourceReadError` where the names are fewer than its names or more than
    its columns, blank ones included (every record would be rejected)."""
    found, blank = header_fields(path, line_no, delimiter, quote)
    if not len(found) <= len(names) <= len(found) + blank:
        blanks = f" (and {blank} blank one{'s' * (blank > 1)} at its end)" if blank else ""
        raise SourceReadError(path, f"line {line_no}: the header has {len(found)} columns{blanks} but {len(names)} "
                                    f"names are given: {list(names)}")
    return found
