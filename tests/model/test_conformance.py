"""The evaluator and encoder reproduce the paper's published Beauty figures with the authors' checkpoint."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from elcrec_core.config.settings import ExperimentConfig, TrainConfig
from elcrec_core.model.elcrec import ELCRec
from elcrec_core.train.batches import TrainBatch
from elcrec_core.train.objective import joint_loss, loss_parts

PUBLISHED = {"HR@5": 0.0529, "NDCG@5": 0.0355, "HR@20": 0.1079, "NDCG@20": 0.0509}


def test_reference_checkpoint_reproduces_published_figures(shared):
    cmd = [
        sys.executable, "-m", "elcrec_core.cli", "evaluate",
        "--data", str(shared / "data" / "Beauty.txt"),
        "--checkpoint", str(shared / "reference" / "ELCRec-Beauty-1.pt"),
        "--device", "cpu", "--json",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    metrics = json.loads(out.strip().splitlines()[-1])
    assert set(metrics) == {"HR@5", "HR@10", "HR@20", "NDCG@5", "NDCG@10", "NDCG@20"}
    for name, published in PUBLISHED.items():
        assert abs(metrics[name] - published) <= 0.0002, (name, metrics[name], published)


# ------------------------------------------------------------------------------------------ the training step
def _reference_module():
    """benchmarks/reference_step.py: the re-created authors' step, loaded from its file."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "reference_step.py"
    spec = importlib.util.spec_from_file_location("reference_step", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("reference_step", module)
    spec.loader.exec_module(module)
    return module


def _step_pair(prototype: str, seed: int = 0):
    """Our model and the reference model with the same weights, and one batch: left-padded inputs with their
    targets and negatives, and two views per user. Ours has dropout 0.5 (so that training takes its CPU
    attention path; the caller replaces the dropout by the identity), the reference none."""
    ref = _reference_module()
    g = torch.Generator().manual_seed(seed)
    n_items, batch, length, hidden = 40, 6, 7, 16
    exp = ExperimentConfig(model={"hidden": hidden, "n_heads": 2, "n_layers": 2, "max_len": length, "n_intents": 5,
                                  "dropout": 0.5, "attn_dropout": 0.5},
                           train=TrainConfig(trade_off=10.0, prototype=prototype, cf_weight=0.1, intent_cf_weight=0.1))
    ours = ELCRec(exp.model_config(n_items))
    theirs = ref.ReferenceSASRec(ref.ReferenceConfig(item_size=n_items + 1, hidden=hidden, n_layers=2, n_heads=2,
                                                     max_len=length, dropout=0.0, attn_dropout=0.0, n_intents=5))
    with torch.no_grad():
        for p in ours.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        theirs.item_embeddings.weight.copy_(ours.item_emb.weight)
        theirs.position_embeddings.weight.copy_(ours.pos_emb.weight)
        theirs.cluster_centers.copy_(ours.centres)
        theirs.norm.weight.copy_(ours.emb_norm.weight)
        theirs.norm.bias.copy_(ours.emb_norm.bias)
        for mine, their in zip(ours.blocks, theirs.layers):
            a, f = their.attention, their.intermediate
            for i, proj in enumerate((a.query, a.key, a.value)):
                proj.weight.copy_(mine.attn.qkv.weight[i * hidden:(i + 1) * hidden])
                proj.bias.copy_(mine.attn.qkv.bias[i * hidden:(i + 1) * hidden])
            pairs = [(a.dense, mine.attn.proj), (a.norm, mine.attn.norm), (f.dense_1, mine.ffn.fc1),
                     (f.dense_2, mine.ffn.fc2), (f.norm, mine.ffn.norm)]
            for their_module, my_module in pairs:
                their_module.weight.copy_(my_module.weight)
                their_module.bias.copy_(my_module.bias)
    lengths = torch.randint(1, length + 1, (batch,), generator=g)
    lengths[0] = length  # one full window
    filled = torch.arange(length)[None, :] >= length - lengths[:, None]
    items = torch.randint(1, n_items + 1, (batch, length + 1), generator=g) * torch.cat(
        [filled[:, :1], filled], 1)
    inputs, targets = items[:, :-1], items[:, 1:] * filled
    negatives = torch.randint(1, n_items + 1, (batch, length), generator=g) * filled
    views = torch.randint(0, n_items + 1, (2 * batch, length), generator=g)
    return ref, ours, theirs, exp.train, TrainBatch(inputs, targets, negatives, views)


def _reference_parts(ref, model, batch: TrainBatch, cfg: TrainConfig) -> dict[str, torch.Tensor]:
    """The loss parts exactly as ``ReferenceTrainer.train_step`` computes them (5 x B sequences encoded)."""
    rcfg = ref.ReferenceConfig(item_size=model.item_embeddings.weight.shape[0], prototype=cfg.prototype)
    views = list(batch.views.chunk(2))
    hidden = model(batch.inputs)
    rec = ref.bce_rec_loss(model, hidden, batch.targets, batch.negatives)
    seq_cl = ref.sequence_cl_loss(model, views, rcfg)
    pooled = F.normalize(hidden.mean(1), p=2, dim=1)
    model.cluster_centers.data = F.normalize(model.cluster_centers.data, p=2, dim=1)
    centres = model.cluster_centers
    sample_centre = ref.pairwise_sq_distance(pooled, centres)
    intents = torch.argmin(sample_centre, dim=-1)
    cluster = sample_centre.mean() - ref.pairwise_sq_distance(centres, centres).mean()
    intent_cl = ref.intent_cl_loss(model, views, centres[intents], rcfg)
    return {"rec": rec, "seq_cl": seq_cl, "intent_cl": intent_cl, "cluster": cluster}


@pytest.mark.parametrize("prototype", ["shift", "concat"])
def test_the_training_step_computes_the_reference_losses_and_gradients(prototype: str, monkeypatch) -> None:
    """Without dropout, our step (one encoding of the views for both contrastive losses, per-head attention,
    masked BCE, the Gram NT-Xent) gives the reference step's four loss parts, joint loss gradient and
    renormalised centres."""
    monkeypatch.setattr("elcrec_core.model.elcrec.dropout", lambda x, p, training: x)
    ref, ours, theirs, cfg, batch = _step_pair(prototype)
    ours.train()
    theirs.train()
    mine = loss_parts(ours, batch, cfg)
    expected = _reference_parts(ref, theirs, batch, cfg)
    for name, value in expected.items():
        assert mine[name].item() == pytest.approx(value.item(), rel=1e-4, abs=1e-5), name
    joint_loss(mine, cfg).backward()
    (expected["rec"] + 0.1 * expected["seq_cl"] + 0.1 * expected["intent_cl"] + 10.0 * expected["cluster"]).backward()
    assert torch.allclose(ours.centres, theirs.cluster_centers, atol=1e-6)
    pairs = [(ours.item_emb.weight, theirs.item_embeddings.weight), (ours.centres, theirs.cluster_centers),
             (ours.blocks[0].ffn.fc1.weight, theirs.layers[0].intermediate.dense_1.weight),
             (ours.blocks[1].attn.proj.weight, theirs.layers[1].attention.dense.weight),
             (ours.pos_emb.weight, theirs.position_embeddings.weight)]
    for got, want in pairs:
        assert torch.allclose(got.grad, want.grad, rtol=1e-3, atol=1e-5), (got.grad - want.grad).abs().max()
