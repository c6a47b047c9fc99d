"""A training run says early how long its step budget takes at the pace of its first steps."""
from __future__ import annotations

import re

from elcrec_core.train import pace
from elcrec_core.train.loop import train
from elcrec_core.train.pace import duration
from tests.train.small import small_config


def test_durations_read_as_a_person_reads_them():
    assert [duration(s) for s in (45, 119.94, 840, 7199, 8280)] == ["45.0 s", "119.9 s", "14.0 min", "120.0 min",
                                                                   "2.3 h"]


def test_a_run_says_once_how_long_its_budget_takes(seqs, tmp_path, monkeypatch):
    """A run whose budget took hours (3,000 listeners, 32,000 tracks: 2.9 s a step, 2,800 steps) said nothing until
    its first epoch ended, 14 minutes in. Now, once SAY_AFTER_SECONDS (here 0) have passed since its first step,
    it says the pace of its steps after the first (a compiled step compiles in the first) and the time of the
    steps left: of the budget's 5 (max_steps; the first epoch holds more), 3 after 2; then, resumed with
    max_steps 8, of the 3 left, 1, in epoch 1, after 7 in all."""
    monkeypatch.setattr(pace, "SAY_AFTER_SECONDS", 0.0)
    for max_steps, done, left, epoch in ((5, "2 steps done", "3 steps", 0),
                                         (8, r"7 steps done \(2 since it resumed\)", "1 step", 1)):
        logs: list[str] = []
        train(seqs, small_config(epochs=50, max_steps=max_steps, batch_size=64), tmp_path, log=logs.append)
        said = [line for line in logs if "of this run's budget" in line]
        assert len(said) == 1 and re.fullmatch(
            rf"epoch {epoch}: {done}, \d+\.\d\d s a step \(the median, the first apart\): the {left} left of "
            r"this run's budget take about \d+\.\d s at this pace, validation apart \(early stopping may end it "
            r"sooner; max_steps sets the budget\)", said[0]), logs
    monkeypatch.setattr(pace, "SAY_AFTER_SECONDS", 3600.0)  # a run shorter than that says nothing
    logs = []
    train(seqs, small_config(epochs=1, max_steps=2), tmp_path / "short", log=logs.append)
    assert not [line for line in logs if "of this run's budget" in line]


def test_the_pace_counts_the_steps_of_every_epoch_and_leaves_the_first_out(monkeypatch):
    """The clock runs from the run's first step across its epochs (a run of many short epochs said nothing), and
    the pace is that of the steps after the first (a 40 s compile in the first step made 0.1 s steps read as 40 s:
    hours for a budget of minutes); the time between the epochs (validation) is not counted."""
    monkeypatch.setattr(pace, "SAY_AFTER_SECONDS", 100.0)
    # epoch 0: step 1 from 0 s (a compile), step 2 from 40.0 to 40.1 s; validation; epoch 1: step 3, 100.0-100.1 s
    clock = iter([0.0, 40.0, 40.1, 40.1, 100.0, 100.1, 100.1])  # each step: its start, its end, the check
    monkeypatch.setattr(pace.time, "perf_counter", lambda: next(clock))
    logs: list[str] = []
    timed = pace.Pace(logs.append, steps_left=1000)
    assert list(timed.steps([1, 2], "epoch 0")) == [1, 2] and logs == []  # 40.1 s since the first step began
    assert list(timed.steps([3], "epoch 1")) == [3]
    assert logs == ["epoch 1: 3 steps done, 0.10 s a step (the median, the first apart): the 997 steps left of this "
                    "run's budget take about 99.7 s at this pace, validation apart (early stopping may end it "
                    "sooner; max_steps sets the budget)"]
    # a resumed run: the steps done count its earlier attempts' too, so that done and left make the budget
    clock = iter([0.0, 40.0, 40.1, 40.1, 100.0, 100.1, 100.1])
    logs.clear()
    resumed = pace.Pace(logs.append, steps_left=1000, done_before=580)
    assert list(resumed.steps([1, 2], "epoch 9")) == [1, 2] and list(resumed.steps([3], "epoch 10")) == [3]
    assert logs[0].startswith("epoch 10: 583 steps done (3 since it resumed), 0.10 s a step (the median, the first "
                              "apart): the 997 steps left of this run's budget")
