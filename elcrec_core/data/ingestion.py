"""One load: read a source, apply the row rules, store the result in the warehouse."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from pathlib import Path

import polars as pl

from elcrec_core.data import warehouse
from elcrec_core.data.source_config import SourceConfig, resolve_files
from elcrec_core.data.sources import read_files, read_source
from elcrec_core.data.validation import RowCheck, RowRules, check_rows


class EventsBeforeStart(ValueError):
    """Accepted events older than the first day the warehouse's consumer covers; nothing was written."""

    def __init__(self, earliest: datetime, start: datetime, count: int, where: str = "") -> None:
        at = f", {where}" if where else ""
        super().__init__(f"{count} events are before the first day {start.date()}: the earliest is {earliest} "
                         f"(UTC{at}); nothing was loaded")
        self.earliest, self.start, self.count = earliest, start, count


@dataclasses.dataclass(frozen=True)
class CheckedBatch:
    """A source read and checked, not yet stored: the files it names (those its load replaces), the row check
    (accepted and rejected rows) and the description the ``loads`` table records."""

    files: list[str]
    check: RowCheck
    description: str


def read_checked(source: SourceConfig, rules: RowRules = RowRules(),
                 not_before: datetime | None = None) -> CheckedBatch:
    """Read every file of ``source`` and apply the row rules; nothing is written. Raises
    :class:`elcrec_core.data.files.SourceReadError` for a file that cannot be read and :class:`EventsBeforeStart`
    for accepted events before ``not_before`` (naive UTC; the pipeline's first partition), naming the earliest."""
    if source.format == "synthetic":
        files, events = [warehouse.SYNTHETIC_SOURCE_FILE], read_source(source)
    else:  # the files are named once: those read are those the load replaces
        paths = resolve_files(source.path)
        files, events = [str(f) for f in paths], read_files(paths, source)
    check = check_rows(events, rules)
    if not_before is not None:
        early = check.accepted.filter(pl.col("timestamp") < not_before)
        if len(early):
            first = early.sort("timestamp", "source_file", "source_row").row(0, named=True)
            raise EventsBeforeStart(first["timestamp"], not_before, len(early),
                                    f"{first['source_file']} row {first['source_row']}")
    settings = dataclasses.asdict(source)
    if source.format != "synthetic":
        del settings["synthetic"]
    return CheckedBatch(files, check, json.dumps(settings, sort_keys=True))


def store_checked(batch: CheckedBatch, path: str | Path = warehouse.DEFAULT_WAREHOUSE) -> warehouse.LoadReport:
    """Store a checked batch in the warehouse at ``path``, replacing what earlier loads stored for each of its
    files (even a file that is now empty) and nothing else but the synthetic demo data, which real files replace
    (:func:`elcrec_core.data.warehouse.load_interactions`; raises its ``MixedSources`` for the reverse)."""
    return warehouse.load_interactions(batch.check, batch.description, path, files=batch.files)


def ingest(source: SourceConfig, rules: RowRules = RowRules(), path: str | Path = warehouse.DEFAULT_WAREHOUSE,
           not_before: datetime | None = None) -> tuple[warehouse.LoadReport, RowCheck]:
    """Load a source into the warehouse at ``path``: every row is stored as accepted or rejected
    (:func:`read_checked`, then :func:`store_checked`).

    The load replaces what earlier loads stored for each file of the source (even a file that is now empty)
    and nothing else (but the synthetic demo data, which a real file replaces; a synthetic load into a warehouse of
    real files raises :class:`elcrec_core.data.warehouse.MixedSources`); the synthetic generator is one source file,
    :data:`elcrec_core.data.warehouse.SYNTHETIC_SOURCE_FILE`, so a load with other generator settings replaces the
    previous synthetic load (the settings are recorded in the ``loads`` table's ``source``). Every file is read before
    anything is written, so a file that cannot be read (:class:`elcrec_core.data.files.SourceReadError`) leaves the
    warehouse untouched, and so do accepted events before ``not_before`` (naive UTC; the pipeline's first partition):
    :class:`EventsBeforeStart` names the earliest. Returns the load report and the row check (its accepted events feed
    :func:`elcrec_core.data.validation.expect_interactions`; the pipeline runs those before it stores anything).
    """
    batch = read_checked(source, rules, not_before)
    return store_checked(batch, path), batch.check
