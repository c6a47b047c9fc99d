"""Train a few epochs of ELCRec on Beauty on the best device (CUDA with bf16 autocast where present, else CPU)
and print epoch time and sequences/s, then serve from the model on that device as the pipeline does (top-20
recommendations and intents of 2,048 users); the same script runs unchanged on CPU.

Usage: .venv/bin/python benchmarks/gpu_check.py [--epochs 3] [--data ../shared/data/Beauty.txt] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from elcrec_core.config.settings import load_preset
from elcrec_core.data.sequences import SequenceTensors, read_sequence_file
from elcrec_core.evaluate.ranking import evaluate
from elcrec_core.evaluate.scoring import ELCRecRecommender
from elcrec_core.intents.profiles import assign_user_intents
from elcrec_core.model.centres import init_centres
from elcrec_core.model.elcrec import ELCRec
from elcrec_core.serve.recommend import recommend
from elcrec_core.train.batches import trainable_users
from elcrec_core.train.device import select_device, uses_bf16
from elcrec_core.train.loop import train_epoch
from elcrec_core.train.malloc import keep_freed_memory


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data/Beauty.txt")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    p.add_argument("--json")
    args = p.parse_args()
    keep_freed_memory()
    exp = load_preset("beauty")
    cfg = exp.train
    cfg.precision = args.precision
    device = select_device("auto")
    seqs = read_sequence_file(args.data)
    data = SequenceTensors.from_sequences(seqs)
    eval_data = SequenceTensors.from_sequences(seqs, device)
    users = trainable_users(data)
    torch.manual_seed(cfg.seed)
    model = ELCRec(exp.model_config(seqs.n_items)).to(device)
    t0 = time.perf_counter()
    init_centres(model, data, users, cfg)
    kmeans_s = time.perf_counter() - t0
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=cfg.betas)
    generator = torch.Generator().manual_seed(cfg.seed)
    rows = []
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        losses = train_epoch(model, optimizer, data, users, cfg, generator, device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        valid = evaluate(model, eval_data, "valid")
        valid_s = time.perf_counter() - t0
        rows.append({"epoch": epoch, "train_s": train_s, "seq_per_s": len(users) / train_s, "valid_s": valid_s,
                     "loss": losses["loss"], "valid_NDCG@20": valid["NDCG@20"]})
        print(f"epoch {epoch}: {train_s:.2f}s train ({len(users) / train_s:,.0f} seq/s), {valid_s:.2f}s valid, "
              f"loss {losses['loss']:.4f}, valid NDCG@20 {valid['NDCG@20']:.4f}", flush=True)
    t0 = time.perf_counter()
    served = torch.arange(min(2048, len(seqs)))
    items, scores = recommend(ELCRecRecommender(model), data, served, k=20)
    intents = assign_user_intents(model, seqs, served)
    serve_s = time.perf_counter() - t0
    print(f"served {len(served)} users on {device}: {serve_s:.2f}s, top-20 finite {bool(scores.isfinite().all())}, "
          f"{len(set(intents.intent.tolist()))} intents", flush=True)
    name = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "cpu"
    precision = "bf16 autocast" if uses_bf16(device, cfg.precision) else "fp32"
    summary = {"device": name, "torch": torch.__version__, "precision": precision, "kmeans_s": kmeans_s,
               "epochs": rows, "serve_s": serve_s}
    print(json.dumps(summary))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(summary, fh, indent=2)


if __name__ == "__main__":
    main()
