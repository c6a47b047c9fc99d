"""Time to quality (issue #12.3): the wall time on this CPU until the model selected on the validation split reaches
a test NDCG@20 target on Beauty (default 0.0494: 97% of the paper's ELCRec, Table 1).

Trains with :func:`elcrec_core.train.loop.train` one epoch at a time (each call resumes from ``last.pt`` with the
epoch budget one higher; the other settings are the preset's) and reads, after each epoch, the test split of
``best.pt``, the epoch with the best validation NDCG@20 so far. The test split is only read, never used to choose:
the clock stops at the first epoch after which the validation-selected model meets the target. Wall time = the sum
of the ``train`` calls (k-means start, epochs, validation, each call's test pass of ``best.pt``: an over-count of
one test pass, about a second, an epoch).

    .venv/bin/python benchmarks/time_to_quality.py                                  # preset auto (the default)
    .venv/bin/python benchmarks/time_to_quality.py --preset beauty --max-epochs 300 # the paper's settings

Prints one line per epoch and a JSON summary (``--json PATH`` also writes it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from elcrec_core.config.settings import load_preset, merge_overrides  # noqa: E402
from elcrec_core.data.sequences import read_sequence_file  # noqa: E402
from elcrec_core.train.auto_preset import AUTO, auto_experiment  # noqa: E402
from elcrec_core.train.device import cpu_model  # noqa: E402
from elcrec_core.train.loop import train  # noqa: E402
from elcrec_core.train.malloc import keep_freed_memory  # noqa: E402

PAPER_BEAUTY_NDCG20 = 0.0509


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "Beauty.txt")
    p.add_argument("--preset", default=AUTO, help="auto (default: the pipeline's) or a presets.toml name")
    p.add_argument("--target", type=float, default=round(0.97 * PAPER_BEAUTY_NDCG20, 4), help="test NDCG@20")
    p.add_argument("--max-epochs", type=int, default=None, help="stop here if the target is not met (default: "
                                                                "the preset's budget)")
    p.add_argument("--precision", default="fp32")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--out", type=Path, default=REPO / "runs" / "time_to_quality")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    keep_freed_memory()
    seqs = read_sequence_file(args.data)
    fixed = {"seed": args.seed, "precision": args.precision, "device": "cpu"}
    exp = auto_experiment(seqs, {}, fixed) if args.preset == AUTO else merge_overrides(
        load_preset(args.preset), {}, fixed)
    budget = args.max_epochs or exp.train.epochs
    shutil.rmtree(args.out, ignore_errors=True)
    wall, reached, epochs_run, test = 0.0, None, 0, {}
    for epochs in range(1, budget + 1):
        exp.train.epochs = epochs
        start = time.perf_counter()
        result = train(seqs, exp, args.out, resume=True, log=lambda _line: None)
        wall += time.perf_counter() - start
        if len(result.history) < epochs:  # early stopping or the step budget ended training
            break
        epochs_run, test = epochs, result.test
        row = result.history[-1]
        print(f"epoch {epochs - 1}: valid NDCG@20 {row['valid_NDCG@20']:.4f} | best epoch {result.best_epoch}: "
              f"test NDCG@20 {test['NDCG@20']:.4f} HR@20 {test['HR@20']:.4f} | wall {wall:.1f} s", flush=True)
        if test["NDCG@20"] >= args.target:
            reached = wall
            break
    summary = {
        "data": args.data.name, "preset": args.preset, "target_test_NDCG@20": args.target,
        "reached_after_s": None if reached is None else round(reached, 1), "epochs": epochs_run,
        "test": test, "wall_s": round(wall, 1), "settings": exp.to_dict(),
        "cpu": cpu_model(), "threads": args.threads,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    print(json.dumps(summary))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if reached is not None else 1


if __name__ == "__main__":
    raise SystemExit(main())
