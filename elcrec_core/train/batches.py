"""Training batches: leave-one-out inputs, augmented views and negatives, vectorised over the batch.

Per user (one sample per user per epoch): input = items[:-3], targets = items[1:-2], left-padded to L with the
most recent L kept; every position of the window is a target. With ``training_windows(..., "all")`` a history
longer than L also gives the earlier non-overlapping windows (input items[:-3 - k L] for k = 1, 2, ...), so that
every training event is a target once per epoch. Two views of the unpadded input, each by one operator picked uniformly
at random: crop (a contiguous run of int(tau n) items, one item if that is 0), mask (int(gamma n) random positions set
to padding 0), reorder (shuffle a contiguous run of int(beta n) items). Runs start uniformly in [0, n - run - 1],
as in the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from elcrec_core.config.settings import TrainConfig
from elcrec_core.data.sequences import SequenceTensors

CROP, MASK, REORDER = 0, 1, 2


@dataclass
class TrainBatch:
    """One training batch of B samples, int64 item ids (0 = padding), left-padded to the window L; see
    :func:`make_train_batch`."""

    inputs: torch.Tensor  # [B, L]
    targets: torch.Tensor  # [B, L], 0 = no target
    negatives: torch.Tensor  # [B, L] for BCE, [N] shared for sampled softmax, empty otherwise
    views: torch.Tensor  # [2B, L]: view 1 of every user, then view 2

    def to(self, device: torch.device) -> "TrainBatch":
        """The same batch with every tensor on ``device`` (copied without blocking where it can)."""
        return TrainBatch(*(t.to(device, non_blocking=True) for t in vars(self).values()))


def trainable_users(data: SequenceTensors) -> torch.Tensor:
    """Users [N] (0-based, int64) whose training input items[:-3] is not empty: those of 4 items or more. Raises
    ValueError where there is none (training's and the auto preset's messages were twins in other words)."""
    users = torch.nonzero(data.ends - data.starts >= 4).flatten()
    if len(users) == 0:
        raise ValueError(f"no training sample: none of the {len(data)} users has the 4 items that one needs")
    return users


def training_windows(data: SequenceTensors, users: torch.Tensor, max_len: int, mode: str = "last"
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """The training samples of ``users`` as (user, drop) pairs: sample input = the user's items[:-drop], its
    most recent ``max_len`` kept. "last": one sample per user, drop 3 (the reference). "all": drops 3, 3 + L,
    3 + 2L, ... while the input keeps at least one item: ceil(n / L) samples for n = len - 3 training inputs,
    whose windows tile the history, so that each of its targets items[1:-2] is a target in exactly one."""
    drops = torch.full_like(users, 3)
    if mode == "last":
        return users, drops
    if mode != "all":
        raise ValueError(f"unknown train_windows {mode!r}: last or all")
    n = data.lengths(users) - 3
    counts = (n + max_len - 1) // max_len
    owner = torch.repeat_interleave(torch.arange(len(users)), counts)
    first = torch.cumsum(counts, 0) - counts
    k = torch.arange(len(owner)) - first[owner]
    return users[owner], 3 + max_len * k


def make_train_batch(
    data: SequenceTensors,
    users: torch.Tensor,
    max_len: int,
    cfg: TrainConfig,
    generator: torch.Generator,
    negatives: str = "per_position",
    n_negatives: int = 0,
    drops: torch.Tensor | int = 3,
) -> TrainBatch:
    """Cut one batch; its two views follow the training settings' crop_tau, mask_gamma and reorder_beta
    (``cfg``). ``negatives``: "per_position" (one per target, not in the user's sequence), "shared"
    (``n_negatives`` uniform ids for the whole batch) or "none". ``drops``: each sample's input is its user's
    items[:-drop] (3: the last training window; see :func:`training_windows`). ``users`` int64 [B]; returns
    inputs and targets [B, ``max_len``], views [2B, ``max_len``]: ICLRec's crop, mask and reorder, which the
    reference keeps. Raises IndexError for users that are no rows of ``data``."""
    n = data.lengths(users) - drops
    full_input = data.window(users, drops, int(n.max()))
    inputs = data.window(users, drops, max_len)
    targets = data.window(users, drops - 1, max_len).masked_fill(inputs == 0, 0)  # no target before item 1
    if negatives == "per_position":
        history = data.window(users, 0, int(data.lengths(users).max()))
        neg = sample_negatives(targets, history, data.n_items, generator)
    elif negatives == "shared":
        neg = torch.randint(1, data.n_items + 1, (n_negatives,), generator=generator)
    else:
        neg = torch.zeros(0, dtype=torch.long)
    views = torch.cat([augment(full_input, n, max_len, cfg, generator) for _ in range(2)])
    return TrainBatch(inputs, targets, neg, views)


def sample_negatives(
    targets: torch.Tensor, history: torch.Tensor, n_items: int, generator: torch.Generator, max_rounds: int = 100
) -> torch.Tensor:
    """One uniform negative in 1..n_items per position, redrawn while it occurs anywhere in the user's
    ``history`` (ids, 0 = padding). A user who has seen (almost) every item may keep a clash after
    ``max_rounds``. ``targets`` [B, L], ``history`` [B, H]; returns int64 [B, L]."""
    ordered = history.sort(1).values
    neg = torch.randint(1, n_items + 1, targets.shape, generator=generator)
    for _ in range(max_rounds):
        clash = _contains(ordered, neg) & (targets > 0)
        n_clash = int(clash.sum())
        if n_clash == 0:
            break
        neg[clash] = torch.randint(1, n_items + 1, (n_clash,), generator=generator)
    return neg


def _contains(ordered: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Whether each values[b, j] occurs in the sorted row ordered[b]."""
    idx = torch.searchsorted(ordered, values).clamp(max=ordered.shape[1] - 1)
    return ordered.gather(1, idx) == values


def augment(
    seqs: torch.Tensor, lengths: torch.Tensor, out_len: int, cfg: TrainConfig, generator: torch.Generator
) -> torch.Tensor:
    """One random view per row of the right-aligned ``seqs`` [B, W] (row b holds ``lengths[b]`` items),
    returned right-aligned in ``out_len`` columns (most recent items kept)."""
    batch, width = seqs.shape
    n = lengths[:, None]
    n_real = n.double()  # int(rate * n) as Python computes it, not in float32
    pos = torch.arange(width)[None, :]  # position in the unpadded list
    op = torch.randint(0, 3, (batch, 1), generator=generator)

    crop_run = torch.floor(n_real * cfg.crop_tau).long()
    crop_start = torch.floor(torch.rand(batch, 1, generator=generator) * (n - crop_run)).long()
    crop_len = crop_run.clamp(min=1)

    reorder_run = torch.floor(n_real * cfg.reorder_beta).long()
    reorder_start = torch.floor(torch.rand(batch, 1, generator=generator) * (n - reorder_run)).long()
    in_run = (pos >= reorder_start) & (pos < reorder_start + reorder_run)
    keys = torch.where(in_run, reorder_start + torch.rand(batch, width, generator=generator), pos.double())
    permutation = keys.argsort(1)

    draws = torch.rand(batch, width, generator=generator).masked_fill(pos >= n, 2.0)
    masked = draws.argsort(1).argsort(1) < torch.floor(n_real * cfg.mask_gamma).long()

    out_n = torch.where(op == CROP, crop_len, n)
    q = out_n - out_len + torch.arange(out_len)[None, :]  # index into the augmented list
    qc = q.clamp(min=0)
    source = torch.where(op == CROP, crop_start + qc, torch.where(op == REORDER, permutation.gather(1, qc), qc))
    values = seqs.gather(1, (width - n + source).clamp(0, width - 1))
    drop = (q < 0) | ((op == MASK) & masked.gather(1, qc))
    return values.masked_fill(drop, 0)
