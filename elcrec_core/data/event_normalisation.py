"""Event normalisation in SQL (DuckDB): the relation a reader built, with the source's column names and types,
into the normalised event frame (:data:`~elcrec_core.data.source_config.NORMALISED_SCHEMA`), with a reason for
each row that cannot be parsed (a missing or unparseable timestamp, an unparseable rating)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import duckdb
import polars as pl

from elcrec_core.data.files import SourceReadError
from elcrec_core.data.impossible_times import impossible_detail, impossible_sql
from elcrec_core.data.source_config import NORMALISED_SCHEMA, ColumnMap
from elcrec_core.data.time_zones import is_naive_type, local_to_utc_sql
from elcrec_core.data.timestamp_patterns import LOCAL_DATE, LOCALE_MARK, iso_form_sql, locale_hints, pattern_detail, \
    pattern_sql, patterns_of
from elcrec_core.data.validation import NAIVE_AMID_OFFSETS, NO_VALUE, NULL_IDS, REASONS, null_texts

_EPOCH_SCALE = {"epoch_s": 1_000_000, "epoch_ms": 1_000, "epoch_us": 1}  # to microseconds


_MIN_EPOCH_S, _MAX_EPOCH_S = -62_135_596_800, 253_402_300_799  # 0001-01-01 .. 9999-12-31


_NUMERIC_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                  "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE"}
# a float of smaller magnitude holds every integer exactly: 32 bits (FLOAT) from 2**24, 64 bits (DOUBLE) from 2**53
EXACT_INTEGERS = {"FLOAT": 2**24, "DOUBLE": 2**53}


def id_text(column: str, column_type: str, otherwise: str | None = None, missing: str | None = None) -> str:
    """SQL for the id in ``column`` as text: as given (or ``otherwise``, SQL text), except that a whole number in
    a FLOAT or DOUBLE column reads as an integer ("7", not "7.0") where the float holds it exactly (pandas writes
    an integer id column with a missing value as floats), and one where ``missing`` (SQL; default: a NaN or
    infinite value) as NULL: a missing id, not the id "nan" that every such row would share. A whole number in a
    DECIMAL column reads as an integer too ("7", not "7.00"): the id it is in an integer or float column."""
    otherwise = otherwise or f"CAST({column} AS VARCHAR)"
    if column_type.startswith("DECIMAL"):
        return (f"CASE WHEN {column} = trunc({column}) THEN CAST(CAST({column} AS HUGEINT) AS VARCHAR)"
                f" ELSE {otherwise} END")
    if column_type not in ("FLOAT", "DOUBLE"):
        return otherwise
    return (f"CASE WHEN {missing or f'NOT isfinite({column})'} THEN NULL"
            f" WHEN isfinite({column}) AND {column} = trunc({column}) AND abs({column}) < {EXACT_INTEGERS[column_type]}"
            f" THEN CAST(CAST({column} AS BIGINT) AS VARCHAR) ELSE {otherwise} END")


_WHITESPACE = "' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13)"  # SQL: ASCII white space, for trim()
# SQL regex (RE2): a character that is no white space as validation.blank's polars \S reads it (Unicode's: a
# no-break space too, which RE2's \s is not: an id of one was missing_user with another field's detail, helper-254)
NOT_SPACE = r"[^\s\pZ\x{0b}\x{85}]"


def event_fields(columns: ColumnMap) -> dict[str, str | None]:
    """The source's column of each normalised field, by the short names the SQL uses (None: not mapped)."""
    return {"u": columns.user, "i": columns.item, "t": columns.timestamp, "r": columns.rating, "e": columns.event_type}


# a time's UTC offset of hours 24-99, or minutes or seconds 60-99, which DuckDB reads as it is (+99:00 moved the time
# by four days): RFC 3339 has hours 00-23 and minutes 00-59
_BAD_OFFSET = (r"[Tt ][0-9]{2}[0-9:.,]* *[+-]((2[4-9]|[3-9][0-9])(:?[0-9]{2}){0,2}|[0-9]{2}:?[6-9][0-9](:?[0-9]{2})?"
               r"|[0-9]{2}:?[0-9]{2}:?[6-9][0-9])$")

# a date of RFC 3339's digits (2026-01-2, a line cut short, read as 2026-01-02), then a time or nothing
_ISO_DATE = "^[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt ]|$)"
# a time cut short, as the last line of a file still being written (09: for 09:27:51+01:00): DuckDB reads 09: as
# 09:00, 09:3 as 09:03 and 09:27:5 as 09:27:05; RFC 3339 has two digits for every field
_CUT_TIME = r"[Tt ][0-9]{1,2}(:[0-9]{2})*(:[0-9]?|\.)([^0-9]|$)"
# an ISO time in upper case (RFC 3339's t and z) without the one space before its UTC offset, which DuckDB does not
# read: git's and Ruby's times (2026-01-05 10:00:00 +0100)
_SPACED_OFFSET = r"regexp_replace(upper(t_raw), ' ([+-][0-9]{2}(:?[0-9]{2})?)$', '\1')"


# the form of an ISO time that parsed (t_form): a date alone, a time of day without a UTC offset or zone, or one with
# it (whatever follows the time's digits: Z, +01:00, UTC, Europe/Paris)
_DATE, _LOCAL, _OFFSET = 1, 2, 3
_WITH_OFFSET = ("(length(t_raw) >= 12 AND (contains(substr(t_raw, 12), '+') OR contains(substr(t_raw, 12), '-')"
                " OR NOT right(t_raw, 1) BETWEEN '0' AND '9'))")  # string functions: a pattern took 3x as long
_FORM = (f"CASE WHEN timestamp IS NULL THEN NULL WHEN length(t_raw) = 10 THEN {_DATE}"
         " WHEN length(t_raw) < 12 OR substr(t_raw, 11, 1) NOT IN ('T', 't', ' ') THEN NULL"
         f" WHEN {_WITH_OFFSET} THEN {_OFFSET} ELSE {_LOCAL} END")


def _times_cut_short(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """``frame`` (with ``t_form``, dropped) where the file's last record holds a time shorter than most of the
    file's parsed times, a bad_timestamp: a date alone where most have a time of day (read as midnight), a time
    without a UTC offset where most have one (read as UTC), as the last line of a file still being written, cut short.
    Only the last record: a file may mix forms by design (events of a day alone among timed ones). Another time
    without an offset where most have one is accepted, its detail :data:`NAIVE_AMID_OFFSETS` (the load warns)."""
    form = frame["t_form"]
    times, with_time, with_offset = form.is_not_null().sum(), (form >= _LOCAL).sum(), (form == _OFFSET).sum()
    if 2 * with_offset > times and (form == _LOCAL).any():  # helper-275: one mid-file time read as UTC, unsaid
        frame = frame.with_columns(detail=pl.when((pl.col("t_form") == _LOCAL) & pl.col("error").is_null())
                                   .then(pl.lit(NAIVE_AMID_OFFSETS)).otherwise("detail"))
    if not len(form) or form[-1] not in (_DATE, _LOCAL):  # the common case: nothing to count
        return frame.drop("t_form")
    last = pl.int_range(pl.len()) == pl.len() - 1  # the readers keep the file's order
    cut = frame.select(last & pl.col("error").is_null()
                       & (((pl.col("t_form") == _DATE) & (2 * with_time > times))
                          | ((pl.col("t_form") == _LOCAL) & (2 * with_offset > times)))).to_series()
    if not cut.any():
        return frame.drop("t_form")
    shown = (pl.when(pl.col("t_form") == _DATE).then(pl.col("timestamp").dt.to_string("%Y-%m-%d"))
             .otherwise(pl.col("timestamp").dt.to_string("%Y-%m-%dT%H:%M:%S%.f")))
    why = (pl.when(pl.col("t_form") == _DATE)
           .then(pl.lit(" (a date alone, where most of the file's times have a time of day: the last line cut "
                        "short?)"))
           .otherwise(pl.lit(" without a UTC offset, where most of the file's times have one: the last line cut "
                             "short?")))
    return rejected_where(frame, cut, "bad_timestamp", pl.lit(f"{column}: ") + shown + why).drop("t_form")


def rejected_where(frame: pl.DataFrame, rows: pl.Series | pl.Expr, reason: str, detail: pl.Expr) -> pl.DataFrame:
    """``frame`` with the ``rows`` (a mask) rejected for ``reason`` with ``detail``; the others as they were."""
    return frame.with_columns(
        pl.when(rows).then(pl.lit(reason)).otherwise(pl.col("error").cast(pl.String))
        .cast(frame.schema["error"]).alias("error"),
        pl.when(rows).then(detail).otherwise(pl.col("detail")).alias("detail"))


NULL_TYPE = '"NULL"'  # DuckDB's name of a column type that holds no value (pandas' and polars' empty frames write it)


def _timestamp_sql(column_type: str, fmt: str | tuple[str, ...], path: Path, zone: str | None = None) -> str:
    """SQL that turns raw column ``t`` (its trimmed text ``t_raw``) into a UTC TIMESTAMP, NULL where it cannot
    be parsed: also a time outside the years 1-9999 or an infinite one (DuckDB's -infinity), a word that DuckDB
    reads as a time (epoch, infinity) and an epoch number written with DuckDB's digit separator (1_000). A strptime
    pattern reads the text of any column but one of times (20261207 of a number column by %Y%m%d); of a tuple of
    patterns, the first that reads a value whole reads it. A time without a UTC offset (of a pattern without %z,
    ISO text without one, a column of naive times or dates) is a local time of the IANA ``zone``
    (:mod:`~elcrec_core.data.time_zones`; None: UTC)."""
    local = zone if is_naive_type(column_type) else None
    if column_type == NULL_TYPE:  # no value at all (an empty hour's part, all times missing): refused the whole
        return "CAST(NULL AS TIMESTAMP)"  # file, 'not an epoch number' (helper-238); each row is missing_timestamp
    if column_type in ("TIMESTAMP_NS", "TIMESTAMPTZ_NS"):  # cut to the microsecond, as ISO text is: DuckDB's cast
        ns = "epoch_ns(t)"                               # rounds, and 23:59:59.9999999 went to the next day
        return _in_years(local_to_utc_sql(f"make_timestamp(({ns} - ({ns} % 1000 + 1000) % 1000) // 1000)", local))
    if column_type.startswith("TIMESTAMP") or column_type == "DATE":  # TIMESTAMPTZ converts to UTC (the session's)
        return _in_years(local_to_utc_sql("CAST(t AS TIMESTAMP)", local))
    if patterns := patterns_of(fmt):  # one with %z or %Z reads moments
        reads = [pattern_sql(pattern) if re.search("%[zZ]", pattern.replace("%%", ""))
                 else local_to_utc_sql(pattern_sql(pattern), zone) for pattern in patterns]
        return _in_years(reads[0] if len(reads) == 1 else f"coalesce({', '.join(reads)})")
    if fmt == "iso8601":
        if column_type != "VARCHAR":
            raise SourceReadError(path, f"timestamp column is {column_type}, but the format is iso8601")
        iso = f"CAST(TRY_CAST({_SPACED_OFFSET} AS TIMESTAMPTZ) AS TIMESTAMP)"
        return _in_years(f"CASE WHEN regexp_matches(t_raw, '{_ISO_DATE}')"
                         f" AND NOT regexp_matches(t_raw, '{_BAD_OFFSET}') AND NOT regexp_matches(t_raw, '{_CUT_TIME}')"
                         f" THEN CASE WHEN {_WITH_OFFSET} THEN {iso} ELSE {local_to_utc_sql(iso, zone)} END END")
    if column_type != "VARCHAR" and not _is_number_type(column_type):
        raise SourceReadError(path, f"timestamp column is {column_type}, not an epoch number")
    number = _number("t_raw") if column_type == "VARCHAR" else "CAST(t AS DOUBLE)"
    seconds = f"{number} * {_EPOCH_SCALE[fmt] / 1e6!r}"
    return (f"CASE WHEN isfinite({seconds}) AND {seconds} BETWEEN {_MIN_EPOCH_S} AND {_MAX_EPOCH_S}"
            f" THEN make_timestamp(CAST(round({number} * {_EPOCH_SCALE[fmt]}) AS BIGINT)) END")


def _form_hint(fmt: str | tuple[str, ...]) -> str:
    """SQL: why a time ``t_raw`` that ``fmt`` could not read may be of another form, as a detail's end (a helper's
    trial read ``ts: 1772452800`` of an iso8601 column without a word why); '' where it has no other form. A date
    of a locale (31.12.1997, 12/31/1997 9:16 PM) ends in :data:`LOCALE_MARK`, which :func:`locale_hints` replaces
    with the pattern that the file's dates fit."""
    number, iso = "regexp_matches(t_raw, '^[+-]?[0-9]+([.][0-9]+)?$')", "regexp_matches(t_raw, '^[0-9]{4}-[0-9]{2}')"
    locale = f"WHEN regexp_matches(t_raw, '{LOCAL_DATE}') THEN '{LOCALE_MARK}' ELSE '' END"  # under every format
    if patterns := patterns_of(fmt):  # (helper-195: epoch_s, the default, had none)
        return impossible_detail(patterns, f"{pattern_detail(patterns)} || CASE {iso_form_sql(patterns)}{locale}")
    if fmt == "iso8601":  # a time of ISO 8601's form whose field does not exist: 2026-02-30 (helper-278)
        return (f"CASE WHEN {number} THEN ' (a number, no ISO 8601 time: an epoch time? timestamp_format)' "
                f"WHEN ({impossible_sql(None)}) IS NOT NULL THEN ' (its ' || ({impossible_sql(None)}) || ')' {locale}")
    longer = {"epoch_s": ("epoch_ms", 13), "epoch_ms": ("epoch_us", 16)}.get(fmt)
    digits = (f"WHEN {number} AND length(regexp_extract(t_raw, '[0-9]+')) >= {longer[1]} THEN ' ({longer[1]} "
              f"digits or more: {longer[0]}? timestamp_format)' " if longer else "")
    beyond = f"WHEN {number} THEN ' (a time outside the years 1-9999 as {fmt})' "  # no other number fails
    return f"CASE WHEN {iso} THEN ' (an ISO 8601 time, no number: timestamp_format iso8601?)' {digits}{beyond}{locale}"


def _in_years(timestamp: str) -> str:
    """SQL: ``timestamp`` where it is finite and in the years 1-9999 (what Python's datetime holds), else NULL."""
    return (f"CASE WHEN isfinite({timestamp}) AND {timestamp} BETWEEN TIMESTAMP '0001-01-01'"
            f" AND TIMESTAMP '9999-12-31 23:59:59.999999' THEN {timestamp} END")


def _is_number_type(column_type: str) -> bool:
    """Whether a DuckDB column type holds numbers (integers, floats, DECIMAL(p, s) of any width and scale)."""
    return column_type in _NUMERIC_TYPES or column_type.startswith("DECIMAL")


def _number(text: str) -> str:
    """SQL: the number that ``text`` spells, NULL for text that is none; DuckDB's cast alone reads its digit
    separator ('1_000') as a number."""
    return f"CASE WHEN strpos({text}, '_') = 0 THEN TRY_CAST({text} AS DOUBLE) END"


def normalise_events(
    raw: duckdb.DuckDBPyRelation, fields: Mapping[str, str | None], fmt: str | tuple[str, ...], path: Path,
    null_values: tuple[str, ...] = NULL_IDS, zone: str | None = None,
) -> pl.DataFrame:
    """Parse raw columns u, i (and t, r, e where mapped), error, detail and an optional source_row (passed
    through) into normalised columns. Unmapped fields are left out (:func:`finish_events` adds them as nulls).
    A time without a UTC offset is a local time of the IANA ``zone`` (the source setting ``timezone``; None: UTC).

    A time or rating that is one of ``null_values`` (an export's NULL, \\N, N/A, ...: the source setting
    ``null_ids``, compared without case and outer spaces) is no value, as an empty one: a missing timestamp, no
    rating; ids are left as given (:func:`elcrec_core.data.validation.check_rows` applies ``null_ids`` to them)."""
    types = dict(zip(raw.columns, (str(t) for t in raw.types)))
    is_null, forms = _is_null_value(null_values), ""
    texts = {}  # trimmed text of timestamp and rating, NULL when empty
    parsed = {"user_id": id_text("u", types["u"]), "item_id": id_text("i", types["i"])}
    checks = [  # (condition, reason, detail), after the reader's own error; each detail names the file's column
        (f"{field} IS NULL OR NOT regexp_matches({field}, '{NOT_SPACE}')", reason,
         sql_text(f"{fields[alias]} is empty"))
        for alias, field, reason in (("u", "user_id", "missing_user"), ("i", "item_id", "missing_item"))]
    if fields["t"]:
        texts["t_raw"] = f"NULLIF(trim(CAST(t AS VARCHAR), {_WHITESPACE}), '')"
        parsed |= {"timestamp": _timestamp_sql(types["t"], fmt, path, zone), "t_raw": "t_raw"}
        checks += [("t_raw IS NULL", "missing_timestamp", sql_text(f"{fields['t']} is empty")),
                   (is_null("t_raw"), "missing_timestamp",  # as validation names an id of null_ids
                    f"{sql_text(fields['t'] + _OPEN)} || t_raw || {sql_text(_CLOSE + NO_VALUE)}"),
                   ("timestamp IS NULL", "bad_timestamp",
                    f"{sql_text(fields['t'] + ': ')} || t_raw || {_form_hint(fmt)}")]
        if fmt == "iso8601" and types["t"] == "VARCHAR":
            forms = f", {_FORM} AS t_form"  # over the parsed time: DuckDB would parse it again for an alias
    if fields["r"]:
        trimmed = f"NULLIF(trim(CAST(r AS VARCHAR), {_WHITESPACE}), '')"
        texts["r_raw"] = f"CASE WHEN NOT {is_null(trimmed)} THEN {trimmed} END"
        number = "CAST(r AS DOUBLE)" if _is_number_type(types["r"]) else _number("r_raw")
        parsed |= {"rating": f"CASE WHEN isfinite({number}) THEN {number} END", "r_raw": "r_raw"}
        checks.append(("r_raw IS NOT NULL AND rating IS NULL", "bad_rating",
                       f"{sql_text(fields['r'] + ': ')} || r_raw"))
    # a line end in a time or a rating (a stray quote closed lines later) is said first, whatever else the row lacks:
    # read_source refuses the file by this detail, where its lines would be lost in one row (helper-188)
    checks[:0] = [(f"contains({text}, chr(10))", reason, f"{sql_text(fields[alias] + ': ')} || {text}")
                  for alias, text, reason in (("t", "t_raw", "bad_timestamp"), ("r", "r_raw", "bad_rating"))
                  if fields[alias]]
    if fields["e"]:
        parsed["event_type"] = "CAST(e AS VARCHAR)"
    if "source_row" in types:
        parsed["source_row"] = "CAST(source_row AS BIGINT)"
    error = "CASE WHEN error IS NOT NULL THEN error " + " ".join(f"WHEN {c} THEN '{r}'" for c, r, _ in checks) + " END"
    detail = "CASE WHEN error IS NOT NULL THEN detail " + " ".join(f"WHEN {c} THEN {d}" for c, _, d in checks) + " END"
    reasons = ", ".join(f"'{r}'" for r in REASONS)
    outputs = ", ".join(c for c in parsed if not c.endswith("_raw"))
    with_texts = "".join(f", {sql} AS {name}" for name, sql in texts.items())
    frame = raw.query("raw", f"""
        SELECT {outputs}, CAST({error} AS ENUM({reasons})) AS error, {detail} AS detail{forms}
        FROM (SELECT {", ".join(f"{sql} AS {name}" for name, sql in parsed.items())}, error, detail
              FROM (SELECT *{with_texts} FROM raw))
    """).pl()
    frame = _times_cut_short(frame, fields["t"]) if "t_form" in frame.columns else frame
    return locale_hints(frame, fields["t"], fmt) if fields["t"] else frame


_OPEN, _CLOSE = " '", "' "  # around a text in a detail


def _is_null_value(null_values: tuple[str, ...]) -> Callable[[str], str]:
    """SQL of whether a trimmed text is one of ``null_values`` (:func:`null_texts`), leaving out those that are
    finite numbers (a team's null id 0 or -1 is a rating or time there): a NULL text is not."""
    markers = ", ".join(sql_text(text) for text in null_texts(null_values) if not _is_finite_number(text))
    return lambda text: f"coalesce(lower({text}) IN ({markers}), FALSE)" if markers else "FALSE"


def _is_finite_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def with_rejects(frame: pl.DataFrame, rejects: pl.DataFrame) -> pl.DataFrame:
    """Append the malformed records (their reason becomes the ``error``)."""
    if not len(rejects):
        return frame
    return pl.concat([frame, rejects.rename({"reason": "error"})], how="diagonal_relaxed")


def finish_events(frame: pl.DataFrame, source: str | Path) -> pl.DataFrame:
    """Add the source file and give the frame exactly the normalised schema."""
    return frame.with_columns(source_file=pl.lit(str(source))).select(
        pl.col(name).cast(dtype) if name in frame.columns or name == "source_file" else pl.lit(None, dtype).alias(name)
        for name, dtype in NORMALISED_SCHEMA.items()
    )


def sql_text(text: str) -> str:
    """``text`` as an SQL string literal (each quote doubled)."""
    return "'" + text.replace("'", "''") + "'"
