"""What each user has interacted with: every accepted event in the warehouse of the event types the sequences use,
whatever else the sequences' settings left out.

The sequences a model reads may leave out events a user had (``min_rating``, de-duplication, k-core); the items of
those events are no less seen (a film rated 2 was watched), and are never recommended to the user
(:func:`elcrec_core.serve.recommend.recommend`'s ``seen``). Events of other types than the sequences' ``event_types``
stay candidates: a team that models purchases still recommends what a user only viewed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from elcrec_core.data import warehouse
from elcrec_core.data.event_selection import BEFORE_UNTIL, event_type_condition, until_params
from elcrec_core.data.sequences import Sequences


def seen_items(path: str | Path, until: datetime | None, user_ids: np.ndarray, item_ids: np.ndarray,
               event_types: Sequence[str] | None = None) -> Sequences:
    """Every item each of ``user_ids`` has an accepted event with in the warehouse at ``path`` before ``until``
    (:data:`BEFORE_UNTIL`, as the sequences take them), of one of ``event_types`` (None: any type; the sequence
    settings' ``event_types``), whatever else the sequences left out (``min_rating``, k-core): a
    :class:`~elcrec_core.data.sequences.Sequences` of the same users in the same order, each user's items once, in
    index order, as indices of ``item_ids`` (``item_ids[i - 1]`` is the id of index i; an id not in it is left
    out: no model scores it). Ids compare as text, as the warehouse stores them."""
    types, types_params = event_type_condition(event_types)
    users = pl.DataFrame({"user_id": pl.Series(user_ids, dtype=pl.String)}).with_row_index("u")
    items = pl.DataFrame({"item_id": pl.Series(item_ids, dtype=pl.String)}).with_row_index("i", offset=1)
    with warehouse.connect(path, read_only=True) as con:
        con.register("seen_users", users)
        con.register("seen_items", items)
        pairs = con.sql(
            "SELECT DISTINCT u, i FROM raw_interactions JOIN seen_users USING (user_id) JOIN seen_items USING (item_id)"
            f" WHERE {BEFORE_UNTIL} AND {types} ORDER BY u, i", params=[*until_params(until), *types_params]).pl()
    counts = np.bincount(pairs["u"].to_numpy().astype(np.int64), minlength=len(users))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return Sequences(np.asarray(user_ids), pairs["i"].to_numpy().astype(np.int64), offsets, len(item_ids))


def active_items(path: str | Path, until: datetime, days: int, item_ids: np.ndarray,
                 event_types: Sequence[str] | None = None) -> np.ndarray:
    """Which of ``item_ids`` (index i - 1 for item index i) have an accepted event in the warehouse at ``path`` in
    the ``days`` days before ``until`` (naive UTC; an event without a time counts on its ``{date}`` file's day; not
    from a later day's file: :data:`BEFORE_UNTIL`, as the sequences take them), of
    one of ``event_types`` (None: any type): the items still on offer, where items stop getting events when they
    expire (a listing, a sold-out product). Ids compare as text. bool [len(item_ids)]."""
    types, types_params = event_type_condition(event_types)
    items = pl.DataFrame({"item_id": pl.Series(item_ids, dtype=pl.String)}).with_row_index("i")
    with warehouse.connect(path, read_only=True) as con:
        con.register("offered_items", items)
        active = con.sql(
            "SELECT DISTINCT i FROM raw_interactions JOIN offered_items USING (item_id) WHERE coalesce(timestamp, "
            f"CAST(event_date AS TIMESTAMP)) >= ?::TIMESTAMP AND {BEFORE_UNTIL} AND {types}",
            params=[until - timedelta(days=days), *until_params(until), *types_params]).pl()
    mask = np.zeros(len(item_ids), dtype=bool)
    mask[active["i"].to_numpy().astype(np.int64)] = True
    return mask


def users_with_events(path: str | Path, until: datetime | None) -> int:
    """How many users have an accepted event in the warehouse at ``path`` before ``until`` (:data:`BEFORE_UNTIL`):
    those the sequences left out (filters, k-core) without a short history get no recommendations, and are counted
    so."""
    with warehouse.connect(path, read_only=True) as con:
        ((count,),) = con.execute(f"SELECT count(DISTINCT user_id) FROM raw_interactions WHERE {BEFORE_UNTIL}",
                                  until_params(until)).fetchall()
    return int(count)
