"""Evaluation throughput: users ranked per second on Beauty, full ranking over all items.

Usage: .venv/bin/python benchmarks/eval_throughput.py [--data ../shared/data/Beauty.txt]
       [--checkpoint ../shared/reference/ELCRec-Beauty-1.pt] [--repeats 5] [--threads 2] [--compare-matmul]

``--compare-matmul`` also times the pass with the scoring product on torch's default ``@`` (MKL's sgemm on CPU)
instead of :func:`elcrec_core.model.products.user_item_scores`' oneDNN kernel, alternating the two, and checks that both
give the same ranks.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from elcrec_core.data.sequences import SequenceTensors, read_sequence_file
from elcrec_core.evaluate.ranking import eligible_users, evaluate_ranks, metrics_from_ranks
from elcrec_core.model import products
from elcrec_core.train.checkpoint import load_model
from elcrec_core.train.device import select_device
from elcrec_core.train.malloc import keep_freed_memory


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1 (a count of timed runs)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data/Beauty.txt")
    p.add_argument("--checkpoint", default="../shared/reference/ELCRec-Beauty-1.pt")
    p.add_argument("--repeats", type=positive_int, default=5, help="timed passes after a warm-up (default 5)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument("--compare-matmul", action="store_true",
                   help="also time each pass with the scoring product on torch's @ (MKL's sgemm on CPU), "
                        "alternating, and check that both give the same ranks")
    args = p.parse_args()
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    device = select_device(args.device)
    model, _ = load_model(args.checkpoint)
    model.to(device)
    data = SequenceTensors.from_sequences(read_sequence_file(args.data), device)
    users = eligible_users(data, "test")
    onednn = products._onednn_applies
    sides = {"ours": onednn, "torch @": lambda *_: False} if args.compare_matmul else {"ours": onednn}
    times: dict[str, list[float]] = {name: [] for name in sides}
    ranks: dict[str, torch.Tensor] = {}
    for _ in range(args.repeats + 1):  # the first is a warm-up
        for name, applies in sides.items():
            products._onednn_applies = applies
            start = time.perf_counter()
            ranks[name] = evaluate_ranks(model, data, "test", users)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - start)
    products._onednn_applies = onednn
    print(f"device {device}, threads {torch.get_num_threads()}, {len(users)} users x {model.cfg.n_items} items")
    for name, seconds in times.items():
        median = statistics.median(seconds[1:])
        print(f"{name}: full-ranking test pass: median {median:.3f} s over {args.repeats} runs -> "
              f"{len(users) / median:,.0f} users/s")
    if args.compare_matmul:
        print("same ranks on both sides:", torch.equal(ranks["ours"], ranks["torch @"]))
    print("metrics:", {k: round(v, 4) for k, v in metrics_from_ranks(ranks["ours"]).items()})


if __name__ == "__main__":
    main()
