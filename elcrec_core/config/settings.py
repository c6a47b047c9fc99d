"""The experiment's settings: one schema for the presets, the ``elcrec train`` flags and the pipeline's run config.

:class:`ModelConfig` and :class:`TrainConfig` are pydantic dataclasses: every value is checked when a config is
built, from a preset, a JSON file, the command line or Dagster's run config alike. A wrong type (true for a number
too), a value outside a field's choices or range, or an unknown name raises ValueError naming the field (pydantic's
``ValidationError`` where one is built directly). :func:`settings_fields` lists the fields a run may override,
with the name users type (``layers`` for ``n_layers``), the type and the description: the command line's flags
(:mod:`elcrec_core.cli.settings_options`) and the pipeline's ``TrainingSettings`` are generated from it.

The defaults are the ELCRec authors' Beauty run script's (their ``main.py``'s differ: 2 layers, ``trade_off`` 1,
``intent_cf_weight`` 0.3). Presets (``presets.toml``) are chosen by the user, never inferred from a data set's name.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import field
from importlib import resources
from typing import Any, Literal, NamedTuple

from pydantic import ConfigDict, Field, ValidationError, field_validator
from pydantic.dataclasses import dataclass

from elcrec_core.config.field_types import NoBoolAsNumber
from elcrec_core.config.setting_names import did_you_mean

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
# with the backward), and as many products and exponentials on CPU, which in fp32 holds 16 MiB of them at a time
MAX_CE_LOGITS = 1 << 30

_CHECKED = ConfigDict(extra="forbid", allow_inf_nan=False)  # unknown names, infinities and NaN are refused too
# the top-level keys of a settings file (ExperimentConfig.to_dict; "data" and "run", which training adds: records)
SETTINGS_FILE_KEYS = ("preset", "model", "train", "data", "run")

# the ModelConfig fields that fix the parameters' shapes (besides the item count, which warm start handles)
SHAPE_FIELDS = ("hidden", "n_layers", "n_heads", "max_len", "n_intents")


@dataclass(config=_CHECKED)
class ModelConfig(NoBoolAsNumber):
    """SASRec encoder and intent centres' shape (the paper's learnable centres; the reference's ``SASRecModel``)."""

    n_items: int = Field(ge=1, description="real items have ids 1..n_items; 0 is padding")
    vocab_size: int = Field(0, ge=0, description="rows of the item table; 0: n_items + 1 (a loaded checkpoint "
                                                 "may have more)")
    hidden: int = Field(64, ge=1, description="width d of the item embeddings and hidden states")
    n_layers: int = Field(1, ge=1, description="transformer blocks")
    n_heads: int = Field(2, ge=1, description="attention heads (hidden must be a multiple of it)")
    max_len: int = Field(50, ge=1, description="L: the most recent items a sequence keeps")
    dropout: float = Field(0.5, ge=0.0, lt=1.0, description="dropout on hidden states")
    attn_dropout: float = Field(0.5, ge=0.0, lt=1.0, description="dropout on attention probabilities")
    n_intents: int = Field(256, ge=1, description="K: the learnable intent centres")
    init_std: float = Field(0.02, gt=0.0, description="standard deviation of the initial weights")
    layer_norm_eps: float = Field(1e-12, gt=0.0, description="epsilon of LayerNorm")
    pooling: Pooling = Field("all", description="the sequence representation the intent parts use: all averages "
                                                "every position of the padded window, padding outputs included "
                                                "(the reference); items the positions that hold an item")

    def __post_init__(self) -> None:
        if self.vocab_size == 0:
            self.vocab_size = self.n_items + 1
        if self.vocab_size < self.n_items + 1:
            raise ValueError(f"vocab_size {self.vocab_size} < n_items + 1 = {self.n_items + 1}")
        if self.hidden % self.n_heads:
            raise ValueError(f"hidden {self.hidden} is not divisible by n_heads {self.n_heads}")


@dataclass(config=_CHECKED)
class TrainConfig(NoBoolAsNumber):
    """Optimisation, loss weights, augmentation and stopping (the paper's losses, objective and experimental settings).
    Choices beyond the paper: ``rec_loss`` ce and sampled_softmax with ``n_negatives``, ``cl_similarity``,
    ``seq_cl_view``, ``aux_scale``, ``aux_warmup_steps``, ``centre_lr``, ``train_windows``, ``max_steps``,
    ``centre_init``, ``kmeans_sample``, ``precision``, ``compile`` and ``eval_batch_size``; each default is the
    reference's behaviour, except ``precision`` auto (bf16 autocast where the hardware has it; the reference trains
    in fp32) and ``kmeans_sample`` (above 100,000 sequences, more than the paper's). ``seed``: ours (theirs: 1)."""

    epochs: int = Field(300, ge=1, description="epoch budget")
    batch_size: int = Field(256, ge=1, description="training samples per optimiser step: users, or windows with "
                                                   "train_windows all (per process under DDP)")
    lr: float = Field(1e-3, gt=0.0, description="Adam's learning rate")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Adam's betas, each in [0, 1)")
    weight_decay: float = Field(0.0, ge=0.0, description="Adam's L2 weight decay")
    patience: int = Field(40, ge=1, description="epochs without a better validation NDCG@20 before stopping")
    rec_loss: RecLoss = Field("bce", description="next-item loss: bce (the paper's, one sampled negative per "
                                                 "position), ce (full softmax) or sampled_softmax")
    n_negatives: int = Field(128, ge=1, description="negatives shared by a batch for rec_loss sampled_softmax")
    rec_weight: float = Field(1.0, ge=0.0, description="weight of the next-item loss")
    cf_weight: float = Field(0.1, ge=0.0, description="weight of the sequence contrastive loss")
    intent_cf_weight: float = Field(0.1, ge=0.0, description="weight of the intent contrastive loss")
    trade_off: float = Field(10.0, ge=0.0, description="weight of the cluster loss")
    temperature: float = Field(1.0, gt=0.0, description="temperature of both contrastive losses")
    prototype: Prototype = Field("shift", description="how the intent centres meet the views in the sequence "
                                                      "contrastive loss: shift or concat (the paper's two)")
    cl_similarity: Similarity = Field("dot", description="InfoNCE logits of both contrastive losses: raw dot "
                                                         "products (the reference) or cosine similarities")
    seq_cl_view: SeqClView = Field("flatten", description="what the sequence contrastive loss compares: the "
                                                          "flattened L x d window (the reference), the pooled "
                                                          "views or the most recent position")
    aux_scale: AuxScale = Field("fixed", description="fixed: loss = sum of weight x part (the reference); "
                                                     "relative: each contrastive part first rescaled to the "
                                                     "size of the next-item loss (no gradient through the ratio; "
                                                     "the cluster part, which changes sign, is not)")
    aux_warmup_steps: int = Field(0, ge=0, description="the auxiliary weights rise linearly from 0 over this "
                                                       "many optimiser steps")
    centre_lr: float = Field(0.0, ge=0.0, description="learning rate of the intent centres (0: lr)")
    train_windows: TrainWindows = Field("last", description="training samples per user: last (the reference) "
                                                            "the most recent max_len inputs only; all also the "
                                                            "earlier windows of a longer history")
    max_steps: int = Field(0, ge=0, description="optimiser-step budget (0: none; epochs still apply)")
    crop_tau: float = Field(0.2, ge=0.0, le=1.0, description="share of a sequence the crop view keeps")
    mask_gamma: float = Field(0.7, ge=0.0, le=1.0, description="share of a sequence the mask view masks")
    reorder_beta: float = Field(0.2, ge=0.0, le=1.0, description="share of a sequence the reorder view shuffles")
    centre_init: CentreInit = Field("kmeans", description="start of the intent centres: k-means of the initial "
                                                          "sequence representations, or random")
    kmeans_iters: int = Field(20, ge=1, description="k-means iterations")
    kmeans_restarts: int = Field(5, ge=1, description="k-means restarts (the best is kept)")
    kmeans_sample: int = Field(100_000, ge=1, description="k-means runs on a seeded sample of at most this many "
                                                          "sequences")
    seed: int = Field(2024, ge=0, le=2**32 - 1, description="seed of the initialisation, batches, views and "
                                                           "negatives (ours; the authors' code: 1)")
    device: str = Field("auto", description="auto (CUDA where present), cpu, cuda, cuda:1, ...")
    precision: Precision = Field("auto", description="auto: bf16 autocast on GPUs (Ampere and later) and CPUs "
                                                     "with native bf16, else fp32")
    compile: bool = Field(False, description="torch.compile of the training step on CPU (eager, with the reason "
                                             "logged, where that fails); off: slower on a 2-core AVX2 CPU")
    eval_batch_size: int = Field(2048, ge=1, description="users per batch in validation and test")

    @field_validator("betas")
    @classmethod
    def _betas_in_range(cls, betas: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 <= beta < 1.0 for beta in betas):
            raise ValueError("each of Adam's betas is in [0, 1)")
        return betas


@dataclasses.dataclass
class ExperimentConfig:
    """Everything one training run needs, apart from the data. ``model`` holds the :class:`ModelConfig` fields a
    run sets (the item count comes from the data), checked here as ``train``'s are: ValueError naming the field for
    an unknown name or a wrong value. ``preset`` names the preset the settings started from (:func:`load_preset`;
    ``auto``: derived from the data; empty: the schema's defaults): a record, with no effect on training."""

    model: dict[str, Any] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    preset: str = ""

    def __post_init__(self) -> None:
        check_keys(self.model, ModelConfig, "model")
        _checked(ModelConfig, "model", {"n_items": 1, **self.model})  # the values' types, choices and ranges

    def model_config(self, n_items: int) -> ModelConfig:
        """The model for a catalogue of ``n_items``; refuses full-softmax training (``rec_loss = "ce"``) where one
        batch's [positions x items] logits would exceed ``MAX_CE_LOGITS``."""
        cfg = _checked(ModelConfig, "model", {"n_items": n_items, **self.model})
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
        return {"preset": self.preset, "model": dict(self.model), "train": dataclasses.asdict(self.train)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "ExperimentConfig":
        """The settings of :meth:`to_dict`'s form; ``preset`` may be missing (a config written before it was kept,
        or by hand). Raises ValueError naming an unknown or wrong setting or section (a misspelt ``"trian"`` was
        dropped, its settings with it), a section that is no mapping, or a preset name that is not text."""
        if not isinstance(raw, Mapping):
            raise ValueError(f"settings: an object with the sections {list(SETTINGS_FILE_KEYS)}, not {raw!r:.80}")
        if unknown := sorted(set(raw) - set(SETTINGS_FILE_KEYS)):
            raise ValueError(f"unknown section(s) {unknown} of the settings; known: {list(SETTINGS_FILE_KEYS)}")
        for section in ("train", "model"):
            if not isinstance(raw.get(section, {}), Mapping):
                raise ValueError(f"{section}: a mapping of settings, not {raw[section]!r:.80}")
        train = dict(raw.get("train", {}))
        check_keys(train, TrainConfig, "train")
        model = dict(raw.get("model", {}))
        check_keys(model, ModelConfig, "model")
        preset = raw.get("preset", "")
        if not isinstance(preset, str):
            raise ValueError(f"preset: the name of the preset the settings started from, not {preset!r}")
        problems = _problems(ModelConfig, "model", {"n_items": 1, **model}) + _problems(TrainConfig, "train", train)
        if problems:  # both sections' at once
            raise ValueError("invalid setting(s): " + "; ".join(problems))
        return cls(model=model, train=TrainConfig(**train), preset=preset)


def check_keys(values: dict[str, Any], kind: type, section: str) -> None:
    """Raise ValueError naming the keys of ``values`` that are no field of the dataclass ``kind``, with the known
    ones and the one each may mean (``section`` names where they were given)."""
    known = sorted(f.name for f in dataclasses.fields(kind))
    if unknown := sorted(set(values) - set(known)):
        raise ValueError(f"unknown {section} setting(s) {unknown}{did_you_mean(unknown, known)}; known: {known}")


# the names users type for schema fields with longer names (the command line's flags, the pipeline's run config)
SHORT_NAMES = {"n_layers": "layers", "n_heads": "heads", "n_intents": "intents", "n_negatives": "negatives"}
_FROM_THE_DATA = ("n_items", "vocab_size")  # ModelConfig fields no run sets


class SettingField(NamedTuple):
    """A setting a run may override: its section (``model`` or ``train``), its name in the schema, the name users
    type, its type, its default (the paper's) and its description."""

    section: str
    name: str
    option: str
    annotation: Any
    default: Any
    description: str


def settings_fields() -> list[SettingField]:
    """Every field of :class:`ModelConfig` (but n_items and vocab_size, which come from the data) and
    :class:`TrainConfig`, in schema order."""
    out = []
    for section, kind in (("model", ModelConfig), ("train", TrainConfig)):
        for name, info in kind.__pydantic_fields__.items():
            if name not in _FROM_THE_DATA:
                out.append(SettingField(section, name, SHORT_NAMES.get(name, name), info.annotation, info.default,
                                        info.description or ""))
    return out


def overrides(values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model, train) settings from ``values`` keyed by the names users type (:func:`settings_fields`); a value
    that is None or absent is not given."""
    model: dict[str, Any] = {}
    train: dict[str, Any] = {}
    for setting in settings_fields():
        if values.get(setting.option) is not None:
            (model if setting.section == "model" else train)[setting.name] = values[setting.option]
    return model, train


def _checked(kind: type, section: str, values: dict[str, Any]) -> Any:
    """``kind(**values)``; raises ValueError naming each wrong value (:func:`_problems`)."""
    if problems := _problems(kind, section, values):
        raise ValueError("invalid setting(s): " + "; ".join(problems))
    return kind(**values)


def _problems(kind: type, section: str, values: dict[str, Any]) -> list[str]:
    """What is wrong with ``kind(**values)``, one entry per wrong value (:func:`_problem`); empty if nothing."""
    try:
        kind(**values)
    except ValidationError as err:
        return [_problem(section, e) for e in err.errors()]
    return []


def _problem(section: str, error: dict[str, Any]) -> str:
    """``section.field: what is wrong (given value)``; a check across fields (``__post_init__``) names no field."""
    if not error["loc"]:
        return f"{section}: {error['msg'].removeprefix('Value error, ')}"
    name = str(error["loc"][0])
    typed = f" ({SHORT_NAMES[name]})" if name in SHORT_NAMES else ""  # the name users type
    return f"{section}.{name}{typed}: {error['msg']} (given {error['input']!r})"


def preset_names() -> list[str]:
    return sorted(_presets())


def load_preset(name: str) -> ExperimentConfig:
    """The named preset of ``presets.toml`` (e.g. ``beauty``: the paper's Beauty settings)."""
    presets = _presets()
    if name not in presets:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(presets)}")
    return ExperimentConfig.from_dict({**presets[name], "preset": name})


def merge_overrides(cfg: ExperimentConfig, model: dict[str, Any], train: dict[str, Any]) -> ExperimentConfig:
    """A copy of ``cfg`` with the given (non-None) settings replaced."""
    raw = cfg.to_dict()
    raw["model"].update({k: v for k, v in model.items() if v is not None})
    raw["train"].update({k: v for k, v in train.items() if v is not None})
    return ExperimentConfig.from_dict(raw)


def _presets() -> dict[str, dict[str, Any]]:
    text = resources.files("elcrec_core.config").joinpath("presets.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)
