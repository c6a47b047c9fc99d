"""The ELCRec training loop: batch -> loss parts -> step -> log, with checkpoint, resume and early stopping."""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from elcrec_core import distributed, losses
from elcrec_core.batches import AugmentConfig, TrainBatch, make_train_batch, trainable_users, training_windows
from elcrec_core.centres import init_centres
from elcrec_core.checkpoint import BEST, FORMAT_VERSION, LAST, load_checkpoint, save_checkpoint
from elcrec_core.config import ExperimentConfig, TrainConfig
from elcrec_core.device import autocast_for, select_device, uses_bf16
from elcrec_core.evaluation import SELECTION_METRIC, evaluate
from elcrec_core.model import ELCRec
from elcrec_core.run_log import CONFIG_FILE, RunLog
from elcrec_core.sequences import Sequences, SequenceTensors
from elcrec_core.warm_start import warm_start


class NonFiniteLoss(ValueError):
    """A training loss became NaN or infinite: training stops before the step, and nothing of that epoch is
    saved (``best.pt`` keeps the best finite epoch before it, if any)."""


# ----------------------------------------------------------------------------------------- one step
def loss_parts(model: ELCRec, batch: TrainBatch, cfg: TrainConfig) -> dict[str, torch.Tensor]:
    """The four ELCRec loss parts for one batch. The two views are encoded once and serve both contrastive
    losses; the centres are renormalised between the sequence and the intent losses, as the reference does."""
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
        return loss_parts(self.model, batch, self.cfg)


def compiles_step(cfg: TrainConfig, device: torch.device) -> bool:
    """Whether the training step on ``device`` is compiled: with ``cfg.compile``, on CPU only (CUDA would need
    Triton, and its eager step is fast already)."""
    return bool(cfg.compile) and device.type == "cpu"


class StepLosses:
    """:func:`loss_parts` as the training loop calls it: compiled by ``torch.compile`` (inductor, static
    shapes; forward and backward compiled at the first call of each batch shape) or eager.

    Without a working C++ compiler, or when compilation fails for any other reason, the reason is logged once
    and every later step runs eager. The compiled step computes the same losses; only the dropout masks come
    from another random stream (inductor's counter-based generator, seeded from torch's)."""

    def __init__(self, compiled: bool, log: Callable[[str], None] = print) -> None:
        self.log = log
        self.compiled: Callable[..., dict[str, torch.Tensor]] | None = None
        if compiled:
            reason = _compiler_missing()
            if reason:
                log(f"torch.compile off, the training step runs eager: {reason}")
            else:
                self.compiled = torch.compile(loss_parts, dynamic=False)
                log("training step compiled by torch.compile (inductor): the first batch of each shape compiles it")

    def __call__(self, model: ELCRec, batch: TrainBatch, cfg: TrainConfig) -> dict[str, torch.Tensor]:
        if self.compiled is not None:
            try:
                with _backward_compiled_with_forward():
                    return self.compiled(model, batch, cfg)
            except Exception as exc:  # noqa: BLE001 - any compiler failure: fall back, say why
                self.compiled = None
                reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
                self.log(f"torch.compile failed ({type(exc).__name__}: {reason}); the training step runs eager")
        return loss_parts(model, batch, cfg)


def _backward_compiled_with_forward() -> AbstractContextManager:
    """Inductor compiles the backward at the first call, with the forward, so that a failure of either is caught
    by the fallback (torch's private switch; a no-op where a torch version lacks it)."""
    config = torch._functorch.config
    if hasattr(config, "force_non_lazy_backward_lowering"):
        return config.patch(force_non_lazy_backward_lowering=True)
    return nullcontext()


def _compiler_missing() -> str:
    """Why inductor cannot build C++ kernels here ('' when it can): no C++ compiler on the PATH (or in $CXX)."""
    try:
        from torch._inductor import cpp_builder

        cpp_builder.get_cpp_compiler()
    except Exception as exc:  # noqa: BLE001 - InvalidCxxCompiler and import failures alike
        return f"no C++ compiler for inductor ({type(exc).__name__}: {str(exc).strip()[:200]})"
    return ""


def uses_centres(cfg: TrainConfig) -> bool:
    """Whether any loss part involves the intent centres."""
    return cfg.cf_weight > 0 or cfg.intent_cf_weight > 0 or cfg.trade_off > 0


def next_item_loss(model: ELCRec, hidden: torch.Tensor, batch: TrainBatch, cfg: TrainConfig) -> torch.Tensor:
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


def joint_loss(parts: dict[str, torch.Tensor], cfg: TrainConfig, step: int | None = None) -> torch.Tensor:
    """sum of weight x part; with ``aux_scale`` "relative" each auxiliary part is first multiplied by the
    constant |rec| / |part| (no gradient through the ratio), so its weight is its size relative to rec."""
    weights = aux_weights(cfg, step)
    total = 0.0
    for name, value in parts.items():
        value = value.float()
        if cfg.aux_scale == "relative" and name != "rec":
            value = value * (parts["rec"].detach().float().abs() / value.detach().abs().clamp(min=1e-12))
        elif cfg.aux_scale not in ("fixed", "relative"):
            raise ValueError(f"unknown aux_scale {cfg.aux_scale!r}: fixed or relative")
        total = total + weights[name] * value
    return total


def batch_negatives(cfg: TrainConfig) -> str:
    return {"bce": "per_position", "sampled_softmax": "shared"}.get(cfg.rec_loss, "none")


# ----------------------------------------------------------------------------------------- state on disk
@dataclass
class EarlyStopping:
    """Stop after ``patience`` epochs without a better validation score."""

    patience: int
    best_score: float = -math.inf
    best_epoch: int = -1
    bad_epochs: int = 0

    def update(self, epoch: int, score: float) -> bool:
        """Record an epoch's score; True when it is the best so far."""
        if score > self.best_score:
            self.best_score, self.best_epoch, self.bad_epochs = score, epoch, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.bad_epochs >= self.patience


@dataclass
class TrainResult:
    best_epoch: int
    valid: dict[str, float]
    test: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    checkpoint: Path | None = None


def model_payload(model: ELCRec, exp: ExperimentConfig, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "model_config": dataclasses.asdict(model.cfg),
        "config": exp.to_dict(),
        **extra,
    }


def save_training_state(path: Path, model: ELCRec, optimizer: torch.optim.Optimizer, exp: ExperimentConfig,
                        epoch: int, stopper: EarlyStopping, history: list, generator: torch.Generator) -> None:
    rng = {"torch": torch.get_rng_state(), "data": generator.get_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    every_rank = distributed.gather(rng)  # a collective: every rank calls this, rank 0 writes
    if not distributed.is_main():
        return
    ranks = {"rank_rng": every_rank} if len(every_rank) > 1 else {}
    save_checkpoint(path, model_payload(model, exp, {
        "optimizer": optimizer.state_dict(), "epoch": epoch, "rng": rng, **ranks,
        "early_stopping": dataclasses.asdict(stopper), "history": history,
    }))


# settings a resumed run may change: a longer budget or patience; how it computes (device, precision, compiled
# or eager, evaluation batch size)
RESUMABLE_CHANGES = frozenset({"epochs", "patience", "max_steps", "device", "precision", "compile",
                               "eval_batch_size"})


def changed_settings(saved: dict[str, Any], now: dict[str, Any], section: str,
                     allowed: frozenset[str] = frozenset()) -> list[str]:
    """``section.field: saved -> now`` for each field of ``now`` whose value differs in ``saved`` (a field
    missing there was added since and is not compared), except the ``allowed`` ones."""
    saved, now = json.loads(json.dumps(saved)), json.loads(json.dumps(now))  # tuples and lists alike
    return [f"{section}.{name}: {saved[name]!r} -> {value!r}" for name, value in now.items()
            if name in saved and name not in allowed and saved[name] != value]


def restore_training_state(path: Path, model: ELCRec, optimizer: torch.optim.Optimizer,
                           generator: torch.Generator, cfg: TrainConfig) -> tuple[int, EarlyStopping, list]:
    """Load ``last.pt``; returns (epochs done, early-stopping state, history). Each rank restores its own RNG
    states; a rank beyond those saved keeps its fresh seed. Raises ValueError naming each changed setting when
    ``last.pt`` was written with other model or training settings (or item catalogue) than ``model.cfg`` and
    ``cfg``, except those of :data:`RESUMABLE_CHANGES`."""
    state = load_checkpoint(path)
    changes = (changed_settings(state["model_config"], dataclasses.asdict(model.cfg), "model")
               + changed_settings(state["config"]["train"], dataclasses.asdict(cfg), "train", RESUMABLE_CHANGES))
    if changes:
        raise ValueError(f"{path} holds a run with other settings ({'; '.join(changes)}): resume with the same "
                         f"settings, start over with --fresh (or resume=False), or write to another folder")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    saved = state.get("rank_rng", [state["rng"]])
    if distributed.rank() < len(saved):
        rng = saved[distributed.rank()]
        torch.set_rng_state(rng["torch"])
        generator.set_state(rng["data"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
    return state["epoch"] + 1, EarlyStopping(**state["early_stopping"]), state["history"]


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
    (:class:`~elcrec_core.run_log.RunLog`). With ``resume`` an existing ``last.pt`` is continued; ``init_from`` warm-starts
    a fresh run from a previous checkpoint instead of k-means centres.

    Under an initialised torch.distributed process group (see :mod:`elcrec_core.distributed`) every rank calls
    this: the model trains under DistributedDataParallel with ``batch_size`` users per rank and step, each rank
    validates a shard of the users, and only rank 0 logs and writes checkpoints."""
    cfg = exp.train
    out_dir = Path(out_dir)
    rank = distributed.rank()
    if rank:
        log = _silent
    device = distributed.rank_device(select_device(cfg.device))
    torch.manual_seed(cfg.seed + rank)
    generator = torch.Generator().manual_seed(cfg.seed + rank)
    model = ELCRec(exp.model_config(seqs.n_items)).to(device)
    data = SequenceTensors.from_sequences(seqs)
    eval_data = SequenceTensors.from_sequences(seqs, device)
    users = trainable_users(data)
    if len(users) == 0:
        raise ValueError("no user has the 4 items that a training sample needs")
    samples, drops = training_windows(data, users, model.cfg.max_len, cfg.train_windows)
    optimizer = make_optimizer(model, cfg)
    aug = AugmentConfig(cfg.crop_tau, cfg.mask_gamma, cfg.reorder_beta)
    extra = dict(extra_payload or {})
    run_log = RunLog(out_dir, exp, enabled=rank == 0)

    start, stopper, history = 0, EarlyStopping(cfg.patience), []
    if resume and (out_dir / LAST).exists():
        start, stopper, history = restore_training_state(out_dir / LAST, model, optimizer, generator, cfg)
        log(f"resumed from {out_dir / LAST} after epoch {start - 1}")
    elif init_from is not None:
        info = warm_start(model, init_from)
        log(f"warm start from {init_from}: {info['known_items']} known items, {info['new_items']} new")
    elif uses_centres(cfg) and rank == 0:  # the other ranks get rank 0's parameters from DDP below
        t0 = time.perf_counter()
        init_centres(model, data, users, cfg)
        log(f"centres initialised ({cfg.centre_init}, K={model.cfg.n_intents}) in {time.perf_counter() - t0:.1f}s")

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
    # optimiser steps per epoch, the same on every rank (DistributedSampler pads the shards to equal length)
    steps_per_epoch = math.ceil(math.ceil(len(samples) / distributed.world_size()) / cfg.batch_size)
    step_losses = StepLosses(ddp is None and compiles_step(cfg, device), log)
    for epoch in range(start, cfg.epochs):
        if stopper.should_stop:
            break
        first_step = epoch * steps_per_epoch
        if cfg.max_steps and first_step >= cfg.max_steps:
            break
        t0 = time.perf_counter()
        sums = train_epoch(model, optimizer, data, samples, cfg, aug, generator, device, desc=f"epoch {epoch}",
                           ddp=ddp, epoch=epoch, drops=drops, first_step=first_step,
                           max_batches=cfg.max_steps - first_step if cfg.max_steps else None,
                           step_losses=step_losses)
        train_seconds = time.perf_counter() - t0
        valid = evaluate(model, eval_data, "valid", batch_size=cfg.eval_batch_size)
        seconds = time.perf_counter() - t0
        row = {"epoch": epoch, **sums, **{f"valid_{k}": v for k, v in valid.items()},
               "train_seconds": train_seconds, "seconds": seconds, "seq_per_s": len(samples) / train_seconds,
               "steps": min(first_step + steps_per_epoch, cfg.max_steps or math.inf)}
        history.append(row)
        improved = stopper.update(epoch, valid[SELECTION_METRIC])
        if improved and rank == 0:
            save_checkpoint(out_dir / BEST, model_payload(model, exp, {"epoch": epoch, "valid": valid, **extra}))
        save_training_state(out_dir / LAST, model, optimizer, exp, epoch, stopper, history, generator)
        run_log.epoch(row)
        if ddp is not None:
            distributed.check_replicas(model)
        log(format_epoch(row, stopper))

    if ddp is not None:
        log(f"parameters identical on all {distributed.world_size()} ranks: sha256 "
            f"{distributed.check_replicas(model)}")
    distributed.barrier()  # rank 0 has written best.pt
    best = load_checkpoint(out_dir / BEST)
    model.load_state_dict(best["model"])
    test = evaluate(model, eval_data, "test", batch_size=cfg.eval_batch_size)
    best["test"] = test
    best["history"] = history
    if rank == 0:
        save_checkpoint(out_dir / BEST, best)
    log(f"best epoch {stopper.best_epoch}: valid {fmt(best['valid'])} | test {fmt(test)}")
    result = TrainResult(stopper.best_epoch, best["valid"], test, history, time.perf_counter() - began,
                         out_dir / BEST)
    run_log.finish({"best_epoch": result.best_epoch, "epochs": len(history), "seconds": result.seconds,
                    "valid": result.valid, "test": result.test, "history": history})
    return result


def train_distributed(nproc: int, data: str | Path, data_format: str, exp: ExperimentConfig, out_dir: str | Path,
                      log: Callable[[str], None] = print, init_from: str | Path | None = None) -> TrainResult:
    """:func:`train` in ``nproc`` processes on this machine: ``elcrec train`` under torchrun on the file ``data``
    (``data_format`` as ``elcrec train --format``), with ``exp`` written to ``out_dir/config.json`` for it.
    The result is read back from ``best.pt``; ``seconds`` is the wall time of the launch."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = out_dir / CONFIG_FILE
    config.write_text(json.dumps(exp.to_dict(), indent=2) + "\n")
    argv = ["train", "--data", str(data), "--format", data_format, "--config", str(config), "--out", str(out_dir)]
    if init_from is not None:
        argv += ["--init-from", str(init_from)]
    began = time.perf_counter()
    code = distributed.launch(nproc, argv, log)
    if code:
        raise RuntimeError(f"distributed training in {nproc} processes failed with exit code {code} (see the log)")
    best = load_checkpoint(out_dir / BEST)
    return TrainResult(best["epoch"], best["valid"], best["test"], best["history"], time.perf_counter() - began,
                       out_dir / BEST)


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
    """Adam over all parameters; with ``centre_lr`` > 0 the centres form a second group at that rate. On CPU and
    CUDA the fused implementation (one kernel over all parameters; the same update)."""
    fused = all(p.device.type in ("cpu", "cuda") for p in model.parameters()) or None
    if cfg.centre_lr <= 0:
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay,
                                fused=fused)
    others = [p for name, p in model.named_parameters() if name != "centres"]
    return torch.optim.Adam([{"params": others}, {"params": [model.centres], "lr": cfg.centre_lr}],
                            lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay, fused=fused)


def train_epoch(model: ELCRec, optimizer: torch.optim.Optimizer, data: SequenceTensors, users: torch.Tensor,
                cfg: TrainConfig, aug: AugmentConfig, generator: torch.Generator, device: torch.device,
                desc: str = "", ddp: DistributedDataParallel | None = None, epoch: int = 0,
                drops: torch.Tensor | None = None, first_step: int = 0,
                max_batches: int | None = None, step_losses: StepLosses | None = None) -> dict[str, float]:
    """One pass over the training samples in shuffled batches; returns the mean of each loss part and of the
    joint loss. ``users`` (with ``drops``, see :func:`training_windows`: one sample per pair; None: the last
    window of each user) are the samples; ``first_step`` numbers the optimiser steps for the warm-up, and
    ``max_batches`` ends the epoch early (a budget in steps). ``step_losses`` computes the loss parts (a
    compiled step, see :class:`StepLosses`); None: :func:`loss_parts`, eager.
    With ``ddp`` (:class:`LossParts` of ``model`` under DistributedDataParallel) this rank takes its shard of
    epoch ``epoch``'s permutation, gradients are averaged over the ranks, and the means are over all ranks."""
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
    for number, idx in enumerate(progress(batches, desc)):
        batch = make_train_batch(data, users[idx], model.cfg.max_len, aug, generator, batch_negatives(cfg),
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


def progress(items, desc: str):
    """A progress bar on a terminal (rank 0's), the plain iterable elsewhere."""
    if sys.stderr.isatty() and distributed.is_main():
        from tqdm import tqdm

        return tqdm(items, desc=desc, leave=False)
    return items


def _silent(line: str) -> None:
    """The log of ranks other than 0."""


def fmt(metrics: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.4f}" for k, v in metrics.items())


def format_epoch(row: dict[str, float], stopper: EarlyStopping) -> str:
    parts = " ".join(f"{k} {row[k]:.4f}" for k in ("loss", "rec", "seq_cl", "intent_cl", "cluster") if k in row)
    return (f"epoch {int(row['epoch']):3d} | {parts} | valid HR@20 {row['valid_HR@20']:.4f} "
            f"NDCG@20 {row['valid_NDCG@20']:.4f} | {row['seconds']:.1f}s {row['seq_per_s']:.0f} seq/s"
            f"{' *' if stopper.best_epoch == row['epoch'] else ''}")
