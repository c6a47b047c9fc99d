"""The authors' released checkpoints (``ELCRec-Beauty-1.pt``: a state dict of their code's 21 key names per layer)
read as this project's model: their names mapped onto ours (:func:`~elcrec_core.train.checkpoint.load_model`)."""

from __future__ import annotations

from typing import Any

import torch

from elcrec_core.config.settings import ModelConfig


def is_reference_state_dict(state: dict[str, Any]) -> bool:
    """Whether ``state`` is a state dict saved by the authors' ELCRec code."""
    return "item_embeddings.weight" in state and "cluster_centers" in state


def from_reference_state_dict(state: dict[str, torch.Tensor], n_heads: int = 2) -> tuple[ModelConfig, dict]:
    """Map the authors' 21-key state dict onto this model's names. Their item table has one extra row
    (an unused mask id) after the real items, so n_items = rows - 2."""
    rows, hidden = state["item_embeddings.weight"].shape
    n_layers = len({k.split(".")[2] for k in state if k.startswith("item_encoder.layer.")})
    cfg = ModelConfig(
        n_items=rows - 2,
        vocab_size=rows,
        hidden=hidden,
        n_layers=n_layers,
        n_heads=n_heads,
        max_len=state["position_embeddings.weight"].shape[0],
        n_intents=state["cluster_centers"].shape[0],
    )
    out = {
        "item_emb.weight": state["item_embeddings.weight"],
        "pos_emb.weight": state["position_embeddings.weight"],
        "emb_norm.weight": state["LayerNorm.weight"],
        "emb_norm.bias": state["LayerNorm.bias"],
        "centres": state["cluster_centers"],
    }
    for i in range(n_layers):
        ref, ours = f"item_encoder.layer.{i}.", f"blocks.{i}."
        for kind in ("weight", "bias"):
            out[f"{ours}attn.qkv.{kind}"] = torch.cat(
                [state[f"{ref}attention.{name}.{kind}"] for name in ("query", "key", "value")]
            )
            pairs = {
                "attn.proj": "attention.dense",
                "attn.norm": "attention.LayerNorm",
                "ffn.fc1": "intermediate.dense_1",
                "ffn.fc2": "intermediate.dense_2",
                "ffn.norm": "intermediate.LayerNorm",
            }
            for mine, theirs in pairs.items():
                out[f"{ours}{mine}.{kind}"] = state[f"{ref}{theirs}.{kind}"]
    return cfg, out
