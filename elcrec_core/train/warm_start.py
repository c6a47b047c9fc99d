"""Start training from a previous model: the daily retrain converges in fewer epochs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from elcrec_core.config.settings import SHAPE_FIELDS, ExperimentConfig, ModelConfig, settings_fields
from elcrec_core.model.elcrec import ELCRec
from elcrec_core.train.checkpoint import load_model

ITEM_TABLE = "item_emb.weight"


def shape_changes(saved: ModelConfig, wanted: ModelConfig) -> list[str]:
    """How the parameter shapes of a model of ``saved`` settings differ from those of ``wanted`` (a run's), as
    ``max_len 50 (this run 10)``; none where one's weights fit the other. Other settings, such as dropout, may
    differ: the weights still carry over."""
    return changed_settings(asdict(saved), asdict(wanted), SHAPE_FIELDS)


def run_settings(exp: ExperimentConfig) -> dict[str, Any]:
    """Every setting of a run of ``exp`` by its schema name, in schema order (the model's, then the train's: see
    :func:`~elcrec_core.config.settings.settings_fields`, 43 of them; not n_items and vocab_size, which come from the
    data): the model's as given or by default (config.json's ``model`` holds the given ones alone), a pair as a
    list. Values are JSON's types (int, float, str, bool, list)."""
    model = ModelConfig(n_items=1, **exp.model)
    values = {setting.name: getattr(model if setting.section == "model" else exp.train, setting.name)
              for setting in settings_fields()}
    return {name: list(value) if isinstance(value, tuple) else value for name, value in values.items()}


def changed_settings(before: Mapping[str, Any], now: Mapping[str, Any], names: Iterable[str]) -> list[str]:
    """The settings of ``names`` whose values in ``before`` and ``now`` (this run's) differ, in that order, as
    ``hidden 32 (this run 64)``; a name missing from ``before`` counts as differing (shown as ``None``)."""
    return [f"{name} {before.get(name)} (this run {now[name]})" for name in names if before.get(name) != now[name]]


@torch.no_grad()
def warm_start(model: ELCRec, checkpoint: str | Path) -> dict[str, int]:
    """Copy a previous model's weights into ``model``: one of our checkpoints or the authors' state dict (see
    :func:`~elcrec_core.train.checkpoint.load_model`). Item indices are stable across runs (known items keep
    their index, new ones are appended), so the rows of padding and the known items are copied (not a reference
    table's extra mask row) and new items keep their fresh initialisation; the encoder and the intent centres are
    carried over as they are. Raises ValueError for another architecture (a parameter missing or of another
    shape: every model setting that differs named at once, as ``n_intents 256 (this run 32)``, where it named one
    tensor, ``centres is (256, 64), here (32, 64)``: helper-237), CheckpointError for a file that is no model."""
    previous, _ = load_model(checkpoint)
    if changes := shape_changes(previous.cfg, model.cfg):
        raise ValueError(f"{checkpoint} holds a model of other shapes: {', '.join(changes)}; give this run its "
                         "settings (elcrec train --help names their flags; the authors' Beauty model: --preset beauty)")
    state, known = previous.state_dict(), previous.cfg.n_items
    own = model.state_dict()
    if set(state) != set(own):
        raise ValueError(f"{checkpoint} holds another architecture: {sorted(set(state) ^ set(own))}")
    for name, tensor in state.items():
        if name == ITEM_TABLE:
            rows = min(known + 1, len(own[name]))  # row 0 is padding, row i item i
            own[name][:rows] = tensor[:rows]
        elif tensor.shape != own[name].shape:
            raise ValueError(f"{checkpoint}: {name} is {tuple(tensor.shape)}, here {tuple(own[name].shape)}")
        else:
            own[name].copy_(tensor)
    return {"known_items": min(known, model.cfg.n_items), "new_items": max(0, model.cfg.n_items - known)}
