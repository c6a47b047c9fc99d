"""Device and precision choice."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch


def select_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA where available, else CPU; any other name as torch spells it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast_for(device: torch.device, precision: str) -> AbstractContextManager:
    """bf16 autocast for training where asked (``auto``: on CUDA), else a no-op context. Parameters, optimiser
    state, LayerNorm, softmax and the contrastive logits stay fp32."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if uses_bf16(device, precision) else nullcontext()


def uses_bf16(device: torch.device, precision: str) -> bool:
    """Whether training on ``device`` with ``precision`` (auto, fp32, bf16) runs under bf16 autocast."""
    return precision == "bf16" or (precision == "auto" and device.type == "cuda")
