"""Top-K recommendations from a trained model, history excluded."""

from __future__ import annotations

import torch

from elcrec_core.evaluation import _MAX_SCORE_ELEMENTS, known_items
from elcrec_core.model import ELCRec
from elcrec_core.sequences import SequenceTensors


@torch.no_grad()
def recommend(
    model: ELCRec, data: SequenceTensors, users: torch.Tensor, k: int = 20, batch_size: int = 2048
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k best items (indices 1..n_items) and their scores for each of ``users``, from the whole history;
    items of the history are never recommended: where fewer than k others exist, the rest of the row holds history
    items with score -inf, for the caller to drop. Returns ([U, k] items, [U, k] scores). A batch holds at most
    ``batch_size`` users and 2^25 scores (fewer users for a large catalogue)."""
    model.eval()
    n_items = model.cfg.n_items
    k = min(k, n_items)
    table = model.item_table().float()
    batch_size = min(batch_size, max(1, _MAX_SCORE_ELEMENTS // n_items))
    top_items, top_scores = [], []
    for batch in users.split(batch_size):
        history = known_items(data.window(batch, 0, int(data.lengths(batch).max())), n_items)
        recent = known_items(data.window(batch, 0, model.cfg.max_len), n_items)
        vecs = model.user_representation(recent).float()
        scores = torch.cat([vecs @ table.T, vecs.new_zeros(len(batch), 1)], 1)  # last column: padding slot
        scores.scatter_(1, torch.where(history > 0, history - 1, n_items), float("-inf"))
        best = scores[:, :n_items].topk(k, dim=1)
        top_items.append(best.indices + 1)
        top_scores.append(best.values)
    return torch.cat(top_items), torch.cat(top_scores)
