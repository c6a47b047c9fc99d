"""Daily load: the daily retrain job run back to back for N simulated days against one data folder.

Synthetic events (``elcrec_core.data.synthetic``: planted intents, chains, Zipf popularity) for ``--users`` users with
long histories are spread over ``--window`` days: each user's events keep their order and get sorted uniform
timestamps over the whole window, so every user is active every day and each day holds about events / window
events (about 300k a day with the defaults: 30,000 users with about 300 events each, 5,000 items). One Parquet
file per day goes to ``<workdir>/data/input/events-<day>.parquet`` (inside the data folder, where sources may be
read from).

Then, for each of the first ``--days`` days in order, ``daily_retrain_job`` runs for that partition in process
(``execute_in_process``, the in-process executor, Storage on ``<workdir>/data``, ComputeDevice cpu with 1
thread) in a fresh Python process per day, as a scheduled run would, so that each day's peak memory is its own.
The days run the code of one commit (``--code``, default HEAD: a ``git archive`` snapshot taken at the start), so
that edits made to the working tree meanwhile cannot change the settings halfway. Model: the synthetic preset
with hidden 32, max_len 20, 1 layer, 16 intents; day 1 trains cold for ``--epochs`` epochs, every later day
warm-starts from the serving model with ``warm_start_epochs``. The report's SASRec ablation is off; the report
itself (new model and the one that served before, popularity, bootstrap intervals, segments, next-day backtest) is kept.

Per day: events of the day and in total, users and items of the sequences, wall and CPU seconds per step
(STEP_START to STEP_SUCCESS of the run's event log; CPU seconds of the process over the same interval, sampled
every 50 ms), the job's and the process's wall time, warehouse and data-folder size, peak RSS, test HR@20 /
NDCG@20 of the new model, and whether it was promoted. Printed as a table, written to ``--out`` (JSON, and CSV
beside it), followed by least-squares fits of each stage's seconds against the cumulative events
(seconds = a + b * events, from day ``--fit-from``) with residuals and the quadratic term of a second fit.

    nice -n 5 .venv/bin/python benchmarks/daily_load.py --days 3 --out runs/daily_load_smoke.json   # smoke run
    nice -n 5 .venv/bin/python benchmarks/daily_load.py --days 30 --out runs/daily_load.json
    .venv/bin/python benchmarks/daily_load.py --analyse runs/daily_load.json     # table and fits again

Everything runs single-threaded (torch, OpenMP, Polars, DuckDB), so that the figures hold on a shared machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "POLARS_MAX_THREADS": "1"}
STEPS = ["raw_interactions", "rejected_interactions", "interaction_sequences", "elcrec_model", "serving_model",
         "evaluation_report", "intent_profiles", "user_recommendations"]
SHORT = {"raw_interactions": "ingest", "rejected_interactions": "rejected", "interaction_sequences": "seqs",
         "elcrec_model": "train", "serving_model": "serve", "evaluation_report": "report",
         "intent_profiles": "intents", "user_recommendations": "recs"}


# ---------------------------------------------------------------------------------------------------- inputs

def prepare(args: argparse.Namespace, input_dir: Path) -> dict:
    """Generate the events and write one Parquet file per day, unless files for these settings exist."""
    import numpy as np
    import polars as pl

    from elcrec_core.data.synthetic import SyntheticConfig, generate

    spec = {"users": args.users, "items": args.items, "intents": args.intents, "min_len": args.min_len,
            "mean_extra_len": args.mean_extra_len, "max_events": args.max_events, "days": args.window,
            "start": args.start, "seed": args.seed}
    marker = input_dir / "spec.json"
    if marker.exists() and json.loads(marker.read_text()).get("spec") == spec:
        return json.loads(marker.read_text())
    shutil.rmtree(input_dir, ignore_errors=True)
    input_dir.mkdir(parents=True)
    t0 = time.perf_counter()
    start = int(datetime.fromisoformat(args.start).replace(tzinfo=timezone.utc).timestamp())
    cfg = SyntheticConfig(n_users=args.users, n_items=args.items, n_intents=args.intents, min_len=args.min_len,
                          mean_extra_len=args.mean_extra_len, max_len=args.max_events, start=start,
                          days=args.window, seed=args.seed)
    events = generate(cfg).events  # in time order per user, users in order
    # each user's events over the whole window: sorted uniform seconds, assigned in the user's own order
    rng = np.random.default_rng(args.seed + 1)
    owner = events["user_id"].to_numpy()
    seconds = rng.integers(0, args.window * 86400, len(owner))
    seconds = seconds[np.lexsort((seconds, owner))]  # owners are sorted: each user's slice sorted ascending
    events = events.with_columns(timestamp=pl.Series(start + seconds, dtype=pl.Int64))
    events = events.with_columns(day=(pl.col("timestamp") - start) // 86400)
    per_day = {}
    for (day,), frame in events.partition_by("day", as_dict=True, maintain_order=True).items():
        name = (date.fromisoformat(args.start) + timedelta(days=int(day))).isoformat()
        frame.drop("day").write_parquet(input_dir / f"events-{name}.parquet")
        per_day[name] = len(frame)
    info = {"spec": spec, "events": len(events), "per_day": dict(sorted(per_day.items())),
            "seconds": round(time.perf_counter() - t0, 1)}
    marker.write_text(json.dumps(info, indent=2) + "\n")
    return info


# ---------------------------------------------------------------------------------------------------- one day

def single_threaded_duckdb() -> None:
    """Every DuckDB connection of this process with one thread (the pipeline opens them with defaults)."""
    import duckdb

    connect = duckdb.connect

    def connect_one_thread(*args, config=None, **kwargs):
        return connect(*args, config={"threads": 1, **(config or {})}, **kwargs)

    duckdb.connect = connect_one_thread


def run_config(args: argparse.Namespace, input_dir: Path) -> dict:
    training = {"epochs": args.epochs, "warm_start_epochs": args.warm_epochs, "patience": args.epochs,
                "hidden": args.hidden, "max_len": args.max_len, "layers": 1, "intents": args.model_intents,
                "seed": 1}
    training.update({k: v for k, v in (("lr", args.lr), ("rec_loss", args.rec_loss)) if v is not None})
    return {"ops": {
        "raw_interactions": {"config": {"format": "parquet", "path": str(input_dir / "events-{date}.parquet"),
                                        "timestamp_format": "epoch_s"}},
        "elcrec_model": {"config": training},
    }}


class CpuClock:
    """Samples (wall time, this process's CPU seconds) every ``interval`` seconds in a thread, so that the CPU
    seconds between two wall times of the event log (a step's start and end) can be read off afterwards. CPU
    seconds hardly depend on what else runs on a shared machine; wall seconds do."""

    def __init__(self, interval: float = 0.05) -> None:
        import threading

        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), time.process_time()))
            self._stop.wait(interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.time(), time.process_time()))

    def cpu_between(self, start: float, end: float) -> float:
        import numpy as np

        wall, cpu = np.asarray(self.samples).T
        return float(np.interp(end, wall, cpu) - np.interp(start, wall, cpu))


def folder_bytes(path: Path, skip: Path | None = None) -> int:
    return sum(f.stat().st_size for f in path.rglob("*")
               if f.is_file() and (skip is None or not f.is_relative_to(skip)))


def run_day(args: argparse.Namespace) -> dict:
    """Child process: the job for one partition; returns this day's record."""
    began = time.perf_counter()
    single_threaded_duckdb()
    import dagster as dg
    import torch

    import elcrec_core
    from elcrec_pipeline.definitions import defs
    from elcrec_pipeline.resources import ComputeDevice, Storage

    torch.set_num_threads(1)
    data_dir = Path(args.workdir) / "data"
    input_dir = data_dir / "input"
    imported = time.perf_counter() - began
    job = defs().resolve_job_def("daily_retrain_job")
    resources = {"storage": Storage(data_dir=str(data_dir)), "device": ComputeDevice(device="cpu", threads=1)}
    instance = dg.DagsterInstance.ephemeral()
    load_avg = os.getloadavg()[0]
    clock = CpuClock()
    t0, c0 = time.perf_counter(), time.process_time()
    result = job.execute_in_process(run_config=run_config(args, input_dir), partition_key=args.child,
                                    resources=resources, instance=instance, raise_on_error=False)
    job_seconds, job_cpu = time.perf_counter() - t0, time.process_time() - c0
    clock.stop()

    # wall and CPU seconds from STEP_START to STEP_SUCCESS (or STEP_FAILURE), from the event log
    starts, steps, steps_cpu = {}, {}, {}
    for entry in instance.all_logs(result.run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.is_step_start:
            starts[event.step_key] = entry.timestamp
        elif (event.is_step_success or event.is_step_failure) and event.step_key in starts:
            steps[event.step_key] = round(entry.timestamp - starts[event.step_key], 2)
            steps_cpu[event.step_key] = round(clock.cpu_between(starts[event.step_key], entry.timestamp), 2)
    meta = {}
    for event in result.get_asset_materialization_events():
        meta[event.asset_key.to_user_string()] = {k: v.value for k, v in event.materialization.metadata.items()}
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    raw, seqs, model = (meta.get(k, {}) for k in ("raw_interactions", "interaction_sequences", "elcrec_model"))
    return {
        "day": args.child, "success": result.success, "code_dir": str(Path(elcrec_core.__file__).parents[1]),
        "events_day": raw.get("accepted"), "rejected": raw.get("rejected"),
        "users": seqs.get("users"), "items": seqs.get("items"), "interactions": seqs.get("interactions"),
        "steps": steps, "steps_cpu": steps_cpu, "job_s": round(job_seconds, 2), "job_cpu_s": round(job_cpu, 2),
        "import_s": round(imported, 2), "load_avg_1m": round(load_avg, 2),
        "warm_start": model.get("warm_start"), "epochs_run": model.get("epochs_run"),
        "train_seconds": model.get("train_seconds"),
        "test_HR@20": model.get("test_HR@20"), "test_NDCG@20": model.get("test_NDCG@20"),
        "report_HR@20": meta.get("evaluation_report", {}).get("test_HR@20"),
        "backtest_HR@20": meta.get("evaluation_report", {}).get("backtest_HR@20"),
        "promoted": checks.get("promotion_gate"), "checks": checks,
        "warehouse_mb": round((data_dir / "warehouse.duckdb").stat().st_size / 2**20, 1),
        "data_mb": round(folder_bytes(data_dir, skip=input_dir) / 2**20, 1),
        "sequences_mb": round(folder_bytes(data_dir / "sequences") / 2**20, 1),
        "models_mb": round(folder_bytes(data_dir / "models") / 2**20, 1),
        "input_day_mb": round((input_dir / f"events-{args.child}.parquet").stat().st_size / 2**20, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


# ---------------------------------------------------------------------------------------------------- analysis

def fit(x: list[float], y: list[float]) -> dict:
    """Least squares y = a + b x, and the residuals."""
    import numpy as np

    x, y = np.asarray(x, float), np.asarray(y, float)
    b, a = np.polyfit(x, y, 1)
    resid = y - (a + b * x)
    # growth beyond linear: the quadratic term of a second fit, as the extra seconds it adds at the last day
    c2 = np.polyfit(x, y, 2)[0] if len(x) >= 4 else 0.0
    return {"a": float(a), "b": float(b), "resid_rms": float(np.sqrt((resid ** 2).mean())),
            "resid_max": float(np.abs(resid).max()), "resid": [round(float(r), 2) for r in resid],
            "quad_at_end": float(c2 * (x.max() - x.mean()) ** 2)}


def analyse(rows: list[dict], fit_from: int = 5) -> dict:
    """Per stage, wall and CPU seconds against the cumulative events (millions) of days ``fit_from``..N (day 1
    trains cold with more epochs, and training costs more each day until the users' histories fill ``max_len``);
    the warehouse and the data folder against the cumulative events, and their growth per day."""
    import numpy as np

    ok = [r for r in rows if r["success"]]
    later = ok[min(fit_from, len(ok) - 2) - 1:] if len(ok) >= 3 else []
    if len(later) < 2:
        return {}
    x = [r["events_total"] / 1e6 for r in later]
    out = {"fit_from_day": later[0]["day"], "fits": {"wall": {}, "cpu": {}}}
    for kind, steps_key, total_key in (("wall", "steps", "job_s"), ("cpu", "steps_cpu", "job_cpu_s")):
        for step in STEPS:
            out["fits"][kind][step] = fit(x, [r[steps_key].get(step, 0.0) for r in later])
        out["fits"][kind]["job"] = fit(x, [r[total_key] for r in later])
    out["peak_rss_mb"] = fit(x, [r["peak_rss_mb"] for r in later])
    xs = [r["events_total"] / 1e6 for r in ok]
    for key in ("warehouse_mb", "data_mb", "sequences_mb", "models_mb"):
        out[key] = fit(xs, [r[key] for r in ok])
    input_mb = np.cumsum([r["input_day_mb"] for r in ok])
    out["input_mb_per_m_events"] = float(input_mb[-1] / xs[-1])
    wh = np.diff([0.0] + [r["warehouse_mb"] for r in ok])[1:]  # days 2..N
    half = max(1, len(wh) // 2)
    out["warehouse_growth_per_day_mb"] = {"first": ok[0]["warehouse_mb"], "median_days_2_n": float(np.median(wh)),
                                          "first_half": float(np.mean(wh[:half])),
                                          "second_half": float(np.mean(wh[half:] if len(wh) > 1 else wh))}
    return out


def print_table(rows: list[dict], header: bool = True) -> None:
    head = ["day", "ev/day", "ev tot", "users", "items", *[SHORT[s] for s in STEPS], "job s", "job cpu",
            "proc s", "load", "wh MB", "data MB", "RSS MB", "HR@20", "NDCG@20", "promo"]
    if header:
        print(" | ".join(head))
    for r in rows:
        cells = [r["day"], f"{r['events_day'] or 0:,}", f"{r['events_total'] / 1e6:.2f}M", r["users"], r["items"],
                 *[f"{r['steps'].get(s, float('nan')):.1f}" for s in STEPS], f"{r['job_s']:.1f}",
                 f"{r['job_cpu_s']:.1f}", f"{r['process_s']:.1f}", r["load_avg_1m"], r["warehouse_mb"],
                 r["data_mb"], r["peak_rss_mb"], f"{r['test_HR@20'] or 0:.4f}", f"{r['test_NDCG@20'] or 0:.4f}",
                 {True: "yes", False: "no", None: "-"}[r["promoted"]]]
        print(" | ".join(map(str, cells)), flush=True)


def print_analysis(summary: dict) -> None:
    if not summary:
        return
    for kind in ("wall", "cpu"):
        print(f"\n{kind} seconds = a + b * (cumulative events in millions), from {summary['fit_from_day']}:")
        for step, f in summary["fits"][kind].items():
            print(f"  {SHORT.get(step, step):9s} a {f['a']:7.2f} s  b {f['b']:6.3f} s/M  resid rms "
                  f"{f['resid_rms']:.2f} max {f['resid_max']:.2f}  quadratic term at the last day "
                  f"{f['quad_at_end']:+.2f} s")
    growth = summary["warehouse_growth_per_day_mb"]
    print(f"\nwarehouse {summary['warehouse_mb']['b']:.1f} MB per million events (a {summary['warehouse_mb']['a']:.1f},"
          f" resid max {summary['warehouse_mb']['resid_max']:.1f}); input Parquet "
          f"{summary['input_mb_per_m_events']:.1f} MB per million; warehouse growth per day: first "
          f"{growth['first']:.1f} MB, median {growth['median_days_2_n']:.1f} MB, first half "
          f"{growth['first_half']:.1f}, second half {growth['second_half']:.1f}")
    f = summary["peak_rss_mb"]
    print(f"peak RSS {f['a']:.0f} MB + {f['b']:.0f} MB per million cumulative events (resid rms {f['resid_rms']:.0f})")
    for key in ("data_mb", "sequences_mb", "models_mb"):
        f = summary[key]
        print(f"{key}: {f['b']:.1f} MB per million cumulative events, quadratic term at the last day "
              f"{f['quad_at_end']:+.1f} MB")


# ---------------------------------------------------------------------------------------------------- main

def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--days", type=int, default=30, help="days to run (the first of the window)")
    p.add_argument("--window", type=int, default=30, help="days the events are spread over")
    p.add_argument("--start", default="2026-01-01")
    p.add_argument("--users", type=int, default=30_000)
    p.add_argument("--items", type=int, default=5_000)
    p.add_argument("--intents", type=int, default=16, help="planted intents of the generator")
    p.add_argument("--min-len", type=int, default=150, help="events per user: min-len + geometric extra")
    p.add_argument("--mean-extra-len", type=float, default=150.0)
    p.add_argument("--max-events", type=int, default=1000, help="cap on a user's events")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=3, help="the first (cold) day's epochs")
    p.add_argument("--warm-epochs", type=int, default=1, help="warm_start_epochs of the later days")
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--max-len", type=int, default=20)
    p.add_argument("--model-intents", type=int, default=16)
    p.add_argument("--lr", type=float, default=None, help="default: the synthetic preset's")
    p.add_argument("--rec-loss", default=None, help="default: the synthetic preset's")
    p.add_argument("--workdir", default="runs/daily_load")
    p.add_argument("--out", default="runs/daily_load.json")
    p.add_argument("--code", default="HEAD", help="the commit whose code the days run (a snapshot taken at the start, "
                                                  "so that edits made meanwhile cannot change a run halfway); "
                                                  "'worktree' runs the working tree as it is at each day")
    p.add_argument("--fit-from", type=int, default=5, help="first day of the cost fits")
    p.add_argument("--analyse", metavar="JSON", help="print the table and analysis of an earlier run's --out file")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--child-out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        Path(args.child_out).write_text(json.dumps(run_day(args)))
        return
    if args.analyse:
        rows = json.loads(Path(args.analyse).read_text())["days"]
        print_table(rows)
        print_analysis(analyse(rows, args.fit_from))
        return

    os.environ.update(THREAD_ENV)
    workdir = Path(args.workdir)
    data_dir = workdir / "data"
    input_dir = data_dir / "input"
    info = prepare(args, input_dir)
    print(f"{info['events']:,} events over {len(info['per_day'])} days "
          f"(generated in {info['seconds']} s); inputs in {input_dir}", flush=True)
    for path in data_dir.iterdir():  # a fresh data folder: everything but the inputs
        if path != input_dir:
            shutil.rmtree(path) if path.is_dir() else path.unlink()

    days = [(date.fromisoformat(args.start) + timedelta(days=i)).isoformat() for i in range(args.days)]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    script, env, code = snapshot(args.code, workdir)
    print(f"code: {code}", flush=True)
    passthrough = sys.argv[1:]
    rows, total = [], 0
    for day in days:
        child_out = workdir / f"day-{day}.json"
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, script, *passthrough, "--child", day, "--child-out", str(child_out)],
                              env={**os.environ, **THREAD_ENV, **env})
        if proc.returncode:
            raise SystemExit(f"day {day}: the child process exited with {proc.returncode}")
        row = json.loads(child_out.read_text())
        row["process_s"] = round(time.perf_counter() - t0, 2)
        total += row["events_day"] or 0
        row["events_total"] = total
        rows.append(row)
        print_table(rows[-1:], header=len(rows) == 1)
        summary = analyse(rows, args.fit_from)
        record = {"settings": vars(args), "code": code, "inputs": info, "machine": machine(), "days": rows,
                  "analysis": summary}
        out.write_text(json.dumps(record, indent=2) + "\n")
        if not row["success"]:
            print(f"day {day}: the run failed (steps {row['steps']}, checks {row['checks']})", flush=True)
    with open(out.with_suffix(".csv"), "w", newline="") as f:
        flat = [{**{k: v for k, v in r.items() if k not in ("steps", "steps_cpu", "checks")},
                 **{f"{SHORT[s]}_s": r["steps"].get(s) for s in STEPS},
                 **{f"{SHORT[s]}_cpu_s": r["steps_cpu"].get(s) for s in STEPS}} for r in rows]
        writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for row in flat for k in row)))
        writer.writeheader()
        writer.writerows(flat)
    print_analysis(analyse(rows, args.fit_from))
    print(f"written: {out} and {out.with_suffix('.csv')}")


def snapshot(rev: str, workdir: Path) -> tuple[str, dict, dict]:
    """This script, the PYTHONPATH and a description of the code the days run: ``git archive`` of ``rev`` in
    ``<workdir>/code`` (ahead of the editable install on the path), or the working tree for 'worktree'."""
    repo = Path(__file__).resolve().parents[1]
    git = lambda *a: subprocess.run(["git", "-C", str(repo), *a], check=True, capture_output=True,  # noqa: E731
                                    text=True).stdout.strip()
    if rev == "worktree":
        return __file__, {}, {"rev": "worktree", "head": git("rev-parse", "HEAD"),
                              "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    commit = git("rev-parse", rev)
    code = (workdir / "code").resolve()
    shutil.rmtree(code, ignore_errors=True)
    code.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(repo), "archive", commit], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(code)], input=archive, check=True)
    (code / "benchmarks").mkdir(exist_ok=True)
    shutil.copy(__file__, code / "benchmarks" / "daily_load.py")
    return str(code / "benchmarks" / "daily_load.py"), {"PYTHONPATH": str(code)}, {"rev": rev, "commit": commit}


def machine() -> dict:
    import platform

    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0)
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_gib": round(mem / 2**20, 1), "torch": torch.__version__,
            "python": platform.python_version(), "date": date.today().isoformat(),
            "load_avg": os.getloadavg()}


if __name__ == "__main__":
    main()
