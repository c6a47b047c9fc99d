"""The model store: versioned model folders, a typed record per model, and the serving aliases.

Layout under a data folder (every path a record or alias holds is relative to the data folder, so the folder can
be moved or mounted elsewhere)::

    models/<day>/<run id>/     one training run: best.pt, config.json, metrics.json, item_index.parquet,
                               record.json (its :class:`ModelRecord`), decision.json (the gate's verdict)
    models/<day>/<run id>/challengers/<name>/
                               the challengers of that candidate (SASRec, the baselines): record.json, and
                               best.pt, config.json, item_index.parquet for a trained one
    models/<day>/latest.json   the newest candidate of the day (a :class:`ModelRecord`)
    models/aliases.json        {"serving": record, "previous": record}: the model that serves, the one before
    models/serving_log.jsonl   one line per change of the serving alias (promotion or rollback)

Every file is written to a temporary name and renamed, so a reader never sees half a record. The store holds no
Dagster code: the pipeline's assets and the ``elcrec rollback`` command call it.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from elcrec_core.data.atomic_files import read_json, write_atomically
from elcrec_core.data.sequences import is_day
from elcrec_core.serve.serving_log import append_to_serving_log, read_serving_log
from elcrec_core.train.checkpoint import BEST

SERVING, PREVIOUS, RETIRED = "serving", "previous", "retired"  # RETIRED: marks a challenger a later fit left out
REPAIR = ": repair or remove it"  # the advice for a damaged record or decision file

TRAINED_KINDS = ("elcrec", "sasrec")  # with a checkpoint (best.pt); others: a recipe, refitted on what it scores


@dataclass(frozen=True)
class ModelRecord:
    """One model that may serve. ``day`` is the partition (ISO date) whose data it was trained on, ``dir`` its
    folder relative to the data folder; ``valid``/``test`` hold HR@K and NDCG@K of its training run (of its fit, for
    a baseline). ``kind``: ``elcrec``, ``sasrec`` (both with a ``best.pt``) or a baseline (``most_popular``,
    ``transition``, ``ease``, ``item_knn``: :mod:`elcrec_core.evaluate.baselines`) that its ``params`` refit."""

    day: str
    run_id: str
    dir: str
    valid: dict[str, float] = field(default_factory=dict)
    test: dict[str, float] = field(default_factory=dict)
    best_epoch: int = -1
    epochs: int = 0
    seconds: float = 0.0
    warm_start: bool = False
    warm_start_from: str | None = None  # the folder of the model it started from
    kind: str = "elcrec"
    params: dict[str, Any] = field(default_factory=dict)
    sequences: str = ""  # the digest of the sequences it trained on (elcrec_core.train.state.data_digest); "": unknown
    sequence_settings: str = ""  # the digest of the sequence settings that built them; "": unknown
    # the digest of what made it (a training's settings, start, sequences and code; a challenger's: its candidate's
    # and its kind): a model made again from the same recipe (the day's run again) is the same model; "": unknown
    recipe: str = ""

    @property
    def trained(self) -> bool:
        """Whether the record is a trained checkpoint (else a baseline's recipe)."""
        return self.kind in TRAINED_KINDS

    @property
    def checkpoint(self) -> str:
        """``best.pt`` in the model's folder, relative to the data folder."""
        return f"{self.dir}/{BEST}"

    @property
    def name(self) -> str:
        """``<day>/<run id>``: how logs, reports and the serving log name the model."""
        return f"{self.day}/{self.run_id}"

    @property
    def identity(self) -> str:
        """What makes two records one model: the recipe where known, else the name."""
        return f"recipe {self.recipe}" if self.recipe else self.name

    def to_dict(self) -> dict[str, Any]:
        """The record's fields as a JSON-ready dict (what ``record.json`` and the aliases hold)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelRecord":
        """The record that :meth:`to_dict` gave; keys of no field are ignored, a missing required one: TypeError."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class ModelStore:
    """Model folders, candidates and the serving aliases of one data folder (``root``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.models = self.root / "models"

    # --- paths ---------------------------------------------------------------------------------------------
    def run_dir(self, day: str, run_id: str) -> Path:
        """A new folder per training run: ``models/<day>/<run id>`` (absolute)."""
        return self.models / day / run_id

    def path(self, relative: str) -> Path:
        """A path that a record holds, made absolute."""
        return self.root / relative

    def relative(self, path: str | Path) -> str:
        """``path`` relative to the data folder, also through a folder in it that links to another disk (``models``
        on a larger one failed each training as it ended: helper-217); ValueError for a path outside it."""
        try:
            return Path(os.path.abspath(path)).relative_to(self.root).as_posix()
        except ValueError:  # a path through a link to the data folder
            return Path(path).resolve().relative_to(self.root).as_posix()

    def checkpoint(self, record: ModelRecord) -> Path:
        """The absolute path of ``record``'s ``best.pt`` (whether or not it exists)."""
        return self.path(record.checkpoint)

    def folder(self, record: ModelRecord) -> Path:
        """The absolute path of ``record``'s model folder."""
        return self.path(record.dir)

    # --- candidates ----------------------------------------------------------------------------------------
    def add_candidate(self, record: ModelRecord, metrics: dict[str, Any] | None = None) -> None:
        """Store a newly trained model: its ``record.json`` (and ``metrics.json`` with ``metrics`` beside the
        record's fields) in its folder, and ``models/<day>/latest.json``."""
        folder = self.folder(record)
        _write_json(folder / "record.json", record.to_dict())
        if metrics is not None:
            _write_json(folder / "metrics.json", {**record.to_dict(), **metrics})
        _write_json(self.models / record.day / "latest.json", record.to_dict())

    def add_challenger(self, candidate: ModelRecord, record: ModelRecord) -> None:
        """Store a challenger of ``candidate``: its ``record.json`` in ``record.dir`` (:meth:`challenger_dir`)."""
        _write_json(self.folder(record) / "record.json", record.to_dict())
        (self.folder(record) / RETIRED).unlink(missing_ok=True)  # fitted again: it competes again

    def challenger_dir(self, candidate: ModelRecord, name: str) -> Path:
        """``<candidate folder>/challengers/<name>`` (absolute): where a challenger of ``candidate`` lives."""
        return self.folder(candidate) / "challengers" / name

    def challengers(self, candidate: ModelRecord) -> list[ModelRecord]:
        """The stored challengers of ``candidate``, by name, except those retired (:meth:`retire_challenger`)."""
        folder = self.folder(candidate) / "challengers"
        return [_record(read_json(path, REPAIR), path)
                for path in sorted(folder.glob("*/record.json")) if not (path.parent / RETIRED).exists()]

    def retire_challenger(self, record: ModelRecord) -> bool:
        """Take a challenger out of the competition (a later fit left it out): its folder is removed, or, when it
        serves, served before or is ``previous`` (so that serving, rollback and the backtest find it), kept with a
        ``retired`` marker that :meth:`challengers` skips. Returns whether the folder was kept. A model is known by
        its folder (its record's other fields, such as the fit's seconds, change when it is fitted again)."""
        served = {entry[key]["dir"] for entry in self.serving_log() for key in (SERVING, PREVIOUS) if entry[key]}
        if record.dir in served | {alias.dir for alias in self.aliases().values()}:
            (self.folder(record) / RETIRED).write_text("left out by a later fit of the challengers\n", encoding="utf-8")
            return True
        shutil.rmtree(self.folder(record))
        return False

    def candidate(self, day: str, runs: Sequence[str] = ()) -> ModelRecord | None:
        """The model that the first of ``runs`` to have trained one for ``day`` trained (a run, then the runs it
        re-executes: so that two runs of one day each judge their own), else the day's newest model, or None."""
        for run_id in runs:
            if (own := _read_record(self.run_dir(day, run_id) / "record.json")) is not None:
                return own
        return _read_record(self.models / day / "latest.json")

    def intent_model(self, day: str, runs: Sequence[str] = ()) -> ModelRecord | None:
        """The ELCRec model whose intents the profiles and the recommendations of ``day`` show: the serving model
        when it is an ELCRec model, else (a challenger serves) the newest ELCRec model that has served on data up
        to ``day``, else the day's candidate (:meth:`candidate` of ``runs``), or None."""
        return self.served_up_to(day, kinds=("elcrec",)) or self.candidate(day, runs)

    def record_decision(self, record: ModelRecord, decision: dict[str, Any]) -> None:
        """Keep the gate's verdict on ``record`` in its folder (``decision.json``)."""
        _write_json(self.folder(record) / "decision.json", decision)

    def judged_days(self, serving: ModelRecord | None = None) -> set[str]:
        """The days (folders named by a real date) of the models that the gate has judged (their folders hold
        ``decision.json``); with ``serving``, only those whose gate kept or chose that model (it ``serves``)."""
        days = [path for path in self.models.glob("????-??-??/*/decision.json") if is_day(path.parent.parent.name)]
        return {path.parent.parent.name for path in days if serving is None or (kept := read_json(path, REPAIR)).get(
            "serves") and (kept.get(SERVING) or {}).get("dir") == serving.dir}  # read only where serving is asked

    def decision(self, record: ModelRecord) -> dict[str, Any] | None:
        """The gate's ``decision.json`` in ``record``'s folder or None; ValueError naming it where it is damaged."""
        return read_json(path, REPAIR) if (path := self.folder(record) / "decision.json").exists() else None

    # --- aliases -------------------------------------------------------------------------------------------
    def aliases(self) -> dict[str, ModelRecord]:
        """The aliases that are set (``serving``, ``previous``). Raises ValueError for a damaged file, naming where
        its content is: the serving log's last line (removed, it left no model serving: helper-217)."""
        path = self.models / "aliases.json"
        try:
            raw = read_json(path) if path.exists() else {}
            return {name: _record(value, path, "") for name, value in raw.items() if value is not None}
        except ValueError as err:
            raise ValueError(f"{err}: repair it as the serving log's last line says (its \"serving\" and "
                             f"\"previous\", in {self.models / 'serving_log.jsonl'}); removed, it would leave no model "
                             "serving") from None

    def serving(self) -> ModelRecord | None:
        """The model that serves recommendations, or None before the first promotion."""
        return self.aliases().get(SERVING)

    def previous(self) -> ModelRecord | None:
        """The model that served before the serving one (what :meth:`rollback` restores)."""
        return self.aliases().get(PREVIOUS)

    def promote(self, record: ModelRecord, reason: str) -> None:
        """Make ``record`` serve; the model that served becomes ``previous``."""
        serving = self.serving()
        if serving == record:
            return
        self._set_aliases(record, serving, "promote", reason)

    def rollback(self, reason: str = "rollback") -> ModelRecord:
        """Serve the ``previous`` model again; the one that served becomes ``previous`` (a second rollback
        undoes the first). Raises LookupError when no model served before."""
        aliases = self.aliases()
        if PREVIOUS not in aliases:
            raise LookupError(f"no previous model to roll back to in {self.models}")
        self._set_aliases(aliases[PREVIOUS], aliases.get(SERVING), "rollback", reason)
        return aliases[PREVIOUS]

    def served_up_to(self, day: str, kinds: tuple[str, ...] | None = None) -> ModelRecord | None:
        """The model to start from, or to score, for data up to ``day``: the serving model when it was trained
        on a day not after ``day``, else the model of the newest such day that has served (from the serving
        log; of several of one day, the one that served last), leaving out a model that a rollback withdrew (and
        no later entry restored). Never a model trained on later data. ``kinds``: only models of these kinds (say
        ``("elcrec",)`` to warm-start ELCRec), None: any."""
        def wanted(record: ModelRecord) -> bool:
            return record.day <= day and (kinds is None or record.kind in kinds)

        serving = self.serving()
        if serving is not None and wanted(serving):
            return serving
        last_served = {}  # by name: when it last began to serve
        for n, entry in enumerate(self.serving_log()):
            record = _record(entry[SERVING], self.models / "serving_log.jsonl")
            last_served[record.name] = (n, record)
        withdrawn = self.withdrawn()
        earlier = [(record.day, n, record) for n, record in last_served.values()
                   if wanted(record) and record.identity not in withdrawn]
        return max(earlier, key=lambda found: found[:2])[2] if earlier else None

    def withdrawn(self) -> set[str]:
        """The identities (:attr:`ModelRecord.identity`: the recipe, else the name) of the models that a rollback
        took out of serving and no later entry of the serving log restored (a rollback of that rollback, or a
        promotion): a model trained again from a withdrawn one's recipe (its day run again) is withdrawn too. A
        last entry that the aliases do not show (the aliases' write failed after the log's: a full disk, a killed
        process) was not applied, and does not count."""
        withdrawn: set[str] = set()
        log = self.models / "serving_log.jsonl"
        entries, serving = self.serving_log(), self.serving()
        if entries and serving is not None and _record(entries[-1][SERVING], log).name != serving.name:
            entries = entries[:-1]
        for entry in entries:
            identity = _record(entry[SERVING], log).identity
            undo = identity in withdrawn  # a rollback of a rollback restores the model, blaming no other
            withdrawn.discard(identity)
            left = _record(entry[PREVIOUS], log).identity if entry[PREVIOUS] is not None else identity
            if entry["action"] == "rollback" and left != identity and not undo:  # not from a model to its twin
                withdrawn.add(left)
        return withdrawn

    def serving_log(self) -> list[dict[str, Any]]:
        """Every change of the serving alias, oldest first: time, action, reason, serving, previous."""
        path = self.models / "serving_log.jsonl"
        return read_serving_log(path)

    def _set_aliases(self, serving: ModelRecord, previous: ModelRecord | None, action: str, reason: str) -> None:
        entry = {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "action": action,
                 "reason": reason, SERVING: serving.to_dict(), PREVIOUS: previous.to_dict() if previous else None}
        append_to_serving_log(self.models / "serving_log.jsonl", entry)  # first: it says what serves
        _write_json(self.models / "aliases.json", {SERVING: entry[SERVING], PREVIOUS: entry[PREVIOUS]})


def _read_record(path: Path) -> ModelRecord | None:
    return _record(read_json(path, REPAIR), path) if path.exists() else None


def _record(value: Any, path: Path, advice: str = REPAIR) -> ModelRecord:
    """A model record read from ``path``; ValueError naming the file where it is not one (an edit by hand)."""
    if not isinstance(value, dict) or not {"day", "run_id", "dir"} <= value.keys():
        raise ValueError(f"{path} holds {json.dumps(value)[:80]} where a model record is expected (an object with "
                         f"day, run_id, dir, ...){advice}")
    return ModelRecord.from_dict(value)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write atomically (:func:`~elcrec_core.data.atomic_files.write_atomically`)."""
    write_atomically(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
