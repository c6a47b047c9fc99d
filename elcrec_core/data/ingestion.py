"""One load: read a source, apply the row rules, store the result in the warehouse."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from pathlib import Path

from elcrec_core.data import warehouse
from elcrec_core.data.source_config import SourceConfig, resolve_files
from elcrec_core.data.sources import read_files, read_source
from elcrec_core.data.validation import RowCheck, RowRules, check_rows


class EventsBeforeStart(ValueError):
    """Accepted events older than the first day the warehouse's consumer covers; nothing was written."""

    def __init__(self, earliest: datetime, start: datetime, count: int) -> None:
        super().__init__(f"{count} events are before the first day {start.date()}: the earliest is {earliest} "
                         "(UTC); nothing was loaded")
        self.earliest, self.start, self.count = earliest, start, count


def ingest(source: SourceConfig, rules: RowRules = RowRules(), path: str | Path = warehouse.DEFAULT_WAREHOUSE,
           not_before: datetime | None = None) -> tuple[warehouse.LoadReport, RowCheck]:
    """Load a source into the warehouse at ``path``: every row is stored as accepted or rejected.

    The load replaces what earlier loads stored for each file of the source (even a file that is now empty)
    and nothing else; the synthetic generator is one source file,
    :data:`elcrec_core.data.warehouse.SYNTHETIC_SOURCE_FILE`, so a load with other generator settings replaces the
    previous synthetic load (the settings are recorded in the ``loads`` table's ``source``). Every file is read before
    anything is written, so a file that cannot be read (:class:`elcrec_core.data.files.SourceReadError`) leaves the
    warehouse untouched, and so do accepted events before ``not_before`` (naive UTC; the pipeline's first partition):
    :class:`EventsBeforeStart` names the earliest. Returns the load report and the row check (its accepted events feed
    :func:`elcrec_core.data.validation.expect_interactions`).
    """
    if source.format == "synthetic":
        files, events = [warehouse.SYNTHETIC_SOURCE_FILE], read_source(source)
    else:  # the files are named once: those read are those the load replaces
        paths = resolve_files(source.path)
        files, events = [str(f) for f in paths], read_files(paths, source)
    check = check_rows(events, rules)
    if not_before is not None:
        early = check.accepted["timestamp"].filter(check.accepted["timestamp"] < not_before)
        if len(early):
            raise EventsBeforeStart(early.min(), not_before, len(early))
    settings = dataclasses.asdict(source)
    if source.format != "synthetic":
        del settings["synthetic"]
    description = json.dumps(settings, sort_keys=True)
    return warehouse.load_interactions(check, description, path, files=files), check
