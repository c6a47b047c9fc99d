"""The trainer: it learns, resumes exactly, stops early on the best epoch, and checkpoints what it needs."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from elcrec_core.config.settings import MAX_CE_LOGITS, ModelConfig, TrainConfig
from elcrec_core.data.sequences import SequenceTensors
from elcrec_core.evaluate.popularity import popularity_metrics
from elcrec_core.evaluate.ranking import evaluate
from elcrec_core.model.centres import init_centres
from elcrec_core.model.elcrec import ELCRec
from elcrec_core.train import loop, run_log
from elcrec_core.train.batches import trainable_users
from elcrec_core.train.checkpoint import load_checkpoint, load_model
from elcrec_core.train.compiled_step import _compiler_missing
from elcrec_core.train.loop import make_optimizer, train, train_epoch
from elcrec_core.train.objective import NonFiniteLoss, joint_loss
from elcrec_core.train.state import EarlyStopping
from tests.train.small import SMALL_MODEL, small_config

# inductor's CPU kernels need a C++ compiler: where there is none, the trainer runs eager (tested below)
needs_a_cpp_compiler = pytest.mark.skipif(bool(_compiler_missing()), reason=_compiler_missing() or "a compiler")


def test_the_log_says_why_training_ended(seqs, tmp_path):
    """Early stopping and the step budget ended a run without a word (a resumed run with more epochs that ran one
    and stopped looked broken): the last line says which of patience, max_steps and epochs ended it."""
    stopper = EarlyStopping(2, best_score=0.1, best_epoch=3, bad_epochs=2)
    assert run_log.why_training_ended(TrainConfig(patience=2, max_steps=0), stopper, 40) == (
        "training ended: validation NDCG@20 has not improved for 2 epochs since epoch 3 (patience 2)")
    running = EarlyStopping(5, best_score=0.1, best_epoch=3, bad_epochs=1)
    assert run_log.why_training_ended(TrainConfig(max_steps=40), running, 40) == (
        "training ended: the step budget, 40 optimiser steps (max_steps 40)")
    assert run_log.why_training_ended(TrainConfig(epochs=7, max_steps=0), running, 12) == (
        "training ended: the 7 epochs ran")
    assert run_log.why_training_ended(TrainConfig(epochs=1, max_steps=0), running, 12) == (
        "training ended: the 1 epoch ran")  # not "the 1 epochs" (helper-170)
    assert run_log.why_training_ended(TrainConfig(epochs=3, max_steps=0), running, 12, ran=6) == (
        "training ended: 6 epochs had run, more than the 3 that epochs asks for: none ran")  # "the 3 epochs ran"
    logs: list[str] = []
    train(seqs, small_config(epochs=2, max_steps=3), tmp_path, log=logs.append)
    assert logs[-2].startswith("training ended: the step budget, 3 optimiser steps (max_steps 3)")


def test_training_learns_more_than_popularity(seqs, tmp_path):
    result = train(seqs, small_config(epochs=12, lr=3e-3, rec_loss="ce"), tmp_path, log=lambda _: None)
    popular = popularity_metrics(SequenceTensors.from_sequences(seqs), "test")
    assert result.test["HR@20"] > popular["HR@20"] + 0.05, (result.test, popular)
    assert result.test["NDCG@20"] > popular["NDCG@20"]


def test_bce_training_improves_over_epochs(seqs, tmp_path):
    """The paper's BCE loss learns: its next-item part falls every epoch from 2 ln 2 (a model that knows nothing),
    validation NDCG@20 more than doubles over 6 epochs (measured: 0.049 -> 0.141), and the chosen model beats
    most popular by half again on the test split (measured: 0.125 against 0.073)."""
    result = train(seqs, small_config(epochs=6, lr=3e-3), tmp_path, log=lambda _: None)
    curve = [row["valid_NDCG@20"] for row in result.history]
    rec = [row["rec"] for row in result.history]
    assert rec[0] == pytest.approx(2 * np.log(2), abs=0.01) and all(b < a for a, b in zip(rec, rec[1:])), rec
    assert curve[-1] > 2 * curve[0], curve
    popular = popularity_metrics(SequenceTensors.from_sequences(seqs), "test")
    assert result.test["NDCG@20"] > 1.5 * popular["NDCG@20"], (result.test, popular)
    assert all(np.isfinite(row["loss"]) for row in result.history)
    assert {"rec", "seq_cl", "intent_cl", "cluster"} <= set(result.history[0])


def test_resume_continues_exactly_where_it_stopped(seqs, tmp_path):
    """Bit for bit on the CPU, whose kernels sum in one order (CUDA's need not: a run begun there resumes on the CPU
    in test_accelerator.py, to tolerance)."""
    straight = train(seqs, small_config(epochs=4, device="cpu"), tmp_path / "a", log=lambda _: None)
    train(seqs, small_config(epochs=2, device="cpu"), tmp_path / "b", log=lambda _: None)
    logs: list[str] = []
    resumed = train(seqs, small_config(epochs=4, device="cpu"), tmp_path / "b", log=logs.append)
    assert any("resumed" in line and "epoch 1" in line for line in logs)
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in straight.history]
    a, b = load_checkpoint(tmp_path / "a" / "last.pt"), load_checkpoint(tmp_path / "b" / "last.pt")
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    assert resumed.test == straight.test
    # its seconds count the epochs before the resume too (they were this session's only), and its best epoch is
    # best.pt's
    assert resumed.seconds >= sum(row["seconds"] for row in resumed.history)
    assert resumed.best_epoch == load_checkpoint(tmp_path / "b" / "best.pt")["epoch"] == straight.best_epoch
    again = train(seqs, small_config(epochs=4, device="cpu"), tmp_path / "b", log=lambda _: None)  # finished
    assert again.seconds >= sum(row["seconds"] for row in resumed.history) and again.history == resumed.history


def test_metrics_record_the_precision_each_epoch_computed_in(seqs, tmp_path):
    """``precision`` auto is a choice, not a record (config.json keeps ``auto``), and a resumed run may compute
    otherwise: each history row and metrics.json say how its epochs computed; a run resumed from a version that did
    not record it says so for those epochs."""
    import json

    from elcrec_core.train.run_log import precision_used

    train(seqs, small_config(epochs=2, device="cpu", precision="fp32"), tmp_path, log=lambda _: None)
    resumed = train(seqs, small_config(epochs=3, device="cpu", precision="bf16"), tmp_path, log=lambda _: None)
    assert [row["precision"] for row in resumed.history] == ["fp32", "fp32", "bf16 autocast"]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["precision"] == "fp32 (epochs 0-1), bf16 autocast (epoch 2)"
    assert json.loads((tmp_path / "config.json").read_text())["train"]["precision"] == "bf16"
    assert precision_used(resumed.history[2:]) == "bf16 autocast" and precision_used([]) == "none"
    older = [{"epoch": 0}, {"epoch": 1, "precision": "fp32"}]
    assert precision_used(older) == "not recorded (epoch 0), fp32 (epoch 1)"


class Killed(Exception):
    """The process dies here."""


def test_a_run_killed_between_an_epochs_two_checkpoints_resumes_with_that_epoch_as_best(seqs, tmp_path,
                                                                                          monkeypatch):
    """Killed after the first of the two checkpoint writes of an epoch that improved (last.pt, best.pt), then
    resumed where later validation scores come out lower (a GPU's re-run is not bit-identical; here every score
    after the resume is 0): best.pt is that epoch's model with its validation figures, as an uninterrupted run's,
    and the history holds them. On the CPU: the two runs' epoch 1 are compared bit for bit."""
    straight = train(seqs, small_config(epochs=2, device="cpu"), tmp_path / "a", log=lambda _: None)
    assert straight.best_epoch == 1  # BCE improves every epoch on this data
    real_state, real_checkpoint, real_evaluate = loop.save_training_state, loop.save_checkpoint, loop.evaluate
    written: list[int] = []

    def kill_at_the_second_write_of_epoch_1(epoch: int) -> None:
        if epoch == 1 and written.count(1) == 1:
            raise Killed
        written.append(epoch)

    def save_training_state(path, model, optimizer, exp, epoch, *rest):
        kill_at_the_second_write_of_epoch_1(epoch)
        real_state(path, model, optimizer, exp, epoch, *rest)

    def save_checkpoint(path, payload):
        kill_at_the_second_write_of_epoch_1(payload["epoch"])
        real_checkpoint(path, payload)

    with monkeypatch.context() as patch:
        patch.setattr(loop, "save_training_state", save_training_state)
        patch.setattr(loop, "save_checkpoint", save_checkpoint)
        with pytest.raises(Killed):
            train(seqs, small_config(epochs=3, device="cpu"), tmp_path / "b", log=lambda _: None)
    monkeypatch.setattr(loop, "evaluate", lambda model, data, split, **kw: (
        {name: 0.0 for name in real_evaluate(model, data, split, **kw)} if split == "valid"
        else real_evaluate(model, data, split, **kw)))
    resumed = train(seqs, small_config(epochs=3, device="cpu"), tmp_path / "b", log=lambda _: None)
    best = load_checkpoint(tmp_path / "b" / "best.pt")
    assert resumed.best_epoch == best["epoch"] == 1
    assert resumed.valid == best["valid"] == straight.valid
    assert resumed.history[1]["valid_NDCG@20"] == straight.valid["NDCG@20"]
    assert resumed.test == straight.test
    expected = load_checkpoint(tmp_path / "a" / "best.pt")["model"]
    assert all(torch.equal(tensor, expected[name]) for name, tensor in best["model"].items())


def test_a_run_whose_best_pt_is_lost_goes_on_from_its_last_epoch(seqs, tmp_path, monkeypatch):
    """A last.pt whose best epoch is not its own, beside no best.pt (a finished run of another process removed the
    folder while this one wrote last.pt again): resuming failed on the missing best.pt at every attempt, for good.
    The run goes on from last.pt with its last epoch as the best (best.pt written from last.pt's weights): its
    patience counts from there. A best.pt of the right epoch but another score (another run's) is no better."""
    real_evaluate = loop.evaluate
    monkeypatch.setattr(loop, "evaluate", lambda model, data, split, **kw: (  # no epoch improves on epoch 0
        {name: 0.5 for name in real_evaluate(model, data, split, **kw)} if split == "valid"
        else real_evaluate(model, data, split, **kw)))
    config = small_config(epochs=6, patience=1, device="cpu")
    first = train(seqs, config, tmp_path / "a", log=lambda _: None)
    assert first.best_epoch == 0 and len(first.history) == 2  # stopped early after epoch 1
    last = load_checkpoint(tmp_path / "a" / "last.pt")["model"]  # epoch 1's weights
    (tmp_path / "a" / "best.pt").unlink()
    logs: list[str] = []
    again = train(seqs, config, tmp_path / "a", log=logs.append)
    assert (f"{tmp_path / 'a' / 'best.pt'} does not hold epoch 0, the best: the best is now epoch 1, the last, whose "
            "weights last.pt holds") in logs
    assert (again.best_epoch, len(again.history)) == (1, 3)  # epoch 2 did not improve on it: patience 1 ended it
    other = load_checkpoint(tmp_path / "a" / "best.pt")
    assert other["epoch"] == 1 and all(torch.equal(tensor, last[name]) for name, tensor in other["model"].items())
    other["valid"]["NDCG@20"] = 0.25  # epoch 1 of another run
    torch.save(other, tmp_path / "a" / "best.pt")
    monkeypatch.setattr(loop, "save_checkpoint", lambda *args: None)  # as a killed run: last.pt alone written
    logs.clear()
    train(seqs, small_config(epochs=6, patience=2, device="cpu"), tmp_path / "a", log=logs.append)
    assert any("does not hold epoch 1, the best: the best is now epoch 2" in line for line in logs), logs


def test_a_fresh_run_killed_before_its_first_best_pt_does_not_keep_another_runs(seqs, tmp_path, monkeypatch):
    """Run A leaves best.pt (epoch 0) in the folder; run B starts there afresh (resume=False, another seed) and is
    killed after its epoch 0's last.pt: resumed, B's best.pt is B's epoch 0 (same epoch number as A's, another
    validation score), not A's model."""
    train(seqs, small_config(epochs=1), tmp_path, log=lambda _: None)
    real_checkpoint = loop.save_checkpoint

    def killed(path, payload):
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(loop, "save_checkpoint", killed)
        with pytest.raises(Killed):
            train(seqs, small_config(epochs=1, seed=11), tmp_path, resume=False, log=lambda _: None)
    assert loop.save_checkpoint is real_checkpoint
    resumed = train(seqs, small_config(epochs=1, seed=11), tmp_path, log=lambda _: None)
    straight = train(seqs, small_config(epochs=1, seed=11), tmp_path / "b", log=lambda _: None)
    assert resumed.valid == straight.valid == load_checkpoint(tmp_path / "best.pt")["valid"]
    assert resumed.history[0]["valid_NDCG@20"] == straight.valid["NDCG@20"]


def test_a_resumed_run_takes_its_new_patience_and_a_refused_one_leaves_config_json(seqs, tmp_path):
    """patience is a resumable change: the resumed early stopping uses the new one (it restored the saved one).
    A resume refused for a changed setting leaves the folder's config.json as it was (it was overwritten)."""
    import json

    from elcrec_core.train.state import restore_training_state

    train(seqs, small_config(epochs=2, patience=1), tmp_path, log=lambda _: None)
    exp = small_config(epochs=4, patience=9)
    model = ELCRec(exp.model_config(seqs.n_items))
    optimizer = torch.optim.Adam(model.parameters())
    start, stopper, _ = restore_training_state(tmp_path / "last.pt", model, optimizer, torch.Generator(), exp.train)
    assert (start, stopper.patience) == (2, 9)
    before = json.loads((tmp_path / "config.json").read_text())
    with pytest.raises(ValueError, match=r"train\.lr: 0\.001 -> 0\.01"):
        train(seqs, small_config(epochs=4, lr=0.01), tmp_path, log=lambda _: None)
    assert json.loads((tmp_path / "config.json").read_text()) == before
    other = small_config(epochs=1)
    other.model["hidden"] = 16  # another architecture to warm-start from: refused, config.json as it was
    train(seqs, other, tmp_path / "other", log=lambda _: None)
    with pytest.raises(ValueError, match=r"best\.pt holds a model of other shapes: hidden 16 \(this run 32\); give "
                                         r"this run its settings \(elcrec train --help names their flags"):
        train(seqs, small_config(epochs=4), tmp_path, resume=False, init_from=tmp_path / "other" / "best.pt",
              log=lambda _: None)
    assert json.loads((tmp_path / "config.json").read_text()) == before


def test_a_run_resumes_on_the_data_it_trained_on_only(seqs, tmp_path):
    """last.pt records a digest of the sequences: the same settings on other histories (or another numbering of
    the items) are refused, without a new epoch or a rewritten best.pt; the same data resumes."""
    from elcrec_core.data.sequences import Sequences

    train(seqs, small_config(epochs=1), tmp_path, log=lambda _: None)
    best = (tmp_path / "best.pt").read_bytes()
    renumbered = np.where(seqs.items == 1, 2, np.where(seqs.items == 2, 1, seqs.items))  # items 1 and 2 swapped
    other = Sequences(seqs.user_ids, renumbered, seqs.offsets, seqs.n_items)
    with pytest.raises(ValueError, match="holds a run on other data"):
        train(other, small_config(epochs=2), tmp_path, log=lambda _: None)
    assert (tmp_path / "best.pt").read_bytes() == best
    assert len(train(seqs, small_config(epochs=2), tmp_path, log=lambda _: None).history) == 2  # resumed: 1 more
    (tmp_path / "last.pt").write_bytes(b"")  # a damaged last.pt says how to go on (helper-203)
    from elcrec_core.train.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match=r"is empty \(a write cut short\?\); start over with --fresh \(or "
                                              r"resume=False\), or write to another folder$"):
        train(seqs, small_config(epochs=3), tmp_path, log=lambda _: None)
    def refused_after(file: str, damage: Callable[[dict], int], values: str, epochs: int = 3) -> None:
        """A fresh 1-epoch run whose ``file`` ``damage`` fills with NaN (it returns how many): the run of ``epochs``
        that resumes it refuses it, naming it, with the way on."""
        train(seqs, small_config(epochs=1), tmp_path, resume=False, log=lambda _: None)
        state = torch.load(tmp_path / file, weights_only=True)
        bad = damage(state)
        torch.save(state, tmp_path / file)
        with pytest.raises(CheckpointError, match=rf"^checkpoint {tmp_path / file} is corrupt: {bad:,} of its "
                                                  rf"{values} are NaN or infinite, which no trained model's are "
                                                  r"\(training stops where its loss is not finite\); start over "
                                                  r"with --fresh"):
            train(seqs, small_config(epochs=epochs), tmp_path, log=lambda _: None)

    def nan_rows(state: dict) -> int:
        state["model"]["item_emb.weight"][3:5] = float("nan")
        return 2 * state["model"]["item_emb.weight"].shape[1]

    def nan_moments(state: dict) -> int:
        (first, *_) = [value for values in state["optimizer"]["state"].values() for name, value in values.items()
                       if name == "exp_avg"]
        return first.fill_(float("nan")).numel()

    # a last.pt whose bytes were overwritten (NaN weights): it resumed, and the loss "not finite" advised a lower
    # learning rate (helper-236); NaN in Adam's moments alone did the same (helper-239)
    refused_after("last.pt", nan_rows, "weights")
    refused_after("last.pt", nan_moments, "optimiser state values")
    # a best.pt overwritten while the run went on: NaN test figures, in a run that succeeded (helper-239); a resume
    # with nothing left to train goes to the end
    refused_after("best.pt", nan_rows, "weights", epochs=1)


def test_a_larger_step_budget_on_resume_takes_exactly_the_steps_left(seqs, tmp_path):
    """5 steps an epoch (batch 128). A budget of 7 steps ends epoch 1 after 2 of its steps; resumed
    with 15, the run takes 5 + 3 more: 15 in all, and each row's steps are those really taken (the resumed run
    started epoch 2 at step 10, skipping 3 of the budget, and recorded 15 after 12)."""
    cut = train(seqs, small_config(epochs=10, max_steps=7), tmp_path, log=lambda _: None)
    assert [row["steps"] for row in cut.history] == [5, 7]
    resumed = train(seqs, small_config(epochs=10, max_steps=15), tmp_path, log=lambda _: None)
    assert [row["steps"] for row in resumed.history] == [5, 7, 12, 15]
    straight = train(seqs, small_config(epochs=10, max_steps=15), tmp_path / "straight", log=lambda _: None)
    assert [row["steps"] for row in straight.history] == [5, 10, 15]


def test_best_epoch_is_restored_and_checkpoint_is_complete(seqs, tmp_path):
    result = train(seqs, small_config(epochs=5, lr=3e-3), tmp_path, log=lambda _: None)
    curve = [row["valid_NDCG@20"] for row in result.history]
    assert result.best_epoch == int(np.argmax(curve))
    model, best = load_model(tmp_path / "best.pt")
    data = SequenceTensors.from_sequences(seqs)
    assert evaluate(model, data, "test") == pytest.approx(result.test)
    assert best["epoch"] == result.best_epoch and best["test"] == result.test
    last = load_checkpoint(tmp_path / "last.pt")
    assert {"model", "optimizer", "rng", "epoch", "config", "model_config", "early_stopping"} <= set(last)
    assert last["model_config"]["n_items"] == seqs.n_items and last["epoch"] == 4


def test_early_stopping_counts_epochs_without_improvement():
    stop = EarlyStopping(patience=2)
    assert [stop.update(e, s) for e, s in enumerate([0.1, 0.3, 0.2, 0.3, 0.25])] == [True, True, False, False, False]
    assert stop.best_epoch == 1 and stop.should_stop


def test_patience_stops_training(seqs, tmp_path):
    result = train(seqs, small_config(epochs=30, patience=1, lr=0.05), tmp_path, log=lambda _: None)
    assert len(result.history) < 30
    assert len(result.history) - 1 - result.best_epoch == 1


def test_centres_stay_unit_norm_and_random_init_works(seqs, tmp_path):
    train(seqs, small_config(epochs=1, centre_init="random"), tmp_path, log=lambda _: None)
    model, _ = load_model(tmp_path / "best.pt")
    norms = model.centres.norm(dim=1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=0.02)


def test_kmeans_runs_on_a_bounded_sample_of_the_users(seqs):
    model = ELCRec(small_config().model_config(seqs.n_items))
    data = SequenceTensors.from_sequences(seqs)
    users = trainable_users(data)
    encoded = []
    model.register_forward_hook(lambda _module, args, _out: encoded.append(len(args[0])))
    init_centres(model, data, users, TrainConfig(kmeans_sample=50, kmeans_restarts=1, seed=7), batch_size=16)
    assert sum(encoded) == 50 < len(users)
    norms = model.centres.norm(dim=1)
    assert torch.allclose(norms, torch.ones_like(norms))


def test_full_softmax_is_refused_where_its_logits_would_not_fit(seqs, tmp_path, monkeypatch):
    """rec_loss "ce" computes [positions x items] logits: past MAX_CE_LOGITS per batch it is refused up front."""
    exp = small_config(rec_loss="ce")  # 128 sequences x max_len 20 positions per batch
    largest = MAX_CE_LOGITS // (128 * 20)
    assert exp.model_config(largest).n_items == largest
    with pytest.raises(ValueError, match="use rec_loss 'sampled_softmax' or 'bce'"):
        exp.model_config(largest + 1)
    for loss in ("sampled_softmax", "bce"):
        assert small_config(rec_loss=loss).model_config(1_000_000).n_items == 1_000_000
    monkeypatch.setattr("elcrec_core.config.settings.MAX_CE_LOGITS", 128 * 20 * (seqs.n_items - 1))
    with pytest.raises(ValueError, match="rec_loss 'ce'"):
        train(seqs, exp, tmp_path, log=lambda _: None)
    assert not any(tmp_path.iterdir())  # refused before any work


def test_a_non_finite_loss_stops_training_and_saves_nothing(seqs, tmp_path):
    """lr 1e37 (as a typo would give) makes the loss NaN within the first epoch: an error that names the
    epoch, the batch and the part, and no checkpoint at all."""
    with pytest.raises(NonFiniteLoss, match=r"epoch 0, batch \d+ of 5 \(.*(rec|seq_cl|intent_cl|cluster) = (nan|inf)"):
        train(seqs, small_config(epochs=3, lr=1e37), tmp_path, log=lambda _: None)
    assert not (tmp_path / "best.pt").exists() and not (tmp_path / "last.pt").exists()


def test_parameters_that_overflow_after_the_last_finite_loss_are_never_saved(seqs, tmp_path):
    """One step an epoch at lr 1e37: its loss is finite, the parameters it makes overflow the forward pass, and
    the model's scores are NaN. Validated, that model ranked every target a miss (NDCG@20 0 > -inf) and was saved
    as best.pt; now training stops with NonFiniteLoss and saves nothing."""
    with pytest.raises(NonFiniteLoss, match=r"scores are not finite after epoch 0"):
        train(seqs, small_config(epochs=1, lr=1e37, batch_size=1024), tmp_path, log=lambda _: None)
    assert not (tmp_path / "best.pt").exists() and not (tmp_path / "last.pt").exists()


def test_a_loss_part_that_turns_nan_later_keeps_the_last_finite_epoch(seqs, tmp_path, monkeypatch):
    """The cluster loss turns NaN at its 8th call (epoch 1, batch 2 of 5): training stops there; best.pt and
    last.pt hold epoch 0, whose parameters are all finite."""
    import elcrec_core.model.losses as losses

    calls, cluster_loss = [], losses.cluster_loss

    def failing(*args, **kwargs):
        calls.append(1)
        value = cluster_loss(*args, **kwargs)
        return value * float("nan") if len(calls) == 8 else value

    monkeypatch.setattr(losses, "cluster_loss", failing)
    with pytest.raises(NonFiniteLoss, match=r"epoch 1, batch 2 of 5 \(cluster = nan\)"):
        train(seqs, small_config(epochs=3), tmp_path, log=lambda _: None)
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 0
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["epoch"] == 0 and all(torch.isfinite(t).all() for t in best["model"].values())


# ------------------------------------------------------------------------------------------ loss options
def test_aux_warmup_ramps_the_auxiliary_weights_linearly() -> None:
    from elcrec_core.train.objective import aux_weights

    cfg = TrainConfig(cf_weight=0.1, intent_cf_weight=0.2, trade_off=1.0, aux_warmup_steps=10)
    assert aux_weights(cfg, 0) == pytest.approx({"rec": 1.0, "seq_cl": 0.01, "intent_cl": 0.02, "cluster": 0.1})
    assert aux_weights(cfg, 4) == pytest.approx({"rec": 1.0, "seq_cl": 0.05, "intent_cl": 0.1, "cluster": 0.5})
    for step in (9, 10, 1000, None):
        assert aux_weights(cfg, step) == pytest.approx({"rec": 1.0, "seq_cl": 0.1, "intent_cl": 0.2, "cluster": 1.0})
    assert aux_weights(TrainConfig(), 0) == aux_weights(TrainConfig())  # no warm-up: the paper's weights


def test_joint_loss_fixed_and_relative_scales() -> None:
    from elcrec_core.train.objective import joint_loss

    rec = torch.tensor(2.0, requires_grad=True)
    seq = torch.tensor(100.0, requires_grad=True)
    parts = {"rec": rec, "seq_cl": seq}
    fixed = joint_loss(parts, TrainConfig(cf_weight=0.1))
    assert fixed.item() == pytest.approx(2.0 + 0.1 * 100.0)
    relative = joint_loss(parts, TrainConfig(cf_weight=0.1, aux_scale="relative"))
    assert relative.item() == pytest.approx(2.0 + 0.1 * 2.0)  # seq_cl counts as 0.1 x rec
    relative.backward()
    assert rec.grad.item() == pytest.approx(1.0)  # no gradient through the ratio
    assert seq.grad.item() == pytest.approx(0.1 * 2.0 / 100.0)
    warm = joint_loss(parts, TrainConfig(cf_weight=0.1, aux_warmup_steps=4), step=1)
    assert warm.item() == pytest.approx(2.0 + 0.05 * 100.0)
    # the cluster part changes sign in training: near its zero, |rec| / |part| multiplied it by up to 1e12
    cluster = torch.tensor(-7e-4, requires_grad=True)
    config = TrainConfig(cf_weight=0.1, intent_cf_weight=0.1, trade_off=1.0, aux_scale="relative")
    total = joint_loss({**parts, "intent_cl": torch.tensor(4.0), "cluster": cluster}, config)
    assert total.item() == pytest.approx(2.0 + 0.1 * 2.0 + 0.1 * 2.0 - 7e-4)  # contrastive parts: rec's size
    total.backward()
    assert cluster.grad.item() == pytest.approx(1.0)  # the cluster part as it is, by its weight


def test_centre_lr_puts_the_centres_in_their_own_group() -> None:
    from elcrec_core.train.loop import make_optimizer

    model = ELCRec(ModelConfig(n_items=10, **SMALL_MODEL))
    assert len(make_optimizer(model, TrainConfig()).param_groups) == 1
    groups = make_optimizer(model, TrainConfig(lr=1e-3, centre_lr=0.05)).param_groups
    assert [g["lr"] for g in groups] == [1e-3, 0.05]
    assert groups[1]["params"] == [model.centres]
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_max_steps_stops_mid_epoch(seqs, tmp_path) -> None:
    # 600 users of which the trainable ones make 5 batches of 128: 7 steps = one epoch and 2 batches
    users = len(trainable_users(SequenceTensors.from_sequences(seqs)))
    per_epoch = -(-users // 128)
    result = train(seqs, small_config(epochs=5, max_steps=per_epoch + 2), tmp_path, log=lambda _: None)
    assert [row["steps"] for row in result.history] == [per_epoch, per_epoch + 2]


def test_the_new_options_train_end_to_end(seqs, tmp_path) -> None:
    logs: list[str] = []
    cfg = small_config(epochs=1, rec_loss="ce", cl_similarity="cosine", temperature=0.2, seq_cl_view="pooled",
                       aux_scale="relative", aux_warmup_steps=3, centre_lr=1e-2, train_windows="all")
    cfg.model["max_len"] = 8  # synthetic histories are longer than 8: several windows per user
    result = train(seqs, cfg, tmp_path, log=logs.append)
    assert np.isfinite(result.history[0]["loss"]) and {"seq_cl", "intent_cl", "cluster"} <= set(result.history[0])
    windows = int(next(line for line in logs if "windows" in line).split(", ")[-1].split()[0])
    assert windows > len(trainable_users(SequenceTensors.from_sequences(seqs)))


# ------------------------------------------------------------------------------------------ compiled step


def test_only_a_cpu_step_is_compiled_and_only_when_asked() -> None:
    from elcrec_core.train.compiled_step import compiles_step

    assert not compiles_step(TrainConfig(), torch.device("cpu"))  # off by default
    assert compiles_step(TrainConfig(compile=True), torch.device("cpu"))
    assert not compiles_step(TrainConfig(compile=True), torch.device("cuda"))


def _small_step(seqs, dropout: float = 0.0):
    from elcrec_core.train.batches import make_train_batch

    exp = small_config()
    exp.model.update(dropout=dropout, attn_dropout=dropout)
    torch.manual_seed(5)
    model = ELCRec(exp.model_config(seqs.n_items))
    model.normalise_centres_()  # as after a step: then a step leaves them as they are
    data = SequenceTensors.from_sequences(seqs)
    batch = make_train_batch(data, trainable_users(data)[:64], model.cfg.max_len, TrainConfig(),
                             torch.Generator().manual_seed(5))
    return model, batch, exp.train


def test_the_step_runs_eager_with_the_reason_logged_without_a_cpp_compiler(seqs, monkeypatch) -> None:
    from torch._inductor import cpp_builder

    from elcrec_core.train.compiled_step import StepLosses
    from elcrec_core.train.objective import loss_parts

    def no_compiler() -> str:
        raise RuntimeError("no working C++ compiler found in ('g++',)")

    monkeypatch.setattr(cpp_builder, "get_cpp_compiler", no_compiler)
    logs: list[str] = []
    step = StepLosses(True, logs.append)
    assert step.compiled is None
    assert logs == ["torch.compile off, the training step runs eager: no C++ compiler for inductor "
                    "(RuntimeError: no working C++ compiler found in ('g++',))"]
    model, batch, cfg = _small_step(seqs)
    got = step(model, batch, cfg)
    want = loss_parts(model, batch, cfg)
    assert {k: v.item() for k, v in got.items()} == pytest.approx({k: v.item() for k, v in want.items()})


def test_a_failed_compilation_falls_back_to_eager_once(seqs, monkeypatch) -> None:
    from elcrec_core.train.compiled_step import StepLosses
    from elcrec_core.train.objective import loss_parts

    def broken_compile(fn, **_kwargs):
        def run(*_args):
            raise RuntimeError("C++ compile error\ndetails")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    logs: list[str] = []
    step = StepLosses(True, logs.append)
    model, batch, cfg = _small_step(seqs)
    first = step(model, batch, cfg)
    second = step(model, batch, cfg)
    assert logs[-1] == "torch.compile failed (RuntimeError: C++ compile error); the training step runs eager"
    assert len(logs) == 2 and step.compiled is None
    want = loss_parts(model, batch, cfg)
    for got in (first, second):
        assert {k: v.item() for k, v in got.items()} == pytest.approx({k: v.item() for k, v in want.items()})


@pytest.mark.slow
@needs_a_cpp_compiler
def test_the_compiled_step_gives_the_eager_losses_and_gradients(seqs, monkeypatch) -> None:
    """torch.compile of the step (C++ kernels from the system compiler) against eager, with the dropout replaced
    by the identity (the compiled step draws its masks from another random stream) but the CPU training path of
    a model with dropout (per-head attention); a few minutes of compilation."""
    from elcrec_core.train.compiled_step import StepLosses
    from elcrec_core.train.objective import loss_parts

    monkeypatch.setattr("elcrec_core.model.elcrec.dropout", lambda x, p, training: x)
    model, batch, cfg = _small_step(seqs, dropout=0.5)
    model.train()
    with torch.no_grad():
        model.centres.mul_(1.5)  # off the unit sphere, as Adam leaves them: the step renormalises them first
    centres = model.centres.detach().clone()
    eager = loss_parts(model, batch, cfg)
    joint_loss(eager, cfg).backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()
    with torch.no_grad():
        model.centres.copy_(centres)  # the step renormalises them in place
    step = StepLosses(True, lambda _: None)
    compiled = step(model, batch, cfg)
    assert step.compiled is not None
    joint_loss(compiled, cfg).backward()
    for name, value in eager.items():
        assert compiled[name].item() == pytest.approx(value.item(), rel=1e-4, abs=1e-5), name
    for name, p in model.named_parameters():
        assert torch.allclose(p.grad, grads[name], rtol=1e-3, atol=1e-6), name


@needs_a_cpp_compiler
def test_a_compiled_renormalisation_gives_the_centres_the_gradient_at_the_renormalised_centres() -> None:
    """The step renormalises the centres in place, then takes the cluster loss: inductor's backward of that graph
    used the centres divided by their old norm twice (a gradient 3x too small in the norm terms of centres of
    norm 3); the renormalisation runs eagerly between compiled graphs now. A few seconds of compilation."""
    from elcrec_core.model.losses import cluster_loss

    def step(model: ELCRec, samples: torch.Tensor) -> torch.Tensor:
        model.normalise_centres_()
        return cluster_loss(samples, model.centres)

    torch.manual_seed(0)
    model, samples = ELCRec(ModelConfig(n_items=5, n_intents=4, hidden=8)), torch.randn(6, 8)
    with torch.no_grad():
        model.centres.mul_(3.0)
    torch.compile(step, dynamic=False)(model, samples).backward()
    unit = model.centres.detach().clone().requires_grad_()
    assert torch.allclose(unit.norm(dim=1), torch.ones(4))
    cluster_loss(samples, unit).backward()
    assert torch.allclose(model.centres.grad, unit.grad, atol=1e-6)


@pytest.mark.parametrize("rec_loss", ["bce", "sampled_softmax", "ce"])
def test_sparse_item_lookups_give_the_dense_gradient(seqs, monkeypatch, rec_loss: str) -> None:
    """A large item table's lookups give sparse gradients, made dense once before Adam: the first step's
    gradients Adam sees equal those of dense lookups (every parameter), and they are dense."""
    from elcrec_core.train import loop as training

    grads = {}
    for threshold in (0, 1 << 62):  # every table sparse; no table sparse
        monkeypatch.setattr(training, "SPARSE_ITEM_GRAD_ELEMENTS", threshold)
        exp = small_config(rec_loss=rec_loss, batch_size=64)
        torch.manual_seed(11)
        model = ELCRec(exp.model_config(seqs.n_items))
        data = SequenceTensors.from_sequences(seqs)
        optimizer = make_optimizer(model, exp.train)
        seen: list[dict[str, torch.Tensor]] = []
        monkeypatch.setattr(optimizer, "step", _recording_step(optimizer.step, model, seen))
        train_epoch(model, optimizer, data, trainable_users(data)[:64], exp.train,
                    torch.Generator().manual_seed(2), torch.device("cpu"))
        assert model.item_emb.sparse == (threshold == 0) and len(seen) == 1
        assert not any(g.is_sparse for g in seen[0].values())
        grads[threshold] = seen[0]
    assert grads[0]["item_emb.weight"].abs().sum() > 0
    for name, grad in grads[0].items():
        torch.testing.assert_close(grad, grads[1 << 62][name], atol=1e-7, rtol=1e-5, msg=name)


def _recording_step(step, model: ELCRec, seen: list[dict[str, torch.Tensor]]):
    """``optimizer.step`` that first records a copy of every parameter's gradient."""
    def recorded(*args, **kwargs):
        seen.append({name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None})
        return step(*args, **kwargs)
    return recorded


def test_kmeans_keeps_the_best_of_its_restarts(seqs, monkeypatch) -> None:
    """init_centres runs k-means with the configured 5 restarts and keeps the best: its inertia is strictly
    below the first restart's alone (the same random stream, n_init 1) on these inputs, and the centres are that
    fit's, L2-normalised."""
    from sklearn.cluster import KMeans

    from elcrec_core.model import centres

    fitted = []

    class Recorded(KMeans):
        def fit(self, x, *args, **kwargs):
            fitted.append((self, x))
            return super().fit(x, *args, **kwargs)

    monkeypatch.setattr(centres, "KMeans", Recorded)
    exp = small_config()
    torch.manual_seed(3)  # these inputs: the first restart is not the best
    model = ELCRec(exp.model_config(seqs.n_items))
    data = SequenceTensors.from_sequences(seqs)
    init_centres(model, data, trainable_users(data), TrainConfig(kmeans_restarts=5, kmeans_iters=20, seed=7))
    ((best, x),) = fitted
    assert best.n_init == 5
    first = KMeans(model.cfg.n_intents, n_init=1, max_iter=20, random_state=7).fit(x)
    assert best.inertia_ < first.inertia_ - 1e-6
    expected = F.normalize(torch.as_tensor(best.cluster_centers_, dtype=torch.float32), dim=1)
    torch.testing.assert_close(model.centres.detach(), expected, atol=1e-6, rtol=0)
