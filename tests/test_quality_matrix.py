"""benchmarks/quality_matrix.py on a tiny synthetic data set: the cells' figures, the table, skipping, resuming."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from elcrec_core.cli.arguments import build_config, data_options
from elcrec_core.cli.data_options import DataOptions
from elcrec_core.cli.main import parser
from elcrec_core.config.settings import merge_overrides
from elcrec_core.data.sequences import SequenceTensors
from elcrec_core.data.synthetic import SyntheticConfig, generate
from elcrec_core.evaluate.baselines import compare
from elcrec_core.evaluate.popularity import popularity_metrics
from elcrec_core.evaluate.score_text import difference_text
from elcrec_core.report.comparisons import paired_differences
from elcrec_core.train.auto_preset import auto_experiment
from elcrec_core.train.checkpoint import load_checkpoint, save_checkpoint

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "quality_matrix.py"
MODELS = ["elcrec_ours", "sasrec_ce", "transition", "ease", "most_popular"]


@pytest.fixture(scope="module")
def qm():
    spec = importlib.util.spec_from_file_location("quality_matrix", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


@pytest.fixture(scope="module")
def matrix(qm, tmp_path_factory):
    """One run of the matrix (1 epoch) on 300 synthetic users x 60 items standing in for ``synthetic``."""
    root = tmp_path_factory.mktemp("qm")
    generate(SyntheticConfig(n_users=300, n_items=60, n_intents=4, seed=3)).events.write_csv(root / "events.csv")
    qm.DATASETS["synthetic"] = qm.DataSpec("events.csv", DataOptions(format="csv"))
    argv = ["--data", "synthetic", "--models", *MODELS, "--max-epochs", "1", "--shared", str(root),
            "--out", str(root / "out")]
    assert qm.main(argv) == 0
    results = {m: json.loads((root / "out" / "synthetic" / m / "result.json").read_text()) for m in MODELS}
    data = SequenceTensors.from_sequences(qm.load_dataset("synthetic", root, 2024).sequences)
    return root, argv, results, data


def test_baseline_cells_equal_the_library(matrix):
    _, _, results, data = matrix
    library = compare(data)  # most_popular, transition, ease: fitted on items[:-2], lambda on valid, test split
    for model in ("most_popular", "transition", "ease"):
        assert results[model]["test"] == pytest.approx(library[model], abs=1e-12)
        assert results[model]["epochs"] is None
    assert results["most_popular"]["valid"] == pytest.approx(popularity_metrics(data, "valid"), abs=1e-12)
    assert results["most_popular"]["test_users"] == len(data)


def test_training_cells(matrix, qm):
    root, _, results, _ = matrix
    ours = results["elcrec_ours"]
    best = load_checkpoint(root / "out" / "synthetic" / "elcrec_ours" / "best.pt")
    assert ours["test"] == pytest.approx(best["test"], abs=1e-9)  # evaluate_recommender = training's evaluate
    assert ours["valid_NDCG@20"] == best["valid"]["NDCG@20"]
    assert ours["epochs"] == {"best": 0, "run": 1, "max": 1}
    seqs = qm.load_dataset("synthetic", root, 2024).sequences  # the pipeline's default: preset auto on this data
    auto = merge_overrides(auto_experiment(seqs, {}, {}), {}, {"seed": 2024, "precision": "fp32", "epochs": 1})
    assert ours["settings"] == json.loads(json.dumps(auto.to_dict()))
    sasrec = results["sasrec_ce"]["settings"]["train"]
    assert (sasrec["cf_weight"], sasrec["intent_cf_weight"], sasrec["trade_off"], sasrec["rec_loss"]) == (0, 0, 0, "ce")
    for result in results.values():
        for metric, (low, high) in result["test_95ci"].items():
            assert low <= result["test"][metric] <= high
        assert result["cpu"] and result["threads"] >= 1 and result["date"]


def test_table(matrix, qm):
    root, _, results, _ = matrix
    text = qm.table(root / "out")
    rows = {line.split(" | ")[1]: line for line in text.splitlines() if line.startswith("| synthetic")}
    assert list(rows) == MODELS
    ours = results["elcrec_ours"]["test"]["NDCG@20"]
    best = max((m for m in MODELS if m != "elcrec_ours"), key=lambda m: results[m]["valid_NDCG@20"])
    assert f"{ours / results[best]['test']['NDCG@20']:.2f}x {best}" in rows["elcrec_ours"]
    cells = root / "out" / "synthetic"
    ranks = {m: torch.from_numpy(np.load(cells / m / "ranks_test.npy")) for m in ("elcrec_ours", "sasrec_ce")}
    (versus,) = paired_differences(ranks, "elcrec_ours")
    gap, low, high = (difference_text(value, signed=True)  # signed differences as every report writes them
                      for value in (ours - results["sasrec_ce"]["test"]["NDCG@20"], versus.ndcg.low, versus.ndcg.high))
    assert f"paired ΔNDCG@20 vs sasrec_ce {gap} [{low}, {high}] ({versus.verdict})" in rows["elcrec_ours"]
    low, high = results["ease"]["test_95ci"]["HR@20"]
    assert f"{results['ease']['test']['HR@20']:.4f} [{low:.4f}, {high:.4f}]" in rows["ease"]



def test_the_best_other_model_is_chosen_on_valid(matrix, qm, tmp_path):
    """The comparator of elcrec_ours is the other model best on valid, not on test (never select on test)."""
    root, _, results, _ = matrix
    shutil.copytree(root / "out", tmp_path / "out")
    cells = tmp_path / "out" / "synthetic"
    others = [m for m in MODELS if m != "elcrec_ours"]
    on_test = max(others, key=lambda m: results[m]["test"]["NDCG@20"])
    on_valid = min(others, key=lambda m: results[m]["test"]["NDCG@20"])  # made the best on valid below
    cell = json.loads((cells / on_valid / "result.json").read_text())
    cell["valid_NDCG@20"] = 1.0
    (cells / on_valid / "result.json").write_text(json.dumps(cell))
    (row,) = [line for line in qm.table(tmp_path / "out").splitlines() if line.startswith("| synthetic | elcrec_ours")]
    ours = results["elcrec_ours"]["test"]["NDCG@20"]
    assert f"{ours / results[on_valid]['test']['NDCG@20']:.2f}x {on_valid}" in row and f"x {on_test}" not in row


def test_second_run_skips_finished_and_busy_cells(matrix, qm, capsys):
    root, argv, _, _ = matrix
    stamps = {m: (root / "out" / "synthetic" / m / "result.json").stat().st_mtime_ns for m in MODELS}
    busy = root / "out" / "synthetic" / "elcrec_paper"
    busy.mkdir()
    (busy / "pid").write_text(f"{os.getppid()}\n")  # a live process other than this one
    capsys.readouterr()
    assert qm.main([*argv, "--models", *MODELS, "elcrec_paper"]) == 0
    out = capsys.readouterr().out
    assert out.count("done already") == len(MODELS)
    assert f"skipped: process {os.getppid()} is working on" in out
    assert not (busy / "result.json").exists()
    assert stamps == {m: (root / "out" / "synthetic" / m / "result.json").stat().st_mtime_ns for m in MODELS}


def test_resume_refuses_other_settings(matrix, qm):
    root, _, _, _ = matrix
    folder = root / "out" / "synthetic" / "elcrec_ours"
    auto = qm.ours_config(qm.load_dataset("synthetic", root, 2024).sequences)[1]
    same = merge_overrides(auto, {}, {"seed": 2024, "precision": "fp32", "epochs": 30})
    assert qm.check_resumable(folder, same)  # a larger budget resumes
    with pytest.raises(ValueError, match=r"train\.seed: 2024 there, 7 here"):
        qm.check_resumable(folder, merge_overrides(same, {}, {"seed": 7}))
    older = load_checkpoint(folder / "last.pt")  # written before a setting existed: that setting is at its default
    del older["config"]["train"]["eval_batch_size"]
    save_checkpoint(root / "older" / "last.pt", older)
    assert qm.check_resumable(root / "older", same)
    with pytest.raises(ValueError, match="eval_batch_size"):
        qm.check_resumable(root / "older", merge_overrides(same, {}, {"eval_batch_size": 64}))


def test_paper_settings_on_sports_are_the_cli_runs(qm):
    args = parser().parse_args(["train", "--data", "Sports_and_Outdoors.txt", "--preset", "sports", "--precision",
                                "fp32", "--threads", "1", "--seed", "2024", "--out", "x"])
    label, exp = qm.training_config("elcrec_paper", "sports", None, 2024, "fp32", None)
    assert exp.to_dict() == build_config(args).to_dict()
    assert label == "preset sports (paper)"
    _, reference = qm.training_config("elcrec_paper", "ml-100k", None, 2024, "fp32", None)
    assert reference.model == {} and reference.train.epochs == 300  # no preset: the reference defaults


def test_ml_100k_is_read_as_the_cli_reads_it(qm):
    args = parser().parse_args(["train", "--data", "u.data", "--format", "tsv", "--no-header", "--names",
                                "user_id,item_id,rating,timestamp", "--out", "x"])
    assert qm.DATASETS["ml-100k"].options == data_options(args)
