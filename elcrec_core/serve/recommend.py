"""Top-K recommendations from any recommender (a trained model or a baseline), history excluded."""

from __future__ import annotations

import torch

from elcrec_core.data.sequences import SequenceTensors, user_batches
from elcrec_core.evaluate.ranking import MAX_SCORE_ELEMENTS, known_items
from elcrec_core.evaluate.scoring import Recommender


@torch.no_grad()
def recommend(
    rec: Recommender, data: SequenceTensors, users: torch.Tensor, k: int = 20, batch_size: int = 2048
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k best items (indices 1..rec.n_items) and their scores for each of ``users`` (row indices of ``data``)
    under the fitted ``rec``, from the whole history (a model reads its last max_len items); items of the history
    are never recommended: where fewer than k others exist, the rest of the row holds history items with score
    -inf, for the caller to drop. Returns ([U, k] items, [U, k] scores in the recommender's dtype; float32 for no
    users). A batch holds at most ``batch_size`` users and 2^25 scores (fewer users for a large catalogue)."""
    n_items = rec.n_items
    k = min(k, n_items)
    batch_size = min(batch_size, max(1, MAX_SCORE_ELEMENTS // n_items))
    top_items, top_scores = [], []
    for batch in user_batches(users, batch_size):
        history = known_items(data.window(batch, 0, int(data.lengths(batch).max())), n_items)
        scores = rec.score(batch, history)
        scores = torch.cat([scores, scores.new_zeros(len(batch), 1)], 1)  # last column: padding slot
        history = history.to(scores.device)
        scores.scatter_(1, torch.where(history > 0, history - 1, n_items), float("-inf"))
        best = scores[:, :n_items].topk(k, dim=1)
        top_items.append(best.indices.cpu() + 1)
        top_scores.append(best.values.cpu())
    if not top_items:
        return torch.zeros(0, k, dtype=torch.long), torch.zeros(0, k)
    return torch.cat(top_items), torch.cat(top_scores)
