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


def test_a_sequences_parquet_s_notes_count_one_event_as_one() -> None:
    """What the filters left out of the pipeline's sequences, as recommend and the other commands print it for its
    sequences.parquet: 'with 1 events', 'left out 1 events' (helper-281: left_out_notes had no counted)."""
    from elcrec_core.data.sequence_summary import SequenceSummary

    summary = SequenceSummary(events_in=9, filtered_out=1, repeated_across_files=0, duplicates_removed=0,
                              k_core_removed=0, k_core_users_removed=0, k_core_rounds=0, users=2, items=3,
                              interactions=7, density=1.0, n_items=3, new_items=0, items_with_metadata=0, length={},
                              max_user_events_removed=1, max_user_events_users=1, filtered_out_by={"min_rating": 1})
    assert summary.left_out_notes() == ["max_user_events left out 1 user with 1 event",
                                        "the filter min_rating left out 1 event"]
