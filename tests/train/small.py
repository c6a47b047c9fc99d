"""Small models and data for the training tests."""

from __future__ import annotations

from elcrec_core.config.settings import ExperimentConfig, TrainConfig

SMALL_MODEL = {"hidden": 32, "n_heads": 2, "n_layers": 1, "max_len": 20, "n_intents": 6}


def small_config(**train) -> ExperimentConfig:
    defaults = {"epochs": 3, "batch_size": 128, "patience": 50, "trade_off": 1.0, "eval_batch_size": 512, "seed": 7}
    return ExperimentConfig(model=dict(SMALL_MODEL), train=TrainConfig(**{**defaults, **train}))
