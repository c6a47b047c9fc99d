"""Device and precision choice."""

from __future__ import annotations

import os
import platform
from contextlib import AbstractContextManager, nullcontext
from functools import cache
from pathlib import Path

import torch


def select_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA where available, else CPU; any other name as torch spells it (``cpu``, ``cuda``,
    ``cuda:1``, ``mps``). Raises ValueError for a name torch does not know, for an accelerator (CUDA, MPS,
    XPU, ...) that this machine or this build of torch lacks, and for a device type that no torch module of that
    name counts (``hpu``, ``xla``: a plug-in torch lacks; ``meta``: tensors without data), where training failed
    inside torch (helper-226)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"device {name!r} is not a device name: auto, cpu, cuda or cuda:N") from None
    if device.type == "cpu":
        return device
    backend = getattr(torch, device.type, None)
    if not callable(getattr(backend, "device_count", None)):
        raise ValueError(f"device {name!r}: torch {torch.__version__} has no {device.type} devices to train on "
                         "here; use cpu, cuda[:N] or auto")
    if (device.index or 0) >= (count := backend.device_count()):
        raise ValueError(f"device {name!r}: this machine has {count} {device.type} device(s) for torch "
                         f"{torch.__version__}; use cpu or auto")
    return device


def autocast_for(device: torch.device, precision: str) -> AbstractContextManager:
    """bf16 autocast for training where asked or chosen by ``auto``, else a no-op context. Parameters, optimiser
    state, LayerNorm, softmax and the contrastive logits stay fp32."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if uses_bf16(device, precision) else nullcontext()


CPUINFO = Path("/proc/cpuinfo")
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})  # x86 (AVX-512 BF16, AMX); Arm (FEAT_BF16)


@cache
def cpu_has_native_bf16(cpuinfo: Path = CPUINFO) -> bool:
    """Whether this CPU computes bf16 matrix products in hardware (x86: AVX-512 BF16 or AMX; Arm: the BF16
    extension), from the CPU flags of ``cpuinfo``, where bf16 autocast is faster than fp32; elsewhere oneDNN
    emulates it and it is slower. Not torch's ``_is_mkldnn_bf16_supported``: that is also true for AVX-512 CPUs
    without bf16 (Skylake, Cascade Lake), where bf16 is emulated. Without a readable ``cpuinfo`` (not Linux), or
    without CPU flags in it: torch's check."""
    flags = _cpu_flags(cpuinfo)
    if not flags:  # no cpuinfo, or one without a flags line (some sandboxes and architectures)
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return bool(flags & NATIVE_BF16_FLAGS)


def _cpuinfo_fields(cpuinfo: Path) -> dict[str, str] | None:
    """The first value of each field of ``cpuinfo`` (the first CPU's), or None where it cannot be read."""
    info: dict[str, str] = {}
    try:
        for line in cpuinfo.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:
        return None
    return info


def _cpu_flags(cpuinfo: Path) -> set[str] | None:
    """The first CPU's feature flags (x86 ``flags``, Arm ``Features``), or None where ``cpuinfo`` cannot be read."""
    info = _cpuinfo_fields(cpuinfo)
    if info is None:
        return None
    return set(info.get("flags", info.get("Features", "")).split())


def uses_bf16(device: torch.device, precision: str) -> bool:
    """Whether training on ``device`` with ``precision`` (auto, fp32, bf16) runs under bf16 autocast.

    ``auto`` chooses bf16 on GPUs that compute it natively (compute capability 8 and later: Ampere, Hopper) and on
    CPUs with native bf16 (quality confirmed on Beauty: BENCHMARKS.md), fp32 elsewhere (older GPUs emulate bf16)."""
    if precision != "auto":
        return precision == "bf16"
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device)[0] >= 8
    return device.type == "cpu" and cpu_has_native_bf16()


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """This CPU for a benchmark record: model name, family and model (``cpuinfo``), its widest vector units
    (AVX-512, AVX2) and the number of logical CPUs, e.g. ``AMD EPYC (family 25, model 1; AVX2), 2 CPUs``."""
    info = _cpuinfo_fields(cpuinfo)
    if info is None:
        return f"{platform.processor() or 'unknown CPU'}, {os.cpu_count()} CPUs"
    flags = set(info.get("flags", "").split())
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    bf16 = ", native bf16" if cpu_has_native_bf16(cpuinfo) else ""
    return (f"{info.get('model name', 'unknown CPU')} (family {info.get('cpu family', '?')}, model "
            f"{info.get('model', '?')}; {vector}{bf16}), {os.cpu_count()} CPUs")
