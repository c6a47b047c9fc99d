"""The most-popular ranking computed directly from the item counts (no score matrix): the reference that the tests
hold :class:`~elcrec_core.evaluate.baselines.MostPopular` and the evaluator to. It ranks one split fitted on that
split's own inputs; the report and the gate fit ``MostPopular`` on items[:-2], as every model.
"""

from __future__ import annotations

import torch

from elcrec_core.data.sequences import SequenceTensors, user_batches
from elcrec_core.evaluate.baselines import input_counts
from elcrec_core.evaluate.ranking import DROP_AFTER, MISS_RANK, Split, eligible_users, metrics_from_ranks


def popularity_ranks(
    data: SequenceTensors, split: Split, users: torch.Tensor | None = None, batch_size: int = 2048
) -> torch.Tensor:
    """0-based ranks of the split targets when items are ranked by how often they occur in all users' inputs
    for that split (the most-popular baseline); history excluded, ties against the target (other items counted
    as often count as above it), a target in the history is a miss, as in :mod:`elcrec_core.evaluate.ranking`. Users
    are ranked in batches of ``batch_size``."""
    if users is None:
        users = eligible_users(data, split)
    counts = input_counts(data, split)
    ordered = counts.sort().values
    ranks = [_popularity_batch(data, batch, DROP_AFTER[split], counts, ordered)
             for batch in user_batches(users, batch_size)]
    return torch.cat(ranks) if ranks else torch.zeros(0, dtype=torch.long)


def _popularity_batch(
    data: SequenceTensors, users: torch.Tensor, drop: int, counts: torch.Tensor, ordered: torch.Tensor
) -> torch.Tensor:
    """:func:`popularity_ranks` for one batch of users, from the item counts and their sorted values."""
    targets = data.window(users, drop, 1)[:, 0]
    history = data.window(users, drop + 1, int((data.lengths(users) - drop - 1).max()))
    target_count = counts[targets - 1]
    at_least = len(ordered) - torch.searchsorted(ordered, target_count, right=False) - 1  # other items, not itself
    hist_sorted = history.sort(1).values
    first = torch.ones_like(hist_sorted, dtype=torch.bool)
    first[:, 1:] = hist_sorted[:, 1:] != hist_sorted[:, :-1]
    in_hist = first & (hist_sorted > 0) & (counts[(hist_sorted - 1).clamp(min=0)] >= target_count[:, None])
    ranks = at_least - in_hist.sum(1)
    target_in_history = (history == targets[:, None]).any(1)
    return torch.where(target_in_history, MISS_RANK, ranks)


def popularity_metrics(data: SequenceTensors, split: Split) -> dict[str, float]:
    """HR@K / NDCG@K of the most-popular baseline."""
    return metrics_from_ranks(popularity_ranks(data, split))
