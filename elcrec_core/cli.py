"""The ``elcrec`` command: train, evaluate, recommend, show sequences, roll the serving model back, and write
the synthetic data set."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import torch

from elcrec_core.checkpoint import CheckpointError
from elcrec_core.cli_data import FORMAT_CHOICES, SYNTHETIC, DataOptions, LoadedData, load
from elcrec_core.config import ExperimentConfig, load_preset, merge_overrides, preset_names
from elcrec_core.data_settings import AUTO, BASE_PRESET, auto_experiment, preset_experiment
from elcrec_core.model_store import ModelRecord, ModelStore
from elcrec_core.runtime import keep_freed_memory
from elcrec_core.sequences import ITEM_INDEX_FILE, Sequences, write_item_index_file


def load_data_with_ids(path: str, fmt: str | None = None, seed: int = 0) -> tuple[Sequences, np.ndarray | None]:
    """Sequences from ``path`` (see :func:`elcrec_core.cli_data.load`; ``fmt`` None guesses it) and the item id
    of each index (``ids[i - 1]``), or None where the integer ids of a sequence file are the indices."""
    data = load(path, DataOptions(format=fmt, seed=seed))
    return data.sequences, data.item_ids


def data_options(args: argparse.Namespace, seed: int = 0) -> DataOptions:
    return DataOptions(
        format=args.format, user_column=args.user_column, item_column=args.item_column,
        timestamp_column=args.timestamp_column, timestamp_format=args.timestamp_format, delimiter=args.delimiter,
        header=not args.no_header, names=tuple(args.names.split(",")) if args.names else None,
        k_core=args.k_core, seed=seed,
    )


def load_data(args: argparse.Namespace, seed: int = 0, report: bool = True) -> LoadedData:
    """``--data`` read with the data options; what was read, and the rejected rows, go to stderr."""
    data = load(args.data, data_options(args, seed))
    if report:
        for line in data.describe():
            print(line, file=sys.stderr, flush=True)
    return data


def build_config(args: argparse.Namespace, seqs: Sequences | None = None) -> ExperimentConfig:
    """The settings of ``--config`` or ``--preset`` with the options given over them. Preset ``auto`` derives
    its settings from ``seqs``; before the data is read (None) it is its base preset, whose seed and device
    are auto's."""
    model = {"n_layers": args.layers, "n_intents": args.intents, "hidden": args.hidden, "max_len": args.max_len}
    train = {
        "epochs": args.epochs, "patience": args.patience, "batch_size": args.batch_size, "lr": args.lr,
        "rec_loss": args.rec_loss, "trade_off": args.trade_off, "prototype": args.prototype,
        "cf_weight": args.cf_weight, "intent_cf_weight": args.intent_cf_weight, "seed": args.seed,
        "device": args.device, "precision": args.precision, "centre_init": args.centre_init,
        "n_negatives": args.negatives,
    }
    if args.config:
        return merge_overrides(ExperimentConfig.from_dict(json.loads(Path(args.config).read_text())), model, train)
    preset = BASE_PRESET if args.preset == AUTO and seqs is None else args.preset
    return preset_experiment(preset, seqs, model, train, log=lambda line: print(line, file=sys.stderr, flush=True))


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
        data = load_data(args, seed=exp.train.seed, report=main_rank)
        seqs, item_ids = data.sequences, data.item_ids
        if args.preset == AUTO and not args.config:
            exp = build_config(args, seqs)
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

    data = load_data(args)
    seqs, item_ids = data.sequences, data.item_ids
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


def cmd_baselines(args: argparse.Namespace) -> int:
    import tempfile

    from elcrec_core.baselines import EASE_LAMBDAS, SASRec, compare
    from elcrec_core.sequences import SequenceTensors

    overrides = {"epochs": args.epochs, "seed": args.seed, "device": args.device}
    exp = load_preset(BASE_PRESET if args.preset == AUTO else args.preset) if args.preset else ExperimentConfig()
    exp = merge_overrides(exp, {}, overrides)
    try:
        lambdas = tuple(float(value) for value in args.lambdas.split(",")) if args.lambdas else EASE_LAMBDAS
    except ValueError:
        lambdas = ()
    if not lambdas or not all(lam > 0 for lam in lambdas):
        raise ValueError(f"--lambdas: comma-separated numbers > 0, not {args.lambdas!r}")
    data = load_data(args, seed=exp.train.seed)
    seqs = data.sequences

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    if args.preset == AUTO:
        exp = auto_experiment(seqs, {}, overrides, log)

    log(f"data: {len(seqs)} users, {seqs.n_items} items, {len(seqs.items)} interactions")
    with tempfile.TemporaryDirectory(prefix="elcrec-sasrec-") as tmp:
        sasrec = None if args.no_sasrec else SASRec(exp, args.out or tmp, log)
        results = compare(SequenceTensors.from_sequences(seqs), lambdas, sasrec, log)
    if args.json:
        print(json.dumps({name: {k: round(v, 6) for k, v in metrics.items()} for name, metrics in results.items()}))
    else:
        names = list(next(iter(results.values())))
        print(f"{'test split':14s}" + "".join(f"{name:>9s}" for name in names))
        for model, metrics in results.items():
            print(f"{model:14s}" + "".join(f"{metrics[name]:9.4f}" for name in names))
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    from elcrec_core.checkpoint import item_catalogue, load_model
    from elcrec_core.profiling import assign_user_intents
    from elcrec_core.recommend import recommend
    from elcrec_core.recommenders import load_recommender
    from elcrec_core.scoring import ELCRecRecommender
    from elcrec_core.sequences import SequenceTensors

    data = load_data(args)
    seqs, item_ids = data.sequences, data.item_ids
    matches = np.flatnonzero(seqs.user_ids.astype(str) == str(args.user))
    if len(matches) == 0:
        raise ValueError(f"user {args.user!r} is not in {args.data}")
    user = torch.as_tensor(matches[:1])
    if args.checkpoint:
        checkpoint, name, kind = args.checkpoint, str(args.checkpoint), "elcrec"
        rec = ELCRecRecommender(load_model(checkpoint)[0])
    else:  # any model may serve: a trained one, or a baseline refitted on these histories
        store, record = serving_record(args.serving)
        rec = load_recommender(store, record, SequenceTensors.from_sequences(seqs), "all")
        checkpoint = store.checkpoint(record) if record.trained else None
        name, kind = f"{record.name} ({record.kind})", record.kind
    if checkpoint is not None:
        item_ids = item_catalogue(checkpoint, rec.n_items, item_ids)
    data = SequenceTensors.from_sequences(seqs.known(rec.n_items))  # items newer than the model: left out
    items, scores = recommend(rec, data, user, k=args.k)
    intent = int(assign_user_intents(rec.model, data, user).intent[0]) if kind == "elcrec" else None
    names = [str(item_ids[i - 1]) if item_ids is not None else str(i) for i in items[0].tolist()]
    result = {"user": str(args.user), "model": name, "intent": intent,
              "history_length": int(seqs.lengths[matches[0]]),
              "items": [{"rank": r + 1, "item": item, "score": round(float(score), 6)}
                        for r, (item, score) in enumerate(zip(names, scores[0].tolist())) if math.isfinite(score)]}
    if args.json:
        print(json.dumps(result))
    else:
        about = f"intent {intent}, " if intent is not None else ""
        print(f"user {result['user']} ({about}{result['history_length']} items of history; model {name})")
        for row in result["items"]:
            print(f"{row['rank']:3d}. {row['item']}  {row['score']:.4f}")
    return 0


def serving_record(data_dir: str) -> tuple[ModelStore, ModelRecord]:
    """The model store of the pipeline's data folder ``data_dir`` and the record of the model that serves;
    raises FileNotFoundError when none serves."""
    store = ModelStore(data_dir)
    serving = store.serving()
    if serving is None:
        raise FileNotFoundError(f"no model serves in {store.models} (no aliases.json): run the pipeline first")
    return store, serving


def cmd_rollback(args: argparse.Namespace) -> int:
    store = ModelStore(args.data_dir)
    try:
        rolled_back_from = store.serving()
        serving = store.rollback(args.reason)
    except LookupError as exc:
        raise FileNotFoundError(str(exc)) from None
    result = {"serving": serving.name, "previous": rolled_back_from.name if rolled_back_from else None}
    print(json.dumps(result) if args.json else f"serving {serving.name} again (previous: {result['previous']})")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from elcrec_core.run_log import compare_runs, format_comparison

    comparison = compare_runs([Path(folder) for folder in args.runs])
    print(json.dumps(comparison) if args.json else format_comparison(comparison))
    return 0


def cmd_sequences(args: argparse.Namespace) -> int:
    data = load_data(args)
    seqs = data.sequences
    users = seqs.user_ids.astype(str)
    if args.user:
        wanted = list(dict.fromkeys(str(u) for u in args.user))
        where = {u: n for n, u in enumerate(users)}
        if missing := [u for u in wanted if u not in where]:
            raise ValueError(f"user {missing[0]!r} is not in {args.data}")
        chosen = [where[u] for u in wanted]
    else:
        chosen = range(len(seqs))
    try:
        for n in chosen:
            items = data.item_names(seqs.items[seqs.offsets[n]:seqs.offsets[n + 1]])
            if args.json:
                line = json.dumps({"user": users[n], "items": items}, ensure_ascii=False)
            else:
                count = f"{len(items)} item{'' if len(items) == 1 else 's'}"
                line = f"{_shown(users[n])} ({count}): " + " ".join(_shown(i) for i in items)
            sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # elcrec sequences ... | head
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _shown(item: str) -> str:
    """An id as it is, or JSON-quoted where it is empty or holds whitespace or quotes."""
    return item if item and not any(c.isspace() or c in "\"'" for c in item) else json.dumps(item, ensure_ascii=False)


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
    add_data_options(t, "data file, folder or glob, or 'synthetic' (default)", default=SYNTHETIC)
    t.add_argument("--out", required=True, help="output folder (checkpoints, best.pt)")
    base = t.add_mutually_exclusive_group()
    base.add_argument("--preset", choices=[*preset_names(), AUTO], default=AUTO,
                      help="auto (the default, as the pipeline): general with settings derived from the data; or "
                           "named settings from presets.toml (beauty, sports, toys, yelp: the paper's)")
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
    add_data_options(e, "data file, folder or glob")
    e.add_argument("--checkpoint", required=True, help="an elcrec checkpoint or the reference state dict")
    e.add_argument("--split", choices=["test", "valid"], default="test")
    e.add_argument("--device", default="auto")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=cmd_evaluate)

    c = sub.add_parser("baselines", help="test-split HR@K / NDCG@K of the baselines: most popular, item "
                                         "transitions, EASE and SASRec (ELCRec without its intent parts)")
    add_data_options(c, "data file, folder or glob, or 'synthetic'")
    c.add_argument("--preset", choices=[*preset_names(), AUTO], help="settings of the SASRec run (as elcrec train)")
    c.add_argument("--epochs", type=int, help="SASRec's epoch budget")
    c.add_argument("--seed", type=int, help="SASRec's seed (and the synthetic data's)")
    c.add_argument("--device", help="SASRec's device: auto (the default), cpu, cuda, ...")
    c.add_argument("--out", help="folder for SASRec's checkpoints (default: a temporary folder)")
    c.add_argument("--no-sasrec", action="store_true", help="leave SASRec out (the one baseline that trains)")
    c.add_argument("--lambdas", help="EASE's L2 weights, comma-separated, to choose from on the valid split "
                                     "(default 10,50,100,200,500,1000)")
    c.add_argument("--json", action="store_true", help="print one JSON object {model: {metric: value}}")
    c.set_defaults(func=cmd_baselines)

    r = sub.add_parser("recommend", help="top-K items for one user, from a stored model")
    model = r.add_mutually_exclusive_group(required=True)
    model.add_argument("--checkpoint", help="a model's best.pt")
    model.add_argument("--serving", metavar="DATA_DIR", help="the model that serves in the pipeline's data folder")
    add_data_options(r, "the user's history: the pipeline's sequences.parquet, or any data file")
    r.add_argument("--user", required=True, help="the user id as in the data")
    r.add_argument("--k", type=int, default=20)
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_recommend)

    q = sub.add_parser("sequences", help="show the sequences the model sees: each user's items in time order")
    add_data_options(q, "data file, folder or glob")
    q.add_argument("--user", action="append", help="only this user (the id as in the data; may repeat)")
    q.add_argument("--json", action="store_true", help='one JSON object a line: {"user": ..., "items": [...]}')
    q.set_defaults(func=cmd_sequences)

    b = sub.add_parser("rollback", help="serve the pipeline's previous model again (a second rollback undoes it)")
    b.add_argument("--data-dir", default=os.environ.get("ELCREC_DATA_DIR", "data"),
                   help="the pipeline's data folder (default: $ELCREC_DATA_DIR, else data)")
    b.add_argument("--reason", default="rollback (elcrec rollback)", help="kept in models/serving_log.jsonl")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_rollback)

    m = sub.add_parser("compare", help="training runs side by side: the settings that differ, best epoch, time, "
                                       "valid and test HR@K / NDCG@K (from each run's config.json and metrics.json)")
    m.add_argument("runs", nargs="+", metavar="RUN_DIR",
                   help="a training run's folder: elcrec train --out, or a pipeline model folder models/<day>/<run id>")
    m.add_argument("--json", action="store_true", help='{"runs": [...], "settings": {...}, "metrics": {...}}')
    m.set_defaults(func=cmd_compare)

    s = sub.add_parser("synth", help="write the synthetic events (CSV or Parquet)")
    s.add_argument("--out", required=True)
    s.add_argument("--users", type=int, default=5000)
    s.add_argument("--items", type=int, default=1000)
    s.add_argument("--intents", type=int, default=8)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_synth)
    return p


def add_data_options(p: argparse.ArgumentParser, data_help: str, default: str | None = None) -> None:
    g = p.add_argument_group("data", "--data is read as the pipeline reads it: its readers and row rules (the "
                                     "counts go to stderr), events ordered by time, ids as text")
    g.add_argument("--data", required=default is None, default=default, help=data_help)
    g.add_argument("--format", choices=FORMAT_CHOICES, default="auto",
                   help="auto (default: from the name or the first line); sequence: the benchmark lines 'user "
                        "item item ...'; csv, tsv, jsonl: events; parquet: events, or the pipeline's "
                        "sequences.parquet (columns user_id, items); sequences and events: earlier names "
                        "(events: csv, tsv, jsonl or parquet by the name)")
    g.add_argument("--user-column", help="column of the user id (default user_id)")
    g.add_argument("--item-column", help="column of the item id (default item_id)")
    g.add_argument("--timestamp-column", help="column of the time (default timestamp; none: no times, events "
                                              "keep the file's order)")
    g.add_argument("--timestamp-format", choices=["epoch_s", "epoch_ms", "iso8601"],
                   help="default: detected from the first rows")
    g.add_argument("--delimiter", help="field delimiter of csv/tsv (one character; \\t or tab for a tab)")
    g.add_argument("--no-header", action="store_true", help="the first line is data (columns column0, column1, "
                                                            "... unless --names)")
    g.add_argument("--names", help="comma-separated column names of a file without a header (implies --no-header)")
    g.add_argument("--k-core", type=int, default=0, help="keep only users and items with at least K events, "
                                                         "as the pipeline can (default 0: off)")


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
