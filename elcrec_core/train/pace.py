"""How a training run tells its pace: a progress bar on a terminal, and once, early in the run, how long its step
budget will take at the pace of its first steps (a run whose budget took hours said nothing until its first epoch
ended, 14 minutes in: a trial of 2026-12-06 on 3,000 listeners of 32,000 tracks)."""

from __future__ import annotations

import statistics
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
    """Says through ``log``, once, :data:`SAY_AFTER_SECONDS` into a run (started or resumed; from its first step),
    the seconds a step takes (the median of those after the first: a compiled step compiles in the first, and again
    for an epoch's last, smaller batch), and how long the steps left of the ``steps_left`` optimiser steps of its
    budget (epochs x steps an epoch, or ``max_steps``, less those done) take at that pace; validation, between the
    epochs, is not counted, and early stopping may end the run sooner. The steps done it names count the
    ``done_before`` of a resumed run's earlier attempts too (those done and those left made the budget: helper-171
    read 492 done and 1,928 left of 3,000)."""

    def __init__(self, log: Callable[[str], None], steps_left: int, done_before: int = 0) -> None:
        self.log, self.steps_left, self.done_before, self.said = log, steps_left, done_before, False
        self.taken, self.seconds = 0, list[float]()  # the steps taken, and the seconds of each after the first
        self.began: float | None = None  # when the run's first step began

    def steps(self, batches: Sequence[T], desc: str) -> Iterator[T]:
        """``batches`` (a progress bar on a terminal: :func:`progress`), timing the step that each is for."""
        for batch in progress(batches, desc):
            started = time.perf_counter()
            if self.began is None:
                self.began = started
            yield batch  # the step runs before the next batch is asked for
            self.taken += 1
            if self.taken > 1 and not self.said:
                self.seconds.append(time.perf_counter() - started)
            if not self.said and self.taken > 1 and time.perf_counter() - self.began >= SAY_AFTER_SECONDS:
                self.said = True
                each, left = statistics.median(self.seconds), self.steps_left - self.taken
                self.log(f"{desc}: {self.done_before + self.taken} steps done"
                         + (f" ({self.taken} since it resumed)" if self.done_before else "")
                         + f", {each:.2f} s a step (the median, the first apart): "
                         f"the {left} step{'s' * (left != 1)} left of this run's budget take about "
                         f"{duration(each * left)} at this pace, validation apart (early stopping may end it sooner; "
                         "max_steps sets the budget)")


def progress(items: Sequence[T], desc: str) -> Sequence[T] | Iterator[T]:
    """A progress bar on a terminal (rank 0's), the plain iterable elsewhere."""
    if sys.stderr.isatty() and distributed.is_main():
        from tqdm import tqdm

        return tqdm(items, desc=desc, leave=False)
    return items
