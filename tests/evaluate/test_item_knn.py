"""Item-kNN, EASE's stand-in for large catalogues: cosine neighbours against a hand example and a brute force,
tuned on valid only, and in the comparisons and the model store's challengers beyond EASE's item limit."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import elcrec_core.evaluate.baselines as baselines
import elcrec_core.evaluate.item_knn as item_knn
from elcrec_core.data.sequences import Sequences
from elcrec_core.evaluate.item_knn import ItemKNN, nearest_items, tune_item_knn
from elcrec_core.evaluate.ranking import metrics_from_ranks
from elcrec_core.evaluate.scoring import evaluate_recommender
from elcrec_core.serve.model_store import ModelRecord, ModelStore
from elcrec_core.serve.recommenders import load_recommender
from tests.evaluate.test_baselines import brute_force_ranks, popularity_tie_break, random_lists, tensors


def test_hand_example():
    """Users {1, 2, 3}, {1, 2}, {2, 4}, item 5 unseen: cos(1, 2) = 2 / sqrt(2 * 3), cos(1, 3) = 1 / sqrt(2),
    cos(2, 3) = cos(2, 4) = 1 / sqrt(3); each row most similar first, the tie of item 2 broken by the lower item."""
    data = tensors([[1, 2, 3], [1, 2], [2, 4]], 5)
    neighbours = nearest_items(data, "all", 10)
    rows = [(list(neighbours.indices[a:b] + 1), list(neighbours.data[a:b]))
            for a, b in zip(neighbours.indptr[:-1], neighbours.indptr[1:])]
    s6, s2, s3 = 2 / math.sqrt(6), 1 / math.sqrt(2), 1 / math.sqrt(3)
    expected = [([2, 3], [s6, s2]), ([1, 3, 4], [s6, s3, s3]), ([1, 2], [s2, s3]), ([2], [s3]), ([], [])]
    assert [items for items, _ in rows] == [items for items, _ in expected]
    assert all(np.allclose(sims, want) for (_, sims), (_, want) in zip(rows, expected))
    # k = 1: item 2 keeps item 1 only; a history of items 2 and 3 scores item 1 by cos(2, 1) + cos(3, 1)
    knn = ItemKNN(1).fit(data, "all")
    assert knn.weights.nnz == 4
    scores = knn.score(torch.zeros(1, dtype=torch.long), torch.tensor([[0, 2, 3, 3]])).numpy()[0]
    # the others are near neither: most popular's order below 0 (items 2, 1, 3, 4, 5: (5 - place) / 6 - 1)
    assert np.allclose(scores, [s6 + s2, 5 / 6 - 1, 3 / 6 - 1, 2 / 6 - 1, 1 / 6 - 1], rtol=0, atol=1e-6)
    assert scores[0] > s6 + s2 - 1e-6 and len(set(scores.tolist())) == 5
    for k in (0, 2.5, True):
        with pytest.raises(ValueError, match=rf"^item-kNN's k, its number of neighbours, must be a whole number of 1 "
                                             rf"or more, not {k!r}$"):
            ItemKNN(k)
    with pytest.raises(ValueError, match="shrink must be finite and >= 0"):
        ItemKNN(5, math.inf)


def cosine_top_k_scores(lists: list[list[int]], n_items: int, drop: int, k: int, shrink: float):
    """A per-item brute force of item-kNN on the users' inputs (items before the target); an item near no item
    of the history scores its popularity tie-break - 1."""
    users = [set(seq[: len(seq) - drop - 1]) for seq in lists]
    holders = {i: {u for u, items in enumerate(users) if i in items} for i in range(1, n_items + 1)}
    nearest = {}
    for i in range(1, n_items + 1):
        sims = [(len(holders[i] & holders[j]) / (math.sqrt(len(holders[i]) * len(holders[j])) + shrink), j)
                for j in range(1, n_items + 1) if j != i and holders[i] & holders[j]]
        nearest[i] = dict((j, s) for s, j in sorted(sims, key=lambda sj: (-sj[0], sj[1]))[:k])

    not_near = {j: value - 1 for j, value in popularity_tie_break(lists, n_items, drop).items()}

    def score(history: list[int]) -> dict[int, float]:
        sums = {j: sum(nearest[i].get(j, 0.0) for i in set(history)) for j in range(1, n_items + 1)}
        return {j: round(total if total > 0 else not_near[j], 5) for j, total in sums.items()}
    return score


class Rounded(ItemKNN):
    """Scores to 5 decimals, as the brute force's: float32 sums keep exact ties ties."""

    def score(self, users, history):
        return super().score(users, history).double().round(decimals=5)


@pytest.mark.parametrize(("k", "shrink"), [(1, 0.0), (3, 0.0), (3, 2.5), (50, 10.0)])
def test_item_knn_matches_brute_force(monkeypatch, k, shrink):
    """Every split's ranks as a per-item brute force gives them (scores to 5 decimals), computed in one block or in
    blocks of 7 co-occurrences."""
    lists = random_lists(8, 60, 25, hi=12)
    data = tensors(lists, 25)
    for pairs in (1 << 24, 7):
        monkeypatch.setattr(item_knn, "ITEM_KNN_BLOCK_PAIRS", pairs)
        for split, drop in (("valid", 1), ("test", 0)):
            ranks = evaluate_recommender(Rounded(k, shrink).fit(data, split), data, split).tolist()
            users = [seq for seq in lists if len(seq) >= 2 + drop]
            expected = brute_force_ranks(users, drop, cosine_top_k_scores(lists, 25, drop, k, shrink))
            assert ranks == expected, (pairs, split)


def test_item_knn_tuned_on_valid_only():
    data = tensors(random_lists(6, 70, 10, hi=10), 10)
    lines: list[str] = []
    best, table = tune_item_knn(data, (1, 3, 9), (0.0, 5.0), log=lines.append)
    assert list(table) == [(1, 0.0), (3, 0.0), (9, 0.0), (1, 5.0), (3, 5.0), (9, 5.0)]
    for (k, shrink), metrics in table.items():
        fitted = ItemKNN(k, shrink).fit(data, "valid")
        assert metrics == metrics_from_ranks(evaluate_recommender(fitted, data, "valid"))
    chosen = max(table, key=lambda setting: table[setting]["NDCG@20"])  # the first of the best
    assert (best.k, best.shrink) == chosen
    assert lines[-1] == (f"item_knn: chose k {best.k}, shrink {best.shrink:g} (best valid NDCG@20 "
                         f"{table[chosen]['NDCG@20']:.4f})")
    with pytest.raises(ValueError, match="must be a whole number of 1 or more, not 0$"):
        tune_item_knn(data, (3, 0))
    with pytest.raises(ValueError, match="shrink must be finite and >= 0"):
        tune_item_knn(data, (3,), (1.0, -1.0))
    with pytest.raises(ValueError, match="none of the 3 users has the 3 items it needs"):
        tune_item_knn(tensors([[1, 2], [2, 3], [3, 1]], 10), log=lambda _: None)


def test_compare_takes_item_knn_for_ease_beyond_its_item_limit(monkeypatch):
    data = tensors(random_lists(10, 40, 12), 12)
    monkeypatch.setattr(baselines, "EASE_MAX_ITEMS", 11)
    lines: list[str] = []
    results = baselines.compare(data, log=lines.append)
    assert list(results) == ["most_popular", "transition", "item_knn"]
    best, _ = tune_item_knn(data, log=lambda _: None)
    assert results["item_knn"] == metrics_from_ranks(evaluate_recommender(best, data, "test"))
    assert "ease: left out (12 items; EASE is limited to 11): item_knn stands in" in lines
    # no user with a valid target to tune k on: left out, the others' figures stand
    lines.clear()
    assert list(baselines.compare(tensors([[1, 2], [2, 3], [3, 1]], 12), log=lines.append)) == [
        "most_popular", "transition"]
    assert ("item_knn: left out (tuned on the valid split, and none of the 3 users has the 3 items it needs)"
            in lines)


def test_item_knn_is_a_challenger_beyond_eases_limit_and_refits_with_its_k(tmp_path, monkeypatch):
    import elcrec_core.serve.challengers as challengers

    monkeypatch.setattr(baselines, "EASE_MAX_ITEMS", 8)
    store = ModelStore(tmp_path)
    lists = [[1 + (u * 3 + i * (1 + u % 4)) % 9 for i in range(7)] for u in range(40)]
    seqs = Sequences.from_lists(list(range(40)), lists, n_items=9)
    folder = store.run_dir("2026-02-01", "r1")
    folder.mkdir(parents=True)
    candidate = ModelRecord(day="2026-02-01", run_id="r1", dir=store.relative(folder), valid={"NDCG@20": 0.1})
    store.add_candidate(candidate, {"history": [{"epoch": 0}]})
    records = challengers.fit_challengers(store, candidate, seqs, sasrec=False, log=lambda _: None)
    assert [r.kind for r in records] == ["most_popular", "transition", "item_knn"]
    knn = records[-1]
    data = tensors(lists, 9)
    best, table = tune_item_knn(data, log=lambda _: None)
    assert knn.params == {"k": best.k, "shrink": best.shrink} and knn.valid == table[best.k, best.shrink]
    refitted = load_recommender(store, knn, data, "valid")
    assert isinstance(refitted, ItemKNN) and (refitted.k, refitted.shrink) == (best.k, best.shrink)
    assert (refitted.weights != best.weights).nnz == 0
