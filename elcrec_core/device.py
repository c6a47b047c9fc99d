"""Device and precision choice."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from functools import cache

import torch


def select_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA where available, else CPU; any other name as torch spells it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast_for(device: torch.device, precision: str) -> AbstractContextManager:
    """bf16 autocast for training where asked or chosen by ``auto``, else a no-op context. Parameters, optimiser
    state, LayerNorm, softmax and the contrastive logits stay fp32."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if uses_bf16(device, precision) else nullcontext()


@cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 matrix products in hardware (AVX-512 BF16 or AMX), where bf16 autocast is
    faster than fp32; elsewhere oneDNN emulates it and it is slower."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def uses_bf16(device: torch.device, precision: str) -> bool:
    """Whether training on ``device`` with ``precision`` (auto, fp32, bf16) runs under bf16 autocast.

    ``auto`` chooses bf16 on CUDA and on CPUs with native bf16 (quality confirmed on Beauty: BENCHMARKS.md),
    fp32 elsewhere."""
    if precision != "auto":
        return precision == "bf16"
    return device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bf16())
