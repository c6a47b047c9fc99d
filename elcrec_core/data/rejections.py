"""How a load's rejected rows are told to a person: the counts by reason, and the first rejected rows with their
file, row and field. The CLI prints them; the pipeline puts them in the message of a load it refuses."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

from elcrec_core.data.validation import REASONS


def shorten(text: str, limit: int = 120) -> str:
    """``text`` without its line end, cut to ``limit`` characters (ending in ``...``) when longer."""
    text = text.rstrip("\r\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def count_text(rows_in: int, accepted: int, by_reason: Mapping[str, int]) -> str:
    """``N rows read, A accepted, R rejected (reason: count, ...)``, reasons in order of precedence
    (:data:`~elcrec_core.data.validation.REASONS`)."""
    text = f"{rows_in} rows read, {accepted} accepted, {rows_in - accepted} rejected"
    if by_reason:
        ordered = sorted(by_reason.items(), key=lambda kv: REASONS.index(kv[0]) if kv[0] in REASONS else 99)
        text += " (" + ", ".join(f"{reason}: {n}" for reason, n in ordered) + ")"
    return text


def rejected_examples(rejected: pl.DataFrame, n: int, several_files: bool, fmt: str) -> list[str]:
    """The first ``n`` rejected rows (``REJECTED_COLUMNS``) as ``line 5: bad_timestamp (timestamp: x)``, with the
    file's name first where the load read ``several_files``; a ``line`` of a text file, a ``row`` of the
    source format ``fmt`` where that is Parquet or generated data."""
    where = "row" if fmt in ("parquet", "synthetic") else "line"
    out = []
    for file, row, reason, detail in rejected.head(n).select("source_file", "source_row", "reason",
                                                             "detail").iter_rows():
        text = (f"{Path(file).name} " if several_files else "") + f"{where} {row}: {reason}"
        out.append(text + (f" ({shorten(detail)})" if detail else ""))
    return out
