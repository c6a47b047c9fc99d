"""Resources: where the pipeline keeps its data, and which device trains."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np

from elcrec_core.sequences import Sequences, read_sequence_parquet

DATA_DIR_ENV = "ELCREC_DATA_DIR"


class Storage(dg.ConfigurableResource):
    """The pipeline's data folder: the DuckDB warehouse, sequences per partition, versioned model folders,
    reports, and the pointer to the current (promoted) model."""

    data_dir: str = os.environ.get(DATA_DIR_ENV, "data")

    @property
    def root(self) -> Path:
        return Path(self.data_dir).resolve()

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    def sequences_dir(self, partition: str) -> Path:
        return self.root / "sequences" / partition

    def model_dir(self, partition: str, run_id: str) -> Path:
        """A new folder per materialization: models/<partition>/<run id>, never overwritten."""
        return self.root / "models" / partition / run_id

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
