"""The ``elcrec`` command: train, evaluate, rank the baselines, recommend, show sequences, roll the serving model
back, compare runs, and write the synthetic data set."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from elcrec_core.cli import commands, rollback, serving
from elcrec_core.cli.arguments import add_data_options
from elcrec_core.cli.data_options import SYNTHETIC
from elcrec_core.cli.settings_options import add_settings_options
from elcrec_core.cli.source_file import apply_source_file
from elcrec_core.data.warehouse_file import WarehouseDamaged, WarehouseLocked
from elcrec_core.train.checkpoint import LAST, CheckpointError
from elcrec_core.train.distributed import DistributedFailure, Terminated
from elcrec_core.train.malloc import keep_freed_memory

THREADS_HELP = ("CPU threads for torch (not given, or 0: torch's choice, as the pipeline's `threads: 0`; on cores "
                "that other work shares, 1 can be several times faster)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="elcrec", description="ELCRec: intent-aware sequential recommendation")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model")
    add_data_options(t, "data file, folder or glob, or 'synthetic'", default=SYNTHETIC)
    t.add_argument("--out", required=True, help="output folder (checkpoints, best.pt)")
    add_settings_options(t, "auto (the default, as the pipeline): general with settings derived from the data; or "
                            "named settings from presets.toml (beauty, sports, toys, yelp: the paper's)")
    t.add_argument("--threads", type=at_least(0), help=THREADS_HELP)
    t.add_argument("--fresh", action="store_true", help="start over: remove the folder's last.pt and best.pt "
                                                           "instead of resuming")
    t.add_argument("--init-from", help="warm-start from this checkpoint, ours or the authors' state dict (instead "
                                       "of k-means centres); the data's items are numbered as that model's "
                                       "(by the item index beside it), new items after them")
    t.add_argument("--nproc", type=positive, default=1,
                   help="train in N processes on this machine (DistributedDataParallel, started through "
                        "torch's launch API; --batch-size is per process); ignored under torchrun, which sets "
                        "the processes")
    t.set_defaults(func=commands.cmd_train)

    e = sub.add_parser("evaluate", help="full-ranking HR@K / NDCG@K of a checkpoint")
    add_data_options(e, "data file, folder or glob")
    e.add_argument("--checkpoint", required=True, help="an elcrec checkpoint or the reference state dict")
    e.add_argument("--split", choices=["test", "valid"], default="test",
                   help="the leave-one-out split to rank: test (each user's last item, the default) or valid (the "
                        "second last)")
    e.add_argument("--device", default="auto", help="auto (the default: CUDA when present, else the CPU), cpu, "
                                                    "cuda, ...")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--threads", type=at_least(0), help=THREADS_HELP)
    e.set_defaults(func=commands.cmd_evaluate)

    c = sub.add_parser("baselines", help="test-split HR@K / NDCG@K of the baselines: most popular, item "
                                         "transitions, EASE (item-kNN above 30,000 items) and SASRec (ELCRec "
                                         "without its intent parts)")
    add_data_options(c, "data file, folder or glob, or 'synthetic'")
    add_settings_options(c, "settings of the SASRec run, as elcrec train's (default: auto, as the pipeline's "
                            "challenger); --config and the settings options as elcrec train's too")
    c.add_argument("--out", help="folder for SASRec's checkpoints (default: a temporary folder)")
    c.add_argument("--no-sasrec", action="store_true", help="leave SASRec out (the one baseline that trains)")
    c.add_argument("--lambdas", help="EASE's L2 weights, comma-separated, to choose from on the valid split "
                                     "(default 10,50,100,200,500,1000)")
    c.add_argument("--json", action="store_true", help="print one JSON object {model: {metric: value}}")
    c.add_argument("--threads", type=at_least(0), help=THREADS_HELP)
    c.set_defaults(func=commands.cmd_baselines)

    r = sub.add_parser("recommend", help="top-K items for one user, from a stored model")
    model = r.add_mutually_exclusive_group(required=True)
    model.add_argument("--checkpoint", help="a model's best.pt")
    model.add_argument("--serving", metavar="DATA_DIR", help="the model that serves in the pipeline's data folder")
    add_data_options(r, "the user's history: the pipeline's sequences.parquet, or any data file")
    r.add_argument("--user", required=True, action=_OneUser,
                   help="the user id as in the data (one that starts with -: --user=-x); one user a command")
    r.add_argument("--k", type=positive, default=20, help="how many items (default: 20)")
    r.add_argument("--active-days", type=positive, metavar="N",
                   help="with --serving: only items with an event in the N days up to the end of the folder's newest "
                        "day (its warehouse), as user_recommendations' active_days")
    r.add_argument("--json", action="store_true",
                   help='one JSON object: {"user", "model", "intent", "history_length" (the user\'s events in the '
                        'data: an item had twice counts twice; stderr says how many are of items the model does not '
                        'know), "items": [{"rank", "item", "score"}]}')
    r.add_argument("--threads", type=at_least(0), help=THREADS_HELP)
    r.set_defaults(func=serving.cmd_recommend)

    q = sub.add_parser("sequences", help="show the sequences the model sees: each user's items in time order")
    add_data_options(q, "data file, folder or glob")
    q.add_argument("--user", action="append",
                   help="only this user (the id as in the data, one that starts with -: --user=-x; may repeat)")
    q.add_argument("--json", action="store_true", help='one JSON object a line: {"user": ..., "items": [...]}')
    q.set_defaults(func=commands.cmd_sequences)

    b = sub.add_parser("rollback", help="serve the pipeline's previous model again (a second rollback undoes it)")
    b.add_argument("--data-dir", default=os.environ.get("ELCREC_DATA_DIR", "data"),
                   help="the pipeline's data folder (default: $ELCREC_DATA_DIR, else data)")
    b.add_argument("--reason", default="rollback (elcrec rollback)", help="kept in models/serving_log.jsonl")
    b.add_argument("--force", action="store_true", help="roll back even to a model that the promotion gate would "
                   "refuse on the newest sequences (NaN or infinite scores, or not above most popular); refused "
                   "without it. Judging it scores every validation user on the CPU (minutes for millions): "
                   "--force also skips that")
    b.add_argument("--json", action="store_true", help='one JSON object {"serving", "previous", "tables_from", '
                                                      '"intents_from", "refresh", "validation"} (validation: '
                                                      '{"day", "NDCG@20", "most_popular_NDCG@20", '
                                                      '"previous_NDCG@20"} of the newest sequences, null where not '
                                                      'judged)')
    b.add_argument("--threads", type=at_least(0), help=THREADS_HELP)
    b.set_defaults(func=rollback.cmd_rollback)

    m = sub.add_parser("compare", help="training runs side by side: the settings that differ, best epoch, time, "
                                       "valid and test HR@K / NDCG@K (from each run's config.json and metrics.json)")
    m.add_argument("runs", nargs="+", metavar="RUN_DIR",
                   help="a training run's folder: elcrec train --out, or a pipeline model folder models/<day>/<run id>")
    m.add_argument("--json", action="store_true", help='{"runs": [...], "run": {...}, "settings": {...}, '
                                                      '"metrics": {...}}')
    m.set_defaults(func=commands.cmd_compare)

    s = sub.add_parser("synth", help="write the synthetic events (CSV, TSV, JSON Lines or Parquet)")
    s.add_argument("--out", required=True,
                   help="the file to write: .parquet (.pq), .jsonl (.ndjson), .tsv (.tab), else CSV (.json, .xlsx "
                        "and other formats' names are refused)")
    s.add_argument("--users", type=positive, default=5000, help="(default: 5000)")
    s.add_argument("--items", type=positive, default=1000, help="(default: 1000)")
    s.add_argument("--intents", type=positive, default=8, help="planted intents (default: 8)")
    s.add_argument("--seed", type=int, default=0, help="(default: 0)")
    s.set_defaults(func=commands.cmd_synth)
    return p


def main(argv: list[str] | None = None) -> int:
    commands_parser = parser()
    args = commands_parser.parse_args(argv)
    if hasattr(args, "source"):  # a command that reads --data
        apply_source_file(args.data_parser, args)
    keep_freed_memory()
    if getattr(args, "threads", None):  # the commands that compute with torch (EASE's solve included)
        torch.set_num_threads(args.threads)
    try:
        return args.func(args)
    except BrokenPipeError:  # `elcrec compare a b | head`: the reader left, as it may; no error line (helper-237:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # 'Broken pipe'), nor a second one as
        return 0  # Python flushes at exit; the status of a command whose reader took what it wanted
    except (OSError, ValueError, CheckpointError, WarehouseDamaged, WarehouseLocked) as exc:  # a missing or
        # unwritable file, bad data or settings, a warehouse damaged or another process's (DuckDB's traceback)
        print(f"elcrec: error: {exc}", file=sys.stderr)
        return 2
    except DistributedFailure as exc:  # a process killed: a line that says how to go on (helper-203)
        print(f"elcrec: error: {exc}{_resume_text(args)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:  # Ctrl-C (a TERM of --nproc's launch): a line, not a traceback (helper-170)
        ended = f"ended by {signal.Signals(exc.signal).name}" if isinstance(exc, Terminated) else "interrupted"
        print(f"elcrec: {ended}{_resume_text(args) if args.command == 'train' else ''}", file=sys.stderr)
        return 128 + (exc.signal if isinstance(exc, Terminated) else signal.SIGINT)  # as a shell reports it


def _resume_text(args: argparse.Namespace) -> str:
    """How an interrupted ``elcrec train`` goes on: from its last complete epoch (``last.pt`` in ``--out``; with
    ``--fresh`` the same command would start over), or over, where no epoch was complete."""
    if not (Path(args.out) / LAST).is_file():
        return ": no epoch was complete, so the same command again starts over"
    again = "the same command without --fresh" if args.fresh else "the same command again"
    return f": {again} resumes after the last complete epoch in {args.out} (--fresh starts over)"


def at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least ``low``."""
    def parse(text: str) -> int:
        value = int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, not {value}")
        return value
    parse.__name__ = "integer"  # argparse's "invalid integer value: 'x'" ("invalid parse value": helper-240)
    return parse


positive = at_least(1)


class _OneUser(argparse.Action):
    """recommend's ``--user``, refused where given again: the last one alone was answered, without a word, where
    ``sequences --user`` takes each (helper-172)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        if getattr(namespace, self.dest) is not None:
            parser.error(f"{option_string} given twice: recommend answers one user a command (run it for each user; "
                         "the pipeline's warehouse table user_recommendations holds every user's list)")
        setattr(namespace, self.dest, values)



if __name__ == "__main__":  # python -m elcrec_core.cli.main runs it too (as the entry point: cli.entry)
    sys.exit(main())
