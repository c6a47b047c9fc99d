"""The source setting ``timezone``: the IANA zone of times written without a UTC offset (a till's export of local
times, ``12/07/2026 2:05:33 PM`` in New York), read as that zone's local time and stored as naive UTC, converted
by DuckDB's ICU ``timezone()``; times with an offset and epoch numbers are moments already and are not moved.

Daylight saving time, as ICU resolves it: a time in the spring-forward gap, which the clocks skip (02:30 on
2026-03-08 in New York), is read with the offset before the change (-05:00: 07:30 UTC, the moment the clocks
showed 03:30 EDT); a time in the autumn overlap, which the clocks show twice (01:30 on 2026-11-01), is the second,
in standard time (-05:00: 06:30 UTC; Python's zoneinfo with ``fold=1``)."""

from __future__ import annotations

import difflib
import re
import zoneinfo
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from functools import lru_cache

import polars as pl

from elcrec_core.data.rejections import file_name
from elcrec_core.data.scratch_duckdb import scratch_connection


@lru_cache(maxsize=1)
def zone_names() -> frozenset[str]:
    """The zone names the setting takes: the IANA names (Python's tz database) that DuckDB's ICU converts by, but
    not ICU's own three-letter aliases (``IST``, ``BST``, ``CST``: each of several zones elsewhere)."""
    with scratch_connection() as con:
        icu = {name for (name,) in con.execute("SELECT name FROM pg_timezone_names()").fetchall()}
    return frozenset(icu & zoneinfo.available_timezones())


# names that are no IANA zone but that people write for one: US abbreviations (in summer too) and Windows' zone names,
# by their lower case
_COMMON = {name.lower(): zone for name, zone in {
    "CST": "America/Chicago", "CDT": "America/Chicago", "Central Standard Time": "America/Chicago",
    "EDT": "America/New_York", "Eastern Standard Time": "America/New_York", "PST": "America/Los_Angeles",
    "PDT": "America/Los_Angeles", "Pacific Standard Time": "America/Los_Angeles", "MDT": "America/Denver",
    "Mountain Standard Time": "America/Denver", "India Standard Time": "Asia/Kolkata", "BST": "Europe/London",
    "GMT Standard Time": "Europe/London", "W. Europe Standard Time": "Europe/Berlin",
    "Central European Standard Time": "Europe/Warsaw", "Tokyo Standard Time": "Asia/Tokyo",
    "China Standard Time": "Asia/Shanghai", "AEST": "Australia/Sydney",
    "AUS Eastern Standard Time": "Australia/Sydney"}.items()}


def timezone_problem(zone: object, name: str = "timezone") -> str | None:
    """Why ``zone`` is no zone name of :func:`zone_names`, naming the setting ``name`` and the value, with the name
    it may mean (``America/New_Yrok``: ``America/New_York``?; ``new york`` too); None where it is one."""
    if isinstance(zone, str) and zone in zone_names():
        return None
    said = f"{name} = {zone!r}: no IANA time zone name (such as America/New_York, Europe/Berlin or UTC)"
    if not isinstance(zone, str):
        return said
    cities = {n.rsplit("/", 1)[-1].lower(): n for n in zone_names()}
    lower = {n.lower(): n for n in zone_names()}
    key = zone.strip().lower().replace(" ", "_")
    common = _COMMON.get(zone.strip().lower())
    close = common or lower.get(key) or cities.get(key) or next(
        iter(difflib.get_close_matches(zone, zone_names(), 1, 0.8)), None)
    return said + (f"; did you mean {close}?" if close else "")


# valid names that a US team writes for its region's zone: EST, MST and HST are fixed offsets all year; EST5EDT and
# its kind follow today's US rules (the tz database links them to the zone named here)
_MEANT = {"EST": "America/New_York", "MST": "America/Denver", "HST": "Pacific/Honolulu",
          "EST5EDT": "America/New_York", "CST6CDT": "America/Chicago", "MST7MDT": "America/Denver",
          "PST8PDT": "America/Los_Angeles"}
_ALSO = {"MST": " (in Arizona, America/Phoenix, whose clocks are MST's all year)"}
# Europe's names that the tz database keeps for compatibility (CET: since 2024b, Europe/Brussels's clocks), and a
# zone of a country a team writing them may be in
_EUROPEAN = {"CET": "Europe/Paris", "MET": "Europe/Berlin", "EET": "Europe/Athens", "WET": "Europe/Lisbon"}


def zone_warning(zone: str | None, name: str = "timezone") -> str | None:
    """A warning for a valid ``zone`` (of the setting ``name``) that is likely not the zone meant, None for others
    (None too): a US name (EST, MST, EST5EDT, ...) whose clocks differ from those of the zone it is written for
    (EST: UTC-05:00 all year, without the summer's EDT, where America/New_York is meant; HST, whose clocks are
    Pacific/Honolulu's, none), and an ``Etc/GMT+5``, whose POSIX sign means UTC-05:00. Each names the offset that
    the name is and the zone likely meant (helper-268's trial: ``timezone: EST`` read summer times an hour off
    without a word). Europe's CET, MET, EET and WET: a name kept for compatibility, not a place's zone, whose clocks
    are today's (the EU's summer time) but not a country's own rules, past or to come; it names the years 1970-2037
    whose clocks differ from a country's zone likely meant (CET's from Europe/Paris's in 1976)."""
    if zone is None:
        return None
    offsets = _offsets(zone)
    offset = _offset_text(offsets[0]) if len(set(offsets)) == 1 else None
    if (etc := re.fullmatch(r"Etc/GMT([+-])([0-9]+)", zone)) and offset not in (None, "+00:00"):
        return (f"{name} = {zone!r} is UTC{offset} all year, without summer time: the POSIX sign, Etc/GMT{etc[1]}"
                f"{etc[2]} is {etc[2]} hours {'behind' if etc[1] == '+' else 'ahead of'} UTC; where the clocks of a "
                "region are meant, its zone (such as America/New_York) reads the summer's times as they are")
    if (country := _EUROPEAN.get(zone)) is not None:
        years = sorted({1970 + at // 2 for at, (own, its) in enumerate(zip(offsets, _offsets(country))) if own != its})
        return (f"{name} = {zone!r} is a name the tz database keeps for compatibility, not a place's zone: it has "
                f"the EU's summer time today (UTC{_offset_text(offsets[-2])}, UTC{_offset_text(offsets[-1])} in "
                f"summer), but not a country's own rules, past or to come{_years_text(country, years)}; where a "
                f"country's clocks are meant, give its zone, such as {country}")
    if (meant := _MEANT.get(zone)) is None or offsets == _offsets(meant):
        return None
    what = f"UTC{offset} all year, without summer time" if offset else f"not the clocks of {meant}"
    return (f"{name} = {zone!r} is {what}: where the clocks of {meant} are meant, its times of summer are read an "
            f"hour off; give {meant}{_ALSO.get(zone, '')}")


@lru_cache(maxsize=32)
def _offsets(zone: str) -> tuple[timedelta, ...]:
    """The UTC offsets of ``zone`` in January and July of each year 1970-2037, as DuckDB's ICU converts by."""
    with scratch_connection() as con:
        return tuple(offset for (offset,) in con.execute(
            "SELECT t - timezone('UTC', timezone($zone, t)) FROM (SELECT unnest(generate_series(TIMESTAMP "
            "'1970-01-15', TIMESTAMP '2037-07-15', INTERVAL 6 MONTH)) AS t) ORDER BY t", {"zone": zone}).fetchall())


def _years_text(zone: str, years: list[int]) -> str:
    """`` (its clocks and Europe/Paris's differed in 1976)``: the ``years`` in which they differed, in runs
    (1977-1979); empty without one."""
    runs: list[list[int]] = []
    for year in years:
        if runs and year == runs[-1][-1] + 1:
            runs[-1].append(year)
        else:
            runs.append([year])
    spans = ", ".join(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]) for run in runs)
    return f" (its clocks and {zone}'s differed in {spans})" if runs else ""


def _offset_text(offset: timedelta) -> str:
    """``offset`` as ISO 8601 writes it: -05:00, +05:30, +00:00."""
    return timezone(offset).tzname(None).removeprefix("UTC") or "+00:00"  # Python's names: UTC-05:00, UTC


def local_to_utc_sql(timestamp: str, zone: str | None) -> str:
    """SQL: the naive TIMESTAMP ``timestamp``, a local time of ``zone``, as the naive UTC time of that moment (the
    gap and the overlap of daylight saving time as the module says); infinite ones as NULL. ``timestamp`` itself
    where ``zone`` is None (a time without offset is UTC)."""
    if zone is None:
        return timestamp
    quoted = "'" + zone.replace("'", "''") + "'"
    return f"CASE WHEN isfinite({timestamp}) THEN timezone('UTC', timezone({quoted}, {timestamp})) END"


def is_naive_type(column_type: str) -> bool:
    """Whether a DuckDB column type holds times without a zone (TIMESTAMP, TIMESTAMP_NS/_MS/_S, DATE), which
    ``timezone`` reads as local times; not TIMESTAMPTZ (``TIMESTAMP WITH TIME ZONE``): moments."""
    return column_type == "DATE" or (column_type.startswith("TIMESTAMP") and "TIME ZONE" not in column_type
                                     and not column_type.startswith("TIMESTAMPTZ"))


def naive_utc(name: str, text: str | None, zone: str | None = None) -> datetime | None:
    """``text`` (ISO 8601) as a naive UTC time, None for None or ''. A time with an offset (``Z``, ``+01:00``) is a
    moment; one without (a date alone: midnight) is a local time of ``zone`` where given, converted as the events'
    times are (:func:`local_to_utc_sql`: the same gap and overlap), else UTC. Raises ValueError naming the setting
    ``name`` where ``text`` is no ISO 8601 time."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name}: {text!r} is no ISO 8601 time (such as 2026-01-01 or 2026-01-01T00:00:00Z)") from None
    if moment.tzinfo is not None:
        return moment.astimezone(timezone.utc).replace(tzinfo=None)
    if zone is None:
        return moment
    with scratch_connection() as con:
        return con.execute(f"SELECT {local_to_utc_sql('$t::TIMESTAMP', zone)}", {"t": moment}).fetchone()[0]


def naive_times_note(rows: pl.DataFrame | None, zone: str | None, setting: str, name: str,
                     files: Sequence[str]) -> str:
    """The warning of a load whose ``rows`` (``source_file``, ``source_row``: ``RowCheck.naive_times``) hold ISO
    times without a UTC offset in files whose times mostly have one: read as local times of ``zone`` (the source's
    timezone, named as the user gives it by ``setting``, where it is, and by ``name`` alone, the word to give:
    ``--timezone`` or ``timezone``; None: UTC) and accepted, as they may be right, their count
    and first three lines named (helper-275's trial: a mid-file time without its offset was read as UTC, 5 hours
    off New York's, without a word); empty where none."""
    if rows is None or not len(rows):
        return ""
    first = ", ".join(f"{file_name(file, files)} line {row}" for file, row in rows.head(3).iter_rows())
    more = f" and {len(rows) - 3:,} more" if len(rows) > 3 else ""
    read_as = f"{zone} times ({setting})" if zone else f"UTC times ({setting} not set: UTC)"
    return (f"{len(rows):,} ISO 8601 time(s) without a UTC offset, in files whose times mostly have one, were read as "
            f"{read_as} and accepted: {first}{more}; where they are another zone's times, write each with its "
            f"offset, or name the zone they were written in with {name}")
