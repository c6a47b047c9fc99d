"""What the warehouse's ``loads`` table says of a ``{date}`` source's files and days: files no load has read, files
written since their last load (a corrected delivery), and the days delivered; for the pipeline's check
``earlier_days_loaded``."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

from elcrec_core.data import warehouse


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


SPILL_HOURS = 14  # a day file in local time holds at most this many hours of a neighbouring UTC day (UTC-12..+14)


def days_with_data(path: str | Path = warehouse.DEFAULT_WAREHOUSE) -> tuple[set[date], date | None]:
    """The days whose ``{date}`` files a load of the warehouse at ``path`` read (``loads.file_day``: a day of an
    empty file too), the days that other files hold at least half a typical day's events of (the median events on
    a file's day), spread over more than :data:`SPILL_HOURS` (a delivery that batches days, a weekend's events in
    Monday's file; not the evening of a busy day before, in local time) and, for loads recorded
    without their day (before that column), the days their events fall on (``event_date``); and the first file day
    (None: no load recorded its day): this data folder's own, whatever else the Dagster instance ran. A day whose
    file never came is none of them where other days' files hold only a few events on it (a log written in local
    time has events on the UTC days beside its own)."""
    with warehouse.connect(path, read_only=True) as con:
        days = {day for (day,) in con.execute(
            "WITH counts AS (SELECT event_date AS day, count(*) AS n, max(timestamp) - min(timestamp) AS span FROM "
            "raw_interactions WHERE event_date IS NOT NULL GROUP BY ALL), typical AS (SELECT median(n) AS n FROM "
            "counts WHERE day IN (SELECT file_day FROM loads)) SELECT file_day FROM loads WHERE file_day IS NOT NULL "
            "UNION SELECT counts.day FROM counts, typical WHERE counts.n >= typical.n / 2 AND counts.span >= "
            f"INTERVAL {SPILL_HOURS} HOURS UNION SELECT DISTINCT event_date FROM raw_interactions WHERE event_date IS "
            "NOT NULL AND load_id IN (SELECT load_id FROM loads WHERE file_day IS NULL)").fetchall()}
        ((first,),) = con.execute("SELECT min(file_day) FROM loads").fetchall()
    return days, first
