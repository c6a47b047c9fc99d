"""Training settings derived from the data: the ``auto`` preset.

``auto`` is the ``general`` preset (ours: cosine contrastive losses on pooled views, full softmax, lr 0.005) with
the settings that depend on the data's size and history lengths derived from the sequences, so that a data set
nobody tuned for trains within a bounded number of optimiser steps: about a minute on 2 CPU cores for small data,
more steps for more data. Each rule, in the order they are applied (a setting given explicitly is kept, and the
later rules use it):

1. ``max_len`` = the 95th percentile of the history lengths rounded up to a multiple of 10, within [10, 50].
   Positions beyond almost every history are padding that the encoder still computes (the cost of a step grows
   with the window); 50 is the paper's window (ELCRec's experimental settings, as SASRec's).
2. ``train_windows`` = "all" when the 95th percentile exceeds ``max_len`` (more than 5% of the histories are cut
   by the window): the earlier windows of a long history become training samples too, so that its older events
   are targets (see :func:`elcrec_core.train.batches.training_windows`); else "last" (the reference).
3. ``batch_size`` = 256 (the reference), halved while an epoch would have fewer than :data:`MIN_STEPS_PER_EPOCH`
   steps, not below 64: small data gets more updates per pass (ml-100k: 943 users).
4. ``rec_loss`` = "ce" (full softmax) wherever the model accepts it: one batch's logits, batch x ``max_len`` x
   items, within :data:`~elcrec_core.config.settings.MAX_CE_LOGITS`, the bound that the SASRec challenger (the
   ablation, full softmax) has too; else "sampled_softmax" (a catalogue too large for either). Full softmax learns
   more per epoch than sampled softmax, and more per second: on Sports and Beauty with a window of 50, one of its
   epochs beats three of sampled softmax (BENCHMARKS.md, "Full softmax or sampled softmax for a large catalogue").
   Its memory: on CPU a 16 MiB block of logits at a time (in float32, also under bf16 autocast); on a GPU the
   whole [positions x items] matrix, up to 4 GiB in fp32 at the bound and about three times that with the backward
   pass, as for the SASRec challenger. With sampled softmax, derived or given, ``n_negatives`` =
   :data:`SAMPLED_NEGATIVES` shared uniform negatives a batch: 2048 closed about three quarters of the gap between
   the reference's 128 and full softmax on Sports for about a sixth more CPU time.
5. ``n_intents`` = the power of two nearest to sqrt(users) / 4 on a log scale (23 gives 32), within [8, 256]:
   about 4 sqrt(users) users per intent, so that each centre is estimated from many sequences and the intents
   stay few enough to read in the profiles; 256 is the paper's Beauty/Yelp value (22k-31k users, the paper's
   data sets). Never more than the users with a training sample (the power of two at or below their number):
   k-means, which places the centres, needs one sequence per centre (7 such users give 4 intents).
6. ``max_steps`` = :data:`BUDGET_EPOCHS` epochs of optimiser steps, within [:data:`MIN_STEPS`, :data:`MAX_STEPS`];
   ``epochs`` = the epochs those steps span; ``patience`` = a quarter of them, at least 3: training ends at the
   step budget or when validation NDCG@20 has not improved for ``patience`` epochs, whichever comes first.
   ``epochs`` given (``max_steps`` not): those epochs bound training, up to :data:`MAX_STEPS` steps (the bound
   on a run's time, which a daily run's ``warm_start_epochs`` keeps; ``max_steps`` 0 lifts it).

The cost of a step does not grow with the number of users, so the step bounds bound the time for a catalogue (with
full softmax a step's cost grows with the items): 200 steps are about a minute on 2 AVX2 cores for the embedded
synthetic data and ml-100k; 20,000 steps (1M users and more) are hours there and minutes on a GPU. Steps and epochs
are counted for one process: under DistributedDataParallel with N processes (``batch_size`` per process) an epoch
has 1/N of the steps, so ``epochs`` ends training after about ``max_steps`` / N steps, over the same number of
samples. Ours, not the paper's; measured in BENCHMARKS.md ("Settings derived from the data").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from elcrec_core.config.settings import (MAX_CE_LOGITS, ExperimentConfig, ModelConfig, load_preset, merge_overrides,
                                         preset_names)
from elcrec_core.data.sequences import Sequences, SequenceTensors
from elcrec_core.train.batches import trainable_users, training_windows

AUTO = "auto"  # the preset name of the derived settings
BASE_PRESET = "general"  # what auto starts from
LENGTH_PERCENTILE = 95
MAX_LEN_STEP, MIN_MAX_LEN, MAX_MAX_LEN = 10, 10, 50
BATCH_SIZE, MIN_BATCH_SIZE = 256, 64
MIN_STEPS_PER_EPOCH = 16
SAMPLED_NEGATIVES = 2048
MIN_INTENTS, MAX_INTENTS = 8, 256
BUDGET_EPOCHS = 10
MIN_STEPS, MAX_STEPS = 200, 20_000
MIN_PATIENCE = 3

# the model and train settings that derive_settings chooses
MODEL_FIELDS = ("max_len", "n_intents")
TRAIN_FIELDS = ("train_windows", "batch_size", "rec_loss", "n_negatives", "max_steps", "epochs", "patience")


def shown_train_fields(rec_loss: str) -> tuple[str, ...]:
    """The :data:`TRAIN_FIELDS` that a log or metadata shows for a run of ``rec_loss``: ``n_negatives`` with sampled
    softmax only, the loss that uses it."""
    return tuple(name for name in TRAIN_FIELDS if name != "n_negatives" or rec_loss == "sampled_softmax")


@dataclass(frozen=True)
class DerivedSettings:
    """The data-dependent settings of the ``auto`` preset, and the data figures they come from."""

    max_len: int
    train_windows: str
    batch_size: int
    rec_loss: str
    n_negatives: int  # of sampled softmax; with another loss, the base preset's (unused)
    n_intents: int
    max_steps: int
    epochs: int
    patience: int
    users: int
    items: int
    interactions: int
    length_percentile: int  # the history length at LENGTH_PERCENTILE
    samples: int  # training samples (windows) per epoch
    steps_per_epoch: int

    def model(self) -> dict[str, Any]:
        """The derived model settings (``max_len``, ``n_intents``) by ``ModelConfig`` field name."""
        return {name: getattr(self, name) for name in MODEL_FIELDS}

    def train(self) -> dict[str, Any]:
        """The derived training settings (batch size, loss, steps, epochs, patience, ...) by ``TrainConfig`` field
        name."""
        return {name: getattr(self, name) for name in TRAIN_FIELDS}

    def describe(self, intents: bool = True) -> str:
        """One line for a log: the data figures and the settings chosen (``n_negatives`` with sampled softmax only;
        ``n_intents`` where ``intents``, not for a run without intent losses: the SASRec ablation's said 16)."""
        values, model = asdict(self), [name for name in MODEL_FIELDS if intents or name != "n_intents"]
        return ", ".join(f"{name} {values[name]}" for name in (
            "users", "items", "interactions", "length_percentile", *model, *shown_train_fields(self.rec_loss),
            "samples", "steps_per_epoch"))


def derive_settings(seqs: Sequences, given: Mapping[str, Any] | None = None) -> DerivedSettings:
    """The ``auto`` rules of this module's docstring applied to ``seqs``. ``given`` holds settings chosen
    explicitly (model or train field names, such as ``{"max_len": 20}``; None values count as not given): they
    are kept as they are and the later rules use them. Raises ValueError when no user has the 4 items that a
    training sample needs."""
    given = {name: value for name, value in (given or {}).items() if value is not None}
    lengths = seqs.lengths
    data = SequenceTensors.from_sequences(seqs)
    users = trainable_users(data)
    percentile = int(np.percentile(lengths, LENGTH_PERCENTILE, method="higher"))

    max_len = given.get("max_len", min(MAX_MAX_LEN, max(MIN_MAX_LEN, _round_up(percentile, MAX_LEN_STEP))))
    windows = given.get("train_windows", "all" if percentile > max_len else "last")
    samples = len(training_windows(data, users, max_len, windows)[0])
    batch = given.get("batch_size", _batch_size(samples))
    logits = batch * max_len * seqs.n_items
    rec_loss = given.get("rec_loss", "ce" if logits <= MAX_CE_LOGITS else "sampled_softmax")
    negatives = given.get("n_negatives", SAMPLED_NEGATIVES if rec_loss == "sampled_softmax"
                          else load_preset(BASE_PRESET).train.n_negatives)
    intents = given.get("n_intents", min(_nearest_power_of_two(math.sqrt(len(seqs)) / 4, MIN_INTENTS, MAX_INTENTS),
                                         1 << (len(users).bit_length() - 1)))  # k-means: a sequence per centre
    steps_per_epoch = math.ceil(samples / batch)
    budget = MAX_STEPS if "epochs" in given else min(MAX_STEPS, max(MIN_STEPS, BUDGET_EPOCHS * steps_per_epoch))
    max_steps = given.get("max_steps", budget)
    # max_steps 0 (given: no step limit) leaves the epochs to bound training
    epochs = given.get("epochs", math.ceil(max_steps / steps_per_epoch) if max_steps else BUDGET_EPOCHS)
    patience = given.get("patience", max(MIN_PATIENCE, math.ceil(epochs / 4)))
    return DerivedSettings(max_len=max_len, train_windows=windows, batch_size=batch, rec_loss=rec_loss,
                           n_negatives=negatives, n_intents=intents, max_steps=max_steps, epochs=epochs,
                           patience=patience,
                           users=len(seqs), items=seqs.n_items, interactions=int(lengths.sum()),
                           length_percentile=percentile, samples=samples, steps_per_epoch=steps_per_epoch)


def auto_experiment(seqs: Sequences, model: Mapping[str, Any], train: Mapping[str, Any],
                    log: Callable[[str], None] | None = None) -> ExperimentConfig:
    """The ``auto`` preset for ``seqs``: :data:`BASE_PRESET` with the derived settings, then the explicit
    ``model`` and ``train`` settings (None values are not given) over both. ``log`` gets one line with the data
    figures and the settings (:meth:`DerivedSettings.describe`). Raises ValueError naming each wrong explicit setting
    (checked over the base preset first, and used as checked: ``"3"`` epochs are 3), and :func:`derive_settings`'."""
    checked = merge_overrides(load_preset(BASE_PRESET), dict(model), dict(train))
    shapes = ModelConfig(**{**checked.model, "n_items": 1})  # the model settings as the schema reads them
    model = {name: value if name in ("n_items", "vocab_size") else getattr(shapes, name)  # those: of the data
             for name, value in model.items() if value is not None}
    train = {name: getattr(checked.train, name) for name, value in train.items() if value is not None}
    derived = derive_settings(seqs, {**model, **train})
    base = merge_overrides(load_preset(BASE_PRESET), derived.model(), derived.train())
    exp = replace(merge_overrides(base, model, train), preset=AUTO)
    if log is not None:
        log(f"preset auto: {derived.describe(exp.train.trade_off > 0 or exp.train.intent_cf_weight > 0)}")
    return exp


def preset_experiment(preset: str, seqs: Sequences | None, model: Mapping[str, Any], train: Mapping[str, Any],
                      log: Callable[[str], None] | None = None) -> ExperimentConfig:
    """The named preset with the explicit settings over it; ``auto`` derives its settings from ``seqs``
    (:func:`auto_experiment`, which logs them to ``log``). Raises ValueError for ``auto`` without sequences, for
    an unknown preset, and naming each wrong explicit setting."""
    if preset == AUTO:
        if seqs is None:
            raise ValueError("preset 'auto' derives its settings from the data: give the sequences")
        return auto_experiment(seqs, model, train, log)
    if preset not in preset_names():  # load_preset's own list lacks auto, which only this function knows
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted([AUTO, *preset_names()])}")
    return merge_overrides(load_preset(preset), dict(model), dict(train))


def _round_up(value: float, step: int) -> int:
    return int(math.ceil(value / step) * step)


def _batch_size(samples: int) -> int:
    batch = BATCH_SIZE
    while batch > MIN_BATCH_SIZE and math.ceil(samples / batch) < MIN_STEPS_PER_EPOCH:
        batch //= 2
    return batch


def _nearest_power_of_two(value: float, low: int, high: int) -> int:
    return int(min(high, max(low, 2 ** round(math.log2(max(value, 1.0))))))
