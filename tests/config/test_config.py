"""Presets: the paper's stay exactly the paper's; ours use the options beyond the paper. The schema refuses a wrong
value naming the field, and lists every setting a run may override."""

from __future__ import annotations

import dataclasses

import pytest

from elcrec_core.config.settings import (
    ExperimentConfig,
    ModelConfig,
    TrainConfig,
    load_preset,
    merge_overrides,
    overrides,
    preset_names,
    settings_fields,
)

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
    assert again.preset == exp.preset == name


def test_the_preset_name_is_kept_through_overrides_and_is_optional_text() -> None:
    assert merge_overrides(load_preset("beauty"), {"hidden": 32}, {"lr": 0.01}).preset == "beauty"
    assert ExperimentConfig.from_dict({"model": {}, "train": {}}).preset == ""  # a config.json from before
    with pytest.raises(ValueError, match="preset: the name of the preset"):
        ExperimentConfig.from_dict({"preset": 3, "train": {}})


def test_an_unknown_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown train setting"):
        ExperimentConfig.from_dict({"train": {"cl_similarity_typo": "cosine"}})
    # a misspelt one: the setting it may mean (as the pipeline's source settings and run config say)
    with pytest.raises(ValueError, match=r"^unknown train setting\(s\) \['epoch'\] \(did you mean 'epochs'\?\); "
                                         r"known: "):
        ExperimentConfig.from_dict({"train": {"epoch": 3}})


def test_the_general_preset_is_the_synthetic_one_with_cosine_pooled_contrast() -> None:
    general, synthetic = load_preset("general"), load_preset("synthetic")
    assert general.model == synthetic.model
    reference = dataclasses.asdict(synthetic.train)
    changed = {k: v for k, v in dataclasses.asdict(general.train).items() if reference[k] != v}
    assert changed == {"cl_similarity": "cosine", "temperature": 0.2, "seq_cl_view": "pooled"}


@pytest.mark.parametrize(("build", "field"), [
    (lambda: TrainConfig(rec_loss="softmax"), "rec_loss"),  # not one of the choices
    (lambda: TrainConfig(lr=0.0), "lr"),  # out of range
    (lambda: TrainConfig(lr=float("nan")), "lr"),
    (lambda: TrainConfig(batch_size="many"), "batch_size"),  # not a number
    (lambda: TrainConfig(epochs=2.5), "epochs"),
    (lambda: TrainConfig(mask_gamma=1.5), "mask_gamma"),
    (lambda: ExperimentConfig(model={"pooling": "mean"}), "pooling"),  # once any value but "all" meant "items"
    (lambda: ExperimentConfig(model={"dropout": 1.0}), "dropout"),
    (lambda: ExperimentConfig.from_dict({"model": {"n_intents": 0}}), "n_intents"),
    (lambda: ExperimentConfig.from_dict({"train": {"precision": "fp16"}}), "precision"),
    (lambda: ModelConfig(n_items=10, hidden=64, n_heads=3), "n_heads"),
    # these passed the schema and failed later without the setting's name (torch: "Invalid beta parameter at index
    # 0", scikit-learn: "random_state ... must be an int in the range [0, 4294967295]"), or trained with it infinite
    (lambda: TrainConfig(betas=(1.5, 0.9)), "betas"),
    (lambda: TrainConfig(betas=(0.9, 1.0)), "betas"),
    (lambda: TrainConfig(seed=-5), "seed"),
    (lambda: TrainConfig(seed=2**32), "seed"),
    (lambda: TrainConfig(lr=float("inf")), "lr"),
    (lambda: TrainConfig(temperature=float("inf")), "temperature"),
    (lambda: ExperimentConfig(model={"dropout": float("nan")}), "dropout"),
])
def test_a_wrong_value_is_refused_naming_its_field(build, field: str) -> None:
    with pytest.raises(ValueError, match=rf"\b{field}\b"):
        build()


def test_true_or_false_is_no_number_nor_choice() -> None:
    """pydantic's lax mode read true as 1 (epochs: yes trained one epoch, a YAML n_intents: true one intent:
    helper-188); a bool is refused naming the field, where the field takes no bool; a bool field keeps it."""
    for build, field in ((lambda: TrainConfig(epochs=True), "epochs"), (lambda: TrainConfig(lr=False), "lr"),
                         (lambda: ExperimentConfig.from_dict({"model": {"n_intents": True}}), "n_intents"),
                         (lambda: TrainConfig(train_windows=True), "train_windows")):
        with pytest.raises(ValueError, match=rf"\b{field}\b[\s\S]*true or false is no value of this field, a "
                                             rf"number or a choice"):
            build()
    assert TrainConfig(epochs=3).epochs == 3 and TrainConfig(epochs="3").epochs == 3  # as before
    with pytest.raises(ValueError, match=r"betas[\s\S]*true or false is no value"):  # inside a pair too
        TrainConfig(betas=(False, 0.9))
    bools = [name for name, info in TrainConfig.__pydantic_fields__.items() if info.annotation in (bool, "bool")]
    assert bools and all(getattr(TrainConfig(**{name: True}), name) is True for name in bools)


def test_an_unknown_setting_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown train setting\(s\) \['learning_rate'\]; known: .*'lr'"):
        ExperimentConfig.from_dict({"train": {"learning_rate": 0.1}})
    with pytest.raises(ValueError, match=r"unknown model setting\(s\) \['layers'\]"):
        ExperimentConfig(model={"layers": 2})


@pytest.mark.parametrize(("raw", "message"), [
    # dropped, its settings with it: 41 epochs of the defaults
    ({"trian": {"epochs": 1}}, r"unknown section\(s\) \['trian'\] of the settings; known: \['preset', 'model', "
                               r"'train', 'data', 'run'\]"),
    ([1, 2], r"settings: an object with the sections"),  # AttributeError: 'list' object has no attribute 'get'
    ({"train": "fast"}, r"^train: a mapping of settings, not 'fast'$"),  # "dictionary update sequence element #0"
    ({"model": None}, r"^model: a mapping of settings, not None$"),  # TypeError
])
def test_a_settings_file_of_another_shape_is_refused_naming_the_section(raw, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ExperimentConfig.from_dict(raw)


def test_a_model_folders_config_json_is_a_settings_file() -> None:
    """The sections training writes (its data section is a record) read back as the same settings."""
    exp = load_preset("beauty")
    assert ExperimentConfig.from_dict({**exp.to_dict(), "data": {"users": 3}}) == exp


def test_every_wrong_value_of_a_config_is_named_with_its_section() -> None:
    expected = (r"^invalid setting\(s\): train\.lr: Input should be greater than 0 \(given -1\); "
                r"train\.precision: Input should be 'auto', 'fp32' or 'bf16' \(given 'fp16'\)$")
    with pytest.raises(ValueError, match=expected):
        ExperimentConfig.from_dict({"train": {"precision": "fp16", "lr": -1}})
    # both sections' at once: the model's were named only once the train section's were right
    with pytest.raises(ValueError, match=r"^invalid setting\(s\): model\.dropout: Input should be less than 1 \(given "
                                         r"1\.5\); train\.lr: Input should be greater than 0 \(given -1\)$"):
        ExperimentConfig.from_dict({"model": {"dropout": 1.5}, "train": {"lr": -1}})
    with pytest.raises(ValueError, match=r"^invalid setting\(s\): model\.n_layers \(layers\): Input should be greater "
                                         r"than or equal to 1 \(given 0\)$"):  # also the name users type
        ExperimentConfig(model={"n_layers": 0})
    with pytest.raises(ValueError, match=r"^invalid setting\(s\): model: hidden 64 is not divisible by n_heads 3$"):
        ExperimentConfig(model={"n_heads": 3})


def test_values_are_read_as_their_fields_type() -> None:
    cfg = ExperimentConfig.from_dict({"train": {"betas": [0.8, 0.9], "lr": 1, "compile": "true"}}).train
    assert (cfg.betas, cfg.lr, cfg.compile) == ((0.8, 0.9), 1.0, True)
    assert isinstance(cfg.lr, float)


def test_every_setting_but_the_item_count_is_overridable_under_one_name() -> None:
    fields = settings_fields()
    model_names = {f.name for f in dataclasses.fields(ModelConfig)} - {"n_items", "vocab_size"}
    assert [f.name for f in fields] == [*[f.name for f in dataclasses.fields(ModelConfig) if f.name in model_names],
                                        *[f.name for f in dataclasses.fields(TrainConfig)]]
    assert len({f.option for f in fields}) == len(fields)
    assert {f.name: f.option for f in fields if f.option != f.name} == {
        "n_layers": "layers", "n_heads": "heads", "n_intents": "intents", "n_negatives": "negatives"}
    assert all(f.description for f in fields)
    assert overrides({"layers": 2, "lr": 0.01, "epochs": None, "unrelated": 1}) == ({"n_layers": 2}, {"lr": 0.01})
