"""Configuration dataclasses and named presets.

The defaults are the reference hyper-parameters of the ELCRec paper. Per-data-set values live in
``presets.toml`` and are chosen by the user (``--preset beauty``), never inferred from a data set's name.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

Prototype = Literal["shift", "concat"]
RecLoss = Literal["bce", "ce", "sampled_softmax"]
CentreInit = Literal["kmeans", "random"]
Pooling = Literal["all", "items"]
Precision = Literal["auto", "fp32", "bf16"]
Similarity = Literal["dot", "cosine"]
SeqClView = Literal["flatten", "pooled", "last"]
AuxScale = Literal["fixed", "relative"]
TrainWindows = Literal["last", "all"]
# scores per batch that rec_loss "ce" may compute: 4 GiB of fp32 logits held whole (on a GPU; about three times that
# with the backward), and as many products and exponentials on CPU, which in fp32 holds them a 16 MiB block at a time
MAX_CE_LOGITS = 1 << 30


# the ModelConfig fields that fix the parameters' shapes (besides the item count, which warm start handles)
SHAPE_FIELDS = ("hidden", "n_layers", "n_heads", "max_len", "n_intents")


@dataclass
class ModelConfig:
    """Shape of the SASRec encoder and the intent centres."""

    n_items: int  # real items have ids 1..n_items; 0 is padding
    vocab_size: int = 0  # rows of the item table; 0 means n_items + 1 (a loaded checkpoint may have more)
    hidden: int = 64
    n_layers: int = 1
    n_heads: int = 2
    max_len: int = 50
    dropout: float = 0.5  # on hidden states
    attn_dropout: float = 0.5  # on attention probabilities
    n_intents: int = 256
    init_std: float = 0.02
    layer_norm_eps: float = 1e-12
    # the sequence representation the intent parts use: "all" averages every position of the padded window,
    # padding outputs included (the reference); "items" averages the positions that hold an item
    pooling: Pooling = "all"

    def __post_init__(self) -> None:
        if self.vocab_size == 0:
            self.vocab_size = self.n_items + 1
        if self.vocab_size < self.n_items + 1:
            raise ValueError(f"vocab_size {self.vocab_size} < n_items + 1 = {self.n_items + 1}")
        if self.hidden % self.n_heads:
            raise ValueError(f"hidden {self.hidden} is not divisible by n_heads {self.n_heads}")


@dataclass
class TrainConfig:
    """Optimisation, loss weights, augmentation and stopping."""

    epochs: int = 300
    batch_size: int = 256
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    patience: int = 40  # epochs without a better validation NDCG@20
    rec_loss: RecLoss = "bce"
    n_negatives: int = 128  # for rec_loss = "sampled_softmax"
    rec_weight: float = 1.0
    cf_weight: float = 0.1  # sequence contrastive loss
    intent_cf_weight: float = 0.1  # intent contrastive loss
    trade_off: float = 10.0  # cluster loss
    temperature: float = 1.0
    prototype: Prototype = "shift"
    # --- choices beyond the paper; each default is the paper's (reference) behaviour
    # the InfoNCE logits of both contrastive losses: raw dot products ("dot", the reference) or cosine
    # similarities ("cosine": L2-normalised rows, logits bounded by 1 / temperature)
    cl_similarity: Similarity = "dot"
    # what the sequence-contrastive loss compares: the flattened L x d window ("flatten", the reference), the
    # pooled views ("pooled", as ModelConfig.pooling says) or the most recent position ("last")
    seq_cl_view: SeqClView = "flatten"
    # "fixed": loss = sum of weight x part (the reference); "relative": each auxiliary part is rescaled by the
    # (constant, no-gradient) ratio rec / part, so that its weight is its size relative to the next-item loss
    aux_scale: AuxScale = "fixed"
    aux_warmup_steps: int = 0  # the auxiliary weights rise linearly from 0 over this many optimiser steps
    centre_lr: float = 0.0  # learning rate of the intent centres; 0: the same as lr
    # training samples per user: "last" (the reference) the most recent max_len inputs only; "all" also the
    # earlier non-overlapping windows of max_len inputs of a longer history, so that every event is a target
    train_windows: TrainWindows = "last"
    max_steps: int = 0  # stop after this many optimiser steps (0: no limit; epochs still apply)
    crop_tau: float = 0.2
    mask_gamma: float = 0.7
    reorder_beta: float = 0.2
    centre_init: CentreInit = "kmeans"
    kmeans_iters: int = 20
    kmeans_restarts: int = 5
    kmeans_sample: int = 100_000  # k-means runs on a seeded uniform sample of at most this many sequences
    seed: int = 2024
    device: str = "auto"
    precision: Precision = "auto"  # auto: bf16 autocast on CUDA and on CPUs with native bf16, else fp32
    # torch.compile of the training step's forward and backward on CPU (inductor: C++ built by the system
    # compiler; eager, with the reason logged, where that fails). Same losses. Off: on the 2-core AVX2 CPU the
    # compiled step was 1.5x slower than eager (BENCHMARKS.md)
    compile: bool = False
    eval_batch_size: int = 2048


@dataclass
class ExperimentConfig:
    """Everything one training run needs, apart from the data."""

    model: dict[str, Any] = field(default_factory=dict)  # ModelConfig fields other than n_items
    train: TrainConfig = field(default_factory=TrainConfig)

    def model_config(self, n_items: int) -> ModelConfig:
        """The model for a catalogue of ``n_items``; refuses full-softmax training (``rec_loss = "ce"``) where one
        batch's [positions x items] logits would exceed ``MAX_CE_LOGITS``."""
        cfg = ModelConfig(n_items=n_items, **self.model)
        logits = self.train.batch_size * cfg.max_len * n_items
        if self.train.rec_loss == "ce" and logits > MAX_CE_LOGITS:
            raise ValueError(
                f"rec_loss 'ce' scores all {n_items:,} items at each of up to {self.train.batch_size} x {cfg.max_len} "
                f"positions per batch: {logits / 2**30:.1f}G logits ({4 * logits / 2**30:.0f} GiB in fp32 on a GPU, "
                f"about 3x that in the backward pass; as much work in 16 MiB blocks on CPU in fp32), over the bound of "
                f"{MAX_CE_LOGITS / 2**30:.0f}G; use rec_loss 'sampled_softmax' or 'bce' for a catalogue this large, "
                f"or a smaller batch_size")
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return {"model": dict(self.model), "train": dataclasses.asdict(self.train)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "ExperimentConfig":
        train = dict(raw.get("train", {}))
        if "betas" in train:
            train["betas"] = tuple(train["betas"])
        _check_keys(train, TrainConfig, "train")
        model = dict(raw.get("model", {}))
        _check_keys(model, ModelConfig, "model")
        return cls(model=model, train=TrainConfig(**train))


def _check_keys(values: dict[str, Any], kind: type, section: str) -> None:
    known = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {section} setting(s) {unknown}; known: {sorted(known)}")


def preset_names() -> list[str]:
    return sorted(_presets())


def load_preset(name: str) -> ExperimentConfig:
    """The named preset of ``presets.toml`` (e.g. ``beauty``: the paper's Beauty settings)."""
    presets = _presets()
    if name not in presets:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(presets)}")
    return ExperimentConfig.from_dict(presets[name])


def merge_overrides(cfg: ExperimentConfig, model: dict[str, Any], train: dict[str, Any]) -> ExperimentConfig:
    """A copy of ``cfg`` with the given (non-None) settings replaced."""
    raw = cfg.to_dict()
    raw["model"].update({k: v for k, v in model.items() if v is not None})
    raw["train"].update({k: v for k, v in train.items() if v is not None})
    return ExperimentConfig.from_dict(raw)


def _presets() -> dict[str, dict[str, Any]]:
    text = resources.files("elcrec_core.config").joinpath("presets.toml").read_text()
    return tomllib.loads(text)
