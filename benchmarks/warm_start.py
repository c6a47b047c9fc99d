"""Warm start against cold start for the daily retrain, on the embedded synthetic data.

Day D-1: sequences up to the end of D-1 train a model (cold, k-means centres). Day D: sequences up to the end
of D (one more day of events, new users and items on the stable index) train twice with the same epoch budget,
cold and warm-started from the D-1 model. Printed: per-epoch validation NDCG@20 of both, the epochs each needs to
reach 99% of the cold run's best, and the seconds.

Usage: .venv/bin/python benchmarks/warm_start.py [--day 2026-01-25] [--epochs 20] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import torch

from elcrec_core.config.settings import load_preset
from elcrec_core.data.events_to_sequences import SequenceConfig, build_sequences, store_item_index
from elcrec_core.data.ingestion import ingest
from elcrec_core.data.source_config import SourceConfig
from elcrec_core.train.loop import train
from elcrec_core.train.malloc import keep_freed_memory


def epochs_to_reach(curve: list[float], target: float) -> int | None:
    """1-based number of epochs until the curve first reaches ``target``."""
    return next((i + 1 for i, value in enumerate(curve) if value >= target), None)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--day", default="2026-01-25", help="day D; D-1 trains the model that warm-starts D")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json")
    args = p.parse_args()
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    exp = load_preset("synthetic")
    exp.train.epochs, exp.train.patience = args.epochs, args.epochs
    end = datetime.fromisoformat(args.day) + timedelta(days=1)
    quiet = lambda _: None  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        warehouse = Path(tmp) / "warehouse.duckdb"
        ingest(SourceConfig(format="synthetic"), path=warehouse)
        before = build_sequences(SequenceConfig(k_core=5), warehouse, until=end - timedelta(days=1))
        store_item_index(before, warehouse)  # the day's build extends the index the day before stored
        day = build_sequences(SequenceConfig(k_core=5), warehouse, until=end)
        previous = train(before.sequences, exp, Path(tmp) / "previous", log=quiet)
        runs = {}
        for name, init in (("cold", None), ("warm", previous.checkpoint)):
            start = time.perf_counter()
            result = train(day.sequences, exp, Path(tmp) / name, log=quiet, init_from=init)
            runs[name] = {"curve": [row["valid_NDCG@20"] for row in result.history],
                          "seconds": time.perf_counter() - start, "test_NDCG@20": result.test["NDCG@20"]}
    target = 0.99 * max(runs["cold"]["curve"])
    summary = {
        "day": args.day, "users_before": len(before.sequences), "users_day": len(day.sequences),
        "new_items": day.summary.new_items, "epochs": args.epochs, "target_valid_NDCG@20": target,
        **{f"{name}_epochs_to_target": epochs_to_reach(run["curve"], target) for name, run in runs.items()},
        **{f"{name}_first_epoch_NDCG@20": run["curve"][0] for name, run in runs.items()},
        **{f"{name}_test_NDCG@20": run["test_NDCG@20"] for name, run in runs.items()},
        **{f"{name}_seconds": round(run["seconds"], 1) for name, run in runs.items()},
    }
    for name, run in runs.items():
        print(name, " ".join(f"{v:.4f}" for v in run["curve"]))
    print(json.dumps(summary, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps({**summary, "curves": runs}, indent=2))


if __name__ == "__main__":
    main()
