"""Initialisation of the intent centres."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans

from elcrec_core.config.settings import TrainConfig
from elcrec_core.data.sequences import SequenceTensors
from elcrec_core.model.elcrec import ELCRec, eval_mode


@torch.no_grad()
def init_centres(
    model: ELCRec, data: SequenceTensors, users: torch.Tensor, cfg: TrainConfig, batch_size: int = 2048
) -> None:
    """Centres from k-means over the pooled (eval-mode) encodings of the training inputs, L2-normalised
    (the reference's initialisation), or random unit vectors (``centre_init = "random"``). k-means runs on a seeded
    uniform sample of at most ``kmeans_sample`` of the inputs (its time grows with the number of points).

    ``users`` int64 [U]: the training users, rows of ``data``; each input is the user's history without its last
    three items (the valid and test targets and the last training target) in ``max_len`` columns, pooled to [U, d]
    as :meth:`ELCRec.pool`. Writes ``model.centres`` [K, d] in place (unit rows, float32). The paper initialises
    the cluster centres as learnable parameters; the reference (``ELCRecTrainer.iteration`` at epoch 0) starts
    them from faiss k-means over the mean-pooled encodings and normalises them. Raises ValueError when fewer than
    K = ``n_intents`` inputs are left to cluster."""
    k = model.cfg.n_intents
    if cfg.centre_init == "random":
        gen = torch.Generator().manual_seed(cfg.seed)
        model.centres.copy_(F.normalize(torch.randn(model.centres.shape, generator=gen), dim=1))
        return
    if len(users) > cfg.kmeans_sample:
        pick = torch.randperm(len(users), generator=torch.Generator().manual_seed(cfg.seed))[: cfg.kmeans_sample]
        users = users[pick.sort().values]
    device = model.centres.device
    pooled = []
    with eval_mode(model):
        for batch in users.split(batch_size):
            items = data.window(batch, 3, model.cfg.max_len).to(device)
            pooled.append(model.pool(model(items), items).float().cpu())
    x = torch.cat(pooled).numpy().astype(np.float32)
    if len(x) < k:
        raise ValueError(f"k-means needs at least n_intents = {k} training sequences, got {len(x)}")
    km = KMeans(n_clusters=k, n_init=cfg.kmeans_restarts, max_iter=cfg.kmeans_iters, random_state=cfg.seed)
    km.fit(x)
    model.centres.copy_(F.normalize(torch.as_tensor(km.cluster_centers_, dtype=torch.float32), dim=1))
