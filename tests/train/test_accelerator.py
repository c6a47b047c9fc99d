"""Training, evaluation and serving on an accelerator agree with the CPU: the code must work on CUDA, and CI has no GPU.

Without the device these tests skip. ``ELCREC_TEST_DEVICE`` names it (default ``cuda``; ``cpu`` runs the tests
themselves on any machine; ``mps``, a Mac's GPU). BENCHMARKS.md "GPU" records their run on a lent H200
(``benchmarks/gpu_check.sh``). A GPU draws other random numbers (dropout) and sums in another order than the CPU, so
a run there is compared with the CPU's by its quality, and the same model's scores to float tolerance.
"""

from __future__ import annotations

import math
import os

import pytest
import torch

from elcrec_core.data.sequences import SequenceTensors
from elcrec_core.evaluate.ranking import evaluate
from elcrec_core.evaluate.scoring import ELCRecRecommender, evaluate_recommender
from elcrec_core.intents.profiles import assign_user_intents
from elcrec_core.serve.recommend import recommend
from elcrec_core.serve.recommenders import BASELINES
from elcrec_core.train.checkpoint import load_checkpoint, load_model
from elcrec_core.train.device import select_device, uses_bf16
from elcrec_core.train.loop import train
from tests.train.small import small_config

DEVICE = os.environ.get("ELCREC_TEST_DEVICE", "cuda")
# a run on the device is like another seed: on this data (600 users, 120 items) the CPU's seeds 7-11 reach valid
# NDCG@20 0.125-0.153 and test 0.119-0.148 (measured); a broken device run is far below
QUALITY_TOLERANCE = 0.05


@pytest.fixture(scope="module")
def device() -> torch.device:
    try:
        return select_device(DEVICE)
    except ValueError as exc:
        pytest.skip(f"no {DEVICE} here ({exc}); ELCREC_TEST_DEVICE=cpu runs these tests on the CPU")


def _config(device: str, **train):
    return small_config(**{"epochs": 6, "lr": 3e-3, "rec_loss": "ce", "precision": "fp32", "device": device, **train})


@pytest.fixture(scope="module")
def cpu_run(seqs, tmp_path_factory, device):
    out = tmp_path_factory.mktemp("cpu")
    return train(seqs, _config("cpu"), out, log=lambda _: None), out


def test_training_on_the_device_learns_as_on_the_cpu_and_saves_a_checkpoint_any_machine_loads(
        seqs, cpu_run, device, tmp_path):
    logs: list[str] = []
    run = train(seqs, _config(DEVICE), tmp_path, log=logs.append)
    cpu, _ = cpu_run
    assert any(line.startswith(f"device {device}") for line in logs), logs
    assert all(math.isfinite(row["loss"]) for row in run.history)
    # the first epoch's next-item loss starts from ln(120 items) on both
    assert run.history[0]["rec"] == pytest.approx(cpu.history[0]["rec"], rel=0.02)
    assert abs(run.valid["NDCG@20"] - cpu.valid["NDCG@20"]) < QUALITY_TOLERANCE, (run.valid, cpu.valid)
    assert abs(run.test["NDCG@20"] - cpu.test["NDCG@20"]) < QUALITY_TOLERANCE, (run.test, cpu.test)
    for name, tensor in load_checkpoint(tmp_path / "best.pt")["model"].items():
        assert tensor.device.type == "cpu", name


def test_a_run_begun_on_the_device_resumes_on_the_cpu(seqs, device, tmp_path):
    train(seqs, _config(DEVICE, epochs=2), tmp_path, log=lambda _: None)
    logs: list[str] = []
    resumed = train(seqs, _config("cpu", epochs=4), tmp_path, log=logs.append)
    assert any("resumed" in line and "after epoch 1" in line for line in logs), logs
    assert len(resumed.history) == 4 and all(math.isfinite(row["loss"]) for row in resumed.history)
    assert resumed.history[3]["valid_NDCG@20"] > resumed.history[0]["valid_NDCG@20"]


def test_the_same_model_ranks_recommends_and_assigns_intents_on_the_device_as_on_the_cpu(seqs, cpu_run, device):
    _, out = cpu_run
    model, _ = load_model(out / "best.pt")
    on_cpu, on_device = model.eval(), load_model(out / "best.pt")[0].to(device).eval()
    cpu_data, device_data = SequenceTensors.from_sequences(seqs), SequenceTensors.from_sequences(seqs, device)
    for split in ("valid", "test"):
        expected, got = evaluate(on_cpu, cpu_data, split), evaluate(on_device, device_data, split)
        assert got == pytest.approx(expected, abs=1e-3), split
    users = torch.arange(len(seqs))
    cpu_items, cpu_scores = recommend(ELCRecRecommender(on_cpu), cpu_data, users, k=20)
    items, scores = recommend(ELCRecRecommender(on_device), cpu_data, users, k=20)
    assert torch.allclose(scores.cpu(), cpu_scores, atol=1e-3)
    assert (items.cpu() == cpu_items).float().mean() > 0.99  # only near-ties may swap
    cpu_intents, intents = assign_user_intents(on_cpu, seqs, users), assign_user_intents(on_device, seqs, users)
    assert (torch.as_tensor(intents.intent) == torch.as_tensor(cpu_intents.intent)).float().mean() > 0.99


def test_bf16_autocast_on_the_device_learns_as_fp32(seqs, cpu_run, device, tmp_path):
    if not uses_bf16(device, "auto"):
        pytest.skip(f"{device} computes no native bf16: precision auto trains it in fp32")
    run = train(seqs, _config(DEVICE, precision="auto"), tmp_path, log=lambda _: None)
    cpu, _ = cpu_run
    assert all(math.isfinite(row["loss"]) for row in run.history)
    assert abs(run.valid["NDCG@20"] - cpu.valid["NDCG@20"]) < QUALITY_TOLERANCE, (run.valid, cpu.valid)


@pytest.mark.parametrize("kind", sorted(BASELINES))  # every baseline that may serve, a new one too
def test_the_baselines_fit_and_rank_on_the_device_as_on_the_cpu(seqs, device, kind):
    """The report and the gate fit the baselines on the data's device (the pipeline's, CUDA where present)."""
    baseline = BASELINES[kind]
    cpu_data, device_data = SequenceTensors.from_sequences(seqs), SequenceTensors.from_sequences(seqs, device)
    for split in ("valid", "test"):
        expected = evaluate_recommender(baseline().fit(cpu_data, split), cpu_data, split)
        got = evaluate_recommender(baseline().fit(device_data, split), device_data, split)
        # counts rank alike exactly; EASE's and item-kNN's float sums may part near-ties
        assert (got.cpu() == expected).float().mean() > 0.99, split
