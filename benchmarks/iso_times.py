"""What reading ISO 8601 times costs with the checks of RFC 3339's digits (a date or time cut short, as the last line
of a file still being written, is rejected, not read as another time) and its lower-case t and z, against the
expression before them, in the same run: the SQL that turns the timestamp column into UTC times, over N texts in
DuckDB. Then what the check of a last time shorter than most of its file's adds (a date alone, or a time without UTC
offset, where most have one: ``_FORM`` in the SQL, then ``_times_cut_short`` on the frame): here the last time has
its offset, the common case (a file with a last time cut short also counts the forms: a fraction of a second more).

    .venv/bin/python benchmarks/iso_times.py [--rows 10000000]

Prints the best of 3 of each and the times each reads (the same, but for the cut ones: none here).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import duckdb

from elcrec_core.data.event_normalisation import _BAD_OFFSET, _FORM, _in_years, _timestamp_sql, _times_cut_short
from elcrec_core.data.validation import REASONS
from elcrec_core.train.device import cpu_model

BEFORE = _in_years("CASE WHEN regexp_matches(t_raw, '^[+-]?[0-9]')"  # the expression of 2026-12-04 16:00
                   f" AND NOT regexp_matches(t_raw, '{_BAD_OFFSET}')"
                   " THEN CAST(TRY_CAST(t_raw AS TIMESTAMPTZ) AS TIMESTAMP) END")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    args = parser.parse_args()
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET TimeZone = 'UTC'")
    con.execute(  # a time a second apart, in the forms of real logs: Z, an offset, none
        "CREATE TABLE t AS SELECT strftime(TIMESTAMP '2026-01-01' + to_seconds(i), '%Y-%m-%dT%H:%M:%S')"
        " || (['Z', '+01:00', ''])[1 + i % 3] AS t_raw FROM range(?) r(i)", [args.rows])
    print(f"{cpu_model()}; {args.rows:,} ISO 8601 times; duckdb {duckdb.__version__}; best of 3")
    for name, expression in (("with the digit checks", _timestamp_sql("VARCHAR", "iso8601", Path("x"))),
                             ("before them", BEFORE)):
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            (read,) = con.execute(f"SELECT count({expression}) FROM t").fetchone()
            best = min(best, time.perf_counter() - start)
        print(f"{name:<22} {best:6.2f} s  {args.rows / best / 1e6:5.1f}M times/s  {read:,} read")
    parsed = f"SELECT {_timestamp_sql('VARCHAR', 'iso8601', Path('x'))} AS timestamp, t_raw FROM t"
    empty = f"CAST(NULL AS ENUM({', '.join(map(repr, REASONS))})) AS error, CAST(NULL AS VARCHAR) AS detail"
    for name, form in (("to a frame, forms", f", {_FORM} AS t_form"), ("to a frame, no forms", "")):
        best, read = float("inf"), 0
        for _ in range(3):
            start = time.perf_counter()
            frame = con.cursor().sql(f"SELECT timestamp{form}, {empty} FROM ({parsed})").pl()
            read = (_times_cut_short(frame, "t") if form else frame)["error"].null_count()
            best = min(best, time.perf_counter() - start)
        print(f"{name:<22} {best:6.2f} s  {args.rows / best / 1e6:5.1f}M times/s  {read:,} read")

if __name__ == "__main__":
    main()
