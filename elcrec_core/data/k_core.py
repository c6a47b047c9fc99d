"""The iterative k-core of the interactions, and the histories of the users it removes.

The k-core keeps the users and items with at least k interactions once every removal has cascaded: the training
data of the sequences (:func:`elcrec_core.data.events_to_sequences.build_sequences`). A user it removes keeps a
short history, their events on the items it keeps, from which their recommendations are made.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from elcrec_core.data.sequences import Sequences


def k_core_filter(users: np.ndarray, items: np.ndarray, k: int) -> tuple[np.ndarray, int]:
    """Iterative k-core on interaction codes: the mask of interactions whose user and item both keep at least
    ``k`` interactions once every removal has cascaded, and the number of rounds that removed something."""
    keep = np.ones(len(users), dtype=bool)
    if k <= 1:
        return keep, 0
    n_users, n_items = int(users.max(initial=0)) + 1, int(items.max(initial=0)) + 1
    rounds = 0
    while True:
        u, i = users[keep], items[keep]
        ok = (np.bincount(u, minlength=n_users) >= k)[u] & (np.bincount(i, minlength=n_items) >= k)[i]
        if ok.all():
            return keep, rounds
        keep[np.flatnonzero(keep)[~ok]] = False
        rounds += 1


def largest_k_keeping(users: np.ndarray, items: np.ndarray, k: int) -> dict[str, int] | None:
    """The largest k-core below ``k`` that keeps some interaction (user codes ``users``, item codes ``items``), as
    ``{"k", "users", "events"}`` (what it keeps), for a k-core of ``k`` that kept none; None where no interaction."""
    for smaller in range(k - 1, 0, -1):
        keep, _ = k_core_filter(users, items, smaller)
        if keep.any():
            return {"k": smaller, "users": len(np.unique(users[keep])), "events": int(keep.sum())}
    return None


def new_items_removed(items: np.ndarray, times: np.ndarray, keep: np.ndarray, until: np.datetime64 | None) -> int:
    """Of the items whose every interaction the k-core removed (``keep`` false: :func:`k_core_filter`'s mask over
    item codes ``items`` and times ``times``, datetime64[us], NaT for none), those first seen on the day that ends at
    ``until`` (naive UTC; None: the newest day of ``times``): their first timed interaction is on that day. None
    counts where every timed interaction is on that day (a log of one day: no item is new in it)."""
    timed = ~np.isnat(times)
    if not timed.any():
        return 0
    moments = times[timed].astype("datetime64[us]").astype(np.int64)
    end = (np.datetime64(until, "us") if until is not None
           else np.datetime64(times[timed].max(), "D") + np.timedelta64(1, "D")).astype("datetime64[us]")
    day_start = (end - np.timedelta64(1, "us")).astype("datetime64[D]").astype("datetime64[us]").astype(np.int64)
    if moments.min() >= day_start:
        return 0
    first = np.full(int(items.max(initial=0)) + 1, np.iinfo(np.int64).max)
    np.minimum.at(first, items[timed], moments)
    removed = (np.bincount(items, minlength=len(first)) > 0) & (np.bincount(items[keep], minlength=len(first)) == 0)
    return int(np.count_nonzero(removed & (first >= day_start) & (first < end.astype(np.int64))))


def short_histories(u: np.ndarray, i: np.ndarray, ts: np.ndarray, removed: np.ndarray, index_of: np.ndarray,
                     user_ids: pl.Series, n_items: int) -> tuple[Sequences, np.ndarray]:
    """The histories of the users the k-core removed: of the ordered events (user code ``u``, item code ``i``, time
    ``ts``), those of users where ``removed`` [users] is true on items with an index (``index_of`` [items] > 0: the
    items of the sequences), as :class:`Sequences` (ids from ``user_ids``), and the time of each user's last one. A
    removed user without such an event has none."""
    on_items = removed[u] & (index_of[i] > 0)
    u, i, ts = u[on_items], i[on_items], ts[on_items]
    counts = np.bincount(u, minlength=len(user_ids))
    owners = np.flatnonzero(counts)
    offsets = np.concatenate([[0], np.cumsum(counts[owners])]).astype(np.int64)
    return Sequences(user_ids.gather(owners).to_numpy(), index_of[i], offsets, n_items), ts[offsets[1:] - 1]
