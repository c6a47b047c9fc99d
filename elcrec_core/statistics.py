"""Statistics for reports and profiles: bootstrap intervals, item lift, agreement with planted intents."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided bootstrap percentile interval."""

    estimate: float
    low: float
    high: float


def bootstrap_mean(values: np.ndarray, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> Interval:
    """The mean of per-user ``values`` with a percentile bootstrap interval (users resampled with replacement)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        raise ValueError("no values to bootstrap")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(n_boot, len(values)))].mean(1)
    tail = (1.0 - level) / 2
    return Interval(float(values.mean()), float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail)))


def item_lift(intents: np.ndarray, users: np.ndarray, items: np.ndarray, min_count: int = 3,
              top: int = 10) -> pl.DataFrame:
    """The items that characterise each intent: lift = P(item | the intent's users' interactions) / P(item).

    ``intents[u]`` is user u's intent; ``users``/``items`` list the interactions. Items seen fewer than
    ``min_count`` times within an intent are left out (a lift from one or two events is noise). Returns intent,
    item, count, lift: the ``top`` items of each intent by lift (ties: more interactions first).
    """
    frame = pl.DataFrame({"intent": intents[users], "item": items})
    total = len(frame)
    per_item = frame.group_by("item").len("item_total")
    per_intent = frame.group_by("intent").len("intent_total")
    return (
        frame.group_by("intent", "item").len("count")
        .filter(pl.col("count") >= min_count)
        .join(per_item, on="item").join(per_intent, on="intent")
        .with_columns(lift=(pl.col("count") / pl.col("intent_total")) / (pl.col("item_total") / total))
        .sort(["intent", "lift", "count", "item"], descending=[False, True, True, False])
        .group_by("intent", maintain_order=True).head(top)
        .select("intent", "item", "count", "lift")
    )


@dataclass(frozen=True)
class Agreement:
    """How well learned intents recover planted ones, beside a shuffled assignment of the same sizes."""

    nmi: float
    ari: float
    shuffled_nmi: float
    shuffled_ari: float


def planted_agreement(planted: np.ndarray, learned: np.ndarray, seed: int = 0) -> Agreement:
    """NMI and ARI between planted and learned intents, and the same for a random permutation of ``learned``."""
    shuffled = np.random.default_rng(seed).permutation(learned)
    return Agreement(
        float(normalized_mutual_info_score(planted, learned)), float(adjusted_rand_score(planted, learned)),
        float(normalized_mutual_info_score(planted, shuffled)), float(adjusted_rand_score(planted, shuffled)),
    )
