"""Opening the warehouse's DuckDB file: a path DuckDB cannot open, another process's lock, a damaged file.

DuckDB lets one process open a file for writing at a time (or several processes read-only). A process that finds
the file locked waits up to ``ELCREC_WAREHOUSE_LOCK_WAIT`` seconds (default 60), then fails with
:class:`WarehouseLocked`. A file that DuckDB finds damaged (a block whose checksum does not match, a file cut short,
not a DuckDB database at all), on opening it or on reading a block later, fails with :class:`WarehouseDamaged`,
which names the file and how to recover (the pipeline does not retry it: a retry meets the same damage).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

LOCK_WAIT_ENV = "ELCREC_WAREHOUSE_LOCK_WAIT"
# DuckDB's words for a damaged database file (1.x, 2.0): a block's checksum, a file cut short, a file of something else
_DAMAGE = re.compile(r"Corrupt database file|not a valid DuckDB database file|Could not read enough bytes from file")


class WarehouseLocked(RuntimeError):
    """Another process held the warehouse file for longer than the lock wait."""


class WarehouseDamaged(RuntimeError):
    """DuckDB found the warehouse file damaged; the message names the file and how to recover."""


def require_openable(path: Path, setting: str = "ELCREC_DATA_DIR") -> None:
    """Raise ValueError, naming the path and the ``setting`` of its folder, where it holds a ``?``: DuckDB reads
    what follows as options (``data 1?`` failed each load after two retries, naming ``data 1.wal?/...``)."""
    if "?" in str(path):
        raise ValueError(f"the warehouse {path}: DuckDB cannot open a database whose path holds '?' (it reads what "
                         f"follows as options); give the data folder a name without it ({setting})")


def lock_wait_seconds() -> float:
    """``ELCREC_WAREHOUSE_LOCK_WAIT`` in seconds (default 60): how long a process waits for another's lock on the
    warehouse file. Raises ValueError naming the variable for a value that is no finite number of seconds >= 0."""
    value = os.environ.get(LOCK_WAIT_ENV) or "60"
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):  # NaN too
        raise ValueError(f"{LOCK_WAIT_ENV}={value!r}: expected a number of seconds >= 0, such as 60")
    return seconds


def open_waiting(path: Path, read_only: bool, wait_s: float) -> duckdb.DuckDBPyConnection:
    """Connect, retrying with backoff while another process holds the file's lock, for at most ``wait_s``.
    Raises :class:`WarehouseLocked` after the wait."""
    deadline, pause = time.monotonic() + wait_s, 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as err:
            if "lock" not in str(err).lower():
                raise
            if time.monotonic() + pause > deadline:
                raise WarehouseLocked(
                    f"the warehouse {path} is locked by another process and stayed locked for {wait_s:g} s "
                    f"(DuckDB allows one writing process at a time, and none while another holds it open, even "
                    f"read-only). Wait for that process (a run, or a program reading the warehouse: it should "
                    f"connect for each read and close) to finish, or raise {LOCK_WAIT_ENV}. DuckDB said: {err}"
                ) from err
            time.sleep(pause)
            pause = min(2 * pause, 2.0)


@contextmanager
def damage_named(path: Path) -> Iterator[None]:
    """Raise :class:`WarehouseDamaged`, naming ``path`` and the ways back, for DuckDB's error on a damaged
    database file in the block (DuckDB's own message names no file where a block's checksum fails)."""
    try:
        yield
    except duckdb.Error as err:
        if not _DAMAGE.search(str(err)):
            raise
        raise WarehouseDamaged(
            f"the warehouse {path} is damaged, and DuckDB cannot read it: {err}. Put back a copy from a backup, or "
            f"move it aside (mv {path} {path}.damaged) and run the days again in order from the first partition "
            f"(ELCREC_START_DATE), each through interaction_sequences (a backfill of daily_retrain_job, not of "
            f"ingestion_job alone): the loads read the source files again, which hold every event it stored, and "
            f"the sequences rebuild the item index as it was") from err
