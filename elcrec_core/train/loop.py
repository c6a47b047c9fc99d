"""The ELCRec training loop: batch -> loss parts -> step -> log, with checkpoint, resume and early stopping."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from elcrec_core.config.settings import ExperimentConfig, TrainConfig
from elcrec_core.data.sequences import Sequences, SequenceTensors
from elcrec_core.evaluate.ranking import SELECTION_METRIC, evaluate
from elcrec_core.model.elcrec import ELCRec
from elcrec_core.train import distributed
from elcrec_core.train.batches import make_train_batch, trainable_users, training_windows
from elcrec_core.train.checkpoint import BEST, LAST, refuse_unsafe_payload, save_checkpoint
from elcrec_core.train.compiled_step import StepLosses, compiles_step
from elcrec_core.train.device import autocast_for, select_device, uses_bf16
from elcrec_core.train.objective import (
    LossParts,
    batch_negatives,
    check_finite,
    check_finite_validation,
    joint_loss,
    loss_parts,
    uses_centres,
)
from elcrec_core.train.pace import Pace, progress
from elcrec_core.train.run_log import RunLog, fmt, format_epoch, precision_used, recorded_run, why_training_ended
from elcrec_core.train.state import (
    EarlyStopping,
    complete_best_checkpoint,
    data_digest,
    load_best,
    model_payload,
    restore_training_state,
    save_training_state,
    without_lost_best,
)
from elcrec_core.train.warm_start import warm_start


@dataclass
class TrainResult:
    """What :func:`train` returns: the best epoch (0-based), its validation and test metrics (HR@K, NDCG@K), the
    per-epoch history, the wall seconds of the loop (with the epochs of the sessions before a resume) and the path
    of ``best.pt``."""

    best_epoch: int
    valid: dict[str, float]
    test: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    checkpoint: Path | None = None


# ----------------------------------------------------------------------------------------- the loop
def train(
    seqs: Sequences,
    exp: ExperimentConfig,
    out_dir: str | Path,
    resume: bool = True,
    log: Callable[[str], None] = print,
    extra_payload: dict[str, Any] | None = None,
    init_from: str | Path | None = None,
) -> TrainResult:
    """Train ELCRec on ``seqs``; checkpoints go to ``out_dir`` (``last.pt`` each epoch, ``best.pt`` for the
    best validation NDCG@20), with ``config.json``, ``metrics.json`` and TensorBoard event files
    (:class:`~elcrec_core.train.run_log.RunLog`), but no item index: for items matched by id, write one beside
    ``best.pt`` (:func:`~elcrec_core.data.sequences.write_item_index_file`, as ``elcrec train`` does). ``resume``
    continues an existing ``last.pt``; ``init_from`` warm-starts a fresh run from a previous checkpoint instead of
    k-means centres. ``extra_payload``: values that ``best.pt`` keeps beside the model (tensors, numbers, texts, lists
    and dicts of them). The paper's mini-batch optimisation of the joint objective
    (:func:`~elcrec_core.train.objective.joint_loss`), epoch by epoch, stopped early on the validation NDCG@20.

    Raises ValueError for ``extra_payload`` values that ``best.pt`` could not hold, data without a training sample
    (no user of 4 items), fewer training sequences than ``n_intents`` for the k-means start, settings the schema
    refuses for this catalogue, a device name that is none or that this machine lacks, an ``init_from`` of other
    shapes or architecture, a ``last.pt`` of other data or settings; ``objective.NonFiniteLoss`` (a ValueError)
    where a loss or the validation metrics stop being finite;
    :class:`~elcrec_core.train.checkpoint.CheckpointError` (a RuntimeError) for a checkpoint that cannot be read
    or holds values that are not finite.

    Under an initialised torch.distributed process group (see :mod:`elcrec_core.train.distributed`) every rank calls
    this: the model trains under DistributedDataParallel with ``batch_size`` users per rank and step, each rank
    validates a shard of the users, and only rank 0 logs and writes checkpoints."""
    cfg, out_dir, rank = exp.train, Path(out_dir), distributed.rank()
    log = _silent if rank else log
    device = distributed.rank_device(select_device(cfg.device))
    torch.manual_seed(cfg.seed + rank)
    generator = torch.Generator().manual_seed(cfg.seed + rank)
    model = ELCRec(exp.model_config(seqs.n_items)).to(device)
    data = SequenceTensors.from_sequences(seqs)
    eval_data = SequenceTensors.from_sequences(seqs, device)
    users = trainable_users(data)
    samples, drops = training_windows(data, users, model.cfg.max_len, cfg.train_windows)
    optimizer = make_optimizer(model, cfg)
    extra = dict(extra_payload or {})
    refuse_unsafe_payload(extra, "extra_payload")  # before any epoch: its best.pt would not load
    size = {"users": len(seqs), "items": seqs.n_items, "interactions": len(seqs.items),
            "training_users": len(users), "training_windows": len(samples)}
    start, stopper, history = 0, EarlyStopping(cfg.patience), []
    digest = data_digest(seqs)  # last.pt records it: a run is resumed on the data it trained on only
    # the record of what the run started from: absolute (as typed, it named nothing elsewhere: helper-237), links kept
    started_from = None if init_from is None else os.path.abspath(init_from)
    if resume and (out_dir / LAST).exists():
        start, stopper, history = restore_training_state(out_dir / LAST, model, optimizer, generator, cfg, digest)
        stopper = without_lost_best(out_dir / BEST, stopper, history, log)  # its best.pt removed: the last is best
        log(f"resumed from {out_dir / LAST} after epoch {start - 1}")
        recorded = recorded_run(out_dir) if rank == 0 else {}  # rank 0 rewrites config.json below: it alone reads it
        if "init_from" in recorded:  # the run's own (a resumed run warm-starts from nothing); else not recorded
            started_from = recorded["init_from"]
            if init_from is not None and started_from not in (  # older versions': as typed, resolved (helper-244)
                    str(init_from), os.path.abspath(init_from), os.path.realpath(init_from)):
                log(f"init_from {init_from} is not used: the run resumed started from "
                    f"{started_from or 'no checkpoint'} (a fresh run in another folder starts from it)")
        if rank == 0 and complete_best_checkpoint(out_dir / BEST, model, exp, stopper, history, extra):
            log(f"{out_dir / BEST}: written from {LAST}, whose epoch {start - 1} was the best")
    elif init_from is not None:
        info = warm_start(model, init_from)
        log(f"warm start from {init_from}: {info['known_items']} known items, {info['new_items']} new")
    elif uses_centres(cfg) and rank == 0:  # the other ranks get rank 0's parameters from DDP below
        from elcrec_core.model.centres import init_centres  # scikit-learn's k-means: seconds to import

        t0 = time.perf_counter()
        init_centres(model, data, users, cfg)
        log(f"centres initialised ({cfg.centre_init}, K={model.cfg.n_intents}) in {time.perf_counter() - t0:.1f}s")
    # after what may refuse the run (other settings to resume, another architecture to warm-start from, too few
    # sequences for the centres): a refused run leaves the folder's config.json as it was
    run_log = RunLog(out_dir, exp, enabled=rank == 0, data=size,
                     run={"processes": distributed.world_size(), "init_from": started_from})

    precision = "bf16 autocast" if uses_bf16(device, cfg.precision) else "fp32"
    windows = f", {len(samples)} windows" if cfg.train_windows != "last" else ""
    log(f"device {device}, {precision}, {torch.get_num_threads()} threads, {len(users)} training sequences{windows}")
    distributed.check_same(start, "the epoch to start from")
    ddp = None
    if distributed.active():  # DDP broadcasts rank 0's parameters to the others here
        ddp = DistributedDataParallel(LossParts(model, cfg), device_ids=[device] if device.type == "cuda" else None,
                                      find_unused_parameters=not uses_centres(cfg))
        log(f"DistributedDataParallel over {distributed.world_size()} processes, batch {cfg.batch_size} per process")
    began = time.perf_counter()
    resumed_seconds = sum(row.get("seconds", 0.0) for row in history)  # the epochs before a resume count too
    # optimiser steps per epoch, the same on every rank (DistributedSampler pads the shards to equal length)
    steps_per_epoch = math.ceil(math.ceil(len(samples) / distributed.world_size()) / cfg.batch_size)
    step_losses = StepLosses(ddp is None and compiles_step(cfg, device), log)
    # the optimiser steps taken so far: a resumed run whose last epoch the step budget cut short continues from
    # there (with a larger budget, its next epoch starts afresh), and its budget counts the steps really taken
    steps_done = int(history[-1].get("steps", start * steps_per_epoch)) if history else 0
    pace = Pace(log, int(min((cfg.epochs - start) * steps_per_epoch, cfg.max_steps - steps_done if cfg.max_steps
                             else math.inf)), done_before=steps_done)
    for epoch in range(start, cfg.epochs):
        if stopper.should_stop:
            break
        if cfg.max_steps and steps_done >= cfg.max_steps:
            break
        steps = min(steps_per_epoch, cfg.max_steps - steps_done) if cfg.max_steps else steps_per_epoch
        t0 = time.perf_counter()
        sums = train_epoch(model, optimizer, data, samples, cfg, generator, device, desc=f"epoch {epoch}",
                           ddp=ddp, epoch=epoch, drops=drops, first_step=steps_done,
                           max_batches=steps if cfg.max_steps else None,
                           step_losses=step_losses, pace=pace)
        steps_done += steps
        train_seconds = time.perf_counter() - t0
        valid = evaluate(model, eval_data, "valid", batch_size=cfg.eval_batch_size)
        check_finite_validation(valid, epoch)
        seconds = time.perf_counter() - t0
        row = {"epoch": epoch, **sums, **{f"valid_{k}": v for k, v in valid.items()},
               "train_seconds": train_seconds, "seconds": seconds,
               "seq_per_s": min(len(samples), steps * cfg.batch_size * distributed.world_size()) / train_seconds,
               "steps": steps_done, "precision": precision}
        history.append(row)
        improved = stopper.update(epoch, valid[SELECTION_METRIC])
        # last.pt first: a run killed before best.pt is written gets it from last.pt on resume
        save_training_state(out_dir / LAST, model, optimizer, exp, epoch, stopper, history, generator, digest)
        if improved and rank == 0:
            save_checkpoint(out_dir / BEST, model_payload(model, exp, {"epoch": epoch, "valid": valid, **extra}))
        run_log.epoch(row)
        if ddp is not None:
            distributed.check_replicas(model)
        log(format_epoch(row, stopper))
    log(why_training_ended(cfg, stopper, steps_done, len(history)))

    if ddp is not None:
        log(f"parameters identical on all {distributed.world_size()} ranks: sha256 "
            f"{distributed.check_replicas(model)}")
    distributed.barrier()  # rank 0 has written best.pt
    best = load_best(out_dir / BEST, model)
    test = evaluate(model, eval_data, "test", batch_size=cfg.eval_batch_size)
    best["test"] = test
    best["history"] = history
    if rank == 0:
        save_checkpoint(out_dir / BEST, best)
    best_epoch = int(best["epoch"])
    log(f"best epoch {best_epoch}: valid {fmt(best['valid'])} | test {fmt(test)}")
    result = TrainResult(best_epoch, best["valid"], test, history, resumed_seconds + time.perf_counter() - began,
                         out_dir / BEST)
    run_log.finish({"best_epoch": result.best_epoch, "epochs": len(history), "seconds": result.seconds,
                    "precision": precision_used(history), "valid": result.valid, "test": result.test,
                    "history": history})
    return result


# item tables of at least this many elements (16 MiB of fp32) get sparse lookup gradients in training
SPARSE_ITEM_GRAD_ELEMENTS = 1 << 22


def uses_sparse_item_grad(model: ELCRec, ddp: DistributedDataParallel | None) -> bool:
    """Whether the item table's lookups give sparse gradients in this run: for a table of at least
    :data:`SPARSE_ITEM_GRAD_ELEMENTS` elements, without DistributedDataParallel. Each dense lookup gradient is a
    zero-filled copy of the whole table (1M items x 64: 256 MB, about six per step, summed by autograd); sparse
    ones are summed as lists of rows and made dense once before the optimiser step, so the update (Adam over the
    whole table) is the same."""
    return ddp is None and model.item_emb.weight.numel() >= SPARSE_ITEM_GRAD_ELEMENTS


def _densify_gradients(model: nn.Module) -> None:
    """Sparse gradients (summed lookups, see :func:`uses_sparse_item_grad`) made dense, once, for the optimiser."""
    for param in model.parameters():
        if param.grad is not None and param.grad.is_sparse:
            param.grad = param.grad.to_dense()


def make_optimizer(model: ELCRec, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam over all parameters (the reference's: ``lr``, ``betas``, ``weight_decay``); with ``centre_lr`` > 0 the
    centres form a second group at that rate. On CPU and CUDA the fused implementation (one kernel over all
    parameters; the same update)."""
    fused = all(p.device.type in ("cpu", "cuda") for p in model.parameters()) or None
    if cfg.centre_lr <= 0:
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay,
                                fused=fused)
    others = [p for name, p in model.named_parameters() if name != "centres"]
    return torch.optim.Adam([{"params": others}, {"params": [model.centres], "lr": cfg.centre_lr}],
                            lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay, fused=fused)


def train_epoch(model: ELCRec, optimizer: torch.optim.Optimizer, data: SequenceTensors, users: torch.Tensor,
                cfg: TrainConfig, generator: torch.Generator, device: torch.device,
                desc: str = "", ddp: DistributedDataParallel | None = None, epoch: int = 0,
                drops: torch.Tensor | None = None, first_step: int = 0,
                max_batches: int | None = None, step_losses: StepLosses | None = None,
                pace: Pace | None = None) -> dict[str, float]:
    """One pass over the training samples in shuffled batches; returns the mean of each loss part and of the joint loss
    (keys of :func:`loss_parts` and "loss", floats). Raises ``NonFiniteLoss`` (a ValueError) at the first batch
    whose joint loss is not finite, before its step. ``users`` (with ``drops``, see :func:`training_windows`: one
    sample per pair; None: the last window of each user) are the samples; ``first_step`` numbers the optimiser steps
    for the warm-up, and ``max_batches`` ends the epoch early (a budget in steps). ``step_losses`` computes the loss
    parts (a compiled step, see :class:`StepLosses`); None: :func:`loss_parts`, eager. ``pace`` times the steps
    (:class:`Pace`). With ``ddp`` (:class:`LossParts` of ``model`` under DistributedDataParallel) this rank takes
    its shard of epoch ``epoch``'s permutation, gradients are averaged over the ranks, and the means are over all
    ranks."""
    model.train()
    model.item_emb.sparse = uses_sparse_item_grad(model, ddp)  # the input lookups (nn.Embedding) and the losses
    if ddp is None:
        perm = torch.randperm(len(users), generator=generator)
    else:
        perm = distributed.shuffled_shard(torch.arange(len(users)), cfg.seed, epoch)
    batches = perm.split(cfg.batch_size)
    if max_batches is not None:
        batches = batches[:max(1, max_batches)]
    sums: dict[str, torch.Tensor] = {}
    for number, idx in enumerate(pace.steps(batches, desc) if pace else progress(batches, desc)):
        batch = make_train_batch(data, users[idx], model.cfg.max_len, cfg, generator, batch_negatives(cfg),
                                 cfg.n_negatives, 3 if drops is None else drops[idx]).to(device)
        with autocast_for(device, cfg.precision):
            parts = (step_losses or loss_parts)(model, batch, cfg) if ddp is None else ddp(batch)
            loss = joint_loss(parts, cfg, first_step + number)
        check_finite(parts, loss, epoch, number, len(batches))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        _densify_gradients(model)
        optimizer.step()
        for name, value in {**parts, "loss": loss}.items():
            sums[name] = sums.get(name, 0.0) + value.detach().float()
    means = {name: total.item() / len(batches) for name, total in sums.items()}
    return distributed.mean_over_ranks(means, len(batches))


def _silent(line: str) -> None:
    """The log of ranks other than 0."""
