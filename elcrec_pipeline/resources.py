"""Resources: where the pipeline keeps its data, and which device trains."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import polars as pl
import yaml
from filelock import FileLock, Timeout
from pydantic import Field

from elcrec_core.data.day_loads import held_partition
from elcrec_core.data.files import SourceReadError, file_sha256, reading
from elcrec_core.data.events_to_sequences import SHORT_HISTORIES_FILE, read_sequence_settings
from elcrec_core.data.sequence_settings import comparable_settings
from elcrec_core.data.sequences import ITEM_INDEX_FILE, Sequences, read_sequence_parquet, sequence_day_folders
from elcrec_core.data.source_config import NORMALISED_SCHEMA, read_settings_file, resolve_files
from elcrec_core.data.validation import EVENT_COLUMNS
from elcrec_core.data.warehouse_file import require_openable
from elcrec_core.serve.model_store import ModelRecord, ModelStore
from elcrec_core.serve.training_data import with_day_settings
from elcrec_core.train.state import data_digest

DATA_DIR_ENV = "ELCREC_DATA_DIR"
INPUT_DIRS_ENV = "ELCREC_INPUT_DIRS"
SOURCE_ENV = "ELCREC_SOURCE"
WAREHOUSE_TAG = "elcrec/warehouse"  # the tag of a run that uses a data folder: the folder's warehouse
# a file that starts a new, empty store in a folder where an earlier run succeeded (or one gone, made again)
NEW_STORE_FILE = "NEW_STORE"
TRAINING_LOCK_NOTE_SECONDS = 300  # how often a training that waits for another's lock says so


def digest(settings: Any, inputs: Sequence[Path | pl.DataFrame] = ()) -> str:
    """16 hex digits of SHA-256 over ``settings`` (JSON with sorted keys, other values as their text) and each of
    ``inputs`` in order: a file's bytes, or a frame's rows (polars' row hashes, seed 0). The assets' data versions
    and the training folders' names: equal settings and inputs, equal digest."""
    sha = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for item in inputs:
        if isinstance(item, pl.DataFrame):
            sha.update(item.hash_rows(seed=0).to_numpy().tobytes())
        else:
            sha.update(file_sha256(item))
    return sha.hexdigest()[:16]


def events_content(events: pl.DataFrame) -> str:
    """:func:`digest` of the ``events`` (validation's ``EVENT_COLUMNS``) as the sequences read them: each event's
    user, item, time, rating and type, and its place among the user's events of the same time in file and row
    order, in a canonical order: equal for the same events in the same order however the files wrote them (columns
    in another order, line ends, quotes, a byte order mark, blank lines)."""
    fields = [column for column in EVENT_COLUMNS if column not in ("source_file", "source_row")]
    placed = events.sort("user_id", "timestamp", "source_file", "source_row", nulls_last=False).select(
        *(pl.col(name).cast(NORMALISED_SCHEMA[name]) for name in fields),  # read or stored: the same row hashes
        tie=pl.int_range(pl.len()).over("user_id", "timestamp"))
    return digest("events", [placed.sort(pl.all(), nulls_last=False)])


def files_shape(files: list[Path]) -> str:
    """A short digest of the files' paths and sizes (a stat each): equal where only their modification times
    differ (a file touched, or copied again without its time), when :func:`files_content` may be equal too."""
    return _digest_of(files, lambda file: str(file.stat().st_size))


def files_content(files: list[Path]) -> str:
    """A short digest of the files' paths and bytes (each file read once): it changes only when what they hold
    does, or a file arrives or goes."""
    return _digest_of(files, lambda file: file_sha256(file).hex())


def files_version(files: list[Path]) -> str:
    """A short digest of the files' paths, sizes and modification times: it changes when any of them changes,
    arrives or goes, and so does the run key."""
    return _digest_of(files, lambda file: f"{(stat := file.stat()).st_size}:{stat.st_mtime_ns}")


class FilesNow:
    """Files as they are now, beside what a load of them recorded in its metadata: its ``files_version`` (taken
    before it read them), or else the same paths, sizes and bytes (``files_shape``, then ``files_content``, read
    once and only where the sizes agree: a file touched, or copied again without its time, is the same)."""

    def __init__(self, files: list[Path]) -> None:
        self.files, self.version, self.shape = files, files_version(files), files_shape(files)
        self._content: str | None = None

    def loaded_by(self, metadata: Mapping[str, dg.MetadataValue]) -> bool:
        """Whether the load whose materialization ``metadata`` this is read the files as they are now (not where
        it recorded none of these facts, as loads before them did not)."""
        recorded = {name: value.value for name, value in metadata.items()}
        if recorded.get("files_version") == self.version:
            return True
        if recorded.get("files_shape") != self.shape:  # cheap: a size or a file differs, so the content does
            return False
        self._content = self._content or files_content(self.files)
        return recorded.get("files_content") == self._content


def _digest_of(files: list[Path], fact: Callable[[Path], str]) -> str:
    """A short digest of each file's ``path:fact`` line; a file gone since it was listed (an upload renamed into
    place) counts as gone."""
    lines = []
    for file in files:
        try:
            lines.append(f"{file}:{fact(file)}")
        except OSError:
            continue
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


class Storage(dg.ConfigurableResource):
    """The pipeline's data folder: the DuckDB warehouse, sequences per partition, and the model store (versioned
    model folders, reports, and the serving aliases). Sources are read from the data folder and the input folders
    only. Unset fields take ``ELCREC_DATA_DIR`` (else ``data``) and ``ELCREC_INPUT_DIRS`` (folders separated by
    ``os.pathsep``), read when a run uses them, never at import."""

    data_dir: str = Field("", description=f"the data folder (default: ${DATA_DIR_ENV}, else ./data)")
    input_dirs: list[str] | None = Field(
        None, description=f"folders sources may be read from besides the data folder (default: ${INPUT_DIRS_ENV})")

    @property
    def root(self) -> Path:
        return Path(self.data_dir or dg.EnvVar(DATA_DIR_ENV).get_value() or "data").resolve()

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Tags the run that uses this folder with its warehouse (:data:`WAREHOUSE_TAG`) as its first step starts,
        so that the UI's runs say which data folder each was for (one Dagster instance may run several) and the
        sensor tells the runs of its folder from the others'; nothing in a sensor's or a test's context (no run).
        Raises ValueError for a folder whose warehouse DuckDB cannot open
        (:func:`elcrec_core.data.warehouse_file.require_openable`), for a folder that does not exist though earlier
        runs of this instance used it, and for an empty folder though an earlier run succeeded with it (the mount
        point of a volume not mounted): an unmounted volume made a new, empty store that trained from scratch and
        served, in a green run (helper-234, helper-239). A file in the folder (:data:`NEW_STORE_FILE`) starts a new
        store there, which the run's log says."""
        setting = "the run config's resources.storage.config.data_dir" if self.data_dir else DATA_DIR_ENV
        require_openable(self.warehouse, setting)  # before any step's work, without retries
        run = context.run
        if refusal := self._lost_store(context.instance, run, setting):
            raise ValueError(refusal)
        if context.log is not None and not self.warehouse.exists() and (self.root / NEW_STORE_FILE).exists():
            context.log.info(f"{self.root / NEW_STORE_FILE}: a new, empty store starts in {self.root}; the file may "
                             "be removed once this run has written there")  # it said nothing (helper-243)
        # made before the run is tagged: a tagged run means a folder made (a first run that failed before it wrote
        # anything, or one of a backfill's runs that started before the first had written, was taken for a folder
        # gone: helper-236)
        self.root.mkdir(parents=True, exist_ok=True)
        if context.instance is not None and run is not None and run.tags.get(WAREHOUSE_TAG) != str(self.warehouse):
            context.instance.add_run_tags(run.run_id, {WAREHOUSE_TAG: str(self.warehouse)})

    def _lost_store(self, instance: dg.DagsterInstance | None, run: dg.DagsterRun | None, setting: str) -> str:
        """Why the folder's store looks lost (gone, or an empty folder where a run succeeded), or ""."""
        if instance is None or self.warehouse.exists():
            return ""

        def earlier(statuses: list[dg.DagsterRunStatus] | None = None) -> str:
            runs = instance.get_runs(dg.RunsFilter(tags={WAREHOUSE_TAG: str(self.warehouse)}, statuses=statuses),
                                     limit=2)  # queried before the folder is looked at: a backfill's first run
            return next((other.run_id for other in runs if run is None or other.run_id != run.run_id), "")

        start_anew = (f"point the setting at the folder, or put a file named {NEW_STORE_FILE} in it (mkdir -p "
                      f"{self.root} && touch {self.root / NEW_STORE_FILE}) to start a new, empty store there")
        if (used := earlier()) and not self.root.exists():  # may make the folder and tag itself in between
            return (f"the data folder {self.root} ({setting}) does not exist, though run {used} of this instance used "
                    f"it: an unmounted volume, or a folder moved? Nothing was made there; mount the volume, or "
                    f"{start_anew}")
        # lost+found: a new, empty file system mounted there (helper-243)
        if (succeeded := earlier([dg.DagsterRunStatus.SUCCESS])) and self.root.is_dir() and not any(
                entry.name != "lost+found" for entry in self.root.iterdir()):
            return (f"the data folder {self.root} ({setting}) is empty, though run {succeeded} of this instance "
                    f"succeeded with it: the mount point of a volume not mounted, or a folder emptied? Nothing was "
                    f"made there; mount the volume, or {start_anew}")
        return ""

    @property
    def source_dirs(self) -> list[Path]:
        """The input folders (``input_dirs``, else ``ELCREC_INPUT_DIRS``), resolved."""
        dirs = self.input_dirs
        if dirs is None:
            dirs = (dg.EnvVar(INPUT_DIRS_ENV).get_value() or "").split(os.pathsep)
        return [Path(d).resolve() for d in dirs if d]

    def input_path(self, path: str, extra_dirs: Sequence[Path] = (), setting: str = "source path",
                   missing: Callable[[], str] | None = None) -> str:
        """A source path from run config as an absolute path (a relative one is relative to the working
        directory), once it and every file it names, links followed, are found inside the data folder, an
        input folder or one of ``extra_dirs``; otherwise (or when it names no file) a :class:`dagster.Failure`
        says why, naming the ``setting`` that gave the path, with the advice that ``missing()`` gives (asked only
        then: it may list folders) where it names no file: a path or a glob that matches nothing."""
        roots = [self.root, *self.source_dirs, *(Path(d).resolve() for d in extra_dirs)]
        full = Path(path).resolve()
        split = [] if self.input_dirs is not None else [  # a folder named with the separator, taken as two
            folder for folder in (full, *full.parents) if os.pathsep in folder.name]
        allowed = (f"outside the folders sources are read from ({', '.join(map(str, roots))}); add its folder to "
                   f"the storage resource's input_dirs ({INPUT_DIRS_ENV}) to read it" + (
                       f" ({INPUT_DIRS_ENV} separates folders by {os.pathsep!r}, which the name of {split[-1]} "
                       f"holds: name a folder above it, or list the folders in input_dirs)" if split else ""))
        if not any(full.is_relative_to(root) for root in roots):
            raise dg.Failure(f"{setting} {path!r} is {full}, {allowed}", allow_retries=False)
        try:
            files = resolve_files(full)
        except SourceReadError as exc:
            raise dg.Failure(f"{setting} {path!r}: {exc}{missing() if missing else ''}", allow_retries=False) from exc
        for file in files:
            if not any(file.is_relative_to(root) for root in roots):
                raise dg.Failure(f"{setting} {path!r} leads to {file} through a link, {allowed}",
                                 allow_retries=False)
        return str(full)

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    def profiles_dir(self, partition: str) -> Path:
        """Where the intent profiles of ``partition`` draw their plots (the serving model on the day's data)."""
        return self.root / "profiles" / partition

    def sequences_dir(self, partition: str) -> Path:
        return self.root / "sequences" / partition

    def refused_dir(self, partition: str, run_id: str) -> Path:
        """Where a load of ``partition`` that its expectations refused in run ``run_id`` keeps its rejected rows
        and counts (:func:`elcrec_core.data.rejections.keep_refused_load`)."""
        return self.root / "refused" / partition / run_id

    def prune_sequences(self, newest: str, keep_days: int, busy: Collection[str] = ()) -> list[str]:
        """Delete the sequence folders of days more than ``keep_days`` before ``newest`` whose model the gate has
        judged, except the days of the serving and the previous model and the days ``busy`` (those of runs in
        progress: an old day run again reads the folder it has just built); returns the days removed. A day not
        judged yet keeps its folder, which its training, challengers and gate still read (a backfill builds every
        day's sequences before it trains the first); a day that never trains keeps it until it does. Each day's folder
        holds every user's whole history, so keeping them all would grow the data folder with the square of the
        days. Raises ValueError for a negative ``keep_days``."""
        if keep_days < 0:
            raise ValueError(f"keep_days must be >= 0, not {keep_days}")
        kept = {record.day for record in self.store.aliases().values()}
        judged = self.store.judged_days()
        oldest = date.fromisoformat(newest) - timedelta(days=keep_days)
        removed = []
        for folder in sequence_day_folders(self.root):
            if (folder.name in judged and folder.name not in kept and folder.name not in busy
                    and date.fromisoformat(folder.name) < oldest):
                shutil.rmtree(folder)
                removed.append(folder.name)
        return removed

    def newer_day(self, partition: str) -> str | None:
        """The newest day with sequences when it is after ``partition``, else None. The warehouse's live tables
        (sequences, user_intents, intent_profiles, user_recommendations) belong to the newest day: a day run
        again later (a backfill, a re-materialization) must not put its older histories in them."""
        newest = max((folder.name for folder in sequence_day_folders(self.root)), default=None)
        return newest if newest is not None and newest > partition else None

    def newer_day_in(self, table: str, partition: str) -> str | None:
        """The day (its ``partition`` column) whose rows the warehouse's live ``table`` (user_recommendations,
        user_intents) holds when it is after ``partition``, else None (an older day's rows). A newer day with
        sequences only (its run failed after them, or is going) leaves the table to this day: it writes its own
        rows when they come. A table without rows of a day (none yet, empty, or of a version without the column)
        belongs to the newest day with sequences (:meth:`newer_day`)."""
        held = held_partition(self.warehouse, table)
        if held is None:
            return self.newer_day(partition)
        return held if held > partition else None

    def newest_sequences(self, first: str, last: str) -> str | None:
        """The newest day from ``first`` to ``last`` (ISO dates, both included) whose sequences are stored, or None."""
        days = [folder.name for folder in sequence_day_folders(self.root)
                if first <= folder.name <= last and self.sequences_file(folder.name).exists()]
        return max(days, default=None)

    def sequence_settings_digest(self, partition: str) -> str:
        """The digest of the settings that built the partition's stored sequences, as a model's record keeps it
        (:attr:`~elcrec_core.serve.model_store.ModelRecord.sequence_settings`)."""
        return digest(comparable_settings(read_sequence_settings(self.sequences_dir(partition))))

    def with_recorded_settings(self, record: ModelRecord | None) -> ModelRecord | None:
        """``record`` with the sequence settings it trained with where it holds none (a model of an earlier
        version): those of its day's stored sequences where it trained on them, else unknown, taken as other ones
        (:func:`elcrec_core.serve.training_data.with_day_settings`). None for None."""
        if record is None or record.sequence_settings or not record.trained:
            return record
        try:
            seqs, _ = read_sequence_parquet(self.sequences_file(record.day))
            day = data_digest(seqs), self.sequence_settings_digest(record.day)
        except (OSError, ValueError):  # gone (pruned), unreadable: unknown
            day = None, ""
        return with_day_settings(record, *day)

    def training_dir(self, partition: str, settings: dict[str, Any]) -> Path:
        """Where a training of ``partition`` with ``settings`` (which name the sequences it trains on, as read:
        :func:`elcrec_core.train.state.data_digest`, and the code: :func:`~elcrec_core.train.state.code_digest`)
        keeps its epoch checkpoints until it ends: named by their digest, so that a run started again after a crash
        (or a retry) finds ``last.pt`` and resumes, while other settings, data or code start afresh."""
        return self.root / "models" / partition / "training" / digest(settings)

    @contextmanager
    def training_lock(self, partition: str, log: Callable[[str], None], holder: str) -> Iterator[None]:
        """Held while a training of ``partition`` runs in this data folder: ``models/<day>/.training.lock``, locked
        by the operating system (freed when its process ends, killed or not), so that the runs of two Dagster
        instances (another ``DAGSTER_HOME``, whose pools do not see this one's runs) never train in one training
        folder at once (the first to finish removed it under the other, whose retry then failed for good). The
        second waits for the first to end, saying so through ``log`` every :data:`TRAINING_LOCK_NOTE_SECONDS`
        with who holds it: ``holder`` (such as ``run <id>``), the process and since when, in ``.training.holder``
        beside the lock."""
        folder = self.root / "models" / partition
        folder.mkdir(parents=True, exist_ok=True)
        path, held_by = folder / ".training.lock", folder / ".training.holder"
        lock = FileLock(path, preserve_lock_file=True)  # never unlinked: a waiter and a newcomer lock one file
        wait = 0  # seconds: none at first; then a note each TRAINING_LOCK_NOTE_SECONDS
        while True:
            try:
                lock.acquire(timeout=wait)
                break
            except Timeout:
                try:  # the holder may finish meanwhile
                    who = held_by.read_text(encoding="utf-8").strip() or "another process"
                except OSError:
                    who = "another process"
                log(f"{who} trains {partition} in this data folder ({path} is locked): waiting for it to end")
                wait = TRAINING_LOCK_NOTE_SECONDS
        try:
            note = held_by.with_name(f"{held_by.name}.{os.getpid()}.tmp")  # whole or not at all, for a waiter
            note.write_text(f"{holder} (process {os.getpid()} on {socket.gethostname()}, since "
                            f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC)", encoding="utf-8")
            os.replace(note, held_by)
            yield
        finally:  # a folder gone read-only: the note stays (read only while another holds the lock), and the run's
            with suppress(OSError):  # own error is the one told, not this unlink's (helper-234: it hid .last.pt's)
                held_by.unlink(missing_ok=True)
            lock.release()

    def sequences_file(self, partition: str) -> Path:
        return self.sequences_dir(partition) / "sequences.parquet"

    def short_histories_file(self, partition: str) -> Path:
        """The partition's short histories (none for a day built by an earlier version)."""
        return self.sequences_dir(partition) / SHORT_HISTORIES_FILE

    @property
    def store(self) -> ModelStore:
        """The model folders, candidates and serving aliases (:mod:`elcrec_core.serve.model_store`)."""
        return ModelStore(self.root)

    def require_candidate(self, partition: str, runs: Sequence[str] = ()) -> ModelRecord:
        """The model that the first of ``runs`` (a run and those it re-executes) trained for ``partition``, else the
        newest model trained for it (:meth:`ModelStore.candidate`), or a clear failure when there is none yet."""
        record = self.store.candidate(partition, runs)
        if record is None:
            raise dg.Failure(f"no model has been trained for {partition}: materialize elcrec_model first",
                             allow_retries=False)
        return record

    def require_serving(self) -> ModelRecord:
        """The serving model, or a clear failure before the first promotion."""
        record = self.store.serving()
        if record is None:
            raise dg.Failure("no model serves yet: materialize serving_model (its promotion_gate check says "
                             "what the gate decided)", allow_retries=False)
        return record

    def intent_model(self, partition: str, runs: Sequence[str] = ()) -> ModelRecord:
        """:meth:`ModelStore.intent_model`, or a clear failure when no model has been trained for ``partition``."""
        return self.store.intent_model(partition, runs) or self.require_candidate(partition, runs)

    def read_candidate_sequences(self, partition: str, candidate: ModelRecord) -> tuple[Sequences, np.ndarray]:
        """:meth:`read_sequences` of ``partition``, which ``candidate`` was trained on: a failure without retries
        when they were built again since (another run of the day, a corrected file): the steps that judge the
        candidate (its challengers, the gate, the report) would fit and score on other data than it trained on,
        and a challenger would get another item catalogue than the candidate's item index."""
        seqs, item_ids = self.read_sequences(partition)
        if candidate.sequences and data_digest(seqs) != candidate.sequences:
            raise dg.Failure(f"the sequences of {partition} were built again after {candidate.name} trained on them "
                             "(another run of the day): it is not judged on other data; the run that built them "
                             "trains and judges its own candidate", allow_retries=False)
        return seqs, item_ids

    def read_short_histories(self, partition: str) -> Sequences:
        """The partition's short histories (``short_histories.parquet``: the users its k-core removed, with their
        events on items of the sequences), over its item index; none where the day was built by an earlier version,
        which wrote none. A failure without retries when the file is unreadable."""
        path = self.short_histories_file(partition)
        if not path.exists():
            return Sequences.from_lists([], [], 0)
        try:
            return read_sequence_parquet(path, self.sequences_dir(partition) / ITEM_INDEX_FILE)[0]
        except (SourceReadError, OSError) as err:
            raise dg.Failure(f"the short histories of {partition} are unreadable (materialize interaction_sequences "
                             f"again): {err}", allow_retries=False) from err

    def listed_users(self, partition: str) -> pl.DataFrame:
        """The users whose recommendations were made from the partition's sequences (``user_id`` as a string;
        ``short``: false) and from its short histories (:meth:`read_short_histories`; true)."""
        files = {False: self.sequences_file(partition), True: self.short_histories_file(partition)}
        try:  # a damaged file is named (polars said "File out of specification" alone: helper-215)
            return pl.concat([_read_users(path).select(pl.col("user_id").cast(pl.String), short=pl.lit(short))
                              for short, path in files.items() if path.exists()])
        except SourceReadError as err:
            raise dg.Failure(f"the sequences of {partition}, whose users got its lists, are unreadable (materialize "
                             f"interaction_sequences of {partition} again): {err}", allow_retries=False) from err

    def read_sequences(self, partition: str) -> tuple[Sequences, np.ndarray]:
        """The partition's stored sequences and the item id of each index; a failure without retries (a retry
        reads the same) when they are missing or unreadable."""
        try:
            return read_sequence_parquet(self.sequences_file(partition))
        except (SourceReadError, OSError) as err:
            raise dg.Failure(f"no readable sequences for {partition} (materialize interaction_sequences first): "
                             f"{err}", allow_retries=False) from err


class SourceFile(dg.ConfigurableResource):
    """A team's own source settings: one YAML file with the fields of the ``raw_interactions`` config (format,
    path with ``{date}``, columns, row rules, item metadata), used by the schedule, the sensor, backfills and
    manual runs alike; run config overrides it field by field. ``path`` defaults to ``$ELCREC_SOURCE``, read
    when a run starts; with neither, the embedded synthetic data set is loaded. Relative paths inside the file
    are relative to the file's folder, and sources may be read from that folder."""

    path: str = Field("", description=f"the YAML file of source settings (default: ${SOURCE_ENV})")

    def location(self) -> Path | None:
        """The settings file, or None when none is configured."""
        path = self.path or dg.EnvVar(SOURCE_ENV).get_value() or ""
        return Path(path).resolve() if path else None

    def settings(self) -> dict[str, Any]:
        """The file's settings, paths made absolute; ``{}`` without a file. A missing or malformed file is a
        :class:`dagster.Failure` that names it."""
        file = self.location()
        if file is None:
            return {}
        if not file.is_file():
            raise dg.Failure(f"source settings file {file} ({SOURCE_ENV}) does not exist", allow_retries=False)
        try:
            return read_settings_file(file)
        except yaml.YAMLError as exc:
            raise dg.Failure(f"source settings file {file} is not valid YAML: {exc}", allow_retries=False) from exc
        except TypeError as held:
            raise dg.Failure(f"source settings file {file} must hold a mapping of settings, not {held}",
                             allow_retries=False) from None

    def folders(self) -> list[Path]:
        """The folder of the settings file (sources may be read from it), if there is a file."""
        file = self.location()
        return [file.parent] if file is not None else []


class ComputeDevice(dg.ConfigurableResource):
    """Where training runs: ``auto`` is CUDA when present (bf16 autocast where native), else the CPU."""

    device: str = Field("auto", description="auto (CUDA when present, else the CPU), cpu, cuda or cuda:N")
    threads: int = Field(0, ge=0, description="CPU threads for torch; 0 keeps torch's default")

    def setup(self) -> str:
        import torch

        if self.threads:
            torch.set_num_threads(self.threads)
        return self.device


def _read_users(path: Path) -> pl.DataFrame:
    """The ``user_id`` column of a sequences file; :class:`SourceReadError` naming it where it cannot be read."""
    with reading(path):
        return pl.read_parquet(path, columns=["user_id"], glob=False)  # glob: a [ in the folder's name
