"""train, evaluate and baselines say alike how many test targets are items the user had before, and what leaves such
repeats out (helper-280: train said nothing where a third of its targets could not be reached, and no command said
what to do)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from elcrec_core.cli.main import main
from elcrec_core.data.sequences import write_item_index_file

CAP = ("2 of 8 users' test targets (25.0%) are items they had before: with history excluded no model ranks them "
       "(they count as misses), so no HR@K can exceed 0.7500 here. ")
KEPT = ", each user's first event of an item alone is kept: the models then learn, and are measured on, the items a " \
       "list can serve (new to the user).\n"
LISTS = [[(u + k) % 10 + 1 for k in range(4)] + [u + 1 if u < 2 else (u + 5) % 10 + 1] for u in range(8)]


def _run(capsys: pytest.CaptureFixture, *argv: str) -> str:
    code = main(list(argv))
    err = capsys.readouterr().err
    assert code == 0, err
    return err


@pytest.fixture
def events(tmp_path: Path) -> Path:
    """8 users of 5 events; users u0 and u1 end on their first item again."""
    rows = [f"u{u},i{item},{10 * u + n}" for u, items in enumerate(LISTS) for n, item in enumerate(items)]
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,timestamp\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_train_evaluate_and_baselines_give_the_same_note_naming_dedupe(tmp_path: Path, events: Path, capsys) -> None:
    note = CAP + "With --dedupe" + KEPT
    out = tmp_path / "run"
    assert note in _run(capsys, "train", "--data", str(events), "--out", str(out), "--epochs", "1", "--hidden", "8",
                        "--threads", "1")
    assert note in _run(capsys, "evaluate", "--data", str(events), "--checkpoint", str(out / "best.pt"), "--json")
    assert note in _run(capsys, "baselines", "--data", str(events), "--no-sasrec", "--json")
    assert "had before" not in _run(capsys, "baselines", "--data", str(events), "--no-sasrec", "--dedupe", "--json")


def test_the_pipelines_sequences_name_the_run_configs_dedupe(tmp_path: Path, capsys) -> None:
    """--dedupe is refused for a sequences.parquet (built already): the note names the setting that builds them."""
    pl.DataFrame({"user_id": [f"u{u}" for u in range(8)], "items": LISTS}).write_parquet(tmp_path / "sequences.parquet")
    write_item_index_file(tmp_path / "item_index.parquet", [f"i{n}" for n in range(1, 11)])
    note = CAP + "With ops.interaction_sequences.config.dedupe: true in the run config" + KEPT
    assert note in _run(capsys, "baselines", "--data", str(tmp_path / "sequences.parquet"), "--no-sasrec")
