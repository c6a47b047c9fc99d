"""Scores and their differences as texts that compare them say them: scores that differ never print alike, and a
difference never prints as a rounded 0 or a rounded 0.0001 beside two equal-looking scores (a trial's gate read "the
serving model 0.2546, higher (by 0.0001)" beside a new model's 0.2546: 0.254612 and 0.254559)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

DIGITS = 4  # decimals of a score or a difference, unless more are needed to tell them apart
MOST_DIGITS = 12  # beyond: scores that differ by less print alike (float noise)


@dataclass(frozen=True)
class ScoreFormat:
    """How the scores of one text print: ``digits`` decimals (:meth:`of` picks them)."""

    digits: int = DIGITS

    @classmethod
    def of(cls, scores: Iterable[float]) -> ScoreFormat:
        """The fewest decimals of 4, 6, 8, ... (at most :data:`MOST_DIGITS`) at which the finite ``scores`` (any
        unit, e.g. NDCG@20 in [0, 1]) that differ print differently: 0.254612 and 0.254559 at 6."""
        values = {value for value in scores if math.isfinite(value)}
        digits = DIGITS
        while digits < MOST_DIGITS and len({f"{value:.{digits}f}" for value in values}) < len(values):
            digits += 2
        return cls(digits)

    def __call__(self, score: float) -> str:
        """``score`` at this format's decimals: ``0.2546`` (``nan`` for NaN)."""
        return f"{score:.{self.digits}f}"


def difference_text(value: float, signed: bool = False) -> str:
    """A difference of two scores (or its standard error) to 4 decimals where those show two significant digits
    (above 0.00095), else to its first two (0.000053 read 0.0001 beside two scores that both read 0.2546):
    ``0.0035``, ``0.00030``, ``0.000053``; ``signed``: with its sign (``+0.0035``, ``-0.000040``, ``+0.0000`` for
    0)."""
    sign = "+" if signed else ""
    if value == 0 or not math.isfinite(value) or round(abs(value), DIGITS) >= 0.001:
        return f"{value:{sign}.{DIGITS}f}"
    return f"{value:{sign}.{1 - math.floor(math.log10(abs(value)))}f}"
