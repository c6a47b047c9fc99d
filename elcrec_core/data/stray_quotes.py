"""A stray quote that takes whole records into one value: refused where the file's own records tell them (a
review's quote closed by another's inch mark lost the events between it without a rejected row)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from elcrec_core.data.files import LineScan, SourceReadError


def refuse_records_in_a_value(path: Path, lines: LineScan, at: np.ndarray, header: bool, delimiter: str,
                              columns: list[str], typed: list[str], fix: str) -> None:
    """Raise :class:`SourceReadError` for the first record read (not one of the malformed ones at scan records
    ``at``) whose quoted field takes lines wholly (blank ones aside; not the record's last line, which ends with
    the fields after the value) that are each a whole record: ``columns`` fields
    split on ``delimiter``, and in each of the ``typed`` columns (times, ratings, flags) a value of a form that
    the file's one-line records hold there (its digits aside: ``1769850000``, ``2026-01-31T09:00:00Z``). A stray
    quote at a value's start in any column, read or not (a review), that another closes lines later at a field's
    end (``12"``) made the records between one value, lost without a rejected row (helper-200). A value written
    over lines of other text (a review's "Pros: cheap, light, fast") is read (helper-205: its commas alone made
    half of the ordinary exports refused); a file without such a column is not judged."""
    positions = [columns.index(column) for column in typed if column in columns]
    records = np.flatnonzero(lines.filled)[int(header):]
    records = records[~np.isin(records, at)]
    spans = lines.spans()[records]
    multi = records[spans > 1]
    if not len(multi) or not positions or lines.stray_cr_line is not None:  # CR line ends: the texts are not lines
        return
    forms = [{_form(fields[p]) for _, text in _texts(path, lines, records[spans == 1][:_FORM_SAMPLE])
              if len(fields := text.split(delimiter)) == len(columns)} for p in positions]

    def whole(line: str) -> bool:
        fields = line.split(delimiter)
        return len(fields) == len(columns) and all(_form(fields[p]) in known for p, known in zip(positions, forms))

    for record, text in _texts(path, lines, multi):  # one record's text at a time, to the first refused
        inside = [line for line in text.split("\n")[1:-1] if line.strip()]  # the last holds the record's own end
        if inside and all(whole(line) for line in inside):
            start, taken = int(lines.starts[record]), text.count("\n")
            raise SourceReadError(path, f"lines {start}-{start + taken}: a quoted field takes the {taken} line(s) "
                                        f"after line {start}, records of {len(columns)} fields as the others, into one "
                                        f"value ({text[:80]!r}): does a quote not close? {fix}")


def _texts(path: Path, lines: LineScan, records: np.ndarray) -> Iterator[tuple[int, str]]:
    """Each of the scan's ``records`` (in file order) with its text, line ends dropped (its lines joined by
    ``\\n``), a byte that is not UTF-8 as ``\\xNN``: one pass over the file, one record held at a time (all of a
    file of reviews over lines took gigabytes: helper-206)."""
    spans = lines.spans()
    with path.open("rb") as file:
        at = 1  # the file's line that ``file`` reads next
        for record in records:
            start, span = int(lines.starts[record]), int(spans[record])
            for _ in range(start - at):
                file.readline()
            parts = [file.readline().rstrip(b"\r\n") for _ in range(span)]
            at = start + span
            yield int(record), b"\n".join(parts).decode("utf-8", "backslashreplace")


_FORM_SAMPLE = 200  # the one-line records whose typed values give the forms that a whole record's hold


def _form(value: str) -> str:
    """A value's form: its digits as 9, outer white space and quotes dropped (``1769850000`` is ``9999999999``)."""
    return re.sub(r"[0-9]", "9", value.strip().strip('"'))
