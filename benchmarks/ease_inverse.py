"""EASE's inverse on this CPU, with each LAPACK that `elcrec_core.evaluate.linalg.spd_inverse_` can use.

    .venv/bin/python benchmarks/ease_inverse.py                      # Sports (18,357 items), lambda 100, float64
    .venv/bin/python benchmarks/ease_inverse.py --data ../shared/data/Beauty.txt --threads 1

Builds X^T X + lambda I of the data's training part (items[:-2]) as EASE does, then inverts it once per backend
("scipy": SciPy's OpenBLAS; "torch": torch's LAPACK, MKL in the CPU wheel), each in a child process so that a crash
(a signal) is reported rather than ending the benchmark. Prints, per backend, the wall seconds of the inverse or how
the child ended, the inverse's first diagonal entry (the backends agree), the child's peak RSS and how much the
inverse raised it beside the size of one n x n matrix (X^T X in float32 and its float64 copy were alive before),
this CPU's torch capability and the backend `lapack_backend` picks here, then a JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import signal
import subprocess
import sys
import time

import torch

from elcrec_core.data.sequences import SequenceTensors, read_sequence_file
from elcrec_core.evaluate.baselines import ease_gram
from elcrec_core.evaluate.linalg import lapack_backend, spd_inverse_

BACKENDS = ("scipy", "torch")


def invert(data: str, backend: str, lam: float, threads: int) -> dict:
    """One inverse of the data's EASE matrix with ``backend``: its seconds and first diagonal entry."""
    torch.set_num_threads(threads)
    gram = ease_gram(SequenceTensors.from_sequences(read_sequence_file(data)), "valid")
    p = gram.to(torch.float64, memory_format=torch.contiguous_format, copy=True)
    del gram
    p.diagonal().add_(lam)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB: the peak so far (X^T X beside its copy)
    began = time.perf_counter()
    inverse = spd_inverse_(p, backend)
    seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "inverse_00": float(inverse[0, 0]), "items": p.shape[0],
            "peak_gib": peak / 2**20, "inverse_added_gib": (peak - before) / 2**20,
            "matrix_gib": p.numel() * p.element_size() / 2**30}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data/Sports_and_Outdoors.txt", help="a sequence file")
    p.add_argument("--lam", type=float, default=100.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    p.add_argument("--child", choices=BACKENDS, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(invert(args.data, args.child, args.lam, args.threads)))
        return
    results = {}
    for backend in args.backends:
        done = subprocess.run([sys.executable, __file__, "--child", backend, "--data", args.data, "--lam",
                               str(args.lam), "--threads", str(args.threads)], capture_output=True, text=True)
        if done.returncode == 0:
            results[backend] = json.loads(done.stdout.strip().splitlines()[-1])
            got = results[backend]
            print(f"{backend}: {got['seconds']:.1f} s for {got['items']:,} items, inverse[0, 0] "
                  f"{got['inverse_00']!r}; peak RSS {got['peak_gib']:.2f} GiB, {got['inverse_added_gib']:.2f} GiB "
                  f"above the peak before the inverse (one matrix: {got['matrix_gib']:.2f} GiB)", flush=True)
        else:
            how = (f"killed by {signal.Signals(-done.returncode).name}" if done.returncode < 0
                   else f"exit code {done.returncode}")
            results[backend] = {"failed": how, "stderr": done.stderr.strip().splitlines()[-1:]}
            print(f"{backend}: {how} {results[backend]['stderr']}", flush=True)
    capability = torch.backends.cpu.get_cpu_capability()
    print(f"torch CPU capability {capability}; spd_inverse_ uses {lapack_backend()} here; {args.threads} threads")
    print(json.dumps({"data": args.data, "lam": args.lam, "threads": args.threads, "capability": capability,
                      "default": lapack_backend(), "results": results}))


if __name__ == "__main__":
    main()
