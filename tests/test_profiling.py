"""Intent profiling: the maps, and the evidence that the learned intents find the planted ones."""

from pathlib import Path

import numpy as np
import torch
import pytest
from PIL import Image

from elcrec_core.checkpoint import load_model
from elcrec_core.config import load_preset, merge_overrides
from elcrec_core.plots import intent_map
from elcrec_core.profiling import assign_user_intents
from elcrec_core.sequences import SequenceTensors, sequences_from_events
from elcrec_core.statistics import planted_agreement
from elcrec_core.synthetic import SyntheticConfig, generate
from elcrec_core.training import train


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_intent_map_draws_a_sample_of_users(tmp_path: Path, method: str):
    rng = np.random.default_rng(0)
    intents = np.repeat(np.arange(3), 60)
    representation = rng.normal(size=(180, 8)) * 0.1 + np.eye(8)[intents]
    path = intent_map(representation, intents, tmp_path / f"{method}.png", method=method, sample=100)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 300


def test_intent_map_refuses_an_unknown_method(tmp_path: Path):
    with pytest.raises(ValueError, match="unknown map method 'umap': pca or tsne"):
        intent_map(np.zeros((10, 4)), np.zeros(10, dtype=int), tmp_path / "x.png", method="umap")


def test_learned_intents_find_the_planted_ones(tmp_path: Path):
    """The evidence that the clustering learns intents: on synthetic data with planted intents, the users'
    learned intents (nearest centre) agree with their planted primary intents far beyond chance."""
    synthetic = generate(SyntheticConfig(n_users=2000, n_items=240, n_intents=4, seed=5))
    seqs, _ = sequences_from_events(synthetic.events)
    exp = load_preset("synthetic")
    exp = merge_overrides(exp, {"n_intents": 8, "hidden": 32}, {"epochs": 12, "patience": 12})
    result = train(seqs, exp, tmp_path, log=lambda _: None)
    model, _ = load_model(result.checkpoint)
    learned = assign_user_intents(model, SequenceTensors.from_sequences(seqs)).intent
    planted = synthetic.user_intents.sort("user_id")["primary_intent"].to_numpy()[seqs.user_ids.astype(int) - 1]
    agreement = planted_agreement(planted, learned)
    assert agreement.nmi >= 0.3 and agreement.nmi >= 5 * agreement.shuffled_nmi, agreement
    assert agreement.ari >= 0.15 and agreement.ari >= 5 * abs(agreement.shuffled_ari), agreement


def test_pooling_averages_the_item_positions_or_the_whole_window():
    from elcrec_core.config import ModelConfig
    from elcrec_core.model import ELCRec

    hidden = torch.arange(12, dtype=torch.float32).view(2, 3, 2)  # 2 users, 3 positions, d = 2
    items = torch.tensor([[0, 0, 5], [0, 4, 7]])  # left padding
    by_items = ELCRec(ModelConfig(n_items=9, hidden=2, n_heads=1, n_intents=2, pooling="items"))
    assert by_items.pool(hidden, items).tolist() == [[4.0, 5.0], [9.0, 10.0]]
    everything = ELCRec(ModelConfig(n_items=9, hidden=2, n_heads=1, n_intents=2))  # the reference
    assert everything.pool(hidden, items).tolist() == [[2.0, 3.0], [8.0, 9.0]]
