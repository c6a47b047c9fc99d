"""Non-learned baselines, ranked under the same protocol as the model."""

from __future__ import annotations

import torch

from elcrec_core.evaluation import DROP_AFTER, Split, eligible_users, metrics_from_ranks
from elcrec_core.sequences import SequenceTensors


def popularity_ranks(data: SequenceTensors, split: Split, users: torch.Tensor | None = None) -> torch.Tensor:
    """0-based ranks of the split targets when items are ranked by how often they occur in all users' inputs
    for that split (the most-popular baseline); history excluded, ties in the target's favour, a target in the
    history is a miss, as in :mod:`elcrec_core.evaluation`."""
    if users is None:
        users = eligible_users(data, split)
    drop = DROP_AFTER[split]
    everyone = torch.arange(len(data))
    inputs = data.window(everyone, drop + 1, int((data.lengths(everyone) - drop - 1).clamp(min=1).max()))
    counts = torch.bincount(inputs.flatten(), minlength=data.n_items + 1)[1:].double()  # index i-1 = item i
    ordered = counts.sort().values
    targets = data.window(users, drop, 1)[:, 0]
    history = data.window(users, drop + 1, int((data.lengths(users) - drop - 1).max()))
    target_count = counts[targets - 1]
    higher = len(ordered) - torch.searchsorted(ordered, target_count, right=True)
    hist_sorted = history.sort(1).values
    first = torch.ones_like(hist_sorted, dtype=torch.bool)
    first[:, 1:] = hist_sorted[:, 1:] != hist_sorted[:, :-1]
    in_hist_higher = (first & (hist_sorted > 0) & (counts[(hist_sorted - 1).clamp(min=0)] > target_count[:, None]))
    ranks = higher - in_hist_higher.sum(1)
    target_in_history = (history == targets[:, None]).any(1)
    return torch.where(target_in_history, data.n_items, ranks)


def popularity_metrics(data: SequenceTensors, split: Split) -> dict[str, float]:
    """HR@K / NDCG@K of the most-popular baseline."""
    return metrics_from_ranks(popularity_ranks(data, split))
