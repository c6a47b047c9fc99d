"""benchmarks/valid_sweep.py: its variants' settings, one run's record (valid split only) and the paired summary."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

from elcrec_core.data.sequences import sequences_from_events
from elcrec_core.data.synthetic import SyntheticConfig, generate
from elcrec_core.train.auto_preset import auto_experiment

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def vs():
    sys.path.insert(0, str(BENCHMARKS))  # the script imports quality_matrix beside it
    try:
        yield importlib.import_module("valid_sweep")
    finally:
        sys.path.remove(str(BENCHMARKS))
        sys.modules.pop("valid_sweep", None)
        sys.modules.pop("quality_matrix", None)


@pytest.fixture(scope="module")
def seqs():
    return sequences_from_events(generate(SyntheticConfig(n_users=300, n_items=60, n_intents=4, seed=5)).events)[0]


def test_a_variant_is_a_name_and_settings_read_as_json(vs):
    assert vs.parse_variant("control") == ("control", {})
    assert vs.parse_variant("intents256:model.n_intents=256") == ("intents256", {"model.n_intents": 256})
    assert vs.parse_variant("s:ablation,train.lr=0.002,model.pooling=last") == (
        "s", {"ablation": True, "train.lr": 0.002, "model.pooling": "last"})
    for bad in ("control:model.hidden=32", "x:hidden=32", "x:model.hidden", "x:model.a.b=1", ":model.hidden=32"):
        with pytest.raises(ValueError, match="variant"):
            vs.parse_variant(bad)
    with pytest.raises(ValueError, match="control is built in and takes no settings; give the variant another name"):
        vs.parse_variant("control:model.hidden=32")
    # unknown settings and refused values before any data is read
    with pytest.raises(ValueError, match=r"'x:model.hidden_size=3': unknown model setting\(s\) \['hidden_size'\]"):
        vs.check_variant("x:model.hidden_size=3", "fp32")
    with pytest.raises(ValueError, match="variant 'x:model.hidden=3': invalid setting.*not divisible by n_heads 2"):
        vs.check_variant("x:model.hidden=3", "fp32")
    vs.check_variant("intents256:model.n_intents=256", "fp32")


def test_variant_settings_start_from_ours_or_its_ablation(vs, seqs):
    base = auto_experiment(seqs, {}, {})
    control = vs.variant_config(base, "control", {}, 3, "fp32")
    assert control.model == base.model and control.train.seed == 3 and control.train.precision == "fp32"
    assert control.train.cf_weight == base.train.cf_weight > 0
    ablation = vs.variant_config(base, "sasrec_ce", {}, 3, "fp32")
    assert (ablation.train.rec_loss, ablation.train.cf_weight, ablation.train.intent_cf_weight,
            ablation.train.trade_off) == ("ce", 0, 0, 0)
    wider = vs.variant_config(base, "w", {"model.n_intents": 256, "train.lr": 0.002}, 3, "fp32")
    assert (wider.model["n_intents"], wider.train.lr, wider.train.cf_weight) == (256, 0.002, base.train.cf_weight)
    tuned = vs.variant_config(base, "s", {"ablation": True, "train.lr": 0.002}, 3, "fp32")
    assert (tuned.train.cf_weight, tuned.train.lr) == (0, 0.002)


def test_a_run_records_its_valid_figures_once_and_is_read_back_after(vs, seqs, tmp_path, monkeypatch):
    monkeypatch.setattr(vs, "read_data", lambda name, shared: seqs)
    record = vs.run_one("synthetic", tmp_path, "one:train.epochs=1", 3, "fp32", tmp_path / "run", 1)
    assert record["variant"] == "one" and record["seed"] == 3 and record["epochs_run"] == 1
    assert 0 < record["valid_NDCG@20"] <= record["valid_HR@20"] <= 1
    assert not any("test" in key for key in record)  # a sweep never sees the test split
    assert json.loads((tmp_path / "run" / vs.VALID).read_text()) == record

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run is read, not trained again")

    monkeypatch.setattr("elcrec_core.train.loop.train", no_training)
    assert vs.run_one("synthetic", tmp_path, "one:train.epochs=1", 3, "fp32", tmp_path / "run", 1) == {
        **record, "read_back": True}
    # the same name with other settings: refused, not the stored figures
    for variant, precision in (("one:train.epochs=2", "fp32"), ("one:train.epochs=1", "bf16")):
        with pytest.raises(ValueError, match="holds a run with settings .*give the variant another name"):
            vs.run_one("synthetic", tmp_path, variant, 3, precision, tmp_path / "run", 1)


def test_the_summary_sets_each_variant_against_the_control_seed_by_seed(vs):
    records = [{"data": "d", "variant": v, "seed": s, "valid_NDCG@20": x}
               for v, s, x in [("control", 1, 0.10), ("control", 2, 0.12), ("v", 1, 0.11), ("v", 2, 0.15),
                               ("v", 3, 0.50)]]  # seed 3 has no control: not in the paired difference
    summary = vs.summarise(records)["d"]
    assert summary["control"]["mean"] == pytest.approx(0.11) and "vs_control" not in summary["control"]
    assert summary["v"]["mean"] == pytest.approx((0.11 + 0.15 + 0.50) / 3)
    assert summary["v"]["vs_control"] == pytest.approx(0.02)  # (0.01 + 0.03) / 2
    assert summary["v"]["vs_control_se"] == pytest.approx(0.01)  # sd of (0.01, 0.03) / sqrt(2)
    assert "| d | v | 1: 0.1100, 2: 0.1500, 3: 0.5000 | 0.2533 |" in vs.table(vs.summarise(records))


def test_two_variants_of_one_name_are_refused_before_any_run(vs, tmp_path):
    """One folder per name: two runs of it would write into each other, and the summary would keep one."""
    with pytest.raises(SystemExit, match=r"variant names repeat: \['a', 'a'\]; give each variant its own name"):
        vs.main(["--data", "synthetic", "--variant", "a:train.epochs=1", "--variant", "a:train.epochs=2",
                 "--out", str(tmp_path)])
    assert not any(tmp_path.iterdir())
