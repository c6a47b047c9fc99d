"""Quality matrix (issue #11): test HR@5 / NDCG@5 / HR@20 / NDCG@20 with 95% intervals and wall time of ELCRec
(ours and the paper's settings), its SASRec ablation and the simple baselines, on four data sets.

Every model is fitted on each user's items[:-2], chooses its epoch or setting on the valid split and is reported on
the test split, ranked by :func:`elcrec_core.evaluate.scoring.evaluate_recommender` (full ranking, history excluded,
ties against the target). Intervals: 95% percentile bootstrap over the test users (1,000 resamples,
:func:`elcrec_core.evaluate.statistics.bootstrap_mean`, as the evaluation report's headline).

Data sets (``--shared``, default ../shared/data beside the repository): ``synthetic`` (the embedded default data,
as ``elcrec train --data synthetic`` reads it, seeded with ``--seed``), ``ml-100k`` (``ml-100k/u.data`` read as
``elcrec train --format tsv --no-header --names user_id,item_id,rating,timestamp``), ``beauty`` (``Beauty.txt``)
and ``sports`` (``Sports_and_Outdoors.txt``), the benchmark line format. k-core off, as the command line.

Models:
  elcrec_ours    ELCRec with the pipeline's default settings (:func:`ours_config`: preset ``auto``)
  elcrec_paper   ELCRec with the paper's settings: preset ``beauty`` / ``sports``; the paper has none for synthetic
                 and ml-100k, which get the reference defaults (``ExperimentConfig()``, no preset)
  sasrec_ce      the ablation of elcrec_ours: its settings and budget with the ELCRec parts off and full-softmax
                 cross-entropy (:func:`elcrec_core.evaluate.baselines.sasrec_config`, as ``baselines.SASRec``; trained
                 here with resume, which ``SASRec.fit`` does not do)
  transition     item transitions from the last input item; ease: EASE, lambda chosen on valid
                 (:func:`elcrec_core.evaluate.baselines.tune_ease`); item_knn: item-kNN, k and shrink chosen on
                 valid (:func:`elcrec_core.evaluate.item_knn.tune_item_knn`); most_popular
Trained models all use ``--seed`` (2024) and ``--precision`` (fp32); ``--max-epochs`` replaces their epoch budget.

Resumable cell by cell: cell (data, model) works in ``--out``/<data>/<model>/ and writes ``result.json`` (and the
per-user test ranks ``ranks_test.npy``) when done; a cell with ``result.json`` is skipped. A training cell resumes
from its ``last.pt`` (:func:`elcrec_core.train.loop.train`), also one that ``elcrec train`` started with the same
settings (e.g. ``--preset sports --precision fp32 --seed 2024 --out runs/quality_matrix/sports/elcrec_paper``);
one whose ``last.pt`` holds other settings (apart from the budget: epochs, max_steps) is refused. The ``pid`` file of
a cell names the process working on it: a cell whose process is alive is skipped with a message (this script
writes its own pid there while it works, and removes it after). ``--max-minutes M`` stops a training cell after the
first epoch that ends M minutes after it started (its ``last.pt`` is written; the next call resumes it).

Wall time: for baselines, fitting, tuning and ranking (valid and test); for trained models, the sum of the epochs'
training and validation time from the training history (it survives resumes; data loading, the k-means start and
the final test ranking are not in it).

    .venv/bin/python benchmarks/quality_matrix.py --data synthetic ml-100k --threads 1
    .venv/bin/python benchmarks/quality_matrix.py --data beauty sports --models transition ease most_popular
    .venv/bin/python benchmarks/quality_matrix.py --table

Quote the CPU and the load with any wall time: the machine may be shared. On a busy machine use ``--threads 1``:
more threads than free cores slow torch down (ml-100k's EASE cell: 62 s with 2 threads, 9 s with 1, on 2 cores
under a load of 5).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from elcrec_core.cli.data_loading import LoadedData, load
from elcrec_core.cli.data_options import SYNTHETIC, DataOptions
from elcrec_core.config.settings import ExperimentConfig, load_preset, merge_overrides
from elcrec_core.data.sequences import ITEM_INDEX_FILE, Sequences, SequenceTensors, write_item_index_file
from elcrec_core.evaluate.baselines import EASE_MAX_ITEMS, sasrec_config, tune_ease
from elcrec_core.evaluate.item_knn import tune_item_knn
from elcrec_core.evaluate.ranking import metrics_from_ranks
from elcrec_core.evaluate.scoring import ELCRecRecommender, evaluate_recommender, recommender_metrics
from elcrec_core.evaluate.statistics import bootstrap_mean
from elcrec_core.evaluate.ranking import per_user
from elcrec_core.report.comparisons import paired_differences
from elcrec_core.serve.recommenders import BASELINES
from elcrec_core.train.auto_preset import AUTO, auto_experiment
from elcrec_core.train.checkpoint import BEST, LAST, CheckpointError, load_checkpoint, load_model
from elcrec_core.train.device import cpu_model, select_device
from elcrec_core.train.pace import duration

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
OUT = Path("runs/quality_matrix")
RESULT, RANKS, PID, LOG = "result.json", "ranks_test.npy", "pid", "train.log"
MODELS = ("elcrec_ours", "elcrec_paper", "sasrec_ce", "transition", "ease", "item_knn", "most_popular")
TRAINED = ("elcrec_ours", "elcrec_paper", "sasrec_ce")
METRICS = ("HR@5", "NDCG@5", "HR@20", "NDCG@20")
BUDGET_FIELDS = ("epochs", "max_steps")  # settings a resumed training may change
# the pipeline's default preset (elcrec_pipeline.config.TrainingSettings.preset; not imported: it pulls in Dagster)
# ELCRec in the paper's Table 1 (../shared/data/README.md); the paper-settings rows must reach PAPER_SHARE of it
PAPER_TABLE1 = {
    "beauty": {"HR@5": 0.0529, "NDCG@5": 0.0355, "HR@20": 0.1079, "NDCG@20": 0.0509},
    "sports": {"HR@5": 0.0286, "NDCG@5": 0.0185, "HR@20": 0.0648, "NDCG@20": 0.0286},
}
PAPER_SHARE = 0.97
PAPER_TARGETS = ("HR@20", "NDCG@20")
# the goal of elcrec_ours: its test NDCG@20 over the best other model's
OURS_GOAL = {"beauty": 1.10, "sports": 1.10, "ml-100k": 1.0}


@dataclass(frozen=True)
class DataSpec:
    """Where a data set is (relative to ``--shared``, or ``synthetic``), how to read it, and the paper's preset
    for it (None: the paper has none)."""

    path: str
    options: DataOptions
    paper_preset: str | None = None


DATASETS: dict[str, DataSpec] = {
    "synthetic": DataSpec(SYNTHETIC, DataOptions()),
    "ml-100k": DataSpec("ml-100k/u.data", DataOptions(format="tsv", header=False,
                                                      names=("user_id", "item_id", "rating", "timestamp"))),
    "beauty": DataSpec("Beauty.txt", DataOptions(format="sequence"), "beauty"),
    "sports": DataSpec("Sports_and_Outdoors.txt", DataOptions(format="sequence"), "sports"),
}


class TimeBudget(Exception):
    """A training cell ran past ``--max-minutes``: stopped after an epoch whose ``last.pt`` is written."""


# ----------------------------------------------------------------------------------------- settings
def ours_config(data: Sequences) -> tuple[str, ExperimentConfig]:
    """ELCRec (ours) for ``data``: (a label for the table, the settings): the pipeline's default, preset
    ``auto`` (:func:`elcrec_core.train.auto_preset.auto_experiment`: ``general`` with settings derived from
    ``data``)."""
    return f"preset {AUTO}", auto_experiment(data, {}, {})


def paper_config(data_name: str) -> tuple[str, ExperimentConfig]:
    """ELCRec with the paper's settings for ``data_name``: its preset, else the reference defaults."""
    preset = DATASETS[data_name].paper_preset
    if preset is not None:
        return f"preset {preset} (paper)", load_preset(preset)
    return "reference defaults (no paper preset)", ExperimentConfig()


def training_config(model: str, data_name: str, data: Sequences, seed: int, precision: str,
                    max_epochs: int | None) -> tuple[str, ExperimentConfig]:
    """(label, settings) of a trained model's cell: its base settings with ``seed``, ``precision`` and, when
    given, the epoch budget ``max_epochs``. ``elcrec_paper`` on sports with seed 2024 and fp32 is exactly what
    ``elcrec train --preset sports --precision fp32 --seed 2024`` trains."""
    if model == "elcrec_paper":
        label, exp = paper_config(data_name)
    elif model in ("elcrec_ours", "sasrec_ce"):
        label, exp = ours_config(data)
        if model == "sasrec_ce":
            label, exp = f"ablation of ours ({label}), CE", sasrec_config(exp)
    else:
        raise ValueError(f"{model!r} is not a trained model; trained: {', '.join(TRAINED)}")
    exp = merge_overrides(exp, {}, {"seed": seed, "precision": precision, "epochs": max_epochs})
    return label, exp


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    """An experiment config (``ExperimentConfig.to_dict``) as plain JSON with every field, settings added since it
    was written at their defaults, and without the budget fields and the preset's name (a record, not a setting)."""
    plain = json.loads(json.dumps(ExperimentConfig.from_dict(config).to_dict()))
    plain.pop("preset")
    for name in BUDGET_FIELDS:
        plain["train"].pop(name, None)
    return plain


def check_resumable(folder: Path, exp: ExperimentConfig) -> bool:
    """Whether ``folder`` holds a ``last.pt`` to resume; raises ValueError naming the differing settings when its
    settings are not ``exp``'s (apart from :data:`BUDGET_FIELDS`; a setting added since it was written counts at
    its default)."""
    last = folder / LAST
    if not last.exists():
        return False
    try:
        saved = _comparable(load_checkpoint(last)["config"])
    except ValueError as exc:
        raise ValueError(f"{last}: {exc}") from None
    ours = _comparable(exp.to_dict())
    if saved != ours:
        differ = sorted(f"{part}.{key}: {saved.get(part, {}).get(key)!r} there, {ours[part].get(key)!r} here"
                        for part in ours for key in set(saved.get(part, {})) | set(ours[part])
                        if saved.get(part, {}).get(key) != ours[part].get(key))
        raise ValueError(f"{last} was trained with other settings ({'; '.join(differ)}): delete {folder} to start "
                         "the cell over")
    return True


# ----------------------------------------------------------------------------------------- the cell's pid file
def live_owner(folder: Path) -> int | None:
    """The process id in ``folder/pid`` when that process is alive (stopped counts as alive) and is not this
    one; None when there is no pid file, it is unreadable, or its process has ended."""
    try:
        pid = int((folder / PID).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    try:
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":  # ended, not yet reaped
            return None
    except (OSError, IndexError):
        pass
    return pid


def claim(folder: Path) -> int | None:
    """Write this process's id to ``folder/pid`` unless a live process holds it; returns that process's id, or
    None when the cell is now this process's (a pid file of an ended process is replaced)."""
    folder.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(folder / PID, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = live_owner(folder)
            if owner is not None:
                return owner
            (folder / PID).unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{os.getpid()}\n")
        return None
    raise RuntimeError(f"{folder / PID} was written again by another process while it was being replaced")


def release(folder: Path) -> None:
    """Remove ``folder/pid`` if it names this process."""
    try:
        if int((folder / PID).read_text().split()[0]) == os.getpid():
            (folder / PID).unlink()
    except (OSError, ValueError, IndexError):
        pass


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


# ----------------------------------------------------------------------------------------- running cells
@dataclass
class Measured:
    """What a cell measured before the intervals: per-user test ranks [users], valid metrics, wall seconds."""

    ranks: torch.Tensor
    valid: dict[str, float]
    seconds: float
    label: str
    settings: dict[str, Any]
    precision: str
    epochs: dict[str, int] | None = None
    resumed: bool = False


def load_dataset(name: str, shared: Path, seed: int) -> LoadedData:
    """Data set ``name`` of :data:`DATASETS` read as the command line reads it (counts to stderr)."""
    spec = DATASETS[name]
    path = spec.path if spec.path == SYNTHETIC else str(shared / spec.path)
    data = load(path, dataclasses.replace(spec.options, seed=seed))
    for line in data.describe():
        print(line, file=sys.stderr, flush=True)
    return data


def run_baseline(model: str, data: SequenceTensors, log: Callable[[str], None]) -> Measured:
    """Fit baseline ``model`` on items[:-2] (EASE: lambda chosen on valid; item-kNN: k and shrink), rank valid
    and test."""
    began = time.perf_counter()
    if model == "ease":
        if data.n_items > EASE_MAX_ITEMS:
            raise ValueError(f"EASE is limited to {EASE_MAX_ITEMS:,} items; this data has {data.n_items:,}")
        rec, by_lambda = tune_ease(data, log=log)
        valid = by_lambda[rec.lam]
        label = f"λ={rec.lam:g} (chosen on valid)"
        settings = {"lambda": rec.lam,
                    "valid_NDCG@20_by_lambda": {f"{lam:g}": m["NDCG@20"] for lam, m in by_lambda.items()}}
        precision = "fp64" if rec.dtype == torch.float64 else "fp32"
    elif model == "item_knn":
        rec, by_setting = tune_item_knn(data, log=log)
        valid = by_setting[rec.k, rec.shrink]
        label = f"k={rec.k}, shrink {rec.shrink:g} (chosen on valid)"
        settings = {"k": rec.k, "shrink": rec.shrink,
                    "valid_NDCG@20_by_k_shrink": {f"{k} {shrink:g}": m["NDCG@20"]
                                                  for (k, shrink), m in by_setting.items()}}
        precision = "fp32"
    else:  # a baseline without settings to choose (one with them needs its own branch, as EASE's)
        rec = BASELINES[model]().fit(data, "valid")
        valid = recommender_metrics(rec, data, "valid")
        label, settings, precision = "counts on items[:-2]", {}, "fp64"
    ranks = evaluate_recommender(rec, data, "test")
    return Measured(ranks, valid, time.perf_counter() - began, label, settings, precision)


def run_training(folder: Path, seqs: Sequences, data: SequenceTensors, label: str, exp: ExperimentConfig,
                 max_minutes: float | None, log: Callable[[str], None]) -> Measured:
    """Train (or resume) ELCRec with ``exp`` in ``folder`` and rank the test split with its best epoch. Raises
    :class:`TimeBudget` after the first epoch that ends ``max_minutes`` after the start."""
    from elcrec_core.train.loop import train

    resumed = check_resumable(folder, exp)
    deadline = time.monotonic() + 60 * max_minutes if max_minutes else None

    def epoch_log(line: str) -> None:
        log(line)
        if deadline is not None and line.startswith("epoch ") and time.monotonic() > deadline:  # last.pt written
            raise TimeBudget(line)

    result = train(seqs, exp, folder, resume=True, log=epoch_log)
    model, _ = load_model(folder / BEST)
    rec = ELCRecRecommender(model.to(select_device(exp.train.device)))
    ranks = evaluate_recommender(rec, data, "test")
    epochs = {"best": result.best_epoch, "run": len(result.history), "max": exp.train.epochs}
    return Measured(ranks, result.valid, sum(row["seconds"] for row in result.history), label, exp.to_dict(),
                    exp.train.precision, epochs, resumed)


def intervals(ranks: torch.Tensor) -> dict[str, list[float]]:
    """95% percentile-bootstrap interval [low, high] of each of :data:`METRICS` over the users of ``ranks``."""
    out = {}
    for k in sorted({int(m.split("@")[1]) for m in METRICS}):
        for metric, values in per_user(ranks, k).items():
            interval = bootstrap_mean(values, n_boot=1000)
            out[metric] = [interval.low, interval.high]
    return {m: out[m] for m in METRICS}


def record(data_name: str, model: str, measured: Measured, seed: int) -> dict[str, Any]:
    """The cell's ``result.json``: test metrics (K = 5, 10, 20) and 95% intervals, valid metrics, wall seconds,
    epochs, settings, and where and when it was measured."""
    return {
        "data": data_name, "model": model, "label": measured.label, "settings": measured.settings,
        "test": metrics_from_ranks(measured.ranks), "test_95ci": intervals(measured.ranks),
        "test_users": len(measured.ranks), "valid": measured.valid, "valid_NDCG@20": measured.valid["NDCG@20"],
        "wall_seconds": round(measured.seconds, 2), "epochs": measured.epochs, "resumed": measured.resumed,
        "seed": seed, "precision": measured.precision, "threads": torch.get_num_threads(), "cpu": cpu_model(),
        "torch": torch.__version__, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def run_cell(data_name: str, model: str, folder: Path, loaded: LoadedData, args: argparse.Namespace) -> None:
    """Run one cell into ``folder`` and write its ranks and ``result.json`` (atomically, last)."""
    seqs = loaded.sequences
    data = SequenceTensors.from_sequences(seqs)
    with open(folder / LOG, "a") as fh:
        def log(line: str) -> None:
            fh.write(line + "\n")
            fh.flush()
            print(f"[{data_name}/{model}] {line}", flush=True)

        if model in TRAINED:
            label, exp = training_config(model, data_name, seqs, args.seed, args.precision, args.max_epochs)
            if loaded.item_ids is not None:  # as elcrec train: evaluate and recommend check the catalogue
                write_item_index_file(folder / ITEM_INDEX_FILE, loaded.item_ids)
            measured = run_training(folder, seqs, data, label, exp, args.max_minutes, log)
        else:
            measured = run_baseline(model, data, log)
        result = record(data_name, model, measured, args.seed)
        shown = " ".join(f"{m} {result['test'][m]:.4f}" for m in METRICS)
        log(f"test {shown}; wall {result['wall_seconds']:.1f}s")
    np.save(folder / RANKS, measured.ranks.numpy())
    tmp = folder / f".{RESULT}.tmp"
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    os.replace(tmp, folder / RESULT)


def run_matrix(args: argparse.Namespace) -> int:
    """Every requested cell without ``result.json``, data set by data set (each read once, when first needed).
    A cell that fails (bad settings in its ``last.pt``, data EASE cannot hold) is reported and the others run;
    returns the number of failed cells."""
    failed = 0
    for data_name in args.data:
        loaded: LoadedData | None = None
        for model in args.models:
            folder = args.out / data_name / model
            if (folder / RESULT).exists():
                print(f"[{data_name}/{model}] done already ({folder / RESULT})", flush=True)
                continue
            owner = claim(folder)
            if owner is not None:
                print(f"[{data_name}/{model}] skipped: process {owner} is working on {folder} "
                      f"({_command_line(owner)}); its pid file: {folder / PID}", flush=True)
                continue
            try:
                if loaded is None:
                    loaded = load_dataset(data_name, args.shared, args.seed)
                run_cell(data_name, model, folder, loaded, args)
            except TimeBudget as stop:
                print(f"[{data_name}/{model}] stopped for --max-minutes after: {stop}; the next call resumes it "
                      f"from {folder / LAST}", flush=True)
            except (ValueError, CheckpointError) as exc:
                failed += 1
                print(f"[{data_name}/{model}] failed: {exc}", file=sys.stderr, flush=True)
            finally:
                release(folder)
    return failed


# ----------------------------------------------------------------------------------------- the table
def _cell(result: dict[str, Any], metric: str) -> str:
    low, high = result["test_95ci"][metric]
    return f"{result['test'][metric]:.4f} [{low:.4f}, {high:.4f}]"


def _note(folder: Path, model: str, result: dict[str, Any], results: dict[str, dict[str, Any]]) -> str:
    """The last column: elcrec_ours's test NDCG@20 over the best other model's (the best by valid NDCG@20: the
    comparator is chosen on valid, as every model's settings are), with the paired difference to it and to
    the SASRec-CE ablation (:func:`elcrec_core.report.comparisons.paired_differences` of the cells' test ranks),
    and the paper rows against 97% of Table 1. ``folder``: the data set's cells."""
    data_name = folder.name
    if model == "elcrec_ours":
        others = {m: r["test"]["NDCG@20"] for m, r in results.items() if m != model}
        if not others:
            return ""
        best = max(others, key=lambda m: results[m]["valid_NDCG@20"])
        ratio = result["test"]["NDCG@20"] / others[best] if others[best] > 0 else float("inf")
        goal = OURS_GOAL.get(data_name)
        verdict = f" (goal ≥ {goal:.2f}x: {'met' if ratio >= goal else 'not met'})" if goal else ""
        paired = [m for m in dict.fromkeys([best, "sasrec_ce"]) if m in others and (folder / m / RANKS).exists()]
        ranks = {m: torch.from_numpy(np.load(folder / m / RANKS)) for m in [model, *paired]}
        deltas = [f"paired ΔNDCG@20 vs {d.model} {d.ndcg_text()} ({d.verdict})"
                  for d in paired_differences(ranks, model)]
        return "; ".join([f"{ratio:.2f}x {best}{verdict}", *deltas])
    if model == "elcrec_paper" and data_name in PAPER_TABLE1:
        checks = []
        for metric in PAPER_TARGETS:
            target = round(PAPER_SHARE * PAPER_TABLE1[data_name][metric], 4)
            checks.append(f"{metric} ≥ {target:.4f} {'✓' if result['test'][metric] >= target else '✗'}")
        return f"97% of Table 1: {', '.join(checks)}"
    return ""


def _unfinished(folder: Path) -> str:
    """A line for a cell folder without ``result.json``: where its training stands and who works on it."""
    parts = []
    if (folder / LAST).exists():
        state = load_checkpoint(folder / LAST)
        stop = state.get("early_stopping", {})
        parts.append(f"last.pt after epoch {state['epoch']} of {state['config']['train']['epochs']} (best valid "
                     f"NDCG@20 {stop.get('best_score', float('nan')):.4f} at epoch {stop.get('best_epoch')})")
    owner = live_owner(folder)
    parts.append(f"being worked on by process {owner}" if owner is not None else "no live process")
    return f"- {folder.parent.name}/{folder.name}: unfinished, " + ", ".join(parts)


def table(out: Path) -> str:
    """The Markdown table of the ``result.json`` files under ``out``: rows data x model, test metrics with 95%
    intervals, valid NDCG@20, epochs, wall time and the notes of :func:`_note`; then the unfinished cells and
    where the figures were measured."""
    header = ["data", "model", "settings", *(f"test {m}" for m in METRICS), "valid NDCG@20",
              "epochs best / run / max", "wall, threads", "NDCG@20 vs best other / paper target"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    unfinished, machines, dates = [], set(), []
    for data_name in DATASETS:
        results = {m: json.loads((out / data_name / m / RESULT).read_text())
                   for m in MODELS if (out / data_name / m / RESULT).exists()}
        for model, result in results.items():
            epochs = result["epochs"]
            cells = [data_name, model, result["label"], *(_cell(result, m) for m in METRICS),
                     f"{result['valid_NDCG@20']:.4f}", f"{epochs['best']} / {epochs['run']} / {epochs['max']}"
                     if epochs else "-", f"{duration(result['wall_seconds'])}, {result['threads']} thr",
                     _note(out / data_name, model, result, results)]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
            machines.add(f"{result['cpu']}, torch {result['torch']}")
            dates.append(result["date"][:10])
        unfinished += [_unfinished(out / data_name / m) for m in MODELS
                       if (out / data_name / m).is_dir() and m not in results]
    if dates:
        lines += ["", f"Measured {min(dates)}" + (f" to {max(dates)}" if max(dates) != min(dates) else "") + " on "
                  + "; ".join(sorted(machines)) + "."]
    else:
        lines = [f"no result.json under {out}"]
    return "\n".join(lines + ([""] + unfinished if unfinished else []))


# ----------------------------------------------------------------------------------------- command line
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    p.add_argument("--shared", type=Path, default=SHARED, help=f"the data folder (default {SHARED})")
    p.add_argument("--out", type=Path, default=OUT, help=f"the cells' folder (default {OUT})")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--precision", choices=["fp32", "bf16", "auto"], default="fp32", help="of the trained models")
    p.add_argument("--seed", type=int, default=2024, help="of the trained models and the synthetic data")
    p.add_argument("--max-epochs", type=int, help="epoch budget of the trained models (default: their settings')")
    p.add_argument("--max-minutes", type=float, help="stop a training cell after the first epoch that ends this "
                                                     "many minutes after it started (resumed next time)")
    p.add_argument("--table", action="store_true", help="only print the table of the result.json files present")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.max_epochs is not None and args.max_epochs < 1:
        raise SystemExit(f"--max-epochs must be >= 1, not {args.max_epochs}")
    failed = 0
    if not args.table:
        if args.threads:
            torch.set_num_threads(args.threads)
        # SIGTERM as an exception, so that the cell's pid file is released
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
        try:
            failed = run_matrix(args)
        finally:
            signal.signal(signal.SIGTERM, previous)
    print(table(args.out))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
