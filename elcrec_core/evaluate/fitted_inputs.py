"""The users' inputs that a baseline is fitted on (each user's items before the split's target), and the
most-popular order of their items that the baselines break ties by."""

from __future__ import annotations

import numpy as np
import torch

from elcrec_core.data.sequences import SequenceTensors
from elcrec_core.evaluate.scoring import HELD_OUT, Fit


def input_counts(data: SequenceTensors, split: Fit) -> torch.Tensor:
    """How often each item occurs in all users' inputs for the split (items before its target; ``all``: every
    item) (index i - 1 for item i), counted on the flat item array: O(interactions), whatever the longest history.
    Raises TypeError for ``data`` that is no :class:`SequenceTensors` (:func:`split_cut`)."""
    cut = split_cut(data, split)
    edges = torch.zeros(len(data.items) + 1, dtype=torch.int32, device=data.items.device)
    edges.index_add_(0, data.starts, torch.ones_like(data.starts, dtype=torch.int32))
    edges.index_add_(0, cut, torch.full_like(cut, -1, dtype=torch.int32))
    inside = edges.cumsum(0)[:-1] > 0
    return torch.bincount(data.items[inside], minlength=data.n_items + 1)[1:].double()


def input_items(data: SequenceTensors, split: Fit) -> tuple[torch.Tensor, torch.Tensor]:
    """Every item of every user's input for ``split`` (items before the target: ``valid`` items[:-2], the
    training part; ``test`` items[:-1]; ``all``: every item), oldest first per user: (user row [N], item id [N]).
    Raises TypeError for ``data`` that is no :class:`SequenceTensors` (:func:`split_cut`)."""
    cut = split_cut(data, split)
    lengths = cut - data.starts
    user = torch.repeat_interleave(torch.arange(len(data), device=lengths.device), lengths)
    first = lengths.cumsum(0) - lengths  # where each user's run begins in the output
    position = torch.arange(len(user), device=lengths.device) - first[user] + data.starts[user]
    return user, data.items[position]


def split_cut(data: SequenceTensors, split: Fit) -> torch.Tensor:
    """Where each user's input for ``split`` ends in ``data.items`` (each input is items[start:cut]). Raises
    TypeError for ``data`` that is no :class:`SequenceTensors`: a :class:`~elcrec_core.data.sequences.Sequences`, as
    the readers give, read "'Sequences' object has no attribute 'ends'" (helper-247)."""
    if not isinstance(data, SequenceTensors):
        raise TypeError(f"a baseline is fitted on SequenceTensors, not {type(data).__name__}: give "
                        "SequenceTensors.from_sequences(seqs)")
    return torch.maximum(data.ends - HELD_OUT[split], data.starts)


def popularity_rank_order(counts: torch.Tensor) -> torch.Tensor:
    """Per item of ``counts`` [n] (item i at i - 1), ``(n - r) / (n + 1)`` where r is its place in most popular's
    order (the larger count first, then the lower index): distinct values in (0, 1), evenly spaced (so that they
    stay distinct when added to large scores), larger for the more popular item. float64 [n], on counts' device."""
    n = len(counts)
    rank = torch.empty(n, dtype=torch.long, device=counts.device)
    rank[torch.argsort(counts, descending=True, stable=True)] = torch.arange(n, device=counts.device)
    return (n - rank).double() / (n + 1)


def popularity_tie_break(data: SequenceTensors, split: Fit) -> np.ndarray:
    """:func:`popularity_rank_order` of the items' counts in the users' inputs for ``split``: what the baselines
    break their ties by. float64 [n_items]."""
    return popularity_rank_order(input_counts(data, split)).cpu().numpy()
