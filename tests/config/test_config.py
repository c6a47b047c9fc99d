"""Presets: the paper's stay exactly the paper's; ours use the options beyond the paper."""

from __future__ import annotations

import dataclasses

import pytest

from elcrec_core.config.settings import ExperimentConfig, TrainConfig, load_preset, preset_names

PAPER = {  # ELCRec (NeurIPS 2024) and the authors' run scripts
    "beauty": ({"n_layers": 1, "n_intents": 256}, {"trade_off": 10.0, "prototype": "shift"}),
    "sports": ({"n_layers": 2, "n_intents": 512}, {"trade_off": 1.0, "prototype": "concat"}),
    "toys": ({"n_layers": 3, "n_intents": 512}, {"trade_off": 1.0, "prototype": "concat"}),
    "yelp": ({"n_layers": 2, "n_intents": 256}, {"trade_off": 0.1, "prototype": "concat"}),
}


@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_presets_are_exactly_the_paper(name: str) -> None:
    model, train = PAPER[name]
    exp = load_preset(name)
    assert exp.model == model
    assert exp.train == TrainConfig(**train)


def test_the_new_options_default_to_the_reference() -> None:
    cfg = TrainConfig()
    assert (cfg.cl_similarity, cfg.seq_cl_view, cfg.aux_scale, cfg.aux_warmup_steps, cfg.centre_lr,
            cfg.train_windows, cfg.max_steps, cfg.temperature) == ("dot", "flatten", "fixed", 0, 0.0, "last", 0, 1.0)


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_round_trips(name: str) -> None:
    exp = load_preset(name)
    again = ExperimentConfig.from_dict(exp.to_dict())
    assert again.model == exp.model and dataclasses.asdict(again.train) == dataclasses.asdict(exp.train)


def test_an_unknown_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown train setting"):
        ExperimentConfig.from_dict({"train": {"cl_similarity_typo": "cosine"}})


def test_the_general_preset_is_the_synthetic_one_with_cosine_pooled_contrast() -> None:
    general, synthetic = load_preset("general"), load_preset("synthetic")
    assert general.model == synthetic.model
    changed = {k: v for k, v in dataclasses.asdict(general.train).items() if dataclasses.asdict(synthetic.train)[k] != v}
    assert changed == {"cl_similarity": "cosine", "temperature": 0.2, "seq_cl_view": "pooled"}
