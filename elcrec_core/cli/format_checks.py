"""Checks that a guessed format or the given ``--names`` fit a file's first lines, before anything is read: a file
taken for the sequence format whose lines repeat a user or hold no items, and ``--names`` of another count than
the file's fields or that its first line holds (a header). Each raises :class:`SourceReadError` naming the file
and the options that read it as intended: the file would otherwise load without an error, as wrong events."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

from elcrec_core.cli.settings_origin import COLUMNS, SEQUENCE_FORMAT, SPACE_DELIMITER, Fix, SettingsOrigin
from elcrec_core.data.files import SourceReadError
from elcrec_core.data.detail_shortening import shorten


def check_sequence_guess(path: Path, lines: list[str], origin: SettingsOrigin = SettingsOrigin()) -> None:
    """Refuse ``path`` (guessed to be of the sequence format: one line per user, the user and then their items,
    separated by spaces) when its first ``lines`` (non-blank) say otherwise: a user who begins two lines (more
    likely a table of events separated by spaces, such as ``user item rating``), or most lines without an item
    (such as a title or a comment above a table). Given ``--format sequence``, such a file is read all the same
    (a user's lines are joined). The fixes are named as ``origin`` has the user give them."""
    begun: dict[str, str] = {}
    for line in lines:
        user = line.split()[0]
        if user in begun:
            raise SourceReadError(path, f"{_LOOKS} but the lines {shorten(begun[user], 40)!r} and "
                                        f"{shorten(line, 40)!r} begin with the same user, and a sequence file has "
                                        f"one line per user: {origin.give(*_SPACES_NAMES, joiner=' with ')} "
                                        "(or a header) to read a table of events "
                                        f"separated by spaces, or {origin.named(SEQUENCE_FORMAT)} if it is of that "
                                        "format")
        begun[user] = line
    bare = sum(len(line.split()) < 2 for line in lines)
    if 2 * bare > len(lines):
        raise SourceReadError(path, f"{_LOOKS} but {bare} of its first {len(lines)} lines hold no item: if lines "
                                    "above a table (a title or a comment) made it look so, remove them (no option "
                                    f"skips lines), or {origin.named(SEQUENCE_FORMAT)} if it is of that format")


_SPACES_NAMES: tuple[Fix, ...] = (SPACE_DELIMITER, ("names", None))  # a table whose fields spaces separate
_LOOKS = "its first line looks like a user and their items (the sequence format),"


_NAMES_HEADER: tuple[Fix, ...] = (("names", None), ("header", "false"))  # which read a header as an event


def check_names(path: Path, lines: list[str], names: tuple[str, ...], columns: tuple[str, str], delimiter: str,
                quote: str | None, origin: SettingsOrigin = SettingsOrigin()) -> None:
    """Refuse ``--names`` for the delimited text ``path`` when none of its first ``lines`` (non-blank) has as many
    fields as ``names`` (empty fields at a line's end named or not, as the reader reads past them; naming the count
    of fields up to the last that is not empty that most of them have), or when its first line holds the names of
    the user and item ``columns`` where ``names`` puts them (a header, which ``--names`` would read as an event).
    ``--names`` and the fixes are named as ``origin`` has the user give them (``names`` of a ``--source`` file)."""
    try:
        rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter, quotechar=quote or None,
                               quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE))
    except csv.Error:  # the reader names what is wrong
        return
    if not rows:
        return
    given = origin.word("names")  # --names, or the --source file's names
    # the reader reads past empty fields at a line's end (;;; of a spreadsheet's export): names may name them, or
    # not (helper-187: 4 names for lines of 4 values and 2 empty fields were refused here, read by the pipeline)
    filled = [max((i + 1 for i, field in enumerate(row) if field != ""), default=1) for row in rows]
    fits = [filled_fields <= len(names) <= len(row) for filled_fields, row in zip(filled, rows)]
    if not any(fits):  # where some are as many, those read and the others are rejected rows
        fields = Counter(filled).most_common(1)[0][0]
        raise SourceReadError(path, f"{given} gives {len(names)} names ({', '.join(names)}), but its lines have "
                                    f"{fields} fields separated by {delimiter!r}: give a name for each field")
    first = [field.strip().casefold() for field in rows[0][:len(names)]]
    if fits[0] and all(column in names and first[names.index(column)] == column.casefold()
                                        for column in columns):
        raise SourceReadError(path, f"its first line {shorten(lines[0], 40)!r} is a header (it names the columns "
                                    f"{' and '.join(columns)} where {given} puts them), which {given} would read "
                                    f"as an event: leave out {origin.named(*_NAMES_HEADER, joiner=' (and ')}) and "
                                    f"name the columns with {origin.named(*COLUMNS)}")
