"""The ``elcrec`` command: train, evaluate, and write the synthetic data set."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

from elcrec_core.checkpoint import CheckpointError
from elcrec_core.config import ExperimentConfig, load_preset, merge_overrides, preset_names
from elcrec_core.runtime import keep_freed_memory
from elcrec_core.sequences import (
    ITEM_INDEX_FILE,
    Sequences,
    read_events_file,
    read_sequence_file,
    read_sequence_parquet,
    sequences_from_events,
    write_item_index_file,
)

SYNTHETIC = "synthetic"


def load_data_with_ids(path: str, fmt: str, seed: int = 0) -> tuple[Sequences, np.ndarray | None]:
    """Sequences from ``path`` and, where the format has them, the item id of each index (``ids[i - 1]``).
    Formats: ``sequences`` (benchmark lines: ids are the indices), ``events`` (CSV/Parquet events) and
    ``parquet`` (``sequences.parquet`` of the pipeline, with its ``item_index.parquet`` beside it)."""
    if path == SYNTHETIC:
        from elcrec_core.synthetic import SyntheticConfig, generate

        return sequences_from_events(generate(SyntheticConfig(seed=seed)).events)
    if not Path(path).exists():
        raise FileNotFoundError(f"data file {path} does not exist")
    if fmt == "sequences":
        return read_sequence_file(path), None
    if fmt == "parquet":
        return read_sequence_parquet(path)
    return sequences_from_events(read_events_file(path))


def build_config(args: argparse.Namespace) -> ExperimentConfig:
    if args.config:
        exp = ExperimentConfig.from_dict(json.loads(Path(args.config).read_text()))
    else:
        exp = load_preset(args.preset) if args.preset else ExperimentConfig()
    model = {"n_layers": args.layers, "n_intents": args.intents, "hidden": args.hidden, "max_len": args.max_len}
    train = {
        "epochs": args.epochs, "patience": args.patience, "batch_size": args.batch_size, "lr": args.lr,
        "rec_loss": args.rec_loss, "trade_off": args.trade_off, "prototype": args.prototype,
        "cf_weight": args.cf_weight, "intent_cf_weight": args.intent_cf_weight, "seed": args.seed,
        "device": args.device, "precision": args.precision, "centre_init": args.centre_init,
        "n_negatives": args.negatives,
    }
    return merge_overrides(exp, model, train)


def cmd_train(args: argparse.Namespace) -> int:
    from elcrec_core import distributed
    from elcrec_core.training import train

    if args.nproc > 1 and not distributed.launched():
        # the processes need no --nproc (and torchrun would read it as its own --nproc-per-node)
        return distributed.launch(args.nproc, without_option(args.argv, "--nproc"))
    if args.threads:
        torch.set_num_threads(args.threads)
    exp = build_config(args)
    with distributed.process_group(exp.train.device):
        main_rank = distributed.is_main()
        seqs, item_ids = load_data_with_ids(args.data, args.format, seed=exp.train.seed)
        if main_rank:
            print(f"data: {len(seqs)} users, {seqs.n_items} items, {len(seqs.items)} interactions", flush=True)
            if item_ids is not None:  # evaluate and recommend check a checkpoint's catalogue against it
                Path(args.out).mkdir(parents=True, exist_ok=True)
                write_item_index_file(Path(args.out) / ITEM_INDEX_FILE, item_ids)
        result = train(seqs, exp, args.out, resume=not args.fresh, log=lambda line: print(line, flush=True),
                       init_from=args.init_from)
        if main_rank:
            print(json.dumps({"best_epoch": result.best_epoch, "valid": result.valid, "test": result.test,
                              "checkpoint": str(result.checkpoint), "seconds": round(result.seconds, 1)}))
    return 0


def without_option(argv: list[str], name: str) -> list[str]:
    """``argv`` without the option ``name`` and its value (``name value`` or ``name=value``)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(name + "="):
            out.append(arg)
    return out


def cmd_evaluate(args: argparse.Namespace) -> int:
    from elcrec_core.checkpoint import item_catalogue, load_model
    from elcrec_core.evaluation import evaluate
    from elcrec_core.sequences import SequenceTensors
    from elcrec_core.device import select_device

    seqs, item_ids = load_data_with_ids(args.data, args.format)
    model, _ = load_model(args.checkpoint)
    item_catalogue(args.checkpoint, model.cfg.n_items, item_ids)
    if seqs.n_items > model.cfg.n_items:
        raise SystemExit(f"{args.data} has item ids up to {seqs.n_items}, the checkpoint only {model.cfg.n_items}")
    device = select_device(args.device)
    model.to(device)
    metrics = evaluate(model, SequenceTensors.from_sequences(seqs, device), args.split)
    if args.json:
        print(json.dumps({k: round(v, 6) for k, v in metrics.items()}))
    else:
        for name, value in metrics.items():
            print(f"{name:8s} {value:.4f}")
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    from elcrec_core.checkpoint import item_catalogue, load_model
    from elcrec_core.profiling import assign_user_intents
    from elcrec_core.recommend import recommend
    from elcrec_core.sequences import SequenceTensors

    seqs, item_ids = load_data_with_ids(args.data, args.format)
    model, _ = load_model(args.checkpoint)
    item_ids = item_catalogue(args.checkpoint, model.cfg.n_items, item_ids)
    matches = np.flatnonzero(seqs.user_ids.astype(str) == str(args.user))
    if len(matches) == 0:
        raise ValueError(f"user {args.user!r} is not in {args.data}")
    user = torch.as_tensor(matches[:1])
    data = SequenceTensors.from_sequences(seqs.known(model.cfg.n_items))  # items newer than the model: left out
    items, scores = recommend(model, data, user, k=args.k)
    intent = int(assign_user_intents(model, data, user).intent[0])
    names = [str(item_ids[i - 1]) if item_ids is not None else str(i) for i in items[0].tolist()]
    result = {"user": str(args.user), "intent": intent, "history_length": int(seqs.lengths[matches[0]]),
              "items": [{"rank": r + 1, "item": name, "score": round(float(score), 6)}
                        for r, (name, score) in enumerate(zip(names, scores[0].tolist())) if math.isfinite(score)]}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"user {result['user']} (intent {intent}, {result['history_length']} items of history)")
        for row in result["items"]:
            print(f"{row['rank']:3d}. {row['item']}  {row['score']:.4f}")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from elcrec_core.synthetic import SyntheticConfig, generate

    data = generate(SyntheticConfig(n_users=args.users, n_items=args.items, n_intents=args.intents, seed=args.seed))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        data.events.write_parquet(out)
    else:
        data.events.write_csv(out)
    print(f"wrote {len(data.events)} events of {args.users} users to {out}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="elcrec", description="ELCRec: intent-aware sequential recommendation")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model")
    t.add_argument("--data", default=SYNTHETIC, help="data file, or 'synthetic' (default)")
    t.add_argument("--format", choices=["sequences", "events", "parquet"], default="sequences")
    t.add_argument("--out", required=True, help="output folder (checkpoints, best.pt)")
    base = t.add_mutually_exclusive_group()
    base.add_argument("--preset", choices=preset_names(), help="named settings from presets.toml")
    base.add_argument("--config", help="settings from a JSON file, such as a model folder's config.json")
    t.add_argument("--epochs", type=int)
    t.add_argument("--patience", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--layers", type=int)
    t.add_argument("--intents", type=int)
    t.add_argument("--hidden", type=int)
    t.add_argument("--max-len", type=int)
    t.add_argument("--rec-loss", choices=["bce", "ce", "sampled_softmax"])
    t.add_argument("--negatives", type=int, help="negatives for sampled softmax")
    t.add_argument("--trade-off", type=float, help="cluster loss weight")
    t.add_argument("--cf-weight", type=float, help="sequence contrastive weight")
    t.add_argument("--intent-cf-weight", type=float, help="intent contrastive weight")
    t.add_argument("--prototype", choices=["shift", "concat"])
    t.add_argument("--centre-init", choices=["kmeans", "random"])
    t.add_argument("--seed", type=int)
    t.add_argument("--device", help="auto (the default: CUDA where present), cpu, cuda, ...")
    t.add_argument("--precision", choices=["auto", "fp32", "bf16"])
    t.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    t.add_argument("--fresh", action="store_true", help="ignore an existing last.pt instead of resuming")
    t.add_argument("--init-from", help="warm-start from this checkpoint (instead of k-means centres)")
    t.add_argument("--nproc", type=int, default=1,
                   help="train in N processes on this machine (DistributedDataParallel under torchrun; "
                        "--batch-size is per process); ignored under torchrun, which sets the processes")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="full-ranking HR@K / NDCG@K of a checkpoint")
    e.add_argument("--data", required=True)
    e.add_argument("--format", choices=["sequences", "events", "parquet"], default="sequences")
    e.add_argument("--checkpoint", required=True, help="an elcrec checkpoint or the reference state dict")
    e.add_argument("--split", choices=["test", "valid"], default="test")
    e.add_argument("--device", default="auto")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=cmd_evaluate)

    r = sub.add_parser("recommend", help="top-K items for one user, from a stored model")
    r.add_argument("--checkpoint", required=True)
    r.add_argument("--data", required=True, help="the user's history: a sequences/events file or the "
                                                 "pipeline's sequences.parquet")
    r.add_argument("--format", choices=["sequences", "events", "parquet"], default="parquet")
    r.add_argument("--user", required=True, help="the user id as in the data")
    r.add_argument("--k", type=int, default=20)
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_recommend)

    s = sub.add_parser("synth", help="write the synthetic events (CSV or Parquet)")
    s.add_argument("--out", required=True)
    s.add_argument("--users", type=int, default=5000)
    s.add_argument("--items", type=int, default=1000)
    s.add_argument("--intents", type=int, default=8)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_synth)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser().parse_args(argv)
    args.argv = argv  # for a relaunch under torchrun
    keep_freed_memory()
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, CheckpointError) as exc:
        print(f"elcrec: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
