"""The challengers of a candidate: SASRec and the simple baselines, fitted on the candidate's data and stored
beside it in the model store, so that the promotion gate (:mod:`elcrec_core.serve.promotion`) and the report compare
the candidate with them, and any of them may serve.

Each is fitted as the models train (each user's items[:-2]) and tuned on the ``valid`` split only: SASRec is
ELCRec's ablation (the candidate's settings with the intent parts off and the full-softmax next-item loss, the
same epoch budget, warm-started from the SASRec of the day the candidate warm-started from;
:func:`elcrec_core.evaluate.baselines.sasrec_config`), EASE's λ is the best of
:data:`~elcrec_core.evaluate.baselines.EASE_LAMBDAS` on ``valid``; above
:data:`~elcrec_core.evaluate.baselines.EASE_MAX_ITEMS` items item-kNN stands in for it, its k and shrink chosen on
``valid``
(:mod:`elcrec_core.evaluate.item_knn`). Records hold valid and test HR@K / NDCG@K; each baseline's folder keeps the
ranks of its valid and test targets (:data:`RANKS_FILE`), which the gate and the report read
(:func:`stored_ranks`) rather than fit it again (an EASE of 20,000 items: minutes and gigabytes each time).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from elcrec_core.config.settings import ExperimentConfig
from elcrec_core.data.atomic_files import read_json, write_atomically
from elcrec_core.data.sequences import Sequences, SequenceTensors
from elcrec_core.evaluate.baselines import EASE_LAMBDAS, ItemTransition, MostPopular, sasrec_config
from elcrec_core.evaluate.item_knn import tune_item_baseline
from elcrec_core.evaluate.ranking import figures_from_ranks
from elcrec_core.evaluate.scoring import Recommender, Split, ranks_and_non_finite
from elcrec_core.serve.model_store import ModelRecord, ModelStore
from elcrec_core.serve.recommenders import baseline_params
from elcrec_core.train.checkpoint import BEST
from elcrec_core.train.launch import train_distributed
from elcrec_core.train.loop import train
from elcrec_core.train.objective import NonFiniteLoss
from elcrec_core.train.run_log import RUN, keep_run
from elcrec_core.train.state import code_digest, data_digest


def fit_challengers(store: ModelStore, candidate: ModelRecord, seqs: Sequences, sasrec: bool = True,
                    log: Callable[[str], None] = print, lambdas: tuple[float, ...] = EASE_LAMBDAS,
                    threads: int | None = None) -> list[ModelRecord]:
    """Fit the challengers of ``candidate`` on ``seqs`` (the sequences it was trained on) and store each under
    ``<candidate folder>/challengers/<name>`` (:meth:`ModelStore.challenger_dir`): ``sasrec`` (when ``sasrec``;
    trained from the candidate's ``config.json``, resuming an interrupted run, in as many processes of ``threads``
    CPU threads each where it trained in several: None as :func:`~elcrec_core.train.launch.train_distributed`
    chooses), ``most_popular``, ``transition``
    and ``ease`` (its λ chosen on valid from ``lambdas``; ``item_knn`` for a catalogue too large for EASE). A
    SASRec whose loss turns non-finite is left
    out (logged). A challenger stored by an earlier fit and not fitted now is retired
    (:meth:`ModelStore.retire_challenger`), so that the gate and the report see this fit's only. Returns their
    records."""
    data = SequenceTensors.from_sequences(seqs)
    records = []
    if sasrec:
        try:
            records.append(_train_sasrec(store, candidate, seqs, log, threads))
        except NonFiniteLoss as err:  # a diverging challenger cannot serve; the others still compete
            log(f"sasrec: left out: {err}")
    fits: list[Callable[[], Recommender]] = [lambda: MostPopular().fit(data, "valid"),
                                             lambda: ItemTransition().fit(data, "valid"),
                                             lambda: tune_item_baseline(data, lambdas, log=log)]
    digest = data_digest(seqs)
    for fit in fits:
        t0 = time.perf_counter()  # a record's seconds: fitting, choosing on valid, and scoring valid and test
        rec = fit()
        ranked = {split: ranks_and_non_finite(rec, data, split) for split in SPLITS}
        metrics = {split: figures_from_ranks(*ranked[split]) for split in SPLITS}
        record = ModelRecord(day=candidate.day, run_id=f"{candidate.run_id}/{rec.name}",
                             dir=store.relative(store.challenger_dir(candidate, rec.name)), valid=metrics["valid"],
                             test=metrics["test"], seconds=time.perf_counter() - t0, kind=rec.name,
                             params=baseline_params(rec), recipe=_recipe(candidate, rec.name))
        _store_ranks(store.folder(record), digest, record, ranked)  # before the record: a record never meets older ones
        store.add_challenger(candidate, record)
        records.append(record)
    fitted = {record.kind for record in records}
    for stale in store.challengers(candidate):  # an earlier fit's (say SASRec, now switched off): it no longer competes
        if stale.kind not in fitted:
            kept = store.retire_challenger(stale)
            log(f"{stale.kind}: an earlier challenger of {candidate.name} left out (not fitted this time)"
                f"{'; its folder stays: it has served' if kept else ''}")
    return records


SPLITS: tuple[Split, ...] = ("valid", "test")
RANKS_FILE = "ranks.npz"  # in a baseline's folder: the ranks of the targets of SPLITS and the data it was fitted on


def _fit_key(record: ModelRecord) -> str:
    """What a baseline's ranks were made by: its kind and params (λ, k, shrink), as stored ranks record it."""
    return json.dumps({"kind": record.kind, "params": record.params}, sort_keys=True)


def _store_ranks(folder: Path, fitted_on: str, record: ModelRecord,
                 ranked: dict[str, tuple[torch.Tensor, int]]) -> None:
    """Write ``folder``/:data:`RANKS_FILE` atomically (a temporary file, renamed: a reader never sees half of
    it): per split the 0-based ranks of its eligible users' targets and the users with a non-finite score
    (``ranked``), ``fitted_on``, the :func:`data_digest` of the sequences fitted on, and ``record``'s
    :func:`_fit_key`."""
    arrays = {"data": np.array(fitted_on), "fit": np.array(_fit_key(record)),
              **{split: ranks.numpy() for split, (ranks, _) in ranked.items()},
              **{f"{split}_non_finite": np.array(bad) for split, (_, bad) in ranked.items()}}

    def write(tmp: Path) -> None:
        with tmp.open("wb") as out:  # a file: np.savez adds no .npz to it
            np.savez(out, **arrays)

    write_atomically(folder / RANKS_FILE, write)


def stored_ranks(store: ModelStore, record: ModelRecord, digest: str, split: Split) -> tuple[torch.Tensor, int] | None:
    """What :func:`~elcrec_core.evaluate.scoring.ranks_and_non_finite` gives the baseline challenger ``record`` on
    ``split`` (its eligible users, in order) of the sequences whose :func:`data_digest` is ``digest``, as its fit
    stored it: the ranks [users] and the users with a non-finite score. None (fit and rank it then) where it stored
    none (a trained challenger, one fitted by an earlier version), where they were made on other sequences or by
    another kind or params than the record's (a record edited since), or where the file is unreadable."""
    path = store.folder(record) / RANKS_FILE
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            if str(stored["data"]) != digest or str(stored["fit"]) != _fit_key(record) or split not in stored:
                return None
            return torch.from_numpy(stored[split]).long(), int(stored[f"{split}_non_finite"])
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile):  # a damaged file: fitted again, as none
        return None


def _train_sasrec(store: ModelStore, candidate: ModelRecord, seqs: Sequences, log: Callable[[str], None],
                  threads: int | None) -> ModelRecord:
    """SASRec with the candidate's settings and budget, in its challenger folder, in as many processes; warm-started
    as the candidate was (:func:`_warm_sasrec`)."""
    folder = store.challenger_dir(candidate, "sasrec")
    recorded = read_json(store.folder(candidate) / "config.json")
    settings = ExperimentConfig.from_dict(recorded)
    # in as many processes: each step takes a batch from each (in one, it took twice the steps of a candidate
    # of 2 processes at half the batch per step, and the report called it the same budget: helper-240)
    processes = int((recorded.get(RUN) or {}).get("processes") or 1)
    exp = sasrec_config(settings, seqs.n_items)
    if settings.train.rec_loss != exp.train.rec_loss:  # a loss given in the settings (auto takes full softmax here)
        log(f"sasrec: trains with the full-softmax next-item loss, the candidate with {settings.train.rec_loss}: "
            "the comparison includes the loss as well as the intents")
    elif exp.train.rec_loss != "ce":  # full softmax is refused for a catalogue this large
        log(f"sasrec: trains with the candidate's next-item loss, {exp.train.rec_loss}: full softmax over "
            f"{seqs.n_items:,} items is too large a batch")
    # epoch checkpoints, by the data and the code: a retried run resumes after its last complete epoch, one on
    # sequences built again differently starts afresh (resuming it on them is refused), and so does one under other
    # code (an upgrade: it resumed the old code's epochs, helper-189)
    work = folder / "training" / hashlib.sha256(f"{data_digest(seqs)}:{code_digest()}".encode()).hexdigest()[:16]
    init_from = _warm_sasrec(store, candidate)
    if candidate.warm_start and init_from is None:
        log("sasrec: starts cold beside a warm-started candidate (the model it started from has no SASRec "
            "challenger): the comparison favours ELCRec by its earlier training")

    def said(line: str) -> None:
        log(f"sasrec: {line}")

    result = (train_distributed(processes, seqs, exp, work, log=said, init_from=init_from, threads=threads)
              if processes > 1 else train(seqs, exp, work, log=said, init_from=init_from))
    keep_run(work, folder)
    shutil.rmtree(work.parent)  # with the epochs of any run on other sequences: never resumed
    index = store.folder(candidate) / "item_index.parquet"
    if index.exists():  # whole or not at all, as every file a later run reads (a full disk: helper-219)
        write_atomically(folder / "item_index.parquet", lambda tmp: shutil.copyfile(index, tmp))
    record = ModelRecord(day=candidate.day, run_id=f"{candidate.run_id}/sasrec", dir=store.relative(folder),
                         valid=result.valid, test=result.test, best_epoch=result.best_epoch,
                         epochs=len(result.history), seconds=result.seconds, kind="sasrec",
                         warm_start=init_from is not None,
                         warm_start_from=store.relative(init_from.parent) if init_from is not None else None,
                         sequences=candidate.sequences, sequence_settings=candidate.sequence_settings,
                         recipe=_recipe(candidate, "sasrec"))
    store.add_challenger(candidate, record)
    return record


def _recipe(candidate: ModelRecord, kind: str) -> str:
    """A challenger's recipe: its candidate's (the same settings, start and sequences fit the same challengers)
    and its kind; "" where the candidate's is unknown."""
    return f"{candidate.recipe}/{kind}" if candidate.recipe else ""


def _warm_sasrec(store: ModelStore, candidate: ModelRecord) -> Path | None:
    """The checkpoint of the SASRec challenger of the model that ``candidate`` warm-started from, where there is
    one: the ablation then starts where the candidate did, with the same budget. A cold SASRec beside a
    warm-started ELCRec would credit the intents with ELCRec's earlier days of training. The shapes agree: a
    candidate warm-starts only from a model of its own shapes, and SASRec is that model's settings without the
    intent parts."""
    if not candidate.warm_start or not candidate.warm_start_from:
        return None
    checkpoint = store.path(candidate.warm_start_from) / "challengers" / "sasrec" / BEST
    return checkpoint if checkpoint.exists() else None
