"""The ELCRec loss parts, each as the paper and the authors' code compute it.

Notation: B sequences, L positions, d hidden, K centres, E the item table. Every loss returns a 0-d float tensor
(unitless: a mean of negative log-likelihoods or of squared distances). Sources: the paper is ELCRec (Liu et al.,
"End-to-end Learnable Clustering for Intent Learning in Recommendation", NeurIPS 2024, arXiv 2401.05975); the
reference is its authors' code (``src/trainers.py`` and ``src/modules.py``, built on ICLRec's).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from elcrec_core.config.settings import Prototype, SeqClView, Similarity
from elcrec_core.model.linear_cross_entropy import linear_cross_entropy


def bce_next_item_loss(
    hidden: torch.Tensor, item_emb: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor,
    sparse: bool = False,
) -> torch.Tensor:
    """Mean over non-padding targets of -log sigmoid(h . E[pos]) - log(1 - sigmoid(h . E[neg])).

    ``hidden`` [B, L, d]; ``targets``/``negatives`` [B, L] item ids (0 = padding, no loss). As the reference,
    every position is scored and the padding ones are weighted 0: no data-dependent shapes (``torch.compile``
    traces it whole) and no gather of the kept rows. ``sparse``: the lookups' gradient for ``item_emb`` is a
    sparse tensor (for a large catalogue, see :func:`elcrec_core.train.loop.train_epoch`). SASRec's next-item
    loss with one sampled negative a position (the reference's ``Trainer.cross_entropy``). NaN for a batch
    without any target (0 / 0); ids outside the table raise IndexError (on CPU).
    """
    keep = targets > 0
    pos = (hidden * F.embedding(targets, item_emb, sparse=sparse)).sum(-1)
    neg = (hidden * F.embedding(negatives, item_emb, sparse=sparse)).sum(-1)
    # log(1 - sigmoid(x)) = logsigmoid(-x); numerically stable, equal to the reference up to its 1e-24 guard
    terms = torch.where(keep, F.logsigmoid(pos) + F.logsigmoid(-neg), 0.0)
    return -terms.sum() / keep.sum()


def full_softmax_loss(hidden: torch.Tensor, item_table: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over all real items (ids 1..n; ``item_table`` is rows 1..n) at every non-padding target;
    on CPU without the whole [targets, n] logit matrix
    (:func:`elcrec_core.model.linear_cross_entropy.linear_cross_entropy`). ``hidden`` [B, L, d], ``item_table``
    [n, d], ``targets`` [B, L] int64 (0 = padding); NaN for a batch without any target. Not the reference's loss
    (``rec_loss = "ce"``, an option of this implementation).
    """
    keep = targets > 0
    return linear_cross_entropy(hidden[keep], item_table, targets[keep] - 1)


def sampled_softmax_loss(
    hidden: torch.Tensor, item_emb: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor,
    sparse: bool = False,
) -> torch.Tensor:
    """Softmax over the target and N negatives shared by the batch (``negatives`` [N] ids); a negative that
    equals the target is masked. Uniform sampling, so no log-Q correction is needed. ``hidden`` [B, L, d],
    ``item_emb`` the whole table [vocab, d], ``targets`` [B, L] int64 (0 = padding); ``sparse`` as
    :func:`bce_next_item_loss`. NaN for a batch without any target. Not the reference's loss (``rec_loss =
    "sampled"``, an option of this implementation)."""
    keep = targets > 0
    h, t = hidden[keep], targets[keep]
    pos = (h * F.embedding(t, item_emb, sparse=sparse)).sum(-1, keepdim=True)
    neg = h @ F.embedding(negatives, item_emb, sparse=sparse).T
    neg = neg.masked_fill(negatives[None, :] == t[:, None], float("-inf"))
    logits = torch.cat([pos, neg], 1).float()
    return F.cross_entropy(logits, torch.zeros(len(t), dtype=torch.long, device=logits.device))


def flush_subnormal_(x: torch.Tensor) -> torch.Tensor:
    """Set the subnormal entries of floating-point ``x`` (0 < |x| < ``torch.finfo(x.dtype).tiny``, 2^-126 in
    fp32) to zero, in place; returns ``x``. A softmax over logits in the hundreds (NT-Xent with dot products over
    the flattened 3,200-wide views) leaves most of its gradient subnormal, and Intel x86 cores multiply subnormal
    operands through microcode assists: the [2B, 2B] x [2B, 3200] product of the contrastive backward took 166 ms
    of a 0.44 s step with them and 7-10 ms without (Intel Xeon, 2 threads; AMD not measured). Each term dropped
    is below 2^-126 times the other operand, far under fp32's resolution of the sums it joins (what the CPU's
    denormals-are-zero mode would do, without a process-wide setting that OpenMP's threads may not share)."""
    return x.masked_fill_(x.abs() < torch.finfo(x.dtype).tiny, 0.0)


class _Gram(torch.autograd.Function):
    """z @ z.T for z [2n, D] (two stacked views), with the backward (G + G^T) @ z: one matrix product instead of
    autograd's two. The forward computes three of the four n x n blocks (the off-diagonal ones are transposes)."""

    @staticmethod
    def forward(ctx, z: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(z)
        n = z.shape[0] // 2
        top, bottom = z[:n], z[n:]
        gram = z.new_empty(2 * n, 2 * n)
        gram[:n, :n] = top @ top.T
        gram[n:, n:] = bottom @ bottom.T
        cross = top @ bottom.T
        gram[:n, n:] = cross
        gram[n:, :n] = cross.T
        return gram

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (z,) = ctx.saved_tensors
        return flush_subnormal_(grad + grad.T) @ z


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 1.0, similarity: Similarity = "dot"
           ) -> torch.Tensor:
    """InfoNCE between paired rows of z1 and z2 [B, D] with in-batch negatives.

    Rows [z1 z2^T | z1 z1^T] and [z2 z2^T | z2 z1^T], self-similarities masked with -inf; the positive of row
    i is its counterpart in the other view; cross-entropy averaged over the 2B rows. ``similarity`` "dot": raw
    dot products (the reference); "cosine": the rows are L2-normalised first, so every logit lies in
    [-1/temperature, 1/temperature] whatever the width D. Computed in fp32 even under bf16 autocast: raw logits
    reach the hundreds, where bf16 rounding (about +-1) would matter at temperature 1. The reference's
    ``NCELoss`` without its ``intent_ids`` (de-noising) mask. Raises ValueError for ``z1`` and ``z2`` of unequal
    shapes (rows of unequal counts paired row i with row i + B of the two stacked, not with its counterpart) and
    for an unknown ``similarity``.
    """
    if z1.shape != z2.shape:
        raise ValueError(f"nt_xent pairs row i of z1 with row i of z2: their shapes must be equal, not "
                         f"{tuple(z1.shape)} and {tuple(z2.shape)}")
    return nt_xent_stacked(torch.cat([z1, z2]), temperature, similarity)


def nt_xent_stacked(z: torch.Tensor, temperature: float = 1.0, similarity: Similarity = "dot") -> torch.Tensor:
    """:func:`nt_xent` of z1 = z[:B] and z2 = z[B:] for ``z`` [2B, D], without copying the two halves into one
    tensor again (the sequence-contrastive views are [2B, L x d] already). Raises ValueError for an odd number
    of rows or an unknown ``similarity``."""
    if z.shape[0] % 2:
        raise ValueError(f"nt_xent_stacked needs an even number of rows (view 1, then view 2), got {z.shape[0]}")
    n = z.shape[0] // 2
    with torch.autocast(z.device.type, enabled=False):
        z = z.to(torch.promote_types(z.dtype, torch.float32))
        if similarity == "cosine":
            z = F.normalize(z, dim=-1)
        elif similarity != "dot":
            raise ValueError(f"unknown similarity {similarity!r}")
        sim = _Gram.apply(z)  # [[11, 12], [21, 22]]
        if temperature != 1.0:
            sim = sim / temperature
        sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=sim.device), float("-inf"))
        labels = torch.arange(2 * n, device=sim.device).roll(n)  # row i's positive: its counterpart, i +- n
        return F.cross_entropy(sim, labels)


def nearest_centre(x: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Index of the nearest centre by squared Euclidean distance, for x [..., d] and centres [K, d]; in fp32
    also under bf16 autocast (whose rounding changed about 1 in 200 assignments). Returns int64 indices in
    0..K - 1 of shape x.shape[:-1]; no gradient flows through it."""
    with torch.no_grad(), torch.autocast(x.device.type, enabled=False):
        # ||x||^2 does not change the argmin; one fused addmm for ||c||^2 - 2 x.c
        flat, centres = x.reshape(-1, x.shape[-1]).float(), centres.float()
        dist = torch.addmm((centres * centres).sum(-1), flat, centres.T, alpha=-2)
        return dist.argmin(-1).view(x.shape[:-1])


def sequence_contrastive_loss(
    views: torch.Tensor, centres: torch.Tensor, prototype: Prototype, temperature: float = 1.0,
    similarity: Similarity = "dot",
) -> torch.Tensor:
    """NT-Xent between two augmented views ``views`` (view 1 rows first), after adding ("shift") or appending
    ("concat") each row's nearest centre. ``views`` [2B, L, d] is flattened per sequence (the reference: each
    of the L positions gets its own nearest centre); a [2B, d] representation (pooled or last position, see
    :func:`sequence_view`) is used as it is. ``centres`` [K, d]. The sequence-level part of the paper's
    intent-assisted contrastive learning (the reference's
    ``ELCRecTrainer._instance_cl_one_pair_contrastive_learning``). Raises ValueError for an unknown
    ``prototype`` and as :func:`nt_xent_stacked`."""
    nearest = F.embedding(nearest_centre(views, centres), centres)
    if prototype == "shift":
        views = views + nearest
    elif prototype == "concat":
        views = torch.cat([views, nearest], -1)
    else:
        raise ValueError(f"unknown prototype {prototype!r}")
    return nt_xent_stacked(views.flatten(1), temperature, similarity)


def sequence_view(views: torch.Tensor, pooled: torch.Tensor, kind: SeqClView) -> torch.Tensor:
    """What the sequence-contrastive loss compares: the whole window ``views`` [2B, L, d] ("flatten", the
    reference), the ``pooled`` views [2B, d] ("pooled"), or the most recent position's output ("last", the
    user representation that ranking uses). Raises ValueError for an unknown ``kind``."""
    if kind == "flatten":
        return views
    if kind == "pooled":
        return pooled
    if kind == "last":
        return views[:, -1]
    raise ValueError(f"unknown sequence-contrastive view {kind!r}")


def assign_intents(pooled: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Each sequence's intent: the nearest L2-normalised centre to its L2-normalised pooled state; ``pooled``
    [B, d], ``centres`` [K, d], returns int64 [B] in 0..K - 1 (the reference's argmin of the sample-centre
    distances in the cluster loss)."""
    return nearest_centre(F.normalize(pooled, dim=-1), F.normalize(centres, dim=-1))


def intent_contrastive_loss(
    view1: torch.Tensor, view2: torch.Tensor, intent_centres: torch.Tensor, temperature: float = 1.0,
    similarity: Similarity = "dot",
) -> torch.Tensor:
    """(NCE(v1, c) + NCE(v2, c)) / 2: each view's pooled state ``view1``, ``view2`` [B, d] against its sequence's
    centre ``intent_centres`` [B, d] (:func:`nt_xent`, whose errors it raises). The intent-level part of the
    paper's intent-assisted contrastive learning (the reference's ``PCLoss`` with one set of intents)."""
    return (nt_xent(view1, intent_centres, temperature, similarity)
            + nt_xent(view2, intent_centres, temperature, similarity)) / 2


def cluster_loss(samples: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Mean squared distance over all sample-centre pairs minus that over all centre-centre pairs (diagonal
    included), on the L2-normalised ``samples`` [B, d] and unit-norm ``centres`` [K, d].

    On unit vectors the first term equals 2 - 2 mean(samples) . mean(centres): it moves only the centres' mean,
    and draws every sample towards it (which is why the pooling of the samples matters, see ``ModelConfig``).
    The centres are used as given: the trainer writes them back normalised into the parameter every step, as the
    reference does, so that their gradient is not projected by a normalisation in the graph. The paper's
    cluster loss of the end-to-end learnable cluster module (the reference: ``sample_distance_loss +
    center_distance_loss``, weighted by ``trade_off``, in ``ELCRecTrainer.iteration``).
    """
    s = F.normalize(samples, dim=-1)
    return _mean_sq_dist(s, centres) - _mean_sq_dist(centres, centres)


def _mean_sq_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # mean_ij ||a_i - b_j||^2 = mean ||a||^2 + mean ||b||^2 - 2 mean(a) . mean(b): O((n + m) d), no n x m matrix
    return (a * a).sum(-1).mean() + (b * b).sum(-1).mean() - 2 * (a.mean(0) * b.mean(0)).sum()
