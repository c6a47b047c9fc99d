"""Item ids of the sequence format that are integers, the benchmarks' 1..n: read as the item indices themselves
(:mod:`elcrec_core.cli.data_loading`), as the authors' code numbers Beauty's items."""

from __future__ import annotations

import numpy as np
import polars as pl

from elcrec_core.data.sequences import MAX_ITEM_ID, Sequences


def integer_items(seqs: Sequences, item_ids: np.ndarray) -> Sequences:
    """``seqs`` with each item (an index of ``item_ids``) as its integer id, where that id is one
    (:func:`integer_ids`'s form), and without the others (an item the k-core removed, ``007``: no model of
    integer ids scores it)."""
    ids = pl.Series(np.asarray(item_ids).astype(str))
    integer = ids.str.contains(r"^[1-9][0-9]{0,9}$").to_numpy()
    values = np.where(integer, ids.str.to_integer(strict=False).fill_null(0).to_numpy(), 0)
    kept = integer[seqs.items - 1]
    offsets = np.concatenate([[0], np.cumsum(kept)]).astype(np.int64)[seqs.offsets]  # each user's kept items
    return Sequences(seqs.user_ids, values[seqs.items - 1][kept], offsets, int(max(values.max(initial=0), 1)))


def integer_ids(item_ids: np.ndarray) -> np.ndarray | None:
    """The ids as integers when every one is a positive integer in canonical form up to MAX_ITEM_ID."""
    ids = pl.Series(np.asarray(item_ids).astype(str))
    if not len(ids) or not ids.str.contains(r"^[1-9][0-9]{0,9}$").all():
        return None
    values = ids.cast(pl.Int64).to_numpy()
    return values if values.max() <= MAX_ITEM_ID else None
