"""What the warehouse's ``loads`` table says of one day's delivery: the newest load of the day's ``{date}`` files,
for the evaluation report's account of the data a day's model learned from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from elcrec_core.data import warehouse


@dataclass(frozen=True)
class DayLoad:
    """One load: its files, rows read (``rows_in`` = ``accepted`` + rejected), rejected rows by reason and the day of
    its ``{date}`` files (None: a source without ``{date}``)."""

    files: list[str]
    rows_in: int
    accepted: int
    by_reason: dict[str, int]
    day: date | None


def newest_day_load(day: date, path: str | Path = warehouse.DEFAULT_WAREHOUSE) -> DayLoad | None:
    """The newest load of ``day``'s ``{date}`` files in the warehouse at ``path``; for a source without ``{date}``
    (its loads have no day), the newest load of all; None where there is none."""
    with warehouse.connect(path, read_only=True) as con:
        row = con.execute("SELECT files, rows_in, accepted, map_keys(by_reason), map_values(by_reason), file_day"
                          " FROM loads"
                          " WHERE file_day = ? OR NOT EXISTS (SELECT 1 FROM loads WHERE file_day IS NOT NULL)"
                          " ORDER BY load_id DESC LIMIT 1", [day]).fetchone()
    if row is None:
        return None
    files, rows_in, accepted, reasons, counts, file_day = row
    return DayLoad(list(files), int(rows_in), int(accepted), dict(zip(reasons or [], map(int, counts or []))),
                   file_day)
