"""One load: read a source, apply the row rules, store the result in the warehouse."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from elcrec_core import warehouse
from elcrec_core.sources import SourceConfig, read_source, resolve_files
from elcrec_core.validation import RowCheck, RowRules, check_rows


def ingest(source: SourceConfig, rules: RowRules = RowRules(),
           path: str | Path = warehouse.DEFAULT_WAREHOUSE) -> tuple[warehouse.LoadReport, RowCheck]:
    """Load a source into the warehouse at ``path``: every row is stored as accepted or rejected.

    Every file is read before anything is written, so a file that cannot be read
    (:class:`elcrec_core.sources.SourceReadError`) leaves the warehouse untouched. Returns the load report and
    the row check (its accepted events feed :func:`elcrec_core.validation.expect_interactions`).
    """
    files = [] if source.format == "synthetic" else [str(f) for f in resolve_files(source.path)]
    check = check_rows(read_source(source), rules)
    settings = dataclasses.asdict(source)
    if source.format != "synthetic":
        del settings["synthetic"]
    description = json.dumps(settings, sort_keys=True)
    return warehouse.load_interactions(check, description, path, files=files), check
