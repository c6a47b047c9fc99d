"""The scoring product: oneDNN on CPU float32, torch's matmul elsewhere, the same scores either way."""

from __future__ import annotations

import pytest
import torch

from elcrec_core.model import products
from elcrec_core.model.products import user_item_scores


def _vectors(users: int, items: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(users, 64, generator=g), torch.randn(items, 64, generator=g)


@pytest.mark.parametrize("users,items", [(1, 1), (3, 7), (64, 1000), (173, 12101), (257, 40000)])
def test_scores_are_the_matrix_product(users: int, items: int) -> None:
    vecs, table = _vectors(users, items)
    with torch.no_grad():
        scores = user_item_scores(vecs, table)
    assert scores.shape == (users, items) and scores.dtype == torch.float32
    torch.testing.assert_close(scores, (vecs.double() @ table.double().T).float(), rtol=1e-5, atol=1e-4)


def test_equal_item_rows_score_exactly_equal() -> None:
    # ties must stay exact ties wherever the items fall in the kernel's blocks (the last, partial block included)
    vecs, table = _vectors(257, 12101, seed=1)
    copies = torch.tensor([1, 2, 63, 64, 4095, 12099, 12100])
    table[copies] = table[0].clone()
    with torch.no_grad():
        scores = user_item_scores(vecs, table)
    assert torch.equal(scores[:, copies], scores[:, :1].expand(-1, len(copies)))


def test_cpu_float32_without_gradients_goes_through_onednn() -> None:
    vecs, table = _vectors(4, 9)
    if not torch.backends.mkldnn.is_available():
        pytest.skip("this torch has no oneDNN")
    with torch.no_grad():
        assert products._onednn_applies(vecs, table)
    assert products._onednn_applies(vecs, table)  # grad mode on, but nothing needs a gradient
    assert not products._onednn_applies(vecs.double(), table.double())
    assert not products._onednn_applies(vecs[:0], table)


def test_other_cases_are_torch_matmul_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    vecs, table = _vectors(5, 11)
    assert torch.equal(user_item_scores(vecs.double(), table.double()), vecs.double() @ table.double().T)
    assert user_item_scores(vecs[:0], table).shape == (0, 11)
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    assert torch.equal(user_item_scores(vecs, table), vecs @ table.T)


def test_gradients_flow_through_the_fallback() -> None:
    vecs, table = _vectors(5, 11)
    vecs.requires_grad_(True)
    assert not products._onednn_applies(vecs, table)
    user_item_scores(vecs, table).sum().backward()
    torch.testing.assert_close(vecs.grad, table.sum(0).expand(5, -1))


@pytest.mark.parametrize("table", [torch.randn(2, 7, 8), torch.randn(8)])
def test_inputs_that_are_not_matrices_are_refused(table: torch.Tensor) -> None:
    with pytest.raises(ValueError, match=r"user vectors \[U, d\] and an item table \[n, d\], not \(5, 8\) and"):
        user_item_scores(torch.randn(5, 8), table)


def test_mismatched_widths_get_torch_matmuls_error() -> None:
    vecs, table = torch.randn(5, 8), torch.randn(7, 9)
    assert not products._onednn_applies(vecs, table)
    with torch.no_grad(), pytest.raises(RuntimeError, match="cannot be multiplied"):
        user_item_scores(vecs, table)


def test_zero_width_vectors_score_zero() -> None:
    with torch.no_grad():
        assert torch.equal(user_item_scores(torch.empty(3, 0), torch.empty(4, 0)), torch.zeros(3, 4))
