"""Resources: where the pipeline keeps its data, and which device trains."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np

from elcrec_core.sequences import Sequences, read_sequence_parquet
from elcrec_core.sources import SourceReadError, resolve_files

DATA_DIR_ENV = "ELCREC_DATA_DIR"
INPUT_DIRS_ENV = "ELCREC_INPUT_DIRS"


class Storage(dg.ConfigurableResource):
    """The pipeline's data folder: the DuckDB warehouse, sequences per partition, versioned model folders,
    reports, and the pointer to the current (promoted) model. Sources are read from the data folder and the
    ``input_dirs`` only (default: ``ELCREC_INPUT_DIRS``, separated by ``os.pathsep``)."""

    data_dir: str = os.environ.get(DATA_DIR_ENV, "data")
    input_dirs: list[str] = [d for d in os.environ.get(INPUT_DIRS_ENV, "").split(os.pathsep) if d]

    @property
    def root(self) -> Path:
        return Path(self.data_dir).resolve()

    def input_path(self, path: str) -> str:
        """A source path from run config as an absolute path (a relative one is relative to the working
        directory), once it and every file it names, links followed, are found inside the data folder or an
        input folder; otherwise (or when it names no file) a :class:`dagster.Failure` says why."""
        roots = [self.root, *(Path(d).resolve() for d in self.input_dirs)]
        allowed = (f"outside the folders sources are read from ({', '.join(map(str, roots))}); add its folder to "
                   f"the storage resource's input_dirs ({INPUT_DIRS_ENV}) to read it")
        full = Path(path).resolve()
        if not any(full.is_relative_to(root) for root in roots):
            raise dg.Failure(f"source path {path!r} is {full}, {allowed}", allow_retries=False)
        try:
            files = resolve_files(full)
        except SourceReadError as exc:
            raise dg.Failure(f"source path {path!r}: {exc}", allow_retries=False) from exc
        for file in files:
            if not any(file.is_relative_to(root) for root in roots):
                raise dg.Failure(f"source path {path!r} leads to {file} through a link, {allowed}",
                                 allow_retries=False)
        return str(full)

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    def sequences_dir(self, partition: str) -> Path:
        return self.root / "sequences" / partition

    def model_dir(self, partition: str, run_id: str) -> Path:
        """A new folder per materialization: models/<partition>/<run id>, never overwritten."""
        return self.root / "models" / partition / run_id

    def prune_sequences(self, newest: str, keep_days: int) -> list[str]:
        """Delete the sequence folders of days more than ``keep_days`` before ``newest``, except the current
        model's day; returns the days removed. Each day's folder holds every user's whole history, so keeping
        them all would grow the data folder with the square of the days."""
        current = (self.current_model() or {}).get("partition")
        oldest = date.fromisoformat(newest) - timedelta(days=keep_days)
        removed = []
        for folder in sorted((self.root / "sequences").glob("????-??-??")):
            if folder.name != current and date.fromisoformat(folder.name) < oldest:
                shutil.rmtree(folder)
                removed.append(folder.name)
        return removed

    def training_dir(self, partition: str, settings: dict[str, Any]) -> Path:
        """Where a training of ``partition`` with ``settings`` keeps its epoch checkpoints until it ends: named by
        a digest of the settings and the partition's sequences, so that a run started again after a crash (or a
        retry) finds ``last.pt`` and resumes, while other settings or data start afresh."""
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
        with open(self.sequences_dir(partition) / "sequences.parquet", "rb") as f:
            digest.update(hashlib.file_digest(f, "sha256").digest())
        return self.root / "models" / partition / "training" / digest.hexdigest()[:16]

    def latest_model(self, partition: str) -> dict[str, Any] | None:
        """The newest model trained for ``partition`` (a candidate until promoted)."""
        return _read_json(self.root / "models" / partition / "latest.json")

    def require_latest_model(self, partition: str) -> dict[str, Any]:
        """:meth:`latest_model`, or a clear failure when the partition has no model yet."""
        record = self.latest_model(partition)
        if record is None:
            raise dg.Failure(f"no model has been trained for {partition}: materialize elcrec_model first")
        return record

    def read_sequences(self, partition: str) -> tuple[Sequences, np.ndarray]:
        """The partition's stored sequences and the item id of each index."""
        return read_sequence_parquet(self.sequences_dir(partition) / "sequences.parquet")

    def set_latest_model(self, partition: str, record: dict[str, Any]) -> None:
        _write_json(self.root / "models" / partition / "latest.json", record)

    def current_model(self) -> dict[str, Any] | None:
        """The promoted model that serves recommendations, or None before the first promotion."""
        return _read_json(self.root / "models" / "current.json")

    def set_current_model(self, record: dict[str, Any]) -> None:
        _write_json(self.root / "models" / "current.json", record)


class ComputeDevice(dg.ConfigurableResource):
    """Where training runs: ``auto`` is CUDA when present (bf16 autocast), else the CPU."""

    device: str = "auto"
    threads: int = 0  # CPU threads for torch; 0 keeps torch's default

    def setup(self) -> str:
        import torch

        if self.threads:
            torch.set_num_threads(self.threads)
        return self.device


def _read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def _write_json(path: Path, record: dict[str, Any]) -> None:
    """Atomic replace, so a reader never sees half a pointer."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
