"""Warm start: a model trained on day 1 starts day 2's training, its known items' rows copied exactly."""

from __future__ import annotations

import torch

from elcrec_core.data.sequences import sequences_from_events
from elcrec_core.data.synthetic import SyntheticConfig, generate
from elcrec_core.model.elcrec import ELCRec
from elcrec_core.train.checkpoint import load_model
from elcrec_core.train.loop import train
from tests.train.small import small_config


def test_warm_start_keeps_known_items_and_converges_sooner(tmp_path):
    """Day 2 adds users and items; a warm start copies known rows and starts from a better model."""
    day1 = sequences_from_events(generate(SyntheticConfig(n_users=600, n_items=100, n_intents=6, seed=3)).events)[0]
    first = train(day1, small_config(epochs=6, lr=3e-3), tmp_path / "day1", log=lambda _: None)
    bigger = generate(SyntheticConfig(n_users=700, n_items=120, n_intents=6, seed=3)).events
    day2 = sequences_from_events(bigger)[0]
    assert day2.n_items == 120
    logs: list[str] = []
    warm = train(day2, small_config(epochs=2, lr=3e-3), tmp_path / "warm", log=logs.append,
                 init_from=first.checkpoint)
    cold = train(day2, small_config(epochs=2, lr=3e-3), tmp_path / "cold", log=lambda _: None)
    assert any("100 known items, 20 new" in line for line in logs)
    assert warm.history[0]["valid_NDCG@20"] > cold.history[0]["valid_NDCG@20"]
    previous, _ = load_model(first.checkpoint)
    warmed = torch.load(tmp_path / "warm" / "last.pt", weights_only=True)["model"]["item_emb.weight"]
    assert warmed.shape[0] == 121 and previous.item_emb.weight.shape[0] == 101


def test_warm_start_copies_exactly_the_known_rows_and_keeps_the_new_rows_initialisation(tmp_path) -> None:
    """A model of 5 items warm-starts one of 8: item rows 0-5 (padding and the known items) are the old model's,
    rows 6-8 keep the new model's initialisation, every other parameter is the old model's."""
    from elcrec_core.train.checkpoint import save_checkpoint
    from elcrec_core.train.state import model_payload
    from elcrec_core.train.warm_start import warm_start

    exp = small_config()
    torch.manual_seed(1)
    old = ELCRec(exp.model_config(5))
    save_checkpoint(tmp_path / "old.pt", model_payload(old, exp, {}))
    torch.manual_seed(2)
    new = ELCRec(exp.model_config(8))
    fresh = new.item_emb.weight.detach().clone()
    assert warm_start(new, tmp_path / "old.pt") == {"known_items": 5, "new_items": 3}
    assert torch.equal(new.item_emb.weight[:6], old.item_emb.weight)
    assert torch.equal(new.item_emb.weight[6:], fresh[6:]) and not torch.equal(fresh[6:], fresh[:3])
    for name, value in old.state_dict().items():
        if name != "item_emb.weight":
            assert torch.equal(new.state_dict()[name], value), name


def test_warm_start_from_the_authors_state_dict(tmp_path) -> None:
    """``--init-from`` the authors' format (an item table of n_items + 2 rows: the last an unused mask id) into a
    model of 9 items: rows 0-7 (padding and the 7 known items) are copied, row 8 (a new item, where the reference
    keeps its mask row) keeps its initialisation. It crashed with KeyError 'model'."""
    from elcrec_core.config.settings import ModelConfig
    from elcrec_core.train.warm_start import warm_start
    from tests.train.test_checkpoint import HEADS, D, K, L, V, reference_state_dict

    state = reference_state_dict(n_layers=1)
    torch.save(state, tmp_path / "reference.pt")
    torch.manual_seed(0)
    new = ELCRec(ModelConfig(n_items=V, hidden=D, n_heads=HEADS, n_layers=1, max_len=L, n_intents=K))
    fresh = new.item_emb.weight.detach().clone()
    assert warm_start(new, tmp_path / "reference.pt") == {"known_items": V - 2, "new_items": 2}
    assert torch.equal(new.item_emb.weight[: V - 1], state["item_embeddings.weight"][: V - 1])
    assert torch.equal(new.item_emb.weight[V - 1:], fresh[V - 1:])
    assert torch.equal(new.centres, state["cluster_centers"])
