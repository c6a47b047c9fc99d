"""From the warehouse's accepted events to training sequences: filters, de-duplication, k-core, ordering, stable
item indices, and the outputs (Parquet, warehouse table, summary statistics).

Each step runs where it measured fastest (see BENCHMARKS.md): one DuckDB query filters the events, replaces user
and item ids by integer codes (users in natural id order: numerically where the id is an integer) and orders every
user's events by (timestamp, source file, source row), a total and deterministic order; an event that two files
stored is used once (:mod:`elcrec_core.data.event_selection`); Polars drops repeated (user, item) events
(with ``dedupe``), keeping the first; the iterative k-core runs on the codes with numpy ``bincount`` until no user or
item has fewer than k interactions (:mod:`elcrec_core.data.k_core`; the users it removes keep their events on the
items it keeps as short histories, which their recommendations are made from); items get their stored index (new
items are appended in natural id order and the mapping is stored in the warehouse, so an index never changes). The
result is one flat index array with offsets (:class:`elcrec_core.data.sequences.Sequences`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from elcrec_core.config.field_types import check_field_types
from elcrec_core.config.settings import check_keys
from elcrec_core.data import warehouse
from elcrec_core.data.atomic_files import RUN_AGAIN, read_json, replace_files
from elcrec_core.data.event_selection import filter_counts, repeated_events, selected_events
from elcrec_core.data.k_core import k_core_filter, largest_k_keeping, new_items_removed, short_histories
from elcrec_core.data.sequence_summary import SequenceSummary, length_stats
from elcrec_core.data.sequences import ITEM_INDEX_FILE, Sequences, write_item_index_file

INDEX_SCHEMA = {"item_id": pl.String, "item_index": pl.Int64}  # rows of the warehouse's item index


@dataclass(frozen=True)
class SequenceConfig:
    """Optional filters, de-duplication of repeated (user, item) events, ``max_user_events`` and the k-core's k."""

    min_rating: float | None = None  # events without a rating fail this filter
    event_types: tuple[str, ...] | None = None
    dedupe: bool = False  # keep only each user's first event per item
    k_core: int = 5
    max_user_events: int | None = None  # a user with more events (after the filters and dedupe) is left out

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.k_core < 0:
            raise ValueError(f"k_core must be >= 0, not {self.k_core}")
        if self.max_user_events is not None and self.max_user_events < 1:
            raise ValueError(f"max_user_events must be >= 1 (or none), not {self.max_user_events}")

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> "SequenceConfig":
        """Build from plain data (TOML, YAML, Dagster run config). Raises ValueError naming an unknown setting, and
        a value of the wrong type (:func:`check_field_types`: ``event_types`` is a list, not text)."""
        check_keys(dict(config), cls, "sequence")
        return cls(**config)


@dataclass
class SequenceBuild:
    """Built sequences, the item id of each index of their catalogue (``item_ids[i - 1]`` for index i) and per-user
    facts. The catalogue is the item index up to the largest index of the items present, so that a day built again
    after later days (a re-run, a backfill) has the catalogue it had, without the later days' items;
    ``index_size`` is the whole index, its stored rows and ``new_index``."""

    sequences: Sequences
    item_ids: np.ndarray
    last_timestamps: np.ndarray  # datetime64[us] per user; NaT for events without time
    timestamps_monotonic: np.ndarray  # per user: timestamps never decrease along the sequence
    summary: SequenceSummary
    index_size: int
    config: SequenceConfig = field(default_factory=SequenceConfig)  # the settings it was built with
    new_index: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=INDEX_SCHEMA))  # to be stored
    # the users the k-core removed, each with their events on items of the sequences (same order and filters), and
    # the time of each one's newest such event: the histories their recommendations are made from
    short_histories: Sequences = field(default_factory=lambda: Sequences.from_lists([], [], 0))
    short_last_timestamps: np.ndarray = field(default_factory=lambda: np.array([], dtype="datetime64[us]"))

    def frame(self) -> pl.DataFrame:
        """One row per user: user_id, items (index list), length, last_timestamp."""
        return sequence_frame(self.sequences, self.last_timestamps)

    def short_frame(self) -> pl.DataFrame:
        """:meth:`frame` of ``short_histories``."""
        return sequence_frame(self.short_histories, self.short_last_timestamps)

    def profile(self) -> pl.DataFrame:
        """One row per user for the sequence expectations: user_id, length, timestamps_monotonic."""
        return pl.DataFrame({
            "user_id": pl.Series(self.sequences.user_ids, dtype=pl.String),
            "length": pl.Series(self.sequences.lengths, dtype=pl.Int32),
            "timestamps_monotonic": self.timestamps_monotonic,
        })


def sequence_frame(seqs: Sequences, last_timestamps: np.ndarray) -> pl.DataFrame:
    """One row per user of ``seqs``: user_id, items (index list), length, last_timestamp (``last_timestamps``)."""
    items = pa.LargeListArray.from_arrays(pa.array(seqs.offsets), pa.array(seqs.items))
    return pl.DataFrame({
        "user_id": pl.Series(seqs.user_ids, dtype=pl.String),
        "items": pl.from_arrow(items),
        "length": pl.Series(seqs.lengths, dtype=pl.Int32),
        "last_timestamp": pl.Series(last_timestamps, dtype=pl.Datetime("us")),
    })


def natural_order(ids: pl.Series) -> pl.Series:
    """Ids sorted numerically where they are integers (first), then as text: ``2 < 10 < a``."""
    frame = ids.to_frame("id")
    return frame.sort(pl.col("id").cast(pl.Int64, strict=False), "id", nulls_last=True)["id"].rename(ids.name)


def assign_item_indices(known: pl.DataFrame, item_ids: pl.Series) -> pl.DataFrame:
    """Index rows (item_id, item_index) for the ids not in ``known``: appended after its largest index in
    natural id order, so that known ids keep their index and two runs over the same data agree."""
    candidates = item_ids.unique()
    new = natural_order(candidates.filter(~candidates.is_in(known["item_id"].implode())))
    start = int(known["item_index"].max() or 0) + 1
    return pl.DataFrame({"item_id": new, "item_index": np.arange(start, start + len(new), dtype=np.int64)})


def build_sequences(config: SequenceConfig = SequenceConfig(), path: str | Path = warehouse.DEFAULT_WAREHOUSE,
                    until: datetime | None = None) -> SequenceBuild:
    """Build sequences from the accepted events in the warehouse at ``path`` (those before ``until`` when given,
    less those of later days' ``{date}`` files: :data:`~elcrec_core.data.event_selection.BEFORE_UNTIL`), their
    new items indexed after the stored item index. It writes nothing: :func:`write_sequences` stores the new index
    rows (``new_index``), so that a build refused by its expectations leaves the warehouse as it was. The warehouse
    is opened once for its reads (:func:`~elcrec_core.data.warehouse.held`); FileNotFoundError where there is none."""
    with warehouse.held(path, read_only=True):  # one open, not one for the events and one for the item index
        return _build(config, path, until)


def _build(config: SequenceConfig, path: str | Path, until: datetime | None) -> SequenceBuild:
    """:func:`build_sequences` in its hold of the warehouse."""
    (events_in, passed, failed, users_out), users, items, ordered = _ordered_events(config, path, until)
    n_selected = len(ordered)
    if config.dedupe:
        ordered = ordered.filter(pl.struct("u", "i").is_first_distinct())
    after_dedupe = len(ordered)
    u, i, ts = (ordered[c].to_numpy() for c in ("u", "i", "timestamp"))
    del ordered
    per_user = np.bincount(u, minlength=len(users))  # users with more events (bots?) go, kept in the warehouse
    heavy = per_user > (config.max_user_events or np.iinfo(np.int64).max)
    u, i, ts = (column[~heavy[u]] for column in (u, i, ts)) if heavy.any() else (u, i, ts)
    keep, rounds = k_core_filter(u, i, config.k_core)
    users_before = np.count_nonzero(np.bincount(u, minlength=len(users)))
    items_before = np.count_nonzero(np.bincount(i, minlength=len(items)))
    before_k_core = (u, i, ts)
    u, i, ts = u[keep], i[keep], ts[keep]

    present = np.flatnonzero(np.bincount(i, minlength=len(items)))
    item_ids, indices, new_index, with_metadata = _index_items(items["item_id"].gather(present), path)
    index_size, item_ids = len(item_ids), item_ids[:int(indices.max(initial=0))]  # the catalogue: SequenceBuild
    index_of = np.zeros(len(items), dtype=np.int64)
    index_of[present] = indices

    counts = np.bincount(u, minlength=len(users))
    kept_users = np.flatnonzero(counts)
    offsets = np.concatenate([[0], np.cumsum(counts[kept_users])]).astype(np.int64)
    seqs = Sequences(users["user_id"].gather(kept_users).to_numpy(), index_of[i], offsets, len(item_ids))
    short, short_last = short_histories(*before_k_core, counts == 0, index_of, users["user_id"], len(item_ids))
    backwards = (u[1:] == u[:-1]) & (ts[1:] < ts[:-1])
    monotonic = np.bincount(u[1:][backwards], minlength=len(users))[kept_users] == 0
    summary = SequenceSummary(
        events_in=events_in,
        filtered_out=events_in - passed,
        filtered_out_by=failed,
        filtered_out_users=users_out,
        repeated_across_files=passed - n_selected,
        duplicates_removed=n_selected - after_dedupe,
        max_user_events_removed=int(per_user[heavy].sum()),
        max_user_events_users=int(np.count_nonzero(heavy)),
        k_core_removed=after_dedupe - int(per_user[heavy].sum()) - len(seqs.items),
        k_core_users_removed=int(users_before) - len(seqs),
        k_core_rounds=rounds,
        users=len(seqs),
        items=len(present),
        interactions=len(seqs.items),
        density=len(seqs.items) / (len(seqs) * len(present)) if len(seqs) else 0.0,
        n_items=seqs.n_items,
        new_items=len(new_index),
        items_with_metadata=with_metadata,
        length=length_stats(seqs.lengths),
        k_core_items_removed=int(items_before) - len(present),
        k_core_new_items_removed=new_items_removed(before_k_core[1], before_k_core[2], keep, until),
        last_two_same_time=_last_two_same_time(ts, offsets),
        short_history_users=len(short),
        smaller_k_core=largest_k_keeping(*before_k_core[:2], config.k_core) if not len(seqs) else None,
    )
    return SequenceBuild(seqs, item_ids, ts[offsets[1:] - 1], monotonic, summary, index_size, config, new_index,
                         short, short_last)


def _last_two_same_time(times: np.ndarray, offsets: np.ndarray) -> int:
    """The users (sequences ``offsets`` [U + 1] into the event ``times``) whose last two events have the same time
    (events without a time have none)."""
    ends = offsets[1:][np.diff(offsets) >= 2]
    return int(np.count_nonzero(times[ends - 1] == times[ends - 2]))


def _ordered_events(config: SequenceConfig, path: str | Path, until: datetime | None
                    ) -> tuple[tuple[int, int, dict[str, int], int], pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The counts of the filters of the stored events before ``until`` (:func:`filter_counts`); the users (user_id, u:
    code in natural id order) and items (item_id, i) of the selected events
    (:func:`~elcrec_core.data.event_selection.selected_events`); and those events, each once
    (:func:`~elcrec_core.data.event_selection.repeated_events`), as (u, i, timestamp) in (user, time, source file,
    source row) order. One DuckDB query codes and orders the events: faster and leaner than Polars."""
    selected, params = selected_events(config, until)
    with warehouse.connect(path, read_only=True) as con:
        counts = filter_counts(con, config, until)
        users = natural_order(con.sql(f"SELECT DISTINCT user_id FROM ({selected})", params=params).pl()["user_id"])
        users = users.to_frame().with_row_index("u")
        items = con.sql(f"SELECT DISTINCT item_id FROM ({selected})", params=params).pl().with_row_index("i")
        con.register("user_codes", users)
        con.register("item_codes", items)
        ordered = con.sql(
            "WITH files AS (SELECT source_file, row_number() OVER (ORDER BY source_file) AS f"
            "               FROM (SELECT DISTINCT source_file FROM raw_interactions))"
            f" SELECT u, i, timestamp, rating, event_type FROM ({selected}) JOIN user_codes USING (user_id)"
            " JOIN item_codes USING (item_id) JOIN files USING (source_file)"
            " ORDER BY u, timestamp NULLS FIRST, f, source_row",
            params=params,
        ).pl()
    ordered = ordered.filter(~repeated_events(ordered, "u", "i")).select("u", "i", "timestamp")
    return counts, users, items, ordered


def _index_items(present_ids: pl.Series, path: str | Path) -> tuple[np.ndarray, np.ndarray, pl.DataFrame, int]:
    """The stored item index extended with the new ``present_ids`` (not stored). Returns the item id of every
    index (``item_ids[i - 1]``), the index of each present id, the new index rows, and how many present items
    have stored metadata."""
    with warehouse.connect(path, read_only=True) as con:
        known = warehouse.read_item_index(con)
        new = assign_item_indices(known, present_ids)
        con.register("present_items", present_ids.to_frame("item_id"))
        ((with_metadata,),) = con.execute(
            "SELECT count(*) FROM present_items JOIN item_metadata USING (item_id)").fetchall()
    mapping = pl.concat([known, new]).sort("item_index")
    if not np.array_equal(mapping["item_index"].to_numpy(), np.arange(1, len(mapping) + 1)):
        raise ValueError(f"the stored item index of {path} is not 1..{len(mapping)}")
    indices = present_ids.to_frame("item_id").join(mapping, on="item_id", how="left", maintain_order="left")
    return mapping["item_id"].to_numpy(), indices["item_index"].to_numpy(), new, int(with_metadata)


def store_item_index(build: SequenceBuild, path: str | Path = warehouse.DEFAULT_WAREHOUSE) -> None:
    """Append ``build``'s new item index rows to the warehouse at ``path``, in one transaction. Raises ValueError
    when the stored index has changed since the build (another build stored its new items first: build again)."""
    with warehouse.transaction(path) as con:
        stored = len(warehouse.read_item_index(con))
        if stored + len(build.new_index) != build.index_size:
            raise ValueError(f"the item index of {path} holds {stored} items, not the "
                             f"{build.index_size - len(build.new_index)} these sequences were built on: build "
                             "them again")
        warehouse.append_item_index(con, build.new_index)


def write_sequences(build: SequenceBuild, out_dir: str | Path,
                    path: str | Path = warehouse.DEFAULT_WAREHOUSE, table: bool = True) -> dict[str, Path]:
    """Store the build's new items in the warehouse's item index (:func:`store_item_index`), write to ``out_dir`` as
    one (:func:`~elcrec_core.data.atomic_files.replace_files`) ``sequences.parquet`` (a row per user),
    ``short_histories.parquet`` (:meth:`SequenceBuild.short_frame`), ``item_index.parquet``, ``summary.json`` and
    ``settings.json``; with ``table``, replace the warehouse's ``sequences`` table (the k-core's sequences only)."""
    store_item_index(build, path)
    frame, out_dir = build.frame(), Path(out_dir)
    names = {"sequences": "sequences.parquet", "item_index": ITEM_INDEX_FILE, "summary": "summary.json",
             "settings": SETTINGS_FILE, "short_histories": SHORT_HISTORIES_FILE}

    def write(folder: Path) -> None:  # the files as one: a refused write leaves the day's as they were
        frame.write_parquet(folder / names["sequences"])
        build.short_frame().write_parquet(folder / names["short_histories"])
        write_item_index_file(folder / names["item_index"], build.item_ids)
        (folder / names["summary"]).write_text(json.dumps(build.summary.to_dict(), indent=2) + "\n", encoding="utf-8")
        (folder / names["settings"]).write_text(json.dumps(asdict(build.config), indent=2) + "\n", encoding="utf-8")
    replace_files(out_dir, write)
    if table:
        warehouse.replace_table(path, "sequences", frame)
    return {key: out_dir / name for key, name in names.items()}


SETTINGS_FILE = "settings.json"
SHORT_HISTORIES_FILE = "short_histories.parquet"  # SequenceBuild.short_frame: the users the k-core removed


def read_sequence_settings(out_dir: str | Path) -> SequenceConfig:
    """The :class:`SequenceConfig` that built the sequences in ``out_dir`` (``settings.json``); the defaults for a
    folder written before the file was (their filters select every event, as the builds of that time did)."""
    path = Path(out_dir) / SETTINGS_FILE
    return SequenceConfig.from_dict(read_json(path, RUN_AGAIN)) if path.exists() else SequenceConfig()
