"""Row-blocked cross-entropy over all items: F.cross_entropy(hidden @ table.T)'s values and gradients."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from elcrec_core.model import linear_cross_entropy as lce
from elcrec_core.model import losses
from elcrec_core.model.linear_cross_entropy import linear_cross_entropy


def _case(rows: int, items: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(rows, 16, generator=g).requires_grad_(True)
    table = torch.randn(items, 16, generator=g).requires_grad_(True)
    return hidden, table, torch.randint(0, items, (rows,), generator=g)


def _value_and_grads(fn, hidden, table, targets, scale: float = 1.0):  # type: ignore[no-untyped-def]
    loss = fn(hidden, table, targets)
    grads = torch.autograd.grad(loss * scale, (hidden, table))
    return loss.detach(), grads


@pytest.mark.parametrize("rows,items,block_elements", [
    (1, 5, 5),          # one row, one block
    (7, 5, 10),         # blocks of 2 rows, the last one partial
    (64, 300, 300),     # a block per row
    (500, 1000, 1 << 16),
    (33, 3, 1 << 22),   # one block for everything
])
def test_blocked_equals_cross_entropy_of_the_product(monkeypatch: pytest.MonkeyPatch, rows: int, items: int,
                                                     block_elements: int) -> None:
    monkeypatch.setattr(lce, "_BLOCK_ELEMENTS", block_elements)
    hidden, table, targets = _case(rows, items)
    loss, (g_hidden, g_table) = _value_and_grads(linear_cross_entropy, hidden, table, targets, scale=3.0)
    ref_loss, (r_hidden, r_table) = _value_and_grads(
        lambda h, t, y: F.cross_entropy((h.double() @ t.double().T), y), hidden, table, targets, scale=3.0)
    assert loss.dtype == torch.float32 and loss.shape == ()
    assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-6, abs=1e-6)
    torch.testing.assert_close(g_hidden, r_hidden.float(), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(g_table, r_table.float(), rtol=1e-5, atol=1e-7)


def test_loss_by_hand_through_the_blocked_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lce, "_BLOCK_ELEMENTS", 6)  # 2 rows a block over 3 items
    hidden = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], requires_grad=True)
    table = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.5]])
    targets = torch.tensor([0, 2, 1])
    terms = []
    for h, y in zip(hidden.tolist(), targets.tolist()):
        logits = [h[0] * t[0] + h[1] * t[1] for t in table.tolist()]
        terms.append(math.log(sum(math.exp(x) for x in logits)) - logits[y])
    loss = linear_cross_entropy(hidden, table, targets)
    assert loss.item() == pytest.approx(sum(terms) / 3, abs=1e-6)
    loss.backward()
    softmax = torch.softmax(hidden.detach() @ table.T, 1)
    expected = (softmax - F.one_hot(targets, 3)) @ table / 3
    torch.testing.assert_close(hidden.grad, expected)


def test_plain_path_without_gradients_other_dtypes_and_no_rows() -> None:
    hidden, table, targets = _case(9, 4)
    with torch.no_grad():
        assert torch.equal(linear_cross_entropy(hidden, table, targets), F.cross_entropy(hidden @ table.T, targets))
    h64, t64 = hidden.detach().double().requires_grad_(True), table.detach().double()
    # the logits of other dtypes (bf16 under autocast) are taken to float32 first, as before the blocked path
    assert torch.equal(linear_cross_entropy(h64, t64, targets), F.cross_entropy((h64 @ t64.T).float(), targets))
    assert math.isnan(linear_cross_entropy(hidden[:0], table, targets[:0]).item())
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):  # no gradient: bf16 products, as before
        assert torch.equal(linear_cross_entropy(hidden, table, targets),
                           F.cross_entropy((hidden @ table.T).float(), targets))


def test_full_softmax_loss_gradients_reach_the_item_embedding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lce, "_BLOCK_ELEMENTS", 8)
    g = torch.Generator().manual_seed(3)
    hidden = torch.randn(2, 3, 4, generator=g, requires_grad=True)
    item_emb = torch.randn(7, 4, generator=g, requires_grad=True)
    targets = torch.tensor([[0, 3, 6], [1, 0, 2]])
    losses.full_softmax_loss(hidden, item_emb[1:], targets).backward()
    keep = targets > 0
    h, e = hidden.detach().clone().requires_grad_(True), item_emb.detach().clone().requires_grad_(True)
    F.cross_entropy(h[keep] @ e[1:].T, targets[keep] - 1).backward()
    torch.testing.assert_close(hidden.grad, h.grad)
    torch.testing.assert_close(item_emb.grad, e.grad)
    assert torch.equal(item_emb.grad[0], torch.zeros(4))  # the padding row is no class


@pytest.mark.parametrize("targets", [torch.tensor([0, -100, 2]), torch.tensor([0, 1, 5]),
                                     torch.tensor([0, 1, 2], dtype=torch.int32)])
def test_targets_cross_entropy_handles_its_own_way_take_the_plain_path(targets: torch.Tensor) -> None:
    hidden, table, _ = _case(3, 5)
    try:
        expected = F.cross_entropy(hidden @ table.T, targets)
    except (IndexError, RuntimeError) as error:  # out of range, int32: the same error either way
        with pytest.raises(type(error)):
            linear_cross_entropy(hidden, table, targets)
        return
    assert torch.equal(linear_cross_entropy(hidden, table, targets), expected)  # -100: ignored, as there


def test_only_the_needed_gradient_and_no_second_derivative() -> None:
    hidden, table, targets = _case(6, 5)
    fixed = table.detach()
    loss = linear_cross_entropy(hidden, fixed, targets)
    (grad,) = torch.autograd.grad(loss, hidden, create_graph=True)
    expected = (torch.softmax(hidden.detach() @ fixed.T, 1) - F.one_hot(targets, 5)) @ fixed / 6
    torch.testing.assert_close(grad, expected)
    with pytest.raises(RuntimeError, match="once_differentiable|does not require grad"):
        torch.autograd.grad(grad.sum(), hidden)
    assert linear_cross_entropy(hidden.detach(), table, targets).grad_fn is not None  # the table's only


def test_under_cpu_autocast_the_blocks_run_in_float32(monkeypatch: pytest.MonkeyPatch) -> None:
    """bf16 autocast (the default on CPUs with native bf16) took the whole-matrix path: a [T, n] bf16 product taken
    to float32, 3.1x the time of the blocks and 1.1 GiB more at 5,800 x 19,024. Now the blocks run in float32 there
    too: the loss and gradients of float32 (not of bf16 products), also for a bf16 ``hidden`` from the encoder."""
    monkeypatch.setattr(lce, "_BLOCK_ELEMENTS", 8)
    g = torch.Generator().manual_seed(5)
    hidden = torch.randn(9, 4, generator=g, requires_grad=True)
    table = torch.randn(6, 4, generator=g, requires_grad=True)
    targets = torch.randint(0, 6, (9,), generator=g)
    applied = []
    monkeypatch.setattr(lce._BlockedLinearCrossEntropy, "apply",
                        lambda *args, apply=lce._BlockedLinearCrossEntropy.apply: applied.append(1) or apply(*args))
    exact = F.cross_entropy(hidden @ table.T, targets)
    exact_grads = torch.autograd.grad(exact, (hidden, table))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = linear_cross_entropy(hidden, table, targets)
        halved = linear_cross_entropy(hidden.to(torch.bfloat16), table, targets)  # an encoder's bf16 output
    assert applied == [1, 1] and loss.dtype == torch.float32
    torch.testing.assert_close(loss, exact, rtol=1e-6, atol=1e-6)  # not the bf16 products' value
    assert not torch.equal(loss, F.cross_entropy((hidden.bfloat16() @ table.bfloat16().T).float(), targets))
    for got, want in zip(torch.autograd.grad(loss, (hidden, table)), exact_grads):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    halved.backward()
    assert hidden.grad is not None and hidden.grad.dtype == torch.float32 and table.grad is not None
