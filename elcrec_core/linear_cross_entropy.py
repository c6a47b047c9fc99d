"""Cross-entropy of ``hidden @ table.T`` over all items, computed in row blocks without the full logit matrix.

The full-softmax next-item loss scores every target position against every item: [T, n] logits (Beauty: about
2,000 positions x 12,101 items a batch, 97 MB). Materialised whole, that matrix and the softmax, its gradient and
their copies each pass through memory (and, past glibc's largest mmap threshold, fault in fresh pages every step).
Here, on CPU in float32, rows are taken a cache-sized block at a time: the block's logits (the product through
:func:`elcrec_core.products.user_item_scores`), its log-sum-exp, and at once its gradient, softmax minus the
one-hot target, multiplied back into the gradients of ``hidden`` and ``table``. The technique of fused linear
cross-entropy (Liger Kernel's ``FusedLinearCrossEntropy``; Wijmans et al., "Cut Your Losses in Large-Vocabulary
Language Models", 2024), in plain torch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from elcrec_core.products import user_item_scores

_BLOCK_ELEMENTS = 1 << 22  # logits per row block: 16 MiB of fp32 (2^20-2^22 measured within 10% of each other)


def linear_cross_entropy(hidden: torch.Tensor, table: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over rows of -log softmax(hidden @ table.T)[row, target]: ``F.cross_entropy(hidden @ table.T, targets)``.

    ``hidden`` [T, d], ``table`` [n, d], ``targets`` [T] class indices in 0..n-1; returns a scalar. Row-blocked
    with gradients computed in the forward pass on CPU in float32 when a gradient is needed (outside autocast and
    torch.compile); otherwise, and for T = 0 (NaN, as F.cross_entropy), the plain expression. Values and gradients
    agree with it to float32 rounding.
    """
    needs_grad = torch.is_grad_enabled() and (hidden.requires_grad or table.requires_grad)
    blocked = (needs_grad and hidden.device.type == "cpu" and hidden.dtype == table.dtype == torch.float32
               and hidden.shape[0] > 0 and not torch.is_autocast_enabled("cpu")
               and not torch.compiler.is_compiling())
    if not blocked:
        return F.cross_entropy((hidden @ table.T).float(), targets)
    block = max(1, _BLOCK_ELEMENTS // max(1, table.shape[0]))
    return _BlockedLinearCrossEntropy.apply(hidden, table, targets, block)


class _BlockedLinearCrossEntropy(torch.autograd.Function):
    """Forward computes the loss and both gradients block by block; backward scales them by the output's grad."""

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, table: torch.Tensor, targets: torch.Tensor,  # type: ignore[override]
                block: int) -> torch.Tensor:
        rows = hidden.shape[0]
        grad_hidden = torch.empty_like(hidden)
        grad_table = torch.zeros_like(table)
        total = torch.zeros((), dtype=torch.float64)
        for lo in range(0, rows, block):
            h, y = hidden[lo:lo + block], targets[lo:lo + block, None]
            logits = user_item_scores(h, table)
            lse = torch.logsumexp(logits, 1, keepdim=True)
            total += (lse - logits.gather(1, y)).sum(dtype=torch.float64)
            probs = logits.sub_(lse).exp_()  # softmax, in place of the logits
            probs.scatter_add_(1, y, probs.new_full(y.shape, -1.0))  # minus the one-hot target
            torch.mm(probs, table, out=grad_hidden[lo:lo + block])
            grad_table.addmm_(probs.T, h)
        ctx.save_for_backward(grad_hidden.div_(rows), grad_table.div_(rows))
        return (total / rows).to(hidden.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):  # type: ignore[override]
        grad_hidden, grad_table = ctx.saved_tensors
        return grad_hidden * grad_output, grad_table * grad_output, None, None
