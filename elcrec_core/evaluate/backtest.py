"""Next-day backtest: the measure that matches daily retraining.

A model trained on the data up to day D-1 ranks, for every user active on day D who has history before it, the
user's first item of day D, with every item the user had before D excluded, as the lists served after D-1 excluded
them (full ranking, as the leave-one-out evaluator). The users whose first events are on day D got no list (the
lists of D-1 are made from the histories up to D-1): they are counted, not scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from elcrec_core.data import warehouse
from elcrec_core.data.event_selection import BEFORE_UNTIL, repeated_events, selected_events, until_params
from elcrec_core.data.events_to_sequences import SequenceConfig
from elcrec_core.data.seen_items import seen_items
from elcrec_core.data.sequences import Sequences


@dataclass(frozen=True)
class NextDay:
    """The users active on a day: ``seqs`` holds those with earlier events on items with an index
    (:func:`next_day_sequences`); ``unindexed`` counts those with earlier stored events but none of them both
    selected by the sequences' filters and on an item with an index (the filters, such as min_rating, or the k-core
    left them out of every sequence: no list was made for them); ``new_users`` the others, whose first stored
    events are on the day: no list made before the day knew them."""

    seqs: Sequences
    new_users: int
    unindexed: int


def next_day_sequences(path: str | Path, day: date, config: SequenceConfig = SequenceConfig()) -> NextDay:
    """Per user active on ``day`` with earlier events: the items before ``day`` followed by the first item of
    ``day`` (item indices from the warehouse's stable index; an item without an index yet is n + 1, which no
    model knows: a miss). Events of the history without an index are left out. The events are those the
    sequences select (:func:`elcrec_core.data.event_selection.selected_events`: ``config``'s filters, an event
    that two files stored once; with ``dedupe``, each user's first event per item only), those with a time: the
    history as the day before's sequences held it (not the events of ``day``'s own file before the day, in a file
    of local times, which the model that served then never had), the day's events as ``day``'s sequences hold
    them; the k-core, which shapes the training data, is not applied."""
    start = datetime.combine(day, datetime.min.time())
    before, before_params = selected_events(config, start)  # what the day before's sequences held
    through, through_params = selected_events(config, start + timedelta(days=1))
    with warehouse.connect(path, read_only=True) as con:
        events = con.sql(
            f"SELECT user_id, item_id, timestamp, rating, event_type, item_index FROM (({before}) UNION ALL"
            f" (SELECT * FROM ({through}) WHERE timestamp >= ?)) LEFT JOIN item_index USING (item_id)"
            " WHERE timestamp IS NOT NULL ORDER BY user_id, timestamp, source_file, source_row",
            params=[*before_params, *through_params, start]).pl()
        ((n_items,),) = con.execute("SELECT count(*) FROM item_index").fetchall()
    events = events.filter(~repeated_events(events, "user_id", "item_id"))
    if config.dedupe:
        events = events.filter(pl.struct("user_id", "item_id").is_first_distinct())
    today = pl.col("timestamp") >= start
    events = events.with_columns(today.alias("today"))
    first_today = events.filter("today").group_by("user_id", maintain_order=True).first()
    history = events.filter(~pl.col("today") & pl.col("item_index").is_not_null())
    history = history.join(first_today.select("user_id"), on="user_id", how="semi")
    target = first_today.join(history.select("user_id").unique(), on="user_id", how="semi").with_columns(
        pl.col("item_index").fill_null(n_items + 1))
    rows = pl.concat([history.select("user_id", "timestamp", "item_index", order=pl.lit(0)),
                      target.select("user_id", "timestamp", "item_index", order=pl.lit(1))])
    rows = rows.sort("user_id", "order", "timestamp", maintain_order=True)
    per_user = rows.group_by("user_id", maintain_order=True).len()
    offsets = np.concatenate([[0], np.cumsum(per_user["len"].to_numpy())]).astype(np.int64)
    items = rows["item_index"].to_numpy().astype(np.int64)
    seqs = Sequences(per_user["user_id"].to_numpy(), items, offsets, int(n_items) + 1)
    with warehouse.connect(path, read_only=True) as con:  # an earlier event of any kind: no new user
        con.register("active_today", first_today.select("user_id"))
        ((returning,),) = con.execute("SELECT count(DISTINCT user_id) FROM raw_interactions JOIN active_today USING "
                                      f"(user_id) WHERE {BEFORE_UNTIL}", until_params(start)).fetchall()
    return NextDay(seqs, len(first_today) - returning, returning - len(seqs))


def seen_before_day(path: str | Path, day: date, seqs: Sequences,
                    config: SequenceConfig = SequenceConfig()) -> Sequences:
    """Per user of ``seqs`` (from :func:`next_day_sequences`), every item of the warehouse's index that the user
    has an accepted event with before ``day`` (or without a time), of ``config``'s event types, whatever the other
    filters left out (a film rated below ``min_rating`` was watched): the items that the lists served after the day
    before never held (:func:`elcrec_core.data.seen_items.seen_items`), to exclude beside the history when the
    backtest ranks the day's first item. Same users, same order; indices as :func:`next_day_sequences` gives them."""
    with warehouse.connect(path, read_only=True) as con:
        item_ids = warehouse.read_item_index(con)["item_id"].to_numpy()
    return seen_items(path, datetime.combine(day, datetime.min.time()), seqs.user_ids, item_ids, config.event_types)


def had_every_item(seen: Sequences, n_items: int) -> np.ndarray:
    """bool [U]: the users of ``seen`` (:func:`seen_before_day`) who had every item 1..``n_items`` (the served
    model's) before the day. The served lists exclude what a user had, so theirs held nothing: they got no list, and
    the backtest does not score them (their targets could only be misses: helper-197)."""
    owner = np.repeat(np.arange(len(seen)), seen.lengths)
    known = (seen.items >= 1) & (seen.items <= n_items)
    pairs = np.unique(np.stack([owner[known], seen.items[known]]), axis=1)
    return np.bincount(pairs[0], minlength=len(seen)) >= n_items
