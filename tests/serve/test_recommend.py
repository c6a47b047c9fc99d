"""Top-K recommendations: the history is never recommended, and a large catalogue's smaller user batches give
the same lists."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import elcrec_core.serve.recommend as recommend_module
from elcrec_core.config.settings import ModelConfig
from elcrec_core.data.sequences import Sequences, SequenceTensors
from elcrec_core.evaluate.baselines import ItemTransition, MostPopular
from elcrec_core.evaluate.scoring import ELCRecRecommender
from elcrec_core.intents.profiles import assign_user_intents
from elcrec_core.model.elcrec import ELCRec
from elcrec_core.serve.recommend import recommend


def test_recommend_excludes_the_history_and_batches_by_the_score_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    model = ELCRec(ModelConfig(n_items=40, hidden=16, n_heads=2, n_layers=1, max_len=6, n_intents=4))
    with torch.no_grad():
        model.item_emb.weight.normal_(0, 1.0)  # spread the scores so that no near-tie decides an order
    g = torch.Generator().manual_seed(1)
    lists = [torch.randint(1, 41, (n,), generator=g).tolist() for n in (1, 3, 8, 12, 2, 5, 9)]
    data = SequenceTensors.from_sequences(Sequences.from_lists(list(range(7)), lists, n_items=40))
    users = torch.arange(7)
    items, scores = recommend(ELCRecRecommender(model), data, users, k=10)
    for row, history in zip(items.tolist(), lists):
        assert len(set(row)) == 10 and not set(row) & set(history)
    batches = []
    model.register_forward_hook(lambda _module, args, _out: batches.append(len(args[0])))
    monkeypatch.setattr(recommend_module, "MAX_SCORE_ELEMENTS", 2 * 40)  # two users' scores per batch
    small_items, small_scores = recommend(ELCRecRecommender(model), data, users, k=10)
    assert batches == [2, 2, 2, 1]
    assert torch.equal(small_items, items)
    assert torch.allclose(small_scores, scores)


def test_recommend_refuses_a_user_outside_the_data_and_k_below_one() -> None:
    """User -1 got the last user's list (torch reads a negative index from the end), and k 0 or -1 empty lists,
    without a word (helper-177)."""
    data = SequenceTensors.from_sequences(Sequences.from_lists(["a", "b"], [[1, 2], [2, 3]], n_items=4))
    popular = MostPopular().fit(data, "all")
    for users, wrong in ((torch.tensor([0, -1]), -1), (torch.tensor([2]), 2)):
        with pytest.raises(ValueError, match=f"users are row indices of the data, 0 to 1: not {wrong}$"):
            recommend(popular, data, users)
    for k in (0, -1, 2.5, "10", True, None):  # no whole number: torch's or Python's TypeError; true was 1
        with pytest.raises(ValueError, match=f"^k, the number of items to recommend, must be a whole number of 1 "
                                             rf"or more, not {re.escape(repr(k))}$"):
            recommend(popular, data, torch.tensor([0]), k=k)
    assert recommend(popular, data, torch.tensor([1]), k=np.int64(1))[0].tolist() == [[1]]
    assert recommend(popular, data, torch.tensor([1]), k=1)[0].tolist() == [[1]]
    # users of another kind, a batch of no users, an intent of a row outside (helper-193: TypeError, IndexError,
    # RuntimeError or torch's split, none naming the argument); k beyond the catalogue: the catalogue
    for users, shown in (([0], "list"), (torch.tensor([0.0]), "a 1-D torch.float32 tensor"),
                         (torch.tensor([True]), "a 1-D torch.bool tensor"),
                         (torch.tensor([1, 0], dtype=torch.uint8), "a 1-D torch.uint8 tensor"),  # torch's mask
                         (torch.tensor([1], dtype=torch.int16), "a 1-D torch.int16 tensor"),  # IndexError (helper-202)
                         (torch.tensor([[0]]), "a 2-D torch.int64 tensor")):
        with pytest.raises(ValueError, match=rf"^users are a 1-D tensor of row indices \(torch.long\), not {shown}$"):
            recommend(popular, data, users)
    for size in (0, 2.5):
        with pytest.raises(ValueError, match=rf"^batch_size, the users of a batch, must be a whole number of 1 or "
                                             rf"more, not {size}$"):
            recommend(popular, data, torch.tensor([0]), batch_size=size)
    assert recommend(popular, data, torch.tensor([0, 1], dtype=torch.int32), k=9)[0].shape == (2, 4)
    model = ELCRec(ModelConfig(n_items=4, hidden=8, n_heads=1, n_layers=1, max_len=3, n_intents=2))
    with pytest.raises(ValueError, match="^users are row indices of the data, 0 to 1: not 5$"):
        assign_user_intents(model, Sequences.from_lists(["a", "b"], [[1, 2], [2, 3]], n_items=4), torch.tensor([5]))


def test_recommend_ranks_the_model_scores_of_the_last_max_len_items() -> None:
    """The right lists, not only consistent ones: each user's top 5 are the best-scoring unseen items under
    user_representation(the last max_len = 4 items) @ item_table, with those scores."""
    torch.manual_seed(3)
    model = ELCRec(ModelConfig(n_items=30, hidden=16, n_heads=2, n_layers=1, max_len=4, n_intents=4)).eval()
    with torch.no_grad():
        model.item_emb.weight.normal_(0, 1.0)
    lists = [[1, 2, 3, 4, 5, 6, 7], [8, 9], [10, 11, 12, 13, 14, 15]]
    data = SequenceTensors.from_sequences(Sequences.from_lists([0, 1, 2], lists, n_items=30))
    items, scores = recommend(ELCRecRecommender(model), data, torch.arange(3), k=5)
    for row, history in enumerate(lists):
        recent = torch.tensor([([0] * 4 + history)[-4:]])
        with torch.no_grad():
            expected = (model.user_representation(recent) @ model.item_table().T)[0]
        expected[torch.tensor(history) - 1] = float("-inf")
        best = expected.topk(5)
        assert items[row].tolist() == (best.indices + 1).tolist()
        assert torch.allclose(scores[row], best.values)


def test_recommend_serves_a_baseline_fitted_on_every_item() -> None:
    """A baseline serves through the same path: most popular fitted on all items recommends the most frequent
    unseen items (the last items count: fitted on ``all``), item transition the successors of the last item."""
    lists = [[1, 2, 3], [1, 2, 4], [2, 4], [5, 4]]
    data = SequenceTensors.from_sequences(Sequences.from_lists([0, 1, 2, 3], lists, n_items=6))
    items, scores = recommend(MostPopular().fit(data, "all"), data, torch.tensor([3]), k=3)
    assert items[0].tolist() == [2, 1, 3]  # 4 and 5 are its history
    assert scores[0].floor().tolist() == [3.0, 2.0, 1.0]  # the counts; the fractions order equal counts
    items, _ = recommend(ItemTransition().fit(data, "all"), data, torch.tensor([0]), k=2)
    assert items[0].tolist() == [4, 5]  # after 3 nothing follows: popularity breaks the tie (4: 3 times, 5: once)


class _Fixed:
    """A recommender with given scores ([n_items] row) for every user, or per user ({user: row})."""

    def __init__(self, row: list[float] | dict[int, list[float]]) -> None:
        self.rows = {u: torch.tensor(r, dtype=torch.float64) for u, r in row.items()} if isinstance(row, dict) else None
        self.row = None if self.rows else torch.tensor(row, dtype=torch.float64)
        self.n_items = len(next(iter(row.values())) if isinstance(row, dict) else row)

    def score(self, users: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        if self.rows:
            return torch.stack([self.rows[int(u)] for u in users])
        return self.row.expand(len(users), -1).clone()


def test_equal_scores_serve_the_most_popular_items_and_a_nan_never_takes_a_slot() -> None:
    """Item popularity in the data (every item): 4 x3, 2 x2, 5 x2, 1, 3 and 6 once. Ties at one score go to the
    more popular item, then the lower index; a NaN ranks below every finite score; the history is left out."""
    lists = [[4, 2, 5], [4, 2, 5], [4, 1, 3], [6]]
    data = SequenceTensors.from_sequences(Sequences.from_lists([0, 1, 2, 3], lists, n_items=6))
    items, scores = recommend(_Fixed([0.0] * 6), data, torch.tensor([3]), k=5)  # EASE for an item nobody shares
    assert items[0].tolist() == [4, 2, 5, 1, 3] and scores[0].tolist() == [0.0] * 5
    items, scores = recommend(_Fixed([0.5, 0.0, 0.0, float("nan"), 0.0, 0.0]), data, torch.tensor([3]), k=5)
    assert items[0].tolist() == [1, 2, 5, 3, 4] and scores[0, :4].tolist() == [0.5, 0.0, 0.0, 0.0]
    assert scores[0, 4] == float("-inf")  # the NaN item comes last, and the caller drops it
    items, scores = recommend(_Fixed([0.1, 0.3, 0.3, 0.2, 0.3, 0.3]), data, torch.tensor([2]), k=2)
    assert items[0].tolist() == [2, 5] and scores[0].tolist() == [0.3, 0.3]  # 1, 3 and 4 are its history
    # in one batch, a row without ties (one topk) beside a row with them (the tie-break)
    per_user = _Fixed({0: [0.9, 0.1, 0.8, 0.4, 0.2, 0.7], 3: [0.0] * 6})
    items, scores = recommend(per_user, data, torch.tensor([0, 3]), k=3)
    assert items.tolist() == [[1, 3, 6], [4, 2, 5]] and scores[0].tolist() == [0.9, 0.8, 0.7]


def test_an_infinite_score_is_no_score_and_leaves_no_gap_in_the_ranks() -> None:
    """+inf came first and was then dropped as not finite: rank 1 empty, k - 1 items; a -inf became the lowest finite
    float, and was served. Both now count as -inf, as NaN does, and the served ranks are the finite scores, best
    first. Ties follow ``popularity`` when given."""
    lists = [[4, 2, 5], [4, 2, 5], [4, 1, 3], [6]]
    data = SequenceTensors.from_sequences(Sequences.from_lists([0, 1, 2, 3], lists, n_items=6))
    items, scores = recommend(_Fixed([0.5, float("inf"), 0.2, float("-inf"), 0.1, 0.0]), data, torch.tensor([3]), k=4)
    assert items[0].tolist() == [1, 3, 5, 4] and scores[0].tolist() == [0.5, 0.2, 0.1, float("-inf")]  # 4: x3
    other = SequenceTensors.from_sequences(Sequences.from_lists([0], [[6, 6, 3]], n_items=6))
    items, _ = recommend(_Fixed([0.0] * 6), data, torch.tensor([0]), k=3, popularity=other)
    assert items[0].tolist() == [6, 3, 1]  # 6 twice, 3 once in ``other``; 2, 4 and 5 are the user's history


def test_missing_recommendations_count_the_slots_lost_to_non_finite_scores_only() -> None:
    """6 items, k = 4. User 0 saw 1, 2, 3 (item 2 twice): 3 unseen items fill 3 slots, none missing. User 1 saw
    item 6: 5 unseen, 4 slots; its NaN for item 1 leaves 4 finite, none missing. User 2 saw 1-4: 2 unseen (5, 6), a NaN
    for 5 leaves 1: one missing. User 3 saw nothing the model knows (item 9 is past its catalogue): every score
    infinite, 4 missing. User 4 saw every item: nothing to fill, none missing. User 5 has no item: its NaN scores
    lose all 4. Read one user at a time, the same counts."""
    lists = [[1, 2, 3, 2], [6], [1, 2, 3, 4], [9], [1, 2, 3, 4, 5, 6], []]
    data = SequenceTensors.from_sequences(Sequences.from_lists(list(range(6)), lists, n_items=9))
    nan, inf = float("nan"), float("inf")
    finite = [0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
    fixed = _Fixed({0: finite, 1: [nan, *finite[1:]], 2: [*finite[:4], nan, 0.1], 3: [inf] * 6, 4: finite,
                    5: [nan] * 6})
    users = torch.arange(6)
    _, scores = recommend(fixed, data, users, k=4)
    assert torch.isfinite(scores).sum(1).tolist() == [3, 4, 1, 0, 0, 0]
    missing = recommend_module.missing_recommendations
    assert missing(scores, data, users, 6).tolist() == [0, 0, 1, 4, 0, 4]
    assert missing(scores, data, users, 6, batch_size=1).tolist() == [0, 0, 1, 4, 0, 4]
    assert missing(scores[[2, 5]], data, users[[2, 5]], 6).tolist() == [1, 4]


def _served(items: torch.Tensor, scores: torch.Tensor) -> list[list[int]]:
    """Each user's items with a finite score, as user_recommendations keeps them."""
    return [row[ok].tolist() for row, ok in zip(items, torch.isfinite(scores))]


def test_items_the_user_has_seen_outside_the_sequences_are_never_recommended() -> None:
    """6 items, k = 3, scores 6 > 5 > ... > 1 for items 1..6. User 0's sequence holds item 1, and ``seen`` (every
    item of its events: the sequences' filters dropped 2 and 3) items 1, 2, 3: it gets 4, 5, 6, not 2, 3, 4.
    User 1 has seen every item but 6 (only 5 in its sequence): one item, 6, and no slot counted missing. User 2 has
    no row of its own in ``seen`` beyond its sequence: 2, 3, 4 after its item 1."""
    lists = [[1], [5], [1]]
    data = SequenceTensors.from_sequences(Sequences.from_lists([0, 1, 2], lists, n_items=6))
    seen = SequenceTensors.from_sequences(Sequences.from_lists([0, 1, 2], [[1, 2, 3], [1, 2, 3, 4, 5], []],
                                                               n_items=6))
    fixed = _Fixed([6.0, 5.0, 4.0, 3.0, 2.0, 1.0])
    users = torch.arange(3)
    items, scores = recommend(fixed, data, users, k=3, seen=seen)
    assert _served(items, scores) == [[4, 5, 6], [6], [2, 3, 4]]
    missing = recommend_module.missing_recommendations
    assert missing(scores, data, users, 6, seen=seen).tolist() == [0, 0, 0]
    assert missing(scores, data, users, 6).tolist() == [0, 2, 0]  # without seen, user 1 seems short of 2
    assert recommend(fixed, data, users, k=3)[0].tolist()[0] == [2, 3, 4]  # without seen: the old lists


def test_only_the_items_on_offer_are_recommended_and_fewer_of_them_are_no_missing_slots() -> None:
    """A marketplace's expired listings kept being recommended (a trial of 12-06: 14% of the rows). With
    ``candidates`` (items 2, 4, 5, 6 on offer), user 0 (item 1 seen) gets 2, 4, 5, not 3; user 1, who has seen 2, 4
    and 5, gets 6 alone, and no slot counts missing: nothing else is on offer. A NaN for an item on offer still
    counts (user 2)."""
    lists = [[1], [2, 4, 5], [1]]
    data = SequenceTensors.from_sequences(Sequences.from_lists([0, 1, 2], lists, n_items=6))
    offer = torch.tensor([False, True, False, True, True, True])
    fixed = _Fixed({0: [6.0, 5.0, 4.0, 3.0, 2.0, 1.0], 1: [6.0, 5.0, 4.0, 3.0, 2.0, 1.0],
                    2: [6.0, float("nan"), 4.0, 3.0, 2.0, 1.0]})
    users = torch.arange(3)
    items, scores = recommend(fixed, data, users, k=3, candidates=offer)
    assert _served(items, scores) == [[2, 4, 5], [6], [4, 5, 6]]
    missing = recommend_module.missing_recommendations
    assert missing(scores, data, users, 6, candidates=offer).tolist() == [0, 0, 0]
    items, scores = recommend(fixed, data, users, k=4, candidates=offer)  # user 2: 4 on offer, 3 finite
    assert missing(scores, data, users, 6, candidates=offer).tolist() == [0, 0, 1]
    assert missing(scores, data, users, 6).tolist() == [0, 2, 1]  # without candidates, user 1 seems short of two
    # a 0/1 or float mask, and a seen of fewer rows than the data, failed inside torch (helper-247)
    for mask, dtype in ((offer.long(), "torch.int64"), (offer.float(), "torch.float32")):
        with pytest.raises(ValueError, match=re.escape(f"candidates must be a bool tensor (True: the item may be "
                                                       f"recommended), not {dtype}")):
            recommend(fixed, data, users, k=3, candidates=mask)
    # a mask of another shape read "holds 6 items, the recommender scores 6" (a column), or a TypeError (one bool);
    # missing_recommendations, which takes the same mask, failed inside torch
    for mask, shape in ((offer[:, None], "(6, 1)"), (offer[None], "(1, 6)"), (torch.tensor(True), "()"),
                        (offer[:5], "(5,)")):
        said = re.escape(f"candidates must hold one flag per item, shape (6,) for the 6 items the recommender "
                         f"scores, not {shape}")
        with pytest.raises(ValueError, match=said):
            recommend(fixed, data, users, k=3, candidates=mask)
        with pytest.raises(ValueError, match=said):
            missing(scores, data, users, 6, candidates=mask)
    seen = SequenceTensors.from_sequences(Sequences.from_lists([0, 1], [[1], [2]], n_items=6))
    with pytest.raises(ValueError, match=re.escape("seen has 2 rows, the data 3: it holds a row per user of the "
                                                   "data, in its order")):
        recommend(fixed, data, torch.tensor([2]), k=3, seen=seen)


def test_the_days_lists_break_ties_by_the_popularity_of_the_fitted_sequences_alone() -> None:
    """The short histories of the users the k-core removed (item 6, three times) changed the lists of the users
    with a sequence: EASE gives 0 to every item that shares no user with the history, and their popularity broke
    those ties. No model learns from them: the sequences' popularity breaks ties (items 3 and 4 twice, 5 and 6
    once each)."""
    from elcrec_core.evaluate.baselines import EASE
    from elcrec_core.serve.recommend import recommend_day

    fitted = Sequences.from_lists(list("abcde"), [[1, 2], [1, 2], [3, 4], [3, 4], [5, 6]], n_items=6)
    short = Sequences.from_lists(list("xyz"), [[6], [6], [6]], n_items=6)
    ease = EASE(lam=100.0).fit(SequenceTensors.from_sequences(fitted), "all")
    items, scores, missing, non_finite = recommend_day(ease, fitted, short, k=3)
    assert items[0].tolist() == [3, 4, 5] and scores[0].tolist() == [0.0, 0.0, 0.0]  # user a: every score 0
    assert items[5][0].item() == 5 and missing.tolist() == non_finite.tolist() == [0] * 8  # x: 5, 6's neighbour


def test_baseline_params_are_those_that_refit_each_baseline_and_none_are_guessed(monkeypatch) -> None:
    """A baseline that baseline_params did not know got {}: refitted to serve with its defaults, not the settings the
    gate measured (helper-196). A subclass of item-kNN or EASE got its parent's settings alone, and a new kind left
    out of BASELINES was fitted, promoted, and then could not be refitted to serve (helper-211): both refused."""
    from elcrec_core.evaluate.baselines import EASE
    from elcrec_core.evaluate.item_knn import ItemKNN
    from elcrec_core.serve import recommenders
    from elcrec_core.serve.recommenders import baseline_params

    assert [baseline_params(rec) for rec in (MostPopular(), ItemTransition(), EASE(50.0), ItemKNN(k=20, shrink=5.0))] \
        == [{}, {}, {"lam": 50.0}, {"k": 20, "shrink": 5.0}]

    class AsymKNN(ItemKNN):
        def __init__(self, alpha: float = 0.5) -> None:
            super().__init__()
            self.alpha = alpha

    class RecentPopular(MostPopular):
        name = "recent_popular"

        def __init__(self, window: int = 5) -> None:
            super().__init__()
            self.window = window

    with pytest.raises(ValueError, match="^AsymKNN \\(kind 'item_knn'\\) is not the class of its kind in serve.rec"):
        baseline_params(AsymKNN(0.9))
    with pytest.raises(ValueError, match="^RecentPopular \\(kind 'recent_popular'\\) is not the class of its kind in "
                                         "serve.recommenders.BASELINES, which refits a baseline to serve: register"):
        baseline_params(RecentPopular())
    monkeypatch.setitem(recommenders.BASELINES, "recent_popular", RecentPopular)  # registered, its settings not named
    with pytest.raises(ValueError, match="^baseline_params knows no settings of RecentPopular: name those that"):
        baseline_params(RecentPopular())
