"""elcrec recommend --serving keeps the pipeline's warehouse open for its reads alone, not while it reads --data: a
read-only open takes the file's lock, and the pipeline's writers wait for it (ELCREC_WAREHOUSE_LOCK_WAIT, 60 s by
default) and then fail, so an events file that takes a minute to read failed the day's load (helper-281)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl

from elcrec_core.cli import serving
from elcrec_core.cli.main import main
from elcrec_core.data import warehouse
from elcrec_core.data.sequences import write_item_index_file
from elcrec_core.serve.model_store import ModelRecord, ModelStore


def test_recommend_leaves_the_warehouse_to_writers_while_it_reads_the_data(tmp_path: Path, capsys,
                                                                            monkeypatch) -> None:
    folder = tmp_path / "data"
    day = folder / "sequences" / "2026-05-02"
    day.mkdir(parents=True)
    pl.DataFrame({"user_id": ["u1", "u2"], "items": [[1, 2], [2, 3]]}).write_parquet(day / "sequences.parquet")
    write_item_index_file(day / "item_index.parquet", ["a", "b", "c"])
    ModelStore(folder).promote(ModelRecord(day="2026-05-02", run_id="r/mp", kind="most_popular",
                                           dir="models/2026-05-02/r/challengers/mp"), "a baseline serves")
    stored = folder / "warehouse.duckdb"
    with warehouse.connect(stored) as con:
        con.execute("INSERT INTO item_metadata (item_id, title) VALUES ('c', 'Heat (1995)')")
    events = tmp_path / "events.csv"
    events.write_text("user_id,item_id,timestamp\nu1,a,1\nu1,b,2\n", encoding="utf-8")
    writable_while_read = []
    read = serving.load_data

    def reading(*args, **kwargs):  # a writer (the pipeline's load) opens the warehouse meanwhile
        try:
            duckdb.connect(str(stored)).close()
            writable_while_read.append(True)
        except duckdb.ConnectionException:  # held open read-only by recommend
            writable_while_read.append(False)
        return read(*args, **kwargs)
    monkeypatch.setattr(serving, "load_data", reading)

    code = main(["recommend", "--serving", str(folder), "--data", str(events), "--user", "u1", "--k", "1", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert writable_while_read == [True]
    # the reads in the hold still made: c, the most popular item the user had not, with its title
    assert [(row["item"], row["title"]) for row in json.loads(out.out)["items"]] == [("c", "Heat (1995)")]
