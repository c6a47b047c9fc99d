"""Large catalogue: peak memory and time of training and full-ranking evaluation with 1M items and 1M users.

    .venv/bin/python benchmarks/large_catalogue.py             # 1M users, 1M items (about 13M interactions)
    .venv/bin/python benchmarks/large_catalogue.py --users 50000 --items 50000 --batches 5 --eval-users 2000

The data (``elcrec_core.data.synthetic``, 64 planted intents) is generated once in a child process and cached in
``--workdir``. Then, in this process, with the reference hyper-parameters (hidden 64, 1 layer, K 256, batch 256):
the model; the k-means centre initialisation (the trainer's, on its default sample); ``--batches`` training
batches with sampled softmax, then ``--batches`` with BCE (the trainer's ``train_epoch`` on a random subset of the
users, one Adam optimiser for both); the full-ranking evaluator on ``--eval-users`` users, every item ranked for
each; ``recommend`` (top 20) for ``--recommend-users`` users; item-kNN, the baseline that stands in for EASE at
this size, fitted with the largest k of its grid and ranked on the same ``--eval-users`` users. Full-softmax
cross-entropy is not run: the config refuses it at this size, and its message is printed.

Each phase's peak resident memory is the kernel's high-water mark (VmHWM of /proc/self/status) after resetting it
at the phase's start (/proc/self/clear_refs), so the largest of them is the process peak (Linux only). Prints a
table (phase, peak RSS, wall and CPU seconds, notes), whether the peak stays under ``--bound-gb`` (decimal GB),
and a JSON line; exits with 1 where it does not.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from elcrec_core.config.settings import ExperimentConfig, TrainConfig
from elcrec_core.data.sequences import Sequences, SequenceTensors
from elcrec_core.evaluate.ranking import eligible_users, evaluate_ranks, metrics_from_ranks
from elcrec_core.evaluate.item_knn import ITEM_KNN_NEIGHBOURS, ItemKNN
from elcrec_core.evaluate.scoring import ELCRecRecommender, evaluate_recommender
from elcrec_core.model.centres import init_centres
from elcrec_core.model.elcrec import ELCRec
from elcrec_core.serve.recommend import recommend
from elcrec_core.train.batches import trainable_users
from elcrec_core.train.device import uses_bf16
from elcrec_core.train.loop import make_optimizer, train_epoch
from elcrec_core.train.malloc import keep_freed_memory

GIB = 2**30


def prepare(path: Path, n_users: int, n_items: int) -> None:
    """Generate the synthetic events and store each user's items, in time order, as flat items and offsets."""
    from elcrec_core.data.synthetic import SyntheticConfig, generate

    events = generate(SyntheticConfig(n_users=n_users, n_items=n_items, n_intents=64, seed=1)).events
    owner = events["user_id"].to_numpy() - 1
    if np.any(np.diff(owner) < 0):
        raise SystemExit("the generator's events are not grouped by user")
    offsets = np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=n_users))])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, items=events["item_id"].to_numpy().astype(np.int64), offsets=offsets.astype(np.int64))


def peak_gib() -> float:
    """This process's peak resident memory since the last :func:`reset_peak` (VmHWM), in GiB."""
    with open("/proc/self/status") as fh:
        kib = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    return kib * 1024 / GIB


def reset_peak() -> None:
    """Reset the kernel's high-water mark of resident memory to the current resident size."""
    Path("/proc/self/clear_refs").write_text("5")


def cpu_seconds() -> float:
    """User and system CPU time of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def phase(rows: list[dict], name: str) -> Iterator[dict]:
    """Measure the body's wall and CPU seconds and peak resident memory; the body may add a ``note`` to its row."""
    reset_peak()
    row: dict = {"phase": name, "note": ""}
    start, cpu = time.perf_counter(), cpu_seconds()
    yield row
    row.update(seconds=time.perf_counter() - start, cpu_seconds=cpu_seconds() - cpu, peak_gib=peak_gib())
    rows.append(row)
    print(f"  {name}: {row['seconds']:.1f} s ({row['cpu_seconds']:.1f} CPU s), peak {row['peak_gib']:.2f} GiB",
          flush=True)


def sample(users: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """A seeded uniform sample of ``n`` of ``users``, in order."""
    pick = torch.randperm(len(users), generator=torch.Generator().manual_seed(seed))[:n]
    return users[pick.sort().values]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", type=int, default=1_000_000)
    p.add_argument("--items", type=int, default=1_000_000)
    p.add_argument("--batches", type=int, default=30, help="training batches per next-item loss")
    p.add_argument("--eval-users", type=int, default=10_000)
    p.add_argument("--recommend-users", type=int, default=1_024)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--bound-gb", type=float, default=8.0, help="peak memory bound, decimal GB")
    p.add_argument("--workdir", default="data/benchmark")
    p.add_argument("--prepare", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.prepare:
        return prepare(Path(args.prepare), args.users, args.items)

    path = Path(args.workdir) / f"large_catalogue_{args.users}_{args.items}.npz"
    if not path.exists():
        started = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--prepare", str(path), "--users", str(args.users),
                        "--items", str(args.items)], check=True)
        child_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / GIB
        print(f"data generated in a child process in {time.perf_counter() - started:.1f} s "
              f"(its peak {child_gib:.2f} GiB), cached in {path}")
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    exp = ExperimentConfig(train=TrainConfig(device=args.device))
    cfg = exp.train
    rows: list[dict] = [{"phase": "start-up (imports)", "note": "", "seconds": None, "cpu_seconds": None,
                         "peak_gib": peak_gib()}]

    with phase(rows, "load sequences") as row:
        stored = np.load(path)
        seqs = Sequences(np.arange(1, args.users + 1), stored["items"], stored["offsets"], args.items)
        data = SequenceTensors.from_sequences(seqs, device)
        users = trainable_users(data)
        row["note"] = (f"{len(seqs):,} users, {seqs.n_items:,} items, {len(seqs.items):,} interactions, "
                       f"longest {int(seqs.lengths.max())}")
    print(f"{len(seqs):,} users x {seqs.n_items:,} items; {torch.get_num_threads()} threads; training under "
          f"{'bf16 autocast' if uses_bf16(device, cfg.precision) else 'fp32'}", flush=True)
    try:
        dataclasses.replace(exp, train=dataclasses.replace(cfg, rec_loss="ce")).model_config(seqs.n_items)
        print("rec_loss 'ce': accepted")
    except ValueError as exc:
        print(f"rec_loss 'ce': refused: {exc}")

    with phase(rows, "model") as row:
        torch.manual_seed(cfg.seed)
        model = ELCRec(exp.model_config(seqs.n_items)).to(device)
        row["note"] = f"{sum(t.numel() for t in model.parameters()) / 1e6:.1f}M parameters"
    with phase(rows, "k-means centre initialisation") as row:
        init_centres(model, data, users, cfg)
        row["note"] = f"K {model.cfg.n_intents} over {min(len(users), cfg.kmeans_sample):,} of {len(users):,} inputs"

    optimizer = make_optimizer(model, cfg)  # the trainer's: fused Adam
    generator = torch.Generator().manual_seed(cfg.seed)
    epoch_batches = math.ceil(len(users) / cfg.batch_size)
    per_batch: dict[str, float] = {}
    for loss in ("sampled_softmax", "bce"):
        loss_cfg = dataclasses.replace(cfg, rec_loss=loss)
        subset = sample(users, args.batches * cfg.batch_size, cfg.seed)
        with phase(rows, f"train, {loss} ({args.batches} batches)") as row:
            parts = train_epoch(model, optimizer, data, subset, loss_cfg, generator, device)
        per_batch[loss] = row["seconds"] / args.batches
        row["note"] = (f"{per_batch[loss]:.3f} s/batch; an epoch ({epoch_batches:,} batches) "
                       f"~{per_batch[loss] * epoch_batches / 3600:.1f} h; loss {parts['loss']:.3f}")

    valid_users = eligible_users(data, "valid")
    eval_users = sample(valid_users, args.eval_users, 1)
    with phase(rows, f"evaluate, full ranking ({len(eval_users):,} users)") as row:
        ranks = evaluate_ranks(model, data, "valid", eval_users, cfg.eval_batch_size)
    rate = len(eval_users) / row["seconds"]
    row["note"] = (f"{rate:,.0f} users/s, {cfg.eval_batch_size / rate:.1f} s per {cfg.eval_batch_size:,}-user "
                   f"batch x all items; a validation pass ({len(valid_users):,} users) "
                   f"~{len(valid_users) / rate / 60:.1f} min; HR@20 {metrics_from_ranks(ranks)['HR@20']:.4f}")
    rec_users = sample(users, args.recommend_users, 2)
    with phase(rows, f"recommend top 20 ({len(rec_users):,} users)") as row:
        recommend(ELCRecRecommender(model), data, rec_users, k=20)
        row["note"] = "all items scored per user, history excluded"
    del model, optimizer
    k = max(ITEM_KNN_NEIGHBOURS)
    with phase(rows, f"item-kNN fit (k {k}, the largest of its grid)") as row:
        knn = ItemKNN(k).fit(data, "valid")
        row["note"] = f"{knn.weights.nnz:,} neighbour entries"
    with phase(rows, f"item-kNN, full ranking ({len(eval_users):,} users)") as row:
        knn_ranks = evaluate_recommender(knn, data, "valid", eval_users)
        row["note"] = f"HR@20 {metrics_from_ranks(knn_ranks)['HR@20']:.4f}"

    peak = max(r["peak_gib"] for r in rows)
    bound_gib = args.bound_gb * 1e9 / GIB
    print("\n| phase | peak RSS (GiB) | seconds | CPU seconds | |\n|---|---|---|---|---|")
    for r in rows:
        seconds = ["" if r[key] is None else f"{r[key]:.1f}" for key in ("seconds", "cpu_seconds")]
        print(f"| {r['phase']} | {r['peak_gib']:.2f} | {' | '.join(seconds)} | {r['note']} |")
    holds = peak < bound_gib
    print(f"\npeak resident memory of the process: {peak:.2f} GiB ({peak * GIB / 1e9:.2f} GB); bound "
          f"{args.bound_gb:g} GB ({bound_gib:.2f} GiB): {'HOLDS' if holds else 'EXCEEDED'}")
    print(json.dumps({"users": len(seqs), "items": seqs.n_items, "interactions": len(seqs.items),
                      "threads": torch.get_num_threads(), "peak_gib": peak, "bound_holds": holds,
                      "train_s_per_batch": per_batch, "eval_users_per_s": rate, "phases": rows}))
    if not holds:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
