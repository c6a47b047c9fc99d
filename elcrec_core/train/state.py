"""Training state on disk: early stopping, the checkpoint payloads, and saving and restoring a run for resume."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from elcrec_core.config.settings import ExperimentConfig, TrainConfig
from elcrec_core.data.sequences import Sequences
from elcrec_core.evaluate.ranking import SELECTION_METRIC
from elcrec_core.model.elcrec import ELCRec
from elcrec_core.train import distributed
from elcrec_core.train.checkpoint import (FORMAT_VERSION, LAST, CheckpointError, load_checkpoint, non_finite_text,
                                         save_checkpoint)


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
        """Whether ``patience`` epochs in a row have not improved on the best score."""
        return self.bad_epochs >= self.patience


def model_payload(model: ELCRec, exp: ExperimentConfig, extra: dict[str, Any]) -> dict[str, Any]:
    """What ``best.pt`` holds: the format version, the model's state dict on CPU, its ``ModelConfig`` and the
    experiment's settings as dicts, and the ``extra`` values (the epoch, its metrics, ...) beside them."""
    return {
        "format_version": FORMAT_VERSION,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "model_config": dataclasses.asdict(model.cfg),
        "config": exp.to_dict(),
        **extra,
    }


def data_digest(seqs: Sequences) -> str:
    """SHA-256 of the sequences a run trains on (item count, offsets, items as indices): equal digests mean the
    same users' histories under the same item numbering."""
    digest = hashlib.sha256(str(seqs.n_items).encode())
    for array in (seqs.offsets, seqs.items):
        digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
    return digest.hexdigest()


@functools.cache
def code_digest() -> str:
    """SHA-256 of the library's Python sources (every ``.py`` file of ``elcrec_core``, by relative path): the code
    that trains and scores a model, so that two trainings of one recipe under other code are not taken for one."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def save_training_state(path: Path, model: ELCRec, optimizer: torch.optim.Optimizer, exp: ExperimentConfig,
                        epoch: int, stopper: EarlyStopping, history: list, generator: torch.Generator,
                        data: str | None = None) -> None:
    """Write ``last.pt``: the model, optimiser, epoch, RNG states (every rank's), early stopping, history and the
    :func:`data_digest` ``data`` of the sequences trained on (checked on resume)."""
    rng = {"torch": torch.get_rng_state(), "data": generator.get_state()}
    if model.item_emb.weight.is_cuda:  # a CPU run on a GPU machine opens no CUDA context for it
        rng["cuda"] = torch.cuda.get_rng_state_all()
    every_rank = distributed.gather(rng)  # a collective: every rank calls this, rank 0 writes
    if not distributed.is_main():
        return
    ranks = {"rank_rng": every_rank} if len(every_rank) > 1 else {}
    save_checkpoint(path, model_payload(model, exp, {
        "optimizer": optimizer.state_dict(), "epoch": epoch, "rng": rng, **ranks,
        "early_stopping": dataclasses.asdict(stopper), "history": history,
        **({"data_digest": data} if data is not None else {}),
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
                           generator: torch.Generator, cfg: TrainConfig,
                           data: str | None = None) -> tuple[int, EarlyStopping, list]:
    """Load ``last.pt``; returns (epochs done, early-stopping state, history). Each rank restores its own RNG
    states. Raises ValueError naming each changed setting when ``last.pt`` was written with other model or
    training settings (or item catalogue) than ``model.cfg`` and ``cfg``, except those of
    :data:`RESUMABLE_CHANGES`, or by another number of processes (another batch per optimiser step: ``elcrec train
    --nproc``), and when it was written for other sequences than those
    of :func:`data_digest` ``data`` (where both are known: other users' histories or another item numbering);
    CheckpointError where its weights are NaN or infinite (a damaged file)."""
    state = load_last(path)
    if data is not None and state.get("data_digest", data) != data:
        raise ValueError(f"{path} holds a run on other data (other histories or another item numbering): resume "
                         f"on the data it trained on, {START_OVER}")
    changes = (changed_settings(state["model_config"], dataclasses.asdict(model.cfg), "model")
               + changed_settings(state["config"]["train"], dataclasses.asdict(cfg), "train", RESUMABLE_CHANGES))
    saved = _rank_rngs(state)
    changes += processes_change(state, distributed.world_size(), cfg.batch_size)
    if changes:
        raise other_settings(path, changes)
    model.load_state_dict(state["model"])
    if bad := model.non_finite_weights():  # overwritten bytes: a resume diverged, advised to lower lr (helper-236)
        raise CheckpointError(f"{non_finite_text(path, bad)}; {START_OVER}")
    moments = [value for values in state["optimizer"]["state"].values() for value in values.values()
               if torch.is_tensor(value)]  # Adam's moments: NaN there diverges the resume as well (helper-239)
    if bad := sum(int((~torch.isfinite(value)).sum()) for value in moments):
        raise CheckpointError(f"{non_finite_text(path, bad, 'optimiser state values')}; {START_OVER}")
    optimizer.load_state_dict(state["optimizer"])
    rng = saved[distributed.rank()]
    torch.set_rng_state(rng["torch"])
    generator.set_state(rng["data"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    stopper = EarlyStopping(**{**state["early_stopping"], "patience": cfg.patience})  # a changed patience applies
    return state["epoch"] + 1, stopper, state["history"]


def processes_change(state: dict[str, Any], now: int, batch_size: int) -> list[str]:
    """The change of the run of ``last.pt``'s ``state`` resumed in ``now`` processes of ``batch_size`` each (the
    batch per optimiser step is the processes x the batch size), as :func:`restore_training_state` names it; none
    where they are as many."""
    saved, saved_batch = len(_rank_rngs(state)), state["config"]["train"]["batch_size"]
    return [] if saved == now else [f"processes {saved} -> {now} (--nproc: a batch per step of {saved} x "
                                    f"{saved_batch} -> {now} x {batch_size})"]  # both new: helper-240


def load_last(path: Path) -> dict[str, Any]:
    """The ``last.pt`` (or ``best.pt``) at ``path`` of a run to resume; a damaged one raises
    :class:`CheckpointError` that says how to go on (helper-203)."""
    try:
        return load_checkpoint(path)
    except CheckpointError as err:
        raise CheckpointError(f"{err}; {START_OVER}") from None


START_OVER = "start over with --fresh (or resume=False), or write to another folder"


def load_best(path: Path, model: ELCRec) -> dict[str, Any]:
    """The payload of the run's ``best.pt`` at ``path``, its weights loaded into ``model``. Raises
    :class:`CheckpointError` for a damaged file or NaN or infinite weights (bytes overwritten while the run went on:
    its test figures were NaN, helper-239), saying how to go on."""
    best = load_last(path)
    model.load_state_dict(best["model"])
    if bad := model.non_finite_weights():
        raise CheckpointError(f"{non_finite_text(path, bad)}; {START_OVER}")
    return best


def _rank_rngs(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Each rank's RNG states in ``last.pt``'s ``state`` (one process's, of a run written before ``rank_rng``)."""
    return state.get("rank_rng", [state["rng"]])


def other_settings(path: Path, changes: list[str]) -> ValueError:
    """The refusal to resume the run of ``path`` with the ``changes`` named."""
    return ValueError(f"{path} holds a run with other settings ({'; '.join(changes)}): resume with the same "
                      f"settings, {START_OVER}")


def holds_best(path: Path, stopper: EarlyStopping) -> bool:
    """Whether ``best.pt`` at ``path`` holds the best epoch of ``stopper``: its epoch and validation score both tell
    (another run's best.pt may have the same epoch number)."""
    if not path.exists():
        return False
    best = load_checkpoint(path)
    return (best.get("epoch"), best.get("valid", {}).get(SELECTION_METRIC)) == (stopper.best_epoch, stopper.best_score)


def without_lost_best(path: Path, stopper: EarlyStopping, history: list[dict[str, Any]],
                      log: Callable[[str], None]) -> EarlyStopping:
    """``stopper`` as restored from ``last.pt``, or, where the best epoch it records is before the last and
    ``best.pt`` at ``path`` does not hold it (missing, or of another epoch or score: a finished run of another
    process removed the folder while this one wrote ``last.pt`` again), one whose best is the last epoch, whose
    weights ``last.pt`` holds (:func:`complete_best_checkpoint` writes ``best.pt`` from them): the run goes on from
    there, where every resume failed on the missing ``best.pt``. Says so through ``log``."""
    if stopper.best_epoch < 0 or not history or stopper.best_epoch == history[-1]["epoch"]:
        return stopper
    if holds_best(path, stopper):
        return stopper
    last = history[-1]
    log(f"{path} does not hold epoch {stopper.best_epoch}, the best: the best is now epoch {last['epoch']}, the "
        f"last, whose weights {LAST} holds")
    return EarlyStopping(stopper.patience, best_score=last[f"valid_{SELECTION_METRIC}"], best_epoch=last["epoch"])


def complete_best_checkpoint(path: Path, model: ELCRec, exp: ExperimentConfig, stopper: EarlyStopping,
                             history: list[dict[str, Any]], extra: dict[str, Any]) -> bool:
    """Write ``best.pt`` at ``path`` from ``model`` (restored from ``last.pt``) where the last epoch of ``history``
    was the best (``stopper``) and ``best.pt`` does not hold it (another epoch, or another run's: its epoch and
    validation score both tell): the trainer writes ``last.pt`` before ``best.pt``, so a run killed between the two
    leaves them so, and its resume trains on past that epoch. Returns whether it wrote ``best.pt``; ``extra`` is
    what the trainer adds to its payload."""
    if not history or stopper.best_epoch != history[-1]["epoch"]:
        return False
    if holds_best(path, stopper):
        return False
    valid = {name.removeprefix("valid_"): value for name, value in history[-1].items() if name.startswith("valid_")}
    save_checkpoint(path, model_payload(model, exp, {"epoch": stopper.best_epoch, "valid": valid, **extra}))
    return True
