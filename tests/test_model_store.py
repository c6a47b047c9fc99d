"""The model store (records, candidates, serving aliases, rollback, the serving log) and the promotion gate."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from elcrec_core.config import ModelConfig
from elcrec_core.evaluation import eligible_users, evaluate
from elcrec_core.model import ELCRec
from elcrec_core.model_store import ModelRecord, ModelStore
from elcrec_core.promotion import gate
from elcrec_core.sequences import Sequences, SequenceTensors


def record(store: ModelStore, day: str, run: str, ndcg: float = 0.1) -> ModelRecord:
    folder = store.run_dir(day, run)
    folder.mkdir(parents=True)
    made = ModelRecord(day=day, run_id=run, dir=store.relative(folder), valid={"NDCG@20": ndcg})
    store.add_candidate(made, {"history": [{"epoch": 0}]})
    return made


def test_records_are_relative_to_the_data_folder_so_that_it_can_move(tmp_path):
    store = ModelStore(tmp_path / "data")
    first = record(store, "2026-01-30", "r1")
    store.promote(first, "first")
    assert first.dir == "models/2026-01-30/r1" and first.checkpoint == "models/2026-01-30/r1/best.pt"
    assert json.loads((tmp_path / "data/models/aliases.json").read_text())["serving"]["dir"] == first.dir
    shutil.move(tmp_path / "data", tmp_path / "moved")
    moved = ModelStore(tmp_path / "moved")
    assert moved.serving() == first
    assert moved.checkpoint(moved.serving()) == (tmp_path / "moved/models/2026-01-30/r1/best.pt").resolve()
    assert moved.candidate("2026-01-30") == first
    metrics = json.loads((tmp_path / "moved/models/2026-01-30/r1/metrics.json").read_text())
    assert metrics["run_id"] == "r1" and metrics["history"] == [{"epoch": 0}]
    with pytest.raises(ValueError):
        store.relative(tmp_path / "elsewhere")


def test_promotion_keeps_the_previous_model_and_rollback_swaps_them(tmp_path):
    store = ModelStore(tmp_path)
    a, b, c = (record(store, f"2026-02-0{i}", f"r{i}") for i in (1, 2, 3))
    assert store.serving() is None and store.previous() is None
    with pytest.raises(LookupError, match="no previous model"):
        store.rollback()
    store.promote(a, "first")
    store.promote(b, "better")
    store.promote(b, "again")  # promoting the serving model changes nothing
    assert (store.serving(), store.previous()) == (b, a)
    assert store.rollback("b misbehaves") == a
    assert (store.serving(), store.previous()) == (a, b)
    assert store.rollback() == b  # a second rollback undoes the first
    store.promote(c, "newer")
    assert (store.serving(), store.previous()) == (c, b)
    log = store.serving_log()
    assert [(e["action"], e["serving"]["run_id"]) for e in log] == [
        ("promote", "r1"), ("promote", "r2"), ("rollback", "r1"), ("rollback", "r2"), ("promote", "r3")]
    assert log[2]["reason"] == "b misbehaves" and log[2]["previous"]["run_id"] == "r2"


def test_served_up_to_never_returns_a_model_of_later_data(tmp_path):
    store = ModelStore(tmp_path)
    d1, d3, d5 = (record(store, day, day) for day in ("2026-03-01", "2026-03-03", "2026-03-05"))
    for made in (d1, d3, d5):
        store.promote(made, "daily")
    assert store.served_up_to("2026-03-06") == d5  # the serving model itself
    assert store.served_up_to("2026-03-05") == d5
    assert store.served_up_to("2026-03-04") == d3  # the serving model is newer: the newest that served before
    assert store.served_up_to("2026-03-02") == d1
    assert store.served_up_to("2026-02-28") is None
    store.rollback()  # d3 serves again
    assert store.served_up_to("2026-03-07") == d3  # the operator's choice wins for later days


def test_a_candidate_of_a_day_is_its_newest_run(tmp_path):
    store = ModelStore(tmp_path)
    assert store.candidate("2026-04-01") is None
    record(store, "2026-04-01", "first")
    newest = record(store, "2026-04-01", "second")
    assert store.candidate("2026-04-01") == newest
    store.record_decision(newest, {"promote": False, "reason": "refused: test"})
    assert store.decision(newest) == {"promote": False, "reason": "refused: test"}
    assert not list(tmp_path.rglob(".*.tmp-*"))  # atomic writes leave no temporary file


# ------------------------------------------------------------------------------------------ the gate
def _model(seed: int, scale: float = 1.0) -> ELCRec:
    torch.manual_seed(seed)
    model = ELCRec(ModelConfig(n_items=30, hidden=16, n_heads=2, n_layers=1, max_len=8, n_intents=4))
    with torch.no_grad():
        model.item_emb.weight.mul_(scale)
    return model.eval()


def _data() -> SequenceTensors:
    g = torch.Generator().manual_seed(1)
    lists = [torch.randint(1, 31, (int(n),), generator=g).tolist() for n in torch.randint(3, 12, (60,), generator=g)]
    return SequenceTensors.from_sequences(Sequences.from_lists(list(range(60)), lists, n_items=30))


def test_the_gate_refuses_a_model_with_non_finite_scores():
    data = _data()
    broken = _model(0)
    with torch.no_grad():
        broken.item_emb.weight[5] = float("nan")  # item 5's score is NaN for every user
    decision = gate(broken, "2026-01-02", None, None, data, tolerance=0.002)
    assert decision.promote is False and decision.non_finite_users == len(eligible_users(data, "valid"))
    assert decision.reason == f"refused: {decision.non_finite_users} validation users get a NaN or infinite score"
    assert gate(_model(0), "2026-01-02", None, None, data, 0.002).non_finite_users == 0


def test_the_gate_compares_validation_ndcg_with_the_tolerance_and_refuses_older_days():
    data = _data()
    new, old = _model(1), _model(2)
    score, old_score = (evaluate(m, data, "valid")["NDCG@20"] for m in (new, old))
    assert score != old_score
    margin = old_score - score  # the candidate is this much worse (negative: better)
    inside = gate(new, "2026-01-02", old, "2026-01-01", data, tolerance=margin + 0.001)
    outside = gate(new, "2026-01-02", old, "2026-01-01", data, tolerance=margin - 0.001)
    assert inside.promote is True and outside.promote is False
    assert (inside.candidate_score, inside.serving_score) == (pytest.approx(score), pytest.approx(old_score))
    assert outside.reason.startswith("refused: validation NDCG@20")
    older = gate(new, "2026-01-01", old, "2026-01-02", data, tolerance=1.0)
    assert older.promote is False and "older than the serving model's day 2026-01-02" in older.reason
    first = gate(new, "2026-01-01", None, None, data, tolerance=0.0)
    assert first.promote is True and first.reason == "promoted: no model served before"


def test_elcrec_rollback_serves_the_previous_model(tmp_path, capsys):
    from elcrec_core.cli import main

    store = ModelStore(tmp_path)
    assert main(["rollback", "--data-dir", str(tmp_path)]) == 2
    assert "no previous model to roll back to" in capsys.readouterr().err
    a, b = record(store, "2026-05-01", "a"), record(store, "2026-05-02", "b")
    store.promote(a, "first")
    store.promote(b, "second")
    assert main(["rollback", "--data-dir", str(tmp_path), "--reason", "b recommends stale items", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"serving": a.name, "previous": b.name}
    assert (store.serving(), store.previous()) == (a, b)
    assert store.serving_log()[-1]["reason"] == "b recommends stale items"
