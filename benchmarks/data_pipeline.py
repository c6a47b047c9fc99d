"""Data-layer benchmark: synthetic events from Parquet and from CSV through ingestion, validation and sequence
building, beside a straightforward pandas implementation of the same steps, measured in the same run.

    .venv/bin/python benchmarks/data_pipeline.py                      # 10M events, 1M users, 100k items
    .venv/bin/python benchmarks/data_pipeline.py --events 200000 --users 20000 --items 2000   # a quick look

Every pipeline runs in a fresh process, so that its peak resident memory (``ru_maxrss``) is its own; the input
files are generated first (in another process) and kept in ``--workdir``. Prints one table per pipeline (seconds
and events/s per stage), the pandas / ours time ratio per format, and a final JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

STAGES = ["read", "row rules", "warehouse load", "events expectations", "build sequences",
          "sequence expectations", "write outputs"]


def prepare(workdir: Path, n_events: int, n_users: int, n_items: int) -> dict[str, Path]:
    """Generate ``n_events`` synthetic events (a seeded sample of a slightly larger set, in generation order)
    and write them as Parquet and CSV, unless files for these sizes exist already."""
    import numpy as np

    from elcrec_core.data.synthetic import SyntheticConfig, generate

    stem = workdir / f"events_{n_events}_{n_users}_{n_items}"
    paths = {"parquet": stem.with_suffix(".parquet"), "csv": stem.with_suffix(".csv")}
    if all(p.exists() for p in paths.values()):
        return paths
    events = generate(SyntheticConfig(n_users=n_users, n_items=n_items, mean_extra_len=5.0, seed=1)).events
    if len(events) < n_events:
        raise SystemExit(f"the generator made {len(events)} events, fewer than {n_events}")
    keep = np.sort(np.random.default_rng(0).choice(len(events), n_events, replace=False))
    events = events[keep]
    events.write_parquet(paths["parquet"])
    events.write_csv(paths["csv"])
    return paths


def stopwatch(times: dict[str, float]):
    """A function that records the seconds since its previous call (or its creation) under a stage name."""
    clock = [time.perf_counter()]

    def lap(stage: str) -> None:
        now = time.perf_counter()
        times[stage] = now - clock[0]
        clock[0] = now

    return lap


def run_ours(path: Path, fmt: str, workdir: Path) -> dict[str, float]:
    from elcrec_core.data.events_to_sequences import SequenceConfig, build_sequences, write_sequences
    from elcrec_core.data.ingestion import load_interactions
    from elcrec_core.data.source_config import SourceConfig
    from elcrec_core.data.sources import read_source
    from elcrec_core.data.expectations import expect_interactions, expect_sequences
    from elcrec_core.data.validation import check_rows

    db = workdir / "warehouse.duckdb"
    times: dict[str, float] = {}
    lap = stopwatch(times)

    frame = read_source(SourceConfig(format=fmt, path=str(path)))
    lap("read")
    check = check_rows(frame)
    del frame
    lap("row rules")
    report = load_interactions(check, f"benchmark {fmt}", db)
    lap("warehouse load")
    events_ok = expect_interactions(check.accepted, check).success
    del check
    lap("events expectations")
    build = build_sequences(SequenceConfig(k_core=5), db)
    lap("build sequences")
    sequences_ok = expect_sequences(build.profile()).success
    lap("sequence expectations")
    write_sequences(build, workdir / "out", db)
    lap("write outputs")
    return {**times, "rows_in": report.rows_in, "accepted": report.accepted, "users": build.summary.users,
            "interactions": build.summary.interactions, "expectations_passed": events_ok and sequences_ok}


def run_pandas(path: Path, fmt: str, workdir: Path) -> dict[str, float]:
    """The same steps written the obvious way in pandas (DuckDB only as the warehouse)."""
    import duckdb
    import numpy as np
    import pandas as pd

    times: dict[str, float] = {}
    lap = stopwatch(times)

    raw = pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path, dtype=str)
    df = pd.DataFrame({
        "user_id": raw["user_id"].astype(str), "item_id": raw["item_id"].astype(str),
        "timestamp": pd.to_datetime(pd.to_numeric(raw["timestamp"], errors="coerce"), unit="s", errors="coerce"),
        "source_file": str(path), "source_row": np.arange(1, len(raw) + 1),
    })
    del raw
    lap("read")
    blank_user = df["user_id"].isna() | df["user_id"].str.strip().eq("")
    blank_item = df["item_id"].isna() | df["item_id"].str.strip().eq("")
    bad_ts = df["timestamp"].isna()
    future = df["timestamp"] > pd.Timestamp.now(tz="UTC").tz_localize(None) + pd.Timedelta(minutes=5)
    valid = ~(blank_user | blank_item | bad_ts | future)
    duplicate = valid & df[valid].duplicated(["user_id", "item_id", "timestamp"]).reindex(df.index, fill_value=False)
    df["reason"] = np.select([blank_user, blank_item, bad_ts, future, duplicate],
                             ["missing_user", "missing_item", "bad_timestamp", "timestamp_in_future",
                              "duplicate_event"], default=None)
    accepted = df[df["reason"].isna()].drop(columns="reason")
    rejected = df[df["reason"].notna()]
    rows_in, n_accepted = len(df), len(accepted)
    del df
    lap("row rules")
    con = duckdb.connect(str(workdir / "pandas.duckdb"))
    con.execute("CREATE OR REPLACE TABLE raw_interactions AS SELECT CAST(timestamp AS DATE) AS event_date, *"
                " FROM accepted")
    con.execute("CREATE OR REPLACE TABLE rejected_interactions AS SELECT * FROM rejected")
    lap("warehouse load")
    checks = [len(accepted) >= 1, accepted[["user_id", "item_id", "timestamp"]].isna().mean().max() == 0,
              accepted["user_id"].nunique() >= 1, accepted["item_id"].nunique() >= 1,
              len(rejected) / rows_in <= 0.05]
    del accepted, rejected
    lap("events expectations")
    events = con.sql("SELECT user_id, item_id, timestamp, source_file, source_row FROM raw_interactions").df()
    events = events.sort_values(["user_id", "timestamp", "source_file", "source_row"], kind="stable")
    while True:
        user_n = events.groupby("user_id")["item_id"].transform("size")
        item_n = events.groupby("item_id")["user_id"].transform("size")
        keep = (user_n >= 5) & (item_n >= 5)
        if keep.all():
            break
        events = events[keep]
    ids = pd.Series(events["item_id"].unique())
    ids = ids.iloc[np.lexsort((ids.to_numpy(), pd.to_numeric(ids, errors="coerce").fillna(np.inf).to_numpy()))]
    index = pd.Series(np.arange(1, len(ids) + 1), index=ids.to_numpy())
    events["item_index"] = events["item_id"].map(index)
    grouped = events.groupby("user_id", sort=False)
    sequences = pd.DataFrame({"items": grouped["item_index"].agg(list), "length": grouped.size(),
                              "last_timestamp": grouped["timestamp"].max()}).reset_index()
    lap("build sequences")
    checks += [(sequences["length"] >= 1).all(), grouped["timestamp"].is_monotonic_increasing.all()]
    lap("sequence expectations")
    (workdir / "out").mkdir(exist_ok=True)
    sequences.to_parquet(workdir / "out" / "sequences.parquet")
    pd.DataFrame({"item_index": index.to_numpy(), "item_id": index.index}).to_parquet(workdir / "out" / "items.parquet")
    con.execute("CREATE OR REPLACE TABLE sequences AS SELECT * FROM sequences")
    con.close()
    lap("write outputs")
    return {**times, "rows_in": rows_in, "accepted": n_accepted, "users": len(sequences),
            "interactions": int(sequences["length"].sum()), "expectations_passed": bool(all(checks))}


def child(args: argparse.Namespace) -> None:
    """One pipeline in this fresh process; prints a JSON line with stage times and peak memory."""
    workdir = Path(args.workdir) / f"{args.impl}_{args.fmt}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    runner = run_ours if args.impl == "ours" else run_pandas
    result = runner(Path(args.input), args.fmt, workdir)
    result["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--workdir", default="data/benchmark")
    parser.add_argument("--no-pandas", action="store_true", help="skip the pandas baseline")
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--run", nargs=3, metavar=("IMPL", "FORMAT", "INPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        paths = prepare(Path(args.workdir), args.events, args.users, args.items)
        return print(json.dumps({k: str(v) for k, v in paths.items()}))
    if args.run:
        args.impl, args.fmt, args.input = args.run
        return child(args)

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    sizes = ["--events", str(args.events), "--users", str(args.users), "--items", str(args.items)]
    prep = subprocess.run([sys.executable, __file__, "--workdir", str(workdir), "--prepare", *sizes],
                          check=True, capture_output=True, text=True)
    inputs = json.loads(prep.stdout.strip().splitlines()[-1])
    print(f"inputs ready in {time.perf_counter() - started:.1f}s: {inputs}  (cpus: {os.cpu_count()})")

    results = {}
    for impl in ["ours"] + ([] if args.no_pandas else ["pandas"]):
        for fmt in ["parquet", "csv"]:
            out = subprocess.run([sys.executable, __file__, "--workdir", str(workdir), "--run", impl, fmt,
                                  inputs[fmt]], check=True, capture_output=True, text=True)
            results[f"{impl}/{fmt}"] = result = json.loads(out.stdout.strip().splitlines()[-1])
            total = sum(result[s] for s in STAGES)
            result["total_s"] = total
            print(f"\n{impl} from {fmt}: {result['rows_in']:,} events in, {result['interactions']:,} in "
                  f"{result['users']:,} sequences, expectations passed: {result['expectations_passed']}")
            for stage in STAGES:
                print(f"  {stage:<22} {result[stage]:7.2f} s  {result['rows_in'] / result[stage]:>14,.0f} events/s")
            print(f"  {'total':<22} {total:7.2f} s  {result['rows_in'] / total:>14,.0f} events/s   "
                  f"peak RSS {result['peak_rss_gib']:.2f} GiB")
    if not args.no_pandas:
        for fmt in ["parquet", "csv"]:
            same = ("rows_in", "accepted", "users", "interactions")
            if any(results[f"pandas/{fmt}"][k] != results[f"ours/{fmt}"][k] for k in same):
                raise SystemExit(f"pandas and ours disagree on {fmt}: {results}")
            ratio = results[f"pandas/{fmt}"]["total_s"] / results[f"ours/{fmt}"]["total_s"]
            checks = ("events expectations", "sequence expectations")
            bare = [results[f"{impl}/{fmt}"]["total_s"] - sum(results[f"{impl}/{fmt}"][c] for c in checks)
                    for impl in ("pandas", "ours")]
            results[f"ratio/{fmt}"], results[f"ratio_without_expectations/{fmt}"] = ratio, bare[0] / bare[1]
            print(f"pandas / ours, {fmt}: {ratio:.1f}x the time ({bare[0] / bare[1]:.1f}x without the expectation "
                  "stages, where ours runs Great Expectations and pandas plain checks)")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
