"""What the warehouse's ``loads`` table says of one day's delivery: the newest load of the day's ``{date}`` files,
for the evaluation report's account of the data a day's model learned from, the rejected rows of its files, and the
events that the warehouse holds of the day's files; and the day whose rows a live table holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from elcrec_core.data import warehouse
from elcrec_core.data.source_config import NORMALISED_SCHEMA

# the loads of one day's {date} files (the day: the query's parameter, twice); a load recorded before file_day was
# (before 2026-12-04) has none: its files, each of whose paths holds the day, say it
LOADS_OF_THE_DAY = ("(file_day = ? OR (file_day IS NULL AND len(files) > 0 AND list_bool_and(list_transform("
                    "files, lambda f: contains(f, strftime(?::DATE, '%Y-%m-%d'))))))")


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
        row = con.execute("SELECT files, rows_in, accepted, map_keys(by_reason), map_values(by_reason), file_day,"
                          f" {LOADS_OF_THE_DAY} AS of_the_day FROM loads"
                          " WHERE of_the_day OR NOT EXISTS (SELECT 1 FROM loads WHERE file_day IS NOT NULL)"
                          " ORDER BY of_the_day DESC, load_id DESC LIMIT 1", [day, day]).fetchone()  # the day's first
    if row is None:
        return None
    files, rows_in, accepted, reasons, counts, file_day, of_the_day = row
    return DayLoad(list(files), int(rows_in), int(accepted), dict(zip(reasons or [], map(int, counts or []))),
                   day if of_the_day else file_day)  # a load recorded without its day: its files say it


def rejected_summary(path: str | Path = warehouse.DEFAULT_WAREHOUSE, sample: int = 20,
                     day: date | None = None) -> tuple[dict[str, int], pl.DataFrame]:
    """The quarantine at a glance: rejected rows per reason code (most frequent first) and the first ``sample``
    rejected rows (source_file, source_row, reason, detail) in file and row order; with ``day``, those of the files
    that the newest load of that day's ``{date}`` files read: none where no load has the day (another day's rows
    were named the day's, helper-201), every row for a source without ``{date}``, whose loads have no day."""
    with warehouse.connect(path, read_only=True) as con:
        files = con.execute(f"SELECT files FROM loads WHERE {LOADS_OF_THE_DAY} ORDER BY load_id DESC LIMIT 1",
                            [day, day]).fetchone() if day else None
        days = day is not None and con.execute("SELECT count(*) FROM loads WHERE file_day IS NOT NULL").fetchone()[0]
        where, params = ("WHERE list_contains(?, source_file)", [files[0] if files else []]) if files or days \
            else ("", [])
        by_reason = dict(con.execute(f"SELECT reason, count(*) FROM rejected_interactions {where} GROUP BY reason"
                                     " ORDER BY 2 DESC, 1", params).fetchall())  # ties by name
        rows = con.sql(f"SELECT source_file, source_row, reason, detail FROM rejected_interactions {where}"
                       " ORDER BY source_file, source_row LIMIT ?", params=[*params, sample]).pl()
    return by_reason, rows


def day_events(day: date, files: list[str], path: str | Path = warehouse.DEFAULT_WAREHOUSE) -> pl.DataFrame:
    """The accepted events (user_id, item_id, timestamp, rating, event_type, source_file, source_row) that the
    warehouse at ``path`` holds of ``day``'s ``{date}`` files: of ``files`` (a load's) and of the files of every load
    of the day (one that a load of the day reads no more: its rows kept, or withdrawn), whatever data folder, Dagster
    instance or version stored them; none without a warehouse."""
    columns = "user_id, item_id, timestamp, rating, event_type, source_file, source_row"
    if not Path(path).exists():  # the events' schema, the file's path as stored: text
        return pl.DataFrame(schema={name: pl.String() if name == "source_file" else NORMALISED_SCHEMA[name]
                                    for name in columns.split(", ")})
    with warehouse.connect(path, read_only=True) as con:
        loaded = con.execute(f"SELECT files FROM loads WHERE {LOADS_OF_THE_DAY}", [day, day]).fetchall()
        wanted = sorted({*files, *(file for (read,) in loaded for file in read)})
        marks = ", ".join("?" * len(wanted)) or "NULL"  # a list of values: DuckDB skips the row groups of others
        return con.sql(f"SELECT {columns} FROM raw_interactions WHERE source_file IN ({marks})", params=wanted).pl()


def held_partition(path: str | Path, table: str) -> str | None:
    """The newest day (its ``partition`` column) whose rows the warehouse's live ``table`` (user_recommendations,
    user_intents) at ``path`` holds; None without the table, rows, or the column (an earlier version's).
    FileNotFoundError without the warehouse."""
    with warehouse.connect(path, read_only=True) as con:
        if not con.execute("SELECT count(*) FROM duckdb_columns() WHERE table_name = ? AND column_name = 'partition'",
                           [table]).fetchall()[0][0]:
            return None
        return con.execute(f"SELECT max(partition) FROM {table}").fetchall()[0][0]
