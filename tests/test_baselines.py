"""The most-popular baseline against a per-user brute force."""

from __future__ import annotations

import random

import torch

from elcrec_core.baselines import input_counts, popularity_ranks
from elcrec_core.sequences import Sequences, SequenceTensors


def brute_force(lists: list[list[int]], n_items: int, drop: int) -> list[int]:
    """Counts over every user's input (items before the target); rank = other non-history items counted at
    least as often (ties against the target)."""
    cut = [seq[: len(seq) - drop - 1] for seq in lists]
    counts = [0] * (n_items + 1)
    for seq in cut:
        for item in seq:
            counts[item] += 1
    ranks = []
    for seq, history in zip(lists, cut):
        target = seq[len(seq) - drop - 1]
        if target in history:
            ranks.append(n_items)
            continue
        ranks.append(sum(1 for i in range(1, n_items + 1)
                          if i != target and i not in history and counts[i] >= counts[target]))
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
    assert popularity_ranks(data, "test", torch.tensor([2])).tolist() == [1]  # item 1 (3) is history; item 3 ties: against it
