"""The ``auto`` preset: settings derived from the data's size and history lengths (elcrec_core.train.auto_preset),
on hand-made data shapes, and the pipeline's default run trained with them."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from assets.ingestion import raw_interactions
from assets.sequences import interaction_sequences
from assets.training import elcrec_model
from elcrec_core.config.settings import load_preset, merge_overrides
from elcrec_core.data.sequences import Sequences, read_sequence_parquet
from elcrec_core.train.auto_preset import AUTO, DerivedSettings, auto_experiment, derive_settings, preset_experiment
from elcrec_pipeline.resources import ComputeDevice, SourceFile, Storage


def shaped(lengths: list[int] | np.ndarray, n_items: int, seed: int = 0) -> Sequences:
    """Users with the given history lengths over items 1..n_items (uniform at random)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    items = np.random.default_rng(seed).integers(1, n_items + 1, int(offsets[-1]))
    return Sequences(np.arange(len(lengths)), items, offsets, n_items)


def test_short_histories_of_a_small_data_set() -> None:
    """1000 users of 6 items: a window of 10, one sample per user, the batch halved to 64 for 16 steps an
    epoch, 8 intents, full softmax, the minimum of 200 steps over 13 epochs, patience a quarter of them."""
    settings = derive_settings(shaped([6] * 1000, n_items=50))
    assert settings == DerivedSettings(
        max_len=10, train_windows="last", batch_size=64, rec_loss="ce", n_negatives=128, n_intents=8, max_steps=200,
        epochs=13, patience=4, users=1000, items=50, interactions=6000, length_percentile=6, samples=1000,
        steps_per_epoch=16)


def test_no_more_intents_than_users_with_a_training_sample() -> None:
    """7 users of 12 items: sqrt(7) / 4 gives the minimum of 8 intents, more than k-means can place on 7
    sequences (it refused); the power of two at or below 7 is 4. Users too short to train on do not count, and a
    given n_intents is kept."""
    assert derive_settings(shaped([12] * 7, n_items=30)).n_intents == 4
    assert derive_settings(shaped([12] * 5 + [3] * 400, n_items=30)).n_intents == 4
    assert derive_settings(shaped([12] * 9, n_items=30)).n_intents == 8
    assert derive_settings(shaped([12] * 7, n_items=30), {"n_intents": 16}).n_intents == 16


def test_long_histories_train_on_every_window() -> None:
    """Histories of 203 items: the window stops at the paper's 50 and every earlier window is a sample
    (200 training inputs: 4 windows a user)."""
    settings = derive_settings(shaped([203] * 100 + [20] * 5, n_items=300))
    assert (settings.length_percentile, settings.max_len, settings.train_windows) == (203, 50, "all")
    assert settings.samples == 100 * 4 + 5
    assert (settings.batch_size, settings.steps_per_epoch) == (64, 7)  # 405 samples: 7 steps even at 64
    assert (settings.max_steps, settings.epochs, settings.patience) == (200, 29, 8)


def test_the_window_is_the_95th_percentile_rounded_up_to_tens() -> None:
    lengths = [12] * 96 + [200] * 4  # the 95th percentile is 12: the long tail does not widen the window
    settings = derive_settings(shaped(lengths * 10, n_items=40))
    assert (settings.length_percentile, settings.max_len, settings.train_windows) == (12, 20, "last")


def test_full_softmax_wherever_the_sasrec_ablation_gets_it() -> None:
    """256 x 10 x 400,000 logits a batch (1.02G) are within the bound of 2^30 (1.07G) that the
    model (and so the SASRec challenger) accepts full softmax under: ELCRec trains with it too (under the old bound of
    2^27 it got sampled softmax, which at 2M events of a shop log left it far below the ablation). Past the bound,
    where neither may use it: sampled softmax, with 2048 negatives a batch."""
    settings = derive_settings(shaped([5] * 5000, n_items=400_000))
    assert (settings.batch_size, settings.max_len, settings.rec_loss) == (256, 10, "ce")
    assert (settings.n_intents, settings.steps_per_epoch, settings.max_steps, settings.epochs) == (16, 20, 200, 10)
    exp = auto_experiment(shaped([5] * 5000, n_items=400_000), {}, {})
    assert exp.model_config(400_000).max_len == 10  # accepted: batch x max_len x items is within MAX_CE_LOGITS
    assert "n_negatives" not in settings.describe()  # unused by full softmax
    sampled = derive_settings(shaped([5] * 5000, n_items=420_000))  # 1.08G logits
    assert (sampled.rec_loss, sampled.n_negatives) == ("sampled_softmax", 2048)  # not the reference's 128
    assert "rec_loss sampled_softmax, n_negatives 2048, max_steps 200" in sampled.describe()
    exp = auto_experiment(shaped([5] * 5000, n_items=420_000), {}, {})
    assert (exp.train.rec_loss, exp.train.n_negatives) == ("sampled_softmax", 2048)
    assert derive_settings(shaped([5] * 5000, n_items=420_000), {"n_negatives": 256}).n_negatives == 256


def test_large_data_gets_ten_epochs_of_steps_up_to_the_cap() -> None:
    mid = derive_settings(shaped([8] * 40_000, n_items=500))
    assert (mid.steps_per_epoch, mid.max_steps, mid.epochs, mid.patience, mid.n_intents) == (157, 1570, 10, 3, 64)
    large = derive_settings(shaped([5] * 1_000_000, n_items=500))
    assert (large.steps_per_epoch, large.max_steps, large.epochs, large.n_intents) == (3907, 20_000, 6, 256)


def test_given_settings_are_kept_and_the_later_rules_use_them() -> None:
    seqs = shaped([30] * 2000, n_items=100)
    assert derive_settings(seqs).max_len == 30
    settings = derive_settings(seqs, {"max_len": 20, "batch_size": 100, "epochs": None})
    assert (settings.max_len, settings.batch_size) == (20, 100)
    assert settings.train_windows == "all"  # histories of 30 are longer than the given window
    assert settings.samples == 2000 * 2  # 27 training inputs: 2 windows of 20
    assert (settings.steps_per_epoch, settings.max_steps, settings.epochs) == (40, 400, 10)
    no_limit = derive_settings(seqs, {"max_steps": 0})
    assert (no_limit.max_steps, no_limit.epochs) == (0, 10)
    asked = derive_settings(seqs, {"epochs": 100})  # the epochs asked for bound training, not 10 epochs of steps
    assert (asked.max_steps, asked.epochs, asked.patience) == (20_000, 100, 25)  # 4,000 steps: the cap is far
    both = derive_settings(seqs, {"epochs": 100, "max_steps": 120})
    assert (both.max_steps, both.epochs) == (120, 100)


def test_data_without_a_training_sample_is_refused() -> None:
    with pytest.raises(ValueError, match="none of the 3 users has the 4 items"):
        derive_settings(shaped([3, 2, 3], n_items=5))


def test_auto_is_general_with_the_derived_settings_and_the_explicit_ones_over_both() -> None:
    seqs = shaped([6] * 1000, n_items=50)
    lines: list[str] = []
    exp = auto_experiment(seqs, {"hidden": 32, "n_intents": None}, {"lr": 0.001, "patience": None}, log=lines.append)
    derived = derive_settings(seqs)
    expected = merge_overrides(load_preset("general"), {**derived.model(), "hidden": 32},
                               {**derived.train(), "lr": 0.001})
    assert exp.to_dict() == {**expected.to_dict(), "preset": "auto"}  # the record names auto, not general
    assert lines == [f"preset auto: {derived.describe()}"] and "max_steps 200" in lines[0]
    assert ", n_intents 8," in lines[0]
    # the SASRec ablation has no intent losses: its line names no intents (it named the candidate's)
    auto_experiment(seqs, {}, {"cf_weight": 0.0, "intent_cf_weight": 0.0, "trade_off": 0.0}, log=lines.append)
    assert "n_intents" not in lines[1] and lines[1] == f"preset auto: {derived.describe(intents=False)}"


@pytest.mark.parametrize(("model", "train", "named"), [
    ({}, {"batch_size": 0}, "train.batch_size: Input should be greater than or equal to 1 (given 0)"),
    ({"max_len": 0}, {}, "model.max_len: Input should be greater than or equal to 1 (given 0)"),
    ({}, {"max_steps": -1}, "invalid setting(s): train.max_steps: Input should be greater than or equal to 0 (given "
                            "-1)"),  # alone: it named the epochs it derived from it, 0, too
])
def test_auto_refuses_a_wrong_explicit_setting_naming_it_before_deriving(model: dict, train: dict, named: str) -> None:
    """The library's auto preset derived its settings from the values given before checking them: batch_size 0
    raised ZeroDivisionError, max_len 0 a RuntimeError from torch (helper-177); the command line and the pipeline
    checked them first."""
    with pytest.raises(ValueError) as info:
        preset_experiment(AUTO, shaped([6] * 300, n_items=50), model, train)
    assert str(info.value).endswith(named)


def test_auto_reads_the_explicit_settings_as_the_schema_does() -> None:
    """Epochs "3" (text, as from a form) raised TypeError in the rules; they are 3, as under the other presets."""
    seqs = shaped([6] * 300, n_items=50)
    exp = preset_experiment(AUTO, seqs, {"max_len": "20"}, {"epochs": "3"})
    assert (exp.model["max_len"], exp.train.epochs) == (20, 3)
    assert exp.to_dict() == preset_experiment(AUTO, seqs, {"max_len": 20}, {"epochs": 3}).to_dict()
    # the settings of the data are kept as given: vocab_size 0 (n_items + 1) was read as 2 and refused (helper-181)
    assert preset_experiment(AUTO, seqs, {"vocab_size": 0}, {}).model_config(50).vocab_size == 51


def test_the_paper_presets_stay_the_papers() -> None:
    seqs = shaped([6] * 1000, n_items=50)
    for name in ("beauty", "sports", "toys", "yelp"):
        assert preset_experiment(name, seqs, {}, {}).to_dict() == load_preset(name).to_dict()
    with pytest.raises(ValueError, match="give the sequences"):
        preset_experiment(AUTO, None, {}, {})


def test_the_pipeline_trains_with_the_derived_settings_by_default(tmp_path: Path) -> None:
    """No preset in the run config: the run's config.json holds what derive_settings gives for the day's
    sequences, with the settings given (2 epochs, to be quick) over it."""
    config = {"ops": {"raw_interactions": {"config": {"synthetic_users": 300, "synthetic_items": 60,
                                                      "synthetic_intents": 4}},
                      "elcrec_model": {"config": {"hidden": 16, "epochs": 2}}}}
    resources = {"storage": Storage(data_dir=str(tmp_path)), "source_file": SourceFile(),
                 "device": ComputeDevice(device="cpu", threads=1)}
    result = dg.materialize([raw_interactions, interaction_sequences, elcrec_model], partition_key="2026-01-26",
                            run_config=config, resources=resources)
    assert result.success
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey("elcrec_model")]
    metadata = {k: v.value for k, v in event.materialization.metadata.items()}
    seqs, _ = read_sequence_parquet(tmp_path / "sequences/2026-01-26/sequences.parquet")
    derived = derive_settings(seqs, {"epochs": 2})
    assert derived.max_steps == 20_000 and derived.patience == 3  # 2 epochs bound it; a quarter of 2 epochs < 3
    saved = json.loads((Path(metadata["model_dir"]) / "config.json").read_text())
    assert {k: saved["model"][k] for k in ("max_len", "n_intents")} == derived.model()
    assert {k: saved["train"][k] for k in derived.train()} == derived.train()
    assert (saved["model"]["hidden"], saved["train"]["lr"]) == (16, 0.005)  # the explicit one; general's lr
    assert derived.rec_loss == "ce" and saved["train"]["n_negatives"] == 128  # in config.json, unused by ce
    shown = metadata["settings"]  # every setting the run used, sampled softmax's n_negatives with that loss alone
    assert metadata["preset"] == AUTO and {k: shown[k] for k in derived.model()} == derived.model()
    assert {k: shown[k] for k in derived.train() if k != "n_negatives"} == {
        k: v for k, v in derived.train().items() if k != "n_negatives"} and "n_negatives" not in shown
    assert (shown["hidden"], shown["lr"], shown["betas"]) == (16, 0.005, [0.9, 0.999])  # given; general's
    assert saved["preset"] == AUTO and (saved["data"]["users"], saved["data"]["items"]) == (len(seqs), seqs.n_items)
    assert metadata["epochs_run"] == 2 and metadata["steps"] == 2 * derived.steps_per_epoch


def test_elcrec_train_preset_auto_derives_from_the_file(tmp_path: Path, capsys) -> None:
    from elcrec_core.cli.main import main
    from elcrec_core.train.checkpoint import BEST, load_checkpoint

    lengths = [6] * 300 + [40] * 20  # the 95th percentile is 40: a window of 40, the longer tail cut
    seqs = shaped(lengths, n_items=30, seed=2)
    data = tmp_path / "seqs.txt"
    data.write_text("".join(f"{u + 1} {' '.join(map(str, seqs.sequence(u)))}\n" for u in range(len(seqs))))
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--preset", "auto", "--epochs", "1", "--hidden", "8",
                 "--out", str(out)]) == 0
    derived = derive_settings(seqs, {"epochs": 1})
    assert derived.model() == {"max_len": 40, "n_intents": 8}
    config = load_checkpoint(out / BEST)["config"]
    assert {k: config["model"][k] for k in derived.model()} == derived.model()
    assert {k: config["train"][k] for k in derived.train()} == derived.train()
    assert config["model"]["hidden"] == 8 and config["train"]["cl_similarity"] == "cosine"  # given; general's
    assert f"preset auto: {derived.describe()}" in capsys.readouterr().err


def test_elcrec_baselines_preset_auto_trains_sasrec_with_the_derived_settings(tmp_path: Path, capsys) -> None:
    from elcrec_core.cli.main import main
    from elcrec_core.train.checkpoint import BEST, load_checkpoint

    seqs = shaped([7] * 200, n_items=25, seed=4)
    data = tmp_path / "seqs.txt"
    data.write_text("".join(f"{u + 1} {' '.join(map(str, seqs.sequence(u)))}\n" for u in range(len(seqs))))
    assert main(["baselines", "--data", str(data), "--preset", "auto", "--epochs", "1", "--lambdas", "10",
                 "--out", str(tmp_path / "sasrec"), "--json"]) == 0
    out, err = capsys.readouterr()
    assert list(json.loads(out)) == ["most_popular", "transition", "ease", "sasrec"]
    derived = derive_settings(seqs, {"epochs": 1})
    assert f"preset auto: {derived.describe()}" in err
    config = load_checkpoint(tmp_path / "sasrec" / BEST)["config"]
    assert config["model"]["max_len"] == derived.max_len == 10
    assert (config["train"]["max_steps"], config["train"]["batch_size"]) == (derived.max_steps, derived.batch_size)
    assert config["train"]["cf_weight"] == 0.0  # SASRec: the intent parts off
