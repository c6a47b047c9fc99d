"""The most-popular ranking computed directly from the item counts (no score matrix): the reference that the tests
hold :class:`~elcrec_core.evaluate.baselines.MostPopular` and the evaluator to. It ranks one split fitted on that
split's own inputs; the report and the gate fit ``MostPopular`` on items[:-2], as every model.
"""

from __future__ import annotations

import torch

from elcrec_core.data.sequences import SequenceTensors, user_batches
from elcrec_core.evaluate.fitted_inputs import input_counts
from elcrec_core.evaluate.ranking import DROP_AFTER, MISS_RANK, Split, metrics_from_ranks, split_users


def popularity_ranks(
    data: SequenceTensors, split: Split, users: torch.Tensor | None = None, batch_size: int = 2048
) -> torch.Tensor:
    """0-based ranks of the split targets when items are ranked by how often they occur in all users' inputs
    for that split, and equally frequent items by their index, the lower first (the most-popular baseline: one
    total order, as it serves); history excluded, a target in the history is a miss, as in
    :mod:`elcrec_core.evaluate.ranking`. Users are ranked in batches of ``batch_size``. Raises ValueError for
    ``users`` that are no rows of ``data`` or have too few items for ``split``
    (:func:`~elcrec_core.evaluate.ranking.split_users`)."""
    users = split_users(data, split, users)
    counts = input_counts(data, split).long()
    n = len(counts)
    keys = counts * (n + 1) + torch.arange(n, 0, -1, device=counts.device)  # distinct: the order of the items
    ordered = keys.sort().values
    ranks = [_popularity_batch(data, batch, DROP_AFTER[split], keys, ordered)
             for batch in user_batches(users, batch_size)]
    return torch.cat(ranks) if ranks else torch.zeros(0, dtype=torch.long)


def _popularity_batch(
    data: SequenceTensors, users: torch.Tensor, drop: int, keys: torch.Tensor, ordered: torch.Tensor
) -> torch.Tensor:
    """:func:`popularity_ranks` for one batch of users, from the items' order keys and their sorted values."""
    targets = data.window(users, drop, 1)[:, 0]
    history = data.window(users, drop + 1, int((data.lengths(users) - drop - 1).max()))
    target_key = keys[targets - 1]
    above = len(ordered) - torch.searchsorted(ordered, target_key, right=True)
    hist_sorted = history.sort(1).values
    first = torch.ones_like(hist_sorted, dtype=torch.bool)
    first[:, 1:] = hist_sorted[:, 1:] != hist_sorted[:, :-1]
    in_hist = first & (hist_sorted > 0) & (keys[(hist_sorted - 1).clamp(min=0)] > target_key[:, None])
    ranks = above - in_hist.sum(1)
    target_in_history = (history == targets[:, None]).any(1)
    return torch.where(target_in_history, MISS_RANK, ranks)


def popularity_metrics(data: SequenceTensors, split: Split) -> dict[str, float]:
    """HR@K / NDCG@K of the most-popular baseline."""
    return metrics_from_ranks(popularity_ranks(data, split))
