"""Scores compared in a text print differently where they differ, and their difference never as a rounded 0 or
0.0001 (helper-275's trial: the gate's "the serving model 0.2546, higher (by 0.0001)" beside a new model's 0.2546,
decision.json's 0.254612 and 0.254559)."""

from __future__ import annotations

import math

import torch

from elcrec_core.cli.rollback import Judgement
from elcrec_core.data.sequences import Sequences, SequenceTensors
from elcrec_core.evaluate.score_text import ScoreFormat, difference_text
from elcrec_core.report.comparisons import gate_table
from elcrec_core.serve.model_store import ModelRecord
from elcrec_core.serve.promotion import CANDIDATE, CHAMPION, FLOOR, Contender, below_floor, gate


def test_scores_that_differ_print_differently_and_their_difference_with_its_digits():
    fmt = ScoreFormat.of([0.254612, 0.254559, 0.0669])
    assert (fmt(0.254612), fmt(0.254559), fmt(0.0669)) == ("0.254612", "0.254559", "0.066900")
    assert ScoreFormat.of([0.2546, 0.2536, math.nan])(0.2546) == "0.2546"  # 4 digits tell them apart; NaN aside
    assert ScoreFormat.of([0.25461201, 0.25461249])(0.25461201) == "0.25461201"
    assert ScoreFormat.of([0.3, 0.3 + 1e-15]).digits == 12  # float noise: not without end
    assert difference_text(0.254612 - 0.254559) == "0.000053"  # not 0.0001 beside them
    assert difference_text(0.0035) == "0.0035" and difference_text(0.0) == "0.0000"
    assert difference_text(0.00094) == "0.00094" and difference_text(0.00096) == "0.0010"  # 2 digits either way
    assert difference_text(0.00004, signed=True) == "+0.000040" and difference_text(-0.0003, signed=True) == "-0.00030"


def _contender(role: str, day: str, ranks: list[int]) -> Contender:
    return Contender(role, ModelRecord(day=day, run_id=role, dir=f"models/{day}/{role}", kind=role
                                       if role == FLOOR else "elcrec"), None, (torch.tensor(ranks), 0))


def test_the_gates_reason_and_table_tell_apart_scores_equal_to_4_digits():
    """The trial's case: a newer candidate within the noise below the serving model, both 0.2541 to 4 digits
    (0.254105 and 0.254092: 300 users, 76 with the target first, one at rank 19 or 20)."""
    data = SequenceTensors.from_sequences(Sequences.from_lists([0], [[1, 2, 3]], n_items=3))  # unused: ranks given
    served, new = [0] * 76 + [18] + [50] * 223, [0] * 76 + [19] + [50] * 223
    decision = gate(_contender(CANDIDATE, "2026-03-03", new), _contender(CHAMPION, "2026-03-02", served),
                    [_contender(FLOOR, "2026-03-03", [50] * 300)], data, 0.002)
    assert decision.promote and decision.reason == (
        "promoted: validation NDCG@20 0.254092 beats most popular 0.000000; the best: the serving model "
        "2026-03-02/serving 0.254105, higher (by 0.000012; paired standard error over 300 users 0.000012: within "
        "the noise), and the newer model serves (the serving model's score is on targets its training was chosen "
        "on, and it lacks the newer events); it is the best of the others")
    labels = {CANDIDATE: "ELCRec (new)", CHAMPION: "served before", FLOOR: "most popular"}
    assert [row["valid NDCG@20"] for row in gate_table(decision.scores, decision.non_finite, decision.serves,
                                                        labels)] == ["0.254105", "0.254092", "0.000000"]
    assert gate_table({CANDIDATE: 0.2546, FLOOR: math.nan}, {CHAMPION: 3}, CANDIDATE, labels) == [
        {"model": "ELCRec (new)", "valid NDCG@20": "0.2546", "serves": "yes"},
        {"model": "most popular", "valid NDCG@20": math.nan, "serves": ""},  # the table's "no figure"
        {"model": "served before", "valid NDCG@20": "none: 3 users get NaN or infinite scores", "serves": ""}]
    assert below_floor({"scores": {CANDIDATE: 0.066912, FLOOR: 0.066948}}) == (
        "its validation NDCG@20 0.066912 does not beat most popular's 0.066948")


def test_rollback_prints_the_restored_and_withdrawn_scores_so_that_higher_reads_higher():
    judged = Judgement("2026-03-03", None, 0.254612, 0.0669, ("2026-03-03/fcdf171a", 0.254559))
    assert judged.text() == ("validation NDCG@20 on the newest sequences (2026-03-03) 0.254612, most popular "
                             "0.066900; 2026-03-03/fcdf171a, rolled back from, 0.254559 (the restored model is higher)")
    assert Judgement("2026-03-03", None, 0.2546, 0.0669, ("a/b", None)).text() == (
        "validation NDCG@20 on the newest sequences (2026-03-03) 0.2546, most popular 0.0669; a/b, rolled back from, "
        "cannot be scored there")


def test_elcrec_compare_and_baselines_tables_tell_apart_scores_that_differ(monkeypatch, tmp_path, capsys):
    """Two runs' or two baselines' scores side by side printed 0.2546 twice for 0.254612 and 0.254559 (helper-281:
    the tables of elcrec compare and elcrec baselines were left at 4 decimals)."""
    from elcrec_core.cli.main import main
    from elcrec_core.evaluate import baselines
    from elcrec_core.train.run_log import format_comparison

    table = format_comparison({"runs": ["a", "b"], "run": {}, "settings": {}, "comparable": True,
                               "metrics": {"seconds": [1.5, 2.25], "valid NDCG@20": [0.254612, 0.254559]}})
    assert table.splitlines()[-2:] == ["seconds          1.5000    2.2500", "valid NDCG@20  0.254612  0.254559"]
    monkeypatch.setattr(baselines, "compare", lambda *args: {"most_popular": {"HR@20": 0.5, "NDCG@20": 0.254612},
                                                             "ease": {"HR@20": 0.5, "NDCG@20": 0.254559}})
    path = tmp_path / "s.txt"
    path.write_text("1 1 2 3\n2 2 3 1\n", encoding="utf-8")
    assert main(["baselines", "--data", str(path), "--format", "sequence", "--no-sasrec"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == ["most_popular     0.5000 0.254612",
                                                        "ease             0.5000 0.254559"]
