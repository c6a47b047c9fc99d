"""The training step's loss parts compiled by ``torch.compile`` (inductor) on CPU, with an eager fallback."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import torch

from elcrec_core.config.settings import TrainConfig
from elcrec_core.model.elcrec import ELCRec
from elcrec_core.train.batches import TrainBatch
from elcrec_core.train.objective import loss_parts


def compiles_step(cfg: TrainConfig, device: torch.device) -> bool:
    """Whether the training step on ``device`` is compiled: with ``cfg.compile``, on CPU only (CUDA would need
    Triton, and its eager step is fast already)."""
    return bool(cfg.compile) and device.type == "cpu"


class StepLosses:
    """:func:`loss_parts` as the training loop calls it: compiled by ``torch.compile`` (inductor, static
    shapes; forward and backward compiled at the first call of each batch shape) or eager.

    Without a working C++ compiler, or when compilation fails for any other reason, the reason is logged once
    and every later step runs eager. The compiled step computes the same losses; only the dropout masks come
    from another random stream (inductor's counter-based generator, seeded from torch's)."""

    def __init__(self, compiled: bool, log: Callable[[str], None] = print) -> None:
        self.log = log
        self.compiled: Callable[..., dict[str, torch.Tensor]] | None = None
        if compiled:
            reason = _compiler_missing()
            if reason:
                log(f"torch.compile off, the training step runs eager: {reason}")
            else:
                self.compiled = torch.compile(loss_parts, dynamic=False)
                log("training step compiled by torch.compile (inductor): the first batch of each shape compiles it")

    def __call__(self, model: ELCRec, batch: TrainBatch, cfg: TrainConfig) -> dict[str, torch.Tensor]:
        if self.compiled is not None:
            try:
                with _backward_compiled_with_forward():
                    return self.compiled(model, batch, cfg)
            except Exception as exc:  # noqa: BLE001 - any compiler failure: fall back, say why
                self.compiled = None
                reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
                self.log(f"torch.compile failed ({type(exc).__name__}: {reason}); the training step runs eager")
        return loss_parts(model, batch, cfg)


def _backward_compiled_with_forward() -> AbstractContextManager:
    """Inductor compiles the backward at the first call, with the forward, so that a failure of either is caught
    by the fallback (torch's private switch; a no-op where a torch version lacks it)."""
    config = torch._functorch.config
    if hasattr(config, "force_non_lazy_backward_lowering"):
        return config.patch(force_non_lazy_backward_lowering=True)
    return nullcontext()


def _compiler_missing() -> str:
    """Why inductor cannot build C++ kernels here ('' when it can): no C++ compiler on the PATH (or in $CXX)."""
    try:
        from torch._inductor import cpp_builder

        cpp_builder.get_cpp_compiler()
    except Exception as exc:  # noqa: BLE001 - InvalidCxxCompiler and import failures alike
        return f"no C++ compiler for inductor ({type(exc).__name__}: {str(exc).strip()[:200]})"
    return ""
