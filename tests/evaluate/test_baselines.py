"""The baselines and the scoring contract against per-user brute forces; the Beauty figures."""

from __future__ import annotations

import copy
import json
import math
import random
import re

import numpy as np
import pytest
import torch

import elcrec_core.evaluate.baselines as baselines
import elcrec_core.evaluate.ranking as evaluation
import elcrec_core.evaluate.scoring as scoring
from elcrec_core.cli.main import main
from elcrec_core.config.settings import ExperimentConfig, ModelConfig, TrainConfig
from elcrec_core.data.sequences import Sequences, SequenceTensors, read_sequence_file
from elcrec_core.evaluate.baselines import (
    EASE,
    ItemTransition,
    MostPopular,
    SASRec,
    input_counts,
    input_items,
    tune_ease,
)
from elcrec_core.evaluate.fitted_inputs import popularity_rank_order
from elcrec_core.evaluate.item_knn import ItemKNN
from elcrec_core.evaluate.popularity import popularity_ranks
from elcrec_core.evaluate.ranking import MISS_RANK, eligible_users, evaluate_ranks, metrics_from_ranks, rank_scores
from elcrec_core.evaluate.scoring import (
    ELCRecRecommender,
    NotFitted,
    Recommender,
    evaluate_recommender,
    rank_score_matrix,
)
from elcrec_core.model.elcrec import ELCRec
from elcrec_core.serve.recommend import recommend
from elcrec_core.serve.recommenders import BASELINES

EASE_BEAUTY_100 = {"HR@5": 0.0457, "NDCG@5": 0.0298, "HR@10": 0.0694, "NDCG@10": 0.0374, "HR@20": 0.0969, "NDCG@20": 0.0443}


def brute_force(lists: list[list[int]], n_items: int, drop: int) -> list[int]:
    """Counts over every user's input (items before the target); rank = other non-history items counted more
    often, or as often with a lower index (the order most popular serves)."""
    cut = [seq[: len(seq) - drop - 1] for seq in lists]
    counts = [0] * (n_items + 1)
    for seq in cut:
        for item in seq:
            counts[item] += 1
    ranks = []
    for seq, history in zip(lists, cut):
        target = seq[len(seq) - drop - 1]
        if target in history:
            ranks.append(MISS_RANK)
            continue
        ranks.append(sum(1 for i in range(1, n_items + 1)
                          if i != target and i not in history
                          and (counts[i], -i) > (counts[target], -target)))
    return ranks


def test_popularity_ranks_match_brute_force():
    rng = random.Random(4)
    lists = [[rng.randint(1, 15) for _ in range(rng.randint(3, 9))] for _ in range(60)]
    data = SequenceTensors.from_sequences(Sequences.from_lists(list(range(60)), lists, n_items=15))
    users = torch.arange(60)
    for split, drop in (("test", 0), ("valid", 1)):
        assert popularity_ranks(data, split, users).tolist() == brute_force(lists, 15, drop)
        assert popularity_ranks(data, split, users, batch_size=7).tolist() == brute_force(lists, 15, drop)


def test_input_counts_cover_every_input_and_nothing_else():
    """Counts of the items before each split's target, short users (empty inputs) included."""
    rng = random.Random(5)
    lists = [[rng.randint(1, 9) for _ in range(rng.randint(1, 7))] for _ in range(40)]
    data = SequenceTensors.from_sequences(Sequences.from_lists(list(range(40)), lists, n_items=9))
    for split, drop in (("test", 0), ("valid", 1)):
        expected = [0] * 9
        for seq in lists:
            for item in seq[: max(0, len(seq) - drop - 1)]:
                expected[item - 1] += 1
        assert input_counts(data, split).tolist() == expected


def test_hand_example():
    # inputs for test: [1, 2], [1, 3], [1] -> counts 1:3, 2:1, 3:1
    lists = [[1, 2, 3], [1, 3, 2], [1, 2]]
    data = SequenceTensors.from_sequences(Sequences.from_lists([1, 2, 3], lists, n_items=3))
    assert popularity_ranks(data, "test", torch.tensor([0])).tolist() == [0]  # items 1 and 2 are its history
    # item 1 (3) is history; item 3 is as frequent as the target 2 and comes after it, as most popular serves them
    assert popularity_ranks(data, "test", torch.tensor([2])).tolist() == [0]
    lists[2] = [1, 3]  # the same counts; the target 3 comes after item 2, as frequent
    data = SequenceTensors.from_sequences(Sequences.from_lists([1, 2, 3], lists, n_items=3))
    assert popularity_ranks(data, "test", torch.tensor([2])).tolist() == [1]
    rec = MostPopular().fit(data, "test")
    assert evaluate_recommender(rec, data, "test", torch.tensor([2])).tolist() == [1]
    # a user of too few items for the split is refused, not ranked on an empty input (helper-193)
    with pytest.raises(ValueError, match=r"^users \[2\] have fewer than 3 items, the least of a valid target"):
        evaluate_recommender(rec, data, "valid", torch.tensor([0, 2, 1]))
    served = SequenceTensors.from_sequences(Sequences.from_lists([1, 2, 3], [[1, 2, 3], [1, 3, 2], [1]], n_items=3))
    assert recommend(MostPopular().fit(served, "all"), served, torch.tensor([2]), k=2)[0].tolist() == [[2, 3]]


# ----------------------------------------------------------------------------------------- the scoring contract
def random_lists(seed: int, n_users: int, n_items: int, lo: int = 2, hi: int = 9) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randint(1, n_items) for _ in range(rng.randint(lo, hi))] for _ in range(n_users)]


def tensors(lists: list[list[int]], n_items: int) -> SequenceTensors:
    return SequenceTensors.from_sequences(Sequences.from_lists(list(range(len(lists))), lists, n_items=n_items))


def brute_force_ranks(lists: list[list[int]], drop: int, score) -> list[int]:
    """Per user: ``score(history)`` -> {item: score} for items 1..n; rank = other non-history items scoring at
    least as high as the target; MISS_RANK where the target is in the history or its score is not finite."""
    ranks = []
    for seq in lists:
        history, target = seq[: len(seq) - drop - 1], seq[len(seq) - drop - 1]
        scores = score(history)
        if target in history or not math.isfinite(scores[target]):
            ranks.append(MISS_RANK)
            continue
        ranks.append(sum(1 for i in scores if i != target and i not in history and scores[i] >= scores[target]))
    return ranks


def test_rank_score_matrix_is_the_evaluators_rule():
    """Ties (integer embeddings), padding, a target in the history, NaN and infinite scores: the same ranks as
    evaluation.rank_scores, and the score matrix is left as it was."""
    gen = torch.Generator().manual_seed(0)
    vecs = torch.randint(-2, 3, (40, 4), generator=gen).float()
    table = torch.randint(-2, 3, (25, 4), generator=gen).float()
    table[3, 0], vecs[5, 1], table[7, 2] = float("nan"), float("inf"), float("-inf")
    targets = torch.randint(1, 26, (40,), generator=gen)
    history = torch.randint(0, 26, (40, 6), generator=gen)
    history[:4, 2] = targets[:4]
    scores = vecs @ table.T
    before = scores.clone()
    ranks = rank_score_matrix(scores, targets, history)
    assert torch.equal(ranks, rank_scores(vecs, table, targets, history))
    assert torch.equal(scores.nan_to_num(), before.nan_to_num())
    assert (ranks[:4] == MISS_RANK).all()


def test_seen_items_are_excluded_beside_the_input_history():
    """Most popular scores items 1..5 by counts 4 > 5 > 3 > 2 > 1 (in the inputs). User 0's test target is 3 and its
    input [1]: items 4 and 5 rank above it (rank 2). Where item 4 was seen (an event that the sequences left out),
    it is excluded as the served lists exclude it (rank 1), and the score the recommender read is the history's
    alone; a target that was seen is a miss, and a seen item the recommender does not know changes nothing."""
    lists = [[1, 3], [4, 4, 4, 4, 5, 5, 5, 3, 3, 2, 1], [4, 4, 5, 2]]
    data = tensors(lists, 5)
    rec = MostPopular().fit(data, "test")
    user = torch.tensor([0])
    assert evaluate_recommender(rec, data, "test", user).tolist() == [2]
    for seen_rows, rank in [([[4], [], []], 1), ([[4, 5], [], []], 0), ([[2], [], []], 2), ([[3], [], []], MISS_RANK),
                            ([[], [], []], 2)]:
        seen = tensors(seen_rows, 5)
        assert scoring.ranks_and_non_finite(rec, data, "test", user, seen=seen)[0].tolist() == [rank]
    wider = tensors([[4, 7], [], []], 7)  # item 7 is beyond the recommender's 5 items: left out
    assert scoring.ranks_and_non_finite(rec, data, "test", user, seen=wider)[0].tolist() == [1]
    # user 1's target 1 is all that its history leaves (rank 0); user 2's target 2 has 3 above it and 1 tied (rank 2)
    metrics = scoring.recommender_metrics(rec, data, "test", tensors([[4, 5], [], []], 5))
    assert metrics["HR@5"] == 1.0 and metrics["NDCG@5"] == pytest.approx((1 + 1 + 1 / math.log2(4)) / 3)


def test_elcrec_adapter_gives_exactly_the_evaluators_ranks(monkeypatch):
    """Both splits, small user batches, groups bounded as the evaluator's, and items the model does not know
    (the data has 18, the model 15)."""
    torch.manual_seed(0)
    model = ELCRec(ModelConfig(n_items=15, hidden=16, n_heads=2, max_len=5, n_intents=3))
    lists = random_lists(1, 50, 18, hi=12)
    data = tensors(lists, 18)
    adapter = ELCRecRecommender(model)
    assert isinstance(adapter, Recommender)
    for split in ("valid", "test"):
        expected = evaluate_ranks(model, data, split)
        assert torch.equal(evaluate_recommender(adapter.fit(data, split), data, split), expected)
        monkeypatch.setattr(scoring, "MAX_SCORE_ELEMENTS", 15 * 4)
        monkeypatch.setattr(evaluation, "MAX_SCORE_ELEMENTS", 15 * 4)
        assert torch.equal(evaluate_recommender(adapter, data, split, batch_size=7),
                           evaluate_ranks(model, data, split, batch_size=7))
        monkeypatch.undo()
        assert (expected[[i for i, s in enumerate(eligible_users(data, split).tolist())
                          if lists[s][len(lists[s]) - 1 - (split == "valid")] > 15]] == MISS_RANK).all()
    assert model.training  # the evaluation put it in eval mode and back


@pytest.mark.parametrize(("split", "users", "said"), [
    ("test", [-1], "users are row indices of the data, 0 to 2: not -1"),  # it ranked the last user
    ("test", [3], "users are row indices of the data, 0 to 2: not 3"),  # an IndexError
    ("test", [1], "users [1] have fewer than 2 items, the least of a test target (eligible_users)"),  # empty input
    ("valid", [2], "users [2] have fewer than 3 items, the least of a valid target (eligible_users)"),
    ("valid", [1], "users [1] have fewer than 3 items, the least of a valid target (eligible_users)"),  # a RuntimeError
    ("test", [0.0], "users are a 1-D tensor of row indices (torch.long), not a 1-D torch.float32 tensor")])
def test_every_evaluator_refuses_users_it_cannot_rank_alike(split, users, said):
    """evaluate_ranks and popularity_ranks ranked a user of too few items, or -1 as the last user, or failed inside
    torch, where evaluate_recommender refused them (helper-226): one check for all three."""
    torch.manual_seed(0)
    model = ELCRec(ModelConfig(n_items=7, hidden=8, n_heads=2, max_len=4, n_intents=2))
    data = tensors([[1, 2, 3, 4], [5], [6, 7]], 7)
    for rank in (lambda u: evaluate_ranks(model, data, split, u), lambda u: popularity_ranks(data, split, u),
                 lambda u: evaluate_recommender(ELCRecRecommender(model), data, split, u)):
        with pytest.raises(ValueError) as refused:
            rank(torch.tensor(users))
        assert str(refused.value) == said
        assert len(rank(torch.tensor([0]))) == 1  # the user of 4 items ranks on both splits


def test_most_popular_under_the_contract_is_popularity_ranks():
    lists = random_lists(2, 60, 15, lo=1)
    data = tensors(lists, 15)
    for split in ("valid", "test"):
        rec = MostPopular().fit(data, split)
        assert torch.equal(evaluate_recommender(rec, data, split), popularity_ranks(data, split))
    # the reported figures: fitted on the training part (items[:-2]), ranked on test
    counts = input_counts(data, "valid").tolist()
    rec = MostPopular().fit(data, "valid")
    assert evaluate_recommender(rec, data, "test").tolist() == brute_force_ranks(
        [s for s in lists if len(s) >= 2], 0, lambda history: {i: counts[i - 1] + (16 - i) / 16 for i in range(1, 16)})


def test_input_items_are_each_users_input_in_order():
    lists = random_lists(3, 30, 9, lo=1)
    data = tensors(lists, 9)
    for split, drop in (("test", 0), ("valid", 1)):
        user, item = input_items(data, split)
        expected = [(u, i) for u, seq in enumerate(lists) for i in seq[: max(0, len(seq) - drop - 1)]]
        assert list(zip(user.tolist(), item.tolist())) == expected


# ----------------------------------------------------------------------------------------- item transitions
def popularity_tie_break(lists: list[list[int]], n_items: int, drop: int) -> dict[int, float]:
    """The brute-force tie-break: per item j, (n - r) / (n + 1), r its place in most popular's order of the
    fitted inputs (the larger count first, then the lower index): distinct, in (0, 1)."""
    pop = [0] * (n_items + 1)
    for seq in lists:
        for item in seq[: max(0, len(seq) - drop - 1)]:
            pop[item] += 1
    order = sorted(range(1, n_items + 1), key=lambda j: (-pop[j], j))
    return {j: (n_items - r) / (n_items + 1) for r, j in enumerate(order)}


def transition_scores(lists: list[list[int]], n_items: int, drop: int):
    """The brute-force scorer: pair counts from each user's fitted input (items before the split's target), plus
    the popularity tie-break."""
    pairs = {}
    for seq in lists:
        fitted = seq[: max(0, len(seq) - drop - 1)]
        for a, b in zip(fitted, fitted[1:]):
            pairs[a, b] = pairs.get((a, b), 0) + 1
    tie_break = popularity_tie_break(lists, n_items, drop)

    def score(history: list[int]) -> dict[int, float]:
        last = history[-1] if history else 0
        return {j: pairs.get((last, j), 0) + tie_break[j] for j in range(1, n_items + 1)}

    return score


def test_transition_matches_brute_force():
    lists = random_lists(4, 80, 12, hi=10)
    lists[0] = [3, 5, 3, 5, 3, 5, 7]  # repeated pairs
    data = tensors(lists, 12)
    for fit_split, fit_drop in (("valid", 1), ("test", 0)):
        rec = ItemTransition().fit(data, fit_split)
        for split, drop in (("valid", 1), ("test", 0)):
            users = [s for s in lists if len(s) >= (3 if split == "valid" else 2)]
            expected = brute_force_ranks(users, drop, transition_scores(lists, 12, fit_drop))
            assert evaluate_recommender(rec, data, split).tolist() == expected


def test_transition_hand_example():
    # training parts (items[:-2]): [1, 2, 3], [1, 2], [2, 3] -> pairs 1->2: 2, 2->3: 2; popularity 1: 2, 2: 3, 3: 2
    lists = [[1, 2, 3, 9, 9], [1, 2, 4, 5], [2, 3, 1, 4]]
    data = tensors(lists, 9)
    rec = ItemTransition().fit(data, "valid")
    scores = rec.score(torch.tensor([0, 1]), torch.tensor([[0, 1], [2, 4]]))
    # most popular's order: 2, then 1 and 3 (2 each: the lower index first), then 4..9; (9 - place) / 10
    assert scores[0, 1].item() == 2 + 9 / 10  # after 1: item 2 (2 pairs), then popularity breaks ties
    assert scores[0].argsort(descending=True)[:3].tolist() == [1, 0, 2]  # item 2, then items 1 and 3 (pop 2)
    # nothing follows 4: popularity, and among equally popular items the lower index, as most popular
    assert scores[1].tolist() == pytest.approx([0.8, 0.9, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])


def test_the_popularity_tie_break_stays_distinct_beside_large_scores():
    """1M items of few distinct counts: the tie-break's values are distinct, in (0, 1), in most popular's order,
    and stay distinct added to a pair count of 2^24 (spaced 1 / (n + 1) apart, not by popularity: 1e-11 apart they
    merged beside a count of 2^16)."""
    counts = torch.randint(0, 5, (1_000_000,), generator=torch.Generator().manual_seed(0)).double()
    counts[7] = 100_000
    tie_break = popularity_rank_order(counts)
    assert len(torch.unique(tie_break)) == len(counts) and 0 < tie_break.min() and tie_break.max() < 1
    assert tie_break.argmax() == 7 and len(torch.unique(tie_break + 2.0 ** 24)) == len(counts)
    order = torch.argsort(tie_break, descending=True)
    assert torch.equal(order, torch.argsort(counts * len(counts) - torch.arange(len(counts)), descending=True))


@pytest.mark.parametrize("make", [MostPopular, ItemTransition, lambda: ItemKNN(2), lambda: ItemKNN(2, 5.0),
                                  lambda: ItemKNN(20)])
@pytest.mark.parametrize("users", [70, 14])  # 14 users of 2 to 4 items: many equal cosines and pair counts
def test_a_baseline_is_evaluated_on_the_order_it_serves(make, users):
    """The target's rank in evaluation is its place in the list the baseline serves from the same input (a miss
    where the input holds it): ties that counted against the target while the lists broke them by popularity
    (item transitions of equal count and popularity; item-kNN's 0 for items near no history item) ranked a
    baseline below what it serves (Beauty's test NDCG@20 of transitions: 0.0477, as served 0.0478)."""
    # a small catalogue: many equal counts, items near no history item
    lists = random_lists(11, users, 16, hi=9 if users > 20 else 4)
    data = tensors(lists, 16)
    for split, drop in (("valid", 1), ("test", 0)):
        rec = make().fit(data, "valid")
        users = eligible_users(data, split)
        ranks = evaluate_recommender(rec, data, split, users).tolist()
        inputs = tensors([lists[u][: len(lists[u]) - drop - 1] for u in users.tolist()], 16)
        served, _ = recommend(rec, inputs, torch.arange(len(users)), k=16)
        for u, rank, row in zip(users.tolist(), ranks, served.tolist()):
            target = lists[u][len(lists[u]) - drop - 1]
            assert rank == (row.index(target) if target in row and target not in lists[u][:len(lists[u]) - drop - 1]
                            else MISS_RANK), (split, u)


# ----------------------------------------------------------------------------------------- EASE
def ease_weights(lists: list[list[int]], n_items: int, drop: int, lam: float) -> np.ndarray:
    x = np.zeros((len(lists), n_items))
    for u, seq in enumerate(lists):
        for item in seq[: max(0, len(seq) - drop - 1)]:
            x[u, item - 1] = 1.0
    p = np.linalg.inv(x.T @ x + lam * np.eye(n_items))
    b = np.eye(n_items) - p / np.diag(p)
    np.fill_diagonal(b, 0.0)
    return b


@pytest.mark.parametrize("split", ["valid", "test"])
@pytest.mark.parametrize("kind", sorted(BASELINES))
def test_every_baseline_scores_from_the_history_alone_and_never_sees_the_held_out_items(kind, split):
    """The contract (Recommender's docstring) every baseline that may serve keeps: scores from ``history`` alone,
    not from the user's row of the data it was fitted on, and a fit on ``split`` that never sees its targets or what
    follows them. A contributor's baseline that looked the user up in its fitted data (helper-211) got validation
    NDCG@20 0.90 and was promoted over item transition's 0.51; this test fails for such a baseline."""
    lists = random_lists(7, 60, 25, 4, 12)
    data = tensors(lists, n_items=25)
    drop = evaluation.DROP_AFTER[split]
    users = eligible_users(data, split)
    lengths = data.lengths(users) - drop - 1
    history = data.window(users, drop + 1, int(lengths.max()))
    scores = scoring.scores_of(BASELINES[kind]().fit(data, split), users, history)
    fitted = BASELINES[kind]().fit(data, split)
    assert torch.equal(scoring.scores_of(fitted, users.flip(0), history), scores)  # the users name rows alone
    held_out = [seq[:len(seq) - drop - 1] + [item % 25 + 1 for item in seq[len(seq) - drop - 1:]] for seq in lists]
    assert torch.equal(scoring.scores_of(BASELINES[kind]().fit(tensors(held_out, n_items=25), split), users, history),
                       scores)


def test_compare_says_why_a_baseline_has_no_figure(monkeypatch):
    """A baseline that gives some test users a NaN score has no figure: elcrec baselines printed nan without a word
    (helper-211); its log line says why."""
    data = tensors(random_lists(3, 40, 12, 4, 9), n_items=12)
    monkeypatch.setattr(ItemTransition, "score", lambda self, users, history: torch.full(
        (len(users), self.n_items), float("nan")))
    lines = []
    results = baselines.compare(data, lambdas=(10.0,), log=lines.append)
    assert math.isnan(results["transition"]["NDCG@20"]) and not math.isnan(results["most_popular"]["NDCG@20"])
    assert [line.split(" (ranked")[0] for line in lines if line.startswith("transition: ") and "ranked" in line] == [
        "transition: no figure: some test users get a NaN or infinite score"]


def test_ease_matches_brute_force():
    """Weights as Steck's closed form, scores x_u B with a binary x_u (a repeated item counts once), ranks as the
    brute force on the same scores (both rounded to 9 decimals so that exact ties stay ties)."""
    lists = random_lists(5, 70, 10, hi=10)
    data = tensors(lists, 10)
    for lam in (0.5, 5.0):
        b = ease_weights(lists, 10, 1, lam)
        rec = EASE(lam, torch.float64).fit(data, "valid")
        np.testing.assert_allclose(rec.weights.numpy(), b, atol=1e-10)
        np.testing.assert_allclose(EASE(lam, torch.float32).fit(data, "valid").weights.numpy(), b, atol=1e-5)

        class Rounded(EASE):
            def score(self, users, history):
                return super().score(users, history).round(decimals=9)

        rounded = Rounded(lam, torch.float64).fit(data, "valid")

        def score(history: list[int]) -> dict[int, float]:
            x = np.zeros(10)
            x[[i - 1 for i in history]] = 1.0
            return {j: round(float(value), 9) for j, value in enumerate(x @ b, start=1)}

        for split, drop in (("valid", 1), ("test", 0)):
            users = [s for s in lists if len(s) >= (3 if split == "valid" else 2)]
            assert evaluate_recommender(rounded, data, split).tolist() == brute_force_ranks(users, drop, score)


def test_ease_precision_follows_the_catalogue(monkeypatch):
    data = tensors(random_lists(9, 30, 10), 10)
    assert EASE(1.0).fit(data, "valid").weights.dtype == torch.float64
    monkeypatch.setattr(baselines, "EASE_FLOAT64_ITEMS", 9)
    assert EASE(1.0).fit(data, "valid").weights.dtype == torch.float32
    monkeypatch.setattr(baselines, "EASE_MAX_ITEMS", 9)
    with pytest.raises(ValueError, match="limited to 9 items"):
        EASE(1.0).fit(data, "valid")
    with pytest.raises(ValueError, match="> 0"):
        EASE(0.0)
    assert [EASE(lam).lam for lam in (np.int64(100), np.float32(2.5), 7)] == [100.0, 2.5, 7.0]  # numpy's were refused
    for wrong in (np.float64("inf"), np.bool_(True), "100"):
        with pytest.raises(ValueError, match="finite number > 0"):
            EASE(wrong)


def test_ease_tuned_on_valid_only():
    lists = random_lists(6, 70, 10, hi=10)
    data = tensors(lists, 10)
    best, table = tune_ease(data, (0.5, 5.0, 50.0), log=lambda _: None)
    assert list(table) == [0.5, 5.0, 50.0]
    assert best.lam == max(table, key=lambda lam: table[lam]["NDCG@20"])
    for lam, metrics in table.items():
        assert metrics == metrics_from_ranks(evaluate_recommender(EASE(lam).fit(data, "valid"), data, "valid"))
    with pytest.raises(ValueError, match="lambda"):
        tune_ease(data, (10.0, 0.0))
    with pytest.raises(ValueError, match="none of the 3 users has the 3 items it needs"):  # it crashed on None
        tune_ease(tensors([[1, 2], [2, 3], [3, 1]], 10), log=lambda _: None)


def test_ease_whose_every_lambda_has_no_figure_is_the_first_lambda(monkeypatch):
    """Scores with an infinite value for every lambda: no valid NDCG@20 beat -inf (NaN never does), and tuning
    crashed on best = None ('NoneType' object has no attribute 'lam'); now the first lambda, without a figure."""
    data = tensors(random_lists(6, 70, 10, hi=10), 10)
    score = EASE.score

    def overflowing(self, users, history):
        scores = score(self, users, history)
        scores[:, 0] = float("inf")
        return scores

    monkeypatch.setattr(EASE, "score", overflowing)
    lines: list[str] = []
    best, table = tune_ease(data, (5.0, 50.0), log=lines.append)
    assert best.lam == 5.0 and all(math.isnan(v) for metrics in table.values() for v in metrics.values())
    assert lines[-1] == ("ease: every lambda gives some valid user a NaN or infinite score (no figure): lambda 5, "
                         "which may not serve")


def test_compare_leaves_ease_out_where_no_user_has_a_valid_target():
    """Every user with 2 items: no valid target to tune lambda on; it raised after the others were computed."""
    short = tensors([[1, 2], [2, 3], [3, 1]], 3)
    lines: list[str] = []
    assert list(baselines.compare(short, log=lines.append)) == ["most_popular", "transition"]
    assert ("ease: left out (tuned on the valid split, and none of the 3 users has the 3 items it needs)"
            in lines)


def test_a_split_that_is_none_or_has_no_user_is_refused_by_name():
    """A bare KeyError: 'train' came from fit(data, "train") and recommender_metrics(..., "all"); metrics over no
    user were NaN, read as "some user got a non-finite score" (helper-177)."""
    data = tensors([[1, 2], [2, 3], [3, 1]], 3)
    with pytest.raises(ValueError, match="unknown split 'train': one of 'valid', 'test', 'all'"):
        MostPopular().fit(data, "train")
    with pytest.raises(ValueError, match="unknown split 'train': one of 'valid', 'test', 'all'"):
        ELCRecRecommender(ELCRec(ModelConfig(n_items=3, hidden=8, n_heads=1, n_intents=2))).fit(data, "train")
    with pytest.raises(ValueError, match="unknown split 'all': one of 'valid', 'test'$"):
        scoring.recommender_metrics(MostPopular().fit(data, "test"), data, "all")
    with pytest.raises(ValueError, match=r"^no user to rank on the valid split: none of the data's 3 users has the 3 "
                                         r"items it needs \(test: an input and its target; valid: a training item "
                                         r"too\)$"):
        scoring.recommender_metrics(MostPopular().fit(data, "valid"), data, "valid")
    assert scoring.recommender_metrics(MostPopular().fit(data, "test"), data, "test")["HR@5"] == 1.0


def test_compare_tunes_ease_over_the_given_lambdas_up_to_the_item_limit(monkeypatch):
    """EASE is in at exactly EASE_MAX_ITEMS items; its lambda is the best of the given ones (on valid), and
    the tuning time it logs is no more than the call took."""
    import time

    data = tensors(random_lists(10, 40, 12), 12)
    monkeypatch.setattr(baselines, "EASE_MAX_ITEMS", 12)
    lines: list[str] = []
    began = time.perf_counter()
    results = baselines.compare(data, lambdas=(3.0, 30.0), log=lines.append)
    took = time.perf_counter() - began
    best, _ = tune_ease(data, (3.0, 30.0), log=lambda _: None)
    assert list(results) == ["most_popular", "transition", "ease"]
    assert results["ease"] == metrics_from_ranks(evaluate_recommender(best, data, "test"))
    assert [line.split(":")[1] for line in lines if line.startswith("ease: lambda ")] == [" lambda 3", " lambda 30"]
    assert any(line.startswith(f"ease: chose lambda {best.lam:g} ") for line in lines)
    import re

    seconds = [float(s) for line in lines for s in re.findall(r"(\d+\.\d)s\b", line)]
    # fitted and ranked: most popular, transition; EASE: X^T X, per lambda its fit and with ranking, tuned, ranked
    assert len(seconds) == 2 + 2 + 1 + 2 * 2 + 1 + 1, lines
    assert all(0.0 <= s <= took + 0.05 for s in seconds), lines


# ----------------------------------------------------------------------------------------- SASRec and the command
SMALL_MODEL = {"hidden": 16, "n_heads": 2, "n_layers": 1, "max_len": 10, "n_intents": 4}


def test_sasrec_is_elcrec_without_its_intent_parts(tmp_path):
    lists = random_lists(7, 120, 30, lo=4, hi=12)
    data = tensors(lists, 30)
    # on the CPU, whose scores do not depend on the batch they are computed in (CUDA's kernels may differ in the
    # last bit and swap two near-equal items)
    exp = ExperimentConfig(model=dict(SMALL_MODEL), train=TrainConfig(epochs=2, batch_size=64, seed=1, device="cpu"))
    rec = SASRec(exp, tmp_path, log=lambda _: None).fit(data, "valid")
    assert {"cf_weight": 0.0, "intent_cf_weight": 0.0, "trade_off": 0.0, "rec_loss": "ce"}.items() <= \
        vars(rec.exp.train).items()
    assert set(rec.result.history[0]) & {"seq_cl", "intent_cl", "cluster"} == set()
    # the adapter ranks as the trainer's own test evaluation did
    assert metrics_from_ranks(evaluate_recommender(rec, data, "test")) == rec.result.test
    with pytest.raises(ValueError) as refused:
        SASRec(exp, tmp_path / "b").fit(data, "test")
    assert str(refused.value) == ("SASRec trains on items[:-2] and selects its epoch on the valid split: fit it on "
                                  "'valid', not 'test'")


def test_sasrec_fitted_again_into_its_folder_trains_afresh(tmp_path):
    """A second fit into the same folder trains on the new data from the start (it does not resume the first
    fit's finished run): its ranks are those of a fit into an empty folder."""
    exp = ExperimentConfig(model=dict(SMALL_MODEL), train=TrainConfig(epochs=2, batch_size=64, seed=1))
    first, second = (tensors(random_lists(seed, 120, 30, lo=4, hi=12), 30) for seed in (7, 8))
    SASRec(exp, tmp_path / "same", log=lambda _: None).fit(first, "valid")
    again = SASRec(exp, tmp_path / "same", log=lambda _: None).fit(second, "valid")
    fresh = SASRec(exp, tmp_path / "fresh", log=lambda _: None).fit(second, "valid")
    assert len(again.result.history) == len(fresh.result.history) == 2
    assert torch.equal(evaluate_recommender(again, second, "test"), evaluate_recommender(fresh, second, "test"))


def test_to_sequences_keeps_every_user_and_refuses_items_not_back_to_back():
    """The tensors' users as :class:`Sequences` (offsets from 0, every item); users whose items do not lie back to
    back (a gap, a first user not at 0, items after the last user) are refused."""
    lists = [[3, 1, 2], [5], [4, 4, 1, 2]]
    seqs = baselines.to_sequences(tensors(lists, 5))
    assert (seqs.offsets.tolist(), seqs.items.tolist(), seqs.n_items) == ([0, 3, 4, 8], [3, 1, 2, 5, 4, 4, 1, 2], 5)
    assert [seqs.sequence(u) for u in range(3)] == lists
    items = torch.tensor([3, 1, 2, 5, 4, 4, 1, 2])
    for starts, ends in [([0, 3, 5], [3, 4, 8]), ([1, 3, 4], [3, 4, 8]), ([0, 3, 4], [3, 4, 7])]:
        with pytest.raises(ValueError) as refused:
            baselines.to_sequences(SequenceTensors(items, torch.tensor(starts), torch.tensor(ends), 5))
        assert str(refused.value) == "the users' items do not lie back to back"


def test_item_transition_scores_users_without_input_by_popularity_alone():
    """A batch whose histories are all empty (width 0) gets the training popularity tie-break for every item."""
    data = tensors([[1, 2, 3, 4, 4], [2, 3, 2, 4, 4], [3, 2, 4, 4]], 4)
    model = ItemTransition().fit(data, "valid")
    scores = model.score(torch.tensor([0, 1]), torch.zeros(2, 0, dtype=torch.long))
    # in items[:-2]: item 2 four times, then items 3 (3), 1 (1) and 4 (0): (4 - place) / 5
    popularity = torch.tensor([2, 4, 3, 1], dtype=torch.float64) / 5
    assert torch.allclose(scores, popularity.expand(2, -1), rtol=0, atol=1e-15)


def test_baselines_command(tmp_path, capsys):
    lists = random_lists(8, 150, 25, lo=3, hi=10)
    path = tmp_path / "seq.txt"
    path.write_text("".join(f"{u + 1} {' '.join(map(str, seq))}\n" for u, seq in enumerate(lists)) + "151 3\n")
    assert main(["baselines", "--data", str(path), "--no-sasrec", "--lambdas", "1,10", "--json"]) == 0
    out, err = capsys.readouterr()
    results = json.loads(out)
    assert list(results) == ["most_popular", "transition", "ease"]
    assert set(results["ease"]) == {f"{m}@{k}" for m in ("HR", "NDCG") for k in (5, 10, 20)}
    assert "chose lambda" in err
    data = tensors(lists, 25)
    # whom the test figures average over, as evaluate says it (the baselines said it nowhere: helper-224)
    assert "the test split: 150 of the 151 users ranked (a test target takes at least 2 items)" in err  # one: 1 item
    expected = metrics_from_ranks(evaluate_recommender(ItemTransition().fit(data, "valid"), data, "test"))
    assert results["transition"] == {k: round(v, 6) for k, v in expected.items()}
    assert main(["baselines", "--data", str(path), "--preset", "synthetic", "--epochs", "1", "--lambdas", "10"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["test", "split", "HR@5", "NDCG@5", "HR@10", "NDCG@10", "HR@20", "NDCG@20"]
    assert [line.split()[0] for line in table[1:]] == ["most_popular", "transition", "ease", "sasrec"]
    for bad in ("ten", "0,10", ",", "10,inf", "nan"):
        assert main(["baselines", "--data", str(path), "--lambdas", bad]) == 2
        assert "--lambdas" in capsys.readouterr().err
    # users of 3 items give the baselines a valid and a test target but SASRec no training sample: without
    # SASRec, the settings it would train with are not derived (that refused the data)
    path.write_text("".join(f"{u + 1} {' '.join(map(str, seq[:3]))}\n" for u, seq in enumerate(lists)))
    assert main(["baselines", "--data", str(path), "--lambdas", "10"]) == 2
    assert capsys.readouterr().err.endswith("users has the 4 items that one needs (SASRec's; --no-sasrec measures "
                                            "the other baselines)\n")
    assert main(["baselines", "--data", str(path), "--no-sasrec", "--lambdas", "10", "--json"]) == 0
    assert list(json.loads(capsys.readouterr().out)) == ["most_popular", "transition", "ease"]
    threads = torch.get_num_threads()
    try:  # as elcrec train has it
        assert main(["baselines", "--data", str(path), "--no-sasrec", "--lambdas", "10", "--threads", "1"]) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)


# ----------------------------------------------------------------------------------------- Beauty
def beauty_metrics(rec, data: SequenceTensors, monkeypatch) -> tuple[dict[str, float], dict[str, float]]:
    """Test-split metrics of ``rec`` under the tie rule (ties against the target) and, from the same scores, under
    the old rule that counted only strictly higher items (that of the independently computed figures)."""
    strict: list[torch.Tensor] = []

    def both_rules(scores, targets, history):
        target_scores = scores.gather(1, (targets - 1)[:, None])
        excluded = torch.zeros_like(scores, dtype=torch.bool)
        excluded.scatter_(1, torch.where(history > 0, history - 1, (targets - 1)[:, None]), True)
        miss = (history == targets[:, None]).any(1)
        strict.append(torch.where(miss, MISS_RANK, ((scores > target_scores) & ~excluded).sum(1)))
        return rank_score_matrix(scores, targets, history)

    monkeypatch.setattr(scoring, "rank_score_matrix", both_rules)
    ranks = evaluate_recommender(rec, data, "test")
    rounded = lambda m: {k: round(v, 4) for k, v in m.items()}  # noqa: E731
    return rounded(metrics_from_ranks(ranks)), rounded(metrics_from_ranks(torch.cat(strict)))


def test_transition_on_beauty(shared, monkeypatch):
    """Fitted on items[:-2], ranked on test. The independent figures (HR@5 0.0517, NDCG@5 0.0391, HR@20 0.0825,
    NDCG@20 0.0480) are those of pair counts with popularity breaking ties (the issue's definition) under the old
    rule, which ranks the target first among items of equal count and popularity; the same scores under ties
    against the target gave 0.0477 (until 2026-12-04). As it serves, the lower index breaks what popularity does not
    (one total order, evaluated as served): 0.0478, between the two."""
    data = SequenceTensors.from_sequences(read_sequence_file(shared / "data" / "Beauty.txt"))
    transition = ItemTransition().fit(data, "valid")
    served, strict = beauty_metrics(transition, data, monkeypatch)
    assert served == strict == {"HR@5": 0.0513, "NDCG@5": 0.0389, "HR@10": 0.0668, "NDCG@10": 0.0439,
                                "HR@20": 0.0822, "NDCG@20": 0.0478}  # no ties left
    pop = input_counts(data, "valid").numpy()
    transition.tie_break = pop / (pop.max() + 1)  # popularity alone
    against, old = beauty_metrics(transition, data, monkeypatch)
    assert against == {"HR@5": 0.0512, "NDCG@5": 0.0388, "HR@10": 0.0665, "NDCG@10": 0.0438, "HR@20": 0.0821,
                       "NDCG@20": 0.0477}
    assert old == {"HR@5": 0.0517, "NDCG@5": 0.0391, "HR@10": 0.067, "NDCG@10": 0.0441, "HR@20": 0.0825,
                   "NDCG@20": 0.048}


@pytest.mark.slow
def test_ease_on_beauty(shared, monkeypatch):
    """lambda 100 (float32), fitted on items[:-2], ranked on test: the independent figures (HR@5 0.0457, NDCG@5
    0.0298, HR@20 0.0969, NDCG@20 0.0443) under the old rule. Minutes: one 12k x 12k Cholesky inverse."""
    data = SequenceTensors.from_sequences(read_sequence_file(shared / "data" / "Beauty.txt"))
    new, old = beauty_metrics(EASE(100.0).fit(data, "valid"), data, monkeypatch)
    assert new == EASE_BEAUTY_100
    assert {k: old[k] for k in ("HR@5", "NDCG@5", "HR@20", "NDCG@20")} == {
        "HR@5": 0.0457, "NDCG@5": 0.0298, "HR@20": 0.0969, "NDCG@20": 0.0443}


def test_no_user_to_rank_or_recommend_gives_empty_results_not_an_error():
    """Every evaluation path returns an empty [0] int64 tensor of ranks when no user has an input for the split
    (users with one item each), and recommend returns [0, k] for no users."""
    data = SequenceTensors.from_sequences(Sequences.from_lists([0, 1], [[1], [2]], n_items=3))
    assert len(eligible_users(data, "test")) == 0
    model = ELCRec(ModelConfig(n_items=3, hidden=8, n_heads=1, n_layers=1, max_len=4, n_intents=2))
    for ranks in (popularity_ranks(data, "test"), evaluate_ranks(model, data, "test"),
                  evaluate_recommender(MostPopular().fit(data, "test"), data, "test")):
        assert ranks.shape == (0,) and ranks.dtype == torch.long
    items, scores = recommend(MostPopular().fit(data, "test"), data, torch.zeros(0, dtype=torch.long), k=2)
    assert items.shape == scores.shape == (0, 2) and items.dtype == torch.long


def test_ease_settings_edges(monkeypatch):
    """Default lambda 100; float64 up to EASE_FLOAT64_ITEMS items inclusive; EASE up to EASE_MAX_ITEMS inclusive;
    tuning refuses no lambdas or one <= 0 with its own message, and keeps the first lambda on a tie."""
    data = tensors(random_lists(9, 30, 10), 10)
    assert EASE().lam == 100.0
    assert tune_ease(data, (100.0,), log=lambda _: None)[1] == {100.0: metrics_from_ranks(
        evaluate_recommender(EASE().fit(data, "valid"), data, "valid"))}
    monkeypatch.setattr(baselines, "EASE_FLOAT64_ITEMS", 10)
    assert EASE(1.0).fit(data, "valid").weights.dtype == torch.float64
    for lambdas in ((), (10.0, 0.0), (10.0, math.inf), (math.nan,)):
        message = rf"^EASE needs one or more finite lambdas > 0, not {re.escape(str(lambdas))}$"
        with pytest.raises(ValueError, match=message):
            tune_ease(data, lambdas)
    # very large lambdas rank by co-occurrence alone: the same valid NDCG@20, and the first of them is kept
    lines: list[str] = []
    best, table = tune_ease(data, (1e7, 1e8), log=lines.append)
    assert table[1e7]["NDCG@20"] == table[1e8]["NDCG@20"] and best.lam == 1e7
    assert lines[-1].endswith("; it is the grid's smallest: a smaller lambda may score higher")
    assert tune_ease(data, (1e8, 1e7), log=lines.append)[0].lam == 1e8
    assert lines[-1].endswith("; it is the grid's largest: a larger lambda may score higher")
    assert baselines._grid_end(100.0, (10.0, 100.0, 1000.0)) == baselines._grid_end(5.0, (5.0,)) == ""


def test_ease_gram_accepts_exactly_ease_max_items(monkeypatch):
    data = tensors(random_lists(9, 30, 10), 10)
    monkeypatch.setattr(baselines, "EASE_MAX_ITEMS", 10)
    assert baselines.ease_gram(data, "valid").shape == (10, 10)


def test_float32_tuning_keeps_the_gram_matrix_for_every_lambda(monkeypatch):
    """In float32 (large catalogues) each lambda's fit copies X^T X: every lambda's valid metrics equal a fit of
    its own."""
    monkeypatch.setattr(baselines, "EASE_FLOAT64_ITEMS", 5)
    data = tensors(random_lists(6, 70, 10, hi=10), 10)
    _, table = tune_ease(data, (0.5, 5.0, 50.0), log=lambda _: None)
    for lam, metrics in table.items():
        fresh = EASE(lam).fit(data, "valid")
        assert fresh.weights.dtype == torch.float32
        assert metrics == metrics_from_ranks(evaluate_recommender(fresh, data, "valid"))


def test_counts_matrices_and_scores_span_the_catalogue_when_its_last_item_and_user_are_unseen():
    """Item 12 and the last user's items never occur in the inputs: the counts, the interaction matrix (binary,
    float32) and every baseline's scores still have a column per item and a row per user."""
    lists = [[1, 2, 2, 3, 4], [3, 1, 5, 6], [2, 12, 7]]  # inputs (items[:-2]): [1, 2, 2], [3, 1], [2]
    data = tensors(lists, 12)
    assert input_counts(data, "valid").tolist() == [2, 3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    matrix = baselines.interaction_matrix(data, "valid")
    assert matrix.shape == (3, 12) and matrix.dtype == np.float32
    assert matrix.toarray().tolist()[0] == [1, 1] + [0] * 10  # items 1 and 2; 2 twice counts once
    users, history = torch.tensor([0]), torch.tensor([[1, 2]])
    for rec in (MostPopular(), ItemTransition(), EASE(10.0)):
        assert rec.fit(data, "valid").score(users, history).shape == (1, 12), rec.name


def test_a_recommender_whose_scores_have_the_wrong_shape_is_refused_by_name():
    """The scorer checks every group's scores against (users, catalogue) and names the recommender and both
    shapes."""

    class OneShort(MostPopular):
        def score(self, users: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
            return super().score(users, history)[:, :-1]

    data = tensors(random_lists(3, 12, 6, lo=3, hi=6), 6)
    rec = OneShort().fit(data, "valid")
    users = eligible_users(data, "test")
    with pytest.raises(ValueError) as refused:
        evaluate_recommender(rec, data, "test")
    assert str(refused.value) == (f"OneShort.score gave shape ({len(users)}, 5), not a real tensor of ({len(users)}, "
                                  "6)")
    with pytest.raises(ValueError, match=r"^OneShort.score gave shape \(1, 5\), not a real tensor of \(1, 6\)$"):
        recommend(rec, data, torch.tensor([0]))  # served lists too: it said nothing of the model

    class Counts(MostPopular):  # a count-based baseline's integer scores (helper-196: an overflow error)
        def score(self, users: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
            return (super().score(users, history) * 1000).round().long()

    counted = Counts().fit(data, "valid")
    popular = MostPopular().fit(data, "valid")
    assert torch.equal(evaluate_recommender(counted, data, "test"), evaluate_recommender(popular, data, "test"))
    assert recommend(counted, data, torch.tensor([0]), k=3)[1].dtype == torch.float64

    class Complex(MostPopular):  # its imaginary part was dropped with a warning alone (helper-226)
        def score(self, users: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
            return super().score(users, history).to(torch.complex64)

    with pytest.raises(ValueError) as refused:
        evaluate_recommender(Complex().fit(data, "valid"), data, "test")
    assert str(refused.value) == (f"Complex.score gave shape ({len(users)}, 6) of torch.complex64, not a real tensor "
                                  f"of ({len(users)}, 6)")


@pytest.mark.parametrize("n_items", [0, 5.0, -1, True])
def test_a_recommender_whose_n_items_is_no_count_is_refused_by_name(n_items):
    """n_items 0 gave torch's 'index -1 is out of bounds' in evaluation and ZeroDivisionError in recommend, 5.0 a
    TypeError (helper-226): the evaluator and the lists name the class and the field."""

    class Odd(MostPopular):
        def fit(self, data: SequenceTensors, split: str) -> "Odd":
            super().fit(data, split)
            self.n_items = n_items
            return self

    data = tensors(random_lists(3, 12, 6, lo=3, hi=6), 6)
    said = f"Odd.n_items, the number of items it scores, must be a whole number of 1 or more, not {n_items!r}"
    for use in (lambda rec: evaluate_recommender(rec, data, "test"),
                lambda rec: recommend(rec, data, torch.tensor([0]))):
        with pytest.raises(ValueError) as refused:
            use(Odd().fit(data, "valid"))
        assert str(refused.value) == said


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_equal_scores_in_half_precision_are_served_in_popularity_order(dtype):
    """A recommender of equal half-precision scores: the popularity tie-break (values 1/n apart) was cast to the
    scores' dtype and collapsed, so the lists were not most popular's and differed between users of the same scores
    (helper-226: [195, 855, 775, ...] and [855, 195, 1738, ...]). Now as in float32."""
    n_items = 3000
    rng = random.Random(4)
    lists = [[1 + int(rng.paretovariate(0.7)) % n_items for _ in range(6)] for _ in range(400)]
    data = tensors(lists, n_items)

    class Flat(MostPopular):
        def score(self, users: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
            return torch.zeros(len(users), self.n_items, dtype=dtype)

    popular = MostPopular().fit(data, "all")
    users = torch.arange(20)
    items, scores = recommend(Flat().fit(data, "all"), data, users, k=10)
    assert scores.dtype == torch.float32 and (scores == 0).all()
    assert torch.equal(items, recommend(popular, data, users, k=10)[0])
    assert torch.equal(evaluate_recommender(Flat().fit(data, "test"), data, "test"),
                       evaluate_recommender(_FlatFloat32().fit(data, "test"), data, "test"))


class _FlatFloat32(MostPopular):
    def score(self, users: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(users), self.n_items)


def test_ease_scores_every_row_of_a_large_batch_from_its_own_history():
    """EASE's score for a user with one history item i is row i - 1 of B, for every row of a batch of 16,384 users
    and 1,100 items: the (user, item) keys reach 1.8e7, past float32's exact integers (2^24), so the row and item
    are recovered from them in integer arithmetic."""
    n, users = 1_100, 16_384
    x = (torch.rand(300, n, generator=torch.Generator().manual_seed(0)) < 0.02).double()
    ease = EASE(10.0).fit_gram(x.T @ x)
    items = torch.arange(users) % n + 1
    items[-1] = n  # the last row with the last item: the largest key
    scores = ease.score(torch.arange(users), items[:, None])
    assert torch.equal(scores, ease.weights[items - 1])


def test_the_sasrec_ablation_keeps_the_candidates_loss_where_full_softmax_is_refused_for_the_catalogue() -> None:
    """Preset auto picks sampled softmax for a large catalogue; the ablation forced full softmax, which the settings
    refuse over 2^30 logits a batch: the challengers failed (and with them the day's gate) from about 84,000 items."""
    from elcrec_core.config.settings import MAX_CE_LOGITS, load_preset, merge_overrides

    exp = merge_overrides(load_preset("general"), {"max_len": 50}, {"rec_loss": "sampled_softmax", "batch_size": 256})
    too_many = MAX_CE_LOGITS // (256 * 50) + 1
    small, large = baselines.sasrec_config(exp, 1_000), baselines.sasrec_config(exp, too_many)
    assert (small.train.rec_loss, large.train.rec_loss, baselines.sasrec_config(exp).train.rec_loss) == (
        "ce", "sampled_softmax", "ce")
    assert large.model_config(too_many).n_items == too_many  # it trains
    assert (large.train.cf_weight, large.train.intent_cf_weight, large.train.trade_off) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="rec_loss 'ce' scores all"):
        small.model_config(too_many)


def test_ease_refuses_a_lambda_that_is_no_finite_number_above_zero() -> None:
    """EASE(inf) was taken, then failed in fit with a linear-algebra error; EASE('5') gave a bare TypeError
    (helper-193), where the grid's ease_lambdas refused both."""
    for lam in (float("inf"), float("nan"), 0.0, -1.0, "5", True):
        with pytest.raises(ValueError, match="^EASE's lambda must be a finite number > 0, not "):
            EASE(lam)
    assert EASE(50).lam == 50.0


@pytest.mark.parametrize("make", [MostPopular, ItemTransition, EASE, ItemKNN,
                                  lambda: SASRec(ExperimentConfig(model=dict(SMALL_MODEL)), "unused")])
def test_a_baseline_used_before_fit_says_so_by_name(make):
    """score, n_items and the evaluator before fit raise NotFitted naming the class and fit, where Python named only
    a private attribute (helper-216: 'MostPopular' object has no attribute '_scores'); after fit a missing attribute
    is a plain AttributeError, and an unfitted baseline still copies."""
    rec = make()
    name = type(rec).__name__
    data = tensors(random_lists(3, 12, 6, lo=3, hi=6), 6)
    for use in (lambda: rec.score(torch.tensor([0]), torch.tensor([[1, 2]])), lambda: rec.n_items,
                lambda: evaluate_recommender(rec, data, "test"), lambda: recommend(rec, data, torch.tensor([0]))):
        with pytest.raises(scoring.NotFitted, match=rf"^{name} is not fitted: call its fit\(data, split\) first, "):
            use()
    assert not hasattr(rec, "n_items") and type(copy.deepcopy(rec)) is type(rec)
    if name != "SASRec":  # it trains: its fitted behaviour is tested above
        rec.fit(data, "valid")
        assert rec.n_items == 6
        with pytest.raises(AttributeError) as missing:
            rec.no_such_attribute
        assert type(missing.value) is AttributeError and "not fitted" not in str(missing.value)


@pytest.mark.parametrize("kind", [*sorted(BASELINES), "elcrec"])
def test_every_recommender_refuses_score_inputs_outside_the_contract_naming_itself(kind):
    """Item -1 was scored as the last item by item transition; n_items + 1 raised an IndexError inside torch or
    scipy; a history with fewer rows than users gave EASE rows of zeros; float ids reached torch; and ELCRec raised
    an IndexError for a batch of no users (helper-247). Each is a ValueError naming the recommender, and no users
    get [0, n_items] scores."""
    data = tensors(random_lists(11, 30, 12, 3, 8), n_items=12)
    rec = (ELCRecRecommender(ELCRec(ModelConfig(n_items=12, hidden=8, max_len=6, n_intents=2))) if kind == "elcrec"
           else BASELINES[kind]().fit(data, "test"))
    name = type(rec).__name__
    users, history = torch.arange(2), torch.tensor([[0, 3, 5], [2, 4, 12]])
    assert rec.score(users, history).shape == (2, 12)
    for bad_users, bad_history, said in [
        (users, torch.tensor([[0, 3, -1], [2, 4, 5]]), "the history's item ids lie in -1..5, not within 0..12"),
        (users, torch.tensor([[0, 3, 13], [2, 4, 5]]), "the history's item ids lie in 0..13, not within 0..12"),
        (users, history[:1], "2 users but 1 rows of history (one per user)"),
        (users, history.float(), "history must be a 2-D tensor of integer ids, not a 2-D tensor of torch.float32"),
        (users, history[0], "history must be a 2-D tensor of integer ids, not a 1-D tensor of torch.int64"),
        ([0, 1], history, "users must be a 1-D tensor of integer ids, not list"),
    ]:
        with pytest.raises(ValueError, match=re.escape(f"{name}.score: {said}")):
            rec.score(bad_users, bad_history)
    assert rec.score(torch.zeros(0, dtype=torch.long), torch.zeros(0, 3, dtype=torch.long)).shape == (0, 12)


@pytest.mark.parametrize("kind", sorted(BASELINES))
def test_a_baseline_fitted_on_sequences_not_tensors_says_what_it_takes(kind):
    """read_sequence_parquet gives Sequences; fit read "'Sequences' object has no attribute 'ends'" (helper-247)."""
    seqs = Sequences.from_lists([0, 1], [[1, 2, 3], [2, 3, 1]], n_items=3)
    with pytest.raises(TypeError, match=re.escape("a baseline is fitted on SequenceTensors, not Sequences: give "
                                                  "SequenceTensors.from_sequences(seqs)")):
        rec = BASELINES[kind]()
        rec.fit(seqs, "valid")
    with pytest.raises(NotFitted, match=f"{type(rec).__name__} is not fitted"):  # most_popular set n_items first
        rec.score(torch.zeros(1, dtype=torch.long), torch.ones(1, 2, dtype=torch.long))


def test_the_ease_choice_shows_six_decimals_where_another_lambda_reads_the_same(monkeypatch):
    """Valid NDCG@20 0.019218 at λ 200 against 0.019173 and 0.019190: each line read 0.0192, the choice unexplained
    (helper-246)."""
    figures = iter([0.01917275, 0.01919008, 0.01921782, 0.5])
    monkeypatch.setattr(baselines, "recommender_metrics", lambda *args: {"NDCG@20": next(figures), "HR@20": 0.0})
    data = tensors(random_lists(10, 40, 12), 12)
    lines: list[str] = []
    tune_ease(data, (50.0, 100.0, 200.0), log=lines.append)
    assert lines[-1].startswith("ease: chose lambda 200 (best valid NDCG@20 0.019218, against 0.019173 (lambda 50), "
                                "0.019190 (lambda 100))")
    lines.clear()
    tune_ease(data, (100.0,), log=lines.append)
    assert lines[-1] == "ease: chose lambda 100 (best valid NDCG@20 0.5000)"
