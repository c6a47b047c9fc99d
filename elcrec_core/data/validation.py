"""Validation: row rules that quarantine bad events with a reason code (the data-set expectations, Great
Expectations suites over what the rows give, are :mod:`elcrec_core.data.expectations`).

:func:`check_rows` splits a normalised frame (see :mod:`elcrec_core.data.sources`) into accepted and rejected rows;
every input row lands in exactly one of them. A row's outcome depends only on the rows of its own source file
(duplicates are found within a file), so a file's contribution is a function of its content alone, whichever
files share its load: the warehouse keeps each file's rows from its latest load (:mod:`elcrec_core.data.warehouse`),
and loading files together or one by one stores the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import polars as pl

from elcrec_core.config.field_types import check_field_types
from elcrec_core.data.event_selection import with_type_keys

Reason = Literal[
    "malformed_line", "repeated_header", "empty_row", "missing_user", "missing_item", "missing_timestamp",
    "bad_timestamp", "timestamp_out_of_window", "timestamp_in_future", "bad_rating", "rating_out_of_range",
    "duplicate_event",
]
# in order of precedence: a row that breaks several rules gets the first reason
REASONS: tuple[str, ...] = Reason.__args__

EVENT_COLUMNS = ["user_id", "item_id", "timestamp", "rating", "event_type", "source_file", "source_row"]
REJECTED_COLUMNS = ["source_file", "source_row", "reason", "detail", "user_id", "item_id", "timestamp", "rating",
                    "event_type"]

# what exports write for no value (pandas' defaults, MySQL's \N, nil, undefined, -): as an id, none, not an id
NULL_IDS: tuple[str, ...] = ("null", "none", "nan", "na", "n/a", "#n/a", "<na>", "\\n", "nil", "undefined", "-")
NO_VALUE = "means no value (source setting null_ids)"  # a detail's end, after the field and its text in quotes
CUT_SHORT = " (on the last line, which has no line end: the file cut short?)"  # a bad time's or rating's detail's end
# the detail of an accepted row whose ISO time has no UTC offset where most of its file's have one (read as a time of
# the source's timezone, not rejected: RowCheck.naive_times); a private-use character, which no reader's detail holds
NAIVE_AMID_OFFSETS = "\ue000naive"


def null_texts(null_ids: tuple[str, ...]) -> list[str]:
    """``null_ids`` as they are compared: without outer spaces, in lower case, each once, sorted."""
    return sorted({text.strip().lower() for text in null_ids})


@dataclass(frozen=True)
class RowRules:
    """Row-level rules. Timestamps are naive UTC; ``now`` (default: the current time) anchors the future check, with
    ``future_tolerance`` of clock skew. Rating bounds apply to rows with a rating; an id of ``null_ids`` is none.
    Raises ValueError where a minimum (``min_timestamp``, ``min_rating``) is above its maximum."""

    min_timestamp: datetime | None = None
    max_timestamp: datetime | None = None
    reject_future: bool = True
    future_tolerance: timedelta = timedelta(minutes=5)
    min_rating: float | None = None
    max_rating: float | None = None
    null_ids: tuple[str, ...] = NULL_IDS
    now: datetime | None = None

    def __post_init__(self) -> None:
        check_field_types(self)
        for name in ("min_timestamp", "max_timestamp", "now"):  # naive UTC, as the events' times ("...Z": aware)
            if (value := getattr(self, name)) is not None and value.tzinfo is not None:
                object.__setattr__(self, name, value.astimezone(timezone.utc).replace(tzinfo=None))
        for low, high, unit in (("min_timestamp", "max_timestamp", " (UTC)"), ("min_rating", "max_rating", "")):
            if None not in (bounds := (getattr(self, low), getattr(self, high))) and bounds[0] > bounds[1]:
                raise ValueError(f"{low} {bounds[0]} is above {high} {bounds[1]}{unit}: every row would be rejected "
                                 "(the two swapped?)")


@dataclass
class RowCheck:
    """Accepted rows (``EVENT_COLUMNS``, in input order), rejected rows (``REJECTED_COLUMNS``, in file and row
    order) and their counts; ``naive_times``: the ``source_file`` and ``source_row`` of the accepted rows whose ISO
    time has no UTC offset where most of their file's have one (:data:`NAIVE_AMID_OFFSETS`), None for none."""

    accepted: pl.DataFrame
    rejected: pl.DataFrame
    rows_in: int
    by_reason: dict[str, int]
    naive_times: pl.DataFrame | None = None


def blank(column: str) -> pl.Expr:
    """Null, empty or whitespace-only text."""
    return pl.col(column).str.contains(r"\S").not_().fill_null(True)


def check_rows(frame: pl.DataFrame, rules: RowRules = RowRules()) -> RowCheck:
    """Apply the row rules in order of :data:`REASONS`; the first broken rule is a rejected row's reason.

    A duplicate is a row equal in user, item, timestamp, rating and event type (``View`` is ``view``) to an earlier
    valid row of the same source file; the same event in two files is two rows, one per file (the sequences use it
    once: :func:`~elcrec_core.data.event_selection.repeated_events`). Rows without a timestamp are never duplicates.
    """
    now = rules.now or datetime.now(timezone.utc).replace(tzinfo=None)
    ts, error = pl.col("timestamp"), pl.col("error")
    broken = {  # reason -> condition; the reader's own errors are in ``error``
        "malformed_line": error == "malformed_line",
        "repeated_header": error == "repeated_header",
        "empty_row": error == "empty_row",  # a line of delimiters only (;;;;): no share bounds these rows
        "missing_user": blank("user_id") | _null_id("user_id", rules),
        "missing_item": blank("item_id") | _null_id("item_id", rules),
        "missing_timestamp": error == "missing_timestamp",
        "bad_timestamp": error == "bad_timestamp",
        "timestamp_out_of_window": _outside(ts, rules.min_timestamp, rules.max_timestamp),
        "timestamp_in_future": _outside(ts, None, now + rules.future_tolerance if rules.reject_future else None),
        "bad_rating": error == "bad_rating",
        "rating_out_of_range": _outside(pl.col("rating"), rules.min_rating, rules.max_rating),
    }
    first, *rest = (code for code in REASONS if code in broken)
    reason = pl.when(broken[first]).then(pl.lit(first))
    for code in rest:
        reason = reason.when(broken[code]).then(pl.lit(code))
    flagged = frame.with_columns(reason.cast(pl.Enum(REASONS)).alias("reason"))
    flagged = flagged.with_columns(_rule_details(rules, now))
    repeats = _duplicates(flagged)  # per row: whether it repeats an earlier row of its file, and that row
    duplicate = repeats["duplicate"]
    flagged = flagged.with_columns(
        pl.when(duplicate).then(pl.lit("duplicate_event", pl.Enum(REASONS))).otherwise("reason").alias("reason"),
        pl.when(duplicate).then(pl.format("the same event as source_row {}", repeats["original"])
                                .fill_null("the same event as an earlier row")).otherwise("detail").alias("detail"),
    )
    accepted = flagged.filter(pl.col("reason").is_null()).select(EVENT_COLUMNS)
    rejected = flagged.filter(pl.col("reason").is_not_null()).select(REJECTED_COLUMNS).sort(
        "source_file", "source_row", maintain_order=True)
    # in the order of REASONS (value_counts' order changed from call to call: load.json and loads.by_reason)
    by_reason = dict(rejected["reason"].value_counts().sort("reason").iter_rows()) if len(rejected) else {}
    naive = flagged.filter(pl.col("reason").is_null() & (pl.col("detail") == NAIVE_AMID_OFFSETS))
    check = RowCheck(accepted, rejected, len(frame), {str(k): int(v) for k, v in by_reason.items()},
                     naive.select("source_file", "source_row") if len(naive) else None)
    if len(accepted) + len(rejected) != len(frame):  # the invariant every caller relies on
        raise AssertionError(f"rows lost: {len(frame)} in, {len(accepted)} accepted, {len(rejected)} rejected")
    return check


def _rule_details(rules: RowRules, now: datetime) -> pl.Expr:
    """The ``detail`` of a row that a bound rejects: its value and the bound it is outside; of a row without user or
    item: which field is empty (unless the reader said more); the reader's detail otherwise (its own errors)."""
    def bound(value: Any) -> str:
        return "any" if value is None else str(value)

    window = f"{bound(rules.min_timestamp)} .. {bound(rules.max_timestamp)} (UTC)"  # local bounds: converted
    latest = (f"{(now + rules.future_tolerance).replace(microsecond=0)} "
              f"(UTC: now + future_tolerance {rules.future_tolerance})")
    ratings = f"{bound(rules.min_rating)} .. {bound(rules.max_rating)}"
    reason, ts = pl.col("reason"), pl.col("timestamp").dt.to_string("%Y-%m-%d %H:%M:%S")
    return (pl.when(reason == "timestamp_out_of_window").then(pl.format(f"timestamp {{}} is outside {window}", ts))
            .when(reason == "timestamp_in_future").then(pl.format(f"timestamp {{}} is after {latest}", ts))
            .when(reason == "missing_user").then(_id_detail("missing_user", "user_id", rules))
            .when(reason == "missing_item").then(_id_detail("missing_item", "item_id", rules))
            .when(reason == "rating_out_of_range")
            .then(pl.format(f"rating {{}} is outside {ratings}", pl.col("rating").cast(pl.String)))
            .otherwise(pl.col("detail")).alias("detail"))


def _id_detail(reason: str, column: str, rules: RowRules) -> pl.Expr:
    """The detail of a row rejected ``reason`` for its id in ``column``: the reader's, where the reader found the
    same (naming the file's column: ``Kunde is empty``), else :func:`_missing_id`'s, not the reader's detail of
    another field (an id of null_ids beside a time of one read "t 'NULL' means no value" as missing_user:
    helper-254)."""
    same = pl.col("error").cast(pl.String) == reason
    return pl.when(same).then(pl.col("detail")).otherwise(_missing_id(column, rules))


def _null_id(column: str, rules: RowRules) -> pl.Expr:
    """Whether the id in ``column`` is one of ``rules.null_ids``."""
    return pl.col(column).str.strip_chars().str.to_lowercase().is_in(null_texts(rules.null_ids)).fill_null(False)


def _missing_id(column: str, rules: RowRules) -> pl.Expr:
    """The detail of a row whose id in ``column`` is missing: empty, or a text of ``rules.null_ids``."""
    return (pl.when(_null_id(column, rules))
            .then(pl.format(f"{column} '{{}}' {NO_VALUE}", pl.col(column)))
            .otherwise(pl.lit(f"{column} is empty")))


def _outside(column: pl.Expr, low: Any, high: Any) -> pl.Expr:
    """Below ``low`` or above ``high``; a bound that is None does not apply, nor does a null value."""
    return (column < low if low is not None else pl.lit(False)) | (column > high if high is not None else pl.lit(False))


def _duplicates(flagged: pl.DataFrame) -> pl.DataFrame:
    """For each row, ``duplicate``: whether it equals an earlier valid timed row of its source file in every event
    field (the type as the filters compare it, :func:`with_type_keys`), and ``original``: that row's ``source_row`` (or
    null). A 64-bit hash of the other fields finds the few candidates; the exact comparison runs on those alone."""
    fields = ["source_file", "user_id", "item_id", "timestamp", "rating", "event_type"]
    hashed = flagged.select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"), pl.struct(fields[:-1]).hash().alias("hash"),
        (pl.col("reason").is_null() & pl.col("timestamp").is_not_null()).alias("candidate"),
    ).filter("candidate")
    repeated = hashed.filter(pl.col("hash").is_duplicated())["row"]
    found = with_type_keys(flagged[repeated]).select(pl.struct(fields).is_first_distinct().alias("first"),
                                                     pl.col("source_row").first().over(fields).alias("original"))
    later = repeated.filter(~found["first"])
    original = pl.repeat(None, len(flagged), dtype=pl.Int64, eager=True).alias("original")
    duplicate = pl.repeat(False, len(flagged), dtype=pl.Boolean, eager=True).alias("duplicate")
    return pl.DataFrame([duplicate.scatter(later, True),
                         original.scatter(later, found["original"].filter(~found["first"]))])
