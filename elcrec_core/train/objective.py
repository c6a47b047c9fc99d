"""The training objective: the four ELCRec loss parts of a batch, their weights and warm-up, the joint
loss, and the check that it is finite (the paper's overall objective: the next-item loss plus the weighted
intent-assisted contrastive and cluster losses, optimised together on each mini-batch; the reference's
``ELCRecTrainer.iteration``, its "Hybrid" contrast type)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from elcrec_core.config.settings import TrainConfig
from elcrec_core.model import losses
from elcrec_core.model.elcrec import ELCRec
from elcrec_core.train.batches import TrainBatch


class NonFiniteLoss(ValueError):
    """A training loss became NaN or infinite: training stops before the step, and nothing of that epoch is
    saved (``best.pt`` keeps the best finite epoch before it, if any)."""


def loss_parts(model: ELCRec, batch: TrainBatch, cfg: TrainConfig) -> dict[str, torch.Tensor]:
    """The ELCRec loss parts for one batch, each a 0-d float tensor: "rec" (:func:`next_item_loss`) always;
    "seq_cl", "intent_cl" and "cluster" (:mod:`elcrec_core.model.losses`) where their weight (``cf_weight``,
    ``intent_cf_weight``, ``trade_off``) is above 0. The two views are encoded once and serve both contrastive
    losses; the centres are renormalised in place between the sequence and the intent losses, as the reference
    does. Raises ValueError for a setting the losses do not know (``rec_loss``, ``prototype``, ``seq_cl_view``,
    ``cl_similarity``: the settings schema refuses them first) and IndexError for an id outside the item table."""
    hidden = model(batch.inputs)
    parts = {"rec": next_item_loss(model, hidden, batch, cfg)}
    uses_views = cfg.cf_weight > 0 or cfg.intent_cf_weight > 0
    views = model(batch.views) if uses_views else None
    pooled_views = model.pool(views, batch.views) if uses_views else None
    if cfg.cf_weight > 0:
        parts["seq_cl"] = losses.sequence_contrastive_loss(
            losses.sequence_view(views, pooled_views, cfg.seq_cl_view), model.centres, cfg.prototype,
            cfg.temperature, cfg.cl_similarity)
    model.normalise_centres_()
    pooled = model.pool(hidden, batch.inputs)
    if cfg.intent_cf_weight > 0:
        intents = losses.assign_intents(pooled, model.centres)
        view1, view2 = pooled_views.chunk(2)
        parts["intent_cl"] = losses.intent_contrastive_loss(
            view1, view2, model.centres[intents], cfg.temperature, cfg.cl_similarity
        )
    if cfg.trade_off > 0:
        parts["cluster"] = losses.cluster_loss(pooled, model.centres)
    return parts


class LossParts(nn.Module):
    """:func:`loss_parts` as one module forward, so that DistributedDataParallel all-reduces the gradient of
    every parameter the losses touch, the centres' included."""

    def __init__(self, model: ELCRec, cfg: TrainConfig) -> None:
        super().__init__()
        self.model, self.cfg = model, cfg

    def forward(self, batch: TrainBatch) -> dict[str, torch.Tensor]:
        """:func:`loss_parts` of ``batch`` (its dict of 0-d loss tensors and its errors)."""
        return loss_parts(self.model, batch, self.cfg)


def uses_centres(cfg: TrainConfig) -> bool:
    """Whether any loss part involves the intent centres."""
    return cfg.cf_weight > 0 or cfg.intent_cf_weight > 0 or cfg.trade_off > 0


def next_item_loss(model: ELCRec, hidden: torch.Tensor, batch: TrainBatch, cfg: TrainConfig) -> torch.Tensor:
    """The recommendation part, a 0-d tensor: the loss ``cfg.rec_loss`` names ("bce": the reference's, with
    ``batch.negatives`` [B, L]; "ce": full softmax; "sampled_softmax": with the shared ``batch.negatives`` [N]) of
    the hidden states [B, L, d] against ``batch.targets`` [B, L]. Raises ValueError for another ``rec_loss``."""
    sparse = model.item_emb.sparse
    if cfg.rec_loss == "bce":
        return losses.bce_next_item_loss(hidden, model.item_emb.weight, batch.targets, batch.negatives, sparse)
    if cfg.rec_loss == "ce":
        return losses.full_softmax_loss(hidden, model.item_table(), batch.targets)
    if cfg.rec_loss == "sampled_softmax":
        return losses.sampled_softmax_loss(hidden, model.item_emb.weight, batch.targets, batch.negatives, sparse)
    raise ValueError(f"unknown rec_loss {cfg.rec_loss!r}")


def aux_weights(cfg: TrainConfig, step: int | None = None) -> dict[str, float]:
    """The weight of each loss part at optimiser step ``step`` (0-based; None: after any warm-up): the
    auxiliary weights rise linearly over ``aux_warmup_steps`` (weight x (step + 1) / aux_warmup_steps)."""
    ramp = 1.0
    if cfg.aux_warmup_steps > 0 and step is not None:
        ramp = min(1.0, (step + 1) / cfg.aux_warmup_steps)
    return {"rec": cfg.rec_weight, "seq_cl": cfg.cf_weight * ramp, "intent_cl": cfg.intent_cf_weight * ramp,
            "cluster": cfg.trade_off * ramp}


RELATIVE_PARTS = ("seq_cl", "intent_cl")  # the parts that aux_scale "relative" rescales to rec's size


def part_scales(parts: dict[str, torch.Tensor], cfg: TrainConfig, step: int | None = None) -> dict[str, Any]:
    """The factor of each loss part in :func:`joint_loss`: its weight (:func:`aux_weights`), and with ``aux_scale``
    "relative" for each contrastive part (``seq_cl``, ``intent_cl``: InfoNCE, positive) times the constant
    |rec| / |part| (a tensor without gradient), so that its weight is its size relative to rec. The cluster part
    is not rescaled: it changes sign during training (about +0.1 at the start, -0.5 later), and the ratio near
    its zero multiplied it by up to 1e12. Raises ValueError for another ``aux_scale``."""
    if cfg.aux_scale not in ("fixed", "relative"):
        raise ValueError(f"unknown aux_scale {cfg.aux_scale!r}: fixed or relative")
    weights = aux_weights(cfg, step)
    scales: dict[str, Any] = {}
    for name, value in parts.items():
        scales[name] = weights[name]
        if cfg.aux_scale == "relative" and name in RELATIVE_PARTS:
            ratio = parts["rec"].detach().float().abs() / value.detach().float().abs().clamp(min=1e-12)
            scales[name] = weights[name] * ratio
    return scales


def joint_loss(parts: dict[str, torch.Tensor], cfg: TrainConfig, step: int | None = None) -> torch.Tensor:
    """The loss that the optimiser minimises, a 0-d float32 tensor: the sum of factor x part over ``parts``
    (:func:`part_scales`, whose ValueError it raises); with the default weights and no warm-up, rec_weight x rec
    + cf_weight x seq_cl + intent_cf_weight x intent_cl + trade_off x cluster, as the reference's joint loss."""
    scales = part_scales(parts, cfg, step)
    return sum((scales[name] * value.float() for name, value in parts.items()), 0.0)


def batch_negatives(cfg: TrainConfig) -> str:
    """Which negatives :func:`~elcrec_core.train.batches.make_train_batch` samples for ``cfg.rec_loss``:
    "per_position" (bce), "shared" (sampled_softmax) or "none" (ce, which scores every item)."""
    return {"bce": "per_position", "sampled_softmax": "shared"}.get(cfg.rec_loss, "none")


def check_finite_validation(valid: dict[str, float], epoch: int) -> None:
    """Raise :class:`NonFiniteLoss` when the validation metrics of ``epoch`` are NaN: some user's score of some item
    is not finite (the last steps' losses were finite, but the parameters they made overflow, or give products that
    do). Such a model is neither saved nor served."""
    if all(math.isfinite(value) for value in valid.values()):
        return
    raise NonFiniteLoss(f"training stopped: the model's scores are not finite after epoch {epoch} (some user's "
                        "score of some item is NaN or infinite); nothing of this epoch was saved. Lower the learning "
                        "rate (lr) or check the data and the loss weights.")


def check_finite(parts: dict[str, torch.Tensor], loss: torch.Tensor, epoch: int, batch: int, batches: int) -> None:
    """Raise :class:`NonFiniteLoss` naming the epoch, the batch (0-based, of ``batches``) and every loss part
    that is not finite, when the joint ``loss`` is not."""
    if bool(torch.isfinite(loss.detach())):
        return
    bad = {name: value.item() for name, value in parts.items() if not bool(torch.isfinite(value.detach()))}
    named = ", ".join(f"{name} = {value}" for name, value in bad.items()) or f"the weighted sum = {loss.item()}"
    raise NonFiniteLoss(f"training stopped: the loss is not finite in epoch {epoch}, batch {batch} of {batches} "
                        f"({named}); nothing of this epoch was saved. Lower the learning rate (lr) or check "
                        "the data and the loss weights.")
