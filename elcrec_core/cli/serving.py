"""The ``elcrec recommend`` subcommand (from a checkpoint, or from the model that serves in a pipeline's data folder)
and what it and ``elcrec rollback`` (:mod:`elcrec_core.cli.rollback`) read of a pipeline's data folder. The command
takes the parsed arguments and returns the exit code."""

from __future__ import annotations

import argparse
import json
import math
import sys
import unicodedata
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import torch

from elcrec_core.cli.arguments import data_options, load_data
from elcrec_core.cli.commands import shown_id, synthetic_seed
from elcrec_core.cli.data_loading import LoadedData
from elcrec_core.cli.data_options import sequence_settings_note
from elcrec_core.cli.serving_notes import SEQUENCES_FILE, history_note, other_day_note
from elcrec_core.config.partitions import partition_end
from elcrec_core.data import warehouse
from elcrec_core.data.day_loads import held_partition
from elcrec_core.data.events_to_sequences import read_sequence_settings
from elcrec_core.data.sequence_summary import counted
from elcrec_core.data.sequences import Sequences, SequenceTensors, read_sequence_parquet, sequence_day_folders
from elcrec_core.serve.model_store import ModelRecord, ModelStore


def cmd_recommend(args: argparse.Namespace) -> int:
    """``elcrec recommend``: print ``args.user``'s top-K list (exit code 0); the ``--serving`` warehouse opened once,
    after ``--data`` is read (its lock stops the pipeline's writers: helper-281, it was held while a file was read)."""
    from elcrec_core.train.checkpoint import require_checkpoint

    if args.active_days and not args.serving:
        raise ValueError("--active-days reads the pipeline's warehouse: give --serving DATA_DIR")
    if args.checkpoint:  # a wrong path, or a folder where no model serves: refused before the data is read
        require_checkpoint(args.checkpoint)
    served = None if args.checkpoint else serving_record(args.serving)
    data = load_data(args, seed=synthetic_seed(args))
    stored = Path(args.serving or "") / "warehouse.duckdb"
    with warehouse.held(stored, read_only=True) if args.serving and stored.is_file() else nullcontext():
        return _recommend(args, data, served)


def _recommend(args: argparse.Namespace, data: LoadedData, served: tuple[ModelStore, ModelRecord] | None) -> int:
    """:func:`cmd_recommend` after ``--data`` is read; ``served``: :func:`serving_record`'s (None: --checkpoint)."""
    from elcrec_core.evaluate.scoring import ELCRecRecommender
    from elcrec_core.intents.profiles import NO_INTENT, assign_user_intents
    from elcrec_core.serve.recommend import recommend
    from elcrec_core.serve.recommenders import load_recommender
    from elcrec_core.train.checkpoint import CheckpointError, load_model, onto_catalogue, onto_item_ids

    own = data.sequences  # the data's items, numbered as it numbers them
    if data.short_histories is not None:  # and the users --k-core removed, as the pipeline serves them
        own = own.concat(data.short_histories)
    matches = np.flatnonzero(own.user_ids.astype(str) == str(args.user))
    if len(matches) == 0:
        raise data.no_such_user(str(args.user), args.data)
    user = torch.as_tensor(matches[:1])
    warn = lambda line: print(line, file=sys.stderr)  # noqa: E731
    if matches[0] >= len(data.sequences):
        warn(f"the k-core removed the user's events: the list comes from their {int(own.lengths[matches[0]])} "
             "event(s) on the sequences' items (a short history), as the pipeline's user_recommendations makes it")
    intents = None  # the checkpoint and model of the intents shown
    fitted_on = None  # with --serving: the pipeline's newest sequences, whose popularity breaks ties there too
    if args.checkpoint:
        checkpoint, name = args.checkpoint, str(args.checkpoint)
        model, payload = load_model(checkpoint)
        rec = ELCRecRecommender(model)
        if _learned_intents(payload):  # not a SASRec: its centres never trained
            intents = checkpoint, model
    else:  # any model may serve: a trained one, or a baseline refitted as the pipeline fits it
        store, record = served
        name = f"{record.name} ({record.kind})"
        intent_record = store.intent_model((day := tables_day(args.serving)) or record.day)
        if day and data.format != "sequences-parquet":  # events read alike, and then the same history?
            folder = Path(args.serving) / "sequences" / day
            if note := (sequence_settings_note(data_options(args), read_sequence_settings(folder), day)
                        or history_note(folder, str(args.user), data.item_names(own.sequence(matches[0])),
                                        data.origin)):
                warn(note)
        elif day and (note := other_day_note(Path(args.data), Path(args.serving), day)):  # another day's
            warn(note)
        if not (Path(args.serving) / "warehouse.duckdb").is_file():  # titles and seen items lost silently
            seen = (", and of the items the user had it excludes only those of the sequences (the warehouse holds "
                    "also those the sequence filters left out)") if _a_day_of_serving(args, data) else ""
            warn(f"{Path(args.serving) / 'warehouse.duckdb'} is missing: the list shows no titles{seen}; to rebuild "
                 "it, run the days again in order from the first partition (a backfill of daily_retrain_job)")
        try:  # the intents shown beside the list: none where their model's checkpoint is damaged (helper-234: a
            intents = (store.checkpoint(intent_record), load_model(store.checkpoint(intent_record))[0]) \
                if intent_record is not None else None  # withdrawn model's stopped the served model's list)
        except CheckpointError as err:
            warn(f"no intent is shown: the intents' model {intent_record.name} cannot be read ({err})")
        checkpoint = store.checkpoint(record) if record.trained else None
        if record.trained:
            rec = load_recommender(store, record, None, "all", finite=True)  # NaN weights: refused (helper-239)
            fitted_on = _ties_for(checkpoint, rec.n_items, args.serving)
        else:  # fitted on every item of the pipeline's newest sequences, as user_recommendations fits it
            fitted_on, fitted_ids = newest_pipeline_sequences(args.serving)
            rec = load_recommender(store, record, SequenceTensors.from_sequences(fitted_on), "all")
    def as_the_model_numbers(given: Sequences, ids: np.ndarray | None, say: Callable[[str], None] | None = None,
                             ) -> tuple[Sequences, np.ndarray | None]:
        """``given`` (items numbered as ``ids`` number them) as the model numbers its items, and the id of each
        index."""
        if checkpoint is not None:
            return onto_catalogue(checkpoint, rec.n_items, given, ids, say)
        return onto_item_ids(fitted_ids, given, ids, f"the sequences {name} is fitted on")

    seqs, item_ids = as_the_model_numbers(own, data.item_ids, warn)
    # the items of events the sequence filters left out of the history are no less the user's: not recommended
    seen = None if data.seen is None else SequenceTensors.from_sequences(
        as_the_model_numbers(data.seen, data.seen_item_ids)[0])
    if seen is None and (stored := _seen_in_the_warehouse(args, data, own, matches[0])) is not None:
        seen = SequenceTensors.from_sequences(as_the_model_numbers(stored, data.item_ids)[0])
    # ties broken by the popularity in what the model was fitted on: the pipeline's sequences, else the data's
    # sequences (not the short histories, which no model learns from)
    ties = fitted_on if fitted_on is not None else seqs.take(np.arange(len(seqs)) < len(data.sequences))
    popularity = SequenceTensors.from_sequences(ties.known(rec.n_items))
    known = seqs.known(rec.n_items)  # the history the model reads: items it does not know are left out
    if unknown := int(seqs.lengths[matches[0]] - known.lengths[matches[0]]):
        warn(f"{unknown} of the user's {int(seqs.lengths[matches[0]])} events are of items unknown to the model: "
             "left out of the history it reads")  # a count of events: it said items (helper-197)
    offered = _items_on_offer(args, None if item_ids is None else item_ids[:rec.n_items])  # the model's alone
    items, scores = recommend(rec, SequenceTensors.from_sequences(known), user, k=args.k, popularity=popularity,
                              seen=seen, candidates=offered)
    intent = None
    if intents is not None:  # the intent model numbers the items as its own training did
        intent_checkpoint, intent_model = intents
        try:
            intent_seqs, _ = onto_catalogue(intent_checkpoint, intent_model.cfg.n_items, own, data.item_ids)
            intent = int(assign_user_intents(intent_model, intent_seqs, user).intent[0])
        except CheckpointError:  # no item of the data is the intent model's: no intent, as in the pipeline
            intent = NO_INTENT
    names = [str(item_ids[i - 1]) if item_ids is not None else str(i) for i in items[0].tolist()]
    titles = _titles(args.serving, names) if args.serving else {}
    result = {"user": str(args.user), "model": name, "intent": None if intent == NO_INTENT else intent,
              "history_length": int(seqs.lengths[matches[0]]),
              "items": [{"rank": r + 1, "item": item, "score": round(float(score), 6),
                         **({"title": titles[item]} if item in titles else {})}
                        for r, (item, score) in enumerate(zip(names, scores[0].tolist())) if math.isfinite(score)]}
    if len(result["items"]) < args.k:
        print(f"{counted(len(result['items']), 'item')}, not {args.k}: the model scores "
              f"{counted(rec.n_items, 'item')}, and the others are "
              "in the user's history or have no finite score", file=sys.stderr)
    if args.json:
        print(json.dumps(result))
    else:
        about = {None: "", NO_INTENT: "no intent: no item the intent model knows, "}.get(intent, f"intent {intent}, ")
        events = "event" if result["history_length"] == 1 else "events"  # an item had twice counts twice
        user = shown_id(result["user"])
        print(f"user {user} ({about}{result['history_length']} {events} of history; model {name})")
        for row in result["items"]:
            title = f"  {_one_line(row['title'])}" if "title" in row else ""
            print(f"{row['rank']:3d}. {shown_id(row['item'])}  {row['score']:.4f}{title}")
    return 0


def _one_line(text: str) -> str:
    """``text`` with control characters and line separators escaped (``\\n``, ``\\u2028``): one line, no controls."""
    return "".join(c.encode("unicode_escape").decode("ascii") if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c
                   for c in text)


def _titles(data_dir: str, items: list[str]) -> dict[str, str]:
    """The titles of ``items`` in the item metadata that the pipeline's data folder ``data_dir`` stored (its
    warehouse's table item_metadata, from the source settings' item_metadata_path); none where it has none, or its
    warehouse cannot be read now (a run writes it)."""
    try:
        stored = warehouse.read_table(Path(data_dir) / "warehouse.duckdb", "item_metadata", ["item_id", "title"])
    except (RuntimeError, duckdb.Error, OSError):
        return {}
    if stored is None:
        return {}
    return dict(stored.filter(pl.col("item_id").is_in(items) & pl.col("title").is_not_null()).iter_rows())


def _learned_intents(payload: dict) -> bool:
    """Whether a checkpoint's model trained its intent centres (the authors' checkpoints did; SASRec, all intent
    losses off, did not)."""
    from elcrec_core.config.settings import ExperimentConfig
    from elcrec_core.train.objective import uses_centres

    return "config" not in payload or uses_centres(ExperimentConfig.from_dict(payload["config"]).train)


def _items_on_offer(args: argparse.Namespace, item_ids: np.ndarray | None) -> torch.Tensor | None:
    """With ``--active-days N``: which of the model's items (``item_ids``, by index) have an event in the N days up to
    the end of the newest day of the ``--serving`` folder, of its sequences' event types, read from its warehouse as
    user_recommendations' ``active_days`` reads it; None without the option."""
    from elcrec_core.data.seen_items import active_items

    if not args.active_days:
        return None
    day = tables_day(args.serving)
    if day is None or item_ids is None:
        raise ValueError(f"--active-days: {args.serving} has no day's sequences to count the days from, or the "
                         "data no item ids to look up")
    event_types = read_sequence_settings(Path(args.serving) / "sequences" / day).event_types
    return torch.from_numpy(active_items(Path(args.serving) / "warehouse.duckdb", partition_end(day), args.active_days,
                                         item_ids, event_types))


def _seen_in_the_warehouse(args: argparse.Namespace, data: LoadedData, own: Sequences, at: int) -> Sequences | None:
    """Where ``--data`` is a day's ``sequences.parquet`` of the ``--serving`` folder: every item the user at ``at``
    (of ``own``) has an event with up to the day's end, of the sequences' event types, read from the folder's
    warehouse as user_recommendations reads them (:func:`~elcrec_core.data.seen_items.seen_items`: also those
    that min_rating left out of the sequences, a trial's list held an item the user had rated low), numbered as
    the data numbers its items; the other users have none. None for other data."""
    from elcrec_core.data.seen_items import seen_items

    if args.checkpoint or data.item_ids is None or not _a_day_of_serving(args, data):
        return None
    stored = Path(args.serving) / "warehouse.duckdb"
    if not stored.is_file():
        return None
    folder = Path(args.data).resolve().parent
    try:
        end = partition_end(folder.name)
    except ValueError:  # a folder made by hand: no day's
        return None
    users = np.where(np.arange(len(own)) == at, own.user_ids.astype(str), "")  # "": no user's id (none is empty)
    return seen_items(stored, end, users, data.item_ids, read_sequence_settings(folder).event_types)


def _a_day_of_serving(args: argparse.Namespace, data: LoadedData) -> bool:
    """Whether ``--data`` is a ``sequences.parquet`` in a day's folder of the ``--serving`` folder's sequences, whose
    seen items :func:`_seen_in_the_warehouse` reads from its warehouse (helper-231: a missing warehouse was said to
    lose them for any sequences.parquet)."""
    return (data.format == "sequences-parquet"
            and Path(args.data).resolve().parent.parent == (Path(args.serving) / "sequences").resolve())


def _ties_for(checkpoint: Path, n_items: int, data_dir: str) -> Sequences | None:
    """The pipeline's newest sequences, whose popularity breaks a trained model's ties in user_recommendations, where
    the folder has them and their item index extends the model's (None otherwise: the user's data breaks them)."""
    from elcrec_core.train.checkpoint import CheckpointError, item_catalogue

    try:
        newest, item_ids = newest_pipeline_sequences(data_dir)
        item_catalogue(checkpoint, n_items, item_ids)
    except (FileNotFoundError, CheckpointError):
        return None
    return newest


def newest_pipeline_sequences(data_dir: str) -> tuple[Sequences, np.ndarray]:
    """The sequences of the day whose lists the pipeline's data folder ``data_dir`` serves (:func:`tables_day`;
    without them, the newest day's) and the item id of each index, what a baseline that serves is fitted on and
    whose popularity breaks ties; raises FileNotFoundError when the folder holds none."""
    listed = Path(data_dir) / "sequences" / str(tables_day(data_dir)) / SEQUENCES_FILE
    return read_sequence_parquet(listed if listed.is_file() else newest_sequences_folder(data_dir) / SEQUENCES_FILE)


def newest_sequences_folder(data_dir: str) -> Path:
    """The newest day folder of ``data_dir``/sequences that holds sequences; FileNotFoundError when none does."""
    days = [day for day in sequence_day_folders(data_dir) if (day / SEQUENCES_FILE).is_file()]
    if not days:
        raise FileNotFoundError(f"no sequences in {Path(data_dir) / 'sequences'}: a baseline that serves is fitted "
                                "on the pipeline's newest sequences; run the pipeline first")
    return days[-1]


def tables_day(data_dir: str | Path) -> str | None:
    """The day whose lists the pipeline's data folder ``data_dir`` serves: user_recommendations' (its ``partition``),
    else the newest day folder (:func:`newest_day`); a newer day's run that has built its sequences and not yet its
    lists leaves the table to the day before (helper-213: recommend named that day another day's)."""
    stored = Path(data_dir) / "warehouse.duckdb"
    return (held_partition(stored, "user_recommendations") if stored.is_file() else None) or newest_day(data_dir)


def newest_day(data_dir: str | Path) -> str | None:
    """The newest day folder of the pipeline's data folder ``data_dir`` (the day its served tables belong to),
    or None."""
    days = sequence_day_folders(data_dir)
    return days[-1].name if days else None


def serving_record(data_dir: str) -> tuple[ModelStore, ModelRecord]:
    """The model store of the pipeline's data folder ``data_dir`` and the record of the model that serves;
    raises FileNotFoundError when none serves."""
    store = ModelStore(data_folder(data_dir))
    serving = store.serving()
    if serving is None:
        raise FileNotFoundError(f"no model serves in {store.models} (no aliases.json): run the pipeline first")
    return store, serving


def data_folder(data_dir: str) -> str:
    """``data_dir`` where it is a folder; FileNotFoundError otherwise (a mistyped path is not a folder without
    models)."""
    if not Path(data_dir).is_dir():
        raise FileNotFoundError(f"{data_dir}: no such data folder (the pipeline's, where models/ is)")
    return data_dir
