"""The ``elcrec`` subcommands, one function each: train, evaluate, baselines, compare, sequences and synth (recommend
and rollback: :mod:`elcrec_core.cli.serving`). Each takes the parsed arguments and returns the exit code."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from elcrec_core.cli.arguments import build_config, load_data
from elcrec_core.cli.data_options import SYNTHETIC
from elcrec_core.cli.split_targets import note_repeat_targets, require_targets
from elcrec_core.data.sequence_summary import counted
from elcrec_core.data.sequences import (
    ITEM_INDEX_FILE,
    Sequences,
    SequenceTensors,
    index_beside,
    read_item_index_file,
)
from elcrec_core.evaluate.score_text import ScoreFormat
from elcrec_core.train.auto_preset import AUTO
from elcrec_core.train.checkpoint import LAST
from elcrec_core.train.run_log import clear_run


def cmd_train(args: argparse.Namespace) -> int:
    from elcrec_core.train import distributed
    from elcrec_core.train.checkpoint import CheckpointError, onto_catalogue, require_checkpoint
    from elcrec_core.train.device import select_device
    from elcrec_core.train.launch import train_distributed
    from elcrec_core.train.loop import train
    from elcrec_core.train.state import load_last

    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise ValueError(f"--out {args.out} is a file: give a folder for the run's checkpoints")
    exp = build_config(args)
    # a run resumed numbers the data as it did (a warm start's catalogue), whatever --init-from says (helper-203: the
    # resume of a run warm-started from a model of other items was refused without it, and with it once it moved)
    resumed = Path(args.out) / LAST if not args.fresh and (Path(args.out) / LAST).is_file() else None
    if args.init_from and (resumed is None or Path(args.init_from).exists()):  # a wrong path: refused before the
        require_checkpoint(args.init_from)  # data is read (a resume's, gone since, is not read: helper-203)
    select_device(exp.train.device)  # and a device this machine lacks
    with distributed.process_group(exp.train.device):  # under torchrun (several machines): every rank runs this
        main_rank = distributed.is_main()
        data = load_data(args, seed=exp.train.seed, report=main_rank)
        seqs, item_ids = data.sequences, data.item_ids
        if resumed and (resumed.parent / ITEM_INDEX_FILE).is_file():  # on every rank, as the start copies rows
            n_items = load_last(resumed)["model_config"]["n_items"]  # a damaged one says how to go on (helper-206)
            try:
                seqs, item_ids = onto_catalogue(resumed, n_items, seqs, item_ids)
            except CheckpointError as err:  # of items none of which the data holds, ... (helper-206, helper-207)
                raise ValueError(f"{args.out} holds a run that cannot resume on this data ({err}): resume on the data "
                                 "it trained on, start over with --fresh, or write to another --out") from None
        elif args.init_from and not resumed:
            seqs, item_ids = _onto_init_from(args.init_from, seqs, item_ids, report=main_rank)
        if args.preset == AUTO and not args.config:
            exp = build_config(args, seqs)
        if item_ids is not None:  # on every rank: all refuse alike
            _keep_the_resumed_catalogue(Path(args.out), item_ids, resume=not args.fresh)
        if main_rank:
            if resumed is None:  # a run stopped early must not leave the old run's model, metrics or curves beside it
                clear_run(Path(args.out), Path(args.init_from) if args.init_from else None)
            print(f"data: {_data_counts(seqs)}", flush=True)
            note_repeat_targets(SequenceTensors.from_sequences(seqs), "test", data.format)  # as evaluate says it
            if item_ids is not None or resumed is None:  # evaluate and recommend check a model's catalogue by it
                index_beside(Path(args.out), item_ids)
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


def _onto_init_from(checkpoint: str, seqs: Sequences, item_ids: np.ndarray | None,
                    report: bool) -> tuple[Sequences, np.ndarray | None]:
    """The data numbered as the ``--init-from`` model numbers its items (its known items first, in its order; the
    data's new items after them), so that the warm start's row-by-row copy gives each item its own embedding: a
    data file numbers its items itself, in id order, and a new id that sorts first shifted every row.
    :func:`~elcrec_core.train.checkpoint.onto_catalogue` matches by id where the item index is beside the
    checkpoint; without one the rows are matched by position, as before (with a warning where ``report``)."""
    from elcrec_core.train.checkpoint import load_model, onto_catalogue

    if not Path(checkpoint).with_name(ITEM_INDEX_FILE).is_file():  # by position, as the warm start copies rows
        if report and item_ids is not None:
            print(f"no {ITEM_INDEX_FILE} beside {checkpoint}: the warm start gives the data's i-th item (in id order) "
                  "the model's row i, right only for data numbered as the model's training was", file=sys.stderr)
        return seqs, item_ids
    model, _ = load_model(checkpoint)
    return onto_catalogue(checkpoint, model.cfg.n_items, seqs, item_ids)


def _keep_the_resumed_catalogue(out: Path, item_ids: np.ndarray, resume: bool) -> None:
    """Before the item index of a run to resume is written again: raise ValueError when its items differ from the
    data's (the run trained on another catalogue; its checkpoints would be relabelled)."""
    index = out / ITEM_INDEX_FILE
    if not (resume and (out / LAST).is_file() and index.is_file()):
        return
    if not np.array_equal(read_item_index_file(index).astype(str), np.asarray(item_ids).astype(str)):
        raise ValueError(f"{out} holds a run on another item catalogue ({index}): resume on the data it trained "
                         "on, start over with --fresh, or write to another --out")


# items of the data beyond the checkpoint's, above this share of the data's, ask whether it is a model of other data
# (a day's new items are a few percent; Beauty's checkpoint on Sports left 34% of its items unknown, unasked)
OTHER_DATA_SHARE = 0.1


def cmd_evaluate(args: argparse.Namespace) -> int:
    from elcrec_core.evaluate.ranking import evaluate
    from elcrec_core.train.checkpoint import load_model, onto_catalogue
    from elcrec_core.train.device import select_device

    device = select_device(args.device)  # a device this machine lacks: refused before any work
    model, _ = load_model(args.checkpoint)  # a wrong path, NaN weights: refused before the data is read
    data = load_data(args, seed=synthetic_seed(args))
    seqs, _ = onto_catalogue(args.checkpoint, model.cfg.n_items, data.sequences, data.item_ids,
                             lambda line: print(line, file=sys.stderr))
    if seqs.n_items > model.cfg.n_items:  # new items: the evaluator misses their targets and leaves them out of inputs
        new, used = seqs.n_items - model.cfg.n_items, len(np.unique(seqs.items))
        print(f"{args.data}: {new} of its {used} items are beyond the checkpoint's {model.cfg.n_items} (newer than "
              "it): their targets count as misses and the inputs leave them out" + (
                  f"; that is {new / used:.0%} of them: is the checkpoint a model of other data, or read otherwise (as"
                  " without its --k-core)?" + (" Its config.json gives the numbers of users, items and interactions "
                                              "it trained on" if (Path(args.checkpoint).parent / "config.json")
                                              .is_file() else "")  # none beside the authors' (helper-237)
                  if new > OTHER_DATA_SHARE * used else ""), file=sys.stderr)
    model.to(device)
    data_tensors = SequenceTensors.from_sequences(seqs, device)
    users = require_targets(args.data, seqs, data_tensors, args.split, data.format)
    metrics = evaluate(model, data_tensors, args.split)
    if args.json:
        print(users, file=sys.stderr)
        print(json.dumps(_rounded(metrics)))
    else:
        print(f"{args.split} split: {users}; full ranking over the model's {counted(model.cfg.n_items, 'item')}, "
              "history excluded")
        for name, value in metrics.items():
            print(f"{name:8s} {value:.4f}")
    return 0


def cmd_baselines(args: argparse.Namespace) -> int:
    import tempfile

    from elcrec_core.evaluate.baselines import EASE_LAMBDAS, SASRec, compare, ease_lambdas

    exp = build_config(args)  # as elcrec train's: --preset or --config, the settings options over it
    try:
        lambdas = ease_lambdas(args.lambdas.split(",")) if args.lambdas else EASE_LAMBDAS
    except ValueError:
        raise ValueError(f"--lambdas: comma-separated finite numbers > 0, not {args.lambdas!r}") from None
    data = load_data(args, seed=exp.train.seed)
    seqs = data.sequences
    data_tensors = SequenceTensors.from_sequences(seqs)
    ranked = require_targets(args.data, seqs, data_tensors, "test", data.format)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    if args.preset == AUTO and not args.config and not args.no_sasrec:  # the baselines need no training settings
        try:
            exp = build_config(args, seqs)
        except ValueError as exc:  # SASRec cannot train here; the others may be measured all the same
            raise ValueError(f"{exc} (SASRec's; --no-sasrec measures the other baselines)") from None

    log(f"data: {_data_counts(seqs)}; the test split: {ranked}")
    if args.out and not args.no_sasrec:  # the index as elcrec train writes it: without it, evaluate and recommend
        clear_run(Path(args.out))  # matched items by position, wrong on grown data (helper-224); no earlier model
        index_beside(Path(args.out), data.item_ids)  # beside it (helper-235)
    with tempfile.TemporaryDirectory(prefix="elcrec-sasrec-") as tmp:
        sasrec = None if args.no_sasrec else SASRec(exp, args.out or tmp, log)
        results = compare(data_tensors, lambdas, sasrec, log)
    if args.json:
        print(json.dumps({name: _rounded(metrics) for name, metrics in results.items()}))
    else:
        names = list(next(iter(results.values())))
        # scores that differ print differently down a column (0.254612 and 0.254559, not 0.2546 twice: helper-281)
        column = {name: ScoreFormat.of(metrics[name] for metrics in results.values()) for name in names}
        print(f"{'test split':14s}" + "".join(f"{name:>9s}" for name in names))
        for model, metrics in results.items():
            print(f"{model:14s}" + "".join(f"{column[name](metrics[name]):>9s}" for name in names))
    return 0


def _data_counts(seqs: Sequences) -> str:
    """``2 users, 5 items, 9 interactions``: the sequences' size, as train and baselines say it."""
    return (f"{counted(len(seqs), 'user')}, {counted(seqs.n_items, 'item')}, "
            f"{counted(len(seqs.items), 'interaction')}")


def synthetic_seed(args: argparse.Namespace) -> int:
    """The seed of ``--data synthetic`` for a ``--checkpoint``: the one its run trained with, which generated the
    synthetic data it was trained on (0 for the authors' checkpoints, or without a checkpoint)."""
    if args.data != SYNTHETIC or not getattr(args, "checkpoint", None):
        return 0
    from elcrec_core.train.checkpoint import load_checkpoint

    return int(load_checkpoint(args.checkpoint).get("config", {}).get("train", {}).get("seed", 0))


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
            raise data.no_such_user(missing[0], args.data)
        chosen = [where[u] for u in wanted]
    else:
        chosen = range(len(seqs))
    for n in chosen:  # a reader that leaves (elcrec sequences ... | head): main's BrokenPipeError
        items = data.item_names(seqs.items[seqs.offsets[n]:seqs.offsets[n + 1]])
        if args.json:
            line = json.dumps({"user": users[n], "items": items}, ensure_ascii=False)
        else:
            count = counted(len(items), "event")  # an item had twice counts twice
            line = f"{shown_id(users[n])} ({count}): " + " ".join(shown_id(i) for i in items)
        sys.stdout.write(line + "\n")
    sys.stdout.flush()
    return 0


def shown_id(item: str) -> str:
    """An id as it is, or JSON-quoted where it is empty or holds whitespace or quotes (a line of ids stays
    readable: ``"has space"``, ``"tab\tin"``)."""
    return item if item and not any(c.isspace() or c in "\"'" for c in item) else json.dumps(item, ensure_ascii=False)


def cmd_synth(args: argparse.Namespace) -> int:
    from elcrec_core.cli.format_guessing import SUFFIX_FORMATS
    from elcrec_core.data.synthetic import SyntheticConfig, generate

    out = Path(args.out)
    if out.suffix.lower() in COMPRESSED_SUFFIXES:  # polars refused a .gz; a .bz2 was written as plain text
        raise ValueError(f"--out {out}: synth writes uncompressed files (the readers read no compressed file); name "
                         "it .csv, .tsv, .jsonl or .parquet")
    if out.suffix.lower() in OTHER_FORMAT_SUFFIXES:  # written as CSV under a name that promised another format
        raise ValueError(f"--out {out}: synth writes CSV, TSV, JSON Lines or Parquet, not {out.suffix} (that would be "
                         "CSV under its name): name it .csv, .tsv, .jsonl or .parquet")
    data = generate(SyntheticConfig(n_users=args.users, n_items=args.items, n_intents=args.intents, seed=args.seed))
    out.parent.mkdir(parents=True, exist_ok=True)
    fmt = SUFFIX_FORMATS.get(out.suffix.lower(), "csv")  # as the readers guess it (a .jsonl of CSV was refused)
    if fmt == "parquet":
        data.events.write_parquet(out)
    elif fmt == "jsonl":
        data.events.write_ndjson(out)
    else:
        data.events.write_csv(out, separator="\t" if fmt == "tsv" else ",")
    print(f"wrote {counted(len(data.events), 'event')} of {counted(args.users, 'user')} to {out}")
    return 0


COMPRESSED_SUFFIXES = {".gz", ".gzip", ".bz2", ".xz", ".zst", ".zstd", ".zip", ".lz4", ".7z"}
OTHER_FORMAT_SUFFIXES = {".json", ".xlsx", ".xls", ".avro", ".orc", ".feather", ".arrow", ".ipc", ".xml"}


def _rounded(metrics: dict[str, float]) -> dict[str, float | None]:
    """Metrics to 6 decimals for JSON; a NaN (a model whose scores are not finite: no figure) becomes null, which
    JSON has (``NaN`` is not JSON)."""
    return {name: round(value, 6) if math.isfinite(value) else None for name, value in metrics.items()}
