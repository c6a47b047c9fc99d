"""Top-K recommendations: the history is never recommended, and a large catalogue's smaller user batches give
the same lists."""

from __future__ import annotations

import pytest
import torch

import elcrec_core.recommend as recommend_module
from elcrec_core.config import ModelConfig
from elcrec_core.model import ELCRec
from elcrec_core.recommend import recommend
from elcrec_core.sequences import Sequences, SequenceTensors


def test_recommend_excludes_the_history_and_batches_by_the_score_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    model = ELCRec(ModelConfig(n_items=40, hidden=16, n_heads=2, n_layers=1, max_len=6, n_intents=4))
    with torch.no_grad():
        model.item_emb.weight.normal_(0, 1.0)  # spread the scores so that no near-tie decides an order
    g = torch.Generator().manual_seed(1)
    lists = [torch.randint(1, 41, (n,), generator=g).tolist() for n in (1, 3, 8, 12, 2, 5, 9)]
    data = SequenceTensors.from_sequences(Sequences.from_lists(list(range(7)), lists, n_items=40))
    users = torch.arange(7)
    items, scores = recommend(model, data, users, k=10)
    for row, history in zip(items.tolist(), lists):
        assert len(set(row)) == 10 and not set(row) & set(history)
    batches = []
    model.register_forward_hook(lambda _module, args, _out: batches.append(len(args[0])))
    monkeypatch.setattr(recommend_module, "_MAX_SCORE_ELEMENTS", 2 * 40)  # two users' scores per batch
    small_items, small_scores = recommend(model, data, users, k=10)
    assert batches == [2, 2, 2, 1]
    assert torch.equal(small_items, items)
    assert torch.allclose(small_scores, scores)
