"""Cross-entropy of ``hidden @ table.T`` over all items, computed in row blocks without the full logit matrix.

The full-softmax next-item loss scores every target position against every item: [T, n] logits (Beauty: about
2,000 positions x 12,101 items a batch, 97 MB). Materialised whole, that matrix and the softmax, its gradient and
their copies each pass through memory (and, past glibc's largest mmap threshold, fault in fresh pages every step).
Here, on CPU in float32, rows are taken a cache-sized block at a time: the block's logits (the product through
:func:`elcrec_core.model.products.user_item_scores`), its log-sum-exp, and at once its gradient, softmax minus the
one-hot target, multiplied back into the gradients of ``hidden`` and ``table``. The technique of fused linear
cross-entropy (Liger Kernel's ``FusedLinearCrossEntropy``; Wijmans et al., "Cut Your Losses in Large-Vocabulary
Language Models", 2024), in plain torch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from elcrec_core.model.products import user_item_scores

_BLOCK_ELEMENTS = 1 << 22  # logits per row block: 16 MiB of fp32 (2^20-2^22 measured within 10% of each other)


def linear_cross_entropy(hidden: torch.Tensor, table: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over rows of -log softmax(hidden @ table.T)[row, target]: ``F.cross_entropy(hidden @ table.T, targets)``.

    ``hidden`` [T, d], ``table`` [n, d], ``targets`` [T] class indices (int64) in 0..n-1; returns a scalar.
    Row-blocked with the gradients that are needed computed in the forward pass, on CPU in float32 when a gradient
    is needed (outside torch.compile); under CPU autocast too, with ``hidden`` and ``table`` taken to float32: bf16
    autocast's whole [T, n] matrix took 3.1x the time a step and 1.1 GiB more at 5,800 x 19,024 on a CPU with
    native bf16, much of it in page faults (BENCHMARKS.md "Full softmax under bf16 autocast"). Otherwise, and for
    anything else F.cross_entropy handles its own way (T = 0: NaN; ignore_index -100 and out-of-range targets;
    other shapes and dtypes), the plain expression, with its errors. Values and first gradients agree with it to
    float32 rounding; the blocked path has no second derivative.
    """
    needs_grad = torch.is_grad_enabled() and (hidden.requires_grad or table.requires_grad)
    if (needs_grad and hidden.device.type == "cpu" and torch.is_autocast_enabled("cpu")
            and not torch.compiler.is_compiling() and hidden.is_floating_point() and table.is_floating_point()):
        with torch.autocast("cpu", enabled=False):  # the blocks in float32, not the whole matrix in bf16
            return linear_cross_entropy(hidden.float(), table.float(), targets)
    blocked = (needs_grad and hidden.device.type == "cpu" and hidden.dtype == table.dtype == torch.float32
               and hidden.ndim == table.ndim == 2 and hidden.shape[0] > 0 and hidden.shape[1] > 0
               and targets.dtype == torch.long and targets.shape == hidden.shape[:1]
               and not torch.is_autocast_enabled("cpu") and not torch.compiler.is_compiling()
               and 0 <= int(targets.min()) and int(targets.max()) < table.shape[0])
    if not blocked:
        return whole_matrix_cross_entropy(hidden, table, targets)
    block = max(1, _BLOCK_ELEMENTS // max(1, table.shape[0]))
    return _BlockedLinearCrossEntropy.apply(hidden, table, targets, block)


def whole_matrix_cross_entropy(hidden: torch.Tensor, table: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The plain expression: ``F.cross_entropy`` of the whole [T, n] logit matrix ``hidden @ table.T``, taken to
    float32 (bf16 logits under autocast)."""
    return F.cross_entropy((hidden @ table.T).float(), targets)


class _BlockedLinearCrossEntropy(torch.autograd.Function):
    """Forward computes the loss and both gradients block by block; backward scales them by the output's grad."""

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, table: torch.Tensor, targets: torch.Tensor,  # type: ignore[override]
                block: int) -> torch.Tensor:
        rows = hidden.shape[0]
        want_hidden, want_table = ctx.needs_input_grad[:2]
        grad_hidden = torch.empty_like(hidden) if want_hidden else None
        grad_table = torch.zeros_like(table) if want_table else None
        total = torch.zeros((), dtype=torch.float64)
        for lo in range(0, rows, block):
            h, y = hidden[lo:lo + block], targets[lo:lo + block, None]
            logits = user_item_scores(h, table)
            lse = torch.logsumexp(logits, 1, keepdim=True)
            total += (lse - logits.gather(1, y)).sum(dtype=torch.float64)
            probs = logits.sub_(lse).exp_()  # softmax, in place of the logits
            probs.scatter_add_(1, y, probs.new_full(y.shape, -1.0))  # minus the one-hot target
            if grad_hidden is not None:
                torch.mm(probs, table, out=grad_hidden[lo:lo + block])
            if grad_table is not None:
                grad_table.addmm_(probs.T, h)
        ctx.grads = tuple(None if g is None else g.div_(rows) for g in (grad_hidden, grad_table))
        return (total / rows).to(hidden.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: torch.Tensor):  # type: ignore[override]
        grad_hidden, grad_table = ctx.grads
        return (None if grad_hidden is None else grad_hidden * grad_output,
                None if grad_table is None else grad_table * grad_output, None, None)
