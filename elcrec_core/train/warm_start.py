"""Start training from a previous model: the daily retrain converges in fewer epochs."""

from __future__ import annotations

from pathlib import Path

import torch

from elcrec_core.model.elcrec import ELCRec
from elcrec_core.train.checkpoint import load_checkpoint

ITEM_TABLE = "item_emb.weight"


@torch.no_grad()
def warm_start(model: ELCRec, checkpoint: str | Path) -> dict[str, int]:
    """Copy a previous model's weights into ``model``. Item indices are stable across runs (known items keep
    their index, new ones are appended), so the rows of known items are copied and new items keep their fresh
    initialisation; the encoder and the intent centres are carried over as they are."""
    previous = load_checkpoint(checkpoint)
    state = previous["model"]
    own = model.state_dict()
    if set(state) != set(own):
        raise ValueError(f"{checkpoint} holds another architecture: {sorted(set(state) ^ set(own))}")
    for name, tensor in state.items():
        if name == ITEM_TABLE:
            rows = min(len(tensor), len(own[name]))
            own[name][:rows] = tensor[:rows]
        elif tensor.shape != own[name].shape:
            raise ValueError(f"{checkpoint}: {name} is {tuple(tensor.shape)}, here {tuple(own[name].shape)}")
        else:
            own[name].copy_(tensor)
    known = previous["model_config"]["n_items"]
    return {"known_items": min(known, model.cfg.n_items), "new_items": max(0, model.cfg.n_items - known)}
