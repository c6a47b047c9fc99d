"""Full-ranking leave-one-out evaluation.

Split ``valid``: input items[:-2], target items[-2]; split ``test``: input items[:-1], target items[-1].
Every real item 1..n_items is ranked (padding and any extra ids of a reference table are not); every item of
the input history is excluded. Tie rule: the target's rank is the number of non-history items that score
strictly higher (optimistic), so ties never hurt the target. A target that also occurs in the history is
excluded with it and counts as a miss. HR@K = rank < K; NDCG@K = 1 / log2(rank + 2) when rank < K.
"""

from __future__ import annotations

from typing import Literal

import torch

from elcrec_core import distributed
from elcrec_core.model import ELCRec
from elcrec_core.sequences import SequenceTensors

KS = (5, 10, 20)
Split = Literal["valid", "test"]
DROP_AFTER = {"valid": 1, "test": 0}  # items after the target
_MAX_SCORE_ELEMENTS = 1 << 25  # per chunk of users x items (128 MiB of fp32)


def known_items(items: torch.Tensor, n_items: int) -> torch.Tensor:
    """Item indices a model with ``n_items`` knows; items added after its training become padding 0."""
    return torch.where(items > n_items, 0, items)


def metrics_from_ranks(ranks: torch.Tensor, ks: tuple[int, ...] = KS) -> dict[str, float]:
    """HR@K and NDCG@K averaged over users, from 0-based ranks (a miss may have any rank >= max K)."""
    ranks = ranks.double()
    out: dict[str, float] = {}
    for k in ks:
        hit = ranks < k
        out[f"HR@{k}"] = hit.double().mean().item()
        out[f"NDCG@{k}"] = torch.where(hit, 1.0 / torch.log2(ranks + 2.0), 0.0).mean().item()
    return out


def rank_scores(
    user_vecs: torch.Tensor, item_table: torch.Tensor, targets: torch.Tensor, history: torch.Tensor
) -> torch.Tensor:
    """0-based rank of each target among all items (ids 1..n), history excluded; chunked over items.

    ``history`` holds item ids, 0 for padding; ``targets`` ids in 1..n.
    """
    n_items = item_table.shape[0]
    target_scores = (user_vecs * item_table[targets - 1]).sum(-1, keepdim=True)
    target_in_history = (history == targets[:, None]).any(1)
    ranks = torch.zeros(len(targets), dtype=torch.long, device=user_vecs.device)
    chunk = max(1, _MAX_SCORE_ELEMENTS // max(1, len(targets)))
    spare = item_table.new_zeros(1, item_table.shape[1])  # a column for ids outside the chunk (and padding)
    for lo in range(0, n_items, chunk):
        hi = min(n_items, lo + chunk)
        scores = user_vecs @ torch.cat([item_table[lo:hi], spare]).T
        # history ids in this chunk, and the target's own column (so that rounding differences never rank it
        # above itself), become -inf; everything else excluded lands in the spare column, also -inf
        excluded = torch.cat([history, targets[:, None]], 1)
        cols = torch.where((excluded > lo) & (excluded <= hi), excluded - 1 - lo, hi - lo)
        scores.scatter_(1, cols, float("-inf"))
        scores[:, -1] = float("-inf")
        ranks += (scores > target_scores).view(torch.uint8).sum(1, dtype=torch.int32)  # 2x faster than bool sum
    return torch.where(target_in_history, n_items, ranks)


@torch.no_grad()
def evaluate_ranks(
    model: ELCRec, data: SequenceTensors, split: Split, users: torch.Tensor | None = None, batch_size: int = 2048
) -> torch.Tensor:
    """Ranks of the ``split`` targets for ``users`` (default: all users with at least 2 items before the target
    in ``valid``, 1 in ``test``)."""
    was_training = model.training
    model.eval()
    if users is None:
        users = eligible_users(data, split)
    max_len, n_items = model.cfg.max_len, model.cfg.n_items
    table = model.item_table()
    ranks = []
    for batch in users.split(batch_size):
        drop = DROP_AFTER[split]
        targets = data.window(batch, drop, 1)[:, 0]
        lengths = data.lengths(batch) - drop - 1
        history = known_items(data.window(batch, drop + 1, int(lengths.max())), n_items)
        vecs = model.user_representation(known_items(data.window(batch, drop + 1, max_len), n_items)).float()
        known = targets <= n_items  # an item added after training cannot be ranked: a miss
        batch_ranks = rank_scores(vecs, table.float(), targets.clamp(max=n_items), history)
        ranks.append(torch.where(known, batch_ranks, n_items))
    model.train(was_training)
    return torch.cat(ranks) if ranks else torch.zeros(0, dtype=torch.long)


def eligible_users(data: SequenceTensors, split: Split) -> torch.Tensor:
    """Users with a non-empty input for the split (valid: >= 3 items, so that training has one too)."""
    need = 3 if split == "valid" else 2
    return torch.nonzero(data.ends - data.starts >= need).flatten()


def evaluate(model: ELCRec, data: SequenceTensors, split: Split, batch_size: int = 2048) -> dict[str, float]:
    """HR@K and NDCG@K (K = 5, 10, 20) over all eligible users. Under a torch.distributed process group every
    rank must call it: each scores its shard of the users and the metrics are all-reduced."""
    ranks = evaluate_ranks(model, data, split, distributed.shard(eligible_users(data, split)), batch_size)
    return distributed.mean_over_ranks(metrics_from_ranks(ranks), len(ranks))
