"""The command line writes a count of one in the singular: ``1 event``, ``2 events`` (helper-280: recommend printed
``(1 events; ...)``; synth ``of 1 users``; train and baselines ``data: 1 users``), through one helper."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from elcrec_core.cli.main import main
from elcrec_core.cli.serving_notes import SEQUENCES_FILE, history_note
from elcrec_core.data.sequence_summary import counted
from elcrec_core.data.sequences import ITEM_INDEX_FILE


def test_counted_writes_one_in_the_singular() -> None:
    assert [counted(n, "event") for n in (0, 1, 2, 2000)] == ["0 events", "1 event", "2 events", "2,000 events"]


def test_recommends_history_note_counts_one_event_as_one(tmp_path: Path) -> None:
    day = tmp_path / "2026-03-01"
    day.mkdir()
    pl.DataFrame({"user_id": ["u"], "items": [[1]]}).write_parquet(day / SEQUENCES_FILE)
    pl.DataFrame({"item_index": [1, 2], "item_id": ["a", "b"]}).write_parquet(day / ITEM_INDEX_FILE)
    assert history_note(day, "u", ["a", "b"]).startswith(
        "the user's history read from --data (2 events) is not the one the pipeline built (1 event; "
        "2026-03-01/sequences.parquet), from event 2 on")


def test_synth_and_baselines_count_one_user_as_one(tmp_path: Path, capsys) -> None:
    out = tmp_path / "one.csv"
    assert main(["synth", "--out", str(out), "--users", "1", "--items", "5", "--intents", "1"]) == 0
    events = len(pl.read_csv(out))
    assert capsys.readouterr().out == f"wrote {events} events of 1 user to {out}\n"
    path = tmp_path / "one.txt"
    path.write_text("1 1 2 3\n", encoding="utf-8")
    assert main(["baselines", "--data", str(path), "--format", "sequence", "--no-sasrec", "--lambdas", "10"]) == 0
    assert "data: 1 user, 3 items, 3 interactions; the test split: 1 of the 1" in capsys.readouterr().err
