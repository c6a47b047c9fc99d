"""The DuckDB warehouse: loads replace what their files stored before, re-runs are idempotent, nothing is
half-written (tests/data/test_loads.py has the cases of late events, local time and several sources)."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import polars as pl
import pytest

from elcrec_core.data import day_loads, warehouse
from elcrec_core.data.day_loads import newest_day_load
from elcrec_core.data.files import SourceReadError
from elcrec_core.data.ingestion import ingest
from elcrec_core.data.item_metadata import read_item_metadata
from elcrec_core.data.source_config import ItemMetadataConfig, SourceConfig
from elcrec_core.data.validation import RowRules

RULES = RowRules(now=datetime(2026, 11, 27))
DAY1 = int(datetime(2026, 3, 1, 10, tzinfo=timezone.utc).timestamp())
DAY2 = DAY1 + 86_400


def _day_file(folder: Path, name: str, start: int, n: int, bad: int = 0) -> Path:
    lines = [f"u{k % 3},i{k},{start + k}" for k in range(n)] + [f"u{k},,{start}" for k in range(bad)]
    path = folder / name
    path.write_text("user_id,item_id,timestamp\n" + "\n".join(lines) + "\n")
    return path


def _counts(db: Path) -> dict[str, int]:
    counts = warehouse.table_counts(db)
    counts.pop("loads")
    return counts


def _per_day(db: Path) -> dict[date, int]:
    with warehouse.connect(db, read_only=True) as con:
        return dict(con.execute("SELECT event_date, count(*) FROM raw_interactions GROUP BY ALL").fetchall())


@pytest.fixture
def daily(tmp_path: Path) -> Path:
    folder = tmp_path / "daily"
    folder.mkdir()
    _day_file(folder, "2026-03-01.csv", DAY1, 5, bad=2)
    _day_file(folder, "2026-03-02.csv", DAY2, 4, bad=1)
    return folder


def test_reloading_a_day_is_idempotent(tmp_path: Path, daily: Path) -> None:
    db = tmp_path / "w.duckdb"
    first, _ = ingest(SourceConfig(format="csv", path=str(daily)), RULES, db)
    assert (first.rows_in, first.accepted, first.rejected) == (12, 9, 3)
    assert first.days == [date(2026, 3, 1), date(2026, 3, 2)] and first.replaced == 0
    before = _counts(db)
    assert before["raw_interactions"] == 9 and before["rejected_interactions"] == 3
    again, _ = ingest(SourceConfig(format="csv", path=str(daily / "2026-03-01.csv")), RULES, db)
    assert again.replaced == 5 and again.replaced_rejected == 2 and again.days == [date(2026, 3, 1)]
    assert again.replaced_files == again.files == [str((daily / "2026-03-01.csv").resolve())]
    assert _counts(db) == before
    ingest(SourceConfig(format="csv", path=str(daily)), RULES, db)
    assert _counts(db) == before and _per_day(db) == {date(2026, 3, 1): 5, date(2026, 3, 2): 4}
    with warehouse.connect(db, read_only=True) as con:
        loads = con.execute("SELECT rows_in, accepted, rejected, replaced, replaced_rejected FROM loads"
                            " ORDER BY load_id").fetchall()
        assert loads == [(12, 9, 3, 0, 0), (7, 5, 2, 5, 2), (12, 9, 3, 9, 3)]
        assert con.execute("SELECT count(*) FROM (SELECT DISTINCT * EXCLUDE (load_id) FROM raw_interactions)"
                           ).fetchall() == [(9,)]


def test_a_new_version_of_a_file_replaces_exactly_that_file(tmp_path: Path, daily: Path) -> None:
    db = tmp_path / "w.duckdb"
    ingest(SourceConfig(format="csv", path=str(daily)), RULES, db)
    _day_file(daily, "2026-03-01.csv", DAY1, 2)  # fixed: 2 events, no bad rows
    report, _ = ingest(SourceConfig(format="csv", path=str(daily / "2026-03-01.csv")), RULES, db)
    assert (report.replaced, report.replaced_rejected) == (5, 2)
    assert _per_day(db) == {date(2026, 3, 1): 2, date(2026, 3, 2): 4}
    # the rejected row of the other day's file stays: it belongs to that file, which was not reloaded
    assert warehouse.table_counts(db)["rejected_interactions"] == 1


def test_another_file_of_the_same_day_adds_its_rows(tmp_path: Path, daily: Path) -> None:
    db = tmp_path / "w.duckdb"
    ingest(SourceConfig(format="csv", path=str(daily)), RULES, db)
    extra = _day_file(tmp_path, "2026-03-01-extra.csv", DAY1 + 100, 2)
    report, _ = ingest(SourceConfig(format="csv", path=str(extra)), RULES, db)
    assert (report.replaced, report.replaced_rejected, report.replaced_files) == (0, 0, [])
    assert _per_day(db) == {date(2026, 3, 1): 7, date(2026, 3, 2): 4}
    assert warehouse.table_counts(db)["rejected_interactions"] == 3


def test_an_unreadable_file_loads_nothing(tmp_path: Path, daily: Path) -> None:
    db = tmp_path / "w.duckdb"
    ingest(SourceConfig(format="csv", path=str(daily / "2026-03-01.csv")), RULES, db)
    before = warehouse.table_counts(db)
    (daily / "2026-03-03.csv").write_text("user,item\nu,i\n")  # no timestamp column
    _day_file(daily, "2026-03-02.csv", DAY2, 9)
    with pytest.raises(SourceReadError, match=r"2026-03-03\.csv: no column\(s\)"):
        ingest(SourceConfig(format="csv", path=str(daily)), RULES, db)
    assert warehouse.table_counts(db) == before


def test_a_warehouse_from_before_per_file_loads_gets_the_new_loads_columns(tmp_path: Path, daily: Path) -> None:
    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as con:  # the loads table as it was when loads replaced days
        con.execute(
            "CREATE TABLE loads (load_id BIGINT PRIMARY KEY, loaded_at TIMESTAMP NOT NULL, source VARCHAR NOT NULL,"
            " files VARCHAR[] NOT NULL, rows_in BIGINT NOT NULL, accepted BIGINT NOT NULL, rejected BIGINT NOT NULL,"
            " by_reason MAP(VARCHAR, BIGINT), days DATE[], undated BIGINT NOT NULL, replaced BIGINT NOT NULL);"
            " CREATE SEQUENCE load_ids START 2;"
            " INSERT INTO loads VALUES (1, now()::TIMESTAMP, 'old', [], 0, 0, 0, MAP {}, [], 0, 0)")
    ingest(SourceConfig(format="csv", path=str(daily)), RULES, db)
    with warehouse.connect(db, read_only=True) as con:
        assert con.execute("SELECT load_id, rows_in, replaced, replaced_rejected, replaced_files FROM loads"
                           " ORDER BY load_id").fetchall() == [(1, 0, 0, None, None), (2, 12, 0, 0, [])]


def test_a_failed_transaction_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with pytest.raises(RuntimeError, match="boom"), warehouse.transaction(db) as con:
        con.execute("INSERT INTO item_index VALUES (1, 'a', now()::TIMESTAMP)")
        raise RuntimeError("boom")
    assert warehouse.table_counts(db)["item_index"] == 0


def test_ids_are_kept_as_given_and_days_can_be_read_back(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    path = tmp_path / "e.parquet"
    pl.DataFrame({"user_id": ["007", "7", "7"], "item_id": ["A", "a", "a "],
                  "timestamp": [DAY1, DAY2, DAY2 + 1]}).write_parquet(path)
    ingest(SourceConfig(format="parquet", path=str(path)), RULES, db)
    events = warehouse.read_interactions(db)
    assert events.select("user_id", "item_id").rows() == [("007", "A"), ("7", "a"), ("7", "a ")]
    assert events["source_file"].dtype == pl.Categorical and events["source_row"].to_list() == [1, 2, 3]
    second = warehouse.read_interactions(db, start=date(2026, 3, 2), end=date(2026, 3, 2))
    assert second["source_row"].to_list() == [2, 3]


def test_undated_events_are_replaced_per_file(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    path = tmp_path / "seq.txt"
    path.write_text("1 5 6\n2 7 8 9\n")
    first, _ = ingest(SourceConfig(format="sequence", path=str(path)), RULES, db)
    assert first.undated == 5 and first.days == []
    path.write_text("1 5 6\n")
    second, _ = ingest(SourceConfig(format="sequence", path=str(path)), RULES, db)
    assert second.replaced == 5 and warehouse.table_counts(db)["raw_interactions"] == 2
    assert second.undated == 2 and second.replaced_files == [str(path.resolve())]


def test_item_metadata_upsert(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    path = tmp_path / "items.csv"
    path.write_text("item_id,title,categories\n1,Soap,Bath\n2,Comb,Hair|Tools\n,Nameless,X\n")
    counts = warehouse.load_item_metadata(*read_item_metadata(ItemMetadataConfig(str(path))), path, db)
    assert counts == {"rows_in": 3, "stored": 2, "superseded": 0, "rejected": 1, "kept": 0}
    path.write_text("item_id,title,categories\n1,Soap bar,Bath\n1,Soap bar 2,Bath\n")
    counts = warehouse.load_item_metadata(*read_item_metadata(ItemMetadataConfig(str(path))), path, db)
    assert counts == {"rows_in": 2, "stored": 1, "superseded": 1, "rejected": 1, "kept": 1}  # item 2
    with warehouse.connect(db, read_only=True) as con:
        assert con.execute("SELECT * FROM item_metadata ORDER BY item_id").fetchall() == [
            ("1", "Soap bar 2", ["Bath"]), ("2", "Comb", ["Hair", "Tools"])]
        # the replaced row is kept with its reason, not lost (the earlier load's rejected row is replaced)
        assert con.execute("SELECT source_row, reason, detail FROM rejected_item_metadata").fetchall() == [
            (2, "superseded_item", "item 1 again at source_row 3, which replaces this row")]
    with pytest.raises(ValueError, match=r"items.csv repeats item\(s\) \['1'\]: read_item_metadata keeps"):
        warehouse.load_item_metadata(pl.DataFrame({"item_id": ["1", "1"], "title": ["a", "b"],
                                                   "categories": [["x"], ["y"]]}),
                                     read_item_metadata(ItemMetadataConfig(str(path)))[1], path, db)
    # a row rejected for an item stored before: the earlier row stays, and the counts say so
    path.write_text("item_id,title,Bath,Hair\n1,Soap,2,0\n3,Brush,0,1\n")
    flags = ItemMetadataConfig(str(path), categories=None, category_flags=["Bath", "Hair"])
    counts = warehouse.load_item_metadata(*read_item_metadata(flags), path, db)
    assert counts == {"rows_in": 2, "stored": 1, "superseded": 0, "rejected": 1, "kept": 2}  # items 1 and 2
    with warehouse.connect(db, read_only=True) as con:
        assert con.execute("SELECT item_id, title FROM item_metadata ORDER BY item_id").fetchall() == [
            ("1", "Soap bar 2"), ("2", "Comb"), ("3", "Brush")]


def test_item_metadata_coverage_compares_ids_as_exact_text(tmp_path: Path) -> None:
    """Metadata whose ids are written otherwise than the events' (07 for 7) describes none of their items: the
    coverage counts the events' distinct items with a metadata row, and names ids of each side that the other
    lacks (item_metadata_matches_items warns with them)."""
    db = tmp_path / "w.duckdb"
    events = tmp_path / "e.csv"
    events.write_text("user_id,item_id,timestamp\n" + "".join(f"u{k % 2},{item},{DAY1 + k}\n"
                                                              for k, item in enumerate([7, 8, 9, 7, 10])))
    ingest(SourceConfig(format="csv", path=str(events)), RULES, db)
    assert warehouse.item_metadata_coverage(db) == warehouse.MetadataCoverage(4, 0, 0, ["10", "7", "8"], [])
    items = tmp_path / "items.csv"
    items.write_text("item_id,title,categories\n07,Seven,a\n08,Eight,a\n9,Nine,b\n11,Eleven,b\n")
    warehouse.load_item_metadata(*read_item_metadata(ItemMetadataConfig(str(items))), items, db)
    coverage = warehouse.item_metadata_coverage(db, sample=2)
    assert coverage == warehouse.MetadataCoverage(4, 1, 4, ["10", "7"], ["07", "08"]) and coverage.share == 0.25


def test_item_metadata_coverage_counts_the_days_new_items_and_the_check_warns_where_they_lack_it(
        tmp_path: Path) -> None:
    """A marketplace's metadata file stopped growing: the share of described items stayed above half while none of
    each day's new listings had metadata, and the check passed (a trial of 12-06). The coverage of a day counts the
    items first seen on it and those of them with metadata; the check warns where 5 or more new items are mostly
    undescribed, beside a passing share."""
    from assets.ingestion import _metadata_matches

    db = tmp_path / "w.duckdb"
    events = tmp_path / "e.csv"
    day2 = DAY1 + 86400
    events.write_text("user_id,item_id,timestamp\n" + "".join(f"u1,{item},{DAY1 + k}\n" for k, item in
                                                              enumerate(range(1, 21))) +
                      "".join(f"u2,{item},{day2 + k}\n" for k, item in enumerate([1, 2, 21, 22, 23, 24, 25])))
    ingest(SourceConfig(format="csv", path=str(events)), RULES, db)
    items = tmp_path / "items.csv"
    items.write_text("item_id,title,categories\n" + "".join(f"{i},Item {i},a\n" for i in range(1, 22)))
    warehouse.load_item_metadata(*read_item_metadata(ItemMetadataConfig(str(items))), items, db)
    coverage = warehouse.item_metadata_coverage(db, day=date(2026, 3, 2))
    assert (coverage.event_items, coverage.described, coverage.new_items, coverage.new_described) == (25, 21, 5, 1)
    check = _metadata_matches(coverage)  # 84% of all items described: the share alone passes
    assert not check.passed and check.description == (
        "21 of the 25 items of the stored events (84.0%) have item metadata (21 items stored). Of the 5 items first "
        "seen on the day, 1 have item metadata: is the item metadata file delivered with the new items? (a file's "
        "rows replace the stored ones item by item; an item it lacks keeps an earlier load's row, or none)")
    assert _metadata_matches(warehouse.item_metadata_coverage(db, day=date(2026, 3, 1))).passed  # 20 new, described
    assert _metadata_matches(warehouse.item_metadata_coverage(db)).passed  # no day: the share alone


def test_replace_table_writes_derived_tables_only(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    warehouse.replace_table(db, "user intents", pl.DataFrame({"user_id": ["a", "b"], "intent": [1, 2]}))
    warehouse.replace_table(db, "user intents", pl.DataFrame({"user_id": ["c"], "intent": [3]}))
    with warehouse.connect(db, read_only=True) as con:
        assert con.execute('SELECT * FROM "user intents"').fetchall() == [("c", 3)]
    with pytest.raises(ValueError, match="written by its loader only"):
        warehouse.replace_table(db, "raw_interactions", pl.DataFrame({"x": [1]}))


def test_tables_replaced_together_are_all_replaced_or_none(tmp_path: Path) -> None:
    """A day's intents, their profiles and purity were three transactions: where the warehouse was locked past the
    wait at the third (the step then retried), the first two held the new day's rows beside the old purity.
    replace_tables writes them in one: a failure at any table leaves every one as it was."""
    db = tmp_path / "w.duckdb"
    warehouse.replace_tables(db, {"a": pl.DataFrame({"day": ["old"]}), "b": pl.DataFrame({"day": ["old"]})})
    unwritable = pl.DataFrame({"x": [object()]}, schema={"x": pl.Object})  # no column type of DuckDB
    with pytest.raises(duckdb.InvalidInputException, match="holds Python objects"):
        warehouse.replace_tables(db, {"a": pl.DataFrame({"day": ["new"]}), "b": unwritable})
    with warehouse.connect(db, read_only=True) as con:
        assert [con.execute(f"SELECT day FROM {t}").fetchall() for t in "ab"] == [[("old",)], [("old",)]]
    warehouse.replace_tables(db, {"a": pl.DataFrame({"day": ["new"]}), "b": pl.DataFrame({"day": ["new"]})})
    with warehouse.connect(db, read_only=True) as con:
        assert [con.execute(f"SELECT day FROM {t}").fetchall() for t in "ab"] == [[("new",)], [("new",)]]
    with pytest.raises(ValueError, match="raw_interactions is written by its loader only"):
        warehouse.replace_tables(db, {"a": pl.DataFrame({"day": ["x"]}), "raw_interactions": pl.DataFrame()})


def test_the_quarantine_of_a_day_is_its_files_rows(tmp_path: Path, daily: Path) -> None:
    """rejected_interactions is a daily asset: its counts for a day were the whole table's (7, 14, 51, 51 for loads
    that rejected 7, 7, 37 and 0 rows). With ``day``, the rows of the files that the day's newest load read."""
    db = tmp_path / "w.duckdb"
    for name, day in (("2026-03-01.csv", date(2026, 3, 1)), ("2026-03-02.csv", date(2026, 3, 2))):
        ingest(SourceConfig(format="csv", path=str(daily / name)), RULES, db, file_day=day)
    assert day_loads.rejected_summary(db, day=date(2026, 3, 1))[0] == {"missing_item": 2}
    by_reason, sample = day_loads.rejected_summary(db, day=date(2026, 3, 2))
    assert by_reason == {"missing_item": 1} and sample["source_file"].to_list() == [
        str((daily / "2026-03-02.csv").resolve())]
    assert day_loads.rejected_summary(db)[0] == {"missing_item": 3}  # the table
    by_reason, sample = day_loads.rejected_summary(db, day=date(2026, 3, 5))  # no load of the day: none (it gave
    assert by_reason == {} and sample.is_empty()                              # the other days' 3 rows, helper-201)
    whole = tmp_path / "whole.duckdb"  # a source without {date}: its loads have no day, and every row is the day's
    ingest(SourceConfig(format="csv", path=str(daily / "2026-03-01.csv")), RULES, whole)
    assert day_loads.rejected_summary(whole, day=date(2026, 3, 5))[0] == {"missing_item": 2}


def test_ties_of_counts_are_settled_by_name_whatever_duckdbs_threads_meet_first(tmp_path: Path) -> None:
    """Two spellings of a left-out event type as frequent (View, view) were named by DuckDB's mode(), and reasons of
    as many rejected rows listed, in the order the warehouse's threads met them: another each run (helper-212).
    The first spelling in text order, and reasons by name."""
    from elcrec_core.data.event_selection import unmodelled_event_types
    from elcrec_core.data.source_config import ColumnMap

    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id,timestamp,kind\n" + "".join(
        f"u{n},i{n},{1772366400 + n},{kind}\n" for n, kind in enumerate(["view", "View", "view", "View", "buy"]))
        + "u9,,1772366400,buy\nu9,,1772366401,buy\n,i9,1772366400,buy\n,i9,1772366401,buy\n")
    db = tmp_path / "w.duckdb"
    ingest(SourceConfig(format="csv", path=str(path), columns=ColumnMap(event_type="kind")), RULES, db)
    assert unmodelled_event_types(db, ["buy"]).select("event_type", "rows").rows() == [("View", 4)]
    assert list(day_loads.rejected_summary(db)[0].items()) == [("missing_item", 2), ("missing_user", 2)]


def test_a_days_load_recorded_before_file_day_is_found_by_its_files(tmp_path: Path, daily: Path) -> None:
    """A load of 2026-03-01.csv by a version before file_day (2026-12-04) has none: the report said no load of the
    day was recorded, and the day's quarantine was the whole table's (helper-129). Its files, each named with the
    day, say it."""
    db = tmp_path / "w.duckdb"
    ingest(SourceConfig(format="csv", path=str(daily / "2026-03-01.csv")), RULES, db)  # as an older version did
    ingest(SourceConfig(format="csv", path=str(daily / "2026-03-02.csv")), RULES, db, file_day=date(2026, 3, 2))
    old = newest_day_load(date(2026, 3, 1), db)
    assert old is not None and old.day == date(2026, 3, 1) and old.files == [str((daily / "2026-03-01.csv").resolve())]
    assert (old.rows_in - old.accepted, old.by_reason) == (2, {"missing_item": 2})
    assert day_loads.rejected_summary(db, day=date(2026, 3, 1))[0] == {"missing_item": 2}
    assert newest_day_load(date(2026, 3, 2), db).day == date(2026, 3, 2)
    assert newest_day_load(date(2026, 3, 3), db) is None
    # right after the upgrade no load has file_day yet: the day's own, not the newest load of all (helper-133)
    older = tmp_path / "older.duckdb"
    for name in ("2026-03-01.csv", "2026-03-02.csv"):
        ingest(SourceConfig(format="csv", path=str(daily / name)), RULES, older)
    assert (newest_day_load(date(2026, 3, 1), older).day, newest_day_load(date(2026, 3, 1), older).by_reason) == (
        date(2026, 3, 1), {"missing_item": 2})
    assert newest_day_load(date(2026, 3, 5), older).files == [str((daily / "2026-03-02.csv").resolve())]  # newest


def test_reading_tables_schemas_and_the_quarantine(tmp_path: Path, daily: Path) -> None:
    db = tmp_path / "w.duckdb"
    (daily / "2026-03-03.csv").write_text(f"user_id,item_id,timestamp\n,i1,{DAY2}\nu1,i2,{DAY2}\n")
    ingest(SourceConfig(format="csv", path=str(daily)), RULES, db)
    by_reason, sample = day_loads.rejected_summary(db, sample=3)
    assert list(by_reason.items()) == [("missing_item", 3), ("missing_user", 1)]  # most frequent first
    first = str((daily / "2026-03-01.csv").resolve())
    empty = "item_id is empty"
    assert sample.rows() == [(first, 7, "missing_item", empty), (first, 8, "missing_item", empty),
                             (str((daily / "2026-03-02.csv").resolve()), 6, "missing_item", empty)]
    assert warehouse.table_schema(db, "item_metadata") == (
        [("item_id", "VARCHAR", False), ("title", "VARCHAR", True), ("categories", "VARCHAR[]", True)], 0)
    assert warehouse.table_schema(db, "raw_interactions")[1] == 10
    with pytest.raises(ValueError, match="has no table 'backtest'"):
        warehouse.table_schema(db, "backtest")
    assert warehouse.read_table(db, "backtest") is None  # a derived table not written yet
    events = warehouse.read_table(db, "raw_interactions", ("item_id", "user_id")).sort("item_id")
    assert events.columns == ["item_id", "user_id"] and events.row(0) == ("i0", "u0") and len(events) == 10
    warehouse.replace_table(db, "backtest", pl.DataFrame({"day": ["2026-03-02"], "NDCG@20": [0.5]}))
    assert warehouse.read_table(db, "backtest").rows() == [("2026-03-02", 0.5)]


def test_a_path_with_a_question_mark_is_refused_by_name(tmp_path: Path) -> None:
    """DuckDB reads what follows a "?" as options: it failed with a message about another file."""
    path = tmp_path / "data 1?" / "warehouse.duckdb"
    with pytest.raises(ValueError, match=re.escape(f"the warehouse {path}: DuckDB cannot open a database whose "
                                                   "path holds '?'")):
        with warehouse.connect(path):
            pass
    assert not path.parent.exists()


def _counting_opens(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Each opening of a warehouse file from now on, as its read_only flag."""
    opens: list[bool] = []
    real = warehouse.open_waiting

    def counted(path: Path, read_only: bool, wait_s: float) -> duckdb.DuckDBPyConnection:
        opens.append(read_only)
        return real(path, read_only, wait_s)
    monkeypatch.setattr(warehouse, "open_waiting", counted)
    return opens


def test_a_held_warehouse_is_opened_once_and_each_connection_in_it_is_its_own(
        tmp_path: Path, daily: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "w.duckdb"
    ingest(SourceConfig(format="csv", path=str(daily)), RULES, db)
    expected = (_counts(db), warehouse.read_table(db, "raw_interactions").sort("source_file", "source_row").rows())
    opens = _counting_opens(monkeypatch)
    with warehouse.held(tmp_path / "." / "w.duckdb"):  # the same file under another spelling
        assert (_counts(db), warehouse.read_table(db, "raw_interactions").sort("source_file", "source_row").rows()) \
            == expected
        with pytest.raises(RuntimeError, match="boom"), warehouse.transaction(db) as con:
            con.execute("INSERT INTO item_index VALUES (1, 'a', now()::TIMESTAMP)")
            raise RuntimeError("boom")
        with warehouse.transaction(db) as con:
            con.execute("INSERT INTO item_index VALUES (1, 'b', now()::TIMESTAMP)")
        with warehouse.connect(db, read_only=True) as con:
            con.execute("SET TimeZone = 'America/New_York'")
            con.execute("CREATE TEMP VIEW mine AS SELECT 1")
            assert con.execute("SELECT item_id FROM item_index").fetchall() == [("b",)]  # committed, not rolled back
        with warehouse.held(db, read_only=True), warehouse.connect(db) as con:  # held already, and writable
            assert con.execute("SELECT current_setting('TimeZone')").fetchall() == [("UTC",)]  # not the other's
            assert con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = 'mine'").fetchall() == [(0,)]
    assert opens == [False]
    duckdb.connect(str(db), read_only=True).close()  # closed: DuckDB opens a file in one mode per process
    assert warehouse.table_counts(db)["item_index"] == 1 and opens == [False, True]  # opened again


def test_a_build_of_sequences_opens_the_warehouse_once(tmp_path: Path, daily: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """build_sequences opened the warehouse twice, once for the events and once for the item index (20-35 ms and
    the file's lock each: helper-274); one read-only open now, and none where a block holds it already."""
    from elcrec_core.data.events_to_sequences import SequenceConfig, build_sequences

    db = tmp_path / "w.duckdb"
    ingest(SourceConfig(format="csv", path=str(daily)), RULES, db)
    events = _counts(db)["raw_interactions"]
    opens = _counting_opens(monkeypatch)
    build = build_sequences(SequenceConfig(k_core=0), db)
    assert opens == [True] and build.summary.events_in == events > 0
    with warehouse.held(db):  # the pipeline's or the command line's own hold: a cursor of it
        assert build_sequences(SequenceConfig(k_core=0), db).summary == build.summary
    assert opens == [True, False]


def test_a_warehouse_held_read_only_must_exist_and_is_not_written_in_its_block(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "w.duckdb"
    with pytest.raises(FileNotFoundError, match=re.escape(f"no warehouse at {db}")):
        with warehouse.held(db, read_only=True):
            pass
    assert not db.exists()
    with warehouse.connect(db):  # created
        pass
    opens = _counting_opens(monkeypatch)
    with warehouse.held(db, read_only=True):
        assert warehouse.table_counts(db)["loads"] == 0
        with pytest.raises(ValueError, match=re.escape(f"the warehouse {db} is held read-only in this block")):
            with warehouse.transaction(db):
                pass
    assert opens == [True]
