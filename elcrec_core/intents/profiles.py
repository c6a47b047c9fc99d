"""Cluster-intent profiling: which learned intent each user belongs to, and how the intents are used."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import torch
import torch.nn.functional as F

from elcrec_core.data import warehouse
from elcrec_core.data.sequences import Sequences, SequenceTensors, check_user_rows, require_data, user_batches
from elcrec_core.evaluate.statistics import CategoryPurity, category_purity
from elcrec_core.model.elcrec import ELCRec, eval_mode

NO_INTENT = -1
"""The intent of a user with no item the model knows: the representation of an empty history is the same for every
such user and says nothing about any of them, so its nearest centre would be one arbitrary intent for them all."""


@dataclass
class UserIntents:
    """Per user: the nearest L2-normalised centre to the L2-normalised pooled representation (``model.pool``: the
    assignment the intent losses use), its squared distance, and the runner-up centre (:data:`NO_INTENT` with a single
    centre); :data:`NO_INTENT` (and a NaN distance) for a user with no item the model knows. ``intent`` and
    ``runner_up`` int64 [U] in 0..K - 1; ``distance`` float32 [U], squared Euclidean between unit vectors (0 to 4).
    The assignment is the paper's (a behaviour's intent is its nearest cluster centre; the reference's argmin of the
    sample-centre distances in the cluster loss)."""

    intent: np.ndarray
    distance: np.ndarray
    runner_up: np.ndarray
    representation: np.ndarray  # [U, d] normalised pooled states, for maps and silhouettes

    @property
    def placed(self) -> np.ndarray:
        """[U] bool: the users that have an intent."""
        return self.intent != NO_INTENT

    def only_placed(self) -> "UserIntents":
        """The users that have an intent, in order."""
        keep = self.placed
        return UserIntents(self.intent[keep], self.distance[keep], self.runner_up[keep], self.representation[keep])


@torch.no_grad()
def assign_user_intents(model: ELCRec, seqs: Sequences, users: torch.Tensor | None = None,
                        batch_size: int = 2048) -> UserIntents:
    """Assign ``users`` (positions in ``seqs``; default: every user; whole history, the most recent max_len items
    that the model knows) to their nearest intent. Items newer than the model are left out of the history, as the
    recommender leaves them out (:meth:`Sequences.known`), so that a user's intent is the same in the profiles,
    the recommendations and ``elcrec recommend``. A user left with no item gets :data:`NO_INTENT`, a NaN distance
    and runner-up :data:`NO_INTENT` (see there); so does a user whose distances are not finite (a model with NaN
    weights: argmin of NaNs would name an arbitrary intent). No users (an empty ``seqs``): empty arrays. The model
    runs in eval mode; its mode is restored after. ``users``: int64 [U]; returns :class:`UserIntents` of U rows, in
    that order. Raises TypeError for ``seqs`` that are no :class:`Sequences` (its tensors read "no attribute
    'known'": helper-252), ValueError for ``users`` that are no rows of it or a ``batch_size`` below 1."""
    require_data(seqs, Sequences, "assign_user_intents's seqs")
    data = SequenceTensors.from_sequences(seqs.known(model.cfg.n_items))
    centres = F.normalize(model.centres.float(), dim=1)
    users = torch.arange(len(data)) if users is None else users
    check_user_rows(users, len(data))  # an out-of-range row raised a bare IndexError (helper-193)
    if not len(users):  # the model cannot run on no rows
        none = np.zeros(0, dtype=np.int64)
        return UserIntents(none, np.zeros(0, dtype=np.float32), none, np.zeros((0, centres.shape[1]), np.float32))
    parts: list[tuple[torch.Tensor, ...]] = []
    with eval_mode(model):
        for batch in user_batches(users, batch_size):
            items = data.window(batch, 0, model.cfg.max_len).to(centres.device)  # the model's device (CUDA or CPU)
            pooled = F.normalize(model.pool(model(items), items).float(), dim=1)
            dist = torch.cdist(pooled, centres).square()
            best = dist.topk(min(2, len(centres)), dim=1, largest=False)
            runner_up = best.indices[:, -1] if len(centres) > 1 else torch.full_like(best.indices[:, 0], NO_INTENT)
            empty = ~(items > 0).any(1) | ~torch.isfinite(best.values[:, 0])  # a NaN representation: no centre
            nearest, nearest_distance = best.indices[:, 0], best.values[:, 0]
            parts.append((nearest.masked_fill(empty, NO_INTENT), nearest_distance.masked_fill(empty, np.nan),
                          runner_up.masked_fill(empty, NO_INTENT), pooled))
    intent, distance, runner_up, rep = (torch.cat(p).cpu().numpy() for p in zip(*parts))
    return UserIntents(intent, distance, runner_up, rep)


def intent_sizes(intents: np.ndarray, n_intents: int) -> np.ndarray:
    """Number of users per intent, int64 [n_intents], for ``intents`` [U] in 0..n_intents - 1 (dead intents count 0;
    users with :data:`NO_INTENT` count nowhere)."""
    return np.bincount(intents[intents != NO_INTENT], minlength=n_intents)


def intent_column(intents: np.ndarray) -> pl.Series:
    """[U] intents as an Int32 column for the warehouse's tables: null where :data:`NO_INTENT`."""
    return pl.Series(intents.astype(np.int32)).scatter(np.flatnonzero(intents == NO_INTENT), None)


def placed_interactions(assigned: UserIntents, seqs: Sequences) -> tuple[np.ndarray, np.ndarray]:
    """The interactions (user positions, items) of the users of ``seqs`` that have an intent in ``assigned``: what
    the intents' lifts and category purity count."""
    users = np.repeat(np.arange(len(seqs)), seqs.lengths)
    keep = assigned.placed[users]
    return users[keep], seqs.items[keep]


@dataclass
class IntentSummary:
    """How the learned intents are used: per intent (users, cohesion = mean squared distance to the centre,
    nearest other centre) and overall (used and dead centres, size quantiles, silhouette on a sample)."""

    per_intent: pl.DataFrame  # intent, users, cohesion (null: no users), nearest_intent (of users; null: none)
    used: int
    dead: int
    size_quantiles: dict[str, float]
    silhouette: float | None  # None with fewer than 2 used intents


def summarise_intents(assigned: UserIntents, centres: np.ndarray, sample: int = 2000,
                      seed: int = 0) -> IntentSummary:
    """Summary of ``assigned`` users that have an intent over the (L2-normalised) ``centres`` [K, d]; an intent's
    nearest other is the closest centre that holds users (a dead one named told an analyst nothing: helper-232),
    null where no distance to such a one is finite (a single centre, NaN centres, no other intent with users).
    Cohesion is in squared distance between unit vectors (0 to 4); the silhouette (scikit-learn's, Euclidean, in
    [-1, 1]) is of at most ``sample`` users drawn with ``seed``."""
    assigned = assigned.only_placed()
    k = len(centres)
    sizes = intent_sizes(assigned.intent, k)
    cohesion = np.bincount(assigned.intent, weights=assigned.distance, minlength=k) / np.maximum(sizes, 1)
    between = np.nan_to_num(((centres[:, None, :] - centres[None, :, :]) ** 2).sum(-1), nan=np.inf)
    np.fill_diagonal(between, np.inf)
    between[:, sizes == 0] = np.inf  # a dead centre is no intent's nearest
    nearest = between.argmin(1)  # a NaN centre is near to none (the argmin of NaNs named intent 0 for all)
    per_intent = pl.DataFrame({
        "intent": np.arange(k), "users": sizes,
        "cohesion": pl.Series(np.where(sizes > 0, cohesion, np.nan), nan_to_null=True),  # NULL, as SQL skips it
        "nearest_intent": pl.Series([int(j) if np.isfinite(between[i, j]) else None for i, j in enumerate(nearest)]
                                    if k > 1 else [None], dtype=pl.Int64),
    })
    used = sizes[sizes > 0]
    quantiles = dict(zip(("min", "p25", "median", "p75", "max"),
                         np.quantile(used if len(used) else [0], [0, 0.25, 0.5, 0.75, 1.0]).astype(float).tolist()))
    silhouette = None
    if len(used) > 1:
        rng = np.random.default_rng(seed)
        pick = rng.choice(len(assigned.intent), size=min(sample, len(assigned.intent)), replace=False)
        labels = assigned.intent[pick]
        if 1 < len(np.unique(labels)) < len(labels):  # defined for 2 to samples - 1 groups
            from sklearn.metrics import silhouette_score  # seconds to import: at the first use

            silhouette = float(silhouette_score(assigned.representation[pick], labels))
    return IntentSummary(per_intent, int(len(used)), int(k - len(used)), quantiles, silhouette)


def item_categories(warehouse_path: str | Path, item_ids: np.ndarray) -> pl.DataFrame:
    """The categories of the items of a sequence set from the warehouse's ``item_metadata``: one row per
    (``item``, ``category``), ``item`` the 1-based index into ``item_ids`` (as in :class:`Sequences`); empty
    when no item has a category (or there is no metadata). Raises FileNotFoundError where there is no warehouse at
    ``warehouse_path``, and the errors of :func:`elcrec_core.data.warehouse.connect` (ValueError, WarehouseLocked,
    WarehouseDamaged)."""
    empty = pl.DataFrame(schema={"item": pl.Int64, "category": pl.String})
    with warehouse.connect(warehouse_path, read_only=True) as con:
        ((exists,),) = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'item_metadata'").fetchall()
        if not exists:
            return empty
        meta = con.sql("SELECT item_id, categories FROM item_metadata WHERE len(categories) > 0").pl()
    index = pl.DataFrame({"item_id": pl.Series(item_ids, dtype=pl.String),
                          "item": np.arange(1, len(item_ids) + 1, dtype=np.int64)})
    pairs = index.join(meta, on="item_id").explode("categories").drop_nulls("categories")
    return pairs.select("item", pl.col("categories").alias("category")).unique(maintain_order=True) if len(pairs) \
        else empty


def intent_category_purity(model: ELCRec, seqs: Sequences, item_ids: np.ndarray, warehouse_path: str | Path,
                           shuffles: int = 5, seed: int = 0) -> CategoryPurity | None:
    """Category purity of ``model``'s intents over the users of ``seqs`` (each assigned to the nearest centre, as
    :func:`assign_user_intents`) against shuffled assignments of the same sizes, with the item categories of the
    warehouse (:func:`elcrec_core.evaluate.statistics.category_purity`); None when no item of ``seqs`` has a
    category. Raises as :func:`item_categories` and :func:`assign_user_intents`."""
    categories = item_categories(warehouse_path, item_ids)
    if categories.is_empty():
        return None
    assigned = assign_user_intents(model, seqs)
    users, items = placed_interactions(assigned, seqs)
    return category_purity(assigned.intent, users, items, categories, shuffles, seed)
