"""Timestamp formats: the named ones (epoch numbers, ISO 8601) and strptime patterns (a locale's dates, such as a
German Excel export's ``07.12.2026 14:03``: ``%d.%m.%Y %H:%M``), read with DuckDB's ``try_strptime``, or a list of
patterns for a column of times of several forms (a till's ``12/7/2026`` for midnight beside ``12/7/2026 2:05:33
PM``), each value read by the first that reads it whole; and the pattern that a date of a locale fits, for the
detail of a time that the format did not read."""

from __future__ import annotations

import re
from typing import Literal

import duckdb
import polars as pl

from elcrec_core.data.impossible_times import impossible_sql
from elcrec_core.data.scratch_duckdb import scratch_connection

TimestampFormat = Literal["epoch_s", "epoch_ms", "epoch_us", "iso8601"]
"""The named timestamp formats; ``timestamp_format`` also takes a strptime pattern (:func:`is_pattern`)."""

PATTERN_EXAMPLE = "%d.%m.%Y %H:%M"  # a German spreadsheet's 07.12.2026 14:03
FORMATS_TEXT = f"{', '.join(TimestampFormat.__args__)} or a strptime pattern such as {PATTERN_EXAMPLE!r}"


def is_pattern(fmt: str) -> bool:
    """Whether timestamp format ``fmt`` is a strptime pattern (any text holding ``%``), not a named format."""
    return "%" in fmt


def patterns_of(fmt: str | tuple[str, ...]) -> tuple[str, ...]:
    """The strptime patterns of timestamp format ``fmt`` (a pattern, a tuple of them), in their order; none for a
    named format."""
    return fmt if isinstance(fmt, tuple) else (fmt,) if is_pattern(fmt) else ()


def timestamp_format_value(fmt: object) -> object:
    """Timestamp format ``fmt`` as the readers take it: a list (or tuple) of one pattern as that pattern (it reads
    as the pattern alone does), a longer one as a tuple; any other value as given (:func:`timestamp_format_problem`
    judges it)."""
    if isinstance(fmt, (list, tuple)):
        return fmt[0] if len(fmt) == 1 else tuple(fmt)
    return fmt


def format_text(fmt: object) -> str:
    """Timestamp format ``fmt`` for a message: a named format or pattern as it is, a list of patterns as a list."""
    return repr(list(fmt)) if isinstance(fmt, (list, tuple)) else str(fmt)


def timestamp_format_problem(fmt: object, name: str = "timestamp_format") -> str | None:
    """Why ``fmt`` is no timestamp format, naming the setting ``name``: neither a named one nor a valid strptime
    pattern (DuckDB's words, such as ``Unrecognized format for strftime/strptime: %Q``) nor a list (or tuple) of
    one or more valid patterns (an empty list, a named format in a list, a pattern that is none: named with its
    place, from 1); None where it is one."""
    if isinstance(fmt, (list, tuple)):
        if not fmt:
            return f"{name} = []: an empty list; give one strptime pattern or more, such as [{PATTERN_EXAMPLE!r}]"
        for place, pattern in enumerate(fmt, 1):
            if pattern in TimestampFormat.__args__:
                return (f"{name} = {list(fmt)!r}: pattern {place}, {pattern!r}, is a named format, which stands "
                        f"alone: a list holds strptime patterns (ISO 8601's 2026-12-07 14:03:00 is "
                        f"'%Y-%m-%d %H:%M:%S')")
            if not isinstance(pattern, str) or not is_pattern(pattern):
                return f"{name} = {list(fmt)!r}: pattern {place}, {pattern!r}, is no strptime pattern (text holding %)"
            if problem := timestamp_format_problem(pattern, f"pattern {place}"):
                return f"{name} = {list(fmt)!r}: {problem}"
        return None
    if fmt in TimestampFormat.__args__:
        return None
    if not isinstance(fmt, str) or not is_pattern(fmt):
        return f"{name} = {fmt!r}: one of {FORMATS_TEXT} (text holding %)"
    try:
        with scratch_connection() as con:  # settings are read often (every SourceConfig)
            con.execute("SELECT try_strptime('', ?)", [fmt])
    except duckdb.Error as err:
        return f"{name} = {fmt!r}: no strptime pattern ({str(err).split('Error: ', 1)[-1]})"
    return None


def pattern_sql(pattern: str) -> str:
    """SQL: the trimmed text ``t_raw`` read by strptime ``pattern`` as a naive UTC TIMESTAMP (a time with a UTC offset
    or zone, ``%z`` or ``%Z``, converted to UTC by the session's time zone, UTC), NULL where it does not fit. Minutes or
    seconds that end the pattern need their two digits, a four-digit year (``%Y``) its four, a two-digit one its two:
    strptime reads ``14:0``, the last line of a file still being written, as 14:00, and ``7.12.202`` as the year
    202. Fields without a separator between them (``%Y%m%d``) need all their digits (:func:`_run_on_fields`):
    strptime reads ``2026121``, 20261215 cut short, as December 1st."""
    quoted = "'" + pattern.replace("'", "''") + "'"
    digits = _end_digits(pattern)
    whole = f"regexp_matches(t_raw, '(^|[^0-9])[0-9]{{{digits}}}$') AND " if digits else ""
    runs = "".join(f"length(coalesce(regexp_extract_all(t_raw, '[0-9]+')[{place}], '')) = {width} AND "
                   for place, _, width in _run_on_fields(pattern))
    return f"CASE WHEN {whole}{runs}TRUE THEN CAST(try_strptime(t_raw, {quoted}) AS TIMESTAMP) END"


# the digits of a field that another follows without a separator (%Y%m%d): always all of them; fields of no digit
_WIDTHS, _WORDS = {"Y": 4, "y": 2, "m": 2, "d": 2, "H": 2, "I": 2, "M": 2, "S": 2, "j": 3}, set("aAbBp")


def _run_on_fields(pattern: str) -> list[tuple[int, str, int]]:
    """The fields of ``pattern`` without a separator between them (``%Y%m%d``, ``%H%M``), each group as (the place of
    its digits among a value's runs of digits, from 1; its fields; its digits), as far as a value's runs of digits
    can be told apart: up to a field of digits of no fixed number (``%f``, a UTC offset ``%z``) or text with a
    digit. None of a group with a field of no fixed width (``%-d``)."""
    groups: list[tuple[int, str, int]] = []
    runs: list[list[str]] = [[]]  # of fields of digits, each ended by text, a word or an offset's sign
    for token in re.findall("%-?.|[^%]+", pattern):
        directive = token[0] == "%" and token != "%%"
        if directive and token[-1] in _WIDTHS:
            runs[-1].append(token)
            continue
        if token[0].isdigit() or (directive and token[-1] not in _WORDS and token[-1] not in "zZ"):  # %f, %s, digits:
            runs.pop()  # they may run on with the run's digits
            break
        runs.append([])
        if (directive and token[-1] in "zZ") or any(c.isdigit() for c in token):  # +01:00, text with a digit: later
            break  # runs of digits have no place that the pattern tells
    for place, run in enumerate(run for run in runs if run):
        if len(run) > 1 and all(field[1] != "-" for field in run):
            groups.append((place + 1, "".join(run), sum(_WIDTHS[field[-1]] for field in run)))
    return groups


def _end_digits(pattern: str) -> int | None:
    """How many digits the field that ends ``pattern`` always has (%M, %S, %y: 2, %Y: 4); None: it varies, or the
    field follows another without a character between them (%H%M: its digits run on)."""
    end, before = pattern.rstrip()[-2:], pattern.rstrip()[:-2]
    return None if re.search("%-?[A-Za-z]$", before) else {"%M": 2, "%S": 2, "%y": 2, "%Y": 4}.get(end)


def pattern_detail(patterns: tuple[str, ...]) -> str:
    """SQL: a detail's end for a time ``t_raw`` that none of ``patterns`` read, naming them (and why where it can
    tell, for each: a name of a month or day not in English, a digit that its last field lacks, fields without a
    separator between them that lack digits): ``(not of timestamp_format "%d.%m.%Y %H:%M": its last field lacks a
    digit)`` for one, ``(of none of timestamp_format's patterns: "%m/%d/%Y %I:%M:%S %p"; "%m/%d/%Y")`` for more."""
    if len(patterns) == 1:
        return _why_not(patterns[0], ' (not of timestamp_format "' + patterns[0] + '"') + " || ')'"
    named = " || '; ' || ".join(_why_not(pattern, f'"{pattern}"') for pattern in patterns)
    return f"' (of none of timestamp_format''s patterns: ' || {named} || ')'"


# an ISO 8601 time whole (a date alone, minutes, seconds, a fraction; an offset or Z), as a pattern list's file of
# two systems has beside a till's 01/31/2026; not one cut short (14:03:0: its last field lacks a digit)
_ISO_FORM = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?)?([+-][0-9]{2}:?[0-9]{2}|Z)?$"
# SQL: the strptime pattern of such a time t_raw (2026-01-31T10:00:00: '%Y-%m-%dT%H:%M:%S')
_ISO_PATTERN = ("'%Y-%m-%d' || CASE WHEN substr(t_raw, 11, 1) IN ('T', ' ') THEN substr(t_raw, 11, 1) || '%H:%M' "
                "|| CASE WHEN regexp_matches(t_raw, '^.{16}:') THEN ':%S' ELSE '' END || CASE WHEN "
                "regexp_matches(t_raw, '^.{19}[.]') THEN '.%f' ELSE '' END ELSE '' END || CASE WHEN "
                "regexp_matches(t_raw, '[+-][0-9:]{4,5}$') THEN '%z' ELSE '' END")


def iso_form_sql(patterns: tuple[str, ...]) -> str:
    """SQL: the WHEN clauses of a CASE giving a detail's end for an ISO 8601 time ``t_raw`` that none of
    ``patterns`` (timestamp_format's) read, as a date of a locale gets one (:func:`locale_hints`): its form and
    what reads it (``(its form: ISO 8601, "%Y-%m-%dT%H:%M:%S", another than timestamp_format's: add it to the
    list, ...)``; helper-268's trial: a list of a till's forms said no word why 2026-01-31T10:00:00 was none);
    one with a field that does not exist names it, not a pattern to add (``(its form: ISO 8601, "%Y-%m-%d %H:%M",
    but its month 13 does not exist)``: :mod:`~elcrec_core.data.impossible_times`); none where its pattern is one
    of ``patterns``."""
    own = ", ".join("'" + pattern.replace("'", "''") + "'" for pattern in patterns)
    fix = "add it to the list" if len(patterns) > 1 else "make timestamp_format a list of both"
    iso = f"regexp_matches(t_raw, '{_ISO_FORM}')"
    impossible = impossible_sql(None)  # a field that does not exist: no pattern reads it (2026-13-45 25:00)
    return (f"WHEN {iso} AND ({impossible}) IS NOT NULL THEN ' (its form: ISO 8601, \"' || {_ISO_PATTERN} || "
            f"'\", but its ' || ({impossible}) || ')' "
            f"WHEN {iso} AND right(t_raw, 1) = 'Z' THEN ' (its form: ISO 8601 in UTC, Z: timestamp_format iso8601 "
            "reads it, where every time is ISO 8601)' "
            f"WHEN {iso} AND ({_ISO_PATTERN}) NOT IN ({own}) THEN ' (its form: ISO 8601, \"' || {_ISO_PATTERN} || "
            f"'\", another than timestamp_format''s: {fix}, or timestamp_format iso8601 where every time is ISO "
            "8601)' ")


def _why_not(pattern: str, said: str) -> str:
    """SQL: ``said`` (text), then why ``pattern`` did not read ``t_raw`` where it can tell (``: its last field lacks a
    digit``)."""
    said, quoted = said.replace("'", "''"), pattern.replace("'", "''")
    whys = []
    if re.search("%[aAbB]", pattern.replace("%%", "")):  # a word that is no English name: a German export's Dez
        whys.append((_other_words(pattern), _ENGLISH))
    if _end_digits(pattern):
        whys.append((f"try_strptime(t_raw || '0', '{quoted}') IS NOT NULL", "its last field lacks a digit"))
    if groups := _run_on_fields(pattern):  # read by strptime, refused by pattern_sql
        fields = ", ".join(f"{fields}: {width}" for _, fields, width in groups).replace("'", "''")
        whys.append((f"try_strptime(t_raw, '{quoted}') IS NOT NULL",
                     f"fields with no separator need all their digits ({fields})"))
    if not whys:
        return f"'{said}'"
    return "CASE " + " ".join(f"WHEN {when} THEN '{said}: {why}'" for when, why in whys) + f" ELSE '{said}' END"


_ENGLISH = "strptime reads the names of months and days in English alone: Dec, December, Mon, Monday"
_NAMES = ("jan(uary)?|feb(ruary)?|mar(ch)?|apr(il)?|may|june?|july?|aug(ust)?|sep(tember)?|oct(ober)?|nov(ember)?|"
          "dec(ember)?|mon(day)?|tue(sday)?|wed(nesday)?|thu(rsday)?|fri(day)?|sat(urday)?|sun(day)?|[ap][.]?m[.]?")


def _other_words(pattern: str) -> str:
    """SQL: whether ``t_raw`` holds a word that is neither an English name of a month or day (nor am/pm) nor a word
    of ``pattern``'s own text (GMT, at): a name of another language (Dez, März), which DuckDB's strptime does not
    read (helper-256: such a time read 'not of timestamp_format' without a word why)."""
    own = [re.escape(word) for word in re.findall(r"[^\W\d_]+", re.sub("%.", " ", pattern))]
    words = f"(?i)\\b({'|'.join([_NAMES, *own])})\\b".replace("'", "''")
    return f"regexp_matches(regexp_replace(t_raw, '{words}', '', 'g'), '\\pL')"


# a detail's end for a date of a locale (31.12.1997 21:16, 12/31/1997 9:16 PM), which locale_hints replaces with the
# pattern that the file's dates fit; a private-use character, which no time holds
LOCALE_MARK = "\ue000locale"
LOCAL_DATE = r"^([0-9]{1,2})([./-])([0-9]{1,2})([./-])([0-9]{4}|[0-9]{2})([^0-9].*)?$"
_FIRST, _SECOND = "\x01", "\x02"  # a shape's first and second fields, day or month
_DOTTED = "\x03"  # a.m. or p.m., which no pattern reads: a pattern of them as text read 2 p.m. as 2 a.m.
_TIMES = ((r"[0-9]{1,2}:[0-9]{2}:[0-9]{2}", "%H:%M:%S"), (r"[0-9]{1,2}:[0-9]{2}", "%H:%M"), (r"(?i)[ap]m$", "%p"),
          (r"(?i)[ap][.]m[.]?$", _DOTTED))
_NO_DOTS = "strptime's %p reads AM and PM, not a.m. and p.m.: write them without dots"


def locale_hints(frame: pl.DataFrame, column: str, fmt: str | tuple[str, ...]) -> pl.DataFrame:
    """``frame`` (normalised events) with the :data:`LOCALE_MARK` that ends a detail (``{column}: {value}...``)
    replaced by the pattern that the value fits, its date's order told by the file's dates of the same form: day
    first where one of them has a first field above 12, month first where one has a second field above 12 (a date
    with both, 13/40/2026, which neither order reads, tells nothing: helper-257's one such row hid every row's
    hint), and both, saying that the dates cannot tell, where none has or each has; nothing where ``fmt`` (a
    pattern of it, for a list) has that date's pattern."""
    marked = pl.col("detail").str.ends_with(LOCALE_MARK)
    if not frame.select(marked.any()).item():
        return frame
    value = pl.col("detail").str.strip_prefix(f"{column}: ").str.strip_suffix(LOCALE_MARK).str.split(" (").list.first()
    parts = value.str.extract_groups(LOCAL_DATE)
    rest = parts.struct.field("6").fill_null("")
    for sought, field in _TIMES:
        rest = rest.str.replace(sought, field)
    rest = pl.when(rest.str.contains("%p")).then(rest.str.replace("%H", "%I")).otherwise(rest)
    year = pl.when(parts.struct.field("5").str.len_chars() == 4).then(pl.lit("%Y")).otherwise(pl.lit("%y"))
    date = pl.concat_str(pl.lit(_FIRST), parts.struct.field("2"), pl.lit(_SECOND), parts.struct.field("4"), year)
    first, second = (parts.struct.field(n).cast(pl.Int32) for n in ("1", "3"))
    rows = frame.select(marked.alias("marked"), date.alias("date"), first.alias("first"), second.alias("second"),
                        pl.when(rest.str.contains("[0-9]")).then(pl.lit(None)).otherwise(rest).alias("time"))
    orders = rows.filter(pl.col("marked") & pl.col("date").is_not_null()).group_by("date").agg(
        day=((pl.col("first") > 12) & (pl.col("second") <= 12)).any(),
        month=((pl.col("second") > 12) & (pl.col("first") <= 12)).any(), times=pl.col("time").unique())
    hints = pl.DataFrame([(date, time, _hint(date, time, day, month, patterns_of(fmt)))
                          for date, day, month, times in orders.iter_rows() for time in times],
                         schema={"date": pl.String, "time": pl.String, "hint": pl.String}, orient="row")
    hint = rows.join(hints, on=["date", "time"], how="left", nulls_equal=True, maintain_order="left")["hint"]
    return frame.with_columns(detail=pl.when(rows["marked"]).then(
        pl.col("detail").str.strip_suffix(LOCALE_MARK) + hint.fill_null("")).otherwise(pl.col("detail")))


def _hint(date: str, time: str | None, day: bool, month: bool, patterns: tuple[str, ...]) -> str:
    """A detail's end naming the pattern of a date of the form ``date`` (:data:`_FIRST` and :data:`_SECOND` for its
    first and second fields) and ``time`` (a pattern; None: of another form) where the file's dates of that form
    have a first field above 12 (``day``) or a second one (``month``). Where one of ``patterns`` (timestamp_format's)
    starts with its date's pattern (of either order where they cannot tell), the value's form where its time is of
    another (``3/8/2026 6:33 PM`` under ``%m/%d/%Y %I:%M:%S %p``: helper-257's trial said no word why), else ''. A time
    of a.m. or p.m. (:data:`_DOTTED`) gets no pattern but the date's, and says that no pattern reads it: its
    pattern with ``p.m.`` as text read 2:05 p.m. as 02:05 (helper-257)."""
    day_first, month_first = (date.replace(_FIRST, a).replace(_SECOND, b) for a, b in (("%d", "%m"), ("%m", "%d")))
    dots = time is not None and _DOTTED in time
    said = {pattern: f'"{pattern}{time}"' if time is not None and not dots else f'"{pattern}" and the time\'s fields'
            for pattern in (day_first, month_first)}
    end = f"; {_NO_DOTS}" if dots else ""
    orders = (day_first, month_first) if day == month else (day_first,) if day else (month_first,)
    if own := next((order for order in orders if any(pattern.startswith(order) for pattern in patterns)), None):
        fits = time is None or any(own + time == pattern.rstrip() for pattern in patterns)
        other = f" (its form: {said[own]}, another than timestamp_format's)"
        return "" if fits else f" ({_NO_DOTS})" if dots else other
    if day != month:
        return f" (a date of a locale, {'day' if day else 'month'} first: timestamp_format {said[orders[0]]}{end})"
    why = "some have a first field above 12, some a second" if day else "none has a field above 12"
    return (
        f" (a date of a locale, day or month first, which the file's dates cannot tell ({why}): timestamp_format "
        f"{said[day_first]} (day first) or {said[month_first]} (month first){end})")
