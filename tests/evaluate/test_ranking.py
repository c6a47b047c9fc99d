"""Full-ranking evaluation: metrics, the tie and history rules, chunking, and the end-to-end evaluator."""

from __future__ import annotations

import math

import pytest
import torch

import elcrec_core.evaluate.ranking as evaluation
from elcrec_core.config.settings import ModelConfig
from elcrec_core.data.sequences import Sequences, SequenceTensors
from elcrec_core.evaluate.popularity import popularity_ranks
from elcrec_core.evaluate.ranking import (
    MISS_RANK,
    NonFiniteScores,
    eligible_users,
    evaluate,
    evaluate_ranks,
    metrics_from_ranks,
    rank_score_matrix,
    rank_scores,
)
from elcrec_core.evaluate.scoring import ELCRecRecommender, evaluate_recommender
from elcrec_core.model.elcrec import ELCRec


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def brute_force_rank(user_vec: torch.Tensor, table: torch.Tensor, target: int, history: list[int]) -> int:
    """Number of other items outside the history scoring at least as high as the target, or NaN; MISS_RANK if
    the target is in the history or its score is not finite."""
    n_items = table.shape[0]
    if target in history:
        return MISS_RANK
    scores = (table * user_vec).sum(-1).tolist()
    target_score = scores[target - 1]
    if not math.isfinite(target_score):
        return MISS_RANK
    return sum(1 for i in range(1, n_items + 1) if i != target and i not in history
               and (scores[i - 1] >= target_score or math.isnan(scores[i - 1])))


# ------------------------------------------------------------------------------------------ metrics
def test_metrics_from_ranks_hand_values() -> None:
    ranks = torch.tensor([0, 4, 5, 19, 20, 100])
    m = metrics_from_ranks(ranks)
    assert set(m) == {"HR@5", "NDCG@5", "HR@10", "NDCG@10", "HR@20", "NDCG@20"}
    inv = [1 / math.log2(r + 2) for r in (0, 4, 5, 19)]  # 1, 1/log2(6), 1/log2(7), 1/log2(21)
    assert m["HR@5"] == pytest.approx(2 / 6)
    assert m["NDCG@5"] == pytest.approx((1 / math.log2(2) + 1 / math.log2(6)) / 6)
    assert m["HR@10"] == pytest.approx(3 / 6)
    assert m["NDCG@10"] == pytest.approx(sum(inv[:3]) / 6)
    assert m["HR@20"] == pytest.approx(4 / 6)
    assert m["NDCG@20"] == pytest.approx(sum(inv) / 6)
    assert metrics_from_ranks(ranks, ks=(1,)) == pytest.approx({"HR@1": 1 / 6, "NDCG@1": 1 / 6})


# ------------------------------------------------------------------------------------------ rank_scores
def test_rank_scores_hand_example() -> None:
    """Items 1..5 = [1,0], [3,1], [2,2], [2,-1], [5,0].

    u=[1,0]: scores 1,3,2,2,5. Target 3 (2), history {5}: item 2 (3) is above and item 4 ties (2): ties count
        against the target; item 5 (5) is history -> rank 2.
    u=[0,1]: scores 0,1,2,-1,0. Target 2 (1), history {3}: item 3 is above but in the history -> rank 0.
    u=[1,1]: target 4 is in the history {4, 1} -> a miss, MISS_RANK.
    u=[1,0]: target 1 (1), no history: items 2, 3, 4, 5 are above -> rank 4.
    """
    table = torch.tensor([[1.0, 0.0], [3.0, 1.0], [2.0, 2.0], [2.0, -1.0], [5.0, 0.0]])
    users = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
    targets = torch.tensor([3, 2, 4, 1])
    history = torch.tensor([[5, 0, 0], [0, 3, 0], [4, 1, 0], [0, 0, 0]])
    assert rank_scores(users, table, targets, history).tolist() == [2, 0, MISS_RANK, 4]


@pytest.mark.parametrize("max_elements", [3, 7, 40, 1 << 25])
def test_rank_scores_chunked_matches_brute_force(monkeypatch: pytest.MonkeyPatch, max_elements: int) -> None:
    """Integer embeddings make ties frequent and every score exact, so ranks must agree exactly."""
    monkeypatch.setattr(evaluation, "_RANK_GROUP_ELEMENTS", max_elements)
    monkeypatch.setattr(evaluation, "_MIN_RANK_GROUP_USERS", 1)
    g = _gen(0)
    n_users, n_items = 6, 23
    table = torch.randint(-2, 3, (n_items, 4), generator=g).float()
    users = torch.randint(-2, 3, (n_users, 4), generator=g).float()
    targets = torch.randint(1, n_items + 1, (n_users,), generator=g)
    history = torch.randint(0, n_items + 1, (n_users, 5), generator=g)
    history[0, 2] = targets[0]  # one target inside its history
    expected = [
        brute_force_rank(users[u], table, int(targets[u]), [h for h in history[u].tolist() if h])
        for u in range(n_users)
    ]
    assert expected[0] == MISS_RANK
    assert rank_scores(users, table, targets, history).tolist() == expected


# ------------------------------------------------------------------------------------------ end to end
def _small_model() -> ELCRec:
    torch.manual_seed(0)
    model = ELCRec(ModelConfig(n_items=30, hidden=16, n_heads=2, n_layers=1, max_len=8, n_intents=4))
    with torch.no_grad():
        model.item_emb.weight.normal_(0, 1.0)  # spread the scores so that no near-tie decides a rank
    return model.train()


def _small_sequences() -> Sequences:
    g = _gen(1)
    lengths = [1, 2, 3, 4, 6, 9, 12, 15, 2, 3, 11]
    lists = [torch.randint(1, 31, (n,), generator=g).tolist() for n in lengths]
    lists[4][-1] = lists[4][0]  # test target repeated from the history
    lists[6][-2] = lists[6][3]  # valid target repeated from the history
    return Sequences.from_lists(list(range(100, 100 + len(lists))), lists, n_items=30)


def _brute_force_split_ranks(model: ELCRec, seqs: Sequences, split: str) -> tuple[list[int], list[int]]:
    """(users, ranks): encode each user's last max_len inputs alone and rank all items (ties against the
    target)."""
    drop = 1 if split == "test" else 2
    max_len = model.cfg.max_len
    table = model.item_emb.weight[1:31].detach()
    users, ranks = [], []
    for u in range(len(seqs)):
        items = seqs.sequence(u)
        if len(items) < drop + 1:
            continue
        history, target = items[:-drop], items[-drop]
        window = history[-max_len:]
        padded = torch.tensor([[0] * (max_len - len(window)) + window])
        with torch.no_grad():
            vec = model(padded)[0, -1]
        users.append(u)
        ranks.append(brute_force_rank(vec, table, target, history))
    return users, ranks


@pytest.mark.parametrize("split", ["valid", "test"])
def test_evaluate_ranks_matches_per_user_brute_force(split: str) -> None:
    model = _small_model()
    seqs = _small_sequences()
    data = SequenceTensors.from_sequences(seqs)
    ranks = evaluate_ranks(model, data, split, batch_size=3)
    assert model.training  # the evaluator restores the training mode
    model.eval()
    users, expected = _brute_force_split_ranks(model, seqs, split)
    assert eligible_users(data, split).tolist() == users
    assert ranks.tolist() == expected
    assert MISS_RANK in expected  # the repeated target is a miss
    assert len(set(expected)) > 3
    assert evaluate(model, data, split, batch_size=4) == pytest.approx(
        metrics_from_ranks(torch.tensor(expected)), abs=1e-12
    )


def test_evaluate_ranks_for_chosen_users() -> None:
    model = _small_model()
    seqs = _small_sequences()
    data = SequenceTensors.from_sequences(seqs)
    chosen = torch.tensor([7, 3, 10])
    ranks = evaluate_ranks(model, data, "test", users=chosen)
    users, expected = _brute_force_split_ranks(model.eval(), seqs, "test")
    by_user = dict(zip(users, expected))
    assert ranks.tolist() == [by_user[u] for u in chosen.tolist()]


def test_the_user_representation_leaves_out_only_padding_columns_that_change_nothing() -> None:
    """Columns that are padding in every row are not computed (the encoder sees 3 of 5 columns here), and the
    representation equals the whole window's, holes of unknown items included; a row of padding only keeps
    the whole window (its last position attends to every column)."""
    torch.manual_seed(0)
    model = ELCRec(ModelConfig(n_items=9, hidden=8, n_heads=2, n_layers=2, max_len=5, n_intents=2)).eval()
    widths = []
    model.item_emb.register_forward_hook(lambda _module, args, _out: widths.append(args[0].shape[1]))
    with torch.no_grad():
        for items, width in ((torch.tensor([[0, 0, 0, 3, 4], [0, 0, 5, 0, 6], [0, 0, 7, 8, 0]]), 3),
                             (torch.tensor([[0, 0, 0, 0, 0], [0, 0, 0, 1, 2]]), 5)):
            whole = model(items)[:, -1]
            widths.clear()
            torch.testing.assert_close(model.user_representation(items), whole, atol=1e-6, rtol=0)
            assert widths == [width]


def test_ranks_come_back_in_the_order_of_the_users_given() -> None:
    """Users are batched by history length inside; the ranks follow the caller's order."""
    model = _small_model()
    data = SequenceTensors.from_sequences(_small_sequences())
    users = eligible_users(data, "test")
    shuffled = users[torch.randperm(len(users), generator=_gen(3))]
    ranks = dict(zip(users.tolist(), evaluate_ranks(model, data, "test", users, batch_size=2).tolist()))
    assert evaluate_ranks(model, data, "test", shuffled, batch_size=2).tolist() == [ranks[u] for u in shuffled.tolist()]


def test_items_added_after_training_are_left_out_of_the_input_and_missed_as_targets() -> None:
    """A model trained on 30 items (window 8) ranks data that gained items 31-40: unknown targets are misses, and
    unknown input items are left out, as serving reads ``Sequences.known`` (left in place as padding, they took
    places in the window and the representation was read at a padding position). So each user's rank is that of
    the same data without the unknown items, by the evaluator and by the recommender contract."""
    model = _small_model().eval()
    g = _gen(5)
    lists = [torch.randint(1, 41, (int(n),), generator=g).tolist() for n in torch.randint(4, 15, (40,), generator=g)]
    for items in lists:
        items[-1] = items[-1] if items[-1] <= 30 else 1 + items[-1] % 30  # known targets
        items[-2] = 31  # an unknown item last in every input
    seqs = Sequences.from_lists(list(range(40)), lists, n_items=40)
    data = SequenceTensors.from_sequences(seqs)
    users = eligible_users(data, "test")
    ranks = evaluate_ranks(model, data, "test", users)
    without = SequenceTensors.from_sequences(seqs.known(30))
    assert torch.equal(ranks, evaluate_ranks(model, without, "test", users))
    assert torch.equal(evaluate_recommender(ELCRecRecommender(model), data, "test", users), ranks)
    unknown_target = SequenceTensors.from_sequences(Sequences.from_lists([0], [[1, 2, 35]], n_items=40))
    assert evaluate_ranks(model, unknown_target, "test").tolist() == [MISS_RANK]


def test_a_model_that_scores_every_item_alike_hits_nothing() -> None:
    """All-zero item embeddings: every item ties with the target, so its rank is the number of other
    non-history items (ties count against the target) and HR@20 of 30 items with short histories is 0."""
    model = _small_model().eval()
    with torch.no_grad():
        model.item_emb.weight.zero_()
    seqs = _small_sequences()
    data = SequenceTensors.from_sequences(seqs)
    ranks = evaluate_ranks(model, data, "test")
    users, _ = _brute_force_split_ranks(model, seqs, "test")
    expected = []
    for u in users:
        items = seqs.sequence(u)
        history, target = set(items[:-1]), items[-1]
        expected.append(MISS_RANK if target in history else 30 - 1 - len(history))
    assert ranks.tolist() == expected
    assert metrics_from_ranks(ranks)["HR@5"] == 0.0


def test_non_finite_target_scores_are_misses() -> None:
    """Items 1..4; user 0's target 2 scores NaN and user 1's target 3 scores +inf: misses. User 2's target 1
    scores 1.0: item 3 (+inf) is above, item 4 ties and item 2 (NaN) counts against it too: rank 3."""
    nan, inf = float("nan"), float("inf")
    table = torch.tensor([[1.0], [nan], [inf], [1.0]])
    users = torch.tensor([[1.0], [1.0], [1.0]])
    history = torch.zeros(3, 1, dtype=torch.long)
    assert rank_scores(users, table, torch.tensor([2, 3, 1]), history).tolist() == [MISS_RANK, MISS_RANK, 3]


def test_rank_scores_of_no_users_is_an_empty_long_tensor():
    ranks = rank_scores(torch.zeros(0, 4), torch.randn(7, 4), torch.zeros(0, dtype=torch.long),
                        torch.zeros(0, 3, dtype=torch.long))
    assert ranks.shape == (0,) and ranks.dtype == torch.long


def test_ranks_in_a_catalogue_wider_than_int16_are_exact():
    """Ranks count in the narrowest integer that holds the catalogue: past 32,767 items they need 32 bits (a
    target scored last among 40,000 items has rank 39,999), and at the int16 limit 16 bits still hold them."""
    for n in (40_000, 32_767):
        scores = -torch.arange(n, dtype=torch.float32)[None].repeat(2, 1)  # item 1 best, item n worst
        targets, history = torch.tensor([n, 2]), torch.tensor([[0], [1]])
        assert rank_score_matrix(scores, targets, history).tolist() == [n - 1, 0]


def test_a_miss_is_no_hit_in_a_catalogue_of_k_items_or_fewer() -> None:
    """8 items (fewer than K = 10, 20): user 0's target is in its history, a miss; user 1's target ranks 4th.
    HR@10 = HR@20 = 0.5, not 1 (a miss ranked n = 8 counted as a hit at K = 10 and 20). The same for the
    popularity ranks of a 3-item catalogue."""
    table = -torch.arange(8.0)[:, None]  # item 1 scores best
    ranks = rank_scores(torch.ones(2, 1), table, torch.tensor([2, 5]), torch.tensor([[2], [0]]))
    assert ranks.tolist() == [MISS_RANK, 4]
    metrics = metrics_from_ranks(ranks)
    assert metrics["HR@10"] == metrics["HR@20"] == 0.5
    assert metrics["NDCG@20"] == pytest.approx(0.5 / math.log2(6))
    seqs = Sequences.from_lists([1, 2], [[1, 2, 1], [1, 3, 2]], n_items=3)
    assert popularity_ranks(SequenceTensors.from_sequences(seqs), "test").tolist() == [MISS_RANK, 0]


def test_evaluate_gives_nan_for_a_model_that_cannot_score_every_user() -> None:
    """One NaN item embedding (the item table is not finite): every metric NaN, not the misses' plain 0. Its ranks
    are refused: evaluate_ranks and evaluate_recommender returned the users' ranks as misses, and headline then
    published 'HR@10 0.0, 95% CI [0.0000, 0.0012] (no hit)' (helper-216); ranks_and_non_finite gives them with the
    count of such users (the report's paired comparisons, the gate refuses the model)."""
    from elcrec_core.evaluate.scoring import ranks_and_non_finite

    model = _small_model().eval()
    data = SequenceTensors.from_sequences(_small_sequences())
    assert all(math.isfinite(v) for v in evaluate(model, data, "test").values())
    finite_ranks = evaluate_ranks(model, data, "test")
    with torch.no_grad():
        model.item_emb.weight[3, 0] = float("nan")
    assert all(math.isnan(v) for v in evaluate(model, data, "test").values())
    users = len(eligible_users(data, "test"))
    with pytest.raises(NonFiniteScores, match=rf"^the model gives some of the {users} users a NaN or infinite score "
                                              r"on the test split: its ranks are no figure"):
        evaluate_ranks(model, data, "test")
    ranks, non_finite = ranks_and_non_finite(ELCRecRecommender(model), data, "test")
    assert non_finite == users and len(ranks) == users  # every user's scores hold item 3's NaN
    with pytest.raises(NonFiniteScores, match=rf"^ELCRecRecommender gives {users} of the {users} users a NaN or "
                                              r"infinite score on the test split: its ranks are no figure"):
        evaluate_recommender(ELCRecRecommender(model), data, "test")
    with torch.no_grad():
        model.item_emb.weight[3, 0] = 0.0
    assert len(evaluate_ranks(model, data, "test")) == len(finite_ranks)


def test_finite_weights_whose_scores_overflow_have_no_figure() -> None:
    """Every weight finite, but one item's embedding of 3e38 makes its scores infinite or NaN: the evaluator checked
    the weights and user vectors only, so the model kept a figure (elcrec evaluate, early stopping) that the gate and
    the report, which check the scores, refuse. The same rule for any recommender (the backtest, the baselines)."""
    from elcrec_core.evaluate.scoring import recommender_metrics

    model = _small_model().eval()
    seqs = _small_sequences()
    data = SequenceTensors.from_sequences(seqs)
    unused = 11  # in no user's input: the user vectors stay finite, only the scores of item 11 overflow
    assert unused not in seqs.items.tolist()
    with torch.no_grad():
        model.item_emb.weight[unused] = 3e38 * torch.sign(model.item_emb.weight[unused])
    assert all(torch.isfinite(p).all() for p in model.parameters())
    users = eligible_users(data, "test")
    assert torch.isfinite(model.user_representation(data.window(users, 1, model.cfg.max_len))).all()
    assert not torch.isfinite(ELCRecRecommender(model).score(torch.tensor([0]), torch.tensor([[1, 2]]))).all()
    assert all(math.isnan(v) for v in evaluate(model, data, "test").values())
    assert all(math.isnan(v) for v in recommender_metrics(ELCRecRecommender(model), data, "test").values())
    with pytest.raises(NonFiniteScores):
        evaluate_ranks(model, data, "test")
    with pytest.raises(NonFiniteScores, match=r"^ELCRecRecommender gives [1-9]\d* of the"):
        evaluate_recommender(ELCRecRecommender(model), data, "test")


def test_a_model_non_finite_for_one_batch_of_users_has_no_figure() -> None:
    """Users ranked one at a time (batch 1), shortest first: only the shortest user's history holds the item whose
    embedding is NaN. Every metric is NaN however the later, finite batches come out; no users rank as nothing."""
    model = _small_model().eval()
    seqs = Sequences.from_lists([0, 1, 2], [[30, 1, 2], [3, 4, 5, 6, 7], [8, 9, 10, 11, 12, 13]], n_items=30)
    data = SequenceTensors.from_sequences(seqs)
    assert all(math.isfinite(v) for v in evaluate(model, data, "test", batch_size=1).values())
    with torch.no_grad():
        model.item_emb.weight[30, :] = float("nan")
    assert all(math.isnan(v) for v in evaluate(model, data, "test", batch_size=1).values())
    none = evaluate_ranks(model, data, "test", torch.zeros(0, dtype=torch.long))
    assert none.shape == (0,) and none.dtype == torch.long
