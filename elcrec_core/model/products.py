"""The scoring product of user vectors with the item table: oneDNN's kernel on CPU, torch's matmul elsewhere."""

from __future__ import annotations

import torch


def user_item_scores(user_vecs: torch.Tensor, item_table: torch.Tensor) -> torch.Tensor:
    """``user_vecs @ item_table.T``: [U, d] x [n, d] -> [U, n] scores (row u, column i - 1 for item i).

    On CPU, in float32 and without autograd, the product runs through oneDNN (``torch.ops.mkldnn._linear_pointwise``,
    the linear kernel torch.compile's CPU backend calls) instead of torch's default BLAS, Intel MKL, whose sgemm
    takes a slow path on AMD CPUs: for d = 64 and thousands of items oneDNN is 2-3x faster on an AMD EPYC (Zen 3;
    BENCHMARKS.md, "Evaluation throughput"; on an Intel Xeon with AVX-512 the two take the same time, within 5%).
    Elsewhere (CUDA, other dtypes, a tensor that needs gradients, a torch without oneDNN, shapes that are not
    [U, d] x [n, d] with d > 0) it is ``user_vecs @ item_table.T``, with its errors. Raises ValueError
    for inputs that are not matrices. The two paths agree to float32 rounding. On the oneDNN path equal item rows
    got equal scores in every case tried; torch's matmul (MKL, cuBLAS) may block the reduction differently for
    different columns, so there two equal rows can differ in the last bit (seen with MKL for 7 items, d = 64).
    """
    if user_vecs.ndim != 2 or item_table.ndim != 2:
        raise ValueError(f"user_item_scores needs user vectors [U, d] and an item table [n, d], not "
                         f"{tuple(user_vecs.shape)} and {tuple(item_table.shape)}")
    if _onednn_applies(user_vecs, item_table):
        return torch.ops.mkldnn._linear_pointwise(user_vecs.contiguous(), item_table.contiguous(), None, "none", [], "")
    return user_vecs @ item_table.T


def _onednn_applies(user_vecs: torch.Tensor, item_table: torch.Tensor) -> bool:
    needs_grad = torch.is_grad_enabled() and (user_vecs.requires_grad or item_table.requires_grad)
    return (user_vecs.shape[1] == item_table.shape[1] > 0
            and user_vecs.device.type == "cpu" and item_table.device.type == "cpu"
            and user_vecs.dtype == torch.float32 and item_table.dtype == torch.float32
            and min(user_vecs.shape[0], item_table.shape[0]) > 0
            and not needs_grad and torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, "_linear_pointwise"))
