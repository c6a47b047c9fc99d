"""The model's own parts: dropout on CPU (one random byte per element, the same draw for the same seed) and
the random bytes it draws from."""

from __future__ import annotations

import pytest
import torch


@pytest.mark.parametrize(("p", "threshold"), [(0.5, 128), (0.2, 51)])
def test_dropout_keeps_a_fraction_one_minus_p_scaled_and_follows_the_seed(p: float, threshold: int) -> None:
    from elcrec_core.model.elcrec import dropout

    x = torch.full((300, 50, 64), 3.0, requires_grad=True)
    torch.manual_seed(11)
    out = dropout(x, p, True)
    scale = 256 / (256 - threshold)  # p rounded to a multiple of 1/256
    assert out.unique().tolist() == pytest.approx([0.0, 3.0 * scale])
    kept = (out != 0).double().mean().item()
    assert kept == pytest.approx((256 - threshold) / 256, abs=0.003)  # 960,000 draws: 6 standard deviations
    out.sum().backward()
    assert torch.equal(x.grad, (out != 0) * torch.tensor(scale, dtype=torch.float32))
    torch.manual_seed(11)
    assert torch.equal(dropout(x, p, True), out)
    assert dropout(x, p, False) is x and dropout(x, 0.0, True) is x
    half = dropout(x.detach().bfloat16(), p, True)  # bf16 stays bf16, scaled as exactly as bf16 holds 3 / (1 - p)
    assert half.dtype == torch.bfloat16
    assert half.unique().tolist() == [0.0, torch.tensor(3.0 * scale).bfloat16().item()]


def test_dropout_refuses_a_probability_outside_0_1() -> None:
    from elcrec_core.model.elcrec import dropout

    for p in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=f"dropout probability {p} is not in"):
            dropout(torch.ones(3), p, True)


def test_random_bytes_are_uniform_in_every_byte_of_a_draw() -> None:
    """Eight bytes come from each 64-bit draw: each of the eight must be uniform on 0..255 (none stuck in half
    the range, as the top byte of a non-negative draw would be)."""
    from elcrec_core.model.elcrec import random_bytes

    torch.manual_seed(3)
    values = random_bytes(torch.Size((1000, 800))).long().view(-1, 8)
    for lane in range(8):
        counts = torch.bincount(values[:, lane], minlength=256).double()
        expected = len(values) / 256
        chi2 = ((counts - expected) ** 2 / expected).sum().item()
        assert chi2 < 350, (lane, chi2)  # 255 degrees of freedom: P(chi2 > 350) < 1e-4
        assert (values[:, lane] >= 128).double().mean().item() == pytest.approx(0.5, abs=0.005)
