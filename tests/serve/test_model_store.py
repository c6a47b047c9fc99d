"""The model store (records, candidates, serving aliases, rollback, the serving log) and the promotion gate."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import shutil
import time
from pathlib import Path

import polars as pl
import pytest
import torch

from elcrec_core.config import partitions
from elcrec_core.config.settings import ModelConfig
from elcrec_core.data import warehouse
from elcrec_core.data.sequences import Sequences, SequenceTensors, write_item_index_file
from elcrec_core.evaluate.baselines import ItemTransition, MostPopular
from elcrec_core.evaluate.item_knn import tune_item_baseline
from elcrec_core.evaluate.ranking import eligible_users, evaluate, metrics_from_ranks
from elcrec_core.evaluate.scoring import ELCRecRecommender, evaluate_recommender
from elcrec_core.model.elcrec import ELCRec
from elcrec_core.serve.decisions import stored_refusal
from elcrec_core.serve.model_store import ModelRecord, ModelStore
from elcrec_core.serve.promotion import (
    CANDIDATE,
    CHAMPION,
    Contender,
    GateDecision,
    gate,
    judge_alone,
)
from elcrec_core.serve.training_data import UNRECORDED, other_settings, with_day_settings


def record(store: ModelStore, day: str, run: str, ndcg: float = 0.1) -> ModelRecord:
    folder = store.run_dir(day, run)
    folder.mkdir(parents=True)
    made = ModelRecord(day=day, run_id=run, dir=store.relative(folder), valid={"NDCG@20": ndcg})
    store.add_candidate(made, {"history": [{"epoch": 0}]})
    return made


def test_served_up_to_takes_the_last_of_a_day_and_leaves_out_a_rolled_back_model(tmp_path):
    """Two models of one day (the day run again): the one that served last is the day's. A model withdrawn by a
    rollback is not started from, unless a later entry restores it."""
    store = ModelStore(tmp_path)
    r1, r2, c21 = record(store, "2026-01-20", "r1"), record(store, "2026-01-20", "r2"), record(store, "2026-01-21", "c")
    for made in (r1, r2, c21):
        store.promote(made, "daily")
    assert store.served_up_to("2026-01-20") == r2
    other = ModelStore(tmp_path / "other")
    a, b = record(other, "2026-01-19", "a"), record(other, "2026-01-20", "b")
    other.promote(a, "daily")
    other.promote(b, "daily")
    other.rollback("b is bad")  # a serves again; b is withdrawn
    popular = dataclasses.replace(record(other, "2026-01-21", "mp"), kind="most_popular")
    other.promote(popular, "a baseline serves")
    assert other.served_up_to("2026-01-21", kinds=("elcrec",)) == a
    other.promote(b, "b again, by hand")
    other.promote(popular, "the baseline again")
    assert other.served_up_to("2026-01-21", kinds=("elcrec",)) == b  # restored, so no longer withdrawn
    undone = ModelStore(tmp_path / "undone")
    c, d = record(undone, "2026-01-19", "c"), record(undone, "2026-01-20", "d")
    undone.promote(c, "daily")
    undone.promote(d, "daily")
    undone.rollback("d looks bad")
    undone.rollback("it was not: undo")  # d serves again, and c, which served well, is not withdrawn
    assert undone.served_up_to("2026-01-19") == c and undone.served_up_to("2026-01-20") == d


def test_a_promotion_that_a_full_disk_stops_leaves_the_serving_log_whole(tmp_path, monkeypatch):
    """The serving log was appended to in place: a full disk cut its last line, a rollback then appended to that
    half line, and every later run failed on the file, whose advice, remove it, forgot the rollback (helper-215). The
    log is rewritten whole or left as it was; a line that is no JSON is named by its number, and the advice keeps
    the history."""
    store = ModelStore(tmp_path)
    a, b = record(store, "2026-01-19", "a"), record(store, "2026-01-20", "b")
    store.promote(a, "daily")
    log = tmp_path / "models" / "serving_log.jsonl"
    before = log.read_bytes()
    real_write = Path.write_bytes

    def full_disk(self: Path, data: bytes) -> int:
        if self.name.startswith(".serving_log.jsonl.tmp-"):
            real_write(self, data[:10])  # a part written, then no space
            raise OSError(28, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with pytest.raises(OSError, match=rf"^{re.escape(str(log))} was not written, and is as it was: .*No space left"):
        store.promote(b, "daily")
    monkeypatch.undo()
    assert log.read_bytes() == before and store.serving() == a  # the log and the aliases as they were
    assert [path.name for path in log.parent.iterdir() if path.name.startswith(".")] == []  # no temporary file
    store.promote(b, "daily")
    store.rollback("b is bad")
    assert [entry["action"] for entry in store.serving_log()] == ["promote", "promote", "rollback"]
    log.write_text(log.read_text().replace('"action"', '"action', 1))
    with pytest.raises(ValueError, match=f"^{log} line 1 is not valid JSON .*: repair that line \\(the file is the "
                                         "history of what served: without it, a model that a rollback withdrew may "
                                         "serve again\\)$"):
        store.serving_log()
    log.write_text(log.read_text().replace('"action', '"action"', 1) + "[]\n")  # valid JSON, no entry: a TypeError
    with pytest.raises(ValueError, match=f"^{log} line 4 holds a JSON array, not an entry's object: repair that line "):
        store.withdrawn()


def test_nothing_has_served_in_an_empty_store(tmp_path):
    store = ModelStore(tmp_path)
    assert store.served_up_to("2026-01-20") is None and store.served_up_to("2026-01-20", kinds=("elcrec",)) is None
    assert store.judged_days() == set() and store.candidate("2026-01-20") is None


def test_the_days_the_gate_has_judged_are_those_with_a_decision(tmp_path):
    store = ModelStore(tmp_path)
    a, b, c = record(store, "2026-01-20", "a"), record(store, "2026-01-20", "b"), record(store, "2026-01-22", "c")
    store.record_decision(a, {"promoted": True, "serves": "candidate", "serving": a.to_dict()})
    store.record_decision(c, {"promoted": False, "serves": "serving", "serving": a.to_dict()})
    assert store.judged_days() == {"2026-01-20", "2026-01-22"} and store.decision(b) is None
    # those whose gate kept or chose a model: what the gate's older-day rule compares with
    assert store.judged_days(a) == {"2026-01-20", "2026-01-22"} and store.judged_days(b) == set()
    # a gate that found nothing fit (every contender non-finite) chose nothing, though the alias still names a
    store.record_decision(c, {"promoted": False, "serves": None, "serving": a.to_dict()})
    assert store.judged_days(a) == {"2026-01-20"} and store.judged_days() == {"2026-01-20", "2026-01-22"}


def test_each_run_of_a_day_gets_its_own_candidate(tmp_path):
    """Two runs of one day at once (the schedule and the sensor, a UI click): run a trained first, run b second.
    Each run's later steps judge the model it trained, not the day's newest; a run that trained nothing (a
    materialization of the gate alone) gets the day's newest."""
    store = ModelStore(tmp_path)
    a, b = record(store, "2026-01-20", "a"), record(store, "2026-01-20", "b")
    assert store.candidate("2026-01-20", ["a"]) == a and store.candidate("2026-01-20", ["b"]) == b
    assert store.candidate("2026-01-20") == b and store.candidate("2026-01-20", ["gate-only"]) == b
    assert store.candidate("2026-01-20", ["a-again", "a"]) == a  # a re-execution of run a, from its gate on
    assert store.candidate("2026-01-21", ["a"]) is None


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


def _rec(role: str, day: str = "2026-01-02", kind: str = "elcrec") -> ModelRecord:
    return ModelRecord(day=day, run_id=role, dir=f"models/{day}/{role}", kind=kind)


def test_a_record_without_sequence_settings_takes_its_days_or_counts_as_other_ones() -> None:
    """A model recorded by a version before 720fcc3 holds no sequence settings: it warm-started a day built with
    other ones and was judged on targets it trained on (helper-185). It takes those of its day's sequences where it
    trained on them (the same digest); else, its day built again since, pruned, or no digest recorded (SASRec's),
    they are unknown and taken as other than any candidate's."""
    old = dataclasses.replace(_rec("serving"), sequences="day-digest")
    candidate = dataclasses.replace(_rec("candidate", "2026-01-03"), sequences="next", sequence_settings="s")
    assert with_day_settings(old, "day-digest", "s").sequence_settings == "s"
    assert not other_settings(with_day_settings(old, "day-digest", "s"), candidate)
    digestless = dataclasses.replace(old, sequences="")
    for day_sequences, record in (("rebuilt", old), (None, old), ("day-digest", digestless)):
        unknown = with_day_settings(record, day_sequences, "s")
        assert unknown.sequence_settings == UNRECORDED and other_settings(unknown, candidate)
    assert not other_settings(with_day_settings(old, "rebuilt", "s"), dataclasses.replace(
        candidate, sequences="day-digest"))  # the very sequences it trained on: the same data, whatever the record
    recorded, baseline = dataclasses.replace(old, sequence_settings="t"), _rec("most_popular", kind="most_popular")
    assert with_day_settings(recorded, "rebuilt", "s") is recorded and with_day_settings(baseline, None, "") is baseline


def _contender(role: str, rec, day: str = "2026-01-02") -> Contender:
    if isinstance(rec, ELCRec):
        rec = ELCRecRecommender(rec)
    return Contender(role, _rec(role, day), rec)


def _score(rec, data: SequenceTensors) -> float:
    return metrics_from_ranks(evaluate_recommender(rec, data, "valid"))["NDCG@20"]


class _Favourite:
    """Every user gets the same scores: item i scores ``order[i - 1]`` (a known, fixed ranking)."""

    def __init__(self, order: list[float]) -> None:
        self.order, self.n_items = torch.tensor(order, dtype=torch.float64), len(order)

    def fit(self, data, split):
        return self

    def score(self, users, history):
        return self.order.expand(len(users), -1)


def test_the_gate_refuses_a_model_with_non_finite_scores():
    data = _data()
    broken = _model(0)
    with torch.no_grad():
        broken.item_emb.weight[5] = float("nan")  # item 5's score is NaN for every user
    decision = gate(_contender(CANDIDATE, broken), None, [], data, tolerance=0.002)
    users = len(eligible_users(data, "valid"))
    assert decision.promote is False and decision.non_finite_users == users and decision.serves is None
    assert decision.reason == "refused: every contender gives NaN or infinite scores"
    assert decision.to_dict() == {"promote": False, "serves": None, "reason": decision.reason, "scores": {},
                                  "refusal": f"{users} validation users get a NaN or infinite score",
                                  "non_finite": {CANDIDATE: users}, "tolerance": 0.002, "serving": None,
                                  "candidate_score": None, "serving_score": None, "non_finite_users": users}
    popular = _contender("most_popular", MostPopular().fit(data, "valid"))
    decision = gate(_contender(CANDIDATE, broken), None, [popular], data, tolerance=0.002)
    assert decision.promote is False and decision.serves == "most_popular" and decision.serving == popular.record
    assert decision.reason.startswith(f"refused: {users} validation users get a NaN or infinite score; "
                                      "most popular serves")
    assert CANDIDATE not in decision.scores  # a non-finite model gets no score to compare
    assert gate(_contender(CANDIDATE, _model(0)), None, [], data, 0.002).non_finite_users == 0


def test_the_gate_compares_validation_ndcg_with_the_tolerance_and_refuses_older_days():
    data = _data()
    new, old = _model(1), _model(2)
    score, old_score = (evaluate(m, data, "valid")["NDCG@20"] for m in (new, old))
    assert score != old_score
    margin = old_score - score  # the candidate is this much worse (negative: better)
    champion = _contender(CHAMPION, old, "2026-01-02")  # of the same day: the tolerance alone (an older one: below)
    inside = gate(_contender(CANDIDATE, new), champion, [], data, tolerance=max(0.0, margin) + 0.001)
    outside = gate(_contender(CANDIDATE, new), champion, [], data, tolerance=margin - 0.001)
    assert (inside.promote, outside.promote) == (True, margin - 0.001 < 0)
    assert (inside.candidate_score, inside.serving_score) == (pytest.approx(score), pytest.approx(old_score))
    older = gate(_contender(CANDIDATE, new, "2026-01-01"), _contender(CHAMPION, old, "2026-01-02"), [], data, 1.0)
    assert older.promote is False and "older than the serving model's day 2026-01-02" in older.reason
    assert older.serves == CHAMPION and older.reason == f"refused: {older.refusal}"  # decision.json keeps it too
    assert older.refusal.startswith("trained on 2026-01-01, older than the serving model's day 2026-01-02 (an older")
    first = gate(_contender(CANDIDATE, new, "2026-01-01"), None, [], data, tolerance=0.0)
    assert first.promote is True
    assert first.reason == f"promoted: validation NDCG@20 {score:.4f}; it is the best of all"


def test_the_tolerance_boundary_against_the_best_challenger():
    """A candidate 0.001 inside the tolerance of the best model serves; 0.001 outside, the best serves."""
    data = _data()
    candidate = ELCRecRecommender(_model(1))
    best = ItemTransition().fit(data, "valid")
    gap = _score(best, data) - _score(candidate, data)
    assert gap > 0.01  # transitions beat a random model here
    popular = _contender("most_popular", _Favourite([0.0] * 30))  # every item ties: ranks last, the floor is 0
    inside = gate(_contender(CANDIDATE, candidate), None, [_contender("transition", best), popular], data,
                  tolerance=gap + 0.001)
    outside = gate(_contender(CANDIDATE, candidate), None, [_contender("transition", best), popular], data,
                   tolerance=gap - 0.001)
    assert inside.promote is True and inside.serves == CANDIDATE
    assert "the best: item transition" in inside.reason
    assert outside.promote is False and outside.serves == "transition"
    assert outside.reason.startswith(f"refused: validation NDCG@20 {_score(candidate, data):.4f} is below the best, "
                                     f"item transition's {_score(best, data):.4f}, by more than the tolerance")


def _paired_noise(rec, best, data: SequenceTensors) -> tuple[float, float, int]:
    """The gap best minus rec in validation NDCG@20, its paired standard error and the users, computed here."""
    def ndcg(model) -> list[float]:
        return [1 / math.log2(r + 2) if r < 20 else 0.0 for r in evaluate_recommender(model, data, "valid").tolist()]

    diff = [b - a for a, b in zip(ndcg(rec), ndcg(best))]
    mean = sum(diff) / len(diff)
    error = math.sqrt(sum((d - mean) ** 2 for d in diff) / (len(diff) - 1) / len(diff))
    return mean, error, len(diff)


def test_a_day_run_again_on_the_same_sequences_changes_what_serves_only_for_a_clearly_better_model():
    """A trial ran an unchanged day again: SASRec, trained again, came out above the serving ELCRec by 0.0063 on
    validation (one paired standard error) and replaced it, worse on test (helper-158). On the sequences the serving
    model trained on, a contender replaces it only where it is above it by more than the noise."""
    data = _data()
    weak, other = _model(1), _model(2)  # other above weak within the noise (the test above)
    gap, error, users = _paired_noise(ELCRecRecommender(weak), ELCRecRecommender(other), data)
    assert 0 < gap <= 2 * error

    def same(role: str, model, digest: str = "s") -> Contender:
        contender = _contender(role, model)
        return dataclasses.replace(contender, record=dataclasses.replace(contender.record, sequences=digest))

    kept = gate(same(CANDIDATE, _model(1)), same(CHAMPION, weak), [same("sasrec", other)], data, 0.0)
    assert kept.promote is False and kept.serves == CHAMPION and kept.reason == (
        f"refused: validation NDCG@20 {_score(ELCRecRecommender(weak), data):.4f} is below the best, SASRec's "
        f"{_score(ELCRecRecommender(other), data):.4f}, by more than the tolerance 0 (by {gap:.4f}; paired standard "
        f"error over {users} users {error:.4f}: within the noise); the serving model 2026-01-02/serving serves "
        f"(validation NDCG@20 {_score(ELCRecRecommender(weak), data):.4f}; SASRec's "
        f"{_score(ELCRecRecommender(other), data):.4f} is above it by no more than the noise (by +{gap:.4f}; paired "
        f"standard error over {users} users {error:.4f}), and on the sequences it trained on (its day run again) it "
        "serves on)")
    level = gate(same(CANDIDATE, other), same(CHAMPION, weak), [], data, 0.0)  # the candidate itself, as near
    assert level.promote is False and level.serves == CHAMPION and level.refusal == (
        f"validation NDCG@20 {_score(ELCRecRecommender(other), data):.4f} is not above the serving model "
        f"2026-01-02/serving's {_score(ELCRecRecommender(weak), data):.4f} by more than the noise, on the sequences "
        f"it trained on (its day run again) (by +{gap:.4f}; paired standard error over {users} users {error:.4f})")
    # other sequences (a corrected day), or unknown ones: the rules as before, the nearest above serves
    for digest in ("t", ""):
        assert gate(same(CANDIDATE, _model(1)), same(CHAMPION, weak, digest), [same("sasrec", other)], data,
                    0.0).serves == "sasrec"
    assert gate(same(CANDIDATE, other), same(CHAMPION, weak, ""), [], data, 0.0).promote is True
    # clearly better, beyond the noise: it serves on a rerun too
    chains = _chains()
    clear = gate(same(CANDIDATE, _model(1)), same(CHAMPION, weak), [same("transition", ItemTransition().fit(
        chains, "valid"))], chains, 0.0)
    assert clear.serves == "transition"
    # a review's cases (helper-160). Most popular as "ease" (no floor): above weak beyond the noise, 0.101
    popular = MostPopular().fit(data, "valid")
    far = (_score(popular, data) - _score(ELCRecRecommender(weak), data), _paired_noise(ELCRecRecommender(weak),
                                                                                       popular, data)[1])
    assert far[0] > 2 * far[1]
    # the champion kept by a wide tolerance, the best beyond the noise: the reason had it within (a TypeError)
    wide = gate(same(CANDIDATE, _model(1)), same(CHAMPION, weak), [same("ease", popular)], data, 1.0)
    assert wide.serves == CHAMPION and "no more than the noise" not in wide.reason
    # the serving model judged again as the candidate (serving_model materialized again): not a rerun against itself
    again = _contender(CANDIDATE, weak)
    assert gate(again, dataclasses.replace(again, role=CHAMPION), [], data, 0.0).promote is True
    # the champion fails the tolerance, the candidate (within the noise above it) passes: the candidate serves, not
    # the challenger
    between = (_score(popular, data) - _score(ELCRecRecommender(other), data) + far[0]) / 2
    assert gate(same(CANDIDATE, other), same(CHAMPION, weak), [same("ease", popular)], data, between).promote is True
    # a baseline that served as a fallback gets no hold: the rules as before
    fallback = dataclasses.replace(same(CHAMPION, weak), record=dataclasses.replace(same(CHAMPION, weak).record,
                                                                                     kind="ease"))
    assert gate(same(CANDIDATE, other), fallback, [], data, 0.0).promote is True


def test_a_refusal_by_the_tolerance_says_whether_the_gap_is_within_the_noise():
    """Refused for being below the best by more than the tolerance: the reason gives the gap, its paired standard
    error over the validation users, and, where the gap is within two of them, that it is within the noise (which
    of near-equal models serves is then chance); a clear gap says no such thing."""
    chains = _chains()
    popular, transition = MostPopular().fit(chains, "valid"), ItemTransition().fit(chains, "valid")
    clear = gate(_contender(CANDIDATE, popular), None, [_contender("transition", transition)], chains, tolerance=0.0)
    gap, error, users = _paired_noise(popular, transition, chains)
    assert gap > 2 * error > 0 and clear.reason == (
        f"refused: validation NDCG@20 {_score(popular, chains):.4f} is below the best, item transition's "
        f"{_score(transition, chains):.4f}, by more than the tolerance 0 (by {gap:.4f}; paired standard error over "
        f"{users} users {error:.4f}); item transition serves (validation NDCG@20 {_score(transition, chains):.4f})")
    data = _data()  # random items: two weak models, near-equal
    weak, other = ELCRecRecommender(_model(1)), ELCRecRecommender(_model(2))
    near = gate(_contender(CANDIDATE, weak), None, [_contender("sasrec", other)], data, tolerance=0.0)
    gap, error, users = _paired_noise(weak, other, data)
    assert 0 < gap <= 2 * error, (gap, error)  # the models' seeds are chosen for this
    assert near.reason.startswith(f"refused: validation NDCG@20 {_score(weak, data):.4f} is below the best") and (
        f"(by {gap:.4f}; paired standard error over {users} users {error:.4f}: within the noise)" in near.reason)


def test_a_newer_candidate_within_the_noise_below_the_serving_model_serves():
    """A trial's model served five days: each newer candidate (level or better on test) was refused for a
    validation score below it by 0.006-0.008, within two paired standard errors, on targets the serving model's
    training was chosen on. A newer candidate within the noise below the champion is now judged against the
    others; the tolerance still holds against a challenger, against a champion of its own day, and outside the
    noise."""
    data = _data()  # random items: two weak models, near-equal
    weak, other = ELCRecRecommender(_model(1)), ELCRecRecommender(_model(2))
    gap, error, users = _paired_noise(weak, other, data)
    assert 0 < gap <= 2 * error, (gap, error)
    popular = _contender("most_popular", _Favourite([0.0] * 30))  # the floor 0: both beat it
    newer = gate(_contender(CANDIDATE, weak), _contender(CHAMPION, other, "2026-01-01"), [popular], data, 0.0)
    assert newer.promote is True and newer.reason == (
        f"promoted: validation NDCG@20 {_score(weak, data):.4f} beats most popular 0.0000; the best: the serving model "
        f"2026-01-01/serving {_score(other, data):.4f}, higher (by {gap:.4f}; paired standard error over {users} users "
        f"{error:.4f}: within the noise), and the newer model serves (the serving model's score is on targets its "
        "training was chosen on, and it lacks the newer events); it is the best of the others")
    for champion, challengers in ((_contender(CHAMPION, other, "2026-01-02"), [popular]),  # of its own day
                                  (None, [_contender("sasrec", other), popular])):  # a challenger: the tolerance
        kept = gate(_contender(CANDIDATE, weak), champion, challengers, data, 0.0)
        assert kept.promote is False and "by more than the tolerance 0" in kept.reason
    # below another beside the champion: that one is the best of the others, not "the best", which the report's table
    # showed to be the serving model (helper-179)
    beside = gate(_contender(CANDIDATE, weak), _contender(CHAMPION, other, "2026-01-01"),
                  [_contender("sasrec", other), popular], data, 0.0)
    assert beside.promote is False and beside.reason.startswith(
        f"refused: validation NDCG@20 {_score(weak, data):.4f} is below the best of the others (the serving model's "
        f"score is within the noise above), SASRec's {_score(other, data):.4f}, by more than the tolerance 0")
    # its own day run again on sequences that changed since the champion trained (a corrected delivery, a trial of
    # 12-06): the champion lacks the change, as an older day's would; on the same sequences it is the day's rerun
    def of_sequences(contender: Contender, digest: str, settings: str = "s") -> Contender:
        return dataclasses.replace(contender, record=dataclasses.replace(contender.record, sequences=digest,
                                                                         sequence_settings=settings))

    same_day = _contender(CHAMPION, other, "2026-01-02")
    # other sequences of the same settings: newer data; the same sequences, or unknown ones: the day's rerun; other
    # settings (a run without its run config, say): not newer data either (a review of 12-06), but no measure (below)
    for champion, promoted in ((of_sequences(same_day, "before"), True), (of_sequences(same_day, "after"), False),
                               (of_sequences(same_day, ""), False), (of_sequences(same_day, "before", ""), False)):
        rerun = gate(of_sequences(_contender(CANDIDATE, weak), "after"), champion, [popular], data, 0.0)
        served = "within the noise), and the newer model serves" in rerun.reason
        assert rerun.promote is promoted and served is promoted
        assert not promoted or rerun.reason.endswith(  # not "the day's changed ones": another day's (helper-156)
            "it lacks the changes since it trained to the events up to 2026-01-02 (a corrected or late delivery of a "
            "day)); it is the best of the others")  # not also "the newer events": of its own day (helper-157)
    # outside the noise the champion trained before the change keeps serving, and the reason says what it lacks
    chains = _chains()
    popular_model, transition = MostPopular().fit(chains, "valid"), ItemTransition().fit(chains, "valid")
    stale = gate(of_sequences(_contender(CANDIDATE, popular_model), "after"),
                 of_sequences(_contender(CHAMPION, transition, "2026-01-02"), "before"), [], chains, 0.0)
    assert stale.promote is False and stale.reason.endswith(
        f"the serving model 2026-01-02/serving serves (validation NDCG@20 {_score(transition, chains):.4f}; trained on "
        "the sequences of 2026-01-02 before they changed, it lacks the change)")
    # built with other settings (dedupe turned on, or a run without its run config): the serving model's score on
    # these sequences is no measure of it, its training items may be their targets (helper-182: 0.24 on them, 0.01 on
    # its own, and it served on): it is left out, and the day's models alone are judged (helper-184: it served on
    # over a SASRec that beat the candidate)
    left_out = ("; the serving model 2026-01-02/serving was left out: trained on sequences built with other sequence "
                "settings, whose training items may be these sequences' targets, its score on them is no measure")
    built_otherwise = of_sequences(_contender(CHAMPION, transition, "2026-01-02"), "before", "other")
    otherwise = gate(of_sequences(_contender(CANDIDATE, popular_model), "after"), built_otherwise, [], chains, 0.0)
    assert otherwise.promote is True and otherwise.reason == (
        f"promoted: validation NDCG@20 {_score(popular_model, chains):.4f}; it is the best of all{left_out}")
    # a baseline that serves is refitted on the sequences it is scored on: no leak, a measure as ever
    refitted = dataclasses.replace(built_otherwise, record=dataclasses.replace(built_otherwise.record,
                                                                               kind="transition"))
    kept = gate(of_sequences(_contender(CANDIDATE, popular_model), "after"), refitted, [], chains, 0.0)
    assert kept.promote is False and kept.serves == CHAMPION and "left out" not in kept.reason
    below = gate(of_sequences(_contender(CANDIDATE, popular_model), "after"), built_otherwise,
                 [_contender("sasrec", transition)], chains, 0.0)
    assert below.serves == "sasrec" and below.reason.startswith(
        f"refused: validation NDCG@20 {_score(popular_model, chains):.4f} is below the best, SASRec's "
        f"{_score(transition, chains):.4f}, by more than the tolerance 0 (by ") and below.reason.endswith(
        f"; SASRec serves (validation NDCG@20 {_score(transition, chains):.4f}){left_out}")
    # left out as well behind a candidate that may not serve (a NaN score): the champion's leaked score neither
    # serves nor sets the bar that SASRec must meet (helper-188: it served on, and SASRec was "below the best")
    nan_order = [math.nan] + [-float(i) for i in range(1, chains.n_items)]
    unfit = of_sequences(_contender(CANDIDATE, _Favourite(nan_order)), "after")
    sasrec_below = _contender("sasrec", popular_model)  # below the champion's leaked score
    behind = gate(unfit, built_otherwise, [sasrec_below], chains, 0.0)
    assert behind.serves == "sasrec" and behind.reason == (
        f"refused: {len(eligible_users(chains, 'valid'))} validation users get a NaN or infinite score; SASRec serves "
        f"(validation NDCG@20 {_score(popular_model, chains):.4f}){left_out}")
    alone = gate(unfit, built_otherwise, [], chains, 0.0)  # nothing else may serve: no model, and the reason says so
    assert alone.serves is None and alone.reason == (
        f"refused: {len(eligible_users(chains, 'valid'))} validation users get a NaN or infinite score; no other "
        f"contender may serve{left_out}")
    # other settings that select the same events (a k-core of 3 where every user has 5): the same sequences, no note
    # (helper-157: the note told of other sequences and a rollback to a model of the same settings as the serving one)
    same = gate(of_sequences(_contender(CANDIDATE, popular_model), "after"),
                of_sequences(_contender(CHAMPION, transition, "2026-01-02"), "after", "other"), [], chains, 0.0)
    assert same.promote is False and same.reason.endswith(
        f"serves (validation NDCG@20 {_score(transition, chains):.4f})")
    assert gate(of_sequences(_contender(CANDIDATE, popular_model), "after"), of_sequences(
        _contender(CHAMPION, transition, "2026-01-02"), "after"), [], chains, 0.0).reason.endswith(
        f"serves (validation NDCG@20 {_score(transition, chains):.4f})")  # the day's rerun: nothing to say
    sasrec = _contender("sasrec", ELCRecRecommender(_model(1)))  # the candidate's equal: the best of the others
    beside = gate(_contender(CANDIDATE, weak), _contender(CHAMPION, other, "2026-01-01"), [sasrec, popular], data, 0.0)
    assert beside.promote is True and beside.reason.endswith(f"; of the others: SASRec {_score(weak, data):.4f}, "
                                                             "level with it")  # not "(tolerance 0)": helper-231
    chains = _chains()  # a clear gap: the serving model keeps serving
    popular_model, transition = MostPopular().fit(chains, "valid"), ItemTransition().fit(chains, "valid")
    clear = gate(_contender(CANDIDATE, popular_model), _contender(CHAMPION, transition, "2026-01-01"), [], chains, 0.0)
    assert clear.promote is False and clear.serves == CHAMPION and "within the noise" not in clear.reason


def _chains(every: int = 1) -> SequenceTensors:
    """60 users walking the cycle 1 -> 2 -> ... -> 30 -> 1 from random starts (item transitions predict them),
    or every ``every``-th of them."""
    g = torch.Generator().manual_seed(4)
    starts, lengths = torch.randint(0, 30, (60,), generator=g), torch.randint(4, 12, (60,), generator=g)
    lists = [[(int(s) + i) % 30 + 1 for i in range(int(n))] for s, n in zip(starts, lengths)][::every]
    return SequenceTensors.from_sequences(Sequences.from_lists(list(range(len(lists))), lists, n_items=30))


def test_a_candidate_must_beat_most_popular_and_a_baseline_may_serve():
    data = _data()  # random items: here nothing beats most popular
    popular = MostPopular().fit(data, "valid")
    floor = _score(popular, data)
    weak = _Favourite([-float(i) for i in range(30)])  # item 1 first, item 30 last, for every user
    assert 0 < _score(weak, data) < floor
    transition = ItemTransition().fit(data, "valid")
    assert _score(transition, data) < floor
    challengers = [_contender("most_popular", popular), _contender("transition", transition)]
    decision = gate(_contender(CANDIDATE, weak), None, challengers, data, tolerance=1.0)  # within any tolerance
    assert decision.promote is False and decision.serves == "most_popular"
    assert decision.reason == (f"refused: validation NDCG@20 {_score(weak, data):.4f} does not beat most popular's "
                               f"{floor:.4f}; most popular serves (validation NDCG@20 {floor:.4f})")
    assert decision.scores == {CANDIDATE: pytest.approx(_score(weak, data)), "most_popular": pytest.approx(floor),
                               "transition": pytest.approx(_score(transition, data))}
    with pytest.raises(ValueError, match="distinct roles"):
        gate(_contender(CANDIDATE, weak), None, [_contender(CANDIDATE, popular)], data, 1.0)
    for bad in (-0.001, float("nan")):  # no model would be within it of the best: max() of nothing
        with pytest.raises(ValueError, match="tolerance must be >= 0"):
            gate(_contender(CANDIDATE, weak), None, challengers, data, bad)


def test_without_validation_users_the_gate_says_so_and_most_popular_serves():
    """Users of two items alone have no validation target: every score is NaN, and the reason read "validation
    NDCG@20 nan does not beat most popular's nan" (a review of 2026-12-04); it now says why there is no score."""
    data = SequenceTensors.from_sequences(Sequences.from_lists([0, 1, 2], [[1, 2], [2, 3], [3, 1]], n_items=3))
    popular = _contender("most_popular", MostPopular().fit(data, "valid"))
    decision = gate(_contender(CANDIDATE, _Favourite([3.0, 2.0, 1.0])), None, [popular], data, tolerance=0.002)
    assert (decision.promote, decision.serves) == (False, "most_popular")
    assert decision.reason == ("refused: no user has a validation target to judge it on (a user needs 3 items: "
                               "items[:-2] to fit on, a validation and a test target); most popular serves "
                               "(validation NDCG@20 nan)")


def test_a_qualifying_champion_keeps_serving_before_a_better_challenger():
    """When the candidate fails, the champion stays if it beats most popular and is within the tolerance of the
    best, even where a challenger scores higher (serving does not flap); outside the tolerance the best serves."""
    data = _chains()
    best = ItemTransition().fit(data, "valid")
    fewer = ItemTransition().fit(_chains(every=3), "valid")
    popular = MostPopular().fit(data, "valid")
    floor, best_score, champion_score = _score(popular, data), _score(best, data), _score(fewer, data)
    assert floor < champion_score < best_score  # a third of the users' transitions: worse, still above the floor
    weak = _contender(CANDIDATE, _Favourite([0.0] * 30))  # every item ties: every target ranks last
    contenders = [_contender("most_popular", popular), _contender("transition", best)]
    champion = _contender(CHAMPION, fewer, "2026-01-01")
    gap = best_score - champion_score
    kept = gate(weak, champion, contenders, data, tolerance=gap + 0.001)
    assert (kept.promote, kept.serves, kept.serving) == (False, CHAMPION, champion.record)
    assert kept.reason.endswith(f"the serving model {champion.record.name} serves (validation NDCG@20 "
                                f"{champion_score:.4f})")
    replaced = gate(weak, champion, contenders, data, tolerance=gap - 0.001)
    assert (replaced.serves, replaced.serving) == ("transition", contenders[1].record)


def test_judge_alone_is_the_gates_floor_for_one_model_alone():
    """What may not serve whatever else is there: NaN or infinite validation scores, or validation NDCG@20 not above
    most popular's (fitted on the same data); most popular itself is always fit. The scores come with the verdict."""
    data, chains = _data(), _chains()
    weak = _Favourite([-float(i) for i in range(30)])
    floor = _score(MostPopular().fit(data, "valid"), data)
    judged = judge_alone(_rec("a"), weak, data)
    assert judged.refusal == f"validation NDCG@20 {_score(weak, data):.4f} does not beat most popular's {floor:.4f}"
    assert judged.scores == pytest.approx({CANDIDATE: _score(weak, data), "most_popular": floor})
    transition = ItemTransition().fit(chains, "valid")
    judged = judge_alone(_rec("a", kind="transition"), transition, chains)
    assert judged.refusal is None and judged.scores[CANDIDATE] == pytest.approx(_score(transition, chains))
    assert judged.scores[CANDIDATE] > judged.scores["most_popular"]
    assert judge_alone(_rec("a", kind="most_popular"), MostPopular().fit(data, "valid"), data).refusal is None
    broken = _model(0)
    with torch.no_grad():
        broken.item_emb.weight[3] = float("nan")
    users = len(eligible_users(data, "valid"))
    judged = judge_alone(_rec("a"), ELCRecRecommender(broken), data)
    assert judged.refusal == f"{users} validation users get a NaN or infinite score" and CANDIDATE not in judged.scores


def test_elcrec_rollback_refuses_a_model_that_the_gate_would_refuse_on_the_newest_sequences(tmp_path, capsys,
                                                                                            monkeypatch):
    """Rollback put the previous model back without a look at the data: one that gives NaN scores, or does no better
    than most popular, served. It is refused now, naming why and changing nothing; --force rolls back all the
    same. The newest day's sequences (2026-05-02: random items, where item transitions lose to most popular) judge
    it, not an older day's (2026-05-01: chains, where they win)."""
    from elcrec_core.cli.main import main

    store = ModelStore(tmp_path)
    for day, data in (("2026-05-01", _chains()), ("2026-05-02", _data())):
        folder = tmp_path / "sequences" / day
        folder.mkdir(parents=True)
        lists = [data.items[int(a):int(b)].tolist() for a, b in zip(data.starts, data.ends)]
        pl.DataFrame({"user_id": [f"u{n}" for n in range(len(lists))], "items": lists}).write_parquet(
            folder / "sequences.parquet")
        write_item_index_file(folder / "item_index.parquet", [f"i{n}" for n in range(1, 31)])
    transition = ModelRecord(day="2026-05-01", run_id="t", dir="models/2026-05-01/t/challengers/transition",
                             kind="transition")
    popular = ModelRecord(day="2026-05-02", run_id="p", dir="models/2026-05-02/p/challengers/most_popular",
                          kind="most_popular")
    store.promote(transition, "first")
    store.promote(popular, "second")
    newest = _data()
    weak = _score(ItemTransition().fit(newest, "valid"), newest)
    floor = _score(MostPopular().fit(newest, "valid"), newest)
    assert main(["rollback", "--data-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"elcrec: error: {transition.name} (transition) may not serve on the newest sequences (2026-05-02): "
        f"validation NDCG@20 {weak:.4f} does not beat most popular's {floor:.4f}; nothing changed (--force rolls "
        "back all the same)\n")
    assert (store.serving(), store.previous()) == (popular, transition)
    assert main(["rollback", "--data-dir", str(tmp_path), "--force", "--json"]) == 0
    forced = json.loads(capsys.readouterr().out)
    assert forced["serving"] == transition.name and forced["validation"] is None  # --force judges nothing
    assert main(["rollback", "--data-dir", str(tmp_path)]) == 0  # most popular, the floor, may always serve
    assert store.serving() == popular
    # the restored model's score on the newest sequences, beside most popular's (here the same model) and that of
    # the model it replaces (the user restored a worse model without being told)
    assert capsys.readouterr().out.splitlines()[0] == (
        f"serving {popular.name} again (previous: {transition.name}); validation NDCG@20 on the newest sequences "
        f"(2026-05-02) {floor:.4f}, most popular {floor:.4f}; {transition.name}, rolled back from, {weak:.4f} (the "
        f"restored model is {'higher' if floor > weak else 'lower'})")
    assert main(["rollback", "--data-dir", str(tmp_path), "--force"]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith("; not judged (--force)")
    assert main(["rollback", "--data-dir", str(tmp_path), "--json"]) == 0  # a model above the floor: its score
    assert json.loads(capsys.readouterr().out)["validation"] == pytest.approx(
        {"day": "2026-05-02", "NDCG@20": floor, "most_popular_NDCG@20": floor, "previous_NDCG@20": weak})
    assert store.serving() == popular
    trained = record(store, "2026-05-02", "no-checkpoint")  # its folder holds no best.pt
    store.promote(trained, "third")
    store.promote(popular, "fourth")
    assert main(["rollback", "--data-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith(f"elcrec: error: {trained.name} (elcrec) may not serve on the newest "
                                              "sequences (2026-05-02): its checkpoint cannot be used (")
    assert store.serving() == popular
    store.promote(trained, "a model whose checkpoint went since")  # rolled back from: no score, and said so
    assert main(["rollback", "--data-dir", str(tmp_path)]) == 0 and store.serving() == popular
    assert capsys.readouterr().out.splitlines()[0].endswith(f"; {trained.name}, rolled back from, cannot be scored "
                                                            "there")
    import elcrec_core.serve.promotion as promotion_module

    def promoted_meanwhile(record, recommender, data):  # a day's run promotes while the rollback judges
        store.promote(transition, "a run's gate")
        return GateDecision(True, CANDIDATE, record, "promoted", {}, {}, 0.0)

    store.promote(transition, "fifth")
    store.promote(popular, "sixth")
    monkeypatch.setattr(promotion_module, "judge_alone", promoted_meanwhile)
    assert main(["rollback", "--data-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (f"elcrec: error: the previous model changed while {transition.name} was "
                                       "judged: nothing changed; roll back again\n")
    assert (store.serving(), store.previous()) == (transition, popular)


def test_elcrec_rollback_serves_the_previous_model(tmp_path, capsys, monkeypatch):
    """... and names the command that recomputes the served tables (recommendations, intents), which keep the
    withdrawn model's output until then, for the data folder's newest day with sequences."""
    import sys

    from elcrec_core.cli.main import main

    store = ModelStore(tmp_path)
    assert main(["rollback", "--data-dir", str(tmp_path)]) == 2
    assert "no previous model to roll back to" in capsys.readouterr().err
    a, b = record(store, "2026-05-01", "a"), record(store, "2026-05-02", "b")
    store.promote(a, "first")
    store.promote(b, "second")
    assert main(["rollback", "--data-dir", str(tmp_path), "--reason", "b recommends stale items", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"serving": a.name, "previous": b.name, "tables_from": None,
                                                   "intents_from": None, "refresh": None, "validation": None}
    assert (store.serving(), store.previous()) == (a, b)
    assert store.serving_log()[-1]["reason"] == "b recommends stale items"
    for folder in ("2026-05-01", "2026-05-02", "notes"):  # "notes" is not a day
        (tmp_path / "sequences" / folder).mkdir(parents=True)
    monkeypatch.setenv("DAGSTER_HOME", "/srv/dagster")
    monkeypatch.delenv("ELCREC_START_DATE", raising=False)  # the folder's oldest day: 2026-05-02 is a partition
    monkeypatch.setattr(partitions, "DEFAULT_START_DATE", "2026-06-01")  # where the default is after its days
    monkeypatch.delenv("ELCREC_RUN_CONFIG", raising=False)
    for name in ("ELCREC_SOURCE", "ELCREC_INPUT_DIRS", "ELCREC_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    assert main(["rollback", "--data-dir", str(tmp_path), "--json"]) == 0  # undone: b serves again
    dagster = Path(sys.executable).parent / "dagster"
    refresh = (f"DAGSTER_HOME=/srv/dagster ELCREC_DATA_DIR={tmp_path.resolve()} ELCREC_START_DATE=2026-05-01 "
               f"{dagster if dagster.exists() else 'dagster'} asset materialize -m elcrec_pipeline.definitions "
               "--select user_recommendations,intent_profiles --partition 2026-05-02")
    # no gate judged the day's candidate (its run failed after training): evaluation_report would fail, left out
    assert json.loads(capsys.readouterr().out) == {"serving": b.name, "previous": a.name, "tables_from": None,
                                                   "intents_from": b.name, "refresh": refresh, "validation": None}
    # the pipeline's default start before the folder's days: none given, as the runs most likely had it (the
    # oldest day changed the partitions of the refresh's run)
    monkeypatch.setattr(partitions, "DEFAULT_START_DATE", "2026-01-01")
    assert main(["rollback", "--data-dir", str(tmp_path), "--json"]) == 0
    assert main(["rollback", "--data-dir", str(tmp_path), "--json"]) == 0  # twice: b serves again
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["refresh"] == refresh.replace(
        "ELCREC_START_DATE=2026-05-01 ", "")
    monkeypatch.setattr(partitions, "DEFAULT_START_DATE", "2026-06-01")
    store.record_decision(b, {"serving": b.to_dict(), "promote": True, "reason": "promoted"})
    refresh = refresh.replace("intent_profiles --partition", "intent_profiles,evaluation_report --partition")
    assert main(["rollback", "--data-dir", str(tmp_path), "--json"]) == 0  # the report names what serves now
    assert json.loads(capsys.readouterr().out)["refresh"] == refresh
    assert main(["rollback", "--data-dir", str(tmp_path), "--json"]) == 0  # b serves again
    capsys.readouterr()
    # the team's run config (top_k: 50, say), as the schedule's runs have it: the refresh was run at the defaults
    monkeypatch.setenv("ELCREC_RUN_CONFIG", "team run.yaml")
    assert main(["rollback", "--data-dir", str(tmp_path), "--json"]) == 0
    assert main(["rollback", "--data-dir", str(tmp_path), "--json"]) == 0  # twice: b serves again
    config = f"-m elcrec_pipeline.definitions -c '{Path('team run.yaml').resolve()}' --select"
    # the variable too, absolute: the shell's relative one stopped the code location's load of the printed command
    absolute = f"ELCREC_START_DATE=2026-05-01 ELCREC_RUN_CONFIG='{Path('team run.yaml').resolve()}' "
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["refresh"] == refresh.replace(
        "-m elcrec_pipeline.definitions --select", config).replace("ELCREC_START_DATE=2026-05-01 ", absolute)
    monkeypatch.delenv("ELCREC_RUN_CONFIG")
    # the source's environment, as the pipeline's runs have it, goes with the command
    monkeypatch.setenv("ELCREC_SOURCE", "/srv/team/source.yaml")
    monkeypatch.setenv("ELCREC_INPUT_DIRS", f"/srv/in{os.pathsep}in")  # a relative folder: made absolute
    assert main(["rollback", "--data-dir", str(tmp_path), "--json"]) == 0
    assert main(["rollback", "--data-dir", str(tmp_path), "--json"]) == 0  # twice: b serves again
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["refresh"] == refresh.replace(
        "ELCREC_START_DATE=2026-05-01 ", "ELCREC_START_DATE=2026-05-01 ELCREC_SOURCE=/srv/team/source.yaml "
        f"ELCREC_INPUT_DIRS=/srv/in{os.pathsep}{Path('in').resolve()} ")
    # another team's environment (its ELCREC_DATA_DIR names another folder): its settings are not this folder's
    other = tmp_path / "other-team"
    monkeypatch.setenv("ELCREC_DATA_DIR", str(other))
    monkeypatch.setenv("ELCREC_RUN_CONFIG", "team run.yaml")
    monkeypatch.setenv("ELCREC_START_DATE", "2026-04-01")
    assert main(["rollback", "--data-dir", str(tmp_path), "--json"]) == 0
    assert main(["rollback", "--data-dir", str(tmp_path), "--json"]) == 0  # twice: b serves again
    out = capsys.readouterr()
    # the folder's own first day, 2026-05-01; the shell's exported settings, the other folder's, unset
    assert json.loads(out.out.splitlines()[-1])["refresh"] == (
        "env -u ELCREC_SOURCE -u ELCREC_INPUT_DIRS -u ELCREC_RUN_CONFIG -u ELCREC_START_DATE " + refresh)
    assert (f"warning: this environment's ELCREC_DATA_DIR names another data folder ({other.resolve()}): its "
            "ELCREC_SOURCE, ELCREC_INPUT_DIRS, ELCREC_RUN_CONFIG, ELCREC_START_DATE are unset in the command; "
            f"add those of the runs of {tmp_path.resolve()}; its DAGSTER_HOME (/srv/dagster) stays: check that it is "
            "the instance of that folder's runs") in out.err
    monkeypatch.setenv("ELCREC_DATA_DIR", str(tmp_path))  # the folder's own environment: no warning
    monkeypatch.delenv("ELCREC_RUN_CONFIG")
    monkeypatch.delenv("ELCREC_SOURCE")
    monkeypatch.delenv("ELCREC_INPUT_DIRS")
    monkeypatch.setenv("ELCREC_START_DATE", "2026-04-01")  # as the pipeline's runs have it
    # the tables name the model whose output they hold (a's, from before the rollbacks: no refresh ran since)
    warehouse.replace_table(tmp_path / "warehouse.duckdb", "user_recommendations",
                            pl.DataFrame({"user_id": ["u", "v"], "model": [f"{a.name} (elcrec)"] * 2}))
    assert main(["rollback", "--data-dir", str(tmp_path)]) == 0
    refresh = refresh.replace("ELCREC_START_DATE=2026-05-01", "ELCREC_START_DATE=2026-04-01")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"serving {a.name} again (previous: {b.name}); no sequences to judge it on" and \
        lines[-1].strip() == refresh
    # it said "to serve a's now", as if they were not
    assert (f"user_recommendations, user_intents and intent_profiles hold what {a.name} (elcrec) served, and the "
            f"newest day's report names the model that served when it was made, until the next run; they are "
            f"{a.name}'s already; to compute them again on the newest day's data (intents: {a.name}):") in lines[1]
    assert main(["rollback", "--data-dir", str(tmp_path)]) == 0  # b serves: the tables are not its
    assert (f"hold what {a.name} (elcrec) served, and the newest day's report names the model that served when it "
            f"was made, until the next run; to serve {b.name}'s now (intents: ") in capsys.readouterr().out
    assert main(["rollback", "--data-dir", str(tmp_path), "--json"]) == 0  # the name as serving's, the kind apart
    assert json.loads(capsys.readouterr().out)["tables_from"] == a.name
    # a later day whose training failed after its sequences: the refresh named it and failed ("no model has been
    # trained"), and the intents were "None" (helper-234); the newest day with a model is named
    (tmp_path / "sequences" / "2026-05-03").mkdir()
    assert main(["rollback", "--data-dir", str(tmp_path), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["refresh"].endswith("--partition 2026-05-02") and answer["intents_from"] is not None


def test_challengers_live_under_their_candidate_and_come_back_by_name(tmp_path):
    store = ModelStore(tmp_path)
    candidate = record(store, "2026-02-01", "r1")
    assert store.challengers(candidate) == []
    assert store.challenger_dir(candidate, "sasrec") == tmp_path.resolve() / "models/2026-02-01/r1/challengers/sasrec"
    made = []
    for name, ndcg in (("transition", 0.2), ("ease", 0.3)):
        folder = store.challenger_dir(candidate, name)
        folder.mkdir(parents=True)
        made.append(ModelRecord(day="2026-02-01", run_id="r1", dir=store.relative(folder), kind=name,
                                valid={"NDCG@20": ndcg}, params={"lam": 50.0} if name == "ease" else {}))
        store.add_challenger(candidate, made[-1])
    assert json.loads((store.challenger_dir(candidate, "ease") / "record.json").read_text()) == made[1].to_dict()
    assert store.challengers(candidate) == [made[1], made[0]]  # by name: ease, transition
    assert store.challengers(record(store, "2026-02-02", "r2")) == []  # another candidate's are not its
    # a later fit leaves both out: EASE, which has served, stays on disk for serving and rollback; transition goes
    store.promote(made[1], "ease serves")
    assert store.retire_challenger(made[1]) is True and store.retire_challenger(made[0]) is False
    assert store.challengers(candidate) == [] and store.serving() == made[1]
    assert (store.folder(made[1]) / "record.json").exists() and not store.folder(made[0]).exists()
    store.add_challenger(candidate, made[1])  # fitted again: it competes again
    assert store.challengers(candidate) == [made[1]]


def test_a_serving_challenger_fitted_again_or_served_before_the_log_was_written_is_never_removed(tmp_path,
                                                                                               monkeypatch):
    """retire_challenger matched the log's records field by field: a challenger fitted again (a new ``seconds``)
    no longer matched, and a later fit that left it out removed the serving model's folder. Known by folder now;
    and the serving log is written before the aliases, so a crash between them cannot hide a serving model."""
    store = ModelStore(tmp_path)
    candidate = record(store, "2026-01-02", "c")
    first = ModelRecord(day="2026-01-02", run_id="c/sasrec", dir="models/2026-01-02/c/challengers/sasrec",
                        kind="sasrec", seconds=15.2)
    store.add_challenger(candidate, first)
    store.promote(first, "sasrec wins")
    store.add_challenger(candidate, dataclasses.replace(first, seconds=14.9))  # the challengers fitted again
    assert store.retire_challenger(store.challengers(candidate)[0]) is True  # then a fit without SASRec
    assert store.folder(store.serving()).is_dir() and store.challengers(candidate) == []
    other = ModelRecord(day="2026-01-02", run_id="c/ease", dir="models/2026-01-02/c/challengers/ease", kind="ease")
    store.add_challenger(candidate, other)

    def crash(path, data):  # the aliases' write fails (a full disk): the log has the entry already
        raise OSError("No space left on device")

    monkeypatch.setattr("elcrec_core.serve.model_store._write_json", crash)
    with pytest.raises(OSError):
        store.promote(other, "ease wins")
    monkeypatch.undo()
    assert store.serving_log()[-1]["serving"]["dir"] == other.dir
    assert store.retire_challenger(other) is True and store.folder(other).is_dir()


def test_the_gate_decision_as_stored_in_decision_json():
    data = _data()
    popular = MostPopular().fit(data, "valid")
    floor = _score(popular, data)
    weak = _Favourite([-float(i) for i in range(30)])
    decision = gate(_contender(CANDIDATE, weak), None, [_contender("most_popular", popular)], data, tolerance=0.01)
    refusal = f"validation NDCG@20 {_score(weak, data):.4f} does not beat most popular's {floor:.4f}"
    assert decision.to_dict() == {
        "promote": False, "serves": "most_popular", "reason": decision.reason, "refusal": refusal,
        "scores": {CANDIDATE: _score(weak, data), "most_popular": floor},
        "non_finite": {CANDIDATE: 0, "most_popular": 0}, "tolerance": 0.01,
        "candidate_score": _score(weak, data), "serving_score": None, "non_finite_users": 0,
        "serving": _rec("most_popular").to_dict()}
    assert json.loads(json.dumps(decision.to_dict())) == decision.to_dict()  # plain JSON, as decision.json holds it
    assert decision.reason.startswith(f"refused: {refusal}; most popular serves")  # as the run's log says it
    assert stored_refusal(decision.to_dict()) == refusal
    promoted = gate(_contender(CANDIDATE, popular), None, [], data, tolerance=0.01).to_dict()
    assert promoted["refusal"] is None and stored_refusal(promoted) is None  # null where it serves (helper-274)


def test_a_decision_written_before_it_kept_its_refusal_gives_the_refusal_of_its_reason():
    """decision.json lacked ``refusal`` before helper-274: read back, the reason's words after "refused: " up to
    what serves instead, a "; " inside brackets (a paired standard error) kept."""
    noisy = ("validation NDCG@20 0.0100 is below the best, EASE (λ = 50)'s 0.0200, by more than the tolerance 0.002 "
             "(by 0.0100; paired standard error over 40 users 0.0030)")
    assert stored_refusal({"promote": False, "reason": f"refused: {noisy}; the serving model a/b serves (validation "
                                                       "NDCG@20 0.0300); the serving model x was left out: y"}) == noisy
    older = "trained on 2026-01-01, older than the serving model's day 2026-01-02 (an older day never replaces it)"
    assert stored_refusal({"promote": False, "reason": f"refused: {older}"}) == older
    assert stored_refusal({"promote": True, "reason": "promoted: validation NDCG@20 0.0300; it is the best"}) is None
    assert stored_refusal({"promote": False, "reason": "refused: z", "refusal": "kept"}) == "kept"  # its own first


def test_popularity_and_recommender_metrics_on_a_hand_example():
    from elcrec_core.evaluate.popularity import popularity_metrics
    from elcrec_core.evaluate.scoring import recommender_metrics

    # test inputs (items[:-1]): item 1 three times, items 2 and 3 once, item 4 never; targets 2, 1, 4
    data = SequenceTensors.from_sequences(Sequences.from_lists([0, 1, 2], [[1, 1, 2], [2, 3, 1], [1, 4]], n_items=4))
    # user 0 (history 1, 1): 2 is as frequent as 3 and comes first, as served: rank 0; user 1 (history 2, 3): 1
    # ranks 0; user 2 (history 1): 4 is behind 2 and 3: rank 2
    expected = metrics_from_ranks(torch.tensor([0, 0, 2]))
    assert expected["HR@5"] == 1.0 and expected["NDCG@5"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert popularity_metrics(data, "test") == expected
    assert recommender_metrics(MostPopular().fit(data, "test"), data, "test") == expected


def test_the_serving_log_records_each_change_in_utc_with_its_reason(tmp_path):
    from datetime import datetime

    store = ModelStore(tmp_path)
    assert store.serving_log() == []  # nothing served yet: an empty log, no error
    a, b = record(store, "2026-05-01", "a"), record(store, "2026-05-02", "b")
    assert json.loads((store.folder(a) / "record.json").read_text()) == a.to_dict()
    assert store.decision(a) is None  # no verdict yet
    store.promote(a, "first")
    store.promote(b, "better")
    store.rollback()
    log = store.serving_log()
    assert [(e["action"], e["reason"], e["serving"], e["previous"]) for e in log] == [
        ("promote", "first", a.to_dict(), None), ("promote", "better", b.to_dict(), a.to_dict()),
        ("rollback", "rollback", a.to_dict(), b.to_dict())]
    for entry in log:
        assert set(entry) == {"time", "action", "reason", "serving", "previous"}
        assert datetime.fromisoformat(entry["time"]).utcoffset().total_seconds() == 0  # UTC, with its offset
    lines = (tmp_path / "models" / "serving_log.jsonl").read_text().splitlines()
    assert lines[0] == json.dumps(log[0], sort_keys=True)  # one JSON object a line, keys sorted


def test_served_up_to_with_kinds_skips_a_serving_baseline(tmp_path):
    store = ModelStore(tmp_path)
    elcrec = record(store, "2026-06-01", "e")
    folder = store.run_dir("2026-06-02", "p")
    folder.mkdir(parents=True)
    popular = ModelRecord(day="2026-06-02", run_id="p", dir=store.relative(folder), kind="most_popular")
    store.promote(elcrec, "first")
    store.promote(popular, "a baseline serves")
    assert store.served_up_to("2026-06-03") == popular
    assert store.served_up_to("2026-06-03", kinds=("elcrec",)) == elcrec  # what warm start starts from
    assert store.served_up_to("2026-06-03", kinds=("ease",)) is None


def test_gate_edges_same_day_a_tie_with_most_popular_and_the_best_of_several_qualifying():
    data = _chains()
    popular = MostPopular().fit(data, "valid")
    transition = ItemTransition().fit(data, "valid")
    floor, best = _score(popular, data), _score(transition, data)
    assert floor < best
    # a candidate of the champion's own day is compared (only an older day is refused); it beats most popular
    champion = _contender(CHAMPION, _Favourite([0.0] * 30), "2026-01-02")
    same_day = gate(_contender(CANDIDATE, transition, "2026-01-02"), champion,
                    [_contender("most_popular", popular)], data, tolerance=0.0)
    assert same_day.promote is True
    assert same_day.reason == (f"promoted: validation NDCG@20 {best:.4f} beats most popular {floor:.4f}; "
                               "it is the best of all")
    # scoring exactly as most popular does not beat it
    tie = gate(_contender(CANDIDATE, MostPopular().fit(data, "valid")), None, [_contender("most_popular", popular)],
               data, tolerance=1.0)
    assert tie.promote is False and tie.serves == "most_popular"
    assert tie.reason.startswith(f"refused: validation NDCG@20 {floor:.4f} does not beat most popular's {floor:.4f}")
    # a refused candidate: of the challengers that qualify, the best serves
    weak = _contender(CANDIDATE, _Favourite([0.0] * 30))
    several = gate(weak, None, [_contender("most_popular", popular), _contender("transition", transition)], data,
                   tolerance=1.0)
    assert (several.serves, several.serving) == ("transition", _rec("transition"))
    # a candidate that scores exactly as the best challenger is within any tolerance, and level with it
    level = gate(_contender(CANDIDATE, ItemTransition().fit(data, "valid")), None,
                 [_contender("most_popular", popular), _contender("transition", transition)], data, tolerance=0.0)
    assert level.promote is True
    assert level.reason == (f"promoted: validation NDCG@20 {best:.4f} beats most popular {floor:.4f}; level with "
                            "item transition, the best of the others")


def test_a_model_withdrawn_by_rollback_is_not_promoted_again_until_a_rollback_restores_it(tmp_path):
    """elcrec rollback withdrew the day's candidate; serving_model materialized again for that day promoted it
    again. The store knows the withdrawn models, and the gate treats them as unfit (but for the floor)."""
    store = ModelStore(tmp_path)
    a, b = record(store, "2026-05-01", "a"), record(store, "2026-05-02", "b")
    store.promote(a, "first")
    store.promote(b, "second")
    assert store.withdrawn() == set()
    store.rollback("b recommends stale items")
    assert store.withdrawn() == {b.name}
    data = _chains()
    popular, transition = MostPopular().fit(data, "valid"), ItemTransition().fit(data, "valid")
    champion = Contender(CHAMPION, a, _Favourite([0.0] * 30))
    again = gate(Contender(CANDIDATE, b, transition), champion, [_contender("most_popular", popular)], data,
                 tolerance=1.0, withdrawn=frozenset(store.withdrawn()))
    assert again.promote is False and again.serves == "most_popular"  # a (constant scores) does not beat the floor
    assert again.reason.startswith(f"refused: {b.name} was withdrawn by elcrec rollback (roll back again to restore")
    floor = gate(Contender(CANDIDATE, b, transition), None, [Contender("most_popular", b, popular)], data,
                 tolerance=1.0, withdrawn=frozenset({b.name}))
    assert floor.serves == "most_popular"  # the floor may always serve
    # at the default tolerance: b, the best by far, is no longer the best that the others are held to (the gate
    # found none within the tolerance of it and failed), as candidate or as a challenger
    for contenders in ((Contender(CANDIDATE, b, transition), [_contender("most_popular", popular)]),
                       (_contender(CANDIDATE, _Favourite([0.0] * 30)),
                        [_contender("most_popular", popular), Contender("sasrec", b, transition)])):
        decision = gate(contenders[0], champion, contenders[1], data, tolerance=0.002,
                        withdrawn=frozenset(store.withdrawn()))
        assert decision.serves == "most_popular" and decision.serving == _rec("most_popular")
    assert gate(Contender(CANDIDATE, b, transition), None, [], data, tolerance=0.002,
                withdrawn=frozenset({b.name})).reason == (
        "refused: every contender with finite scores was withdrawn by elcrec rollback")
    store.rollback("b was right")
    assert store.withdrawn() == set()
    store.promote(b, "b again")

    def crash(path, data):  # a rollback whose aliases' write fails after the log's: not applied, b still serves
        raise OSError("No space left on device")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("elcrec_core.serve.model_store._write_json", crash)
        with pytest.raises(OSError):
            store.rollback("interrupted")
    assert store.serving() == b and store.serving_log()[-1]["reason"] == "interrupted"
    assert store.withdrawn() == set()  # the gate would have refused b, the model that serves, as withdrawn
    assert gate(Contender(CANDIDATE, b, transition), champion, [_contender("most_popular", popular)], data,
                tolerance=1.0, withdrawn=frozenset(store.withdrawn())).promote is True


def test_models_of_one_recipe_are_withdrawn_together_but_a_rollback_between_twins_withdraws_none(tmp_path):
    """A model trained again from a withdrawn one's recipe is withdrawn too; a rollback from one model to its twin
    (the day run again and promoted) withdrew the recipe while its twin served, and the next gate refused it."""
    import dataclasses

    store = ModelStore(tmp_path)
    base = record(store, "2026-05-01", "base")
    a = dataclasses.replace(record(store, "2026-05-02", "a"), recipe="r1")
    again = dataclasses.replace(a, run_id="again", dir=a.dir.replace("/a", "/again"))
    store.promote(base, "first")
    store.promote(a, "second")
    store.rollback("a recommends stale items")
    assert store.withdrawn() == {"recipe r1"} and again.identity in store.withdrawn()
    store.rollback("a was right")  # restores a, and with it its recipe
    assert store.withdrawn() == set()
    store.promote(again, "the day run again: the same model")
    store.rollback("back to its twin")  # serves a: the recipe still serves
    assert store.serving() == a and store.withdrawn() == set()


def test_an_older_day_replaces_a_serving_model_that_is_unfit_for_the_data():
    """The older-day rule keeps a newer champion only while it gives finite scores and beats most popular on the
    day's data: one that does not (a model of another source, say) never keeps serving, whatever its day."""
    data = _chains()
    popular, transition = MostPopular().fit(data, "valid"), ItemTransition().fit(data, "valid")
    floor, best = _score(popular, data), _score(transition, data)
    users = len(eligible_users(data, "valid"))

    def older_candidate(champion) -> GateDecision:
        return gate(_contender(CANDIDATE, transition, "2026-01-01"), _contender(CHAMPION, champion, "2026-01-02"),
                    [_contender("most_popular", popular)], data, tolerance=0.0)

    promoted = f"promoted: validation NDCG@20 {best:.4f} beats most popular {floor:.4f}; it is the best of all"
    note = ("(the candidate's day 2026-01-01 is older than the serving model's 2026-01-02, but the serving model "
            "2026-01-02/serving is unfit for this data: ")
    ties = older_candidate(_Favourite([0.0] * 30))  # every item ties: ranked last, below most popular
    assert (ties.promote, ties.serves) == (True, CANDIDATE)
    assert ties.reason == (f"{promoted} {note}validation NDCG@20 {ties.serving_score:.4f} does not beat most "
                           f"popular's {floor:.4f})")
    assert ties.serving_score < floor
    nan = older_candidate(_Favourite([float("nan")] * 30))
    assert (nan.promote, nan.serves, nan.non_finite[CHAMPION]) == (True, CANDIDATE, users)
    assert nan.reason == f"{promoted} {note}{users} validation users get a NaN or infinite score)"
    weak = gate(_contender(CANDIDATE, _Favourite([0.0] * 30), "2026-01-01"),
                _contender(CHAMPION, _Favourite([float("nan")] * 30), "2026-01-02"),
                [_contender("most_popular", popular)], data, tolerance=0.0)
    assert (weak.promote, weak.serves) == (False, "most_popular")  # neither may serve: the floor does
    # a newer candidate over a serving model of NaN scores (a damaged checkpoint): the reason names it, left out
    newer = gate(_contender(CANDIDATE, transition, "2026-01-03"),
                 _contender(CHAMPION, _Favourite([float("nan")] * 30), "2026-01-02"),
                 [_contender("most_popular", popular)], data, tolerance=0.0)
    assert newer.promote and newer.reason.endswith(
        f"; the serving model 2026-01-02/serving was left out: {users} validation users get a NaN or infinite "
        "score"), newer.reason  # it said nothing of it (helper-234)
    fit = gate(_contender(CANDIDATE, popular, "2026-01-01"), _contender(CHAMPION, transition, "2026-01-02"),
               [_contender("most_popular", MostPopular().fit(data, "valid"))], data, tolerance=1.0)
    assert (fit.promote, fit.serves) == (False, CHAMPION)
    assert fit.reason == ("refused: trained on 2026-01-01, older than the serving model's day 2026-01-02 (an older "
                          "day never replaces a newer model; the serving model's validation score on this day may "
                          "be on targets it trained on)")  # not 'is': a late day's events are none of them (helper-218)


def test_a_day_run_again_after_a_newer_days_gate_changes_nothing():
    """Day 2 promoted a model; day 3's gate refused its candidate, so day 2's model serves on. Day 2 run again
    trained a candidate of day 2, not older than the serving model's day: it was judged on day 2's data and
    promoted over the model that day 3's gate had kept on newer data (a new user's trial, 2026-12-04). The newest
    day judged bars it as the serving model's day does; that day's own candidate, run again, is judged as before."""
    data = _chains()
    popular, transition = MostPopular().fit(data, "valid"), ItemTransition().fit(data, "valid")
    champion = _contender(CHAMPION, _Favourite([float(30 - i) for i in range(30)]), "2026-01-02")
    floor = [_contender("most_popular", popular)]

    def judge(day: str, champion: Contender = champion) -> GateDecision:
        return gate(_contender(CANDIDATE, transition, day), champion, floor, data, tolerance=1.0, judged="2026-01-03")

    again = judge("2026-01-02")
    assert (again.promote, again.serves, again.serving) == (False, CHAMPION, champion.record)
    assert again.reason == ("refused: trained on 2026-01-02, older than 2026-01-03, whose gate kept or chose the "
                            "serving model 2026-01-02/serving on newer data (an older day never replaces a newer "
                            "day's choice)")
    assert judge("2026-01-01").reason.startswith("refused: trained on 2026-01-01, older than 2026-01-03, whose gate")
    newest = judge("2026-01-03")
    assert (newest.promote, newest.serves) == (True, CANDIDATE)
    unfit = judge("2026-01-02", _contender(CHAMPION, _Favourite([float("nan")] * 30), "2026-01-02"))
    assert (unfit.promote, unfit.serves) == (True, CANDIDATE)
    assert unfit.reason.endswith(f"(the candidate's day 2026-01-02 is older than 2026-01-03, whose gate kept or "
                                 f"chose it, but the serving model 2026-01-02/serving is unfit for this data: "
                                 f"{len(eligible_users(data, 'valid'))} validation users get a NaN or infinite score)")
    assert gate(_contender(CANDIDATE, transition, "2026-01-02"), None, floor, data, 1.0, judged="2026-01-03").promote


def test_a_serving_most_popular_is_fit_and_keeps_an_older_day_out():
    """Most popular as the champion ties the floor (the same model refitted), which is no reason to call it unfit:
    an older day's candidate is refused, as against any fit champion, and most popular keeps serving."""
    data = _chains()
    popular, transition = MostPopular().fit(data, "valid"), ItemTransition().fit(data, "valid")
    champion = Contender(CHAMPION, _rec("mp", "2026-01-02", kind="most_popular"), MostPopular().fit(data, "valid"))
    older = gate(_contender(CANDIDATE, transition, "2026-01-01"), champion, [_contender("most_popular", popular)],
                 data, tolerance=0.0)
    assert (older.promote, older.serves, older.serving) == (False, CHAMPION, champion.record)
    assert older.reason.startswith("refused: trained on 2026-01-01, older than the serving model's day 2026-01-02")
    same_day = gate(_contender(CANDIDATE, transition, "2026-01-02"), champion, [_contender("most_popular", popular)],
                    data, tolerance=0.0)
    assert (same_day.promote, same_day.serves) == (True, CANDIDATE)  # a newer or same-day model still replaces it


def test_a_reason_names_a_challenger_without_a_display_name_by_its_role():
    """A kind the reasons have no display name for (item-kNN has one now: "item-kNN")."""
    data = _chains()
    popular, transition = MostPopular().fit(data, "valid"), ItemTransition().fit(data, "valid")
    decision = gate(_contender(CANDIDATE, popular), None, [_contender("slim", transition)], data, tolerance=0.0)
    assert decision.serves == "slim"
    gap, error, users = _paired_noise(popular, transition, data)
    assert decision.reason == (f"refused: validation NDCG@20 {_score(popular, data):.4f} is below the best, "
                               f"slim's {_score(transition, data):.4f}, by more than the tolerance 0 (by {gap:.4f}; "
                               f"paired standard error over {users} users {error:.4f}); slim serves (validation "
                               f"NDCG@20 {_score(transition, data):.4f})")


def test_store_files_are_indented_sorted_json_written_into_new_folders(tmp_path):
    store = ModelStore(tmp_path / "new")  # no folder yet: writing makes every missing parent
    made = ModelRecord(day="2026-07-01", run_id="r", dir="models/2026-07-01/r", kind="elcrec")
    store.record_decision(made, {"reason": "x", "promote": False})
    text = (tmp_path / "new/models/2026-07-01/r/decision.json").read_text()
    assert text == '{\n  "promote": false,\n  "reason": "x"\n}\n'


def test_a_baseline_challenger_records_the_seconds_of_its_fit(tmp_path, monkeypatch):
    """A baseline's record holds the time of fitting and tuning on valid as well as scoring: EASE's lambda
    grid made 0.3 s longer shows in its seconds."""
    import elcrec_core.serve.challengers as challengers

    def slow_tune(*args, **kwargs):
        time.sleep(0.3)
        return tune_item_baseline(*args, **kwargs)

    monkeypatch.setattr(challengers, "tune_item_baseline", slow_tune)
    store = ModelStore(tmp_path)
    seqs = Sequences.from_lists(list(range(40)), [[1 + (u + i) % 9 for i in range(6)] for u in range(40)], n_items=9)
    records = challengers.fit_challengers(store, record(store, "2026-02-01", "r1"), seqs, sasrec=False,
                                          log=lambda _: None)
    seconds = {r.kind: r.seconds for r in records}
    assert list(seconds) == ["most_popular", "transition", "ease"]
    assert seconds["ease"] >= 0.3


def test_a_baseline_challenger_keeps_its_ranks_for_the_gate_and_the_report(tmp_path):
    """The gate and the report fitted each baseline again (an EASE of 20,000 items: minutes and gigabytes each time):
    its fit now keeps the ranks of the valid and test targets, exactly those a new fit gives, for the sequences it
    was fitted on only; a contender judged by them gets the decision a fitted one gets."""
    import elcrec_core.serve.challengers as challengers
    from elcrec_core.evaluate.scoring import ranks_and_non_finite
    from elcrec_core.serve.recommenders import load_recommender
    from elcrec_core.train.state import data_digest

    store = ModelStore(tmp_path)
    seqs = Sequences.from_lists(list(range(40)), [[1 + (u * i + u) % 9 for i in range(6)] for u in range(40)],
                                n_items=9)
    data, digest = SequenceTensors.from_sequences(seqs), data_digest(seqs)
    candidate = record(store, "2026-02-01", "r1")
    records = {r.kind: r for r in challengers.fit_challengers(store, candidate, seqs, sasrec=False,
                                                               log=lambda _: None)}
    for kind, rec in records.items():
        for split in ("valid", "test"):
            ranks, bad = challengers.stored_ranks(store, rec, digest, split)
            fresh, fresh_bad = ranks_and_non_finite(load_recommender(store, rec, data, "valid"), data, split)
            assert torch.equal(ranks, fresh) and bad == fresh_bad == 0, (kind, split)
            assert getattr(rec, split)["NDCG@20"] == pytest.approx(metrics_from_ranks(ranks)["NDCG@20"])
        other = data_digest(Sequences.from_lists(list(range(40)), [[1 + u % 9, 2] * 3 for u in range(40)], n_items=9))
        assert challengers.stored_ranks(store, rec, other, "valid") is None  # fitted on other sequences
    assert challengers.stored_ranks(store, candidate, digest, "valid") is None  # a trained model keeps none
    # a record whose params differ from the fit's (edited since) is fitted again; a damaged file likewise
    edited = dataclasses.replace(records["ease"], params={"lam": 0.01})
    assert challengers.stored_ranks(store, edited, digest, "valid") is None
    ranks_file = store.folder(records["transition"]) / challengers.RANKS_FILE
    for damaged in (b"", b"PK\x03\x04 cut short", b"garbage"):
        ranks_file.write_bytes(damaged)
        assert challengers.stored_ranks(store, records["transition"], digest, "valid") is None
    assert not [p.name for p in tmp_path.rglob(".*.tmp-*")]  # written whole, then renamed
    records.pop("transition")  # its file damaged above
    fitted = [Contender(kind, rec, load_recommender(store, rec, data, "valid")) for kind, rec in records.items()]
    stored = [Contender(kind, rec, None, challengers.stored_ranks(store, rec, digest, "valid"))
              for kind, rec in records.items()]
    transition = Contender(CANDIDATE, candidate, ItemTransition().fit(data, "valid"))
    assert gate(transition, None, stored, data, 0.002) == gate(transition, None, fitted, data, 0.002)
    with pytest.raises(ValueError, match="the contender ease needs a recommender or its validation ranks"):
        Contender("ease", records["ease"], None)


def test_sasrec_beside_a_candidate_of_another_next_item_loss_says_so(tmp_path, monkeypatch):
    """SASRec, the ablation, trains with full softmax; a candidate trained with sampled softmax (preset auto on a
    large catalogue) differs from it in the loss too, and the log says so."""
    import elcrec_core.serve.challengers as challengers
    from elcrec_core.config.settings import load_preset, merge_overrides
    from elcrec_core.train.objective import NonFiniteLoss
    from elcrec_core.train.state import code_digest, data_digest

    trained, folders = [], []

    def no_training(seqs, exp, out_dir, **kwargs):
        trained.append(exp.train.rec_loss)
        kwargs["log"]("best epoch 3")  # its lines are the SASRec's: the run log did not say whose they were
        # its epochs are kept by the sequences' and the code's digest: a run on sequences built again differently
        # starts afresh, and so does one under other code (an upgrade: it resumed the old code's epochs, helper-189)
        folders.append(out_dir)
        assert (out_dir.parent.name, out_dir.name) == ("training", hashlib.sha256(
            f"{data_digest(seqs)}:{challengers.code_digest()}".encode()).hexdigest()[:16])
        raise NonFiniteLoss("not trained here")

    monkeypatch.setattr(challengers, "train", no_training)
    store = ModelStore(tmp_path)
    seqs = Sequences.from_lists(list(range(40)), [[1 + (u + i) % 9 for i in range(6)] for u in range(40)], n_items=9)
    for loss, said in (("sampled_softmax", True), ("ce", False)):
        candidate = record(store, "2026-02-01", f"r-{loss}")
        config = merge_overrides(load_preset("general"), {}, {"rec_loss": loss})
        (store.folder(candidate) / "config.json").write_text(json.dumps(config.to_dict()))
        lines: list[str] = []
        challengers.fit_challengers(store, candidate, seqs, log=lines.append)
        assert trained[-1] == "ce" and "sasrec: best epoch 3" in lines
        assert any("the candidate with sampled_softmax" in line for line in lines) is said
    monkeypatch.setattr(challengers, "code_digest", lambda: "other code")
    challengers.fit_challengers(store, candidate, seqs, log=lines.append)
    assert folders[-1].name != folders[-2].name and code_digest() != "other code"
    monkeypatch.setattr(challengers, "code_digest", code_digest)
    # a catalogue too large for full softmax (the bound made small here): SASRec keeps the candidate's loss (the
    # ablation's full softmax was refused, and the challengers and the day's gate failed with it)
    monkeypatch.setattr("elcrec_core.config.settings.MAX_CE_LOGITS", 256 * 50 * 8)
    candidate = record(store, "2026-02-01", "r-large")
    config = merge_overrides(load_preset("general"), {"max_len": 50}, {"rec_loss": "sampled_softmax",
                                                                       "batch_size": 256})
    (store.folder(candidate) / "config.json").write_text(json.dumps(config.to_dict()))
    lines = []
    challengers.fit_challengers(store, candidate, seqs, log=lines.append)
    assert trained[-1] == "sampled_softmax"
    assert "sasrec: trains with the candidate's next-item loss, sampled_softmax: full softmax over 9 items is too " \
           "large a batch" in lines
    # a candidate of 2 processes: SASRec trained in one, twice the steps at half the batch per step, in a report
    # that called it the same budget (helper-240); now in as many processes as the candidate
    launched = []

    def launch(processes, *args, threads=None, **kwargs):
        launched.append((processes, threads))  # the device resource's threads a process, as the candidate's
        return no_training(*args, **kwargs)    # (helper-242: cores / processes)

    monkeypatch.setattr(challengers, "train_distributed", launch)
    (store.folder(candidate) / "config.json").write_text(json.dumps({**config.to_dict(), "run": {"processes": 2}}))
    before = len(trained)
    challengers.fit_challengers(store, candidate, seqs, log=lines.append, threads=3)
    assert (launched, len(trained)) == ([(2, 3)], before + 1)


def _elcrec_and_its_transition(store: ModelStore) -> tuple[ModelRecord, ModelRecord]:
    """An ELCRec candidate b of 2026-05-02 and its item-transition challenger, neither serving yet."""
    b = record(store, "2026-05-02", "b")
    return b, ModelRecord(day="2026-05-02", run_id="b/transition", dir=f"{b.dir}/challengers/transition",
                          kind="transition")


def test_a_rollback_from_the_only_elcrec_model_says_its_intents_stay(tmp_path, capsys):
    """Rolled back from the only ELCRec model to a baseline: the refresh takes the intents from the day's
    candidate, which is that model (the intents have no other source), and the message says so."""
    from elcrec_core.cli.main import main

    store = ModelStore(tmp_path)
    b, transition = _elcrec_and_its_transition(store)
    store.promote(transition, "first")
    store.promote(b, "second")
    (tmp_path / "sequences" / "2026-05-02").mkdir(parents=True)
    (tmp_path / "warehouse.duckdb").write_bytes(b"not a database")  # unreadable: the rollback still stands
    assert main(["rollback", "--data-dir", str(tmp_path)]) == 0
    message = capsys.readouterr().out
    assert store.serving() == transition and "intent_profiles are as the last run left them" in message
    assert (f"(intents: {b.name}, the model rolled back from: no ELCRec model that still stands has served, and "
            "the intents are the day's model's)") in message


def test_a_rollback_whose_intents_are_a_candidate_the_gate_found_unfit_says_so(tmp_path, capsys):
    """Baselines served; the day's ELCRec candidate, untrained, was refused below most popular. A rollback's refresh
    takes the intents from it (no ELCRec model has served): the message named it and no more (helper-194); the
    profiles' run warns too (below_floor)."""
    from elcrec_core.cli.main import main
    from elcrec_core.serve.promotion import below_floor

    store = ModelStore(tmp_path)
    b, transition = _elcrec_and_its_transition(store)
    store.promote(ModelRecord(day="2026-05-01", run_id="a/most_popular", dir="models/2026-05-01/a/challengers/mp",
                              kind="most_popular"), "first")
    store.promote(transition, "second")
    refused = {"scores": {"candidate": 0.0348, "most_popular": 0.0933, "transition": 0.4625}, "serves": "serving"}
    store.record_decision(b, refused)
    (tmp_path / "sequences" / "2026-05-02").mkdir(parents=True)
    assert main(["rollback", "--data-dir", str(tmp_path), "--force"]) == 0
    message = capsys.readouterr().out
    assert store.intent_model("2026-05-02") == b
    assert (f"(intents: {b.name}, the day's candidate, which the gate found unfit (its validation NDCG@20 0.0348 "
            "does not beat most popular's 0.0933): no ELCRec model that still stands has served, and its intents "
            "tell little of the users' interests)") in message
    # a candidate of NaN scores, as the gate writes it: in non_finite, not among the scores (helper-198)
    from elcrec_core.data.sequences import Sequences, SequenceTensors
    from elcrec_core.evaluate.ranking import eligible_users
    from elcrec_core.serve.promotion import judge_alone

    class NaNScores:
        n_items = 5

        def score(self, users: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
            return torch.full((len(users), 5), float("nan"))

    data = SequenceTensors.from_sequences(Sequences.from_lists(list(range(8)), [[1, 2, 3, 4]] * 8, n_items=5))
    nan_model = judge_alone(b, NaNScores(), data)
    decision = {"scores": nan_model.scores, "non_finite": nan_model.non_finite}
    assert "candidate" not in decision["scores"] and below_floor(decision) == (
        f"{len(eligible_users(data, 'valid'))} validation users get NaN or infinite scores from it")
    assert below_floor({"scores": {"candidate": 0.2, "most_popular": 0.09}}) == "" == below_floor(None)


def test_a_rollback_that_undoes_a_rollback_to_an_elcrec_model_says_no_more_of_its_intents(tmp_path, capsys):
    """The transition model served after ELCRec b; a rollback made b serve (withdrawing the transition model), and a
    second undid it: b, rolled back from, still stands (nothing withdrew it) and gives the intents, but the message
    said "no ELCRec model that still stands has served"."""
    from elcrec_core.cli.main import main

    store = ModelStore(tmp_path)
    b, transition = _elcrec_and_its_transition(store)
    store.promote(b, "first")
    store.promote(transition, "second")
    assert store.rollback("the transition model serves stale items") == b
    (tmp_path / "sequences" / "2026-05-02").mkdir(parents=True)
    assert main(["rollback", "--data-dir", str(tmp_path)]) == 0
    message = capsys.readouterr().out
    assert store.serving() == transition and store.withdrawn() == set()
    assert f"(intents: {b.name}):" in message and "still stands" not in message


def test_a_models_folder_that_links_to_another_disk_keeps_its_records_in_the_data_folder(tmp_path):
    """``models`` linked to a larger disk: the run folder, resolved through the link, was outside the data folder,
    and each training failed as it ended ('is not in the subpath of'), was retried and trained again (helper-217).
    Its paths stay the data folder's own; a path outside it is still refused."""
    (tmp_path / "larger").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "models").symlink_to(tmp_path / "larger")
    store = ModelStore(tmp_path / "data")
    run = store.run_dir("2026-01-02", "r")
    run.mkdir(parents=True)
    assert store.relative(run) == "models/2026-01-02/r" == store.relative(run / ".." / "r")
    record = ModelRecord(day="2026-01-02", run_id="r", dir=store.relative(run))
    (run / "best.pt").write_bytes(b"weights")
    store.add_candidate(record)
    store.promote(record, "the first")
    assert store.serving() == record and store.checkpoint(record).read_bytes() == b"weights"
    assert (tmp_path / "larger" / "2026-01-02" / "r" / "record.json").is_file()  # on the other disk
    assert store.relative(tmp_path / "data" / "sequences") == "sequences"
    with pytest.raises(ValueError):
        store.relative(tmp_path / "larger" / "2026-01-02")  # the other disk, named as itself: outside the folder


def test_the_judged_days_read_no_decision_unless_asked_which_model_served(tmp_path):
    """One damaged decision.json of an old day failed every later day's sequences step, whose pruning asks only
    which days were judged (helper-222): the files are read where the served model is asked for, and named there."""
    store = ModelStore(tmp_path)
    record = ModelRecord(day="2026-01-02", run_id="r", dir="models/2026-01-02/r")
    (tmp_path / "models" / "2026-01-02" / "r").mkdir(parents=True)
    (tmp_path / "models" / "2026-01-02" / "r" / "decision.json").write_text('{"serves": tru')
    assert store.judged_days() == {"2026-01-02"}
    with pytest.raises(ValueError, match=r"decision\.json is not valid JSON .*: repair or remove it$"):
        store.judged_days(record)


def test_the_gates_reasons_name_each_baselines_recipe():
    """The day's EASE above the candidate while the serving EASE of another λ, within the tolerance of it, serves on:
    the reason said 'below the best, EASE's 0.0982 ... the serving model .../ease serves (0.0973)', two EASE as one
    (helper-225). Each is named with its λ."""
    from elcrec_core.evaluate.baselines import EASE

    chains = _chains()
    popular = MostPopular().fit(chains, "valid")
    day, serving = EASE(1.0).fit(chains, "valid"), EASE(200.0).fit(chains, "valid")
    assert _score(popular, chains) + 0.1 < _score(serving, chains) < _score(day, chains)

    def ease(role: str, rec: EASE, on: str) -> Contender:
        return Contender(role, dataclasses.replace(_rec(role, on, "ease"), params={"lam": rec.lam}), rec)

    tolerance = _score(day, chains) - _score(serving, chains) + 0.01
    decision = gate(_contender(CANDIDATE, popular), ease(CHAMPION, serving, "2026-01-01"),
                    [ease("ease", day, "2026-01-02")], chains, tolerance=tolerance)
    assert decision.serves == CHAMPION and decision.reason.startswith(
        f"refused: validation NDCG@20 {_score(popular, chains):.4f} is below the best, EASE (λ = 1)'s "
        f"{_score(day, chains):.4f}, by more than the tolerance {tolerance:g}")
    assert f"the serving model 2026-01-01/serving (λ = 200) serves (validation NDCG@20 {_score(serving, chains):.4f}" \
        in decision.reason, decision.reason


def test_a_candidate_promoted_within_the_tolerance_below_the_best_is_said_to_be_below():
    """The reason read 'promoted: ...; the best: SASRec 0.1450 (tolerance 0.002)' for a candidate 0.0016 below it,
    promoted by the tolerance alone (helper-228): the best is now said to be higher, by how much and with its noise."""
    chains = _chains()
    transition, ease = ItemTransition().fit(chains, "valid"), tune_item_baseline(chains, log=lambda _: None)
    low, high = sorted((transition, ease), key=lambda rec: _score(rec, chains))
    assert _score(low, chains) < _score(high, chains)
    gap, error, users = _paired_noise(low, high, chains)
    decision = gate(_contender(CANDIDATE, low), None, [_contender("sasrec", high)], chains, tolerance=1.0)
    assert decision.promote and decision.reason.endswith(
        f"; the best: SASRec {_score(high, chains):.4f}, higher by no more than the tolerance 1 (by {gap:.4f}; paired "
        f"standard error over {users} users {error:.4f}{': within the noise' if gap <= 2 * error else ''})")
    level = gate(_contender(CANDIDATE, low), None, [_contender("sasrec", low)], chains, tolerance=1.0)
    assert level.reason.endswith("; level with SASRec, the best of the others")
