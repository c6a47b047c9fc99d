"""Training throughput of elcrec_core against the authors' step structure, timed back to back in one process.

(a) ``reference_step.py``: a re-creation of the authors' computation (per-sample Python data, 5 x 256 sequences
encoded per batch, unfused modules); (b) ``elcrec_core.train.loop.train_epoch`` with the ``beauty`` preset. Both
get the same settings (taken from the preset), the same data and 2 threads; epochs alternate A/B/A/B so that drift
on a shared machine hits both. Also timed once each: the k-means centre initialisation and one validation pass.

Run from the repository root:
    .venv/bin/python benchmarks/train_throughput.py                          # 3 full epochs each, default (fp32)
    .venv/bin/python benchmarks/train_throughput.py --precision bf16         # ours under bf16 autocast
    .venv/bin/python benchmarks/train_throughput.py --epochs 1 --batches 3   # quick check (projected epochs)
    .venv/bin/python benchmarks/train_throughput.py --precision bf16 --json runs/throughput.json
    .venv/bin/python benchmarks/train_throughput.py --compile                     # ours with torch.compile

With ``--compile`` ours runs its training step compiled by torch.compile (TrainConfig.compile); the compilation
happens in the warm-up (timed apart, not in the epochs), once per batch shape.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from reference_step import ReferenceConfig, ReferenceTrainer, read_user_sequences

from elcrec_core.config.settings import ExperimentConfig, load_preset
from elcrec_core.data.sequences import SequenceTensors, read_sequence_file
from elcrec_core.evaluate.ranking import evaluate
from elcrec_core.model.centres import init_centres
from elcrec_core.model.elcrec import ELCRec
from elcrec_core.train.batches import trainable_users
from elcrec_core.train.compiled_step import StepLosses, compiles_step
from elcrec_core.train.device import cpu_model, uses_bf16
from elcrec_core.train.loop import make_optimizer, train_epoch
from elcrec_core.train.malloc import keep_freed_memory

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO / "../shared/data/Beauty.txt"
LOSS_PARTS = ("rec", "seq_cl", "intent_cl", "cluster", "loss")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="sequence file (default: Beauty)")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per side, alternating (default 3)")
    parser.add_argument("--batches", type=int, default=None,
                        help="time only N batches per epoch; report per-batch medians and projected epochs")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                        help="ours only; auto = the trainer's default (fp32 on CPU)")
    parser.add_argument("--compile", action="store_true", help="ours only: torch.compile the training step")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    return parser.parse_args(argv)


# ----------------------------------------------------------------------------------------- the two sides
class Ours:
    """elcrec_core's trainer on the whole data set, with the optimiser and data generator it would use."""

    name = "ours"

    def __init__(self, data_path: Path, exp: ExperimentConfig) -> None:
        self.cfg = exp.train
        seqs = read_sequence_file(data_path)
        self.model = ELCRec(exp.model_config(seqs.n_items))
        self.data = SequenceTensors.from_sequences(seqs)
        self.users = trainable_users(self.data)
        self.optimizer = make_optimizer(self.model, self.cfg)
        self.generator = torch.Generator().manual_seed(self.cfg.seed)
        self.device = torch.device("cpu")
        self.n_users = len(self.users)
        self.step_losses = StepLosses(compiles_step(self.cfg, self.device))

    @property
    def compiled(self) -> bool:
        return self.step_losses.compiled is not None

    def init_centres(self) -> None:
        init_centres(self.model, self.data, self.users, self.cfg)

    def warm_up(self) -> dict[str, float]:
        """One batch; with a compiled step also one of the epoch's last, smaller batch shape (both compile)."""
        losses = self.batch()
        rest = self.n_users % self.cfg.batch_size
        if rest and self.compiled:
            self._train(self.users[torch.randperm(self.n_users, generator=self.generator)[:rest]])
        return losses

    def epoch(self) -> dict[str, float]:
        return self._train(self.users)

    def batch(self) -> dict[str, float]:
        """One batch of randomly chosen users."""
        pick = torch.randperm(self.n_users, generator=self.generator)[: self.cfg.batch_size]
        return self._train(self.users[pick])

    def _train(self, users: torch.Tensor) -> dict[str, float]:
        return train_epoch(self.model, self.optimizer, self.data, users, self.cfg, self.generator,
                           self.device, step_losses=self.step_losses)

    def validate(self) -> dict[str, float]:
        return evaluate(self.model, self.data, "valid", batch_size=self.cfg.eval_batch_size)


class Reference:
    """The re-created authors' trainer, with the same settings as ``exp``."""

    name = "reference"

    def __init__(self, data_path: Path, exp: ExperimentConfig) -> None:
        user_seq, max_item = read_user_sequences(data_path)
        self.trainer = ReferenceTrainer(user_seq, reference_config(exp, item_size=max_item + 2))
        self.n_users = len(user_seq)

    def init_centres(self) -> None:
        self.trainer.init_centres()

    def epoch(self) -> dict[str, float]:
        return self.trainer.train_epoch()

    def warm_up(self) -> dict[str, float]:
        return self.batch()

    def batch(self) -> dict[str, float]:
        return self.trainer.train_epoch(max_batches=1)

    def validate(self) -> dict[str, float]:
        return self.trainer.validate()


def reference_config(exp: ExperimentConfig, item_size: int) -> ReferenceConfig:
    """The reference settings that match the preset (model shape, optimiser, loss weights, augmentation)."""
    m, t = exp.model_config(n_items=item_size - 2), exp.train
    return ReferenceConfig(
        item_size=item_size, hidden=m.hidden, n_layers=m.n_layers, n_heads=m.n_heads, max_len=m.max_len,
        dropout=m.dropout, attn_dropout=m.attn_dropout, n_intents=m.n_intents, init_range=m.init_std,
        batch_size=t.batch_size, lr=t.lr, rec_weight=t.rec_weight, cf_weight=t.cf_weight,
        intent_cf_weight=t.intent_cf_weight, trade_off=t.trade_off, prototype=t.prototype,
        temperature=t.temperature, crop_tau=t.crop_tau, mask_gamma=t.mask_gamma, reorder_beta=t.reorder_beta,
        kmeans_iters=t.kmeans_iters, kmeans_restarts=t.kmeans_restarts, seed=t.seed,
    )


# ----------------------------------------------------------------------------------------- timing
def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def mean_losses(rows: list[dict[str, float]]) -> dict[str, float]:
    return {name: statistics.fmean(row[name] for row in rows) for name in rows[0]}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Set both sides up, then time k-means, one warm-up batch each, the alternating epochs and validation."""
    torch.set_num_threads(args.threads)
    load_at_start = os.getloadavg()[0]
    freed_memory_kept = keep_freed_memory()  # process-wide, so the reference profits from it as well
    exp = load_preset("beauty")
    exp.train.precision = args.precision
    exp.train.compile = args.compile
    resolved = "bf16" if uses_bf16(torch.device("cpu"), args.precision) else "fp32"
    random.seed(exp.train.seed)
    np.random.seed(exp.train.seed)
    torch.manual_seed(exp.train.seed)
    sides = [Reference(args.data, exp), Ours(args.data, exp)]

    figures: dict[str, dict[str, Any]] = {side.name: {"timed_seconds": [], "losses": []} for side in sides}
    for side in sides:
        figures[side.name]["kmeans_seconds"], _ = timed(side.init_centres)
    for side in sides:  # warm-up, right after the init, timed apart: ours compiles its step here
        figures[side.name]["warm_up_seconds"], figures[side.name]["first_batch_losses"] = timed(side.warm_up)
    for _ in range(args.epochs):
        for side in sides:
            if args.batches is None:
                seconds, losses = timed(side.epoch)
                figures[side.name]["timed_seconds"].append(seconds)
                figures[side.name]["losses"].append(losses)
            else:
                timings = [timed(side.batch) for _ in range(args.batches)]
                figures[side.name]["timed_seconds"] += [seconds for seconds, _ in timings]
                figures[side.name]["losses"].append(mean_losses([losses for _, losses in timings]))
    for side in sides:
        figures[side.name]["validation_seconds"], figures[side.name]["validation"] = timed(side.validate)

    batch_size = exp.train.batch_size
    for side in sides:
        summarise(figures[side.name], side.n_users, batch_size, per_batch=args.batches is not None)
    figures["reference"]["sequences_encoded_per_batch"] = 5 * batch_size
    figures["ours"]["sequences_encoded_per_batch"] = 3 * batch_size
    theirs, ours = figures["reference"], figures["ours"]
    return {
        "machine": machine_facts(args.threads, freed_memory_kept, load_at_start),
        "settings": {"data": str(args.data.resolve()), "preset": "beauty", "precision_ours": resolved,
                     "compiled_step_ours": sides[1].compiled,
                     "precision_reference": "fp32", "epochs": args.epochs, "batches": args.batches,
                     "batch_size": batch_size, "users": sides[1].n_users},
        "reference": theirs,
        "ours": ours,
        "speedup": {key: theirs[key] / ours[key] for key in ("epoch_seconds", "validation_seconds", "kmeans_seconds")},
    }


def summarise(fig: dict[str, Any], n_users: int, batch_size: int, per_batch: bool) -> None:
    """Add the median figures: per epoch, or per batch with the epoch projected from it."""
    n_batches = math.ceil(n_users / batch_size)
    median = statistics.median(fig["timed_seconds"])
    fig["batches_per_epoch"] = n_batches
    if per_batch:
        fig["batch_seconds"] = median
        fig["epoch_seconds"] = median * n_batches
        fig["epoch_projected"] = True
    else:
        fig["batch_seconds"] = median / n_batches
        fig["epoch_seconds"] = median
        fig["epoch_projected"] = False
    fig["sequences_per_second"] = n_users / fig["epoch_seconds"]
    fig["batches_per_second"] = n_batches / fig["epoch_seconds"]


def machine_facts(threads: int, freed_memory_kept: bool, load_at_start: float) -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": threads,
        "torch_threads": torch.get_num_threads(),
        "keep_freed_memory": freed_memory_kept,
        "load_average_1min_at_start": load_at_start,
        "load_average_1min_at_end": os.getloadavg()[0],
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


# ----------------------------------------------------------------------------------------- report
def report(result: dict[str, Any]) -> str:
    m, s, theirs, ours, up = (result[k] for k in ("machine", "settings", "reference", "ours", "speedup"))
    n_batches = ours["batches_per_epoch"]
    if s["batches"] is None:
        mode = f"{s['epochs']} full epoch(s) per side, alternating; medians over epochs"
        epoch_label = "seconds per epoch (median)"
        batch_label = f"seconds per batch (epoch / {n_batches})"
    else:
        mode = (f"{s['epochs']} round(s) x {s['batches']} batches per side, alternating; per-batch medians, "
                f"epoch projected = median x {n_batches}")
        epoch_label = "seconds per epoch (projected)"
        batch_label = "seconds per batch (median)"
    rows = [
        (epoch_label, theirs["epoch_seconds"], ours["epoch_seconds"], up["epoch_seconds"], "{:.2f}"),
        (batch_label, theirs["batch_seconds"], ours["batch_seconds"], None, "{:.3f}"),
        ("train sequences/s", theirs["sequences_per_second"], ours["sequences_per_second"], None, "{:.0f}"),
        ("batches/s", theirs["batches_per_second"], ours["batches_per_second"], None, "{:.2f}"),
        ("sequences encoded per batch", theirs["sequences_encoded_per_batch"],
         ours["sequences_encoded_per_batch"], None, "{:d}"),
        ("validation seconds (1 pass)", theirs["validation_seconds"], ours["validation_seconds"],
         up["validation_seconds"], "{:.2f}"),
        ("k-means init seconds", theirs["kmeans_seconds"], ours["kmeans_seconds"], up["kmeans_seconds"], "{:.2f}"),
        ("warm-up seconds (not in epochs)", theirs["warm_up_seconds"], ours["warm_up_seconds"], None, "{:.1f}"),
    ]
    rows += [(f"first-batch loss: {name}", theirs["first_batch_losses"][name], ours["first_batch_losses"][name],
              None, "{:.4f}") for name in LOSS_PARTS]
    ours_label = f"ours ({s['precision_ours']}{', compiled' if s['compiled_step_ours'] else ''})"
    lines = [
        f"ELCRec training throughput: {Path(s['data']).name}, {s['users']} users, batch {s['batch_size']}, "
        f"{n_batches} batches per epoch",
        f"machine: {m['cpu']} ({m['logical_cpus']} logical CPUs), {m['threads']} threads, torch {m['torch']}, "
        f"{m['date']}",
        f"1-min load average {m['load_average_1min_at_start']:.2f} at start, {m['load_average_1min_at_end']:.2f} "
        f"at end; glibc keep-freed-memory {'on' if m['keep_freed_memory'] else 'off'} (process-wide: both sides)",
        f"mode: {mode}",
        "",
        f"{'':32s}{'reference':>12s}{ours_label:>24s}{'theirs/ours':>13s}",
    ]
    for label, a, b, ratio, fmt in rows:
        ratio_text = f"{ratio:.2f}x" if ratio is not None else ""
        lines.append(f"{label:32s}{fmt.format(a):>12s}{fmt.format(b):>24s}{ratio_text:>13s}")
    lines.append(f"speed-up (reference / ours, training epoch): {up['epoch_seconds']:.2f}x")
    if m["load_average_1min_at_start"] > m["logical_cpus"] - m["threads"] + 0.5:
        lines.append("warning: the CPUs were busy before the run started; absolute figures are inflated and the "
                     "ratio is only as good as the A/B alternation makes it")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args)
    print(report(result))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
