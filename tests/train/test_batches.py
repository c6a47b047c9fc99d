"""Training batches: the augmentation operators, negative sampling and the leave-one-out cut."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from elcrec_core.config.settings import TrainConfig
from elcrec_core.data.sequences import Sequences, SequenceTensors
from elcrec_core.train.batches import augment, make_train_batch, sample_negatives, trainable_users

TAU, GAMMA, BETA = 0.2, 0.7, 0.2  # TrainConfig's crop_tau, mask_gamma, reorder_beta (the paper's)
LENGTHS = [4, 5, 7, 10, 13, 21, 34, 60]  # >= 4, so that crop, mask and reorder keep different numbers of items


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def right_aligned(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows left-padded with 0 to the longest one, and their lengths."""
    width = max(len(r) for r in rows)
    seqs = torch.tensor([[0] * (width - len(r)) + r for r in rows])
    return seqs, torch.tensor([len(r) for r in rows])


def known_rows(n_rows: int) -> list[list[int]]:
    """Row b holds the distinct items 100 b + 1 .. 100 b + n_b (lengths cycle through LENGTHS)."""
    return [[100 * b + i for i in range(1, LENGTHS[b % len(LENGTHS)] + 1)] for b in range(n_rows)]


def classify_view(out: list[int], orig: list[int], out_len: int) -> tuple[str, int]:
    """Which operator produced ``out`` from ``orig`` (out_len >= len(orig)); asserts its invariants exactly.

    Returns (operator, detail): the crop start for crop, 0 otherwise.
    """
    n = len(orig)
    assert len(out) == out_len
    crop_len = max(1, int(TAU * n))
    kept = sum(v != 0 for v in out)
    if kept == crop_len:
        assert out[: out_len - crop_len] == [0] * (out_len - crop_len), out
        start = orig.index(out[-crop_len])
        assert 0 <= start <= n - int(TAU * n) - 1, (start, n)
        assert out[out_len - crop_len :] == orig[start : start + crop_len], (out, orig)
        return "crop", start
    assert out[: out_len - n] == [0] * (out_len - n), out
    tail = out[out_len - n :]
    if kept == n - int(GAMMA * n):
        assert all(v in (0, o) for v, o in zip(tail, orig)), (tail, orig)
        return "mask", 0
    assert kept == n, (out, orig)
    assert sorted(tail) == sorted(orig), (tail, orig)
    run = int(BETA * n)
    moved = [i for i, (v, o) in enumerate(zip(tail, orig)) if v != o]
    if moved:
        # some run [s, s + run) with 0 <= s <= n - run - 1 contains every moved position
        lo, hi = max(0, max(moved) - run + 1), min(min(moved), n - run - 1)
        assert lo <= hi, (tail, orig, run)
    return "reorder", len(moved)


def test_augment_views_are_exact_crop_mask_or_reorder_with_balanced_operators() -> None:
    rows = known_rows(300)
    seqs, lengths = right_aligned(rows)
    out_len = seqs.shape[1] + 3
    ops: Counter[str] = Counter()
    crop_starts_n10: set[int] = set()
    masked_positions_n10: Counter[int] = Counter()
    reorder_moved = []
    for seed in range(10):
        views = augment(seqs, lengths, out_len, TrainConfig(), _gen(seed))
        assert views.shape == (len(rows), out_len)
        for row, orig in zip(views.tolist(), rows):
            op, detail = classify_view(row, orig, out_len)
            ops[op] += 1
            if op == "crop" and len(orig) == 10:
                crop_starts_n10.add(detail)
            if op == "mask" and len(orig) == 10:
                masked_positions_n10.update(i for i, v in enumerate(row[-10:]) if v == 0)
            if op == "reorder" and int(BETA * len(orig)) >= 3:
                reorder_moved.append(detail)
    total = sum(ops.values())
    assert total == 3000
    for op in ("crop", "mask", "reorder"):
        assert 0.25 <= ops[op] / total <= 0.42, ops
    # n = 10: crop run 2 starts anywhere in [0, 7]; every position can be masked
    assert crop_starts_n10 == set(range(8))
    assert set(masked_positions_n10) == set(range(10))
    # runs of >= 3 items are really shuffled (an identity shuffle has probability <= 1/6)
    assert sum(m > 0 for m in reorder_moved) / len(reorder_moved) > 0.7


def test_augment_is_deterministic_per_seed() -> None:
    seqs, lengths = right_aligned(known_rows(40))
    a = augment(seqs, lengths, 20, TrainConfig(), _gen(11))
    b = augment(seqs, lengths, 20, TrainConfig(), _gen(11))
    c = augment(seqs, lengths, 20, TrainConfig(), _gen(12))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), out_len=st.integers(1, 59))
def test_augment_keeps_most_recent_items_when_out_len_is_short(seed: int, out_len: int) -> None:
    """The random draws do not depend on out_len: a short view is the tail of the full-width view."""
    seqs, lengths = right_aligned(known_rows(16))
    full = augment(seqs, lengths, 60, TrainConfig(), _gen(seed))
    short = augment(seqs, lengths, out_len, TrainConfig(), _gen(seed))
    assert torch.equal(short, full[:, 60 - out_len :])


def test_augment_single_item_rows_stay_unchanged() -> None:
    """n = 1: crop keeps the item, mask removes int(0.7) = 0 items, reorder moves a run of 0 items."""
    seqs, lengths = right_aligned([[7], [3, 4, 5, 6, 9]])
    for seed in range(20):
        views = augment(seqs, lengths, 4, TrainConfig(), _gen(seed))
        assert views[0].tolist() == [0, 0, 0, 7]


def test_augment_mask_count_matches_python_int_for_long_rows() -> None:
    n = 90
    seqs, lengths = right_aligned([list(range(1, n + 1))])
    counts = set()
    for seed in range(60):
        row = augment(seqs, lengths, n, TrainConfig(), _gen(seed))[0].tolist()
        zeros = row.count(0)
        if 0 < zeros and sum(v != 0 for v in row) > max(1, int(TAU * n)):  # a mask view
            counts.add(zeros)
    assert counts == {int(GAMMA * n)}


# ------------------------------------------------------------------------------------------ negatives
def test_sample_negatives_avoid_history_where_there_is_a_target() -> None:
    n_items = 12
    history = torch.tensor([[1, 2, 3, 4, 5, 0], [0, 0, 0, 7, 8, 9], [12, 11, 10, 1, 2, 3]])
    targets = torch.tensor([[0, 2, 3, 4, 5, 6] * 20, [0, 0, 0, 0, 8, 9] * 20, [11, 10, 1, 2, 3, 4] * 20])
    neg = sample_negatives(targets, history, n_items, _gen(0))
    assert neg.shape == targets.shape
    assert int(neg.min()) >= 1 and int(neg.max()) <= n_items
    for b in range(3):
        seen = set(history[b].tolist()) - {0}
        for t, v in zip(targets[b].tolist(), neg[b].tolist()):
            if t > 0:
                assert v not in seen
    # padding targets keep their first draw, which may hit the history
    pad_values = neg[targets == 0]
    assert pad_values.numel() > 0 and int(pad_values.min()) >= 1


def test_sample_negatives_deterministic_per_seed() -> None:
    history = torch.tensor([[1, 2, 3], [4, 5, 0]])
    targets = torch.ones(2, 50, dtype=torch.long)
    a = sample_negatives(targets, history, 20, _gen(3))
    assert torch.equal(a, sample_negatives(targets, history, 20, _gen(3)))
    assert not torch.equal(a, sample_negatives(targets, history, 20, _gen(4)))


def test_sample_negatives_uniform_over_allowed_items() -> None:
    """Rejection sampling keeps the draws uniform over the items outside the history (loose chi-square)."""
    n_items = 10
    history = torch.tensor([[1, 2, 3, 0], [10, 9, 5, 4]])
    targets = torch.ones(2, 3500, dtype=torch.long)
    neg = sample_negatives(targets, history, n_items, _gen(5))
    for b in range(2):
        allowed = sorted(set(range(1, n_items + 1)) - set(history[b].tolist()))
        counts = Counter(neg[b].tolist())
        assert set(counts) == set(allowed)
        expected = 3500 / len(allowed)
        chi2 = sum((counts[i] - expected) ** 2 / expected for i in allowed)
        assert chi2 < 30, (chi2, counts)  # 6 or 5 degrees of freedom: P(chi2 > 30) < 1e-4


def test_sample_negatives_terminates_when_every_item_was_seen() -> None:
    history = torch.tensor([[1, 2, 3, 4]])
    targets = torch.ones(1, 5, dtype=torch.long)
    neg = sample_negatives(targets, history, 4, _gen(0), max_rounds=3)
    assert set(neg.flatten().tolist()) <= {1, 2, 3, 4}


# ------------------------------------------------------------------------------------------ train batch
SEQS = [
    [1, 2, 3, 4, 5, 6, 7, 8, 9],  # n = 6 > max_len: keep the most recent 4
    [5, 3, 8, 2],  # n = 1
    [1, 2, 3],  # no training input: not trainable
    [7, 7, 1, 2, 3],  # n = 2, repeated item
]
MAX_LEN = 4


def _train_data() -> SequenceTensors:
    return SequenceTensors.from_sequences(Sequences.from_lists([10, 11, 12, 13], SEQS, n_items=12))


def _padded(items: list[int], width: int) -> list[int]:
    """Left-pad with 0 to ``width``, keeping the most recent ``width`` items."""
    items = items[-width:]
    return [0] * (width - len(items)) + items


def test_trainable_users_need_four_items() -> None:
    assert trainable_users(_train_data()).tolist() == [0, 1, 3]


def test_make_train_batch_inputs_views_and_negatives() -> None:
    data = _train_data()
    users = trainable_users(data)
    batch = make_train_batch(data, users, MAX_LEN, TrainConfig(), _gen(0))
    kept = [SEQS[u] for u in users.tolist()]
    assert batch.inputs.tolist() == [_padded(s[:-3], MAX_LEN) for s in kept]
    assert batch.views.shape == (2 * len(kept), MAX_LEN)
    for row, seq in zip(batch.views.tolist(), kept + kept):
        nonzero = Counter(v for v in row if v)
        assert nonzero and not nonzero - Counter(seq[:-3])  # a non-empty sub-multiset of the training input
    assert batch.negatives.shape == batch.targets.shape
    for seq, tgt, neg in zip(kept, batch.targets.tolist(), batch.negatives.tolist()):
        assert all(n not in seq for t, n in zip(tgt, neg) if t > 0)
    same = make_train_batch(data, users, MAX_LEN, TrainConfig(), _gen(0))
    assert all(torch.equal(a, b) for a, b in zip(vars(batch).values(), vars(same).values()))


def test_make_train_batch_shared_and_no_negatives() -> None:
    data = _train_data()
    users = trainable_users(data)
    shared = make_train_batch(data, users, MAX_LEN, TrainConfig(), _gen(0), negatives="shared", n_negatives=7)
    assert shared.negatives.shape == (7,)
    assert int(shared.negatives.min()) >= 1 and int(shared.negatives.max()) <= 12
    none = make_train_batch(data, users, MAX_LEN, TrainConfig(), _gen(0), negatives="none")
    assert none.negatives.numel() == 0


def test_make_train_batch_targets_are_next_items_of_the_inputs() -> None:
    data = _train_data()
    users = trainable_users(data)
    batch = make_train_batch(data, users, MAX_LEN, TrainConfig(), _gen(0))
    kept = [SEQS[u] for u in users.tolist()]
    # [[4,5,6,7], [0,0,0,3], [0,0,7,1]]: the reference pads targets exactly like the inputs
    assert batch.targets.tolist() == [_padded(s[1:-2], MAX_LEN) for s in kept]
    assert torch.equal(batch.targets > 0, batch.inputs > 0)


# ------------------------------------------------------------------------------------------ training windows
def test_training_windows_last_is_one_sample_per_user() -> None:
    from elcrec_core.train.batches import training_windows

    data = _train_data()
    users = trainable_users(data)
    samples, drops = training_windows(data, users, MAX_LEN, "last")
    assert samples.tolist() == users.tolist() and drops.tolist() == [3, 3, 3]
    with pytest.raises(ValueError, match="unknown train_windows 'some'"):
        training_windows(data, users, MAX_LEN, "some")


def test_training_windows_all_tile_a_long_history() -> None:
    """A user of 14 items (n = 11 training inputs) with L = 4: drops 3, 7, 11, inputs items[:-3], [:-7], [:-11];
    their targets together are items[1:-2], each exactly once."""
    from elcrec_core.train.batches import training_windows

    history = list(range(1, 15))
    data = SequenceTensors.from_sequences(Sequences.from_lists([1, 2], [history, [5, 3, 8, 2]], n_items=20))
    users = trainable_users(data)
    samples, drops = training_windows(data, users, MAX_LEN, "all")
    assert samples.tolist() == [0, 0, 0, 1] and drops.tolist() == [3, 7, 11, 3]
    batch = make_train_batch(data, samples, MAX_LEN, TrainConfig(), _gen(0), drops=drops)
    assert batch.inputs.tolist() == [[8, 9, 10, 11], [4, 5, 6, 7], [0, 1, 2, 3], [0, 0, 0, 5]]
    assert batch.targets.tolist() == [[9, 10, 11, 12], [5, 6, 7, 8], [0, 2, 3, 4], [0, 0, 0, 3]]
    targets = sorted(t for row in batch.targets[:3].tolist() for t in row if t)
    assert targets == history[1:-2]
    for row, drop in zip(batch.views[:3].tolist(), drops[:3].tolist()):  # views of the window's own prefix
        assert all(v in history[:-drop] for v in row if v)
    for tgt, neg in zip(batch.targets[:3].tolist(), batch.negatives[:3].tolist()):  # negatives avoid all of it
        assert all(n not in history for t, n in zip(tgt, neg) if t > 0)
