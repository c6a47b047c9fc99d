"""A rejected row's detail made short enough for a line of a load's summary (the CLI's first rejected rows, the
pipeline's load log line) without losing what it says to do: the value is cut, not the advice after it
(helper-268's trial: a bad time under a list of patterns lost its hint, ``(its form: ...)``, to a cut at 120
characters); and any text cut to a length, as the command line quotes a file's first line."""

from __future__ import annotations

import re

# a column's name, its value in quotes and what is said of it (``user_id 'C00' is shorter than ...``, ``ts 'NULL'
# means no value``); not a quote inside a value after a colon (``timestamp: a 'b' c``)
_QUOTED = re.compile(r"(?s)([^'\":]*? )(['\"])(.*)\2( [^'\"]*)")


def shorten_detail(detail: str, limit: int = 120, shortest: int = 40) -> str:
    """``detail`` without its line end, at most ``limit`` characters where its advice leaves room: where longer, its
    value is cut (ending in ``...``) to what the advice leaves, but not below ``shortest`` characters, and the
    advice is kept whole. The advice is the groups in parentheses that end it (``timestamp: <value> (of none of
    timestamp_format's patterns: ...) (its form: ...)``), and the words after a column's quoted value (``user_id
    '<value>' is shorter than every other of the file, ...``); a detail of neither (``TOO MANY COLUMNS: <line>``)
    is cut at its end."""
    detail = detail.rstrip("\r\n")
    if len(detail) <= limit:
        return detail
    head, advice = _split_advice(detail)
    if quoted := _QUOTED.fullmatch(head):
        lead, quote, value, said = quoted.groups()
        room = max(limit - len(lead) - len(said) - len(advice) - 2, shortest)
        return f"{lead}{quote}{shorten(value, room)}{quote}{said}{advice}"
    return shorten(head, max(limit - len(advice), shortest)) + advice


def shorten(text: str, limit: int = 120) -> str:
    """``text`` without its line end, cut to ``limit`` characters (ending in ``...``) when longer."""
    text = text.rstrip("\r\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _split_advice(detail: str) -> tuple[str, str]:
    """``detail`` as (what comes before the groups in parentheses that end it, those groups with the space before
    each); ('', ...) never: a detail that is all such groups keeps its first as its head."""
    end = len(detail)
    while end and detail[end - 1] == ")":
        depth, start = 0, end - 1
        while start >= 0:
            depth += {")": 1, "(": -1}.get(detail[start], 0)
            if depth == 0:
                break
            start -= 1
        if start <= 0 or detail[start - 1] != " ":  # unbalanced, or a group that the value holds (f(x))
            break
        end = start - 1
    return detail[:end], detail[end:]
