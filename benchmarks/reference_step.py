"""A re-creation of the ELCRec authors' training computation, written for timing against ``elcrec_core``.

It reproduces how the public reference code (yueliu1999/ELCRec, Hybrid mode, the Beauty settings) structures the
work, following the step specified in ``shared/reference/README.md``; it is our own code, not theirs:

- SASRec with a hand-written LayerNorm (mean and variance in Python-level tensor ops), the erf GELU written out,
  ``nn.Dropout`` modules, separate query/key/value projections and explicit attention with an additive -10000 mask;
- a per-sample Python dataset: for each user input items[:-3], targets items[1:-2], one negative per input
  position redrawn with ``random`` while it is in the user's set, and two views by list-based crop/mask/reorder,
  padded to L, batched by ``torch.utils.data.DataLoader`` (batch 256, shuffled, num_workers=0);
- a step that encodes the input once and cat(view1, view2) twice, once for each contrastive loss (5 x B sequences
  per batch of B users), with the distance matrices built by ``repeat`` and the NT-Xent built from three products.

Validation and the centre initialisation follow the same code paths (full score matrix over every item row,
history set to 0, ``np.argpartition`` top 20; mean-pooled eval-mode encodings of the training samples clustered by
k-means, here scikit-learn's as faiss is not installed). As in the reference, neither runs under ``no_grad``.
"""

from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from scipy.sparse import csr_matrix
from sklearn.cluster import KMeans
from torch import nn
from torch.utils.data import DataLoader, Dataset

MASK_VALUE = -10000.0
TOP_K = 20


@dataclass
class ReferenceConfig:
    """The Beauty settings of the reference run script (Hybrid mode)."""

    item_size: int  # max item id + 2: row 0 is padding, the last row an (unused) mask id
    hidden: int = 64
    n_layers: int = 1
    n_heads: int = 2
    max_len: int = 50
    dropout: float = 0.5
    attn_dropout: float = 0.5
    n_intents: int = 256
    init_range: float = 0.02
    batch_size: int = 256
    lr: float = 1e-3
    rec_weight: float = 1.0
    cf_weight: float = 0.1
    intent_cf_weight: float = 0.1
    trade_off: float = 10.0
    prototype: Literal["shift", "concat"] = "shift"
    temperature: float = 1.0
    crop_tau: float = 0.2
    mask_gamma: float = 0.7
    reorder_beta: float = 0.2
    kmeans_iters: int = 20
    kmeans_restarts: int = 5
    seed: int = 2024


# ----------------------------------------------------------------------------------------- data
def read_user_sequences(path: str | Path) -> tuple[list[list[int]], int]:
    """Lines ``user item item ...`` -> (item lists in file order, the largest item id)."""
    user_seq = []
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) > 1:
            user_seq.append([int(p) for p in parts[1:]])
    return user_seq, max(max(items) for items in user_seq)


def history_matrix(user_seq: list[list[int]], n_cols: int, drop_last: int) -> csr_matrix:
    """Sparse users x items matrix with a 1 for every item of items[:-drop_last] (what validation excludes)."""
    rows, cols = [], []
    for user, items in enumerate(user_seq):
        for item in items[:-drop_last]:
            rows.append(user)
            cols.append(item)
    return csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(user_seq), n_cols))


def crop(seq: list[int], tau: float) -> list[int]:
    """A random contiguous run of int(tau n) items; one random item when that is 0."""
    seq = copy.deepcopy(seq)  # the reference deep-copies in every operator; it is part of its per-sample cost
    run = int(tau * len(seq))
    start = random.randint(0, len(seq) - run - 1)
    return [seq[start]] if run < 1 else seq[start : start + run]


def mask(seq: list[int], gamma: float) -> list[int]:
    """int(gamma n) random positions set to the padding id 0."""
    seq = copy.deepcopy(seq)
    for idx in random.sample(range(len(seq)), k=int(gamma * len(seq))):
        seq[idx] = 0
    return seq


def reorder(seq: list[int], beta: float) -> list[int]:
    """A random contiguous run of int(beta n) items shuffled in place."""
    seq = copy.deepcopy(seq)
    run = int(beta * len(seq))
    start = random.randint(0, len(seq) - run - 1)
    part = seq[start : start + run]
    random.shuffle(part)
    return seq[:start] + part + seq[start + run :]


def random_view(seq: list[int], cfg: ReferenceConfig) -> list[int]:
    """One of crop, mask and reorder, picked uniformly at random."""
    op = random.randint(0, 2)
    if op == 0:
        return crop(seq, cfg.crop_tau)
    if op == 1:
        return mask(seq, cfg.mask_gamma)
    return reorder(seq, cfg.reorder_beta)


def pad_left(ids: list[int], length: int) -> list[int]:
    """Left-pad with 0 to ``length`` and keep the last ``length`` ids."""
    return ([0] * (length - len(ids)) + ids)[-length:]


def negative_item(seen: set[int], item_size: int) -> int:
    """A uniform id in 1..item_size-1, redrawn while it is in ``seen``."""
    item = random.randint(1, item_size - 1)
    while item in seen:
        item = random.randint(1, item_size - 1)
    return item


class ReferenceDataset(Dataset):
    """One sample per user, built in Python on every access.

    ``train``: ((user, input, targets, negatives, answer), [view1, view2]) with input items[:-3];
    ``valid``: (user, input, targets, negatives, answer) with input items[:-2] and answer [items[-2]].
    """

    def __init__(self, user_seq: list[list[int]], cfg: ReferenceConfig, split: Literal["train", "valid"]) -> None:
        self.user_seq = user_seq
        self.cfg = cfg
        self.split = split

    def __len__(self) -> int:
        return len(self.user_seq)

    def __getitem__(self, index: int):
        items = self.user_seq[index]
        if self.split == "train":
            input_ids, targets, answer = items[:-3], items[1:-2], [0]
        else:
            input_ids, targets, answer = items[:-2], items[1:-1], [items[-2]]
        rec = self._rec_tensors(index, items, input_ids, targets, answer)
        if self.split == "valid":
            return rec
        views = [torch.tensor(pad_left(random_view(input_ids, self.cfg), self.cfg.max_len)) for _ in range(2)]
        return rec, views

    def _rec_tensors(self, user: int, items: list[int], input_ids: list[int], targets: list[int],
                     answer: list[int]) -> tuple[torch.Tensor, ...]:
        input_ids = copy.deepcopy(input_ids)
        seen = set(items)
        negatives = [negative_item(seen, self.cfg.item_size) for _ in input_ids]
        length = self.cfg.max_len
        return (
            torch.tensor(user, dtype=torch.long),
            torch.tensor(pad_left(input_ids, length), dtype=torch.long),
            torch.tensor(pad_left(targets, length), dtype=torch.long),
            torch.tensor(pad_left(negatives, length), dtype=torch.long),
            torch.tensor(answer, dtype=torch.long),
        )


# ----------------------------------------------------------------------------------------- model
def gelu(x: torch.Tensor) -> torch.Tensor:
    """GELU, erf form, written out."""
    return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


class HandLayerNorm(nn.Module):
    """LayerNorm from elementary ops (no fused kernel)."""

    def __init__(self, hidden: int, eps: float = 1e-12) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden))
        self.bias = nn.Parameter(torch.zeros(hidden))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(-1, keepdim=True)
        var = (x - mean).pow(2).mean(-1, keepdim=True)
        return self.weight * ((x - mean) / torch.sqrt(var + self.eps)) + self.bias


class ReferenceAttention(nn.Module):
    """Multi-head self-attention with separate q/k/v projections, explicit softmax and post-residual norm."""

    def __init__(self, cfg: ReferenceConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.head_size = cfg.hidden // cfg.n_heads
        self.query = nn.Linear(cfg.hidden, cfg.hidden)
        self.key = nn.Linear(cfg.hidden, cfg.hidden)
        self.value = nn.Linear(cfg.hidden, cfg.hidden)
        self.attn_dropout = nn.Dropout(cfg.attn_dropout)
        self.dense = nn.Linear(cfg.hidden, cfg.hidden)
        self.norm = HandLayerNorm(cfg.hidden)
        self.out_dropout = nn.Dropout(cfg.dropout)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(*x.shape[:-1], self.n_heads, self.head_size).permute(0, 2, 1, 3)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        q, k, v = (self._split_heads(proj(x)) for proj in (self.query, self.key, self.value))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_size) + mask
        probs = self.attn_dropout(nn.Softmax(dim=-1)(scores))
        context = (probs @ v).permute(0, 2, 1, 3).contiguous()
        context = context.view(*context.shape[:-2], self.n_heads * self.head_size)
        return self.norm(self.out_dropout(self.dense(context)) + x)


class ReferenceFeedForward(nn.Module):
    """d -> 4d -> d with the written-out GELU, dropout and post-residual norm."""

    def __init__(self, cfg: ReferenceConfig) -> None:
        super().__init__()
        self.dense_1 = nn.Linear(cfg.hidden, 4 * cfg.hidden)
        self.dense_2 = nn.Linear(4 * cfg.hidden, cfg.hidden)
        self.norm = HandLayerNorm(cfg.hidden)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.dropout(self.dense_2(gelu(self.dense_1(x)))) + x)


class ReferenceLayer(nn.Module):
    def __init__(self, cfg: ReferenceConfig) -> None:
        super().__init__()
        self.attention = ReferenceAttention(cfg)
        self.intermediate = ReferenceFeedForward(cfg)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.intermediate(self.attention(x, mask))


class ReferenceSASRec(nn.Module):
    """The authors' SASRec variant plus the K intent centres (``cluster_centers``)."""

    def __init__(self, cfg: ReferenceConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.item_embeddings = nn.Embedding(cfg.item_size, cfg.hidden, padding_idx=0)
        self.position_embeddings = nn.Embedding(cfg.max_len, cfg.hidden)
        self.norm = HandLayerNorm(cfg.hidden)
        self.dropout = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(ReferenceLayer(cfg) for _ in range(cfg.n_layers))
        self.cluster_centers = nn.Parameter(torch.empty(cfg.n_intents, cfg.hidden))
        self.apply(self._init_weights)
        nn.init.normal_(self.cluster_centers, std=cfg.init_range)  # replaced by k-means before training

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=self.cfg.init_range)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Item ids [B, L] -> hidden states [B, L, d]."""
        length = input_ids.shape[1]
        key_ok = (input_ids > 0).long()[:, None, None, :]
        causal = (torch.triu(torch.ones(1, length, length), diagonal=1) == 0)[:, None].long()
        allowed = (key_ok * causal).to(self.item_embeddings.weight.dtype)
        mask = (1.0 - allowed) * MASK_VALUE
        positions = torch.arange(length, dtype=torch.long).unsqueeze(0).expand_as(input_ids)
        x = self.dropout(self.norm(self.item_embeddings(input_ids) + self.position_embeddings(positions)))
        for layer in self.layers:
            x = layer(x, mask)
        return x


# ----------------------------------------------------------------------------------------- losses
def bce_rec_loss(model: ReferenceSASRec, hidden: torch.Tensor, pos_ids: torch.Tensor,
                 neg_ids: torch.Tensor) -> torch.Tensor:
    """Next-item BCE over every position, weighted by target != padding, with the reference's 1e-24 guard."""
    d = hidden.shape[-1]
    pos = model.item_embeddings(pos_ids).view(-1, d)
    neg = model.item_embeddings(neg_ids).view(-1, d)
    seq = hidden.reshape(-1, d)
    pos_logits = (pos * seq).sum(-1)
    neg_logits = (neg * seq).sum(-1)
    is_target = (pos_ids > 0).view(-1).float()
    loss = (-torch.log(torch.sigmoid(pos_logits) + 1e-24) * is_target
            - torch.log(1 - torch.sigmoid(neg_logits) + 1e-24) * is_target)
    return loss.sum() / is_target.sum()


def nce_loss(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent from the three similarity blocks, self-similarities set to -inf by boolean indexing."""
    sim11 = a @ a.T / temperature
    sim22 = b @ b.T / temperature
    sim12 = a @ b.T / temperature
    n = sim12.shape[-1]
    eye = torch.eye(n, dtype=torch.long)
    sim11[eye == 1] = float("-inf")
    sim22[eye == 1] = float("-inf")
    logits = torch.cat([torch.cat([sim12, sim11], -1), torch.cat([sim22, sim12.T], -1)], -2)
    return F.cross_entropy(logits, torch.arange(2 * n, dtype=torch.long))


def pairwise_sq_distance(x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """||x_i - c_j||^2 [N, K], with both norm terms materialised by ``repeat`` as the reference does."""
    xx = (x * x).sum(-1).reshape(-1, 1).repeat(1, c.shape[0])
    cc = (c * c).sum(-1).reshape(1, -1).repeat(x.shape[0], 1)
    return xx + cc - 2 * (x @ c.T)


def sequence_cl_loss(model: ReferenceSASRec, views: list[torch.Tensor], cfg: ReferenceConfig) -> torch.Tensor:
    """Encode cat(views); move every position by its nearest centre (shift) or append it (concat); NT-Xent on
    the flattened sequences."""
    batch = torch.cat(views)
    out = model(batch)
    n, length, k = out.shape[0], out.shape[1], model.cluster_centers.shape[0]
    centres = model.cluster_centers
    xx = (out * out).sum(-1).reshape(n, length, 1).repeat(1, 1, k)
    cc = (centres * centres).sum(-1).reshape(1, 1, k).repeat(n, length, 1)
    nearest = centres[torch.argmin(xx + cc - 2 * (out @ centres.T), dim=-1)]
    out = out + nearest if cfg.prototype == "shift" else torch.cat([out, nearest], -1)
    z1, z2 = out.view(n, -1).split(n // 2)
    return nce_loss(z1, z2, cfg.temperature)


def intent_cl_loss(model: ReferenceSASRec, views: list[torch.Tensor], intents: torch.Tensor,
                   cfg: ReferenceConfig) -> torch.Tensor:
    """Encode cat(views) again, mean-pool, and contrast each view with its user's intent centre."""
    pooled = model(torch.cat(views)).mean(1)
    v1, v2 = pooled.split(len(intents))
    return (nce_loss(v1, intents, cfg.temperature) + nce_loss(v2, intents, cfg.temperature)) / 2


# ----------------------------------------------------------------------------------------- trainer
class ReferenceTrainer:
    """Model, optimiser and the three data loaders of a reference run on ``user_seq``."""

    def __init__(self, user_seq: list[list[int]], cfg: ReferenceConfig) -> None:
        self.cfg = cfg
        self.model = ReferenceSASRec(cfg)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, betas=(0.9, 0.999), weight_decay=0.0)
        train_set = ReferenceDataset(user_seq, cfg, "train")
        self.train_loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, num_workers=0)
        self.cluster_loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=False, num_workers=0)
        self.valid_loader = DataLoader(ReferenceDataset(user_seq, cfg, "valid"), batch_size=cfg.batch_size,
                                       shuffle=False, num_workers=0)
        self.valid_history = history_matrix(user_seq, cfg.item_size, drop_last=2)

    def init_centres(self) -> None:
        """k-means over the mean-pooled eval-mode encodings of every training input; L2-normalised centroids."""
        self.model.eval()
        pooled = [self.model(rec[1]).mean(1).detach().cpu().numpy() for rec, _ in self.cluster_loader]
        km = KMeans(n_clusters=self.cfg.n_intents, n_init=self.cfg.kmeans_restarts,
                    max_iter=self.cfg.kmeans_iters, random_state=self.cfg.seed)
        km.fit(np.concatenate(pooled))
        self.model.cluster_centers.data = F.normalize(torch.tensor(km.cluster_centers_, dtype=torch.float32), dim=1)
        self.model.train()

    def train_step(self, rec: tuple[torch.Tensor, ...], views: list[torch.Tensor]) -> dict[str, float]:
        """One Hybrid-mode step: 1 x B input + 2 x 2B view sequences encoded."""
        cfg, model = self.cfg, self.model
        _, input_ids, target_pos, target_neg, _ = rec
        hidden = model(input_ids)
        rec_loss = bce_rec_loss(model, hidden, target_pos, target_neg)
        seq_cl = sequence_cl_loss(model, views, cfg)

        pooled = F.normalize(hidden.mean(1), p=2, dim=1)
        model.cluster_centers.data = F.normalize(model.cluster_centers.data, p=2, dim=1)
        centres = model.cluster_centers
        sample_centre = pairwise_sq_distance(pooled, centres)
        intents = torch.argmin(sample_centre, dim=-1)
        cluster = sample_centre.mean() - pairwise_sq_distance(centres, centres).mean()
        intent_cl = intent_cl_loss(model, views, centres[intents], cfg)

        joint = (cfg.rec_weight * rec_loss + cfg.cf_weight * seq_cl + cfg.intent_cf_weight * intent_cl
                 + cfg.trade_off * cluster)
        self.optimizer.zero_grad()
        joint.backward(retain_graph=True)  # as in the reference: the graph lives on until the next step
        self.optimizer.step()
        return {"rec": rec_loss.item(), "seq_cl": seq_cl.item(), "intent_cl": intent_cl.item(),
                "cluster": cluster.item(), "loss": joint.item()}

    def train_epoch(self, max_batches: int | None = None) -> dict[str, float]:
        """One shuffled pass (or its first ``max_batches`` batches); returns the mean of each loss part."""
        self.model.train()
        sums: dict[str, float] = {}
        n_batches = 0
        for rec, views in islice(self.train_loader, max_batches):
            for name, value in self.train_step(rec, views).items():
                sums[name] = sums.get(name, 0.0) + value
            n_batches += 1
        return {name: total / n_batches for name, total in sums.items()}

    def validate(self) -> dict[str, float]:
        """Full ranking over every item row on input items[:-2]: history scores set to 0, top 20 by
        ``np.argpartition``, HR and NDCG at 5 and 20."""
        self.model.eval()
        preds, answers = [], []
        for users, input_ids, _, _, answer in self.valid_loader:
            user_vecs = self.model(input_ids)[:, -1, :]
            scores = (user_vecs @ self.model.item_embeddings.weight.T).cpu().data.numpy().copy()
            scores[self.valid_history[users.numpy()].toarray() > 0] = 0
            rows = np.arange(len(scores))[:, None]
            top = np.argpartition(scores, -TOP_K)[:, -TOP_K:]
            order = np.argsort(scores[rows, top])[:, ::-1]
            preds.append(top[rows, order])
            answers.append(answer.numpy())
        self.model.train()
        pred_list, answer_list = np.concatenate(preds), np.concatenate(answers)
        metrics = {}
        for k in (5, TOP_K):
            metrics[f"HR@{k}"], metrics[f"NDCG@{k}"] = hit_and_ndcg(answer_list, pred_list, k)
        return metrics


def hit_and_ndcg(answers: np.ndarray, preds: np.ndarray, k: int) -> tuple[float, float]:
    """HR@k and NDCG@k over users, in Python loops over users and ranks with numpy scalars, as the reference
    computes them (its answer set is rebuilt for every rank position)."""
    hits = ndcg = 0.0
    for actual, ranked in zip(answers, preds):
        hits += len(set(actual) & set(ranked[:k])) / len(actual)
        dcg = sum(int(ranked[j] in set(actual)) / math.log(j + 2, 2) for j in range(k))
        ndcg += dcg / sum(1.0 / math.log(j + 2, 2) for j in range(min(k, len(actual))))
    return hits / len(answers), ndcg / len(answers)
