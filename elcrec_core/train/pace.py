"""How a training run tells its pace: a progress bar on a terminal, and once, early in the run, how long its step
budget will take at the pace of its first steps (a run whose budget took hours said nothing until its first epoch
ended, 14 minutes in: a trial of 2026-12-06 on 3,000 listeners of 32,000 tracks)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from elcrec_core.train import distributed

T = TypeVar("T")

SAY_AFTER_SECONDS = 30.0  # a run whose first steps take this long says how long its budget takes; a short one nothing


def duration(seconds: float) -> str:
    """``seconds`` as a person reads them: ``45.0 s`` (under 2 min), ``14.0 min`` (under 2 h), ``2.3 h``."""
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class Pace:
    """Says through ``log``, once, ``after`` seconds (default :data:`SAY_AFTER_SECONDS`) into a run's first epoch (started or resumed), the seconds a
    step has taken and how long the ``steps_left`` optimiser steps of its budget (epochs x steps a epoch, or
    ``max_steps``, less those done) take at that pace, validation apart; early stopping may end it sooner."""

    def __init__(self, log: Callable[[str], None], steps_left: int, after: float | None = None) -> None:
        self.log, self.steps_left, self.said = log, steps_left, False
        self.after = SAY_AFTER_SECONDS if after is None else after

    def steps(self, batches: Sequence[T], desc: str) -> Iterator[T]:
        """``batches`` (a progress bar on a terminal: :func:`progress`), timing them until the pace is said."""
        began = time.perf_counter()
        for number, batch in enumerate(progress(batches, desc), start=1):
            yield batch  # the step runs before the next item is asked for
            if not self.said and (elapsed := time.perf_counter() - began) >= self.after:
                self.said = True
                each = elapsed / number
                self.log(f"{desc}: {number} step{'s' * (number > 1)} in {elapsed:.0f} s ({each:.2f} s a step): the {self.steps_left} "
                         f"steps of this run's budget take about {duration(each * self.steps_left)} at this pace, "
                         "validation apart (early stopping may end it sooner; max_steps sets the budget)")


def progress(items: Sequence[T], desc: str) -> Sequence[T] | Iterator[T]:
    """A progress bar on a terminal (rank 0's), the plain iterable elsewhere."""
    if sys.stderr.isatty() and distributed.is_main():
        from tqdm import tqdm

        return tqdm(items, desc=desc, leave=False)
    return items
