"""ELCRec's parts against its own SASRec ablation, on several data sets, with bootstrap intervals.

Each run is a preset plus overrides (ModelConfig and TrainConfig fields) trained on one data set; its per-user
validation and test ranks are kept, so the table shows HR@20 and NDCG@20 with 95% percentile-bootstrap
intervals over the users, and the paired difference of NDCG@20 to a reference run of the same data (by default
the run named ``sasrec``: the same preset with cf_weight = intent_cf_weight = trade_off = 0). Choose on the
validation columns; the test columns are for the report.

Resumable: a run whose ``result.json`` exists is not trained again (``--force`` retrains). Runs go to
``--out``/<data>/<name>/, which must stay out of git (runs/ is ignored).

    python benchmarks/ablation_study.py --data ml-100k --grid diagnosis --epochs 12 --jobs 2
    python benchmarks/ablation_study.py --data ml-100k --run 'cos:{"cl_similarity": "cosine", "temperature": 0.2}'
    python benchmarks/ablation_study.py --data ml-100k --table

Quote the CPU and the load with any wall time: the machine is shared.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from elcrec_core.cli.data_loading import load
from elcrec_core.cli.data_options import DataOptions
from elcrec_core.config.settings import ModelConfig, load_preset, merge_overrides
from elcrec_core.data.sequences import SequenceTensors
from elcrec_core.evaluate.ranking import NonFiniteScores, evaluate_ranks
from elcrec_core.evaluate.statistics import bootstrap_mean
from elcrec_core.evaluate.ranking import per_user
from elcrec_core.train.checkpoint import load_model

SHARED = Path("/work/shared/data")
DATASETS = {
    "synthetic": ("synthetic", DataOptions()),
    "ml-100k": (str(SHARED / "ml-100k/u.data"),
                DataOptions(format="tsv", header=False, names=("user_id", "item_id", "rating", "timestamp"))),
    "beauty": (str(SHARED / "Beauty.txt"), DataOptions(format="sequence")),
    "sports": (str(SHARED / "Sports_and_Outdoors.txt"), DataOptions(format="sequence")),
}
SASREC = {"cf_weight": 0.0, "intent_cf_weight": 0.0, "trade_off": 0.0}
COSINE = {"cl_similarity": "cosine", "temperature": 0.2}
# named grids: run name -> overrides of the preset (model and train fields mixed; split by name)
GRIDS: dict[str, dict[str, dict]] = {
    "diagnosis": {
        "sasrec": SASREC,
        "elcrec": {},
        "no_seq_cl": {"cf_weight": 0.0},
        "no_intent_cl": {"intent_cf_weight": 0.0},
        "no_cluster": {"trade_off": 0.0},
        "seq_cl_only": {"intent_cf_weight": 0.0, "trade_off": 0.0},
    },
    "ideas": {
        "cos_t0.2": COSINE,
        "cos_t0.5": {"cl_similarity": "cosine", "temperature": 0.5},
        "cos_t1": {"cl_similarity": "cosine", "temperature": 1.0},
        "pooled_dot": {"seq_cl_view": "pooled"},
        "pooled_cos_t0.2": {**COSINE, "seq_cl_view": "pooled"},
        "last_cos_t0.2": {**COSINE, "seq_cl_view": "last"},
        "relative": {"aux_scale": "relative"},
        "warmup": {"aux_warmup_steps": 200},
        "centre_lr_1e-3": {"centre_lr": 1e-3},
    },
    "windows": {
        "sasrec_all": {**SASREC, "train_windows": "all"},
        "elcrec_all": {"train_windows": "all"},
        "cos_t0.2_all": {**COSINE, "train_windows": "all"},
    },
}


def split_overrides(overrides: dict) -> tuple[dict, dict]:
    model_fields = {f.name for f in dataclasses.fields(ModelConfig)}
    model = {k: v for k, v in overrides.items() if k in model_fields}
    train = {k: v for k, v in overrides.items() if k not in model_fields}
    return model, train


def run_one(data_name: str, name: str, overrides: dict, preset: str, out: Path, threads: int) -> dict:
    """Train one configuration and keep its per-user ranks; returns the result record."""
    torch.set_num_threads(threads)
    folder = out / data_name / name
    exp = merge_overrides(load_preset(preset), *split_overrides(overrides))
    path, options = DATASETS[data_name]
    seqs = load(path, dataclasses.replace(options, seed=exp.train.seed)).sequences
    folder.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    lines: list[str] = []
    with open(folder / "train.log", "w") as log:
        def write(line: str) -> None:
            lines.append(line)
            log.write(line + "\n")
            log.flush()

        from elcrec_core.train.loop import train

        result = train(seqs, exp, folder, resume=False, log=write)
    seconds = time.perf_counter() - began
    model, _ = load_model(result.checkpoint)
    data = SequenceTensors.from_sequences(seqs)
    record = {"data": data_name, "name": name, "preset": preset, "overrides": overrides,
              "best_epoch": result.best_epoch, "epochs_run": len(result.history), "seconds": round(seconds, 1),
              "epoch_seconds": float(np.median([r["train_seconds"] for r in result.history])),
              "valid": result.valid, "test": result.test, "threads": threads,
              "first_epoch": {k: v for k, v in result.history[0].items() if not k.startswith("valid")},
              "last_epoch": {k: v for k, v in result.history[-1].items() if not k.startswith("valid")}}
    for split in ("valid", "test"):
        try:  # a variant that scores some user NaN or infinite has no ranks, and the study goes on (helper-221)
            np.save(folder / f"ranks_{split}.npy", evaluate_ranks(model, data, split).numpy())
        except NonFiniteScores as err:
            record[f"no_{split}_ranks"] = str(err)
    for name_ in ("best.pt", "last.pt"):  # checkpoints are not needed for the table
        (folder / name_).unlink(missing_ok=True)
    (folder / "result.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def gradient_shares(data_name: str, preset: str, settings: dict[str, dict], batches: int = 4) -> str:
    """Per setting, at initialisation (k-means centres): each weighted loss part's value and the norm of its
    gradient over the encoder's parameters (all but the centres, which the next-item loss does not touch),
    and the cosine between the next-item gradient and the total's (mean over
    ``batches`` batches). Shows which part steers the first optimiser steps."""
    from elcrec_core.model.centres import init_centres
    from elcrec_core.model.elcrec import ELCRec
    from elcrec_core.train.batches import make_train_batch, trainable_users
    from elcrec_core.train.objective import batch_negatives, loss_parts, part_scales

    lines = ["| setting | part | weighted value | weighted gradient norm | cos(rec grad, total grad) |",
             "|---|---|---|---|---|"]
    for label, overrides in settings.items():
        exp = merge_overrides(load_preset(preset), *split_overrides(overrides))
        cfg = exp.train
        path, options = DATASETS[data_name]
        seqs = load(path, dataclasses.replace(options, seed=cfg.seed)).sequences
        data = SequenceTensors.from_sequences(seqs)
        torch.manual_seed(cfg.seed)
        model = ELCRec(exp.model_config(seqs.n_items))
        users = trainable_users(data)
        init_centres(model, data, users, cfg)
        generator = torch.Generator().manual_seed(cfg.seed)
        stats: dict[str, list] = {}
        for users_b in users[torch.randperm(len(users), generator=generator)].split(cfg.batch_size)[:batches]:
            batch = make_train_batch(data, users_b, model.cfg.max_len, cfg, generator, batch_negatives(cfg),
                                     cfg.n_negatives)
            parts = loss_parts(model, batch, cfg)
            params = [p for n, p in model.named_parameters() if n != "centres"]
            grads = {}
            scales = part_scales(parts, cfg)  # as the joint loss weighs them
            for name, value in parts.items():
                scale = float(scales[name])
                g = torch.autograd.grad(scale * value, params, retain_graph=True, allow_unused=True)
                grads[name] = torch.cat([(x if x is not None else torch.zeros_like(p)).flatten()
                                         for x, p in zip(g, params)])
                stats.setdefault(name, []).append((scale * value.item(), grads[name].norm().item()))
            total = sum(grads.values())
            stats.setdefault("cos", []).append(torch.nn.functional.cosine_similarity(grads["rec"], total, 0).item())
        cos = np.mean(stats.pop("cos"))
        for name, rows in stats.items():
            value, norm = np.mean(rows, 0)
            lines.append(f"| {label} | {name} | {value:.3f} | {norm:.4f} | {cos:.3f} |")
    return "\n".join(lines)


def interval(values: np.ndarray) -> str:
    i = bootstrap_mean(values, n_boot=1000)
    return f"{i.estimate:.4f} [{i.low:.4f}, {i.high:.4f}]"


def table(out: Path, data_name: str, reference: str) -> str:
    rows = []
    folder = out / data_name
    ref_ranks = {s: np.load(folder / reference / f"ranks_{s}.npy") for s in ("valid", "test")} \
        if all((folder / reference / f"ranks_{s}.npy").exists() for s in ("valid", "test")) else None
    header = ("| run | overrides | best ep / run | valid NDCG@20 | valid ΔNDCG@20 vs ref | test HR@20 | "
              "test NDCG@20 | test ΔNDCG@20 vs ref | s/epoch |")
    rows.append(header)
    rows.append("|---" * (header.count("|") - 1) + "|")
    results = sorted((json.loads(p.read_text()) for p in folder.glob("*/result.json")), key=lambda r: r["name"])
    for r in results:
        d = folder / r["name"]
        cells = {}
        for split in ("valid", "test"):
            if not (d / f"ranks_{split}.npy").exists():  # NaN or infinite scores
                cells.update({f"{split}_{part}": "no figure" for part in ("hr", "ndcg", "diff")})
                continue
            ranks = np.load(d / f"ranks_{split}.npy")
            hr, ndcg = per_user(torch.from_numpy(ranks), 20).values()
            cells[f"{split}_hr"], cells[f"{split}_ndcg"] = interval(hr), interval(ndcg)
            if ref_ranks is not None and r["name"] != reference:
                cells[f"{split}_diff"] = interval(ndcg - per_user(torch.from_numpy(ref_ranks[split]), 20)["NDCG@20"])
            else:
                cells[f"{split}_diff"] = "-"
        rows.append(f"| {r['name']} | `{json.dumps(r['overrides'])}` | {r['best_epoch']} / {r['epochs_run']} | "
                    f"{cells['valid_ndcg']} | {cells['valid_diff']} | {cells['test_hr']} | {cells['test_ndcg']} | "
                    f"{cells['test_diff']} | {r['epoch_seconds']:.1f} |")
    return "\n".join(rows)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", choices=sorted(DATASETS), required=True)
    p.add_argument("--preset", default="synthetic")
    p.add_argument("--grid", action="append", default=[], choices=sorted(GRIDS))
    p.add_argument("--run", action="append", default=[], help="NAME:JSON overrides (repeatable)")
    p.add_argument("--common", default="{}", help="JSON overrides for every run of this call (e.g. epochs)")
    p.add_argument("--epochs", type=int, help="shorthand: epochs and patience")
    p.add_argument("--out", type=Path, default=Path("runs/ablation"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--jobs", type=int, default=1, help="runs side by side (each with --threads)")
    p.add_argument("--reference", default="sasrec")
    p.add_argument("--force", action="store_true")
    p.add_argument("--table", action="store_true", help="only print the table")
    p.add_argument("--gradients", action="store_true", help="only the gradient shares at initialisation of "
                   "the --run settings (or elcrec, cosine, SASRec)")
    p.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one configuration (JSON) in this process
    args = p.parse_args()
    if args.one:
        spec = json.loads(args.one)
        record = run_one(args.data, spec["name"], spec["overrides"], args.preset, args.out, args.threads)
        print(json.dumps({k: record[k] for k in ("name", "best_epoch", "seconds", "valid", "test")}))
        return 0
    if args.gradients:
        torch.set_num_threads(args.threads)
        settings = {n: json.loads(r or "{}") for n, _, r in (s.partition(":") for s in args.run)} or \
            {"elcrec": {}, "cos_t0.2": COSINE}
        print(gradient_shares(args.data, args.preset, settings))
        return 0
    common = json.loads(args.common)
    if args.epochs:
        common = {"epochs": args.epochs, "patience": args.epochs, **common}
    runs: dict[str, dict] = {}
    for grid in args.grid:
        runs.update(GRIDS[grid])
    for spec in args.run:
        name, _, raw = spec.partition(":")
        runs[name] = json.loads(raw or "{}")
    todo = [(n, {**common, **o}) for n, o in runs.items()
            if args.force or not (args.out / args.data / n / "result.json").exists()]
    running: list[tuple[str, subprocess.Popen]] = []
    while todo or running:
        while todo and len(running) < args.jobs:
            name, overrides = todo.pop(0)
            cmd = [sys.executable, __file__, "--data", args.data, "--preset", args.preset, "--out", str(args.out),
                   "--threads", str(args.threads), "--one", json.dumps({"name": name, "overrides": overrides})]
            print(f"start {name}: {json.dumps(overrides)}", flush=True)
            (args.out / args.data / name).mkdir(parents=True, exist_ok=True)
            log = open(args.out / args.data / name / "stdout.log", "w")
            running.append((name, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)))
        time.sleep(2)
        for name, proc in list(running):
            if proc.poll() is not None:
                running.remove((name, proc))
                print(f"done {name}: exit {proc.returncode}", flush=True)
    if (args.out / args.data).exists():
        print(table(args.out, args.data, args.reference))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
