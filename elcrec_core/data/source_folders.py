"""The several sources of one ``{date}`` source path: a glob before ``{date}`` (``*/{date}.csv``) names each
system's files of a day (``web/2026-01-31.csv``, ``app/2026-01-31.csv``); the files of such a source that a day
lacks where its other sources delivered (a delivery of one system that never came), for the pipeline's check
``earlier_days_loaded``, and each file's source, for ``events_on_their_day``."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from elcrec_core.data.source_config import day_files

_GLOB, _SEPARATORS = "*?[", "/\\"
REGULAR_DAYS = 3  # a source that delivered on each of the last days with files (up to this many) delivers daily


def source_of(file: str | Path, day: str) -> str:
    """The source of ``file``, one of ``day``'s files: its path up to the day (``.../app/``), each number in it as
    ``#`` (a folder of the year or month, ``2026/01/``, and a run's number, ``export7_``, are no source of their
    own: helper-198)."""
    text = str(file)
    return re.sub(r"[0-9]+", "#", text[:text.find(day)] if day in text else str(Path(text).parent))


def sources_of_day(files: Iterable[str | Path], day: str) -> dict[str, list[str]]:
    """``day``'s ``files`` by their source (:func:`source_of`), in order."""
    by_source: dict[str, list[str]] = {}
    for file in files:
        by_source.setdefault(source_of(file, day), []).append(str(file))
    return by_source


def missing_beside_others(pattern: str, days: Sequence[str]) -> list[str]:
    """For the source path ``pattern`` whose part before ``{date}`` holds a glob (empty list for any other), and
    ``days`` (ISO dates, oldest first): a file for each day that holds files of some of the sources
    (:func:`source_of`) but none of a source that delivered on each of the :data:`REGULAR_DAYS` days with files
    before it (of ``days``), named by the source's path under the sources' common folder, the day, and
    ``pattern``'s end (``app/2026-01-31.csv``). A day without any file is none of these (a day without a delivery at
    all); a source that stopped delivering is named for its first day without a file."""
    head, _, tail = pattern.partition("{date}")
    if not any(c in head for c in _GLOB):
        return []
    sources = {day: sources_of_day(day_files(pattern, day), day) for day in days}
    shown = {source: files[0][:files[0].find(day)] for day in days for source, files in sources[day].items()}
    if len(shown) < 2:
        return []
    common = len(os.path.commonpath(list(shown.values())))
    missing, before = [], []  # before: the sources of the earlier days with files, newest last
    for day in days:
        if sources[day]:
            regular = set.intersection(*before[-REGULAR_DAYS:]) if before else set()
            missing += [shown[source][common:].lstrip(_SEPARATORS) + day + tail.replace("{date}", day)
                        for source in sorted(regular - set(sources[day]))]
            before.append(set(sources[day]))
    return missing
