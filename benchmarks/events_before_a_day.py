"""How long the warehouse takes to select the events before a day (``BEFORE_UNTIL``, which the sequences, the
history and the user counts use), on 10M timed events over 100 days' files (one load each) plus events without a
time, against the predicates before it in the same run: the same without the condition that leaves out later days'
files (before 2026-12-05), and the first form (an event without a time placed by coalesce(timestamp, event_date),
which DuckDB cannot use to skip row groups).

    .venv/bin/python benchmarks/events_before_a_day.py [--events 10000000]

Prints, for an early day (a backfill), the newest day and no bound, the best of 3 of each predicate and the rows
and users each selects (the same counts: in this data no file holds events of a day before its own).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime
from pathlib import Path

import duckdb

from elcrec_core.data import warehouse
from elcrec_core.data.event_selection import BEFORE_UNTIL
from elcrec_core.train.device import cpu_model

_WHEN = "coalesce(timestamp, CAST(event_date AS TIMESTAMP))"
COALESCED = f"(?::TIMESTAMP IS NULL OR {_WHEN} IS NULL OR {_WHEN} < ?::TIMESTAMP)"  # before 2026-12-04
WITHOUT_FILE_DAYS = BEFORE_UNTIL[1:BEFORE_UNTIL.index(" AND load_id NOT IN")]  # before 2026-12-05


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        with warehouse.connect(Path(folder) / "warehouse.duckdb") as con:  # the warehouse's own schema
            con.execute("SET threads = 2")
            step = 86_400 * 100 / args.events  # 100 days, loaded day by day (insertion order by time)
            con.execute(
                "INSERT INTO raw_interactions SELECT CAST(ts AS DATE), 'u' || (i % 200000), 'i' || (i % 50000), ts, "
                "NULL, NULL, '/d/' || CAST(CAST(ts AS DATE) AS VARCHAR) || '.csv', i, 10 + CAST(ts AS DATE) - DATE "
                f"'2026-01-01' FROM (SELECT i, TIMESTAMP '2026-01-01' + to_seconds(i * {step}) AS ts"
                f" FROM range({args.events}) t(i))")
            con.execute("INSERT INTO loads (load_id, loaded_at, source, files, rows_in, accepted, rejected, undated,"
                        " replaced, file_day) SELECT 10 + i, now(), 'csv', [], 0, 0, 0, 0, 0,"
                        " DATE '2026-01-01' + CAST(i AS INT) FROM range(100) t(i)")  # the days' loads: a {date} file
            con.execute("INSERT INTO raw_interactions SELECT DATE '2026-01-01' + CAST(i % 100 AS INT), 'x' || i, 'y', "
                        "NULL, NULL, NULL, '/u/' || (i % 100) || '.csv', i, 2 FROM range(1000) t(i)")  # {date} files
            con.execute("INSERT INTO raw_interactions SELECT NULL, 'z' || i, 'y', NULL, NULL, NULL, '/all.csv', i, 3 "
                        "FROM range(10) t(i)")  # a source without {date}: every day
            print(f"{cpu_model()}; {args.events:,} timed events over 100 days, 1,010 without a time; duckdb "
                  f"{duckdb.__version__}; best of 3")
            for until in (datetime(2026, 1, 11), datetime(2026, 4, 10), None):
                for name, predicate in (("BEFORE_UNTIL", BEFORE_UNTIL), ("without file days", WITHOUT_FILE_DAYS),
                                        ("coalesced (first)", COALESCED)):
                    query = f"SELECT count(*), count(DISTINCT user_id) FROM raw_interactions WHERE {predicate}"
                    best = float("inf")
                    for _ in range(3):
                        start = time.perf_counter()
                        rows, users = con.execute(query, [until] * predicate.count("?")).fetchone()
                        best = min(best, time.perf_counter() - start)
                    print(f"until {str(until or 'none'):<20} {name:<19} {best * 1000:6.0f} ms  {rows:,} rows, "
                          f"{users:,} users")


if __name__ == "__main__":
    main()
