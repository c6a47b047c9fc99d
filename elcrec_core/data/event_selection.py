"""Which stored events the sequences and the next-day backtest use: the filters of a
:class:`~elcrec_core.data.events_to_sequences.SequenceConfig`, and each event once where several source files hold
it (daily exports whose windows overlap, a copy, an input folder moved and loaded again: the warehouse keys files by
path and keeps every file's rows, see :mod:`elcrec_core.data.warehouse`)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import polars as pl

from elcrec_core.data import warehouse
from elcrec_core.data.scratch_duckdb import scratch_connection

if TYPE_CHECKING:
    from elcrec_core.data.events_to_sequences import SequenceConfig


def event_filter(config: SequenceConfig) -> tuple[str, list[Any]]:
    """The SQL condition on ``raw_interactions`` rows of ``config``'s filters (:func:`filter_conditions`, all of
    them) and its parameters."""
    conditions = filter_conditions(config).values()
    return " AND ".join(sql for sql, _ in conditions), [value for _, params in conditions for value in params]


def filter_conditions(config: SequenceConfig) -> dict[str, tuple[str, list[Any]]]:
    """Each of ``config``'s row filters by its setting's name (``min_rating``: events without a rating fail it;
    ``event_types``: :func:`event_type_condition`): its SQL condition on ``raw_interactions`` rows (NULL for a row
    that fails it, as false) and parameters; a filter not set passes every row."""
    return {"min_rating": ("(?::DOUBLE IS NULL OR rating >= ?::DOUBLE)", [config.min_rating, config.min_rating]),
            "event_types": event_type_condition(config.event_types)}


def filter_counts(con: duckdb.DuckDBPyConnection, config: SequenceConfig,
                  until: datetime | None) -> tuple[int, int, dict[str, int], int]:
    """On the open warehouse ``con``, of the stored events before ``until`` (None: all): how many, how many pass
    ``config``'s filters, how many each filter that is set fails (by its name; an event may fail several), and the
    users of which none passes (every event of theirs left out: they get no sequence nor list)."""
    conditions = filter_conditions(config)
    names = [name for name in conditions if getattr(config, name) is not None]
    keep_row, keep_params = event_filter(config)
    fails = "".join(f", count(*) FILTER (NOT coalesce({conditions[name][0]}, false))" for name in names)
    (counts,) = con.execute(
        f"SELECT count(*), count(*) FILTER ({keep_row}){fails}, count(DISTINCT user_id) - count(DISTINCT user_id) "
        f"FILTER ({keep_row}) FROM raw_interactions WHERE {BEFORE_UNTIL}",
        [*keep_params, *(value for name in names for value in conditions[name][1]), *keep_params,
         *until_params(until)]).fetchall()
    return int(counts[0]), int(counts[1]), dict(zip(names, map(int, counts[2:-1]))), int(counts[-1])


# a stored event type as compared: without case and outer white space, every character that Python's str.strip()
# takes off the types of the settings (spaces of any kind, such as U+00A0 and U+3000, tabs, line ends)
_OUTER_SPACE = r"[\s\pZ\x{0b}\x{1c}-\x{1f}\x{85}]+"
TYPE_KEY = f"lower(regexp_replace(event_type, '^{_OUTER_SPACE}|{_OUTER_SPACE}$', '', 'g'))"


def type_keys(types: Sequence[str | None]) -> list[str | None]:
    """Each of ``types`` as the filters compare event types (:data:`TYPE_KEY`, computed by DuckDB as for the stored
    events: ``' View'`` gives ``'view'``; None stays None), in the same order. DuckDB sees each distinct type once,
    and is not asked at all where there is no type (events without types, no candidate rows: a connection is 20 ms)."""
    distinct = [name for name in dict.fromkeys(types) if name is not None]
    key: dict[str | None, str | None] = {None: None}
    if distinct:
        with scratch_connection() as con:
            ((keys,),) = con.execute(f"SELECT list_transform(?::VARCHAR[], lambda event_type: {TYPE_KEY})",
                                     [distinct]).fetchall()
        key.update(zip(distinct, keys))
    return [key[name] for name in types]


def with_type_keys(events: pl.DataFrame) -> pl.DataFrame:
    """``events`` with their ``event_type`` column replaced by its :func:`type_keys`, to compare events by."""
    return events.with_columns(pl.Series("event_type", type_keys(events["event_type"].to_list()), pl.String))


def event_type_condition(event_types: Sequence[str] | None) -> tuple[str, list[Any]]:
    """The SQL condition that a ``raw_interactions`` row's event type is one of ``event_types`` (None: any, also
    none), compared without case and outer white space (a log that writes ``Purchase`` one day and ``purchase`` the
    next means one type), and its parameters."""
    types = sorted({name.strip() for name in event_types}) if event_types is not None else None
    return (f"(?::VARCHAR[] IS NULL OR list_contains(list_transform(?::VARCHAR[], lambda t: lower(t)), {TYPE_KEY}))",
            [types, types])  # both lowered by DuckDB: Python's lower of the Turkish İ is two characters, DuckDB's one


# stored events before a time (its parameters: :func:`until_params`; NULL: every event), of the files of a day before
# it: an event without a time counts as at the start of its file's day where it has one (a {date} source's), else as
# before every time; and a later day's {date} file adds none of its events (a file in local time holds some of the
# day before's last hours in UTC): a day's data is the same whichever day's file loaded first. Written so that DuckDB
# skips the row groups of later times (a backfill's early day: 25 ms instead of 105 ms for 10M events, BENCHMARKS.md
# "Events before a day")
_UNTIL = "coalesce(?::TIMESTAMP, 'infinity'::TIMESTAMP)"
BEFORE_UNTIL = (f"((timestamp < {_UNTIL} OR (timestamp IS NULL AND (event_date IS NULL"
                f" OR CAST(event_date AS TIMESTAMP) < {_UNTIL})))"
                f" AND load_id NOT IN (SELECT load_id FROM loads WHERE CAST(file_day AS TIMESTAMP) >= {_UNTIL}))")


def until_params(until: datetime | None) -> list[datetime | None]:
    """The parameters of :data:`BEFORE_UNTIL` for the time ``until`` (naive UTC; None: every event)."""
    return [until] * BEFORE_UNTIL.count("?")


_UNTIMED_ROW = ("concat_ws(chr(9), source_row, user_id, item_id, coalesce(CAST(rating AS VARCHAR), ''),"
                " coalesce(event_type, ''))")  # one event without a time as text, for its file's digest


def selected_events(config: SequenceConfig, until: datetime | None = None) -> tuple[str, list[Any]]:
    """The SQL query of the stored events that sequences are built from, and its parameters: those before
    ``until`` (naive UTC; those without a time: of their file's day or earlier, :data:`BEFORE_UNTIL`), passing
    ``config``'s filters, less the events without a time of a file whose untimed events equal, row by row, those of
    a file earlier in name order (a whole copy: ordered events such as the ``sequence`` format repeat items
    legitimately), compared before the filters (two files that differ only in events the filters leave out are
    no copies). Columns: user_id, item_id,
    timestamp, rating, event_type, source_file, source_row. Timed events that two files stored are left to
    :func:`repeated_events`, which finds them faster once the events are ordered."""
    keep_row, keep_params = event_filter(config)
    stored = (f"SELECT user_id, item_id, timestamp, rating, event_type, source_file, source_row FROM raw_interactions"
              f" WHERE {BEFORE_UNTIL}")
    query = (f"WITH stored AS ({stored}),"  # a copy is judged on every event, before the filters
             f" untimed AS (SELECT source_file, md5(string_agg({_UNTIMED_ROW}, chr(10) ORDER BY source_row)) AS digest"
             "             FROM stored WHERE timestamp IS NULL GROUP BY source_file),"
             " copies AS (SELECT source_file FROM untimed"
             "            QUALIFY row_number() OVER (PARTITION BY digest ORDER BY source_file) > 1)"
             f" SELECT * FROM stored WHERE {keep_row}"
             "  AND (timestamp IS NOT NULL OR source_file NOT IN (SELECT source_file FROM copies))")
    return query, [*until_params(until), *keep_params]


def unmodelled_event_types(path: str | Path, event_types: Sequence[str] | None,
                           until: datetime | None = None) -> pl.DataFrame:
    """The event types of the warehouse's events before ``until`` (:data:`BEFORE_UNTIL`) that ``event_types``
    leaves out (:func:`event_type_condition`; None: none is left out), one row each: ``event_type`` (its most
    frequent spelling; null for events without a type), ``rows``, ``first_day`` (the date of its first timed event;
    null where it has none) and ``new`` (its first day is the day that ends at ``until``, else the newest day of the
    events, and not their first day: a type that the log began to write then); the newest first, then the
    largest."""
    types, params = event_type_condition(event_types)
    with warehouse.connect(path, read_only=True) as con:
        ((first, last),) = con.execute("SELECT CAST(min(timestamp) AS DATE), CAST(max(timestamp) AS DATE)"
                                       f" FROM raw_interactions WHERE {BEFORE_UNTIL}", until_params(until)).fetchall()
        # a type's most frequent spelling, the first in text order of those as frequent (DuckDB's mode() took
        # whichever its threads met first: View one run, view the next, helper-212)
        left_out = con.sql(
            "SELECT first(event_type ORDER BY spelt DESC, event_type) AS event_type, CAST(sum(spelt) AS BIGINT)"
            " AS rows, min(first_day) AS first_day FROM (SELECT event_type, count(*) AS spelt, CAST(min(timestamp)"
            f" AS DATE) AS first_day FROM raw_interactions WHERE {BEFORE_UNTIL} AND NOT coalesce({types}, false)"
            f" GROUP BY event_type) GROUP BY {TYPE_KEY} ORDER BY first_day DESC NULLS LAST, rows DESC, event_type",
            params=[*until_params(until), *params]).pl()
    day = (until - timedelta(microseconds=1)).date() if until is not None else last
    is_new = pl.col("first_day") == day if day is not None and first != day else pl.lit(False)
    return left_out.with_columns(new=is_new.fill_null(False))


def absent_event_types(path: str | Path, event_types: Sequence[str] | None,
                       until: datetime | None = None) -> dict[str, list[str]]:
    """The types of ``event_types`` (as given) that no stored event before ``until`` (:data:`BEFORE_UNTIL`) has,
    compared as :func:`event_type_condition` compares them, each with the stored types it may be a misspelling of
    (:func:`difflib.get_close_matches`, the closest first; possibly none). Empty where ``event_types`` is None, or
    where every one of them occurs: a misspelt type (``purchases`` for ``purchase``) would leave its events out of
    the sequences, and a type not yet written by the log (``refund``) is no error."""
    if event_types is None:
        return {}
    with warehouse.connect(path, read_only=True) as con:
        stored = [name for (name,) in con.execute(
            f"SELECT {TYPE_KEY} AS name FROM raw_interactions"
            f" WHERE {BEFORE_UNTIL} AND event_type IS NOT NULL GROUP BY name ORDER BY count(*) DESC, name",
            until_params(until)).fetchall()]
    keys = type_keys(list(event_types))  # as the stored types are compared
    known = set(stored)
    return {name: difflib.get_close_matches(key, stored, n=3, cutoff=0.6)
            for name, key in zip(event_types, keys) if key not in known}


def absent_types_text(absent: dict[str, list[str]], holder: str) -> str:
    """The types of :func:`absent_event_types` as a list for a message: ``'purchases' (the log has 'purchase'),
    'refund'``, where ``holder`` (``the log``) names what holds the close types."""
    return ", ".join(f"{name!r}" + (f" ({holder} has {', '.join(map(repr, close))})" if close else "")
                     for name, close in absent.items())


def unrated_files(path: str | Path, until: datetime | None = None,
                  event_types: Sequence[str] | None = None) -> pl.DataFrame:
    """Per source file, its stored events before ``until`` (:data:`BEFORE_UNTIL`) of ``event_types`` (None:
    any) that have no rating, which a ``min_rating`` filter drops every one of: ``source_file``, ``rows`` and
    ``events`` (all its events of those types: ``rows`` of them where the file holds no rating at all, as one loaded
    before the source settings named a rating_column; fewer where its ratings are blank for some), most first."""
    types, params = event_type_condition(event_types)
    with warehouse.connect(path, read_only=True) as con:
        return con.sql(f"SELECT source_file, count(*) FILTER (WHERE rating IS NULL) AS rows, count(*) AS events FROM "
                       f"raw_interactions WHERE {BEFORE_UNTIL} AND {types} GROUP BY source_file HAVING rows > 0 "
                       "ORDER BY rows DESC, source_file", params=[*until_params(until), *params]).pl()


def repeated_events(events: pl.DataFrame, user: str, item: str) -> np.ndarray:
    """The timed events equal to an earlier row in user, item, timestamp, rating and event type (True), of
    ``events`` ordered by user, timestamp, then source file and row (so the copy of the file first in name order is
    the one kept); event types compared as the filters compare them (:func:`type_keys`: ``View`` is ``view``).
    Within a file such rows are already rejected (``duplicate_event``,
    :func:`elcrec_core.data.validation.check_rows`; a file loaded by a version before 2026-12-05 kept those that
    differ in the case of their type), and the warehouse keeps every file's rows: a repeat is an event that two
    files stored (exports whose windows overlap, a folder moved and loaded again under its new path, a copy), to be
    used once. Only rows that share user and time with a neighbour are compared."""
    same = np.zeros(len(events), dtype=bool)
    if len(events) < 2:
        return same
    users, times = events[user], events["timestamp"]
    neighbour = ((users.head(-1) == users.tail(-1)) & (times.head(-1) == times.tail(-1))).fill_null(False).to_numpy()
    candidates = np.flatnonzero(np.concatenate([[False], neighbour]) | np.concatenate([neighbour, [False]]))
    key = pl.struct(user, item, "timestamp", "rating", "event_type")
    first = with_type_keys(events[candidates]).select(key.is_first_distinct())[:, 0].to_numpy()
    same[candidates[~first]] = True
    return same
