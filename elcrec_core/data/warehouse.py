"""The embedded DuckDB warehouse: raw events keyed by source file, quarantined rows, loads, item index, sequences.

Tables (names are fixed; every value reaches SQL as a parameter or a registered frame):

- ``raw_interactions``: accepted events with their ``event_date`` (the UTC date of the timestamp; for an
  event without a time, its file's day in a ``{date}`` source, else NULL), ``source_file`` and ``source_row``.
  A load is keyed by source file (a file's absolute path; :data:`SYNTHETIC_SOURCE_FILE` for the generator): it
  replaces exactly the rows that earlier loads stored for the files it reads, whatever days their events fall
  on, and never another file's rows. So the tables hold the latest loaded version of every file, and re-running
  loads, in any order, leaves the same rows (a file's rows depend on its content alone: see
  :func:`elcrec_core.data.validation.check_rows`). An event that two files hold is stored for each; the
  sequences use it once (:func:`elcrec_core.data.event_selection.selected_events`).
- ``rejected_interactions``: rejected rows (source file, row, reason code, detail), a load's replacing its files'.
- ``loads``: one row per load: its counts (rows in = accepted + rejected), the files it replaced (``files``;
  ``replaced_files``: those of them that had rows stored before), the raw and rejected rows it replaced
  (``replaced``, ``replaced_rejected``), the event days it covers (``days``, informative) and the day whose
  ``{date}`` files it read (``file_day``; NULL for other sources, and for loads before this column).
- The embedded synthetic data set is a demo and never mixes with real files: a load of the one into a warehouse
  of the other is refused (:class:`elcrec_core.data.ingestion.MixedSources`).
- ``item_index``: the stable item id -> index mapping (1..n; 0 is padding), only ever appended to.
- ``item_metadata`` and ``rejected_item_metadata``: optional item titles and categories.
- derived tables written whole by :func:`replace_table`, such as ``sequences`` (the latest built sequences,
  one row per user: user_id, items, length, last_timestamp).

DuckDB lets one process open a file for writing at a time (or several processes read-only): every access opens
the file, runs one short transaction and closes it again (:mod:`elcrec_core.data.warehouse_file`: the lock wait,
a damaged file). In the pipeline the writers share the Dagster concurrency pool ``warehouse``, so they queue
instead of meeting the lock. A step that runs many short queries in a row holds the file open for them
(:func:`held`): opening a database costs 20-30 ms (DuckDB builds its catalogue each time).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from elcrec_core.data.warehouse_file import damage_named, lock_wait_seconds, open_waiting, require_openable

DEFAULT_WAREHOUSE = Path("data") / "warehouse.duckdb"
SYNTHETIC_SOURCE_FILE = "synthetic"  # the source_file of the synthetic generator's rows (real files: absolute paths)
_LOADED_TABLES = {"loads", "raw_interactions", "rejected_interactions", "item_index", "item_metadata",
                  "rejected_item_metadata"}

# columns of loads that later versions added: warehouses written before lack them (NULL for their old loads)
_ADDED_LOAD_COLUMNS = {"replaced_rejected": "BIGINT", "replaced_files": "VARCHAR[]", "file_day": "DATE"}
_SCHEMA = """
CREATE SEQUENCE IF NOT EXISTS load_ids START 1;
CREATE TABLE IF NOT EXISTS loads (
    load_id BIGINT PRIMARY KEY, loaded_at TIMESTAMP NOT NULL, source VARCHAR NOT NULL, files VARCHAR[] NOT NULL,
    rows_in BIGINT NOT NULL, accepted BIGINT NOT NULL, rejected BIGINT NOT NULL, by_reason MAP(VARCHAR, BIGINT),
    days DATE[], undated BIGINT NOT NULL, replaced BIGINT NOT NULL, replaced_rejected BIGINT,
    replaced_files VARCHAR[]);
CREATE TABLE IF NOT EXISTS raw_interactions (
    event_date DATE, user_id VARCHAR NOT NULL, item_id VARCHAR NOT NULL, timestamp TIMESTAMP, rating DOUBLE,
    event_type VARCHAR, source_file VARCHAR NOT NULL, source_row BIGINT NOT NULL, load_id BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS rejected_interactions (
    source_file VARCHAR NOT NULL, source_row BIGINT, reason VARCHAR NOT NULL, detail VARCHAR, user_id VARCHAR,
    item_id VARCHAR, timestamp TIMESTAMP, rating DOUBLE, event_type VARCHAR, load_id BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS item_index (
    item_index BIGINT PRIMARY KEY, item_id VARCHAR NOT NULL UNIQUE, added_at TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS item_metadata (item_id VARCHAR PRIMARY KEY, title VARCHAR, categories VARCHAR[]);
CREATE TABLE IF NOT EXISTS rejected_item_metadata (
    source_file VARCHAR NOT NULL, source_row BIGINT, reason VARCHAR NOT NULL, detail VARCHAR);
""" + "".join(f"ALTER TABLE loads ADD COLUMN IF NOT EXISTS {name} {kind};\n"
                  for name, kind in _ADDED_LOAD_COLUMNS.items())


_HELD: ContextVar[tuple[Path, bool, duckdb.DuckDBPyConnection] | None] = ContextVar("held_warehouse", default=None)


@contextmanager
def held(path: str | Path = DEFAULT_WAREHOUSE, read_only: bool = False) -> Iterator[None]:
    """Keep the warehouse at ``path`` open for the block, as :func:`connect` opens it: each :func:`connect` to the
    same file inside (in this thread or task) is a new connection to this open database, about 1 ms instead of
    20-30 ms, with its own transactions, session settings and temporary views. Other processes meet the file's lock
    for the whole block, so it should hold short queries only (no reading of source files, no training). Raises as
    :func:`connect`, and ValueError for a writing :func:`connect` inside a ``read_only`` block (DuckDB opens a file
    in one mode per process)."""
    if (current := _HELD.get()) is not None and current[0] == Path(path).resolve() and current[1] <= read_only:
        yield  # already held, as writable as asked
        return
    with connect(path, read_only) as con:
        token = _HELD.set((Path(path).resolve(), read_only, con))
        try:
            yield
        finally:
            _HELD.reset(token)


@contextmanager
def connect(path: str | Path = DEFAULT_WAREHOUSE, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse (creating file and tables when writing), in UTC; closed on exit; inside :func:`held`, a
    connection to the database it holds. Raises ValueError for a
    path that DuckDB cannot open (:func:`~elcrec_core.data.warehouse_file.require_openable`),
    :class:`~elcrec_core.data.warehouse_file.WarehouseLocked` after the lock wait and
    :class:`~elcrec_core.data.warehouse_file.WarehouseDamaged` for a damaged file, also where a query in the block
    meets the damage."""
    path = Path(path)
    if (current := _HELD.get()) is not None and current[0] == path.resolve():
        if current[1] and not read_only:
            raise ValueError(f"the warehouse {path} is held read-only in this block: it cannot be written in it")
        with damage_named(path), current[2].cursor() as con:  # migrated when a writable hold opened it
            con.execute("SET TimeZone = 'UTC'")  # a session setting: each connection's own
            if current[1]:
                _read_as_migrated(con)  # a temporary view too (helper-274: an older warehouse's loads lacked it)
            yield con
        return
    require_openable(path)
    if read_only and not path.exists():
        raise FileNotFoundError(f"no warehouse at {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with damage_named(path):
        con = open_waiting(path, read_only, lock_wait_seconds())
        try:
            con.execute("SET TimeZone = 'UTC'")
            if read_only:
                _read_as_migrated(con)
            else:
                con.execute(_SCHEMA)
            yield con
        finally:
            con.close()


def _read_as_migrated(con: duckdb.DuckDBPyConnection) -> None:
    """On a read-only connection to a warehouse written before ``loads`` had the :data:`_ADDED_LOAD_COLUMNS` (the
    next write adds them), a temporary view ``loads`` with those columns as NULL, as the migration would make
    them: the read paths that use them (:data:`~elcrec_core.data.event_selection.BEFORE_UNTIL`) work on it."""
    have = {name for (name,) in con.execute("SELECT column_name FROM information_schema.columns WHERE table_name ="
                                            " 'loads' AND table_schema = 'main'").fetchall()}
    missing = [f"NULL::{kind} AS {name}" for name, kind in _ADDED_LOAD_COLUMNS.items() if name not in have]
    if have and missing:  # no table at all: a file of something else, left to fail as before
        ((catalog,),) = con.execute("SELECT current_database()").fetchall()
        con.execute(f"CREATE TEMP VIEW loads AS SELECT *, {', '.join(missing)} FROM {quote_identifier(catalog)}.main"
                    ".loads")


@contextmanager
def transaction(path: str | Path = DEFAULT_WAREHOUSE) -> Iterator[duckdb.DuckDBPyConnection]:
    """A write connection inside one transaction: committed on success, rolled back on any error."""
    with connect(path) as con:
        con.begin()
        try:
            yield con
        except BaseException:
            con.rollback()
            raise
        con.commit()


def read_interactions(path: str | Path = DEFAULT_WAREHOUSE, start: date | None = None,
                      end: date | None = None) -> pl.DataFrame:
    """Stored events (optionally of event dates ``start``..``end``), with ``source_file`` as a Categorical."""
    with connect(path, read_only=True) as con:
        frame = con.sql(
            "SELECT user_id, item_id, timestamp, rating, event_type, source_file, source_row FROM raw_interactions"
            " WHERE (?::DATE IS NULL OR event_date >= ?::DATE) AND (?::DATE IS NULL OR event_date <= ?::DATE)",
            params=[start, start, end, end],
        ).pl()
    return frame.with_columns(pl.col("source_file").cast(pl.Categorical))


def quote_identifier(name: str) -> str:
    """A table or column name as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def table_counts(path: str | Path = DEFAULT_WAREHOUSE) -> dict[str, int]:
    """Row count of every warehouse table."""
    with connect(path, read_only=True) as con:
        tables = [t for (t,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY table_name").fetchall()]
        return {t: con.execute(f"SELECT count(*) FROM {quote_identifier(t)}").fetchall()[0][0] for t in tables}


def read_item_index(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The stored item index (item_id, item_index), in index order."""
    return con.sql("SELECT item_id, item_index FROM item_index ORDER BY item_index").pl()


def append_item_index(con: duckdb.DuckDBPyConnection, new: pl.DataFrame) -> None:
    """Add new (item_id, item_index) rows; the table's keys refuse any change to a stored id or index."""
    con.register("new_items", new)
    con.execute("INSERT INTO item_index SELECT item_index, item_id, now()::TIMESTAMP FROM new_items")


def replace_table(path: str | Path, name: str, frame: pl.DataFrame) -> None:
    """Replace (or create) table ``name`` with the rows and columns of ``frame``, in one transaction."""
    replace_tables(path, {name: frame})


def replace_tables(path: str | Path, frames: Mapping[str, pl.DataFrame]) -> None:
    """Replace (or create) each table of ``frames`` (name -> rows and columns) in one transaction: all of them, or
    none where one fails (tables that describe one thing together, such as a day's intents and their profiles).
    Raises ValueError for a table that its loader alone writes."""
    if loaded := [name for name in frames if name in _LOADED_TABLES]:
        raise ValueError(f"{', '.join(loaded)} is written by its loader only")
    with transaction(path) as con:
        for name, frame in frames.items():
            con.register("new_table", frame)
            con.execute(f"CREATE OR REPLACE TABLE {quote_identifier(name)} AS SELECT * FROM new_table")
            con.unregister("new_table")


def load_item_metadata(metadata: pl.DataFrame, rejected: pl.DataFrame, source_file: str | Path,
                       path: str | Path = DEFAULT_WAREHOUSE) -> dict[str, int]:
    """Upsert item metadata read from ``source_file`` (one row per item, as :func:`read_item_metadata` gives it:
    it replaces the stored row) and replace that file's rejected rows. Items stored by earlier loads that this one
    does not update (the file lacks them, or rejects their row) keep their earlier row: a file may update some
    items only. Returns rows in (= stored + rejected), stored, rejected, superseded (of the rejected, earlier rows
    of an item that a later row replaced), and kept (the items of earlier loads left as they were; the table then
    holds stored + kept items). Raises ValueError for a repeated item in ``metadata``."""
    repeated = metadata.filter(pl.col("item_id").is_duplicated())["item_id"].unique(maintain_order=True)
    if len(repeated):
        raise ValueError(f"item metadata of {source_file} repeats item(s) {repeated.to_list()[:5]}: "
                         "read_item_metadata keeps each item's last row")
    with transaction(path) as con:
        con.register("new_metadata", metadata)
        con.execute("DELETE FROM item_metadata WHERE item_id IN (SELECT item_id FROM new_metadata)")
        con.execute("INSERT INTO item_metadata SELECT item_id, title, categories FROM new_metadata")
        ((items,),) = con.execute("SELECT count(*) FROM item_metadata").fetchall()
        con.execute("DELETE FROM rejected_item_metadata WHERE source_file = ?", [str(Path(source_file).resolve())])
        con.register("new_rejected", rejected)
        con.execute("INSERT INTO rejected_item_metadata SELECT source_file, source_row, reason, detail"
                    " FROM new_rejected")
    return {"rows_in": len(metadata) + len(rejected), "stored": len(metadata),
            "superseded": int((rejected["reason"] == "superseded_item").sum()), "rejected": len(rejected),
            "kept": items - len(metadata)}


def read_table(path: str | Path, name: str, columns: Sequence[str] = ()) -> pl.DataFrame | None:
    """Table ``name`` (its ``columns``, default all) as a frame, or None when the warehouse has no such table
    (a derived table not written yet, such as ``backtest`` or ``planted_intents``)."""
    with connect(path, read_only=True) as con:
        ((exists,),) = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]).fetchall()
        if not exists:
            return None
        selected = ", ".join(map(quote_identifier, columns)) or "*"
        return con.sql(f"SELECT {selected} FROM {quote_identifier(name)}").pl()


def table_schema(path: str | Path, name: str) -> tuple[list[tuple[str, str, bool]], int]:
    """(columns, rows) of table ``name``: each column as (name, DuckDB type, nullable), in table order, and the
    row count. Raises ValueError when the warehouse has no such table."""
    with connect(path, read_only=True) as con:
        columns = con.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = ?"
            " ORDER BY ordinal_position", [name]).fetchall()
        if not columns:
            raise ValueError(f"the warehouse {path} has no table {name!r}")
        ((rows,),) = con.execute(f"SELECT count(*) FROM {quote_identifier(name)}").fetchall()
    return [(column, kind, nullable == "YES") for column, kind, nullable in columns], rows


@dataclass(frozen=True)
class MetadataCoverage:
    """How many of the stored events' distinct items have a row in ``item_metadata`` (ids compared as exact text),
    with up to ``sample`` ids, in order, of each side that the other lacks."""

    event_items: int
    described: int
    metadata_items: int
    events_only: list[str]  # event items without metadata
    metadata_only: list[str]  # metadata items of no event
    new_items: int = 0  # items whose first event is on the day asked for (none asked: 0)
    new_described: int = 0  # of them, those with metadata

    @property
    def share(self) -> float:
        """described / event_items (1.0 without events)."""
        return self.described / self.event_items if self.event_items else 1.0


def item_metadata_coverage(path: str | Path = DEFAULT_WAREHOUSE, sample: int = 3,
                           day: date | None = None) -> MetadataCoverage:
    """The :class:`MetadataCoverage` of the warehouse at ``path``: all its stored events against its item metadata;
    with ``day``, also the items whose first event (``event_date``) is on it, and how many of them have metadata."""
    with connect(path, read_only=True) as con:
        ((new, new_described),) = con.execute(
            "SELECT count(*), count(m.item_id) FROM (SELECT item_id FROM raw_interactions GROUP BY item_id HAVING "
            "min(event_date) = ?) LEFT JOIN item_metadata m USING (item_id)", [day]).fetchall()
        ((events, described, items),) = con.execute(
            "SELECT (SELECT count(DISTINCT item_id) FROM raw_interactions),"
            " (SELECT count(DISTINCT item_id) FROM raw_interactions SEMI JOIN item_metadata USING (item_id)),"
            " (SELECT count(*) FROM item_metadata)").fetchall()
        events_only = con.execute(
            "SELECT DISTINCT item_id FROM raw_interactions ANTI JOIN item_metadata USING (item_id)"
            " ORDER BY item_id LIMIT ?", [sample]).fetchall()
        metadata_only = con.execute(
            "SELECT item_id FROM item_metadata ANTI JOIN (SELECT DISTINCT item_id FROM raw_interactions)"
            " USING (item_id) ORDER BY item_id LIMIT ?", [sample]).fetchall()
    return MetadataCoverage(int(events), int(described), int(items), [i for (i,) in events_only],
                            [i for (i,) in metadata_only], int(new), int(new_described))
