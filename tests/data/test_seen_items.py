"""Every item a user has an event with, whatever the sequences' filters kept: what is never recommended."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np

from elcrec_core.data import warehouse
from elcrec_core.data.event_selection import absent_event_types, type_keys, unmodelled_event_types, unrated_files
from elcrec_core.data.events_to_sequences import SequenceConfig, build_sequences
from elcrec_core.data.seen_items import seen_items, users_with_events
from tests.data.test_events_to_sequences import T0, _lists, _load_csv


def test_seen_items_are_every_event_before_until_whatever_the_filters(tmp_path: Path) -> None:
    """User u rated a 5 and 4, b 1, c unrated: min_rating 4 and buys only leave it [a, a], yet a, b, c are seen.
    User v's item d comes after ``until``: not seen yet; v viewed c (seen; not among the bought). Item e is not in
    the catalogue given (no model scores it): left out. User w has no event. Users keep the order given; items come
    once each, in index order."""
    rows = [("u", "a", T0, 5, "buy"), ("u", "b", T0 + 1, 1, "buy"), ("u", "a", T0 + 2, 4, "view"),
            ("u", "c", T0 + 3, "", "buy"), ("u", "a", T0 + 4, 5, "buy"), ("u", "e", T0 + 5, 5, "buy"),
            ("v", "b", T0, 5, "buy"), ("v", "d", T0 + 10 * 86_400, 5, "buy"), ("v", "c", T0 + 1, 2, "view")]
    db = _load_csv(tmp_path, rows, header="u,i,t,r,k")
    filtered = build_sequences(SequenceConfig.from_dict({"k_core": 0, "min_rating": 4, "event_types": ["buy"]}), db)
    assert _lists(filtered)["u"] == ["a", "a", "e"]
    until = datetime(2026, 3, 2)
    seen = seen_items(db, until, np.array(["w", "v", "u"]), np.array(["c", "a", "b", "d"]))
    assert [seen.sequence(n) for n in range(3)] == [[], [1, 3], [1, 2, 3]]
    # the sequences' event types only: v only viewed c, which stays a candidate; u bought a, b and c
    bought = seen_items(db, until, np.array(["w", "v", "u"]), np.array(["c", "a", "b", "d"]), ["buy"])
    assert [bought.sequence(n) for n in range(3)] == [[], [3], [1, 2, 3]]
    assert seen.user_ids.tolist() == ["w", "v", "u"] and seen.n_items == 4
    later = seen_items(db, None, np.array(["v"]), np.array(["c", "a", "b", "d"]))  # no bound: every event
    assert later.sequence(0) == [1, 3, 4]
    # users with events: u and v before until; then a user whose only event comes later, and one without a time
    with warehouse.connect(db) as con:
        con.execute("INSERT INTO raw_interactions VALUES (DATE '2026-03-05', 'x', 'a', TIMESTAMP '2026-03-05', "
                    "NULL, NULL, 'test', 1, 0), (NULL, 'y', 'a', NULL, NULL, NULL, 'test', 2, 0)")
    assert users_with_events(db, until) == 3  # u, v, and y (no time: every day has it)
    assert users_with_events(db, None) == 4


def test_an_event_type_is_matched_without_case_and_outer_spaces(tmp_path: Path) -> None:
    """A log that writes ``buy`` on one day and ``Buy`` or `` BUY`` on the next means one type: the sequences
    keep all three events, and all three items are seen (bought items were recommended again when the spelling
    changed); a view stays out, and so does a type that only contains the name. A tab is white space too, in the
    data as in the settings (``buy<TAB>`` was never selected: helper-130)."""
    rows = [("u", "a", T0, 5, "buy"), ("u", "b", T0 + 1, 5, "Buy"), ("u", "c", T0 + 2, 5, " BUY "),
            ("u", "d", T0 + 3, 5, "view"), ("u", "e", T0 + 4, 5, "buy_again"), ("u", "f", T0 + 5, 5, "buy\t"),
            ("u", "g", T0 + 6, 5, "\u3000buy\u00a0"), ("u", "h", T0 + 7, 5, "b uy")]  # other spaces (helper-133)
    db = _load_csv(tmp_path, rows, header="u,i,t,r,k")
    for types in (["buy"], ["Buy "], ["buy\t"], ["buy\u00a0"]):
        build = build_sequences(SequenceConfig.from_dict({"k_core": 0, "event_types": types}), db)
        assert _lists(build) == {"u": ["a", "b", "c", "f", "g"]} and build.summary.filtered_out == 3
        seen = seen_items(db, None, np.array(["u"]), np.array(["a", "b", "c", "d", "e", "f", "g", "h"]), types)
        assert seen.sequence(0) == [1, 2, 3, 6, 7]
        assert absent_event_types(db, types) == {}
    assert unmodelled_event_types(db, ["buy"])["rows"].to_list() == [1, 1, 1]  # view, buy_again and b uy only


def test_type_keys_are_the_stored_types_as_compared_in_order() -> None:
    """Each type once through DuckDB (a file of a million rows has a handful of types), every row's key back in
    its place; DuckDB's lower, as the filters': İ is i."""
    types = ["View", None, "\u3000view\t", "İade", "View", "iade", "buy"] * 3
    assert type_keys(types) == ["view", None, "view", "iade", "view", "iade", "buy"] * 3
    assert type_keys([]) == [] and type_keys([None]) == [None]


def test_an_event_type_given_as_stored_matches_whatever_its_letters(tmp_path: Path) -> None:
    """``İade`` (Turkish dotted İ) given as the log writes it: Python lower-cases İ to two characters and DuckDB to
    one, so the type matched no event, was called absent, and the users' returned items were recommended to them
    (helper-131)."""
    rows = [("u", "a", T0, 5, "İade"), ("u", "b", T0 + 1, 5, "KÄUFE"), ("u", "c", T0 + 2, 5, "view")]
    db = _load_csv(tmp_path, rows, header="u,i,t,r,k")
    for types in (["İade", "KÄUFE"], ["İADE ", "käufe"]):
        build = build_sequences(SequenceConfig.from_dict({"k_core": 0, "event_types": types}), db)
        assert _lists(build) == {"u": ["a", "b"]}
        assert seen_items(db, None, np.array(["u"]), np.array(["a", "b", "c"]), types).sequence(0) == [1, 2]
        assert absent_event_types(db, types) == {}
    assert absent_event_types(db, ["İadeler"]) == {"İadeler": ["iade"]}


def test_unrated_files_count_the_events_that_min_rating_drops_for_having_no_rating(tmp_path: Path) -> None:
    """Of u's events without a rating, 2 are buys and 1 a view: with buys modelled, min_rating drops 2 for having
    no rating (the view is left out by its type anyway); with every type, 3; a rated event is not counted."""
    rows = [("u", "a", T0, "", "buy"), ("u", "b", T0 + 1, "", "Buy"), ("u", "c", T0 + 2, "", "view"),
            ("u", "d", T0 + 3, 2, "buy")]
    db = _load_csv(tmp_path, rows, header="u,i,t,r,k")
    name = str((tmp_path / "e.csv").resolve())
    assert unrated_files(db, None, ["buy"]).rows() == [(name, 2, 3)]  # of its 3 buys: blank ratings
    assert unrated_files(db).rows() == [(name, 3, 4)]
    assert unrated_files(db, None, ["view"]).rows() == [(name, 1, 1)]  # every view unrated: no rating at all
    assert unrated_files(db, datetime(2026, 3, 1)).rows() == []  # before the first event: none


def test_events_without_a_time_count_from_their_files_day(tmp_path: Path) -> None:
    """``ingest(..., file_day=...)``: the day a {date} file holds is its untimed events' event_date; a day before it
    neither sees them in its history nor counts their users; without a file day they belong to every day."""
    from datetime import date

    from elcrec_core.data.ingestion import ingest
    from elcrec_core.data.source_config import ColumnMap, SourceConfig
    from tests.data.test_events_to_sequences import RULES

    db = tmp_path / "w.duckdb"
    for name, text, day in (("d21.csv", "u,i\nv,b\nw,b\n", date(2026, 1, 21)), ("all.csv", "u,i\nx,c\n", None)):
        (tmp_path / name).write_text(text)
        ingest(SourceConfig(format="csv", path=str(tmp_path / name), columns=ColumnMap("u", "i", None)), RULES, db,
               file_day=day)
    with warehouse.connect(db, read_only=True) as con:
        assert con.execute("SELECT user_id, event_date FROM raw_interactions ORDER BY 1").fetchall() == [
            ("v", date(2026, 1, 21)), ("w", date(2026, 1, 21)), ("x", None)]
    users, items = np.array(["v", "x"]), np.array(["b", "c"])
    for until, seen, count in ((datetime(2026, 1, 21), [[], [2]], 1), (datetime(2026, 1, 22), [[1], [2]], 3),
                               (None, [[1], [2]], 3)):
        history = seen_items(db, until, users, items)
        assert [history.sequence(n) for n in range(2)] == seen and users_with_events(db, until) == count
