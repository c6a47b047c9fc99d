"""Training step time with full softmax: row-blocked cross-entropy against the whole logit matrix, alternating.

Preset auto (the pipeline's default) on the data: the row-blocked loss
(:func:`elcrec_core.model.linear_cross_entropy.linear_cross_entropy`) against ``F.cross_entropy(hidden @ table.T)`` (as
before it), in one process, batch by batch.

Usage: .venv/bin/python benchmarks/full_softmax_step.py [--data ../shared/data/Beauty.txt] [--rounds 3]
       [--batches 10] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from eval_throughput import positive_int
from train_throughput import Ours

from elcrec_core.data.sequences import read_sequence_file
from elcrec_core.model import losses
from elcrec_core.model.linear_cross_entropy import whole_matrix_cross_entropy
from elcrec_core.train.auto_preset import auto_experiment
from elcrec_core.train.device import cpu_model
from elcrec_core.train.malloc import keep_freed_memory


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data/Beauty.txt"))
    p.add_argument("--rounds", type=positive_int, default=3, help="timed rounds after a warm-up round (default 3)")
    p.add_argument("--batches", type=positive_int, default=10, help="batches per side in each round (default 10)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()
    exp = auto_experiment(read_sequence_file(args.data), {}, {"precision": "fp32", "device": "cpu"})
    if exp.train.rec_loss != "ce":
        raise SystemExit(f"preset auto chose {exp.train.rec_loss!r} for {args.data}, not full-softmax 'ce'")
    ours = Ours(args.data, exp)
    ours.init_centres()
    sides = {"whole logit matrix": whole_matrix_cross_entropy, "row-blocked": losses.linear_cross_entropy}
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    for round_ in range(args.rounds + 1):  # round 0 warms up
        for name, loss_fn in sides.items():
            losses.linear_cross_entropy = loss_fn
            for _ in range(args.batches):
                start = time.perf_counter()
                ours.batch()
                if round_:
                    seconds[name].append(time.perf_counter() - start)
    losses.linear_cross_entropy = sides["row-blocked"]
    print(f"{cpu_model()}, {torch.get_num_threads()} threads, fp32; {args.data.name}: "
          f"{ours.model.cfg.n_items:,} items, max_len {ours.model.cfg.max_len}, batch {exp.train.batch_size}")
    for name, times in seconds.items():
        print(f"{name}: median {statistics.median(times):.3f} s per batch over {len(times)} batches")
    ratio = statistics.median(seconds["whole logit matrix"]) / statistics.median(seconds["row-blocked"])
    print(f"speed-up per training step: {ratio:.2f}x")


if __name__ == "__main__":
    main()
