"""From accepted events to training sequences: filters, de-duplication, k-core, ordering, stable item indices.

Steps (each on the engine that measured fastest for it, see BENCHMARKS.md): Polars filters the events and
gives users and items integer codes (users in natural id order: numerically where the id is an integer); one
Polars sort orders every user's events by (timestamp, source file, source row), a total and deterministic
order; de-duplication keeps a user's first event per item; the iterative k-core runs on the integer codes with
numpy ``bincount`` until no user or item has fewer than k interactions; item ids get their stored index (new
items are appended in natural id order and the mapping is stored in the warehouse, so an index never changes);
the result is one flat index array with offsets (:class:`elcrec_core.sequences.Sequences`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from elcrec_core import warehouse
from elcrec_core.sequences import Sequences

_QUANTILES = {"p10": 0.1, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p90": 0.9, "p99": 0.99}


@dataclass(frozen=True)
class SequenceConfig:
    """Optional filters, de-duplication of repeated (user, item) events, and the k of the k-core (0: off)."""

    min_rating: float | None = None  # events without a rating fail this filter
    event_types: tuple[str, ...] | None = None
    dedupe: bool = False  # keep only each user's first event per item
    k_core: int = 5

    def __post_init__(self) -> None:
        if self.k_core < 0:
            raise ValueError(f"k_core must be >= 0, not {self.k_core}")

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> "SequenceConfig":
        config = dict(config)
        known = {f.name for f in dataclasses.fields(cls)}
        if unknown := set(config) - known:
            raise ValueError(f"unknown sequence setting(s) {sorted(unknown)}; known: {sorted(known)}")
        if config.get("event_types") is not None:
            config["event_types"] = tuple(config["event_types"])
        return cls(**config)


@dataclass
class SequenceSummary:
    """Counts of what each step removed, and statistics of the result."""

    events_in: int
    filtered_out: int
    duplicates_removed: int
    k_core_removed: int
    k_core_rounds: int
    users: int
    items: int  # distinct items in the sequences
    interactions: int
    density: float  # interactions / (users * items)
    n_items: int  # size of the item index (items ever indexed)
    new_items: int  # appended to the index by this build
    length: dict[str, float]  # min, quantiles, max, mean of the sequence lengths

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SequenceBuild:
    """Built sequences, the item id of each index (``item_ids[i - 1]`` for index i) and per-user facts."""

    sequences: Sequences
    item_ids: np.ndarray
    last_timestamps: np.ndarray  # datetime64[us] per user; NaT for events without time
    timestamps_monotonic: np.ndarray  # per user: timestamps never decrease along the sequence
    summary: SequenceSummary

    def frame(self) -> pl.DataFrame:
        """One row per user: user_id, items (index list), length, last_timestamp."""
        seqs = self.sequences
        items = pa.LargeListArray.from_arrays(pa.array(seqs.offsets), pa.array(seqs.items))
        return pl.DataFrame({
            "user_id": pl.Series(seqs.user_ids, dtype=pl.String),
            "items": pl.from_arrow(items),
            "length": pl.Series(seqs.lengths, dtype=pl.Int32),
            "last_timestamp": pl.Series(self.last_timestamps, dtype=pl.Datetime("us")),
        })

    def profile(self) -> pl.DataFrame:
        """One row per user for the sequence expectations: user_id, length, timestamps_monotonic."""
        return pl.DataFrame({
            "user_id": pl.Series(self.sequences.user_ids, dtype=pl.String),
            "length": pl.Series(self.sequences.lengths, dtype=pl.Int32),
            "timestamps_monotonic": self.timestamps_monotonic,
        })


def natural_order(ids: pl.Series) -> pl.Series:
    """Ids sorted numerically where they are integers (first), then as text: ``2 < 10 < a``."""
    frame = ids.rename("id").to_frame()
    return frame.sort(pl.col("id").cast(pl.Int64, strict=False), "id", nulls_last=True)["id"]


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


def assign_item_indices(known: pl.DataFrame, item_ids: pl.Series) -> pl.DataFrame:
    """Index rows (item_id, item_index) for the ids not in ``known``: appended after its largest index in
    natural id order, so that known ids keep their index and two runs over the same data agree."""
    candidates = item_ids.unique()
    new = natural_order(candidates.filter(~candidates.is_in(known["item_id"])))
    start = int(known["item_index"].max() or 0) + 1
    return pl.DataFrame({"item_id": new, "item_index": np.arange(start, start + len(new), dtype=np.int64)})


def build_sequences(events: pl.DataFrame, config: SequenceConfig = SequenceConfig(),
                    path: str | Path = warehouse.DEFAULT_WAREHOUSE) -> SequenceBuild:
    """Build sequences from accepted events (user_id, item_id, timestamp, source_file, source_row; rating and
    event_type when filtered on) and extend the stored item index in the warehouse at ``path``."""
    events_in = len(events)
    selected = events.lazy()
    if config.min_rating is not None:
        selected = selected.filter(pl.col("rating") >= config.min_rating)
    if config.event_types is not None:
        selected = selected.filter(pl.col("event_type").is_in(list(config.event_types)))
    selected = selected.select("user_id", "item_id", "timestamp", "source_file", "source_row").collect()
    n_selected = len(selected)
    users = natural_order(selected["user_id"].unique()).to_frame("user_id").with_row_index("u")
    items = selected["item_id"].unique().to_frame("item_id").with_row_index("i")
    ordered = (
        selected.lazy()
        .join(users.lazy(), on="user_id")
        .join(items.lazy(), on="item_id")
        .select("u", "i", "timestamp", "source_file", "source_row")
        .sort("u", "timestamp", "source_file", "source_row")
        .collect()
    )
    del selected
    if config.dedupe:
        ordered = ordered.filter(pl.struct("u", "i").is_first_distinct())
    after_dedupe = len(ordered)
    u, i = ordered["u"].to_numpy(), ordered["i"].to_numpy()
    keep, rounds = k_core_filter(u, i, config.k_core)
    u, i = u[keep], i[keep]
    ts = ordered["timestamp"].to_numpy()[keep]
    del ordered

    present = np.flatnonzero(np.bincount(i, minlength=len(items)))
    present_ids = items["item_id"].gather(present)
    with warehouse.transaction(path) as con:
        known = warehouse.read_item_index(con)
        new = assign_item_indices(known, present_ids)
        warehouse.append_item_index(con, new)
    mapping = pl.concat([known, new])
    item_ids = mapping.sort("item_index")["item_id"].to_numpy()
    if not np.array_equal(mapping["item_index"].sort().to_numpy(), np.arange(1, len(mapping) + 1)):
        raise ValueError(f"the stored item index of {path} is not 1..{len(mapping)}")
    index_of = np.zeros(len(items), dtype=np.int64)
    index_of[present] = (
        present_ids.to_frame("item_id").join(mapping, on="item_id", how="left", maintain_order="left")["item_index"]
        .to_numpy()
    )

    counts = np.bincount(u, minlength=len(users))
    kept_users = np.flatnonzero(counts)
    offsets = np.concatenate([[0], np.cumsum(counts[kept_users])]).astype(np.int64)
    seqs = Sequences(users["user_id"].gather(kept_users).to_numpy(), index_of[i], offsets, len(mapping))
    backwards = (u[1:] == u[:-1]) & (ts[1:] < ts[:-1])
    monotonic = np.bincount(u[1:][backwards], minlength=len(users))[kept_users] == 0
    last = ts[offsets[1:] - 1]
    lengths = seqs.lengths
    n_distinct = len(np.unique(seqs.items))
    summary = SequenceSummary(
        events_in=events_in,
        filtered_out=events_in - n_selected,
        duplicates_removed=n_selected - after_dedupe,
        k_core_removed=after_dedupe - len(seqs.items),
        k_core_rounds=rounds,
        users=len(seqs),
        items=n_distinct,
        interactions=len(seqs.items),
        density=len(seqs.items) / (len(seqs) * n_distinct) if len(seqs) else 0.0,
        n_items=seqs.n_items,
        new_items=len(new),
        length=_length_stats(lengths),
    )
    return SequenceBuild(seqs, item_ids, last, monotonic, summary)


def _length_stats(lengths: np.ndarray) -> dict[str, float]:
    if not len(lengths):
        return {}
    quantiles = np.quantile(lengths, list(_QUANTILES.values()))
    return {"min": float(lengths.min()), **{k: float(q) for k, q in zip(_QUANTILES, quantiles)},
            "max": float(lengths.max()), "mean": float(lengths.mean())}


def write_sequences(build: SequenceBuild, out_dir: str | Path,
                    path: str | Path = warehouse.DEFAULT_WAREHOUSE) -> dict[str, Path]:
    """Write ``sequences.parquet`` (one row per user), ``item_index.parquet`` (item_index, item_id) and
    ``summary.json`` to ``out_dir``, and replace the warehouse's ``sequences`` table."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frame = build.frame()
    paths = {"sequences": out_dir / "sequences.parquet", "item_index": out_dir / "item_index.parquet",
             "summary": out_dir / "summary.json"}
    frame.write_parquet(paths["sequences"])
    pl.DataFrame({
        "item_index": np.arange(1, len(build.item_ids) + 1, dtype=np.int64),
        "item_id": pl.Series(build.item_ids, dtype=pl.String),
    }).write_parquet(paths["item_index"])
    paths["summary"].write_text(json.dumps(build.summary.to_dict(), indent=2) + "\n")
    with warehouse.transaction(path) as con:
        warehouse.replace_sequences(con, frame)
    return paths
