"""The ELCRec loss parts against hand-computed values and direct re-implementations of the reference."""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from elcrec_core.model import losses


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def reference_nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """The reference NCE loss: rows [z1 z2^T | z1 z1^T] and [z2 z2^T | z2 z1^T], self-similarities -inf,
    labels arange(2B), mean cross-entropy."""
    z1, z2 = z1.double(), z2.double()
    sim11 = z1 @ z1.T / temperature
    sim22 = z2 @ z2.T / temperature
    sim12 = z1 @ z2.T / temperature
    d = sim12.shape[-1]
    sim11[range(d), range(d)] = float("-inf")
    sim22[range(d), range(d)] = float("-inf")
    logits = torch.cat([torch.cat([sim12, sim11], -1), torch.cat([sim22, sim12.T], -1)], -2)
    return F.cross_entropy(logits, torch.arange(2 * d))


def brute_force_nearest(x: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """argmin_k ||x - c_k||^2 for every row of x [..., d], by explicit differences."""
    diff = x.double()[..., None, :] - centres.double()
    return (diff * diff).sum(-1).argmin(-1)


def brute_force_cluster_loss(samples: torch.Tensor, centres: torch.Tensor) -> float:
    """Mean over all (sample, centre) pairs minus mean over all (centre, centre) pairs of squared distance."""
    s = [row / row.norm() for row in samples.double()]
    c = list(centres.double())
    sc = sum(float(((a - b) ** 2).sum()) for a in s for b in c) / (len(s) * len(c))
    cc = sum(float(((a - b) ** 2).sum()) for a in c for b in c) / (len(c) * len(c))
    return sc - cc


# ------------------------------------------------------------------------------------------ cluster loss
def test_cluster_loss_hand_example() -> None:
    """samples [[3,4],[0,2]] normalise to s0=[0.6,0.8], s1=[0,1]; centres c0=[1,0], c1=[0,1].

    sample-centre: |s0-c0|^2 = 0.16+0.64 = 0.8, |s0-c1|^2 = 0.36+0.04 = 0.4, |s1-c0|^2 = 1+1 = 2,
    |s1-c1|^2 = 0 -> mean 3.2/4 = 0.8. centre-centre: 0, 2, 2, 0 -> mean 1. loss = 0.8 - 1 = -0.2.
    """
    samples = torch.tensor([[3.0, 4.0], [0.0, 2.0]])
    centres = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert losses.cluster_loss(samples, centres).item() == pytest.approx(-0.2, abs=1e-6)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 7), k=st.integers(1, 6), d=st.integers(1, 5))
def test_cluster_loss_matches_pairwise_brute_force(seed: int, n: int, k: int, d: int) -> None:
    """The O((n+k)d) closed form equals the explicit mean over all pairs (unit-normalised centres)."""
    g = _gen(seed)
    samples = torch.randn(n, d, generator=g, dtype=torch.float64) * 3
    centres = F.normalize(torch.randn(k, d, generator=g, dtype=torch.float64), dim=-1)
    expected = brute_force_cluster_loss(samples, centres)
    assert losses.cluster_loss(samples, centres).item() == pytest.approx(expected, abs=1e-9)


def test_cluster_loss_uses_centres_as_given() -> None:
    """Centres are not renormalised inside the loss: scaled centres change the value as the pairwise formula says."""
    g = _gen(1)
    samples = torch.randn(5, 3, generator=g, dtype=torch.float64)
    centres = torch.randn(4, 3, generator=g, dtype=torch.float64) * 2.5
    expected = brute_force_cluster_loss(samples, centres)
    assert losses.cluster_loss(samples, centres).item() == pytest.approx(expected, abs=1e-9)


# ------------------------------------------------------------------------------------------ NT-Xent
@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_nt_xent_matches_reference_formulation(temperature: float) -> None:
    g = _gen(2)
    z1 = torch.randn(6, 5, generator=g)
    z2 = torch.randn(6, 5, generator=g)
    expected = reference_nt_xent(z1, z2, temperature).item()
    assert losses.nt_xent(z1, z2, temperature).item() == pytest.approx(expected, abs=1e-5)


def test_nt_xent_refuses_views_of_unequal_shapes() -> None:
    """z1 [3, 2] and z2 [1, 2] were stacked into 4 rows and row i paired with row i + 2: a figure, no error."""
    z1, z2 = torch.ones(3, 2), torch.ones(1, 2)
    for a, b, shown in ((z1, z2, "(3, 2) and (1, 2)"), (z1, torch.ones(3, 4), "(3, 2) and (3, 4)")):
        with pytest.raises(ValueError, match=re.escape(f"their shapes must be equal, not {shown}")):
            losses.nt_xent(a, b)
        with pytest.raises(ValueError, match="shapes must be equal"):
            losses.intent_contrastive_loss(a, a, b)


def test_nt_xent_hand_example() -> None:
    """B=2, z1 = [[1,0],[0,2]], z2 = [[2,0],[1,1]].

    z1.z2: (0,0)=2, (0,1)=1, (1,0)=0, (1,1)=2; z1_0.z1_1 = 0; z2_0.z2_1 = 2.
    row z1_0: candidates z2_0=2 (positive), z2_1=1, z1_1=0          -> log(e^2 + e + 1) - 2
    row z1_1: candidates z2_1=2 (positive), z2_0=0, z1_0=0          -> log(e^2 + 2) - 2
    row z2_0: candidates z1_0=2 (positive), z1_1=0, z2_1=2          -> log(2e^2 + 1) - 2
    row z2_1: candidates z1_1=2 (positive), z1_0=1, z2_0=2          -> log(2e^2 + e) - 2
    """
    e = math.e
    expected = (
        math.log(e**2 + e + 1) + math.log(e**2 + 2) + math.log(2 * e**2 + 1) + math.log(2 * e**2 + e) - 8
    ) / 4
    z1 = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    z2 = torch.tensor([[2.0, 0.0], [1.0, 1.0]])
    assert losses.nt_xent(z1, z2).item() == pytest.approx(expected, abs=1e-6)
    # temperature 2 halves every logit: the positive of row z1_0 becomes 1, its negatives 0.5 and 0, ...
    expected_t2 = (
        math.log(e + e**0.5 + 1) + math.log(e + 2) + math.log(2 * e + 1) + math.log(2 * e + e**0.5) - 4
    ) / 4
    assert losses.nt_xent(z1, z2, temperature=2.0).item() == pytest.approx(expected_t2, abs=1e-6)


# ------------------------------------------------------------------------------------------ next-item losses
def test_bce_next_item_loss_matches_manual_formula_and_ignores_padding() -> None:
    g = _gen(3)
    hidden = torch.randn(2, 4, 3, generator=g, dtype=torch.float64)
    item_emb = torch.randn(9, 3, generator=g, dtype=torch.float64)
    targets = torch.tensor([[0, 2, 5, 1], [0, 0, 8, 3]])
    negatives = torch.tensor([[7, 4, 6, 2], [1, 5, 3, 7]])
    terms = []
    for b in range(2):
        for t in range(4):
            if targets[b, t] > 0:
                pos = float(hidden[b, t] @ item_emb[targets[b, t]])
                neg = float(hidden[b, t] @ item_emb[negatives[b, t]])
                sig_pos, sig_neg = 1 / (1 + math.exp(-pos)), 1 / (1 + math.exp(-neg))
                terms.append(-math.log(sig_pos) - math.log(1 - sig_neg))
    expected = sum(terms) / len(terms)
    assert len(terms) == 5
    loss = losses.bce_next_item_loss(hidden, item_emb, targets, negatives).item()
    assert loss == pytest.approx(expected, abs=1e-9)

    changed = hidden.clone()
    changed[0, 0] += 100.0  # padding positions (target 0)
    changed[1, :2] -= 50.0
    assert losses.bce_next_item_loss(changed, item_emb, targets, negatives).item() == pytest.approx(loss, abs=1e-12)
    changed[1, 2] += 1.0  # a real target position does change it
    assert losses.bce_next_item_loss(changed, item_emb, targets, negatives).item() != pytest.approx(loss, abs=1e-6)


def test_full_softmax_loss_is_cross_entropy_over_real_items() -> None:
    g = _gen(4)
    n_items = 6
    hidden = torch.randn(2, 3, 4, generator=g, dtype=torch.float64)
    item_emb = torch.randn(n_items + 1, 4, generator=g, dtype=torch.float64)
    table = item_emb[1:]
    targets = torch.tensor([[0, 3, 6], [1, 0, 2]])
    terms = []
    for b in range(2):
        for t in range(3):
            if targets[b, t] > 0:
                logits = [float(hidden[b, t] @ table[j]) for j in range(n_items)]
                log_z = math.log(sum(math.exp(x) for x in logits))
                terms.append(log_z - logits[int(targets[b, t]) - 1])
    expected = sum(terms) / len(terms)
    loss = losses.full_softmax_loss(hidden, table, targets).item()
    assert loss == pytest.approx(expected, abs=1e-6)
    changed = hidden.clone()
    changed[0, 0] = 7.0
    changed[1, 1] = -3.0
    assert losses.full_softmax_loss(changed, table, targets).item() == pytest.approx(loss, abs=1e-9)


def _sampled_softmax_by_hand(
    hidden: torch.Tensor, item_emb: torch.Tensor, targets: torch.Tensor, negatives: list[int]
) -> float:
    """Mean over non-padding targets of -log softmax over [target] + [negatives that differ from the target]."""
    terms = []
    for b in range(targets.shape[0]):
        for t in range(targets.shape[1]):
            target = int(targets[b, t])
            if target == 0:
                continue
            pos = float(hidden[b, t] @ item_emb[target])
            logits = [pos] + [float(hidden[b, t] @ item_emb[n]) for n in negatives if n != target]
            terms.append(math.log(sum(math.exp(x) for x in logits)) - pos)
    return sum(terms) / len(terms)


def test_sampled_softmax_loss_masks_a_negative_equal_to_the_target() -> None:
    g = _gen(5)
    hidden = torch.randn(2, 2, 3, generator=g, dtype=torch.float64)
    item_emb = torch.randn(8, 3, generator=g, dtype=torch.float64)
    targets = torch.tensor([[2, 5], [0, 4]])
    negatives = torch.tensor([2, 6, 7])  # 2 equals the target of position (0, 0)
    expected = _sampled_softmax_by_hand(hidden, item_emb, targets, [2, 6, 7])
    loss = losses.sampled_softmax_loss(hidden, item_emb, targets, negatives).item()
    assert loss == pytest.approx(expected, abs=1e-6)
    # position (0, 0) alone: identical to the loss with negative 2 removed
    only = torch.tensor([[2]])
    with_clash = losses.sampled_softmax_loss(hidden[:1, :1], item_emb, only, negatives).item()
    without = losses.sampled_softmax_loss(hidden[:1, :1], item_emb, only, torch.tensor([6, 7])).item()
    assert with_clash == pytest.approx(without, abs=1e-9)
    # ... and different from leaving the clashing negative in (it would add a second copy of the positive logit)
    h = hidden[0, 0]
    pos = float(h @ item_emb[2])
    unmasked = math.log(2 * math.exp(pos) + sum(math.exp(float(h @ item_emb[n])) for n in (6, 7))) - pos
    assert with_clash != pytest.approx(unmasked, abs=1e-3)


# ------------------------------------------------------------------------------------------ contrastive losses
def test_nearest_centre_matches_brute_force() -> None:
    g = _gen(6)
    x = torch.randn(4, 5, 3, generator=g)
    centres = torch.randn(7, 3, generator=g)
    assert torch.equal(losses.nearest_centre(x, centres), brute_force_nearest(x, centres))


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_sequence_contrastive_loss_shift_and_concat(temperature: float) -> None:
    g = _gen(7)
    batch, length, d, k = 3, 4, 5, 6
    views = torch.randn(2 * batch, length, d, generator=g)
    centres = torch.randn(k, d, generator=g)
    nearest = centres[brute_force_nearest(views, centres)]

    shifted = (views + nearest).flatten(1)
    expected_shift = reference_nt_xent(shifted[:batch], shifted[batch:], temperature).item()
    got_shift = losses.sequence_contrastive_loss(views, centres, "shift", temperature).item()
    assert got_shift == pytest.approx(expected_shift, abs=1e-5)

    concat = torch.cat([views, nearest], -1).flatten(1)
    expected_concat = reference_nt_xent(concat[:batch], concat[batch:], temperature).item()
    got_concat = losses.sequence_contrastive_loss(views, centres, "concat", temperature).item()
    assert got_concat == pytest.approx(expected_concat, abs=1e-5)

    plain = views.flatten(1)
    assert got_shift != pytest.approx(reference_nt_xent(plain[:batch], plain[batch:], temperature).item(), abs=1e-3)


def test_sequence_contrastive_loss_rejects_unknown_prototype() -> None:
    views = torch.zeros(4, 2, 3)
    centres = torch.eye(3)
    with pytest.raises(ValueError, match="prototype"):
        losses.sequence_contrastive_loss(views, centres, "append")  # type: ignore[arg-type]


def test_assign_intents_uses_normalised_vectors() -> None:
    """Normalised centres: c0=[1,0], c1=[0,1], c2=[-1,-1]/sqrt2.

    p0=[10,0.1] -> ~[1,0.01]: nearest c0.
    p1=[0.1,-5] -> ~[0.02,-1]: |.-c0|^2 ~ 1.96, |.-c1|^2 ~ 4, |.-c2|^2 ~ 0.53+0.09 = 0.61 -> c2.
    p2=[3,3.1] -> ~[0.695,0.718]: |.-c0|^2 ~ 0.09+0.52 = 0.61, |.-c1|^2 ~ 0.48+0.08 = 0.56 -> c1
        (unnormalised it would be c0: |[3,3.1]-[2,0]|^2 = 10.6 < |[3,3.1]-[0,0.1]|^2 = 18).
    p3=[0.1,0.05] -> ~[0.894,0.447]: |.-c0|^2 ~ 0.21, |.-c1|^2 ~ 1.11 -> c0
        (unnormalised it would be c1: 0.0125 against 3.6).
    """
    pooled = torch.tensor([[10.0, 0.1], [0.1, -5.0], [3.0, 3.1], [0.1, 0.05]])
    centres = torch.tensor([[2.0, 0.0], [0.0, 0.1], [-1.0, -1.0]])
    assert losses.assign_intents(pooled, centres).tolist() == [0, 2, 1, 0]


def test_intent_contrastive_loss_is_mean_of_two_nt_xents() -> None:
    g = _gen(8)
    v1, v2, c = (torch.randn(5, 4, generator=g) for _ in range(3))
    for temperature in (1.0, 0.5):
        expected = (reference_nt_xent(v1, c, temperature) + reference_nt_xent(v2, c, temperature)).item() / 2
        got = losses.intent_contrastive_loss(v1, v2, c, temperature).item()
        assert got == pytest.approx(expected, abs=1e-5)


def test_nt_xent_gradient_matches_plain_autograd() -> None:
    """The one-product Gram backward gives the same gradient as autograd through z1, z2 directly."""
    z1 = torch.randn(6, 5, dtype=torch.double, requires_grad=True)
    z2 = torch.randn(6, 5, dtype=torch.double, requires_grad=True)
    losses.nt_xent(z1, z2, 0.7).backward()
    g1, g2 = z1.grad.clone(), z2.grad.clone()
    z1.grad = z2.grad = None
    reference_nt_xent(z1, z2, 0.7).backward()
    assert torch.allclose(g1, z1.grad) and torch.allclose(g2, z2.grad)


def test_nt_xent_stays_fp32_under_bf16_autocast() -> None:
    z1, z2 = torch.randn(8, 300) * 3, torch.randn(8, 300) * 3
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = losses.nt_xent(z1, z2)
    assert value.dtype == torch.float32
    assert value.item() == pytest.approx(reference_nt_xent(z1, z2).item(), rel=1e-5)


# ------------------------------------------------------------------------------------------ cosine InfoNCE
def test_nt_xent_cosine_hand_example() -> None:
    """z1 = [[3,0],[0,2]], z2 = [[1,0],[1,1]]: normalised, z1 = [[1,0],[0,1]], z2 = [[1,0],[s,s]] (s = 1/sqrt 2).

    row z1_0: positive z2_0 = 1, negatives z2_1 = s, z1_1 = 0        -> log(e^(1/t) + e^(s/t) + 1) - 1/t
    row z1_1: positive z2_1 = s, negatives z2_0 = 0, z1_0 = 0        -> log(e^(s/t) + 2) - s/t
    row z2_0: positive z1_0 = 1, negatives z1_1 = 0, z2_1 = s        -> log(e^(1/t) + 1 + e^(s/t)) - 1/t
    row z2_1: positive z1_1 = s, negatives z1_0 = s, z2_0 = s        -> log(3 e^(s/t)) - s/t = log 3
    """
    s = 1 / math.sqrt(2)
    z1 = torch.tensor([[3.0, 0.0], [0.0, 2.0]])
    z2 = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    for t in (1.0, 0.2):
        e1, es = math.exp(1 / t), math.exp(s / t)
        expected = (2 * (math.log(e1 + es + 1) - 1 / t) + math.log(es + 2) - s / t + math.log(3)) / 4
        assert losses.nt_xent(z1, z2, t, "cosine").item() == pytest.approx(expected, abs=1e-5)
    # scaling a row changes nothing under cosine similarity, and everything under raw dot products
    assert losses.nt_xent(5 * z1, z2, 0.2, "cosine").item() == pytest.approx(losses.nt_xent(z1, z2, 0.2, "cosine").item(),
                                                                           abs=1e-5)
    assert losses.nt_xent(5 * z1, z2).item() != pytest.approx(losses.nt_xent(z1, z2).item(), abs=1e-3)


def test_nt_xent_refuses_an_unknown_similarity() -> None:
    with pytest.raises(ValueError, match="unknown similarity 'l1'"):
        losses.nt_xent(torch.ones(2, 2), torch.ones(2, 2), 1.0, "l1")


def test_sequence_view_flatten_pooled_last() -> None:
    views = torch.arange(24, dtype=torch.float32).view(2, 3, 4)
    pooled = torch.ones(2, 4)
    assert losses.sequence_view(views, pooled, "flatten") is views
    assert losses.sequence_view(views, pooled, "pooled") is pooled
    assert torch.equal(losses.sequence_view(views, pooled, "last"), views[:, -1])
    with pytest.raises(ValueError, match="unknown sequence-contrastive view"):
        losses.sequence_view(views, pooled, "first")


def test_sequence_contrastive_loss_on_a_pooled_view_shifts_each_row_by_its_nearest_centre() -> None:
    rep = torch.tensor([[1.0, 0.1], [0.0, 1.0], [0.9, 0.0], [0.1, 1.2]])  # [2B, d]: view 1 rows, then view 2
    centres = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    shifted = rep + centres[torch.tensor([0, 1, 0, 1])]
    expected = losses.nt_xent(shifted[:2], shifted[2:], 0.5, "cosine")
    got = losses.sequence_contrastive_loss(rep, centres, "shift", 0.5, "cosine")
    assert got.item() == pytest.approx(expected.item(), abs=1e-6)


def test_sampled_softmax_loss_counts_item_1() -> None:
    hidden = torch.randn(1, 3, 4, generator=_gen(6), dtype=torch.float64)
    targets = torch.tensor([[0, 1, 3]])  # padding, then item 1 (the first real item) and item 3
    item_emb = torch.randn(6, 4, generator=_gen(7), dtype=torch.float64)
    loss = losses.sampled_softmax_loss(hidden, item_emb, targets, torch.tensor([4, 5]))
    assert loss.item() == pytest.approx(_sampled_softmax_by_hand(hidden, item_emb, targets, [4, 5]),
                                        abs=1e-6)  # the logits are fp32


@pytest.mark.parametrize("name", ["bce_next_item_loss", "sampled_softmax_loss"])
def test_item_table_gradients_are_dense_by_default_and_sparse_on_request(name: str) -> None:
    """``sparse=True`` gives the item table a sparse gradient equal to the dense one (the large-catalogue path);
    the default is dense."""
    loss_fn = getattr(losses, name)
    hidden = torch.randn(2, 3, 4, generator=_gen(6), dtype=torch.float64)
    targets = torch.tensor([[0, 1, 3], [2, 2, 5]])
    negatives = torch.tensor([[4, 5, 4], [1, 3, 4]]) if name == "bce_next_item_loss" else torch.tensor([4, 5])
    grads = {}
    for sparse in (None, False, True):
        item_emb = torch.randn(6, 4, generator=_gen(7), dtype=torch.float64, requires_grad=True)
        extra = {} if sparse is None else {"sparse": sparse}
        loss_fn(hidden, item_emb, targets, negatives, **extra).backward()
        grads[sparse] = item_emb.grad
    assert not grads[None].is_sparse and not grads[False].is_sparse and grads[True].is_sparse
    torch.testing.assert_close(grads[None], grads[False])
    torch.testing.assert_close(grads[True].to_dense(), grads[False])


def test_nearest_centre_of_bf16_states_against_fp32_centres() -> None:
    """Under bf16 autocast the states are bf16 and the centres fp32: the distances are taken in fp32, and the
    answer is the brute-force nearest centre of the states' values and the centres as they are."""
    x = torch.randn(6, 5, 8, generator=_gen(9)).bfloat16()
    centres = torch.randn(7, 8, generator=_gen(10))
    assert torch.equal(losses.nearest_centre(x, centres), brute_force_nearest(x.float(), centres))


def test_intents_under_bf16_autocast_are_the_fp32_intents() -> None:
    """4,096 fp32 states and 256 unit centres: under bf16 autocast the assignments are those of fp32 (the
    distance product ran in bf16 and changed about 0.5% of them)."""
    x = torch.randn(4096, 64, generator=_gen(30))
    centres = F.normalize(torch.randn(256, 64, generator=_gen(31)), dim=-1)
    exact = losses.nearest_centre(x, centres), losses.assign_intents(x, centres)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(losses.nearest_centre(x, centres), exact[0])
        assert torch.equal(losses.assign_intents(x, centres), exact[1])


def test_assign_intents_is_the_largest_cosine_on_random_vectors() -> None:
    pooled = torch.randn(200, 6, generator=_gen(11)) * torch.rand(200, 1, generator=_gen(12)) * 10
    centres = torch.randn(9, 6, generator=_gen(13)) * torch.rand(9, 1, generator=_gen(14)) * 5
    cosine = F.normalize(pooled, dim=1) @ F.normalize(centres, dim=1).T
    assert torch.equal(losses.assign_intents(pooled, centres), cosine.argmax(1))


def test_contrastive_losses_default_to_temperature_1_and_pass_the_similarity_on() -> None:
    """Temperature 1 unless given; "cosine" is the dot similarity of L2-normalised vectors (for the sequence
    loss: of each flattened view after its nearest centres are added)."""
    v1, v2, c = (torch.randn(5, 4, generator=_gen(15 + i)) for i in range(3))
    default = losses.intent_contrastive_loss(v1, v2, c)
    assert default.item() == losses.intent_contrastive_loss(v1, v2, c, 1.0).item()
    assert default.item() != pytest.approx(losses.intent_contrastive_loss(v1, v2, c, 2.0).item(), abs=1e-4)
    unit = [F.normalize(t, dim=1) for t in (v1, v2, c)]
    assert losses.intent_contrastive_loss(v1, v2, c, 0.5, "cosine").item() == pytest.approx(
        losses.intent_contrastive_loss(*unit, 0.5, "dot").item(), abs=1e-6)

    views, centres = torch.randn(6, 3, 4, generator=_gen(18)), torch.randn(5, 4, generator=_gen(19))
    default = losses.sequence_contrastive_loss(views, centres, "shift")
    assert default.item() == losses.sequence_contrastive_loss(views, centres, "shift", 1.0).item()
    assert default.item() != pytest.approx(losses.sequence_contrastive_loss(views, centres, "shift", 2.0).item(),
                                           abs=1e-4)
    shifted = F.normalize((views + centres[brute_force_nearest(views, centres)]).flatten(1), dim=1)
    assert losses.sequence_contrastive_loss(views, centres, "shift", 0.5, "cosine").item() == pytest.approx(
        reference_nt_xent(shifted[:3], shifted[3:], 0.5).item(), abs=1e-5)


def test_nt_xent_stacked_defaults_fp32_and_odd_rows() -> None:
    """Defaults: temperature 1, dot similarity; bf16 views are compared in fp32; an odd number of rows is
    refused with the count."""
    z = torch.randn(6, 5, generator=_gen(20))
    default = losses.nt_xent_stacked(z)
    assert default.item() == losses.nt_xent_stacked(z, 1.0, "dot").item()
    assert default.item() == pytest.approx(reference_nt_xent(z[:3], z[3:], 1.0).item(), abs=1e-5)
    half = z.bfloat16()
    low = losses.nt_xent_stacked(half)
    assert low.dtype == torch.float32
    assert low.item() == pytest.approx(losses.nt_xent_stacked(half.float()).item(), abs=1e-6)
    with pytest.raises(ValueError, match=r"^nt_xent_stacked needs an even number of rows \(view 1, then view 2\), "
                                         r"got 5$"):
        losses.nt_xent_stacked(z[:5, :3])  # 5 rows of 3: the count named is the rows'


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_flush_subnormal_zeroes_exactly_the_subnormal_entries(dtype: torch.dtype) -> None:
    tiny = torch.finfo(dtype).tiny  # the smallest normal number: 2^-126 in fp32 and bf16, 2^-1022 in fp64
    x = torch.tensor([tiny / 2, -tiny / 4, tiny, -tiny, 0.0, 1.5, -3.0, float("inf"), float("nan")], dtype=dtype)
    assert x[0] != 0 and x[1] != 0  # subnormal, not already zero
    out = losses.flush_subnormal_(x)
    assert out is x  # in place
    expected = torch.tensor([0.0, 0.0, tiny, -tiny, 0.0, 1.5, -3.0, float("inf"), float("nan")], dtype=dtype)
    assert torch.equal(out[:-1], expected[:-1]) and out[-1].isnan()


def test_nt_xent_gradient_with_subnormal_softmax_terms_matches_plain_autograd() -> None:
    """Logits in the hundreds (dot products of 3,200-wide views, as in the paper's setting) leave most of the
    softmax gradient subnormal in fp32; the Gram backward flushes those terms, and the gradient still equals
    autograd's through z1, z2 (computed in fp64, where nothing is subnormal) to fp32's resolution."""
    z = torch.randn(2, 16, 3200, generator=_gen(5))
    stacked = torch.cat([z[0], z[1]])
    logits = (stacked @ stacked.T).masked_fill(torch.eye(32, dtype=torch.bool), -math.inf)
    probs = logits.softmax(-1)  # the softmax part of the gradient (probs - one-hot) / 32
    assert ((probs > 0) & (probs < torch.finfo(torch.float32).tiny)).any()  # the case at hand
    z1, z2 = z[0].clone().requires_grad_(), z[1].clone().requires_grad_()
    losses.nt_xent(z1, z2).backward()
    d1, d2 = z[0].double().requires_grad_(), z[1].double().requires_grad_()
    reference_nt_xent(d1, d2).backward()
    assert torch.allclose(z1.grad.double(), d1.grad, rtol=1e-4, atol=1e-6)
    assert torch.allclose(z2.grad.double(), d2.grad, rtol=1e-4, atol=1e-6)


def test_gram_backward_leaves_out_subnormal_gradient_terms() -> None:
    """The backward is (G + G^T) @ z with G's subnormal entries set to 0: with z's entries at 2^100 a subnormal
    term would contribute a normal number, and it contributes nothing; normal terms are kept as they are."""
    z = torch.full((4, 3), 2.0**100, requires_grad=True)
    tiny = torch.finfo(torch.float32).tiny
    grad = torch.full((4, 4), tiny / 8)
    grad[0, 1] = 2.0**-100
    losses._Gram.apply(z).backward(grad)
    expected = torch.zeros(4, 3)
    expected[0] = expected[1] = 1.0  # (G + G^T)[0, 1] = [1, 0] = 2^-100, times 2^100
    assert (grad[2] @ z.detach()).abs().min() > 0  # unflushed, the subnormal terms would count
    assert torch.equal(z.grad, expected)
