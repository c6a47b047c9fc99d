"""Short histories (1-4 items): would the trained model beat most popular and item transitions for the users that
the pipeline's 5-core drops (a measurement behind a decision: should the daily run score them instead of giving
them no list)?

A random ``--holdout-share`` of the users (``--seed``) is held out: none of their items enters training. The model
trains on the other users exactly as ``elcrec train --preset auto`` trains it (the same functions:
:func:`elcrec_core.train.auto_preset.auto_experiment` for the settings, :func:`elcrec_core.train.loop.train` with its
own early stopping on its own valid split; ``--epochs`` caps it as ``elcrec train --epochs`` does), on a catalogue of
the training users' items only (as ``elcrec train`` on a file of those users numbers them). Most popular and item
transitions (:mod:`elcrec_core.evaluate.baselines`) are fitted on the same users' training part (items[:-2],
``fit(data, "valid")``), as the quality matrix fits them.

Each held-out user, their items the model knows kept in order, gives a case per h in 1..4 (where they have h + 1
such items): history = their first h items, target = item h + 1. Each case is ranked by
:func:`elcrec_core.evaluate.scoring.evaluate_recommender` (as the ``test`` split of a sequence of h + 1 items): the
full catalogue, the history's items excluded, ties against the target; a target that repeats a history item is a
miss for every model. HR@K / NDCG@K (K = 10, 20) per h and pooled, with 95% percentile-bootstrap intervals over the
cases (:func:`elcrec_core.report.comparisons.headline`) and the paired differences model - most popular and model -
transition over the same (user, h) cases (:func:`elcrec_core.report.comparisons.paired_differences`). A user gives up
to four cases, which are not independent: the pooled rows add the paired difference's interval with users
resampled (the mean over a user's cases, :func:`elcrec_core.evaluate.statistics.bootstrap_mean`, users with all
four cases).

Held-out users have 5+ events (the data sets are 5-core or denser): their first h items stand in for the users the
5-core drops, who may differ (colder, less active).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/short_histories.py --data beauty
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/short_histories.py --data ml-100k
    .venv/bin/python benchmarks/short_histories.py --data beauty --epochs 3 --holdout-share 0.1 --seed 0

Quote the CPU and the load with any wall time: the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from elcrec_core.cli.data_loading import LoadedData, load
from elcrec_core.cli.data_options import DataOptions
from elcrec_core.data.sequences import Sequences, SequenceTensors
from elcrec_core.evaluate.baselines import ItemTransition, MostPopular
from elcrec_core.evaluate.ranking import per_user
from elcrec_core.evaluate.scoring import ELCRecRecommender, Recommender, evaluate_recommender
from elcrec_core.evaluate.statistics import bootstrap_mean
from elcrec_core.report.comparisons import headline, paired_differences
from elcrec_core.train.auto_preset import auto_experiment
from elcrec_core.train.checkpoint import load_model
from elcrec_core.train.device import cpu_model
from elcrec_core.train.malloc import keep_freed_memory

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
# as the quality matrix reads them (benchmarks/quality_matrix.py, DATASETS): Beauty in the benchmark line format,
# ml-100k's events as `elcrec train --format tsv --no-header --names user_id,item_id,rating,timestamp` (by time)
DATASETS: dict[str, tuple[str, DataOptions]] = {
    "beauty": ("Beauty.txt", DataOptions(format="sequence")),
    "ml-100k": ("ml-100k/u.data", DataOptions(format="tsv", header=False,
                                              names=("user_id", "item_id", "rating", "timestamp"))),
}
HISTORY_LENGTHS = (1, 2, 3, 4)
KS = (20, 10)
MODEL, POPULAR, TRANSITION = "model", "most_popular", "transition"


@dataclass(frozen=True)
class Split:
    """The training users' sequences on their own catalogue (items 1..n_items), the held-out users' sequences
    with only those items (in order), and how many held-out events fell out as unknown items."""

    train: Sequences
    held_out: Sequences
    unknown_events: int


@dataclass(frozen=True)
class Cases:
    """One sequence per (user, h) case: the first h + 1 known items of a held-out user (history and target)."""

    data: SequenceTensors
    user: np.ndarray  # held-out user row of each case
    h: np.ndarray  # history length of each case
    target_in_history: int  # cases whose target repeats a history item (a miss for every model)


def load_dataset(name: str, shared: Path) -> LoadedData:
    """Data set ``name`` of :data:`DATASETS` read as the command line reads it (what was read to stderr)."""
    path, options = DATASETS[name]
    data = load(str(shared / path), options)
    for line in data.describe():
        print(line, file=sys.stderr, flush=True)
    return data


def hold_out(seqs: Sequences, share: float, seed: int) -> Split:
    """Hold out ``share`` of the users at random (``seed``); the training users' items renumbered 1..K in their
    order (K: the distinct items those users have), the held-out users' items on that numbering with the others
    dropped (:meth:`Sequences.known`)."""
    rng = np.random.default_rng(seed)
    held = np.zeros(len(seqs), dtype=bool)
    held[rng.choice(len(seqs), size=round(share * len(seqs)), replace=False)] = True
    train = seqs.take(~held)
    in_train = np.zeros(seqs.n_items + 1, dtype=bool)
    in_train[train.items] = True
    n_known = int(in_train.sum())
    index = np.zeros(seqs.n_items + 1, dtype=np.int64)  # old item -> new: known 1..K, the others K+1..n; 0 stays
    index[1:][in_train[1:]] = np.arange(1, n_known + 1)
    index[1:][~in_train[1:]] = np.arange(n_known + 1, seqs.n_items + 1)
    held_seqs = seqs.take(held)
    renumbered = Sequences(held_seqs.user_ids, index[held_seqs.items], held_seqs.offsets, seqs.n_items)
    known = renumbered.known(n_known)
    train = Sequences(train.user_ids, index[train.items], train.offsets, n_known)
    return Split(train, known, len(renumbered.items) - len(known.items))


def short_cases(held_out: Sequences, lengths: tuple[int, ...] = HISTORY_LENGTHS) -> Cases:
    """A case per held-out user and h in ``lengths`` where the user has h + 1 known items: the sequence of their
    first h + 1 (whose ``test`` split is history items[:h], target item h + 1)."""
    lists, users, hs = [], [], []
    for u in range(len(held_out)):
        items = held_out.sequence(u)
        for h in lengths:
            if len(items) > h:
                lists.append(items[:h + 1])
                users.append(u)
                hs.append(h)
    repeats = sum(seq[-1] in seq[:-1] for seq in lists)
    seqs = Sequences.from_lists(list(range(len(lists))), lists, held_out.n_items)
    return Cases(SequenceTensors.from_sequences(seqs), np.array(users), np.array(hs), repeats)


def train_model(seqs: Sequences, out: Path, epochs: int | None, precision: str | None
                ) -> tuple[ELCRecRecommender, str, float, dict]:
    """Train as ``elcrec train --preset auto [--epochs E] [--precision P] --out out`` does on ``seqs``; the best
    epoch's model, a line on the run (settings, epochs, test of the training users), wall seconds, the result."""
    from elcrec_core.train.loop import train

    given = {name: value for name, value in (("epochs", epochs), ("precision", precision)) if value is not None}
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    exp = auto_experiment(seqs, {}, given, log=log)
    began = time.perf_counter()
    result = train(seqs, exp, out, resume=False, log=log)
    seconds = time.perf_counter() - began
    model, _ = load_model(result.checkpoint)
    cfg = exp.train
    line = (f"preset auto: max_len {exp.model['max_len']}, {exp.model['n_intents']} intents, {cfg.rec_loss}, batch "
            f"{cfg.batch_size}, epochs {cfg.epochs}, patience {cfg.patience}, max_steps {cfg.max_steps}, precision "
            f"{result.history[-1]['precision']}; best epoch {result.best_epoch} of {len(result.history)} run; "
            f"training users' valid NDCG@20 {result.valid['NDCG@20']:.4f}, test NDCG@20 {result.test['NDCG@20']:.4f}")
    return ELCRecRecommender(model), line, seconds, result.test


def rank_cases(recs: dict[str, Recommender], cases: Cases) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Each recommender's 0-based ranks of the cases' targets [cases] and its scoring seconds."""
    ranks, seconds = {}, {}
    for name, rec in recs.items():
        began = time.perf_counter()
        ranks[name] = evaluate_recommender(rec, cases.data, "test")
        seconds[name] = time.perf_counter() - began
    return ranks, seconds


def _subset(ranks: dict[str, torch.Tensor], keep: np.ndarray) -> dict[str, torch.Tensor]:
    index = torch.from_numpy(np.nonzero(keep)[0])
    return {name: r[index] for name, r in ranks.items()}


def clustered_difference(ranks: dict[str, torch.Tensor], cases: Cases, other: str, metric: str, k: int) -> str:
    """The pooled paired difference model - ``other`` of ``metric`` with users resampled: per user the mean over
    their cases, over the users that have every h (so that the mean over users is the mean over their cases)."""
    complete = np.bincount(cases.user, minlength=int(cases.user.max()) + 1) == len(HISTORY_LENGTHS)
    keep = complete[cases.user]
    diff = per_user(ranks[MODEL], k)[metric] - per_user(ranks[other], k)[metric]
    per_person = np.bincount(cases.user[keep], weights=diff[keep])[complete] / len(HISTORY_LENGTHS)
    i = bootstrap_mean(per_person)
    return f"{i.estimate:+.4f} [{i.low:+.4f}, {i.high:+.4f}] ({complete.sum()} users)"


def tables(ranks: dict[str, torch.Tensor], cases: Cases) -> list[str]:
    """Markdown: per K, the models' HR@K / NDCG@K with 95% intervals per h and pooled, and the paired differences
    model - most popular and model - transition with their intervals and verdicts (on NDCG@K)."""
    groups = [(f"h = {h}", cases.h == h) for h in HISTORY_LENGTHS] + [("pooled", np.ones(len(cases.h), bool))]
    lines = []
    for k in KS:
        lines += ["", f"| h | cases | model | HR@{k} [95% CI] | NDCG@{k} [95% CI] |", "|---|---|---|---|---|"]
        for label, keep in groups:
            for row in headline(_subset(ranks, keep), k=k):
                lines.append(f"| {label} | {int(keep.sum())} | {row['model']} | {row[f'HR@{k}']:.4f} "
                             f"{row[f'HR@{k} 95% CI']} | {row[f'NDCG@{k}']:.4f} {row[f'NDCG@{k} 95% CI']} |")
        lines += ["", f"| h | model - | ΔHR@{k} [95% CI] | ΔNDCG@{k} [95% CI] | verdict (NDCG@{k}) |",
                  "|---|---|---|---|---|"]
        for label, keep in groups:
            for d in paired_differences(_subset(ranks, keep), MODEL, k=k):
                row = d.row(d.model, signed=True)
                lines.append(f"| {label} | {d.model} | {row[f'ΔHR@{k}']} {row[f'ΔHR@{k} 95% CI']} | "
                             f"{row[f'ΔNDCG@{k}']} {row[f'ΔNDCG@{k} 95% CI']} | {d.verdict} |")
        for other in (POPULAR, TRANSITION):
            lines.append(f"| pooled, users resampled | {other} | "
                         f"{clustered_difference(ranks, cases, other, f'HR@{k}', k)} | "
                         f"{clustered_difference(ranks, cases, other, f'NDCG@{k}', k)} | |")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", choices=list(DATASETS), required=True)
    p.add_argument("--shared", type=Path, default=SHARED, help=f"the data folder (default {SHARED})")
    p.add_argument("--holdout-share", type=float, default=0.1, help="share of the users held out (default 0.1)")
    p.add_argument("--seed", type=int, default=0, help="of the held-out users (training: the preset's seed, 2024)")
    p.add_argument("--epochs", type=int, help="cap the epochs, as elcrec train --epochs (default: what auto gives)")
    p.add_argument("--precision", choices=["fp32", "bf16", "auto"], help="default: auto's (bf16 autocast where the "
                                                                         "hardware has it), as elcrec train")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--out", type=Path, help="the run's checkpoints (default: a temporary folder, removed after)")
    args = p.parse_args(argv)
    if not 0 < args.holdout_share < 1:
        raise SystemExit(f"--holdout-share must lie in (0, 1), not {args.holdout_share}")
    keep_freed_memory()  # as the elcrec command does
    torch.set_num_threads(args.threads)

    began = time.perf_counter()
    loaded = load_dataset(args.data, args.shared)
    split = hold_out(loaded.sequences, args.holdout_share, args.seed)
    cases = short_cases(split.held_out)
    load_seconds = time.perf_counter() - began

    with tempfile.TemporaryDirectory(prefix="short_histories_") as tmp:
        out = args.out or Path(tmp)
        model, run_line, train_seconds, _ = train_model(split.train, out, args.epochs, args.precision)
    train_data = SequenceTensors.from_sequences(split.train)
    began = time.perf_counter()
    popular = MostPopular().fit(train_data, "valid")
    transition = ItemTransition().fit(train_data, "valid")
    fit_seconds = time.perf_counter() - began
    ranks, score_seconds = rank_cases({MODEL: model, POPULAR: popular, TRANSITION: transition}, cases)

    print(f"## Short histories: {args.data}")
    print()
    print(f"- data: {len(loaded.sequences)} users, {loaded.sequences.n_items} items, {len(loaded.sequences.items)} "
          f"events; held out {len(split.held_out)} users ({args.holdout_share:g}, seed {args.seed}), "
          f"{split.unknown_events} of their events on items no training user has (dropped)")
    print(f"- training: {len(split.train)} users, {split.train.n_items} items, {len(split.train.items)} events; "
          f"{run_line}")
    print(f"- cases: {len(cases.h)} ({', '.join(f'h={h}: {(cases.h == h).sum()}' for h in HISTORY_LENGTHS)}); "
          f"{cases.target_in_history} with the target in the history (a miss for every model); catalogue "
          f"{split.train.n_items} items ranked, the history excluded")
    print(f"- wall: load and split {load_seconds:.1f} s, training {train_seconds:.1f} s, baselines fitted "
          f"{fit_seconds:.1f} s, scoring " + ", ".join(f"{n} {s:.2f} s" for n, s in score_seconds.items()))
    print(f"- CPU: {cpu_model()}, {torch.get_num_threads()} torch thread(s), OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS', 'unset')}, torch {torch.__version__}")
    print(f"- command: {' '.join(shlex.quote(a) for a in [sys.executable, *sys.argv])}")
    for line in tables(ranks, cases):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
