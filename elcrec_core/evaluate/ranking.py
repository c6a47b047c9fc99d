"""Full-ranking leave-one-out evaluation.

Split ``valid``: input items[:-2], target items[-2]; split ``test``: input items[:-1], target items[-1].
Every real item 1..n_items is ranked (padding and any extra ids of a reference table are not); every item of
the input history is excluded. Tie rule: the target's rank is the number of *other* non-history items whose
score is at least the target's or NaN (pessimistic), so a model that scores everything alike ranks every target last and
never wins by a tie or a NaN. A target whose score is not finite (NaN or infinite) is a miss, and so is a target
that also occurs in the history (it is excluded with it): its rank is :data:`MISS_RANK`, beyond every K and every
catalogue. HR@K = rank < K; NDCG@K = 1 / log2(rank + 2) when rank < K. The protocol of the paper's experiments
(full ranking, leave-one-out, HR and NDCG at 5 and 20: the reference's ``Trainer.get_full_sort_score``, ICLRec's);
K = 10 and the tie and miss rules are this implementation's.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from elcrec_core.config.field_types import require_count
from elcrec_core.data.sequences import SequenceTensors, check_user_rows, require_data, user_batches
from elcrec_core.model.elcrec import ELCRec, eval_mode
from elcrec_core.model.products import user_item_scores
from elcrec_core.train import distributed

KS = (5, 10, 20)
SELECTION_METRIC = "NDCG@20"  # what early stopping and the promotion gate compare, on the validation split
Split = Literal["valid", "test"]


class SplitTable(dict):
    """A value per split name; a name that is none of them raises ValueError naming the splits (not a bare
    KeyError: ``fit(data, "train")``)."""

    def __missing__(self, split: object) -> int:
        raise ValueError(f"unknown split {split!r}: one of {', '.join(map(repr, self))}")


class NonFiniteScores(ValueError):
    """A model gave some user a NaN or infinite score: its ranks would read that score as a plain miss, a figure it
    does not have (:func:`figures_from_ranks`)."""


DROP_AFTER = SplitTable(valid=1, test=0)  # items after the target
# the items a user needs to be ranked on a split (valid: 3, so that training has one too)
MIN_ITEMS = SplitTable(valid=3, test=2)
MISS_RANK = 1 << 31  # the rank of a miss: beyond every K, also where the catalogue has K items or fewer
MAX_SCORE_ELEMENTS = 1 << 25  # per chunk of users x items (128 MiB of fp32)
# users x items scored and ranked at once by rank_scores: 32 MiB of fp32, about the size of the CPU's last-level
# cache, which the count reads back soon after the product wrote it (2^25 at once went through memory: the rank part
# took twice as long; 2^21, with MKL's product, measured best; oneDNN's product gains on taller blocks: 2^23 with it
# ranks Beauty's test users 1.1x faster than 2^21), but at least _MIN_RANK_GROUP_USERS users (a product of fewer
# rows runs far below the CPU's speed) within the bound of MAX_SCORE_ELEMENTS
_RANK_GROUP_ELEMENTS = 1 << 23
_MIN_RANK_GROUP_USERS = 64


def known_items(items: torch.Tensor, n_items: int) -> torch.Tensor:
    """The right-aligned rows of ``items`` [B, L] (0 = padding) without the items that a model with ``n_items``
    does not know (added after its training), right-aligned again, in order: what the model reads, as serving
    reads :meth:`~elcrec_core.data.sequences.Sequences.known` (an unknown item left in place as padding took a
    place in the window, and the user's representation was read at a padding position)."""
    unknown = items > n_items
    if not bool(unknown.any()):
        return items
    keep = (items > 0) & ~unknown
    order = torch.argsort(keep.to(torch.int8), dim=1, stable=True)  # the dropped first, the kept in order
    return torch.where(keep.gather(1, order), items.gather(1, order), 0)


def check_ranks(ranks: object, name: str = "ranks") -> None:
    """Raise ValueError, naming ``name`` (a model), where ``ranks`` is not a 1-D torch tensor of integers >= 0, the
    0-based ranks that the evaluators give: a rank of -1 gave NDCG inf and an interval '[0.8248, nan]', a numpy
    array an AttributeError (helper-226)."""
    if not isinstance(ranks, torch.Tensor) or ranks.ndim != 1 or ranks.dtype.is_floating_point \
            or ranks.dtype.is_complex or ranks.dtype == torch.bool:
        shown = f"{ranks.dtype} {tuple(ranks.shape)}" if isinstance(ranks, torch.Tensor) else type(ranks).__name__
        raise ValueError(f"{name}: ranks must be a 1-D torch tensor of integers, got {shown}")
    if len(ranks) and int(ranks.min()) < 0:
        raise ValueError(f"{name}: a negative rank, {int(ranks.min())} (ranks are 0-based: 0 is the first place)")


def require_cutoff(k: object, what: str) -> None:
    """Raise ValueError naming ``what`` where ``k`` is no whole number from 1 to :data:`MISS_RANK`: above it, a miss
    (a target in the history, a non-finite score) counted as a hit (helper-226)."""
    require_count(k, what)
    if k > MISS_RANK:  # type: ignore[operator]
        raise ValueError(f"{what} must be at most {MISS_RANK} (2^31, the rank of a miss), not {k!r}")


def metrics_from_ranks(ranks: torch.Tensor, ks: tuple[int, ...] = KS) -> dict[str, float]:
    """HR@K and NDCG@K averaged over users, from 0-based ranks (a miss may have any rank >= max K). Raises
    ValueError for a K that is no whole number of 1 or more (true gave 'HR@True', 2.5 'HR@2.5': helper-219) or above
    :data:`MISS_RANK` (:func:`require_cutoff`), and for ranks that are no vector of integers >= 0
    (:func:`check_ranks`). Keys "HR@K" and "NDCG@K" for each K of ``ks``, values in [0, 1]; NaN for no ranks."""
    check_ranks(ranks)
    ranks = ranks.double()
    out: dict[str, float] = {}
    for k in ks:
        require_cutoff(k, "the cut-off K")
        hit = ranks < k
        out[f"HR@{k}"] = hit.double().mean().item()
        out[f"NDCG@{k}"] = torch.where(hit, 1.0 / torch.log2(ranks + 2.0), 0.0).mean().item()
    return out


def figures_from_ranks(ranks: torch.Tensor, non_finite: int) -> dict[str, float]:
    """:func:`metrics_from_ranks`, every metric NaN where ``non_finite`` users got a NaN or infinite score: a model
    that cannot score every user has no figure (its ranks alone would read such a score as a plain miss)."""
    metrics = metrics_from_ranks(ranks)
    return dict.fromkeys(metrics, math.nan) if non_finite else metrics


def per_user(ranks: torch.Tensor, k: int) -> dict[str, np.ndarray]:
    """Per-user HR@k and NDCG@k (0 or 1/log2(rank + 2)) from 0-based ranks: arrays [U] of the users' values, whose
    means :func:`metrics_from_ranks` gives. Raises ValueError for a ``k`` that is no whole number of 1 or more or is
    above :data:`MISS_RANK` (:func:`require_cutoff`), and for ranks that are no vector of integers >= 0
    (:func:`check_ranks`)."""
    require_cutoff(k, "the cut-off k")
    check_ranks(ranks)
    r = ranks.double().cpu().numpy()
    hit = r < k
    return {f"HR@{k}": hit.astype(float), f"NDCG@{k}": np.where(hit, 1.0 / np.log2(r + 2.0), 0.0)}


def rank_scores(
    user_vecs: torch.Tensor, item_table: torch.Tensor, targets: torch.Tensor, history: torch.Tensor
) -> torch.Tensor:
    """0-based rank of each target among all items (ids 1..n), history excluded.

    ``user_vecs`` [U, d], ``item_table`` [n, d] (row i - 1 for item i), ``targets`` [U] ids in 1..n,
    ``history`` [U, L] item ids (0 for padding). Returns [U] int64 ranks: the number of other non-history items
    whose score is at least the target's or NaN; :data:`MISS_RANK` where the target is in the history or its
    score is not finite. Users are scored in groups of about 2^23 user-item scores (cache-sized; at least 64 users,
    at most 2^25 scores); the target's score is read from the same product as every other item's, so that
    exactly equal items tie exactly.
    """
    return _ranks_and_finite_scores(user_vecs, item_table, targets, history)[0]


def _ranks_and_finite_scores(user_vecs: torch.Tensor, item_table: torch.Tensor, targets: torch.Tensor,
                             history: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """:func:`rank_scores`, and whether every user-item score was finite (finite vectors may still overflow)."""
    n_items = item_table.shape[0]
    group = max(_RANK_GROUP_ELEMENTS // max(1, n_items), _MIN_RANK_GROUP_USERS)
    group = max(1, min(group, MAX_SCORE_ELEMENTS // max(1, n_items)))
    check = not _scores_surely_finite(user_vecs, item_table)  # else no pass over the scores is needed
    ranks, extremes = [], []
    for lo in range(0, len(targets), group):  # groups of users whose scores over all items fit in memory at once
        group_ranks, group_extremes = _rank_group(user_vecs[lo:lo + group], item_table, targets[lo:lo + group],
                                                  history[lo:lo + group], check)
        ranks.append(group_ranks)
        extremes += [group_extremes] if check else []
    finite = not extremes or bool(torch.isfinite(torch.cat(extremes)).all())
    return (torch.cat(ranks) if ranks else torch.zeros(0, dtype=torch.long, device=user_vecs.device)), finite


def _rank_group(user_vecs: torch.Tensor, item_table: torch.Tensor, targets: torch.Tensor, history: torch.Tensor,
                check: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`rank_scores` for users whose scores over all items fit in memory at once, and (where ``check``) the
    scores' minimum and maximum (NaN propagates: one pass, no bool copy, no sync). The scores are freed on return,
    before the next group's are made: held across groups, each group took fresh memory (50% slower on CPU)."""
    scores = user_item_scores(user_vecs, item_table)
    extremes = torch.stack(torch.aminmax(scores)) if check else None
    return rank_score_matrix(scores, targets, history, overwrite=True), extremes


def _scores_surely_finite(user_vecs: torch.Tensor, item_table: torch.Tensor) -> bool:
    """Whether every dot product of a row of ``user_vecs`` with a row of ``item_table`` is surely finite in float32:
    the largest L2 norms of both, multiplied (in float64), bound every product and its partial sums (Cauchy-Schwarz);
    below half of float32's largest value, none overflows. A NaN or infinite input fails the test."""
    if not len(user_vecs) or not len(item_table):
        return True
    bound = user_vecs.double().norm(dim=1).max() * item_table.double().norm(dim=1).max()
    return bool(bound < torch.finfo(torch.float32).max / 2)


def rank_score_matrix(scores: torch.Tensor, targets: torch.Tensor, history: torch.Tensor,
                      overwrite: bool = False) -> torch.Tensor:
    """0-based ranks of ``targets`` [U] (ids 1..n) from ``scores`` [U, n] (column i - 1 for item i), history
    [U, L] (item ids, 0 = padding) excluded: the number of other non-history items whose score is at least the
    target's or NaN; :data:`MISS_RANK` where the target is in the history or its score is not finite. ``scores`` is
    left unchanged unless ``overwrite`` (then the excluded columns become -inf in place, saving a copy)."""
    target_col = (targets - 1)[:, None]
    target_scores = scores.gather(1, target_col)
    # the history's columns and the target's own (it is not "another" item) become -inf; padding (id 0) is
    # sent to the target's column too
    excluded = torch.cat([history, targets[:, None]], 1)
    index = torch.where(excluded > 0, excluded - 1, target_col)
    others = scores.scatter_(1, index, float("-inf")) if overwrite else scores.scatter(1, index, float("-inf"))
    # counted as bytes into the narrowest integer that holds n: 5x faster than a bool sum into int64
    # items below the target (the excluded ones among them, at -inf); the others, NaN included, are at or above it
    count = torch.int16 if scores.shape[1] <= torch.iinfo(torch.int16).max else torch.int32
    ranks = scores.shape[1] - (others < target_scores).view(torch.uint8).sum(1, dtype=count).long()
    miss = (history == targets[:, None]).any(1) | ~torch.isfinite(target_scores[:, 0])
    return torch.where(miss, MISS_RANK, ranks)


@torch.no_grad()
def evaluate_ranks(
    model: ELCRec, data: SequenceTensors, split: Split, users: torch.Tensor | None = None, batch_size: int = 2048
) -> torch.Tensor:
    """Ranks of the ``split`` targets for ``users`` (default: all users with at least 1 item before the target,
    and 3 items in all in ``valid``), in the order of ``users``. The users are batched in order of history
    length, so that a batch's windows share their padding columns (:meth:`ELCRec.user_representation` skips
    them). Returns int64 [U]. Raises ValueError for ``users`` that are no rows of ``data`` or have too few items
    for ``split``, or an unknown split (:func:`split_users`), TypeError for ``data`` that is no
    :class:`SequenceTensors`, ValueError for a ``batch_size`` below 1, :class:`NonFiniteScores` where the model
    gives some user a NaN or infinite score (it returned their ranks as misses, which intervals then read as a
    figure: helper-216; :func:`evaluate` gives NaN metrics)."""
    ranks, finite = _ranks_and_finite(model, data, split, users, batch_size)
    if not finite:
        raise NonFiniteScores(f"the model gives some of the {len(ranks)} users a NaN or infinite score on the "
                              f"{split} split: its ranks are no figure (evaluate gives NaN metrics for it)")
    return ranks


def _ranks_and_finite(model: ELCRec, data: SequenceTensors, split: Split, users: torch.Tensor | None,
                      batch_size: int) -> tuple[torch.Tensor, bool]:
    """:func:`evaluate_ranks`, and whether every score of every user was finite."""
    n_items = model.cfg.n_items
    users = split_users(data, split, users)
    order = torch.argsort(data.lengths(users), stable=True)
    ranks, finite = [], True
    with eval_mode(model):
        table = model.item_table().float()
        for targets, history, vecs in _split_batches(model, data, split, users[order], batch_size):
            known = targets <= n_items  # an item added after training cannot be ranked: a miss
            batch_ranks, batch_finite = _ranks_and_finite_scores(vecs, table, targets.clamp(max=n_items), history)
            ranks.append(torch.where(known, batch_ranks, MISS_RANK))
            finite = finite and batch_finite
    if not ranks:
        return torch.zeros(0, dtype=torch.long), finite
    by_length = torch.cat(ranks)
    by_user = torch.empty_like(by_length)
    by_user[order.to(by_length.device)] = by_length
    return by_user, finite


def _split_batches(model: ELCRec, data: SequenceTensors, split: Split, users: torch.Tensor,
                   batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Per batch of ``users``: the split's targets [B], the input histories [B, longest] (without the items the
    model does not know: :func:`known_items`) and the user representations [B, hidden] of their last ``max_len``
    items."""
    max_len, n_items, drop = model.cfg.max_len, model.cfg.n_items, DROP_AFTER[split]
    for batch in user_batches(users, batch_size):
        targets = data.window(batch, drop, 1)[:, 0]
        lengths = data.lengths(batch) - drop - 1
        history = known_items(data.window(batch, drop + 1, int(lengths.max())), n_items)
        window = F.pad(history[:, -max_len:], (max(0, max_len - history.shape[1]), 0))  # the last max_len
        vecs = model.user_representation(window).float()
        yield targets, history, vecs


def eligible_users(data: SequenceTensors, split: Split) -> torch.Tensor:
    """Users with a non-empty input for the split (:data:`MIN_ITEMS`; valid: >= 3 items, so that training has one
    too): their rows of ``data``, int64 [U] ascending. Raises ValueError for an unknown split."""
    return torch.nonzero(data.ends - data.starts >= MIN_ITEMS[split]).flatten()


def split_users(data: SequenceTensors, split: Split, users: torch.Tensor | None = None) -> torch.Tensor:
    """``users`` (default: :func:`eligible_users`) as the evaluators rank them. Raises ValueError for ``users`` that
    are no rows of ``data`` (:func:`~elcrec_core.data.sequences.check_user_rows`) or have fewer items than a
    ``split`` target needs (:data:`MIN_ITEMS`): such a user was ranked on an empty or a training-less input, or
    failed, or -1 ranked the last user (helper-193, helper-226); TypeError for ``data`` that is no
    :class:`SequenceTensors` (:func:`~elcrec_core.data.sequences.require_data`)."""
    require_data(data, SequenceTensors, "the data to evaluate on")
    if users is None:
        return eligible_users(data, split)
    check_user_rows(users, len(data))
    if len(short := users[(data.ends - data.starts)[users] < MIN_ITEMS[split]]):
        raise ValueError(f"users {short[:5].tolist()} have fewer than {MIN_ITEMS[split]} items, the least of a "
                         f"{split} target (eligible_users)")
    return users


def evaluate(model: ELCRec, data: SequenceTensors, split: Split, batch_size: int = 2048) -> dict[str, float]:
    """HR@K and NDCG@K (K = 5, 10, 20) over all eligible users; every metric NaN where some user's score of some
    item is not finite (a model that cannot score every user has no figure: a NaN model would otherwise score a
    plain 0, which an early-stopping rule may keep; finite weights may still overflow to an infinite score). Under
    a torch.distributed process group every rank must call it: each scores its shard of the users and the metrics
    are all-reduced. Keys "HR@K" and "NDCG@K", values in [0, 1] (NaN for no eligible user in one process).
    Raises TypeError for ``data`` that is no :class:`SequenceTensors`, ValueError for an unknown split or a
    ``batch_size`` below 1."""
    require_data(data, SequenceTensors, "the data to evaluate on")
    ranks, finite = _ranks_and_finite(model, data, split, distributed.shard(eligible_users(data, split)), batch_size)
    return distributed.mean_over_ranks(figures_from_ranks(ranks, not finite), len(ranks))
