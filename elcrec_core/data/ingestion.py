"""One load: read a source, apply the row rules, store the result in the warehouse."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from elcrec_core.data import warehouse
from elcrec_core.data.source_config import ColumnMap, SourceConfig, resolve_files
from elcrec_core.data.sources import read_files, read_source
from elcrec_core.data.validation import RowCheck, RowRules, check_rows


class EventsBeforeStart(ValueError):
    """Accepted events (``count`` of the load's ``accepted``) older than the first day the warehouse's consumer
    covers; nothing was written."""

    def __init__(self, earliest: datetime, start: datetime, count: int, where: str = "", accepted: int = 0) -> None:
        at = f", {where}" if where else ""
        super().__init__(f"{count} events are before the first day {start.date()}: the earliest is {earliest} "
                         f"(UTC{at}); nothing was loaded")
        self.earliest, self.start, self.count, self.accepted = earliest, start, count, accepted


def times_in_1970_hint(setting: str) -> str:
    """What times that fall in 1970 mostly are, for a load's message (``setting`` names the timestamp format
    setting, and its value): a wrong unit, or Excel's serial dates read as epoch seconds (helper-187: 35795.89 was
    read as 1970-01-01 09:56, every event accepted)."""
    return (f"times in the wrong unit (is {setting} right for this file?), or Excel serial dates (days since "
            "1899-12-30, such as 35795.89: epoch seconds of 1970-01-01), which no timestamp format reads: save the "
            "times as ISO 8601 text or epoch seconds")


DEMO = warehouse.SYNTHETIC_SOURCE_FILE  # the synthetic generator's rows: a demo, never mixed with real files


class MixedSources(ValueError):
    """A load of the synthetic demo data into a warehouse that holds events of real files (``real`` names them),
    or of real files into a warehouse that holds the demo (``real`` empty). Their users and items would merge
    (both number them 1, 2, ...), and the folder's sequences, models and tables of the one would serve the other."""

    def __init__(self, path: str | Path, real: list[str]):
        folder = Path(path).parent
        if real:
            shown = ", ".join(real[:3]) + (f" and {len(real) - 3} more" if len(real) > 3 else "")
            message = (f"{path} holds the events of {len(real)} real source file(s) ({shown}): the embedded "
                       "synthetic data would mix into them. Describe the source (ELCREC_SOURCE or the run config's "
                       "raw_interactions), or use another data folder for the synthetic data (ELCREC_DATA_DIR)")
        else:
            message = (f"{path} holds the embedded synthetic demo data, and {folder} what was built from it "
                       "(sequences, models, tables): your events would mix into them. Load them into a data folder of "
                       f"their own (ELCREC_DATA_DIR), or remove the demo's folder {folder} first")
        super().__init__(message)
        self.real = real


@dataclasses.dataclass
class LoadReport:
    """What one load did. ``files`` are the files it read, each of which replaced what earlier loads stored for
    it; ``replaced_files`` are those of them that had stored rows, and ``withdrawn_files`` (also in
    ``replaced_files``) the files gone from disk whose rows an ``overwrite_day`` load withdrew
    (:func:`load_interactions`); ``replaced`` and ``replaced_rejected`` count the raw and rejected rows removed
    from all of them, ``replaced_by_file`` both together for each file that had rows. ``days`` are the event dates of
    its accepted rows and ``undated`` the accepted rows without a timestamp. ``rows_in == accepted + rejected``."""

    load_id: int
    source: str
    files: list[str]
    rows_in: int
    accepted: int
    rejected: int
    by_reason: dict[str, int]
    days: list[date]
    undated: int
    replaced: int
    replaced_rejected: int
    replaced_files: list[str]
    withdrawn_files: list[str] = dataclasses.field(default_factory=list)
    replaced_by_file: dict[str, int] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "days": [d.isoformat() for d in self.days]}


def load_interactions(check: RowCheck, source: str, path: str | Path = warehouse.DEFAULT_WAREHOUSE,
                      files: Sequence[str] = (), file_day: date | None = None,
                      overwrite_day: bool = False) -> LoadReport:
    """Store a checked batch in one transaction, replacing what earlier loads stored for its files.

    The batch's files are those of its rows plus ``files`` (an empty file still clears what an earlier version of it
    left). ``file_day`` is the day the files hold (a ``{date}`` source's): the ``event_date`` of their events
    without a time, which the days before it then leave out (None: such events belong to every day). Their raw and
    rejected rows are deleted, whatever days they fall on, and the batch's rows
    inserted; with ``file_day`` and ``overwrite_day``, so are the rows of the files that earlier loads of that day
    read and that are gone from disk now (the day's delivery is what its files hold now: a writer that rewrites a
    day under new file names, as Spark does; not where an inbox moves loaded files away and delivers more later);
    other files' rows are untouched. ``source`` describes the load in the ``loads`` table. Raises
    :class:`MixedSources` (and writes nothing) for a synthetic batch when the warehouse holds rows of real files,
    and for a batch of real files when it holds the synthetic demo's.
    """
    accepted, rejected = check.accepted, check.rejected
    days = accepted.select(pl.col("timestamp").dt.date().unique().drop_nulls().sort())["timestamp"].to_list()
    batch_files = sorted({*files, *(str(f) for f in accepted["source_file"].unique()),
                          *(str(f) for f in rejected["source_file"].unique())})
    undated = int(accepted["timestamp"].null_count())
    with warehouse.transaction(path) as con:
        _refuse_mixing(con, DEMO in batch_files, path)
        ((load_id,),) = con.execute("SELECT nextval('load_ids')").fetchall()
        gone = _gone_files_of_the_day(con, file_day, batch_files) if file_day is not None and overwrite_day else []
        by_file, replaced, replaced_rejected = _delete_files(con, batch_files + gone)
        replaced_files = sorted(by_file)
        withdrawn = [file for file in gone if file in by_file]
        con.register("batch_accepted", accepted)
        con.execute(
            "INSERT INTO raw_interactions SELECT coalesce(CAST(timestamp AS DATE), ?::DATE), user_id, item_id,"
            " timestamp, rating, event_type, CAST(source_file AS VARCHAR), source_row, ? FROM batch_accepted",
            [file_day, load_id])
        con.register("batch_rejected", rejected)
        con.execute(
            "INSERT INTO rejected_interactions SELECT CAST(source_file AS VARCHAR), source_row,"
            " CAST(reason AS VARCHAR), detail, user_id, item_id, timestamp, rating, event_type, ?"
            " FROM batch_rejected", [load_id])
        report = LoadReport(int(load_id), source, batch_files, check.rows_in, len(accepted), len(rejected),
                            dict(check.by_reason), days, undated, replaced, replaced_rejected, replaced_files,
                            withdrawn, by_file)
        con.execute(
            "INSERT INTO loads (load_id, loaded_at, source, files, rows_in, accepted, rejected, by_reason, days,"
            " undated, replaced, replaced_rejected, replaced_files, file_day)"
            " VALUES (?, now()::TIMESTAMP, ?, ?, ?, ?, ?, MAP(?::VARCHAR[], ?::BIGINT[]), ?, ?, ?, ?, ?, ?)",
            [load_id, source, batch_files, report.rows_in, report.accepted, report.rejected,
             list(report.by_reason), list(report.by_reason.values()), days, undated, replaced, replaced_rejected,
             replaced_files, file_day])
    return report


def refuse_mixing(synthetic: bool, path: str | Path = warehouse.DEFAULT_WAREHOUSE) -> None:
    """Raise :class:`MixedSources` where a load of the synthetic demo data (``synthetic``), or of real files, would
    mix them with what the warehouse at ``path`` holds; nothing without a warehouse. For before the files are read,
    so that it is the first error: a run without its source setting in a folder of real files said that the demo's
    events are before the first day (set ELCREC_START_DATE), never that the source was the demo. The load checks
    again in its transaction (:func:`load_interactions`)."""
    if Path(path).exists():
        with warehouse.connect(path, read_only=True) as con:
            try:
                _refuse_mixing(con, synthetic, path)
            except (duckdb.CatalogException, duckdb.BinderException):  # tables of an older version: none to tell
                pass  # the load migrates them and checks in its transaction


def _refuse_mixing(con: duckdb.DuckDBPyConnection, synthetic: bool, path: str | Path) -> None:
    """:func:`refuse_mixing` on the open warehouse ``con`` (at ``path``, for the message)."""
    stored = [f for (f,) in con.execute("SELECT DISTINCT source_file FROM raw_interactions UNION"
                                        " SELECT DISTINCT source_file FROM rejected_interactions"
                                        " ORDER BY 1").fetchall()]
    real = [f for f in stored if f != DEMO]
    if (synthetic and real) or (not synthetic and DEMO in stored):
        raise MixedSources(path, real)


def _gone_files_of_the_day(con: duckdb.DuckDBPyConnection, day: date, files: list[str]) -> list[str]:
    """The files that earlier loads of ``day``'s ``{date}`` files read, that are not among ``files`` and are gone
    from disk, sorted (their rows may have been withdrawn already)."""
    read = con.execute("SELECT DISTINCT unnest(files) FROM loads WHERE file_day = ?", [day]).fetchall()
    return sorted(file for (file,) in read if file not in files and not Path(file).is_file())


def _delete_files(con: duckdb.DuckDBPyConnection, files: list[str]) -> tuple[dict[str, int], int, int]:
    """Delete the raw and rejected rows of ``files``; returns the rows (raw and rejected) of each file that had
    rows, and the raw and the rejected rows in all."""
    by_file: dict[str, int] = {}
    counts = []
    for table in ("raw_interactions", "rejected_interactions"):
        per_file = con.execute(
            f"SELECT source_file, count(*) FROM {table} WHERE source_file IN (SELECT unnest(?::VARCHAR[]))"
            " GROUP BY source_file", [files]).fetchall()
        for file, n in per_file:
            by_file[file] = by_file.get(file, 0) + int(n)
        counts.append(sum(n for _, n in per_file))
        con.execute(f"DELETE FROM {table} WHERE source_file IN (SELECT unnest(?::VARCHAR[]))", [files])
    return by_file, counts[0], counts[1]


@dataclasses.dataclass(frozen=True)
class CheckedBatch:
    """A source read and checked, not yet stored: the files it names (those its load replaces), the row check
    (accepted and rejected rows) and the description the ``loads`` table records."""

    files: list[str]
    check: RowCheck
    description: str


def _ids_named_by_columns(check: RowCheck, columns: ColumnMap) -> RowCheck:
    """``check`` with the details of its missing ids that the row rules gave (``user_id 'NA' means no value``)
    naming the source's own columns (``customer 'NA' ...``), as the readers' details do (``customer is empty``)."""
    detail = pl.col("detail")
    for reason, field, column in (("missing_user", "user_id", columns.user), ("missing_item", "item_id", columns.item)):
        detail = pl.when((pl.col("reason") == reason) & pl.col("detail").str.starts_with(f"{field} ")).then(
            pl.lit(column) + pl.col("detail").str.slice(len(field))).otherwise(detail)
    return dataclasses.replace(check, rejected=check.rejected.with_columns(detail.alias("detail")))


def read_checked(source: SourceConfig, rules: RowRules = RowRules(),
                 not_before: datetime | None = None) -> CheckedBatch:
    """Read every file of ``source`` and apply the row rules; nothing is written. Raises
    :class:`elcrec_core.data.files.SourceReadError` for a file that cannot be read and :class:`EventsBeforeStart`
    for accepted events before ``not_before`` (naive UTC; the pipeline's first partition), naming the earliest."""
    if source.format == "synthetic":
        files, events = [warehouse.SYNTHETIC_SOURCE_FILE], read_source(source)
    else:  # the files are named once: those read are those the load replaces
        paths = resolve_files(source.path)
        files, events = [str(f) for f in paths], read_files(paths, source, rules.null_ids)
    check = _ids_named_by_columns(check_rows(events, rules), source.columns)
    if not_before is not None:
        early = check.accepted.filter(pl.col("timestamp") < not_before)
        if len(early):
            first = early.sort("timestamp", "source_file", "source_row").row(0, named=True)
            raise EventsBeforeStart(first["timestamp"], not_before, len(early),
                                    f"{first['source_file']} row {first['source_row']}", len(check.accepted))
    settings = dataclasses.asdict(source)
    if source.format != "synthetic":
        del settings["synthetic"]
    settings["row_rules"] = {name: value for name, value in dataclasses.asdict(rules).items() if name != "now"}
    return CheckedBatch(files, check, json.dumps(settings, sort_keys=True, default=str))


def files_under_other_rules(batch: CheckedBatch,
                            path: str | Path = warehouse.DEFAULT_WAREHOUSE) -> dict[str, list[str]]:
    """The files stored in the warehouse at ``path``, other than ``batch``'s, whose rows were checked under other
    row rules than ``batch``'s (as the ``loads`` table records each load's; loads recorded before the rules were
    are not compared), each with the names of the rules that differ (:class:`RowRules` fields, sorted): their rows
    stay accepted or rejected as those rules decided until they are loaded again."""
    rules = json.loads(batch.description)["row_rules"]
    with warehouse.connect(path, read_only=True) as con:
        stored = con.execute(
            "SELECT DISTINCT f.source_file, l.source FROM (SELECT source_file, load_id FROM raw_interactions UNION"
            " SELECT source_file, load_id FROM rejected_interactions) f JOIN loads l USING (load_id)").fetchall()
    other = {}
    for file, source in stored:
        theirs = json.loads(source).get("row_rules", rules)
        differ = sorted(name for name in rules.keys() | theirs.keys() if rules.get(name) != theirs.get(name))
        if file not in batch.files and differ:
            other[file] = differ
    return dict(sorted(other.items()))


def stored_files_gone(path: str | Path = warehouse.DEFAULT_WAREHOUSE) -> list[str]:
    """The files whose rows the warehouse at ``path`` stores (accepted or rejected) that are no longer on disk
    (deleted, or moved out of the source's folder), sorted: their rows stay, and the sequences use them, until
    a load of the same file replaces them (an emptied file clears them)."""
    with warehouse.connect(path, read_only=True) as con:
        stored = con.execute("SELECT source_file FROM raw_interactions UNION SELECT source_file FROM "
                             "rejected_interactions").fetchall()
    return sorted(file for (file,) in stored if file != warehouse.SYNTHETIC_SOURCE_FILE and not Path(file).is_file())


def store_checked(batch: CheckedBatch, path: str | Path = warehouse.DEFAULT_WAREHOUSE,
                  file_day: date | None = None, overwrite_day: bool = False) -> LoadReport:
    """Store a checked batch in the warehouse at ``path``, replacing what earlier loads stored for each of its
    files (even a file that is now empty), and with ``overwrite_day`` the day's files gone from disk, and nothing
    else (:func:`load_interactions`, which reads ``file_day`` and ``overwrite_day``; :class:`MixedSources` for a
    load that would mix the synthetic demo data with real files)."""
    return load_interactions(batch.check, batch.description, path, files=batch.files, file_day=file_day,
                             overwrite_day=overwrite_day)


def ingest(source: SourceConfig, rules: RowRules = RowRules(), path: str | Path = warehouse.DEFAULT_WAREHOUSE,
           not_before: datetime | None = None, file_day: date | None = None) -> tuple[LoadReport, RowCheck]:
    """Load a source into the warehouse at ``path``: every row is stored as accepted or rejected
    (:func:`read_checked`, then :func:`store_checked`).

    The load replaces what earlier loads stored for each file of the source (even a file that is now empty)
    and nothing else (a load that would mix the synthetic demo data with real files raises :class:`MixedSources`);
    the synthetic generator is one source file,
    :data:`elcrec_core.data.warehouse.SYNTHETIC_SOURCE_FILE`, so a load with other generator settings replaces the
    previous synthetic load (the settings are recorded in the ``loads`` table's ``source``). Every file is read before
    anything is written, so a file that cannot be read (:class:`elcrec_core.data.files.SourceReadError`) leaves the
    warehouse untouched, and so do accepted events before ``not_before`` (naive UTC; the pipeline's first partition):
    :class:`EventsBeforeStart` names the earliest. ``file_day``: see :func:`load_interactions`. Returns the load
    report and the row check (its accepted events feed :func:`elcrec_core.data.expectations.expect_interactions`; the
    pipeline runs those before it stores anything).
    """
    refuse_mixing(source.format == "synthetic", path)  # the first error, before the files' own
    batch = read_checked(source, rules, not_before)
    return store_checked(batch, path, file_day), batch.check
