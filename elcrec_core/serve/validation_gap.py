"""The gap between two contenders' validation scores and its noise: the paired standard error of the per-user
difference in NDCG@20 over the validation users, for the promotion gate (:mod:`elcrec_core.serve.promotion`) and
the texts of its reasons."""

from __future__ import annotations

import math

import torch

from elcrec_core.evaluate.ranking import SELECTION_METRIC, per_user
from elcrec_core.evaluate.score_text import difference_text

NOISE = 2  # a gap of at most this many paired standard errors is within the noise


def paired_gap(ranks: torch.Tensor, best_ranks: torch.Tensor) -> tuple[float, float, int] | None:
    """The gap in validation NDCG@20 of two contenders (their 0-based ranks of the same users), ``best_ranks``'
    minus ``ranks``', its paired standard error and the users; None from fewer than 2 users."""
    metric, k = SELECTION_METRIC, int(SELECTION_METRIC.split("@")[1])
    diff = per_user(best_ranks, k)[metric] - per_user(ranks, k)[metric]
    if len(diff) < 2:
        return None
    return float(diff.mean()), float(diff.std(ddof=1) / math.sqrt(len(diff))), len(diff)


def noise(ranks: torch.Tensor, best_ranks: torch.Tensor) -> str:
    """:func:`noise_text` of the two contenders' :func:`paired_gap`."""
    return noise_text(paired_gap(ranks, best_ranks))


def noise_text(gap: tuple[float, float, int] | None) -> str:
    """How the gap between two contenders' validation scores (:func:`paired_gap`) compares with its noise: the
    paired standard error of the per-user difference in NDCG@20, and, where the gap is within :data:`NOISE` of
    them, that it is within the noise (which of two near-equal models serves is then chance); empty without one."""
    if gap is None:
        return ""
    mean, error, users = gap
    within = ": within the noise" if mean <= NOISE * error else ""
    return (f" (by {difference_text(mean)}; paired standard error over {users} users "
            f"{difference_text(error)}{within})")


def tolerance_text(ranks: torch.Tensor, other_ranks: torch.Tensor, tolerance: float) -> str:
    """How a contender that a promoted candidate (its validation ``ranks``) did not beat (``other_ranks``) stands
    beside it: higher by no more than the ``tolerance``, with :func:`noise_text`, where it is higher (the reason said
    only "(tolerance 0.002)", not that the promoted model was below: helper-228); level with it where the per-user
    NDCG@20 differ by nothing on the mean (a tie read "(tolerance 0)": helper-231); else, from fewer than 2 users,
    the tolerance alone."""
    gap = paired_gap(ranks, other_ranks)
    if gap is None:
        return f" (tolerance {tolerance:g})"
    if not gap[0] > 0:
        return ", level with it"
    return f", higher by no more than the tolerance {tolerance:g}{noise_text(gap)}"


def gap_text(gap: tuple[float, float, int]) -> str:
    """`` (by +0.0063; paired standard error over 474 users 0.0074)``: a contender's gap over the champion."""
    mean, error, users = gap
    return (f" (by {difference_text(mean, signed=True)}; paired standard error over {users} users "
            f"{difference_text(error)})")
