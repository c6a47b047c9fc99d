"""Checkpoints: atomic round trips, clear errors for damaged files, and the authors' state-dict format."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from elcrec_core.train.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_model,
    refuse_unsafe_payload,
    save_checkpoint,
)

V, L, D, K, HEADS = 9, 6, 8, 3, 2  # reference item table rows (n_items = V - 2), positions, hidden, intents


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------------------------------ save / load
def test_save_load_round_trip_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "ckpt.pt"
    payload = {"model": {"w": torch.randn(3, 4, generator=_gen(0))}, "epoch": 7, "name": "x", "hist": [0.5, 1.5]}
    save_checkpoint(path, payload)
    save_checkpoint(path, {**payload, "epoch": 8})  # overwrite in place
    assert [p.name for p in path.parent.iterdir()] == ["ckpt.pt"]
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 8 and loaded["name"] == "x" and loaded["hist"] == [0.5, 1.5]
    assert torch.equal(loaded["model"]["w"], payload["model"]["w"])


@pytest.mark.parametrize(
    "n_values",
    [
        pytest.param(100, id="small"),
        pytest.param(2000, id="8kB-tensor"),
    ],
)
def test_truncated_checkpoint_raises_checkpoint_error(tmp_path: Path, n_values: int) -> None:
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"w": torch.arange(float(n_values))})
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CheckpointError, match=str(path)):
        load_checkpoint(path)


GARBAGE = [
    pytest.param(bytes(range(256)) * 3, id="binary"),
    pytest.param(b"\x00" * 100, id="zeros"),
    pytest.param(b"", id="empty"),
    pytest.param(b"this is not a checkpoint\n", id="text"),
    pytest.param(b"hello", id="text-keyerror"),
]


@pytest.mark.parametrize("blob", GARBAGE)
def test_garbage_checkpoint_raises_checkpoint_error(tmp_path: Path, blob: bytes) -> None:
    path = tmp_path / "garbage.pt"
    path.write_bytes(blob)
    with pytest.raises(CheckpointError, match=str(path)):
        load_checkpoint(path)


def test_a_data_file_given_as_checkpoint_says_it_is_no_checkpoint_and_a_cut_one_that_it_is_damaged(
        tmp_path: Path) -> None:
    """An events CSV given as --checkpoint read "is corrupt or truncated: pop from empty list"; a Markdown file then
    passed on torch's advice to load it with weights_only=False (which runs any code a file holds)."""
    for name, text in (("events.csv", "user_id,item_id,timestamp\nu,a,1\n"), ("README.md", "# elcrec\n\nText\n")):
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(CheckpointError) as refused:
            load_checkpoint(path)
        assert str(refused.value) == (f"{path} is not a PyTorch checkpoint (such as the best.pt or last.pt that "
                                      f"elcrec train writes): it begins {text.encode()[:8]!r}, not as torch.save's "
                                      "zip archive or pickle does")
    cut = tmp_path / "cut.pt"
    save_checkpoint(cut, {"w": torch.arange(100.0)})
    cut.write_bytes(cut.read_bytes()[:300])
    with pytest.raises(CheckpointError, match=f"^checkpoint {cut} is corrupt or truncated: "):
        load_checkpoint(cut)
    cut.write_bytes(b"")
    with pytest.raises(CheckpointError, match=f"^checkpoint {cut} is empty \\(a write cut short\\?\\)$"):
        load_checkpoint(cut)
    legacy = tmp_path / "legacy.pt"  # torch.save's format before 1.6 still loads
    torch.save({"w": torch.arange(3.0)}, legacy, _use_new_zipfile_serialization=False)
    assert torch.equal(load_checkpoint(legacy)["w"], torch.arange(3.0))


def test_a_pickled_object_is_named_so_and_a_payload_that_would_make_one_is_refused_before_training(
        tmp_path: Path) -> None:
    """torch.save(model) read "corrupt or truncated" and quoted torch's advice to load it with weights_only=False;
    train(extra_payload={"item_ids": <numpy array>}) trained every epoch, then called its own best.pt corrupt
    (helper-193)."""
    path = tmp_path / "whole.pt"
    torch.save(torch.nn.Linear(2, 2), path)
    with pytest.raises(CheckpointError) as refused:
        load_checkpoint(path)
    assert str(refused.value).startswith(f"{path} holds an object it does not allow (torch.nn.modules.linear.Linear), "
                                         "which a checkpoint's safe load (weights_only) refuses: a whole pickled model")
    assert "weights_only` set to `False`" not in str(refused.value)
    # a name that no module loaded here holds: a script's class (torch.save(model) in __main__, the common case) or a
    # damaged byte; said so, without torch's advice to allowlist it (it read "corrupt or truncated" and quoted that
    # advice, helper-202)
    legacy = tmp_path / "legacy.pt"
    torch.save({"w": torch.arange(3.0)}, legacy, _use_new_zipfile_serialization=False)
    assert b"torch._utils" in legacy.read_bytes()
    legacy.write_bytes(legacy.read_bytes().replace(b"torch._utils", b"torch._utilz"))
    script = tmp_path / "script.pt"

    class Net(torch.nn.Linear):
        pass

    Net.__module__, Net.__qualname__, main = "__main__", "Net", sys.modules["__main__"]
    main.Net = Net  # a script's class, as its own torch.save(model) pickles it
    try:
        torch.save(Net(2, 2), script)
    finally:
        del main.Net
    for file, name in ((legacy, "torch._utilz._rebuild_tensor_v2"), (script, "__main__.Net")):
        with pytest.raises(CheckpointError) as refused:
            load_checkpoint(file)
        assert str(refused.value).startswith(
            f"{file} names GLOBAL {name}, which no module loaded here holds: a pickled object of a script's class "
            "(torch.save(model) in __main__) or of a package not loaded, or a damaged byte in the name"), file
        assert "allowlist" not in str(refused.value) and "weights_only` set to `False`" not in str(refused.value)
    refuse_unsafe_payload({"item_ids": ["a", "b"], "n": 3, "w": torch.ones(2)}, "extra_payload")  # all loadable
    with pytest.raises(ValueError, match=r"^extra_payload\['item_ids'\] holds an object it does not allow \(numpy\."):
        refuse_unsafe_payload({"n": 3, "item_ids": np.array(["a", "b"], dtype=object)}, "extra_payload")
    with pytest.raises(ValueError, match=r"^extra_payload\['f'\] holds a function, which torch.save cannot write"):
        refuse_unsafe_payload({"f": lambda x: x}, "extra_payload")  # pickle's own error, not a ValueError
    from elcrec_core.data.sequences import Sequences
    from elcrec_core.train.loop import train
    from tests.train.small import small_config

    seqs = Sequences.from_lists(list(range(8)), [[1, 2, 3, 4, 5]] * 8)
    with pytest.raises(ValueError, match=r"^extra_payload\['ids'\] holds"):
        train(seqs, small_config(epochs=1), tmp_path / "run", log=lambda _: None, extra_payload={"ids": np.arange(3)})
    assert not (tmp_path / "run" / "last.pt").exists()  # refused before its first epoch


def test_a_write_removes_the_temporary_files_that_killed_writers_left(tmp_path: Path) -> None:
    """A kill while last.pt was written left .last.pt.tmp-<pid> (22 MB) for good, one more each time (helper-203);
    a running process's own stays (a writer now)."""
    import os
    import subprocess

    ended = subprocess.Popen(["true"])
    ended.wait()  # a process id that no process holds now
    dead, alive = tmp_path / f".last.pt.tmp-{ended.pid}", tmp_path / f".last.pt.tmp-{os.getppid()}"
    other = tmp_path / f".best.pt.tmp-{ended.pid}"  # another checkpoint's: its own write removes it
    for left in (dead, alive, other):
        left.write_bytes(b"half")
    save_checkpoint(tmp_path / "last.pt", {"epoch": 1})
    assert not dead.exists() and alive.exists() and other.exists()
    assert load_checkpoint(tmp_path / "last.pt") == {"epoch": 1}


def test_missing_checkpoint_raises_checkpoint_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.pt"
    with pytest.raises(CheckpointError, match=str(path)):
        load_checkpoint(path)


def test_non_dict_checkpoint_raises_checkpoint_error(tmp_path: Path) -> None:
    path = tmp_path / "tensor.pt"
    torch.save(torch.zeros(2), path)
    with pytest.raises(CheckpointError, match="not a dict"):
        load_checkpoint(path)


def test_a_checkpoint_of_nan_weights_is_refused_but_where_nan_scores_are_judged(tmp_path: Path) -> None:
    """Bytes overwritten in a best.pt (item rows read as NaN) loaded without a word: recommend dropped those items
    and said a user's history held no known item, a warm start diverged with advice to lower the learning rate
    (helper-234). A model of NaN weights is refused, naming the file and the count; the gate and the evaluators,
    which judge non-finite scores themselves, still load it with finite=False."""
    from elcrec_core.config.settings import ExperimentConfig, ModelConfig
    from elcrec_core.model.elcrec import ELCRec
    from elcrec_core.train.state import model_payload
    from elcrec_core.train.warm_start import warm_start

    config = ModelConfig(n_items=9, hidden=8, n_heads=2, n_layers=1, max_len=6, n_intents=2)
    model = ELCRec(config)
    with torch.no_grad():
        model.item_emb.weight[2:4] = float("nan")
        model.item_emb.weight[5, 0] = float("inf")
    exp = ExperimentConfig(model={"hidden": 8, "n_heads": 2, "n_layers": 1, "max_len": 6, "n_intents": 2})
    path = tmp_path / "best.pt"
    save_checkpoint(path, model_payload(model, exp, {}))
    message = (f"^checkpoint {path} is corrupt: 17 of its weights are NaN or infinite, which no trained model's are "
               r"\(training stops where its loss is not finite\)$")
    with pytest.raises(CheckpointError, match=message):
        load_model(path)
    with pytest.raises(CheckpointError, match=message):
        warm_start(ELCRec(config), path)
    loaded, _ = load_model(path, finite=False)
    assert int(torch.isnan(loaded.item_emb.weight).sum()) == 16


# ------------------------------------------------------------------------------------------ reference format
def reference_state_dict(n_layers: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """The authors' key names (21 for one layer) with random, not-small values."""
    g = _gen(seed)

    def rnd(*shape: int, scale: float = 0.3, offset: float = 0.0) -> torch.Tensor:
        return offset + scale * torch.randn(*shape, generator=g)

    state = {
        "item_embeddings.weight": rnd(V, D, scale=1.0),
        "position_embeddings.weight": rnd(L, D, scale=1.0),
        "LayerNorm.weight": rnd(D, scale=0.1, offset=1.0),
        "LayerNorm.bias": rnd(D, scale=0.1),
        "cluster_centers": rnd(K, D, scale=1.0),
    }
    for i in range(n_layers):
        p = f"item_encoder.layer.{i}."
        for name in ("query", "key", "value", "dense"):
            state[f"{p}attention.{name}.weight"] = rnd(D, D)
            state[f"{p}attention.{name}.bias"] = rnd(D, scale=0.1)
        state[f"{p}attention.LayerNorm.weight"] = rnd(D, scale=0.1, offset=1.0)
        state[f"{p}attention.LayerNorm.bias"] = rnd(D, scale=0.1)
        state[f"{p}intermediate.dense_1.weight"] = rnd(4 * D, D)
        state[f"{p}intermediate.dense_1.bias"] = rnd(4 * D, scale=0.1)
        state[f"{p}intermediate.dense_2.weight"] = rnd(D, 4 * D)
        state[f"{p}intermediate.dense_2.bias"] = rnd(D, scale=0.1)
        state[f"{p}intermediate.LayerNorm.weight"] = rnd(D, scale=0.1, offset=1.0)
        state[f"{p}intermediate.LayerNorm.bias"] = rnd(D, scale=0.1)
    return state


def _layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    u = x.mean(-1, keepdim=True)
    s = (x - u).pow(2).mean(-1, keepdim=True)
    return weight * (x - u) / torch.sqrt(s + eps) + bias


def _linear(x: torch.Tensor, state: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    return x @ state[f"{name}.weight"].T + state[f"{name}.bias"]


def reference_forward(state: dict[str, torch.Tensor], items: torch.Tensor, n_heads: int) -> torch.Tensor:
    """The authors' SASRec encoder in eval mode, written out step by step (float64)."""
    state = {k: v.double() for k, v in state.items()}
    batch, length = items.shape
    hidden = state["item_embeddings.weight"].shape[1]
    head = hidden // n_heads
    x = state["item_embeddings.weight"][items] + state["position_embeddings.weight"][torch.arange(length)]
    x = _layer_norm(x, state["LayerNorm.weight"], state["LayerNorm.bias"])

    key_mask = (items > 0).long()[:, None, None, :]
    causal = (torch.triu(torch.ones(1, length, length), diagonal=1) == 0)[:, None].long()
    additive = (1.0 - key_mask * causal) * -10000.0

    def heads(t: torch.Tensor) -> torch.Tensor:
        return t.view(batch, length, n_heads, head).permute(0, 2, 1, 3)

    n_layers = len({k.split(".")[2] for k in state if k.startswith("item_encoder.layer.")})
    for i in range(n_layers):
        p = f"item_encoder.layer.{i}."
        q, k, v = (heads(_linear(x, state, f"{p}attention.{n}")) for n in ("query", "key", "value"))
        scores = q @ k.transpose(-1, -2) / math.sqrt(head) + additive
        context = (scores.softmax(-1) @ v).permute(0, 2, 1, 3).reshape(batch, length, hidden)
        attn = _linear(context, state, f"{p}attention.dense")
        x = _layer_norm(attn + x, state[f"{p}attention.LayerNorm.weight"], state[f"{p}attention.LayerNorm.bias"])
        h = _linear(x, state, f"{p}intermediate.dense_1")
        h = h * 0.5 * (1.0 + torch.erf(h / math.sqrt(2.0)))
        h = _linear(h, state, f"{p}intermediate.dense_2")
        x = _layer_norm(
            h + x, state[f"{p}intermediate.LayerNorm.weight"], state[f"{p}intermediate.LayerNorm.bias"]
        )
    return x


@pytest.mark.parametrize("n_layers", [1, 2])
def test_reference_state_dict_loads_and_encodes_like_the_reference(tmp_path: Path, n_layers: int) -> None:
    state = reference_state_dict(n_layers)
    assert len(state) == 5 + 16 * n_layers
    path = tmp_path / "ELCRec-ref.pt"
    torch.save(state, path)
    model, payload = load_model(path)
    assert payload == {"format": "reference"}
    assert not model.training
    cfg = model.cfg
    assert (cfg.n_items, cfg.vocab_size, cfg.hidden, cfg.max_len, cfg.n_intents, cfg.n_layers, cfg.n_heads) == (
        V - 2, V, D, L, K, n_layers, HEADS,
    )
    assert torch.equal(model.item_table(), state["item_embeddings.weight"][1 : V - 1])
    assert torch.equal(model.centres.detach(), state["cluster_centers"])

    items = torch.tensor([
        [0, 0, 3, 1, 5, 2],  # left padding
        [0, 0, 0, 0, 0, 4],
        [1, 2, 3, 4, 5, 6],
        [0, 7, 7, 2, 6, 1],
    ])
    expected = reference_forward(state, items, HEADS)
    with torch.no_grad():
        got = model(items).double()
        exact = model.double()(items)
    # float64: identical semantics everywhere, left-padding query rows (all keys masked) included
    torch.testing.assert_close(exact, expected, atol=1e-9, rtol=0)
    with torch.no_grad():
        torch.testing.assert_close(model.user_representation(items), expected[:, -1], atol=1e-9, rtol=0)
    # float32: real positions to 1e-5. Padding rows add -10000 to every score, which float32 holds only to
    # ulp(10000) ~ 1e-3, in the reference as here, so those rows agree only to that resolution.
    real = items > 0
    torch.testing.assert_close(got[real], expected[real], atol=1e-5, rtol=0)
    torch.testing.assert_close(got[~real], expected[~real], atol=2e-3, rtol=0)


def test_our_checkpoint_round_trips_through_load_model(tmp_path: Path) -> None:
    ref = tmp_path / "ref.pt"
    torch.save(reference_state_dict(1, seed=3), ref)
    model, _ = load_model(ref)
    ours = tmp_path / "ours.pt"
    cfg = {k: getattr(model.cfg, k) for k in ("n_items", "vocab_size", "hidden", "n_layers", "n_heads", "max_len",
                                              "n_intents")}
    save_checkpoint(ours, {"model": model.state_dict(), "model_config": cfg, "epoch": 2})
    again, payload = load_model(ours)
    assert payload["epoch"] == 2
    items = torch.tensor([[0, 0, 1, 2, 3, 4], [0, 0, 0, 0, 0, 6]])
    with torch.no_grad():
        assert torch.equal(again(items), model(items))


def test_load_model_rejects_an_unknown_payload(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    save_checkpoint(path, {"weights": torch.zeros(2)})
    with pytest.raises(CheckpointError, match="neither"):
        load_model(path)


def test_a_cpu_run_on_a_gpu_machine_saves_no_cuda_rng_state(tmp_path: Path, monkeypatch) -> None:
    """The CUDA generators' states are saved for a model on CUDA only: reading them opened a CUDA context in every
    process of a CPU run on a machine with a GPU."""
    from elcrec_core.config.settings import ExperimentConfig, ModelConfig
    from elcrec_core.model.elcrec import ELCRec
    from elcrec_core.train.checkpoint import load_checkpoint
    from elcrec_core.train.state import EarlyStopping, save_training_state

    def no_cuda_here():
        raise AssertionError("CUDA touched by a CPU run")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", no_cuda_here)
    model = ELCRec(ModelConfig(n_items=5, hidden=8, n_heads=2, n_layers=1, max_len=4, n_intents=2))
    optimizer = torch.optim.Adam(model.parameters())
    save_training_state(tmp_path / "last.pt", model, optimizer, ExperimentConfig(), 0, EarlyStopping(3), [],
                        torch.Generator())
    assert "cuda" not in load_checkpoint(tmp_path / "last.pt")["rng"]


# ------------------------------------------------------------------------------------------ the item catalogue


def test_data_is_mapped_onto_a_checkpoints_catalogue_by_id_and_only_its_items_count(tmp_path):
    """With an item index beside the checkpoint, data without item ids (a sequence file: its integers are the ids)
    is matched by id, as data with ids is (it was matched by position); only the items the sequences hold are
    mapped (every integer up to the largest was, 4 GB for one id of 20,000,000), and unknown ones come after."""
    import numpy as np

    from elcrec_core.data.sequences import Sequences, write_item_index_file
    from elcrec_core.train.checkpoint import onto_catalogue, onto_item_ids

    checkpoint = tmp_path / "best.pt"
    write_item_index_file(tmp_path / "item_index.parquet", np.array(["9", "1", "5"]))
    seqs = Sequences(np.array(["u", "v"]), np.array([5, 9, 700, 9]), np.array([0, 3, 4]), 1000)
    mapped, ids = onto_catalogue(checkpoint, 3, seqs, None)
    assert (mapped.items.tolist(), mapped.n_items, ids.tolist()) == ([3, 1, 4, 1], 4, ["9", "1", "5", "700"])
    named = np.array([f"i{n}" for n in range(1, 1001)])  # the same data with ids: i5, i9, i700
    mapped, ids = onto_item_ids(np.array(["i9", "i1", "i5"]), seqs, named, "m")
    assert (mapped.items.tolist(), mapped.n_items, ids.tolist()) == ([3, 1, 4, 1], 4, ["i9", "i1", "i5", "i700"])
    with pytest.raises(CheckpointError, match="^m is from another item catalogue: none of the data's 3 items"):
        onto_item_ids(np.array(["x"]), seqs, named, "m")
