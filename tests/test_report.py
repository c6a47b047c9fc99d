"""The evaluation report's parts and the next-day backtest, on hand-checkable inputs."""

from datetime import date
from pathlib import Path

import numpy as np
import torch

from elcrec_core.backtest import next_day_sequences
from elcrec_core.ingestion import ingest
from elcrec_core.report import Report, headline, history_segments, popularity_segments, segment_rows
from elcrec_core.sequence_building import SequenceConfig, build_sequences
from elcrec_core.sequences import Sequences, SequenceTensors
from elcrec_core.sources import SourceConfig


def test_next_day_backtest_takes_the_history_and_the_first_item_of_the_day(tmp_path: Path):
    events = tmp_path / "events.csv"
    events.write_text(
        "user_id,item_id,timestamp\n"
        "a,x,2026-01-01T10:00:00\na,y,2026-01-02T10:00:00\na,z,2026-01-02T11:00:00\n"  # history x; first y
        "b,y,2026-01-02T09:00:00\n"  # no history before the day: left out
        "c,x,2026-01-01T09:00:00\nc,w,2026-01-01T12:00:00\n"  # not active on the day: left out
        "d,w,2026-01-01T08:00:00\nd,new,2026-01-02T08:00:00\n")  # first item of the day not indexed yet
    db = tmp_path / "warehouse.duckdb"
    ingest(SourceConfig(format="csv", path=str(events), timestamp_format="iso8601"), path=db)
    build_sequences(SequenceConfig(k_core=0), db, until=date(2026, 1, 2))  # index of the items before the day
    seqs = next_day_sequences(db, date(2026, 1, 2))
    index = {item: i for i, item in enumerate(["w", "x"], start=1)}  # natural order of the indexed items
    assert seqs.user_ids.tolist() == ["a", "d"]
    assert seqs.sequence(0)[0] == index["x"] and seqs.sequence(1) == [index["w"], seqs.n_items]
    assert seqs.n_items == 2 + 1  # target y of user a is unknown before the day too: index n + 1


def test_segments_and_headline_on_hand_data():
    lists = [[1, 2], [1, 2, 3, 4, 5, 6], [3] * 11 + [1], [2] * 25 + [3]]
    data = SequenceTensors.from_sequences(Sequences.from_lists([0, 1, 2, 3], lists, n_items=6))
    users = torch.arange(4)
    assert history_segments(data, users, "test").tolist() == ["1-4", "5-9", "10-19", "20+"]
    # inputs: 1; 1..5; 3 x11; 2 x25 -> counts 1:2, 2:26, 3:11, 4:1, 5:1 of 41. Item 2 alone is 63% (head, as
    # the most popular item); with item 3 the cumulative share is 90% > 50%: tail, and so is everything after
    assert popularity_segments(data, users, "test").tolist() == ["head", "tail", "tail", "tail"]
    ranks = {"m": torch.tensor([0, 3, 25, 100])}
    rows = {r["history"]: r for r in segment_rows(ranks, history_segments(data, users, "test"), "history")}
    assert rows["1-4"]["m HR@20"] == 1.0 and rows["10-19"]["m HR@20"] == 0.0 and rows["5-9"]["users"] == 1
    (top,) = headline(ranks, n_boot=200)
    assert top["HR@20"] == 0.5 and top["NDCG@20"] == (1.0 + 1 / np.log2(5)) / 4
    low, high = (float(x) for x in top["HR@20 95% CI"].strip("[]").split(", "))
    assert 0.0 <= low <= 0.5 <= high <= 1.0


def test_report_writes_markdown_and_html(tmp_path: Path):
    png = tmp_path / "plot.png"
    png.write_bytes(b"\x89PNG")
    report = Report("Title", "intro text", [("Table", "| a | b |\n|---|---|\n| 1 | x\\|y |")], [("a plot", png)])
    paths = report.write(tmp_path)
    assert "## Table" in paths["markdown"].read_text()
    html = paths["html"].read_text()
    assert "<th>a</th>" in html and "<td>x|y</td>" in html and 'src="plot.png"' in html
