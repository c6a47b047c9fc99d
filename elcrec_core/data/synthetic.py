"""Synthetic interactions with planted intents: the embedded default data set and the test data.

Each of K intents owns its own subset of items, visited with Zipf-like popularity and along a chain (item i of
an intent is usually followed by item i + 1 of the same intent), so that a next-item model has sequential
structure to learn. Each user mixes 1-3 intents and switches between them now and then. Generation is
vectorised over users (one loop over sequence positions), and deterministic per seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from elcrec_core.config.field_types import check_field_types


@dataclass
class SyntheticConfig:
    n_users: int = 5000
    n_items: int = 1000
    n_intents: int = 8
    min_len: int = 5
    mean_extra_len: float = 8.0  # lengths are min_len + a geometric number of extra events
    max_len: int = 200
    zipf_power: float = 2.0  # rank = floor(size * u ** power): larger is more skewed
    p_follow: float = 0.6  # next item is the chain successor of the current one
    p_switch: float = 0.15  # switch to another of the user's intents before an event
    start: int = 1_767_225_600  # 2026-01-01T00:00:00Z, epoch seconds
    days: int = 30
    seed: int = 0

    def __post_init__(self) -> None:
        check_field_types(self)


@dataclass
class SyntheticData:
    events: pl.DataFrame  # user_id, item_id, timestamp (epoch seconds), in time order per user
    user_intents: pl.DataFrame  # user_id, intents (list), primary_intent (largest weight)
    item_intent: np.ndarray  # planted intent of item id i at index i - 1


def generate(cfg: SyntheticConfig = SyntheticConfig()) -> SyntheticData:
    """Generate events and each user's true intents."""
    if cfg.n_intents < 1:
        raise ValueError(f"n_intents must be at least 1, got {cfg.n_intents}")
    if cfg.n_items < cfg.n_intents:
        raise ValueError(f"need at least one item per intent: {cfg.n_items} items for {cfg.n_intents} intents "
                         "(the CLI's --items and --intents)")
    rng = np.random.default_rng(cfg.seed)
    k, n_users = cfg.n_intents, cfg.n_users

    # items: a random permutation split into K chains of nearly equal size
    order = rng.permutation(cfg.n_items) + 1
    sizes = np.full(k, cfg.n_items // k)
    sizes[: cfg.n_items % k] += 1
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    item_intent = np.empty(cfg.n_items + 1, dtype=np.int64)
    item_pos = np.empty(cfg.n_items + 1, dtype=np.int64)
    for intent in range(k):
        chain = order[first[intent] : first[intent] + sizes[intent]]
        item_intent[chain], item_pos[chain] = intent, np.arange(len(chain))

    # users: 1-3 intents each (at most K), drawn with skewed intent popularity, Dirichlet weights
    most = min(3, k)
    n_mix = rng.integers(1, most + 1, n_users)
    popularity = rng.dirichlet(np.full(k, 2.0))
    keys = rng.random((n_users, k)) ** (1.0 / popularity)  # weighted sampling without replacement
    ranked = np.argsort(-keys, axis=1)[:, :most]
    weights = rng.dirichlet(np.ones(most), n_users) * (np.arange(most) < n_mix[:, None])
    weights /= weights.sum(1, keepdims=True)
    cum_weights = np.cumsum(weights, 1)

    lengths = np.minimum(cfg.min_len + rng.geometric(1.0 / (1.0 + cfg.mean_extra_len), n_users) - 1, cfg.max_len)
    by_length = np.argsort(-lengths, kind="stable")  # active users at step t are a prefix of this order
    active = np.searchsorted(-lengths[by_length], -np.arange(1, lengths.max() + 1), side="right")  # len > t

    def pick_intent(users: np.ndarray) -> np.ndarray:
        slot = (rng.random(len(users))[:, None] > cum_weights[users]).sum(1).clip(max=most - 1)
        return ranked[users, slot]

    def zipf_item(intents: np.ndarray) -> np.ndarray:
        rank = np.floor(sizes[intents] * rng.random(len(intents)) ** cfg.zipf_power).astype(np.int64)
        return order[first[intents] + rank]

    items = np.zeros((lengths.max(), n_users), dtype=np.int64)  # [step, user in by_length order]
    intent = pick_intent(by_length)
    current = zipf_item(intent)
    items[0] = current
    for t in range(1, lengths.max()):
        n = active[t]
        users = by_length[:n]
        intent, current = intent[:n], current[:n]
        switch = rng.random(n) < cfg.p_switch
        intent = np.where(switch, pick_intent(users), intent)
        follow = (~switch) & (rng.random(n) < cfg.p_follow)
        successor = order[first[intent] + (item_pos[current] + 1) % sizes[intent]]
        current = np.where(follow, successor, zipf_item(intent))
        items[t, :n] = current

    steps, cols = np.nonzero(items)  # item ids are >= 1, so zeros are the steps after a user's end
    owner = by_length[cols]
    by_user = np.lexsort((steps, owner))
    owner, item_values = owner[by_user], items[steps[by_user], cols[by_user]]
    offsets = np.concatenate([[0], np.cumsum(lengths)])  # owners are sorted: 0, 0, ..., 1, ...
    # gaps of hours; a user whose events would overrun half the window is compressed into it (order is kept,
    # timestamps stay strictly increasing)
    gaps = rng.exponential(cfg.days * 86400 / (4 * lengths.mean()), len(owner)) + 1.0
    cum = np.cumsum(gaps)
    since_first = cum - cum[offsets[owner]]
    half_span = cfg.days * 86400 // 2
    user_span = since_first[offsets[1:] - 1]
    scale = np.minimum(1.0, half_span / np.maximum(user_span, 1.0))
    since_first = np.floor(since_first * scale[owner] + np.arange(len(owner)) - offsets[owner]).astype(np.int64)
    timestamps = cfg.start + rng.integers(0, max(1, half_span), n_users)[owner] + since_first

    events = pl.DataFrame({"user_id": owner + 1, "item_id": item_values, "timestamp": timestamps})
    user_intents = pl.DataFrame({
        "user_id": np.arange(1, n_users + 1),
        "intents": pl.Series(ranked).cast(pl.List(pl.Int64)),
        "n_mix": n_mix,
        "primary_intent": ranked[np.arange(n_users), weights.argmax(1)],
    }).select("user_id", pl.col("intents").list.head(pl.col("n_mix")), "primary_intent")
    return SyntheticData(events, user_intents, item_intent[1:])
