"""Sequences where SequenceTensors are taken, and the other way round, refused naming the argument (helper-252):
they read "'Sequences' object has no attribute 'ends'" (or 'known', 'cfg') deep in the library."""

import re

import pytest
import torch

from elcrec_core.config.settings import ModelConfig
from elcrec_core.data.sequences import Sequences, SequenceTensors
from elcrec_core.evaluate.baselines import MostPopular
from elcrec_core.evaluate.ranking import evaluate
from elcrec_core.evaluate.scoring import ELCRecRecommender, evaluate_recommender, recommender_metrics
from elcrec_core.intents.profiles import assign_user_intents
from elcrec_core.model.elcrec import ELCRec
from elcrec_core.serve.recommend import recommend

TENSORS = "must be SequenceTensors, not Sequences: give SequenceTensors.from_sequences(seqs)"


@pytest.fixture()
def seqs() -> Sequences:
    return Sequences.from_lists(["a", "b"], [[1, 2, 3, 4], [2, 3, 4, 5]], n_items=5)


@pytest.fixture()
def model() -> ELCRec:
    torch.manual_seed(0)
    return ELCRec(ModelConfig(n_items=5, hidden=8, n_heads=1, n_layers=1, max_len=4, n_intents=2))


def test_the_evaluators_refuse_sequences(seqs, model):
    rec = ELCRecRecommender(model)
    for call in (lambda: evaluate_recommender(rec, seqs, "test"), lambda: recommender_metrics(rec, seqs, "test"),
                 lambda: evaluate(model, seqs, "test")):
        with pytest.raises(TypeError, match=re.escape(f"the data to evaluate on {TENSORS}")):
            call()
    data = SequenceTensors.from_sequences(seqs)
    with pytest.raises(TypeError, match=re.escape(f"seen {TENSORS}")):
        recommender_metrics(rec, data, "test", seen=seqs)
    assert recommender_metrics(rec, data, "test")["HR@20"] == 1.0  # 5 items: every target in the top 20
    assert recommender_metrics(rec, data, "test", seen=data)["HR@20"] == 0.0  # seen holds the targets: misses


def test_recommend_names_its_argument(seqs, model):
    rec, data, users = ELCRecRecommender(model), SequenceTensors.from_sequences(seqs), torch.tensor([0])
    with pytest.raises(TypeError, match=re.escape(f"recommend's data {TENSORS}")):  # it said "a baseline is fitted"
        recommend(MostPopular().fit(data, "valid"), seqs, users, k=2)
    with pytest.raises(TypeError, match=re.escape(f"recommend's popularity {TENSORS}")):
        recommend(rec, data, users, k=2, popularity=seqs)
    with pytest.raises(TypeError, match=re.escape(f"seen {TENSORS}")):
        recommend(rec, data, users, k=2, seen=seqs)
    items, _ = recommend(MostPopular().fit(data, "valid"), data, users, k=1, popularity=data, seen=data)
    assert items.tolist() == [[5]]  # user a had 1..4: the one item left


def test_intents_and_tensors_take_sequences(seqs, model):
    data = SequenceTensors.from_sequences(seqs)
    with pytest.raises(TypeError, match=re.escape("assign_user_intents's seqs must be Sequences, not "
                                                  "SequenceTensors: read_sequence_parquet returns them")):
        assign_user_intents(model, data)
    with pytest.raises(TypeError, match=re.escape("SequenceTensors.from_sequences's seqs must be Sequences, not list")):
        SequenceTensors.from_sequences([[1, 2]])
    assert assign_user_intents(model, seqs).intent.shape == (2,)
    assert data.items.tolist() == [1, 2, 3, 4, 2, 3, 4, 5] and data.ends.tolist() == [4, 8]


def test_elcrec_recommender_takes_a_model(model, tmp_path):
    with pytest.raises(TypeError, match=re.escape("ELCRecRecommender takes an ELCRec model, such as "
                                                  "load_model(path)[0], not str")):
        ELCRecRecommender(str(tmp_path / "best.pt"))
    with pytest.raises(TypeError, match=re.escape("not tuple (load_model returns (model, payload))")):
        ELCRecRecommender((model, {}))
    assert ELCRecRecommender(model).n_items == 5


def test_elcrec_recommender_scores_the_model_inside_compile_and_ddp(model, seqs, tmp_path):
    """A torch.compile'd model (which the check of helper-252 refused, where it had scored) and one inside
    DistributedDataParallel or DataParallel (which read "has no attribute 'cfg'") are scored as the model itself
    (helper-254)."""
    users, history = torch.tensor([0, 1]), SequenceTensors.from_sequences(seqs).items.view(2, 4)
    expected = ELCRecRecommender(model).score(users, history)
    torch.distributed.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        ddp = torch.nn.parallel.DistributedDataParallel(model)
        for wrapped in (torch.compile(model), ddp, torch.nn.DataParallel(model), torch.compile(ddp)):
            rec = ELCRecRecommender(wrapped)
            assert rec.model is model and rec.n_items == 5
            assert torch.equal(rec.score(users, history), expected)
    finally:
        torch.distributed.destroy_process_group()
    with pytest.raises(TypeError, match=re.escape("not Linear")):  # a module that is no ELCRec, wrapped or not
        ELCRecRecommender(torch.compile(torch.nn.Linear(2, 2)))
