"""The full-softmax loss under CPU bf16 autocast: its forward and backward at one batch's size, in a child process
per side so that each has its own peak RSS.

    .venv/bin/python benchmarks/full_softmax_autocast.py                      # 5,800 targets x 19,024 items
    .venv/bin/python benchmarks/full_softmax_autocast.py --targets 2000 --items 12101 --threads 1

Sides: ``fp32`` (no autocast: the row-blocked loss of
:func:`elcrec_core.model.linear_cross_entropy.linear_cross_entropy`) and ``bf16`` (under
``torch.autocast("cpu", dtype=torch.bfloat16)``, as training with ``precision auto`` on a CPU with native bf16).
Before 2026-12-05 the bf16 side took the whole [targets x items] matrix; now it runs the blocks in float32. Prints,
per side, the median seconds of a step (forward and backward, after two warm-up steps), the process's peak RSS and
its system CPU seconds (page faults of large matrices), then a JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch

from elcrec_core.model.linear_cross_entropy import linear_cross_entropy
from elcrec_core.train.device import cpu_model
from elcrec_core.train.malloc import keep_freed_memory

SIDES = ("fp32", "bf16")


def step_times(side: str, targets: int, items: int, hidden: int, steps: int, threads: int) -> dict:
    """``steps`` forward and backward passes of the loss on random data, as training keeps freed memory."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    keep_freed_memory()
    table = (torch.randn(items, hidden) * 0.1).requires_grad_()
    seconds = []
    for _ in range(steps + 2):
        h = torch.randn(targets, hidden).requires_grad_()
        y = torch.randint(0, items, (targets,))
        began = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=side == "bf16"):
            loss = linear_cross_entropy(h, table, y)
        loss.backward()
        seconds.append(time.perf_counter() - began)
        table.grad = None
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"median_s": statistics.median(seconds[2:]), "peak_gib": usage.ru_maxrss / 2**20,
            "system_s": usage.ru_stime}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--targets", type=int, default=5800, help="target positions a batch (default 5,800)")
    p.add_argument("--items", type=int, default=19024)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    args = p.parse_args()
    sizes = (args.targets, args.items, args.hidden, args.steps, args.threads)
    if args.child:
        print(json.dumps(step_times(args.child, *sizes)))
        return
    results = {}
    for side in SIDES:
        done = subprocess.run([sys.executable, __file__, "--child", side, *[
            f"--{name}={value}" for name, value in zip(("targets", "items", "hidden", "steps", "threads"), sizes)]],
            capture_output=True, text=True, check=True)
        results[side] = json.loads(done.stdout.strip().splitlines()[-1])
        got = results[side]
        print(f"{side}: {got['median_s']:.3f} s a step, peak RSS {got['peak_gib']:.2f} GiB, "
              f"{got['system_s']:.1f} s of system time", flush=True)
    print(f"{cpu_model()}; torch CPU capability {torch.backends.cpu.get_cpu_capability()}; {args.threads} threads")
    print(json.dumps({"targets": args.targets, "items": args.items, "threads": args.threads, "results": results}))


if __name__ == "__main__":
    main()
