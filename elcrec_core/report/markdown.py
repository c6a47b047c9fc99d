"""Markdown tables for reports and the Dagster UI."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl


def markdown_table(rows: Sequence[Mapping[str, Any]] | pl.DataFrame, digits: int = 4) -> str:
    """A Markdown table of ``rows`` (dicts with the same keys, or a frame); floats get ``digits`` decimals, NaN
    reads "no figure"."""
    if isinstance(rows, pl.DataFrame):
        rows = rows.to_dicts()
    if not rows:
        return "_(empty)_"
    columns = list(rows[0])

    def cell(value: Any) -> str:
        if isinstance(value, float):  # NaN: a model whose scores are not finite has no figure
            text = f"{value:.{digits}f}" if not math.isnan(value) else "no figure"
        else:
            text = str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
