"""``models/serving_log.jsonl``: one JSON line per change of the serving alias (promotion or rollback), the history
of what served, from which the rollbacks' withdrawals are read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from elcrec_core.data.atomic_files import json_kind, write_atomically


def read_serving_log(path: Path) -> list[dict[str, Any]]:
    """The entries of the log at ``path``, oldest first (none where there is no file). Raises ValueError naming the
    file and the line that is not JSON (each line is read alone: the decoder's own message said line 1) or JSON of
    another type than an object (``[]`` failed later with a TypeError naming no file: helper-227)."""
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines() if path.exists() else [], 1):
        if not line:
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} line {number} is not valid JSON ({err.msg}){_REPAIR}") from None
        if not isinstance(entry, dict):
            raise ValueError(f"{path} line {number} holds a JSON {json_kind(entry)}, not an entry's object{_REPAIR}")
        entries.append(entry)
    return entries


_REPAIR = (": repair that line (the file is the history of what served: without it, a model that a rollback "
           "withdrew may serve again)")


def append_to_serving_log(path: Path, entry: dict[str, Any]) -> None:
    """Add ``entry`` as the last line of the log at ``path``, the file rewritten whole or left as it was
    (:func:`~elcrec_core.data.atomic_files.write_atomically`: an append cut short by a full disk left half a line,
    and every later run failed on it, helper-215)."""
    kept = path.read_text(encoding="utf-8") if path.exists() else ""
    ending = "\n" if kept and not kept.endswith("\n") else ""  # a last line ended by hand without one
    write_atomically(path, kept + ending + json.dumps(entry, sort_keys=True) + "\n")
