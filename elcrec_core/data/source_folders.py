"""The several sources of one ``{date}`` source path: a glob before ``{date}`` (``*/{date}.csv``) names each
system's files of a day (``web/2026-01-31.csv``, ``app/2026-01-31.csv``); the files of such a source that a day
lacks where its other sources delivered (a delivery of one system that never came), for the pipeline's check
``earlier_days_loaded``."""

from __future__ import annotations

import os
from collections.abc import Sequence

from elcrec_core.data.source_config import day_files

_GLOB, _SEPARATORS = "*?[", "/\\"


def missing_beside_others(pattern: str, days: Sequence[str]) -> list[str]:
    """For the source path ``pattern`` whose part before ``{date}`` holds a glob (empty list for any other), and
    ``days`` (ISO dates, oldest first): a file for each day that holds files of some of the sources
    (each file's path up to its day: ``.../app/``) but none of a source with files on an earlier of ``days``,
    named by the source's path under the sources' common folder, the day, and ``pattern``'s end
    (``app/2026-01-31.csv``). A day without any file is none of these (a day without a delivery at all); a source
    that stopped delivering is named for each of ``days`` after it stopped."""
    head, _, tail = pattern.partition("{date}")
    if not any(c in head for c in _GLOB):
        return []
    sources = {day: {str(file)[:str(file).find(day)] for file in day_files(pattern, day)} for day in days}
    every = set().union(*sources.values())
    if len(every) < 2:
        return []
    common = len(os.path.commonpath(list(every)))
    missing, seen = [], set()
    for day in days:
        if sources[day]:
            missing += [source[common:].lstrip(_SEPARATORS) + day + tail for source in sorted(seen - sources[day])]
        seen |= sources[day]
    return missing
