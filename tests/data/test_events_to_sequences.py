"""Sequence building: exactness on Beauty, k-core, ordering, stable item indices, outputs."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elcrec_core.data import warehouse
from elcrec_core.data.events_to_sequences import (
    SequenceConfig,
    assign_item_indices,
    build_sequences,
    natural_order,
    read_sequence_settings,
    write_sequences,
)
from elcrec_core.data.ingestion import ingest
from elcrec_core.data.k_core import k_core_filter
from elcrec_core.data.item_metadata import read_item_metadata
from elcrec_core.data.sequences import read_sequence_file, read_sequence_parquet
from elcrec_core.data.source_config import ColumnMap, ItemMetadataConfig, SourceConfig
from elcrec_core.data.expectations import expect_sequences
from elcrec_core.data.validation import RowRules

RULES = RowRules(now=datetime(2026, 11, 27))
T0 = int(datetime(2026, 3, 1, tzinfo=timezone.utc).timestamp())


def _load_csv(tmp_path: Path, rows: list[tuple], name: str = "e.csv", header: str = "u,i,t") -> Path:
    """Load rows (user, item, epoch seconds[, rating, kind]) into a fresh warehouse; returns its path."""
    path = tmp_path / name
    path.write_text(header + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    names = header.split(",")
    db = tmp_path / "w.duckdb"
    ingest(SourceConfig(format="csv", path=str(path), columns=ColumnMap(*names)), RULES, db)
    return db


def _lists(build) -> dict[str, list[str]]:
    """Each user's sequence as original item ids."""
    seqs = build.sequences
    return {str(u): [str(build.item_ids[i - 1]) for i in seqs.sequence(n)] for n, u in enumerate(seqs.user_ids)}


def _assert_same(built, reference) -> None:
    assert np.array_equal(built.offsets, reference.offsets)
    assert np.array_equal(built.items, reference.items)
    assert built.user_ids.astype(np.int64).tolist() == reference.user_ids.tolist()
    assert built.n_items == reference.n_items


def test_beauty_sequence_file_round_trips_exactly(shared: Path, tmp_path: Path) -> None:
    reference = read_sequence_file(shared / "data" / "Beauty.txt")
    db = tmp_path / "w.duckdb"
    report, _ = ingest(SourceConfig(format="sequence", path=str(shared / "data" / "Beauty.txt")), RULES, db)
    assert report.rows_in == report.accepted == len(reference.items)
    build = build_sequences(SequenceConfig(k_core=0), db)
    # integer ids in natural order: every index equals the file's item id
    _assert_same(build.sequences, reference)
    assert build.item_ids.astype(np.int64).tolist() == list(range(1, reference.n_items + 1))
    assert build.timestamps_monotonic.all() and np.isnat(build.last_timestamps).all()
    assert build.summary.last_two_same_time == 0  # no times: none the same


def test_beauty_events_with_5_core_give_the_same_sequences(shared: Path, tmp_path: Path) -> None:
    reference = read_sequence_file(shared / "data" / "Beauty.txt")
    users = np.repeat(reference.user_ids, reference.lengths)
    events = pl.DataFrame({"user": users, "item": reference.items,
                           "at": T0 + np.arange(len(users), dtype=np.int64)})
    path = tmp_path / "beauty_events.csv"
    events.write_csv(path)
    db = tmp_path / "w.duckdb"
    ingest(SourceConfig(format="csv", path=str(path), columns=ColumnMap("user", "item", "at")), RULES, db)
    build = build_sequences(SequenceConfig(k_core=5), db)
    assert build.summary.k_core_removed == 0 and build.summary.k_core_rounds == 0
    _assert_same(build.sequences, reference)


def test_k_core_cascades_until_stable() -> None:
    # k = 2 on a chain u1-i2-u2-i3-u3-i4-u4: u4 (one event) and i1 (one event) go first; that leaves u1 and i4
    # with one each, then i2 and u3, then u2's last event. u5 and u6 on i5, i6 are a 2-core and stay.
    pairs = [(1, 1), (1, 2), (2, 2), (2, 3), (3, 3), (3, 4), (4, 4), (5, 5), (5, 6), (6, 5), (6, 6)]
    users, items = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    keep, rounds = k_core_filter(users, items, 2)
    assert [pairs[n] for n in np.flatnonzero(keep)] == [(5, 5), (5, 6), (6, 5), (6, 6)]
    assert rounds == 4
    assert k_core_filter(users, items, 0)[0].all() and k_core_filter(users, items, 1)[0].all()


def _naive_k_core(pairs: list[tuple[int, int]], k: int) -> list[tuple[int, int]]:
    while True:
        users, items = Counter(u for u, _ in pairs), Counter(i for _, i in pairs)
        kept = [(u, i) for u, i in pairs if users[u] >= k and items[i] >= k]
        if kept == pairs:
            return kept
        pairs = kept


@settings(max_examples=60, deadline=None)
@given(pairs=st.lists(st.tuples(st.integers(0, 8), st.integers(0, 8)), max_size=60), k=st.integers(0, 4))
def test_k_core_matches_a_naive_implementation(pairs: list[tuple[int, int]], k: int) -> None:
    users = np.array([p[0] for p in pairs], dtype=np.int64)
    items = np.array([p[1] for p in pairs], dtype=np.int64)
    keep, _ = k_core_filter(users, items, k)
    assert [pairs[n] for n in np.flatnonzero(keep)] == _naive_k_core(pairs, k)


def test_k_core_through_the_builder(tmp_path: Path) -> None:
    rows = [("u1", "a", T0), ("u1", "b", T0 + 1), ("u2", "b", T0), ("u2", "c", T0 + 1), ("u3", "c", T0),
            ("u4", "x", T0), ("u4", "y", T0 + 1), ("u5", "x", T0), ("u5", "y", T0 + 1)]
    db = _load_csv(tmp_path, rows)
    build = build_sequences(SequenceConfig(k_core=2), db)
    assert _lists(build) == {"u4": ["x", "y"], "u5": ["x", "y"]}
    assert build.summary.k_core_removed == 5 and build.summary.users == 2 and build.summary.items == 2
    assert build.summary.k_core_users_removed == 3  # u1, u2, u3: no sequence, no recommendations
    assert build.summary.k_core_items_removed == 3  # a, b, c: none of their events is left
    assert build.summary.last_two_same_time == 0
    rows[6] = ("u4", "y", T0)  # u4's last two events at the same time: the rows' order picks its test target
    (tmp_path / "tied").mkdir()
    tied = build_sequences(SequenceConfig(k_core=2), _load_csv(tmp_path / "tied", rows))
    assert (tied.summary.last_two_same_time, tied.summary.k_core_items_removed) == (1, 3)


def test_the_k_core_counts_the_items_it_removed_that_are_first_seen_on_the_day(tmp_path: Path) -> None:
    day = 86_400
    rows = [(u, item, T0 + t) for u in ("u1", "u2") for t, item in enumerate("xy")]
    rows += [("u1", "a", T0 + 2), ("u1", "n", T0 + day + 5), ("u2", "m", T0 + day + 6), ("u2", "m", T0 + day + 7),
             ("u1", "o", T0 + 3), ("u2", "o", T0 + day + 8)]  # a, o: seen before the day; n, m: new on it
    db = _load_csv(tmp_path, rows)
    end_of_day_two = datetime(2026, 3, 3)
    build = build_sequences(SequenceConfig(k_core=2, dedupe=False), db, until=end_of_day_two)
    assert _lists(build) == {"u1": ["x", "y", "o"], "u2": ["x", "y", "m", "m", "o"]}  # m has 2 events: kept
    assert (build.summary.k_core_items_removed, build.summary.k_core_new_items_removed) == (2, 1)  # a; n is new
    assert build_sequences(SequenceConfig(k_core=2, dedupe=False), db).summary.k_core_new_items_removed == 1
    day_one = build_sequences(SequenceConfig(k_core=2, dedupe=False), db, until=datetime(2026, 3, 2))
    # a and o (one event up to then) are first seen on the day, but so is every item: a log of one day has no new one
    assert (day_one.summary.k_core_items_removed, day_one.summary.k_core_new_items_removed) == (2, 0)


def test_users_the_k_core_removes_keep_their_events_on_its_items_as_short_histories(tmp_path: Path) -> None:
    rows = [(f"u{u}", item, T0 + t) for u in (1, 2, 3) for t, item in enumerate("xyz")]
    rows += [("u4", "z", T0 + 5), ("u4", "a", T0), ("u4", "x", T0 + 1),  # a: one event; then u4 has two
             ("u5", "b", T0), ("u5", "c", T0 + 1)]  # no item of the sequences
    db = _load_csv(tmp_path, rows)
    build = build_sequences(SequenceConfig(k_core=3), db)
    assert _lists(build) == {f"u{u}": ["x", "y", "z"] for u in (1, 2, 3)}
    short = build.short_histories
    assert short.user_ids.tolist() == ["u4"] and [build.item_ids[i - 1] for i in short.sequence(0)] == ["x", "z"]
    assert short.n_items == build.sequences.n_items
    assert build.short_last_timestamps.tolist() == [datetime(2026, 3, 1, 0, 0, 5)]
    assert (build.summary.k_core_users_removed, build.summary.short_history_users) == (2, 1)
    assert build.summary.without_sequence_note == (
        ": recommendations come from their events on the sequences' items (a short history) for 1 of these users; "
        "1 without such an event get none")
    every = dataclasses.replace(build.summary, short_history_users=2)
    assert (every.users_without_list, every.without_sequence_note) == (
        0, ": recommendations come from their events on the sequences' items (a short history) for 2 of these users")
    earlier = dataclasses.replace(build.summary, short_history_users=None)  # a summary of an earlier version
    assert (earlier.users_without_list, earlier.without_sequence_note) == (
        2, ": a user without a sequence gets no recommendations")
    paths = write_sequences(build, tmp_path / "out", db)
    written, item_ids = read_sequence_parquet(paths["short_histories"], paths["item_index"])
    assert written.user_ids.tolist() == ["u4"] and item_ids[written.items - 1].tolist() == ["x", "z"]
    assert pl.read_parquet(paths["short_histories"])["last_timestamp"].to_list() == [datetime(2026, 3, 1, 0, 0, 5)]
    with warehouse.connect(db, read_only=True) as con:  # the warehouse table holds the training sequences only
        assert con.execute("SELECT count(*) FROM sequences").fetchall() == [(3,)]
    # with the k-core off, nobody is removed
    assert len(build_sequences(SequenceConfig(k_core=0), db).short_histories) == 0


def test_order_is_chronological_with_a_deterministic_tie_break(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "b.csv").write_text(f"u,i,t\nu,late,{T0 + 5}\nu,tie-b1,{T0}\nu,tie-b2,{T0}\n")
    (folder / "a.csv").write_text(f"u,i,t\nu,tie-a1,{T0}\nu,first,{T0 - 1}\n")
    db = tmp_path / "w.duckdb"
    ingest(SourceConfig(format="csv", path=str(folder), columns=ColumnMap("u", "i", "t")), RULES, db)
    build = build_sequences(SequenceConfig(k_core=0), db)
    assert _lists(build) == {"u": ["first", "tie-a1", "tie-b1", "tie-b2", "late"]}
    assert build.last_timestamps.tolist() == [datetime(2026, 3, 1, 0, 0, 5)]


def test_filters_and_dedupe(tmp_path: Path) -> None:
    rows = [("u", "a", T0, 5, "buy"), ("u", "b", T0 + 1, 1, "buy"), ("u", "a", T0 + 2, 4, "view"),
            ("u", "c", T0 + 3, "", "buy"), ("u", "a", T0 + 4, 5, "buy")]
    db = _load_csv(tmp_path, rows, header="u,i,t,r,k")
    assert _lists(build_sequences(SequenceConfig(k_core=0), db)) == {"u": ["a", "b", "a", "c", "a"]}
    assert _lists(build_sequences(SequenceConfig(k_core=0, dedupe=True), db)) == {"u": ["a", "b", "c"]}
    only = build_sequences(SequenceConfig.from_dict({"k_core": 0, "min_rating": 4, "event_types": ["buy"]}), db)
    assert _lists(only) == {"u": ["a", "a"]}
    assert only.summary.filtered_out == 3 and only.summary.events_in == 5


def test_the_summary_counts_what_each_filter_set_left_out_and_the_users_it_left_without_events(tmp_path: Path) -> None:
    """A trial's report said "2,725 left out by the filters (event_types, min_rating)" where no min_rating was set,
    and not that 3 of its 300 users, who had no purchase or cart event, got no list (helper-279)."""
    rows = [("u", "a", T0, 5, "buy"), ("u", "b", T0 + 1, 1, "buy"), ("u", "a", T0 + 2, 4, "view"),
            ("u", "c", T0 + 3, "", "buy"), ("v", "a", T0, 5, "view"), ("v", "b", T0 + 1, 5, "view")]
    db = _load_csv(tmp_path, rows, header="u,i,t,r,k")
    types = build_sequences(SequenceConfig.from_dict({"k_core": 0, "event_types": ["buy"]}), db).summary
    assert (types.filtered_out, types.filtered_out_by, types.filtered_out_users) == (3, {"event_types": 3}, 1)
    assert types.filters_named == "the filter event_types" and types.left_out_notes() == [
        "the filter event_types left out 3 events, among them every event of 1 user (no list for them)"]
    both = build_sequences(SequenceConfig.from_dict({"k_core": 0, "min_rating": 4, "event_types": ["buy"]}), db)
    assert both.summary.filtered_out_by == {"min_rating": 2, "event_types": 3}  # the unrated event fails min_rating
    assert (both.summary.filtered_out, both.summary.filtered_out_users) == (5, 1)  # 5 events fail either
    assert both.summary.filters_named == "the filters min_rating and event_types"
    ratings = build_sequences(SequenceConfig.from_dict({"k_core": 0, "min_rating": 1}), db).summary
    assert (ratings.filtered_out_by, ratings.filtered_out_users, ratings.filters_named) == (
        {"min_rating": 1}, 0, "the filter min_rating")
    none = build_sequences(SequenceConfig(k_core=0), db).summary
    assert (none.filtered_out, none.filtered_out_by, none.filtered_out_users, none.left_out_notes()) == (0, {}, 0, [])


def test_max_user_events_leaves_out_users_with_more_events_before_the_k_core(tmp_path: Path) -> None:
    """A bot with thousands of events shaped the training windows and an intent of its own, and nothing could leave
    it out (helper-172): max_user_events leaves out users with more events (after the filters and dedupe), before
    the k-core, counted in the summary so that events in still reconcile; the settings of a build without it digest
    as before it existed."""
    from elcrec_core.data.sequence_settings import comparable_settings, setting_changes

    rows = [(u, i, T0 + n, "", "view") for n, (u, i) in enumerate(
        [("bot", f"i{k % 3}") for k in range(8)] + [("u", "i0"), ("u", "i1"), ("v", "i1"), ("v", "i2"), ("v", "i0")])]
    db = _load_csv(tmp_path, rows + [("bot", "i2", T0 + 99, "", "skip")], header="u,i,t,r,k")
    build = build_sequences(SequenceConfig(k_core=0, event_types=("view",), max_user_events=5), db)
    assert _lists(build) == {"u": ["i0", "i1"], "v": ["i1", "i2", "i0"]}
    summary = build.summary
    assert (summary.max_user_events_users, summary.max_user_events_removed, summary.filtered_out) == (1, 8, 1)
    assert summary.events_in == summary.filtered_out + summary.repeated_across_files + summary.duplicates_removed \
        + summary.max_user_events_removed + summary.k_core_removed + summary.interactions
    kept = build_sequences(SequenceConfig(k_core=2, max_user_events=3), db)  # the k-core after it: v's i2 goes
    assert _lists(kept) == {"u": ["i0", "i1"], "v": ["i1", "i0"]} and kept.summary.k_core_removed == 1
    assert len(kept.short_histories) == 0  # the bot has no short history either: it gets no list
    assert _lists(build_sequences(SequenceConfig(k_core=0, max_user_events=9), db))["bot"][:3] == ["i0", "i1", "i2"]
    assert "max_user_events" not in comparable_settings(SequenceConfig())
    assert comparable_settings(SequenceConfig(max_user_events=5))["max_user_events"] == 5
    assert setting_changes(SequenceConfig(), SequenceConfig(max_user_events=5)) == [
        "max_user_events none then, 5 now"]
    with pytest.raises(ValueError, match="max_user_events must be >= 1"):
        SequenceConfig(max_user_events=0)


def test_a_few_users_that_hold_much_of_the_data_are_named() -> None:
    """Users whose sequences are more than 50 times the median long holding a tenth of the events or more (30 bots
    among 42,151 users held 19%: helper-172; 3 bots among 1,200, 36%, where the longest 0.1% looked at was one
    user: helper-175) give a warning with the setting that leaves them out, at that line; ml-100k's longest users,
    long tails and data of fewer than 100 users give none."""
    from elcrec_core.data.sequence_summary import long_histories_note

    normal = np.random.default_rng(0).integers(6, 21, 1_500)
    bots = long_histories_note(np.concatenate([normal, [2_500] * 30]))
    median = int(np.median(np.concatenate([normal, [2_500] * 30])))
    assert bots == (f"30 users with more than {50 * median:,} events (50 times the median sequence) hold 79% of the "
                    "events, the longest 2,500: bots or shared accounts? They shape the training windows and the "
                    f"intents; max_user_events: {50 * median} (run config ops.interaction_sequences.config) leaves "
                    "users with more events out of the sequences and the lists")
    assert long_histories_note(np.array([5] * 42_121 + [10_000] * 30)).startswith("30 users with more than 250 events")
    assert long_histories_note(np.concatenate([normal, [1_500] * 2])).startswith("2 users")  # 13% of the events
    assert long_histories_note(np.concatenate([normal, [400] * 2])) == ""  # 3% of the events
    assert long_histories_note(np.array([5] * 50 + [10_000])) == ""  # 51 users: no median to speak of
    ml_100k = np.random.default_rng(1).integers(20, 738, 943)  # ml-100k's range: no outlier
    assert long_histories_note(ml_100k) == ""


def test_an_event_stored_by_two_files_is_used_once(tmp_path: Path) -> None:
    """Daily exports whose windows overlap: day 2's file repeats day 1's last events. The warehouse keeps both
    files' rows; the sequences use each event once (the same user, item, time, rating and event type), and an
    event that differs in event type or rating is another event."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "day1.csv").write_text(f"u,i,t,k\nu,a,{T0},view\nu,b,{T0 + 1},view\nu,c,{T0 + 2},view\n")
    (folder / "day2.csv").write_text(f"u,i,t,k\nu,b,{T0 + 1},view\nu,c,{T0 + 2},view\nu,c,{T0 + 2},buy\n"
                                     f"u,d,{T0 + 3},view\nv,b,{T0 + 1},view\n")
    db = tmp_path / "w.duckdb"
    report, _ = ingest(SourceConfig(format="csv", path=str(folder), columns=ColumnMap("u", "i", "t", None, "k")),
                       RULES, db)
    assert report.accepted == 8
    build = build_sequences(SequenceConfig(k_core=0), db)
    assert _lists(build) == {"u": ["a", "b", "c", "c", "d"], "v": ["b"]}
    summary = build.summary
    assert (summary.events_in, summary.repeated_across_files, summary.interactions) == (8, 2, 6)
    views = build_sequences(SequenceConfig(k_core=0, event_types=("view",)), db).summary
    assert (views.filtered_out, views.repeated_across_files, views.interactions) == (1, 2, 5)
    (folder / "day3.csv").write_text(f"u,i,t,k\nw,y,{T0 + 9},view\nw,x,{T0 + 9},view\n")  # at one time, in
    (folder / "day0.csv").write_text(f"u,i,t,k\nw,x,{T0 + 9},view\nw,y,{T0 + 9},view\n")  # another order
    ingest(SourceConfig(format="csv", path=str(folder), columns=ColumnMap("u", "i", "t", None, "k")), RULES, db)
    assert _lists(build_sequences(SequenceConfig(k_core=0), db))["w"] == ["x", "y"]


def test_an_event_in_two_files_is_one_whatever_the_case_of_its_event_type(tmp_path: Path) -> None:
    """Day 2's export writes the event types in capitals: the filters take ``VIEW`` for ``view``, and so do the
    repeats (before, the overlapping events were used twice)."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "day1.csv").write_text(f"u,i,t,k\nu,a,{T0},view\nu,b,{T0 + 1},view\n", encoding="utf-8")
    (folder / "day2.csv").write_text(f"u,i,t,k\nu,b,{T0 + 1}, VIEW\nu,c,{T0 + 2},VIEW\n", encoding="utf-8")
    db = tmp_path / "w.duckdb"
    ingest(SourceConfig(format="csv", path=str(folder), columns=ColumnMap("u", "i", "t", None, "k")), RULES, db)
    for config in (SequenceConfig(k_core=0), SequenceConfig(k_core=0, event_types=("view",))):
        build = build_sequences(config, db)
        assert _lists(build) == {"u": ["a", "b", "c"]}
        assert (build.summary.events_in, build.summary.repeated_across_files) == (4, 1)


def test_events_without_types_are_keyed_without_a_duckdb_connection(monkeypatch) -> None:
    """No type to key (a file without an event type column, no repeated rows to compare): None stays None and no
    in-memory DuckDB is opened (20 ms a load, twice for a build, before); a type among them still goes to DuckDB."""
    from elcrec_core.data import event_selection, scratch_duckdb

    opened = []
    real = duckdb.connect
    monkeypatch.setattr(scratch_duckdb, "_DATABASES", {})  # the process's scratch database: not open yet
    monkeypatch.setattr(duckdb, "connect", lambda *a, **k: opened.append(a) or real(*a, **k))
    assert event_selection.type_keys([]) == [] and event_selection.type_keys([None, None]) == [None, None]
    assert opened == []
    assert event_selection.type_keys([None, " VIEW", None]) == [None, "view", None] and len(opened) == 1


def test_a_folder_moved_and_loaded_again_gives_the_same_sequences(tmp_path: Path) -> None:
    """Files are keyed by path: the moved folder's files are new files to the warehouse, whose events are all
    stored twice. Timed events (csv) and a whole copy of untimed ones (the sequence format) are used once; a
    sequence file with other lines is not a copy, even where some lines agree."""
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    (old / "e.csv").write_text(f"u,i,t\nu,a,{T0}\nu,b,{T0 + 1}\nu,a,{T0 + 2}\nv,b,{T0}\n")
    (old / "s.txt").write_text("1 5 6 5\n2 6 7\n")
    db = tmp_path / "w.duckdb"

    def load(folder: Path) -> None:
        ingest(SourceConfig(format="csv", path=str(folder / "e.csv"), columns=ColumnMap("u", "i", "t")), RULES, db)
        ingest(SourceConfig(format="sequence", path=str(folder / "s.txt")), RULES, db)

    load(old)
    before = _lists(build_sequences(SequenceConfig(k_core=0), db))
    assert before == {"u": ["a", "b", "a"], "v": ["b"], "1": ["5", "6", "5"], "2": ["6", "7"]}
    old.rename(new)
    load(new)
    moved = build_sequences(SequenceConfig(k_core=0), db)
    assert _lists(moved) == before
    assert (moved.summary.events_in, moved.summary.repeated_across_files) == (18, 9)
    (new / "other.txt").write_text("1 5 6 5\n3 7 7\n")
    ingest(SourceConfig(format="sequence", path=str(new / "other.txt")), RULES, db)
    assert _lists(build_sequences(SequenceConfig(k_core=0), db)) == {**before, "1": ["5", "6", "5"] * 2,
                                                                      "3": ["7", "7"]}


def test_untimed_files_that_differ_only_in_filtered_events_are_no_copies(tmp_path: Path) -> None:
    """Whether a file without times is a whole copy of another is judged on all its events: two days' files that
    differ in a low-rated event left each an equal row after min_rating, and the second day's was dropped as a
    copy (helper-130)."""
    (tmp_path / "d1.csv").write_text("u,i,r\nu1,a,5\nu1,b,1\n")
    (tmp_path / "d2.csv").write_text("u,i,r\nu1,a,5\nu1,c,1\n")
    db = tmp_path / "w.duckdb"
    ingest(SourceConfig(format="csv", path=str(tmp_path / "d*.csv"), columns=ColumnMap("u", "i", None, "r")), RULES, db)
    rated = build_sequences(SequenceConfig(k_core=0, min_rating=3), db)
    assert _lists(rated) == {"u1": ["a", "a"]} and rated.summary.repeated_across_files == 0
    assert _lists(build_sequences(SequenceConfig(k_core=0), db)) == {"u1": ["a", "b", "a", "c"]}
    (tmp_path / "d3.csv").write_text("u,i,r\nu1,a,5\nu1,c,1\n")  # a whole copy of d2 is still one
    ingest(SourceConfig(format="csv", path=str(tmp_path / "d3.csv"), columns=ColumnMap("u", "i", None, "r")), RULES, db)
    again = build_sequences(SequenceConfig(k_core=0, min_rating=3), db)
    assert _lists(again) == {"u1": ["a", "a"]} and again.summary.repeated_across_files == 1


def test_item_indices_are_stable_across_runs(tmp_path: Path) -> None:
    db = _load_csv(tmp_path, [("u1", "b", T0), ("u1", "a", T0 + 1), ("u2", "c", T0)])
    first = build_sequences(SequenceConfig(k_core=0), db)
    assert first.item_ids.tolist() == ["a", "b", "c"] and first.summary.new_items == 3
    write_sequences(first, tmp_path / "day1", db)
    # the next day brings new items (and loses "a"): known ids keep their index, new ones are appended
    second_file = tmp_path / "day2.csv"
    second_file.write_text(f"u,i,t\nu3,c,{T0 + 86400}\nu3,10,{T0 + 86401}\nu3,9,{T0 + 86402}\nu3,d,{T0 + 86403}\n")
    (tmp_path / "e.csv").write_text(f"u,i,t\nu1,b,{T0}\n")
    ingest(SourceConfig(format="csv", path=str(tmp_path / "*.csv"), columns=ColumnMap("u", "i", "t")), RULES, db)
    second = build_sequences(SequenceConfig(k_core=0), db)
    assert second.item_ids.tolist() == ["a", "b", "c", "9", "10", "d"]
    assert second.summary.new_items == 3 and second.sequences.n_items == 6
    assert _lists(second) == {"u1": ["b"], "u3": ["c", "10", "9", "d"]}
    assert second.sequences.sequence(1) == [3, 5, 4, 6]
    write_sequences(second, tmp_path / "day2", db)
    again = build_sequences(SequenceConfig(k_core=0), db)
    assert again.summary.new_items == 0 and np.array_equal(again.sequences.items, second.sequences.items)


def test_a_day_built_again_after_a_later_day_has_the_catalogue_it_had(tmp_path: Path) -> None:
    """A re-run or backfill of an older day after a newer one: its catalogue held the newer day's items (untrained
    rows of its model, ranked in its lists and figures), so it trained another model than the day built in order.
    The catalogue ends at the largest index of the day's items; the index itself still grows only."""
    db = _load_csv(tmp_path, [("u", "b", T0), ("v", "a", T0 + 10), ("u", "c", T0 + 86_400), ("v", "d", T0 + 86_401)])
    day1 = build_sequences(SequenceConfig(k_core=0), db, until=datetime(2026, 3, 2))
    write_sequences(day1, tmp_path / "1", db)
    day2 = build_sequences(SequenceConfig(k_core=0), db)
    write_sequences(day2, tmp_path / "2", db)
    again = build_sequences(SequenceConfig(k_core=0), db, until=datetime(2026, 3, 2))
    assert again.item_ids.tolist() == day1.item_ids.tolist() == ["a", "b"] and day2.item_ids.tolist()[2:] == ["c", "d"]
    assert again.sequences.n_items == day1.sequences.n_items < day2.sequences.n_items
    assert np.array_equal(again.sequences.items, day1.sequences.items) and again.index_size == 4
    write_sequences(again, tmp_path / "1-again", db)  # the index is as the build found it: nothing refused
    with warehouse.connect(db, read_only=True) as con:
        assert warehouse.read_item_index(con)["item_id"].to_list() == ["a", "b", "c", "d"]
    assert read_sequence_parquet(tmp_path / "1-again" / "sequences.parquet")[1].tolist() == ["a", "b"]


def test_a_build_stores_its_new_items_only_when_written(tmp_path: Path) -> None:
    """The pipeline checks a build's expectations before it writes anything: a build that fails them had already
    appended its new items to the warehouse's item index (items of a bad delivery stayed in every later model's
    catalogue). The index grows when the build is written, and a build older than the stored index is refused."""
    db = _load_csv(tmp_path, [("u1", "b", T0), ("u1", "a", T0 + 1)])
    with warehouse.connect(db, read_only=True) as con:
        assert warehouse.read_item_index(con).is_empty()
    build = build_sequences(SequenceConfig(k_core=0), db)
    with warehouse.connect(db, read_only=True) as con:
        assert warehouse.read_item_index(con).is_empty()  # built, not written: nothing stored
    rival = build_sequences(SequenceConfig(k_core=0), db)
    write_sequences(build, tmp_path / "out", db)
    with warehouse.connect(db, read_only=True) as con:
        assert warehouse.read_item_index(con).rows() == [("a", 1), ("b", 2)]
    with pytest.raises(ValueError, match=r"holds 2 items, not the 0 these sequences were built on: build them again"):
        write_sequences(rival, tmp_path / "rival", db)
    again = build_sequences(SequenceConfig(k_core=0), db)
    assert again.summary.new_items == 0 and again.new_index.is_empty()
    write_sequences(again, tmp_path / "again", db)  # nothing new: stores nothing, refuses nothing


def test_index_assignment_and_natural_order() -> None:
    known = pl.DataFrame({"item_id": ["x"], "item_index": [1]})
    new = assign_item_indices(known, pl.Series(["b", "10", "x", "2", "b", "a"]))
    assert new.rows() == [("2", 2), ("10", 3), ("a", 4), ("b", 5)]
    assert natural_order(pl.Series("id", ["10", "9", "-1", "x", "007"])).to_list() == ["-1", "007", "9", "10", "x"]


def test_outputs_parquet_warehouse_and_summary(tmp_path: Path) -> None:
    rows = [(f"u{u}", f"i{(u + j) % 4}", T0 + j) for u in range(6) for j in range(3)]
    db = _load_csv(tmp_path, rows)
    items = tmp_path / "items.csv"
    items.write_text("item_id,title,categories\ni0,Zero,A\ni3,Three,B|C\ni9,Nine,D\n")
    warehouse.load_item_metadata(*read_item_metadata(ItemMetadataConfig(str(items))), items, db)
    build = build_sequences(SequenceConfig(k_core=2), db)
    paths = write_sequences(build, tmp_path / "out", db)
    frame = pl.read_parquet(paths["sequences"])
    assert frame.columns == ["user_id", "items", "length", "last_timestamp"]
    assert frame["length"].to_list() == [3] * 6 and frame["user_id"].to_list() == [f"u{u}" for u in range(6)]
    seqs, item_ids = read_sequence_parquet(paths["sequences"])
    assert np.array_equal(seqs.items, build.sequences.items) and item_ids.tolist() == build.item_ids.tolist()
    with warehouse.connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*), sum(length) FROM sequences").fetchall() == [(6, 18)]
        assert con.execute("SELECT item_id FROM item_index ORDER BY item_index").fetchall() == [
            ("i0",), ("i1",), ("i2",), ("i3",)]
    summary = json.loads(paths["summary"].read_text())
    assert summary["users"] == 6 and summary["items"] == 4 and summary["interactions"] == 18
    assert summary["density"] == pytest.approx(18 / 24) and summary["length"]["p50"] == 3.0
    assert summary["items_with_metadata"] == 2
    # the settings it was built with, for the next-day backtest; a folder from before them reads as the defaults
    assert read_sequence_settings(tmp_path / "out") == SequenceConfig(k_core=2)
    assert read_sequence_settings(tmp_path) == SequenceConfig()
    assert expect_sequences(build.profile()).success


def test_an_empty_warehouse_builds_no_sequences(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with warehouse.connect(db):
        pass
    build = build_sequences(SequenceConfig(), db)
    assert len(build.sequences) == 0 and build.summary.interactions == 0 and build.frame().is_empty()
    with pytest.raises(FileNotFoundError, match="no warehouse"):
        build_sequences(SequenceConfig(), tmp_path / "absent.duckdb")


def test_build_up_to_a_point_in_time(tmp_path: Path) -> None:
    rows = [("u", "a", T0), ("u", "b", T0 + 86_400), ("v", "a", T0 + 10)]
    db = _load_csv(tmp_path, rows)
    build = build_sequences(SequenceConfig(k_core=0), db, until=datetime(2026, 3, 2))
    assert _lists(build) == {"u": ["a"], "v": ["a"]} and build.summary.events_in == 2


def test_a_day_holds_no_event_of_a_later_days_file_whichever_loaded_first(tmp_path: Path) -> None:
    """Daily {date} files in local time (+01:00): the 2nd's file holds an event at 00:30 that is 23:30 UTC of the
    1st. Loaded before the 1st's build (several days started at once), it was in the 1st's sequences, its history
    and its user count, which a build before that load lacked. Now the 1st's data are its own and earlier files'
    events, in either order; the 2nd's build has the event."""
    from datetime import date

    from elcrec_core.data.seen_items import seen_items, users_with_events

    files = {1: "u,i,t\nu,a,2026-03-01T10:00:00+01:00\nv,a,2026-03-01T11:00:00+01:00\n",
             2: "u,i,t\nw,c,2026-03-02T00:30:00+01:00\nu,b,2026-03-02T09:00:00+01:00\n"}
    end_of_1st = datetime(2026, 3, 2)
    built = {}
    for order in ((1, 2), (2, 1)):
        db = tmp_path / f"{order}.duckdb"
        for day in order:
            (tmp_path / f"{day}.csv").write_text(files[day])
            ingest(SourceConfig(format="csv", path=str(tmp_path / f"{day}.csv"), columns=ColumnMap("u", "i", "t"),
                                timestamp_format="iso8601"),
                   RULES, db, file_day=date(2026, 3, day))
        first = build_sequences(SequenceConfig(k_core=0), db, until=end_of_1st)
        seen = seen_items(db, end_of_1st, np.array(["u", "w"]), np.array(["a", "b", "c"]))
        built[order] = (_lists(first), first.summary.events_in, [list(seen.sequence(n)) for n in range(2)],
                        users_with_events(db, end_of_1st))
        assert _lists(build_sequences(SequenceConfig(k_core=0), db, until=datetime(2026, 3, 3))) == {
            "u": ["a", "b"], "v": ["a"], "w": ["c"]}
    assert built[(2, 1)] == built[(1, 2)] == ({"u": ["a"], "v": ["a"]}, 2, [[1], []], 2)


def test_a_warehouse_of_an_older_version_is_read_before_any_write_migrates_it(tmp_path: Path) -> None:
    """The day's data read loads.file_day, which a warehouse written before the column lacks until a write adds it:
    building a day's sequences again after an upgrade (a read-only connection) failed with 'Referenced column
    "file_day" not found'. A read-only connection sees the missing columns as NULL: every load is of no day."""
    db = _load_csv(tmp_path, [("u", "a", T0), ("u", "b", T0 + 10), ("v", "a", T0 + 20)])
    with duckdb.connect(str(db)) as con:  # as an older version left it
        for column in ("file_day", "replaced_files", "replaced_rejected"):
            con.execute(f"ALTER TABLE loads DROP COLUMN {column}")
    expected = {"u": ["a", "b"], "v": ["a"]}
    assert _lists(build_sequences(SequenceConfig(k_core=0), db, until=datetime(2026, 3, 2))) == expected
    with warehouse.connect(db, read_only=True) as con:
        assert con.execute("SELECT file_day, replaced_files, replaced_rejected FROM loads").fetchall() == [
            (None, None, None)]
    with warehouse.held(db, read_only=True), warehouse.connect(db, read_only=True) as con:  # each its own view
        assert con.execute("SELECT file_day FROM loads").fetchall() == [(None,)]  # (build_sequences holds it)
    with warehouse.connect(db) as con:  # a write migrates it
        assert "file_day" in [row[0] for row in con.execute("DESCRIBE loads").fetchall()]
    assert _lists(build_sequences(SequenceConfig(k_core=0), db, until=datetime(2026, 3, 2))) == expected


def test_a_refused_write_of_a_days_sequences_leaves_all_of_its_files_as_they_were(tmp_path, monkeypatch):
    """Each file was written whole, but one after another: a full disk at summary.json left the new
    sequences.parquet beside the old settings.json, which the next run read as the settings those sequences were
    built with (helper-219). The files are written as one; the folder's other files stay, and a folder that links
    elsewhere is written through (a first version swapped the whole folder: helper-221)."""
    from elcrec_core.data.atomic_files import NotWritten
    from elcrec_core.data.events_to_sequences import read_sequence_settings
    from elcrec_core.data.sequence_summary import SequenceSummary

    db = _load_csv(tmp_path, [("u1", "b", T0), ("u1", "a", T0 + 1), ("u2", "c", T0), ("u2", "a", T0 + 2)])
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "sequences").mkdir()
    out = tmp_path / "sequences" / "2026-01-31"
    out.symlink_to(tmp_path / "elsewhere")
    (out / "notes.txt").write_text("a team's own file")
    write_sequences(build_sequences(SequenceConfig(k_core=0), db), out, db)
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    assert len(before) == 6 and (tmp_path / "elsewhere" / "settings.json").is_file()  # through the link

    def full_disk(self: SequenceSummary) -> dict:  # the summary is written after the sequences
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(SequenceSummary, "to_dict", full_disk)
    with pytest.raises(NotWritten, match=rf"^{out} was not written, and is as it was: \[Errno 28\] No space left"):
        write_sequences(build_sequences(SequenceConfig(k_core=2), db), out, db)
    monkeypatch.undo()
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before  # every file as it was, no staging
    assert read_sequence_settings(out).k_core == 0 and out.is_symlink()
    write_sequences(build_sequences(SequenceConfig(k_core=2), db), out, db)
    assert read_sequence_settings(out).k_core == 2 and sorted(path.name for path in out.iterdir()) == sorted(before)
    assert (out / "notes.txt").read_text() == "a team's own file" and out.is_symlink()
