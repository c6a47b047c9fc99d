"""The ``elcrec rollback`` subcommand: serve the pipeline's previous model again, judged first as the promotion gate
judges a model against its floor (:func:`elcrec_core.serve.promotion.judge_alone`), and the command that recomputes
the served tables."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from elcrec_core.cli.serving import SEQUENCES_FILE, data_folder, newest_sequences_folder
from elcrec_core.config import partitions
from elcrec_core.data import warehouse
from elcrec_core.data.sequences import SequenceTensors, read_sequence_parquet, sequence_day_folders
from elcrec_core.evaluate.score_text import ScoreFormat
from elcrec_core.evaluate.scoring import Recommender
from elcrec_core.serve.model_store import ModelRecord, ModelStore

RUN_CONFIG = "ELCREC_RUN_CONFIG"  # the run config file of the schedule's and the sensor's runs (elcrec_pipeline.jobs)
DATA_DIR = "ELCREC_DATA_DIR"  # the data folder of the pipeline's runs (elcrec_pipeline.resources)
TEAM_SETTINGS = ("ELCREC_SOURCE", "ELCREC_INPUT_DIRS", RUN_CONFIG, partitions.START_DATE_ENV)  # a folder's own


def cmd_rollback(args: argparse.Namespace) -> int:
    """``elcrec rollback``: serve the previous model again, once the promotion gate's floor has judged it on the
    newest sequences (not with ``--force``); prints what serves, its validation NDCG@20 there beside most popular's,
    and the command that recomputes the served tables."""
    store = ModelStore(data_folder(args.data_dir))
    tables = _recommendations_model(Path(args.data_dir))  # read before anything changes
    newest = refresh_day(Path(args.data_dir))
    restored = store.previous()
    judged = (_judge_on_newest(store, restored, store.serving(), args.data_dir)
              if restored is not None and not args.force else None)
    if judged is not None and judged.refusal:
        raise ValueError(f"{restored.name} ({restored.kind}) may not serve on the newest sequences ({judged.day}): "
                         f"{judged.refusal}; nothing changed (--force rolls back all the same)")
    if not args.force and store.previous() != restored:  # judging takes a while: a promotion may come between
        raise ValueError(f"the previous model changed while {restored.name} was judged: nothing changed; roll back "
                         "again")
    try:
        rolled_back_from = store.serving()
        serving = store.rollback(args.reason)
    except LookupError as exc:
        raise FileNotFoundError(str(exc)) from None
    intents = store.intent_model(newest) if newest else None  # what a refresh takes the intents from
    result = {"serving": serving.name, "previous": rolled_back_from.name if rolled_back_from else None,
              "tables_from": tables[0] if tables else None,
              "intents_from": intents.name if intents else None, "refresh": refresh_command(Path(args.data_dir)),
              "validation": judged.to_dict() if judged is not None else None}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"serving {serving.name} again (previous: {result['previous']}); "
              f"{judged.text() if judged else 'not judged (--force)' if args.force else 'no sequences to judge it on'}")
        if result["refresh"]:
            held = (f"hold what {tables[0]} ({tables[1]}) served" if tables
                    else "are as the last run left them")
            todo = (f"they are {serving.name}'s already; to compute them again on the newest day's data"
                    if tables and tables[0] == serving.name else f"to serve {serving.name}'s now")
            report = (", and the newest day's report names the model that served when it was made" if
                      "evaluation_report" in result["refresh"] else "")
            print(f"the tables user_recommendations, user_intents and intent_profiles {held}{report}, until the "
                  f"next run; {todo} (intents: "
                  f"{result['intents_from']}{_intents_note(intents, rolled_back_from, store)}):\n"
                  f"  {result['refresh']}")
    if result["refresh"] and (other := another_folders_environment(Path(args.data_dir))):
        left_out = other_folders_settings(Path(args.data_dir))
        home = os.environ.get("DAGSTER_HOME")
        print(f"warning: this environment's {DATA_DIR} names another data folder ({other})"
              + (f": its {', '.join(left_out)} are unset in the command; add those of the runs of "
                 f"{Path(args.data_dir).resolve()}" if left_out else "")
              + (f"; its DAGSTER_HOME ({home}) stays: check that it is the instance of that folder's runs" if home
                 else ""), file=sys.stderr)
    return 0


@dataclass(frozen=True)
class Judgement:
    """The restored model on the validation split of the newest sequences (``day``), judged by the promotion gate's
    floor alone: ``refusal`` says why it may not serve (None: it may); ``ndcg``: its validation NDCG@20 (None where
    it gives no finite scores or cannot be used), ``most_popular``: most popular's there (None where unused);
    ``withdrawn``: the name of the model rolled back from and its validation NDCG@20 there (None: it cannot be
    scored there), where one serves."""

    day: str
    refusal: str | None
    ndcg: float | None = None
    most_popular: float | None = None
    withdrawn: tuple[str, float | None] | None = None

    def to_dict(self) -> dict[str, str | float | None]:
        return {"day": self.day, "NDCG@20": self.ndcg, "most_popular_NDCG@20": self.most_popular,
                "previous_NDCG@20": self.withdrawn[1] if self.withdrawn else None}

    def text(self) -> str:
        name, score = self.withdrawn or (None, None)
        than = "" if score is None or self.ndcg is None else (
            " (the restored model is lower)" if self.ndcg < score else " (the restored model is higher)"
            if self.ndcg > score else " (level)")
        fmt = ScoreFormat.of([value for value in (self.ndcg, self.most_popular, score) if value is not None])
        before = ("" if name is None else f"; {name}, rolled back from, {fmt(score)}{than}" if score is not None
                  else f"; {name}, rolled back from, cannot be scored there")
        return f"validation NDCG@20 on the newest sequences ({self.day}) {fmt(self.ndcg)}, most popular " \
               f"{fmt(self.most_popular)}{before}"


def _judge_on_newest(store: ModelStore, record: ModelRecord, serving: ModelRecord | None,
                     data_dir: str) -> Judgement | None:
    """``record`` judged on the pipeline's newest sequences (the promotion gate's floor:
    :func:`elcrec_core.serve.promotion.judge_alone`; refused too where its checkpoint cannot be read, is of another
    item catalogue, or it cannot score them), with the score there of ``serving``, the model it replaces, where it
    may serve; None without sequences to judge it on."""
    from elcrec_core.serve.promotion import CANDIDATE, FLOOR, judge_alone

    try:
        day = newest_sequences_folder(data_dir)
    except FileNotFoundError:
        return None
    seqs, item_ids = read_sequence_parquet(day / SEQUENCES_FILE)
    data = SequenceTensors.from_sequences(seqs)
    recommender = _usable(store, record, data, item_ids)
    if isinstance(recommender, str):
        return Judgement(day.name, recommender)
    decision = judge_alone(record, recommender, data)
    if decision.refusal is not None or serving is None:
        return Judgement(day.name, decision.refusal, decision.scores.get(CANDIDATE), decision.scores.get(FLOOR))
    current = _usable(store, serving, data, item_ids)
    score = None if isinstance(current, str) else judge_alone(serving, current, data).scores.get(CANDIDATE)
    return Judgement(day.name, None, decision.scores.get(CANDIDATE), decision.scores.get(FLOOR), (serving.name, score))


def _usable(store: ModelStore, record: ModelRecord, data: SequenceTensors, item_ids: np.ndarray) -> Recommender | str:
    """The recommender of ``record`` fitted as the gate fits it on ``data`` (items ``item_ids``), or why it cannot
    score them: its checkpoint cannot be read or is of another item catalogue, or an EASE past its item limit."""
    from elcrec_core.serve.recommenders import load_recommender
    from elcrec_core.train.checkpoint import CheckpointError, item_catalogue

    try:
        recommender = load_recommender(store, record, data, "valid")
        if record.trained:
            item_catalogue(store.checkpoint(record), recommender.n_items, item_ids)
    except (OSError, CheckpointError) as err:
        return f"its checkpoint cannot be used ({err})"
    except ValueError as err:  # an EASE past its item limit
        return f"it cannot score them ({err})"
    return recommender


def _recommendations_model(data_dir: Path) -> tuple[str, str] | None:
    """The name (``<day>/<run>``) and kind of the model that the warehouse's user_recommendations name (their
    ``model`` column: ``<day>/<run> (<kind>)``), or None: no such table, several models, or a warehouse that
    cannot be read now (a run holds it)."""
    path = data_dir / "warehouse.duckdb"
    if not path.is_file():
        return None
    try:
        with warehouse.connect(path, read_only=True) as con:
            if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'user_recommendations'"
                               ).fetchone()[0]:
                return None
            models = [row[0] for row in con.execute("SELECT DISTINCT model FROM user_recommendations LIMIT 2")
                      .fetchall()]
    except (RuntimeError, duckdb.Error):  # locked by a run, or damaged: the message says less, the rollback stands
        return None
    if len(models) != 1 or not models[0].endswith(")") or " (" not in models[0]:
        return None
    name, kind = models[0][:-1].rsplit(" (", 1)
    return name, kind


def _intents_note(intents: ModelRecord | None, rolled_back_from: ModelRecord | None, store: ModelStore) -> str:
    """What to know of the intent model of a refresh: where it is the model rolled back from and withdrawn (not where a
    rollback undid a rollback: that restores it), no other ELCRec model has served, and its intents stay (the day's
    candidate, :meth:`ModelStore.intent_model`); where it is a candidate that the gate found unfit
    (:func:`below_floor`), that (helper-194: an untrained model's intents, without a word)."""
    from elcrec_core.serve.promotion import below_floor

    if intents is None:
        return ""
    if unfit := below_floor(store.decision(intents)):
        return (f", the day's candidate, which the gate found unfit ({unfit}): no ELCRec model that still stands has "
                "served, and its intents tell little of the users' interests")
    if rolled_back_from is None or intents.name != rolled_back_from.name or rolled_back_from.identity not in \
            store.withdrawn():
        return ""
    return (", the model rolled back from: no ELCRec model that still stands has served, and the intents are the "
            "day's model's")


def another_folders_environment(data_dir: Path) -> Path | None:
    """The data folder that this environment's ``ELCREC_DATA_DIR`` names, where it is set and is not ``data_dir``:
    then its source, input folders, run config and first day (:data:`TEAM_SETTINGS`) are most likely that folder's
    (two teams' data folders on one Dagster instance, README "Several data folders, one instance"); else None."""
    here = os.environ.get(DATA_DIR)
    return Path(here).resolve() if here and Path(here).resolve() != data_dir.resolve() else None


def other_folders_settings(data_dir: Path) -> list[str]:
    """The names of :data:`TEAM_SETTINGS` that this environment sets where its ``ELCREC_DATA_DIR`` names another
    folder than ``data_dir`` (:func:`another_folders_environment`): that folder's, which the refresh command of
    ``data_dir`` unsets; none otherwise."""
    return [name for name in TEAM_SETTINGS if os.environ.get(name)] if another_folders_environment(data_dir) else []


def refresh_day(data_dir: Path) -> str | None:
    """The newest day with sequences in the pipeline's data folder ``data_dir`` whose model is stored, whose served
    tables a refresh recomputes (the tables' assets need the day's model: the printed command named a day whose
    training failed after its sequences, and failed: helper-234); None where there is none."""
    store = ModelStore(data_dir)
    return next((folder.name for folder in reversed(sequence_day_folders(data_dir))
                 if store.candidate(folder.name) is not None), None)


def refresh_command(data_dir: Path) -> str | None:
    """The command that recomputes the served tables (user_recommendations, user_intents, intent_profiles) of
    the pipeline's data folder ``data_dir`` for its :func:`refresh_day`, from the model that serves now, and that
    day's report where it has a judged candidate (the report names the model that serves); None where there is no
    such day. It names the environment the pipeline's runs need: the data folder, the first
    day of the partitions (``ELCREC_START_DATE`` as set here; else none, the pipeline's default, where the folder's
    oldest day is not before it, as the runs most likely had it, or else that oldest day, so that the day is a
    partition), ``DAGSTER_HOME`` where it is set (its pools keep the warehouse's writers one at a time, and the
    UI shows the run), ``ELCREC_SOURCE``, ``ELCREC_INPUT_DIRS`` and ``ELCREC_RUN_CONFIG`` where they are set
    (absolute, as the data folder), and gives it the run config file (``-c``, as the schedule's and the sensor's
    runs have it: the team's settings, such as ``top_k``); none of these four (:data:`TEAM_SETTINGS`) where this
    environment's ``ELCREC_DATA_DIR`` names another folder (:func:`another_folders_environment`): they are its,
    and the command unsets them (``env -u``), as this shell may export them."""
    newest = refresh_day(data_dir)
    if newest is None:
        return None
    days = [folder.name for folder in sequence_day_folders(data_dir)]
    beside = Path(sys.executable).parent / "dagster"  # the dagster of this environment
    dagster = str(beside) if beside.exists() else "dagster"
    own = {name: os.environ.get(name) for name in TEAM_SETTINGS if not another_folders_environment(data_dir)}
    # the other folder's settings, exported in this shell, would reach the command: unset there
    unset = "".join(["env ", *(f"-u {name} " for name in names)]) if (names := other_folders_settings(data_dir)) else ""
    env = {"DAGSTER_HOME": os.environ.get("DAGSTER_HOME"), DATA_DIR: str(data_dir.resolve()),
           partitions.START_DATE_ENV: own.get(partitions.START_DATE_ENV)
           or (days[0] if days[0] < partitions.DEFAULT_START_DATE else None),
           **{name: os.pathsep.join(str(Path(part).resolve()) for part in value.split(os.pathsep) if part)
              for name in TEAM_SETTINGS[:3] if (value := own.get(name))}}
    settings = " ".join(f"{name}={shlex.quote(value)}" for name, value in env.items() if value)
    run_config = own.get(RUN_CONFIG)
    config = f" -c {shlex.quote(str(Path(run_config).resolve()))}" if run_config else ""
    store = ModelStore(data_dir)
    judged = store.decision(store.candidate(newest)) is not None
    report = ",evaluation_report" if judged else ""  # a day without a judged candidate has no report to make again
    return (f"{unset}{settings} {shlex.quote(dagster)} asset materialize -m elcrec_pipeline.definitions{config} "
            f"--select user_recommendations,intent_profiles{report} --partition {newest}")
