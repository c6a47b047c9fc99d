"""A training run says early how long its step budget takes at the pace of its first steps."""
from __future__ import annotations

from elcrec_core.train import pace
from elcrec_core.train.loop import train
from elcrec_core.train.pace import duration
from tests.train.small import small_config


def test_durations_read_as_a_person_reads_them():
    assert [duration(s) for s in (45, 119.94, 840, 7199, 8280)] == ["45.0 s", "119.9 s", "14.0 min", "120.0 min",
                                                                   "2.3 h"]


def test_a_run_says_once_how_long_its_budget_takes(seqs, tmp_path, monkeypatch):
    """A run whose budget took hours (3,000 listeners, 32,000 tracks: 2.9 s a step, 2,800 steps) said nothing until
    its first epoch ended, 14 minutes in. Now, once its first steps have taken SAY_AFTER_SECONDS (here 0: the
    first step), it says the pace and the time of the steps left: the budget's 5 steps (max_steps; the first epoch
    holds more), then, resumed with max_steps 8, the 3 left, in epoch 1."""
    monkeypatch.setattr(pace, "SAY_AFTER_SECONDS", 0.0)
    for max_steps, left, epoch in ((5, 5, 0), (8, 3, 1)):
        logs: list[str] = []
        train(seqs, small_config(epochs=50, max_steps=max_steps, batch_size=64), tmp_path, log=logs.append)
        said = [line for line in logs if "of this run's budget" in line]
        assert len(said) == 1 and said[0].startswith(f"epoch {epoch}: 1 step in "), logs
        assert f"s a step): the {left} steps of this run's budget take about " in said[0]
        assert said[0].endswith("at this pace, validation apart (early stopping may end it sooner; max_steps sets "
                                "the budget)")
    monkeypatch.setattr(pace, "SAY_AFTER_SECONDS", 3600.0)  # a run shorter than that says nothing
    logs = []
    train(seqs, small_config(epochs=1, max_steps=2), tmp_path / "short", log=logs.append)
    assert not [line for line in logs if "of this run's budget" in line]
