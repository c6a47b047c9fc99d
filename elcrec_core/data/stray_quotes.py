"""A stray quote that takes whole records into one value: refused where the file's own records tell them (a
review's quote closed by another's inch mark lost the events between it without a rejected row)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from elcrec_core.data.files import LineScan, SourceReadError


def refuse_records_in_a_value(path: Path, lines: LineScan, at: np.ndarray, header: bool, delimiter: str,
                              quote: str, columns: list[str], judged: list[str], fix: str) -> None:
    """Raise :class:`SourceReadError` for the first record read (not one of the malformed ones at scan records
    ``at``) whose quoted field takes lines wholly (blank ones aside; the record's last line where the value is its
    last field, closed by ``quote``: else that line ends with the fields after the value) that are each a
    whole record: ``columns`` fields split on ``delimiter``, and in each of the ``judged`` columns (ids, times,
    ratings, flags) a value of a form that the file's one-line records hold there (its runs of digits aside:
    ``u17``, ``1769850000``, ``2026-01-31T09:00:00Z``). A stray quote at a value's start in any column, read or not
    (a review, a title), that another closes lines later at a field's end (``12"``) made the records between one
    value, lost without a rejected row (helper-200; one record too, helper-207). A value written over lines of
    other text (a review's "Pros: cheap, light, fast") is read (helper-205: its commas alone made half of the
    ordinary exports refused)."""
    positions = [columns.index(column) for column in judged if column in columns]
    records = np.flatnonzero(lines.filled)[int(header):]
    records = records[~np.isin(records, at)]
    spans = lines.spans()[records]
    multi = records[spans > 1]
    if not len(multi) or not positions or lines.stray_cr_line is not None:  # CR line ends: the texts are not lines
        return
    forms = [{_form(fields[p]) for _, text in lines.iter_record_texts(path, records[spans == 1][:_FORM_SAMPLE])
              if len(fields := text.split(delimiter)) == len(columns)} for p in positions]

    def whole(line: str) -> bool:
        fields = line.split(delimiter)
        return len(fields) == len(columns) and all(_form(fields[p]) in known for p, known in zip(positions, forms))

    for record, text in lines.iter_record_texts(path, multi):  # one record's text at a time, to the first refused
        taken = text.split("\n")[1:]
        inside = [line for line in taken[:-1] + _last_value_part(text, delimiter, quote, len(columns)) if line.strip()]
        if inside and all(whole(line) for line in inside):
            start = int(lines.starts[record])
            raise SourceReadError(path, f"lines {start}-{start + len(taken)}: a quoted field takes the {len(taken)} "
                                        f"line(s) after line {start}, records of {len(columns)} fields as the others, "
                                        f"into one value ({text[:80]!r}): does a quote not close? {fix}")


def _last_value_part(text: str, delimiter: str, quote: str, n_columns: int) -> list[str]:
    """The last line of record ``text`` where it is the end of the record's last field, a value over lines that the
    line ends (``u7,i7,1769850000,ok`` of ``...,"oops\\nu7,i7,1769850000,ok"``: one record taken); else none (the
    line ends with the fields after the value, or the record does not parse)."""
    try:
        fields = next(csv.reader(text.splitlines(keepends=True), delimiter=delimiter, quotechar=quote))
    except (csv.Error, StopIteration):
        return []
    return [fields[-1].split("\n")[-1]] if len(fields) == n_columns and "\n" in fields[-1] else []


_FORM_SAMPLE = 200  # the one-line records whose typed values give the forms that a whole record's hold


def _form(value: str) -> str:
    """A value's form: each run of digits as 9, outer white space and quotes dropped (``u1769`` is ``u9``)."""
    return re.sub(r"[0-9]+", "9", value.strip().strip('"'))
