"""What the warehouse's ``loads`` table says of a ``{date}`` source's files and days: files no load has read, files
written since their last load (a corrected delivery), and the days delivered; for the pipeline's check
``earlier_days_loaded``. And the ids that other files stored, beside which a load's ids are checked, and whether
other files hold a file's events too (``events_on_their_day``)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import polars as pl

from elcrec_core.data import warehouse
from elcrec_core.data.day_loads import LOADS_OF_THE_DAY


def never_loaded(files: list[Path], path: str | Path = warehouse.DEFAULT_WAREHOUSE) -> list[Path]:
    """Those of ``files`` (resolved paths) that no load of the warehouse at ``path`` read (table ``loads``), in
    the order given."""
    with warehouse.connect(path, read_only=True) as con:
        loaded = {file for (file,) in con.execute("SELECT DISTINCT unnest(files) FROM loads").fetchall()}
    return [file for file in files if str(file) not in loaded]


def changed_since_loaded(files: list[Path], path: str | Path = warehouse.DEFAULT_WAREHOUSE) -> list[Path]:
    """Those of ``files`` (resolved paths) that a load of the warehouse at ``path`` read and that were written
    after the newest such load (their modification time, in UTC, after its ``loaded_at``): a corrected delivery
    under the same name, whose earlier rows the warehouse still holds. A file touched without a change counts too.
    In the order given."""
    with warehouse.connect(path, read_only=True) as con:
        newest = dict(con.execute("SELECT file, max(loaded_at) FROM (SELECT unnest(files) AS file, loaded_at FROM "
                                  "loads) GROUP BY file").fetchall())
    return [file for file in files if (loaded := newest.get(str(file))) is not None
            and datetime.fromtimestamp(file.stat().st_mtime, timezone.utc).replace(tzinfo=None) > loaded]


def newest_load_files(path: str | Path = warehouse.DEFAULT_WAREHOUSE) -> dict[date, set[str]]:
    """Per ``{date}`` day, the files its newest load read (table ``loads``; days of loads that recorded their day)."""
    with warehouse.connect(path, read_only=True) as con:
        return {day: set(files) for day, files in con.execute(
            "SELECT file_day, arg_max(files, loaded_at) FROM loads WHERE file_day IS NOT NULL GROUP BY file_day"
        ).fetchall()}


SPILL_HOURS = 14  # a day file in local time holds at most this many hours of a neighbouring UTC day (UTC-12..+14)
# per UTC day with events: how many, from how many files (their {date} day), the first and last time, and whether
# every time is the day's midnight (dates alone: no time of day, so nothing spilt over from a time zone)
_DAY_EVENTS = ("SELECT event_date AS day, count(*) AS n, count(DISTINCT file_day) AS files, any_value(file_day) AS f, "
               "min(timestamp) AS first, max(timestamp) AS last, bool_and(timestamp = CAST(event_date AS TIMESTAMP)) "
               "AS dates_only FROM raw_interactions JOIN loads USING (load_id) WHERE event_date IS NOT NULL GROUP BY "
               "event_date")
# its events are one neighbouring file's edge: the first hours of the day after that file's, the last before it
_SPILL = (f"(files = 1 AND NOT coalesce(dates_only, true) AND ((f = day - 1 AND last < day + INTERVAL {SPILL_HOURS} HOURS) OR "
          f"(f = day + 1 AND first >= day + INTERVAL {24 - SPILL_HOURS} HOURS)))")


def days_with_data(path: str | Path = warehouse.DEFAULT_WAREHOUSE) -> tuple[set[date], date | None]:
    """The days whose ``{date}`` files a load of the warehouse at ``path`` read (``loads.file_day``: a day of an
    empty file too), the days that other files hold at least half a typical day's events of (the median events on
    a file's day), unless they are the edge of one neighbouring day's file, within :data:`SPILL_HOURS` of it (a
    delivery that batches days, a weekend's events in Monday's file, delivers them; a file in local time holds the
    evening of a busy day before, which does not), and, for loads recorded
    without their day (before that column), the days their events fall on (``event_date``); and the first file day
    (None: no load recorded its day): this data folder's own, whatever else the Dagster instance ran. A day whose
    file never came is none of them where other days' files hold only a few events on it (a log written in local
    time has events on the UTC days beside its own)."""
    with warehouse.connect(path, read_only=True) as con:
        days = {day for (day,) in con.execute(
            f"WITH counts AS ({_DAY_EVENTS}), typical AS (SELECT median(n) AS n FROM counts WHERE day IN (SELECT "
            "file_day FROM loads)) SELECT file_day FROM loads WHERE file_day IS NOT NULL UNION SELECT counts.day FROM "
            f"counts, typical WHERE counts.n >= typical.n / 2 AND NOT {_SPILL} UNION SELECT DISTINCT event_date FROM "
            "raw_interactions WHERE event_date IS NOT NULL AND load_id IN (SELECT load_id FROM loads WHERE file_day "
            "IS NULL)").fetchall()}
        ((first,),) = con.execute("SELECT min(file_day) FROM loads").fetchall()
    return days, first


def ids_of_other_files(files: list[str], path: str | Path = warehouse.DEFAULT_WAREHOUSE) -> dict[str, pl.Series]:
    """The distinct ``user_id`` and ``item_id`` values that the warehouse at ``path`` stores from files other than
    ``files`` (a load's): earlier days' ids, beside which a load's may differ in case alone (an export that changed
    the case of its ids: helper-197)."""
    with warehouse.connect(path, read_only=True) as con:
        con.register("this_load", pl.DataFrame({"file": files}, schema={"file": pl.String}))
        return {column: pl.Series(column, [value for (value,) in con.execute(
                    f"SELECT DISTINCT {column} FROM raw_interactions WHERE source_file NOT IN (SELECT file FROM "
                    "this_load)").fetchall()], dtype=pl.String) for column in ("user_id", "item_id")}


def held_by_other_files(files: list[str], day: date, path: str | Path = warehouse.DEFAULT_WAREHOUSE) -> bool:
    """Whether the warehouse at ``path`` stores events from ``files`` (of ``day``'s load) and each of them (its
    user, item and time) from a file of another day's load too: that day's file, delivered again under a new name.
    Not a file of ``day``'s own earlier loads (a day exported again under new names: helper-205; also of a load
    recorded before ``file_day``, whose files' names hold the day: helper-207); the other files' rows are read on
    the events' days alone (the whole warehouse took gigabytes: helper-206). False where ``files`` have no stored
    event."""
    with warehouse.connect(path, read_only=True) as con:
        con.register("these", pl.DataFrame({"file": files}, schema={"file": pl.String}))
        own, held = con.execute(
            "WITH mine AS (SELECT user_id, item_id, timestamp, event_date FROM raw_interactions WHERE source_file IN "
            "(SELECT file FROM these)), others AS (SELECT DISTINCT o.user_id, o.item_id, o.timestamp FROM "
            "raw_interactions o JOIN loads USING (load_id) WHERE o.event_date IN (SELECT event_date FROM mine) AND "
            f"o.source_file NOT IN (SELECT file FROM these) AND NOT coalesce({LOADS_OF_THE_DAY}, false)) "
            "SELECT count(*), count(others.user_id) FROM mine LEFT JOIN others ON mine.user_id = others.user_id AND "
            "mine.item_id = others.item_id AND mine.timestamp IS NOT DISTINCT FROM others.timestamp", [day, day]
        ).fetchone()
    return own > 0 and held == own
