"""The ``elcrec`` subcommands, one function each: train, evaluate, baselines, recommend, rollback, compare,
sequences and synth. Each takes the parsed arguments and returns the exit code."""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
from pathlib import Path

import numpy as np
import torch

from elcrec_core.cli.arguments import build_config, load_data
from elcrec_core.cli.data_options import SYNTHETIC
from elcrec_core.config.settings import load_preset, merge_overrides
from elcrec_core.data.sequences import ITEM_INDEX_FILE, write_item_index_file
from elcrec_core.serve.model_store import ModelRecord, ModelStore
from elcrec_core.train.auto_preset import AUTO, BASE_PRESET, auto_experiment


def cmd_train(args: argparse.Namespace) -> int:
    from elcrec_core.train import distributed
    from elcrec_core.train.launch import train_distributed
    from elcrec_core.train.loop import train

    if args.threads:
        torch.set_num_threads(args.threads)
    exp = build_config(args)
    with distributed.process_group(exp.train.device):  # under torchrun (several machines): every rank runs this
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
        log = lambda line: print(line, flush=True)  # noqa: E731
        if args.nproc > 1 and not distributed.launched():
            result = train_distributed(args.nproc, seqs, exp, args.out, log, resume=not args.fresh,
                                       init_from=args.init_from, threads=args.threads)
        else:
            result = train(seqs, exp, args.out, resume=not args.fresh, log=log, init_from=args.init_from)
        if main_rank:
            print(json.dumps({"best_epoch": result.best_epoch, "valid": result.valid, "test": result.test,
                              "checkpoint": str(result.checkpoint), "seconds": round(result.seconds, 1)}))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from elcrec_core.data.sequences import SequenceTensors
    from elcrec_core.evaluate.ranking import evaluate
    from elcrec_core.train.checkpoint import load_model, onto_catalogue
    from elcrec_core.train.device import select_device

    data = load_data(args, seed=synthetic_seed(args))
    model, _ = load_model(args.checkpoint)
    seqs, _ = onto_catalogue(args.checkpoint, model.cfg.n_items, data.sequences, data.item_ids)
    if seqs.n_items > model.cfg.n_items:  # new items: the evaluator misses their targets and leaves them out of inputs
        print(f"{args.data}: {seqs.n_items - model.cfg.n_items} of its {seqs.n_items} items are newer than the "
              "checkpoint: their targets count as misses and the inputs leave them out", file=sys.stderr)
    device = select_device(args.device)
    model.to(device)
    metrics = evaluate(model, SequenceTensors.from_sequences(seqs, device), args.split)
    if args.json:
        print(json.dumps(_rounded(metrics)))
    else:
        print(f"{args.split} split: full ranking over {seqs.n_items} items, history excluded")
        for name, value in metrics.items():
            print(f"{name:8s} {value:.4f}")
    return 0


def cmd_baselines(args: argparse.Namespace) -> int:
    import tempfile

    from elcrec_core.data.sequences import SequenceTensors
    from elcrec_core.evaluate.baselines import EASE_LAMBDAS, SASRec, compare

    overrides = {"epochs": args.epochs, "seed": args.seed, "device": args.device}
    exp = load_preset(BASE_PRESET if args.preset == AUTO else args.preset)
    exp = merge_overrides(exp, {}, overrides)
    try:
        lambdas = tuple(float(value) for value in args.lambdas.split(",")) if args.lambdas else EASE_LAMBDAS
    except ValueError:
        lambdas = ()
    if not lambdas or not all(0 < lam < math.inf for lam in lambdas):
        raise ValueError(f"--lambdas: comma-separated finite numbers > 0, not {args.lambdas!r}")
    data = load_data(args, seed=exp.train.seed)
    seqs = data.sequences

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    if args.preset == AUTO and not args.no_sasrec:  # the baselines need no training settings
        exp = auto_experiment(seqs, {}, overrides, log)

    log(f"data: {len(seqs)} users, {seqs.n_items} items, {len(seqs.items)} interactions")
    with tempfile.TemporaryDirectory(prefix="elcrec-sasrec-") as tmp:
        sasrec = None if args.no_sasrec else SASRec(exp, args.out or tmp, log)
        results = compare(SequenceTensors.from_sequences(seqs), lambdas, sasrec, log)
    if args.json:
        print(json.dumps({name: _rounded(metrics) for name, metrics in results.items()}))
    else:
        names = list(next(iter(results.values())))
        print(f"{'test split':14s}" + "".join(f"{name:>9s}" for name in names))
        for model, metrics in results.items():
            print(f"{model:14s}" + "".join(f"{metrics[name]:9.4f}" for name in names))
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    from elcrec_core.data.sequences import SequenceTensors
    from elcrec_core.evaluate.scoring import ELCRecRecommender
    from elcrec_core.intents.profiles import NO_INTENT, assign_user_intents
    from elcrec_core.serve.recommend import recommend
    from elcrec_core.serve.recommenders import load_recommender
    from elcrec_core.train.checkpoint import load_model, onto_catalogue

    data = load_data(args, seed=synthetic_seed(args))
    seqs, item_ids = data.sequences, data.item_ids
    matches = np.flatnonzero(seqs.user_ids.astype(str) == str(args.user))
    if len(matches) == 0:
        raise ValueError(f"user {args.user!r} is not in {args.data}")
    user = torch.as_tensor(matches[:1])
    if args.checkpoint:
        checkpoint, name = args.checkpoint, str(args.checkpoint)
        model, payload = load_model(checkpoint)
        rec = ELCRecRecommender(model)
        intent_model = model if _learned_intents(payload) else None  # not a SASRec: its centres never trained
    else:  # any model may serve: a trained one, or a baseline refitted on these histories
        store, record = serving_record(args.serving)
        rec = load_recommender(store, record, SequenceTensors.from_sequences(seqs), "all")
        checkpoint = store.checkpoint(record) if record.trained else None
        name = f"{record.name} ({record.kind})"
        intent_record = store.intent_model(record.day)  # the intents the pipeline shows
        intent_model = load_model(store.checkpoint(intent_record))[0] if intent_record is not None else None
    if checkpoint is not None:  # the data's items as the model numbers them
        seqs, item_ids = onto_catalogue(checkpoint, rec.n_items, seqs, item_ids)
    data = SequenceTensors.from_sequences(seqs.known(rec.n_items))  # items newer than the model: left out
    items, scores = recommend(rec, data, user, k=args.k)
    intent = int(assign_user_intents(intent_model, seqs, user).intent[0]) if intent_model is not None else None
    names = [str(item_ids[i - 1]) if item_ids is not None else str(i) for i in items[0].tolist()]
    result = {"user": str(args.user), "model": name, "intent": None if intent == NO_INTENT else intent,
              "history_length": int(seqs.lengths[matches[0]]),
              "items": [{"rank": r + 1, "item": item, "score": round(float(score), 6)}
                        for r, (item, score) in enumerate(zip(names, scores[0].tolist())) if math.isfinite(score)]}
    if args.json:
        print(json.dumps(result))
    else:
        about = {None: "", NO_INTENT: "no intent: no item the intent model knows, "}.get(intent, f"intent {intent}, ")
        items_word = "item" if result["history_length"] == 1 else "items"
        print(f"user {result['user']} ({about}{result['history_length']} {items_word} of history; model {name})")
        for row in result["items"]:
            print(f"{row['rank']:3d}. {row['item']}  {row['score']:.4f}")
    return 0


def synthetic_seed(args: argparse.Namespace) -> int:
    """The seed of ``--data synthetic`` for a ``--checkpoint``: the one its run trained with, which generated the
    synthetic data it was trained on (0 for the authors' checkpoints, or without a checkpoint)."""
    if args.data != SYNTHETIC or not getattr(args, "checkpoint", None):
        return 0
    from elcrec_core.train.checkpoint import load_checkpoint

    return int(load_checkpoint(args.checkpoint).get("config", {}).get("train", {}).get("seed", 0))


def _learned_intents(payload: dict) -> bool:
    """Whether a checkpoint's model trained its intent centres (the authors' checkpoints did; SASRec, all intent
    losses off, did not)."""
    from elcrec_core.config.settings import ExperimentConfig
    from elcrec_core.train.objective import uses_centres

    return "config" not in payload or uses_centres(ExperimentConfig.from_dict(payload["config"]).train)


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
    result = {"serving": serving.name, "previous": rolled_back_from.name if rolled_back_from else None,
              "refresh": refresh_command(Path(args.data_dir))}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"serving {serving.name} again (previous: {result['previous']})")
        if result["refresh"]:
            print(f"the tables user_recommendations, user_intents and intent_profiles still hold what "
                  f"{result['previous']} served, until the next run; to serve {serving.name}'s now:\n  "
                  f"{result['refresh']}")
    return 0


def refresh_command(data_dir: Path) -> str | None:
    """The command that recomputes the served tables (user_recommendations, user_intents, intent_profiles) of
    the pipeline's data folder ``data_dir`` for its newest day with sequences, from the model that serves now; None
    where no day has sequences. It names the environment the pipeline's runs need: the data folder, the first
    day of the partitions (``ELCREC_START_DATE`` as set here, else the folder's oldest day, so that the day is a
    partition) and ``DAGSTER_HOME`` where it is set (its pools keep the warehouse's writers one at a time, and the
    UI shows the run)."""
    from elcrec_core.data.sequences import sequence_day_folders

    days = [folder.name for folder in sequence_day_folders(data_dir)]
    if not days:
        return None
    beside = Path(sys.executable).parent / "dagster"  # the dagster of this environment
    dagster = str(beside) if beside.exists() else "dagster"
    env = {"DAGSTER_HOME": os.environ.get("DAGSTER_HOME"), "ELCREC_DATA_DIR": str(data_dir.resolve()),
           "ELCREC_START_DATE": os.environ.get("ELCREC_START_DATE") or days[0]}
    settings = " ".join(f"{name}={shlex.quote(value)}" for name, value in env.items() if value)
    return (f"{settings} {shlex.quote(dagster)} asset materialize -m elcrec_pipeline.definitions "
            f"--select user_recommendations,intent_profiles --partition {days[-1]}")


def cmd_compare(args: argparse.Namespace) -> int:
    from elcrec_core.train.run_log import compare_runs, format_comparison

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
    from elcrec_core.data.synthetic import SyntheticConfig, generate

    data = generate(SyntheticConfig(n_users=args.users, n_items=args.items, n_intents=args.intents, seed=args.seed))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        data.events.write_parquet(out)
    else:
        data.events.write_csv(out)
    print(f"wrote {len(data.events)} events of {args.users} users to {out}")
    return 0


def _rounded(metrics: dict[str, float]) -> dict[str, float | None]:
    """Metrics to 6 decimals for JSON; a NaN (a model whose scores are not finite: no figure) becomes null, which
    JSON has (``NaN`` is not JSON)."""
    return {name: round(value, 6) if math.isfinite(value) else None for name, value in metrics.items()}
