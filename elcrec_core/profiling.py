"""Cluster-intent profiling: which learned intent each user belongs to."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from elcrec_core.evaluation import known_items
from elcrec_core.model import ELCRec
from elcrec_core.sequences import SequenceTensors


@dataclass
class UserIntents:
    """Per user: the nearest L2-normalised centre to the L2-normalised mean-pooled sequence representation (the
    assignment the intent losses use), its squared distance, and the runner-up centre."""

    intent: np.ndarray
    distance: np.ndarray
    runner_up: np.ndarray
    representation: np.ndarray  # [U, d] normalised mean-pooled states, for maps and silhouettes


@torch.no_grad()
def assign_user_intents(model: ELCRec, data: SequenceTensors, batch_size: int = 2048) -> UserIntents:
    """Assign every user of ``data`` (whole history, most recent max_len items) to its nearest intent."""
    model.eval()
    centres = F.normalize(model.centres.float(), dim=1)
    parts: list[tuple[torch.Tensor, ...]] = []
    for batch in torch.arange(len(data)).split(batch_size):
        items = known_items(data.window(batch, 0, model.cfg.max_len), model.cfg.n_items)
        pooled = F.normalize(model(items).mean(1).float(), dim=1)
        dist = torch.cdist(pooled, centres).square()
        best = dist.topk(min(2, len(centres)), dim=1, largest=False)
        runner_up = best.indices[:, -1] if best.indices.shape[1] > 1 else best.indices[:, 0]
        parts.append((best.indices[:, 0], best.values[:, 0], runner_up, pooled))
    intent, distance, runner_up, rep = (torch.cat(p).numpy() for p in zip(*parts))
    return UserIntents(intent, distance, runner_up, rep)


def intent_sizes(intents: np.ndarray, n_intents: int) -> np.ndarray:
    """Number of users per intent (dead intents count 0)."""
    return np.bincount(intents, minlength=n_intents)
