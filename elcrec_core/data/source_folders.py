"""The several sources of one ``{date}`` source path: a glob before ``{date}`` (``*/{date}.csv``) names each
system's files of a day (``web/2026-01-31.csv``, ``app/2026-01-31.csv``); the file of such a source that a day
lacks between its deliveries (a delivery of one system that never came), for the pipeline's check
``earlier_days_loaded``, and each file's source, for ``events_on_their_day``. What to do where a day's file is
missing. And the item metadata file among the events' files of a folder source."""

from __future__ import annotations

import os
import re
from fnmatch import translate
from glob import escape, glob
from datetime import date, timedelta
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from elcrec_core.data.source_config import day_files

_GLOB, _SEPARATORS = "*?[", "/\\"
REGULAR_DAYS = 7  # a source that delivered on each of this many days with files in a row delivers every day
RESUMED_DAYS = 2  # such a source that delivered on this many in a row after a gap delivers daily again
NAMED_OTHERS = 3  # the files whose names hold a date of another form that the advice of a missing day names


def source_of(file: str | Path, day: str) -> str:
    """The source of ``file``, one of ``day``'s files: its path up to the day (``.../app/``; a file whose path does
    not hold the day: its folder)."""
    text = str(file)
    return text[:text.find(day)] if day in text else str(Path(text).parent)


def sources_of_day(files: Iterable[str | Path], day: str) -> dict[str, list[str]]:
    """``day``'s ``files`` by their source (:func:`source_of`), in order."""
    by_source: dict[str, list[str]] = {}
    for file in files:
        by_source.setdefault(source_of(file, day), []).append(str(file))
    return by_source


def missing_beside_others(pattern: str, days: Sequence[str],
                          loaded: Mapping[str, Iterable[str]] | None = None) -> list[str]:
    """For the source path ``pattern`` whose part before ``{date}`` holds a glob (empty list for any other), and
    ``days`` (ISO dates, oldest first; the last one's files count as a delivery alone): a file for each day but the
    last that holds files of some of the sources (:func:`source_of`) but none of a daily source, one that delivered
    on each of :data:`REGULAR_DAYS` days with files in a row, and that delivers again on a later day of ``days``:
    the first day of a gap where it delivered on the :data:`RESUMED_DAYS` days with files before and on the same
    weekday a week before, and each day of the gap after it; named by the source's path under the sources' common
    folder, the day, and ``pattern``'s end (``app/2026-01-31.csv``). ``loaded``: per day, the files that a load
    read (a file moved away since was delivered). A day without any file is none (no delivery at all), nor is a day
    of a source that delivers on weekdays alone, that delivers days later, that started less than a week before,
    that stopped (helper-199: each a warning every day), or that delivers weekly or every other day since."""
    head, _, tail = pattern.partition("{date}")
    if not any(c in head for c in _GLOB):
        return []
    sources = {day: sources_of_day([*day_files(pattern, day), *(loaded or {}).get(day, ())], day) for day in days}
    every = {source for day in days for source in sources[day]}
    if len(every) < 2:
        return []
    common = len(os.path.commonpath(list(every)))
    newest = {source: day for day in days for source in sources[day]}
    # streak: each source's days with files in a row that it delivered on; daily: sources that delivered on
    # REGULAR_DAYS such days in a row; in_gap: sources whose gap is named, each of its days until they deliver again
    missing, streak, daily, in_gap = [], {}, set(), set()
    for day in days[:-1]:
        if not sources[day]:
            continue
        for source in streak:
            if source not in sources[day]:
                # a second gap after RESUMED_DAYS days of deliveries too (helper-202), not where a daily source
                # delivers weekly or every other day since, nor on a weekday it did not deliver on a week before
                # (a source of weekdays that once delivered on a weekend: helper-205); a week before without any
                # file (a holiday) is no such weekday (helper-207)
                week_before = sources.get((date.fromisoformat(day) - timedelta(days=7)).isoformat(), {})
                if (source in in_gap or (source in daily and streak[source] >= RESUMED_DAYS
                                         and (source in week_before or not week_before))) and newest[source] > day:
                    missing.append(source[common:].lstrip(_SEPARATORS) + day + tail.replace("{date}", day))
                    in_gap.add(source)
                streak[source] = 0
        for source in sources[day]:
            streak[source] = streak.get(source, 0) + 1
            in_gap.discard(source)
            if streak[source] >= REGULAR_DAYS:
                daily.add(source)
    return missing


def metadata_among_events(events: list[Path], item_metadata_path: str | None) -> str:
    """Where the item metadata file (``item_metadata_path``) is among the files of the events' source (``events``,
    resolved: a folder's, a glob's; RecBole's dataset folder holds its .inter and .item files), what to set; else
    empty. Its read as events failed naming columns, which no column setting could fix (helper-200)."""
    if not item_metadata_path or (metadata := Path(item_metadata_path).resolve()) not in events:
        return ""
    others = sorted({file.suffix for file in events if file.suffix != metadata.suffix})
    glob = f" (a glob such as {metadata.parent.name}/*{others[0]} leaves it out)" if len(others) == 1 else ""
    return (f"the source's path names the item metadata file {metadata.name} (item_metadata_path) among the events' "
            f"files, and it is read as events: set path to the events' file(s) alone{glob}")


def missing_day_advice(pattern: str, day: str | None = None) -> str:
    """What to do where the ``{date}`` source path ``pattern`` names nothing for ``day`` (YYYY-MM-DD; None: for no
    day, as the command line reads every day's files): deliver the day's file, or an empty one with ``min_rows: 0``
    for a day without events (for no day: that ``{date}`` is a day as YYYY-MM-DD); and where the folder that holds
    the day's names, or each folder its glob matches (``*/events_{date}.csv``: ``web/``, ``app/``), holds names with
    a date of another form (``events_20261129.csv`` beside ``events_{date}.csv``), up to :data:`NAMED_OTHERS` of
    them (a glob's under its folders: ``web/events_20261129.csv``). Empty where ``pattern`` has no ``{date}`` or
    names something for ``day``."""
    if "{date}" not in pattern or day is not None and os.path.lexists(pattern.replace("{date}", day)):
        return ""
    parts = Path(pattern).parts
    at = next(i for i, part in enumerate(parts) if "{date}" in part)  # the name that holds the day, and its folder
    folder = Path(*parts[:at])  # no {date} in it: the first part that holds one is the name's
    other = _other_dates(folder, parts[at])
    if len(other) > NAMED_OTHERS:
        named = f"{', '.join(other[:NAMED_OTHERS])} and {len(other) - NAMED_OTHERS} more"
    else:
        named = " and ".join(filter(None, [", ".join(other[:-1]), *other[-1:]]))
    return ("; the path's {date} is a day as YYYY-MM-DD (such as 2026-01-31), and no file is named with one"
            if day is None else
            f"; the path's {{date}} is the day as YYYY-MM-DD ({day}): deliver the day's file, or for a day without "
            "events an empty file with min_rows: 0 in the source settings") + (
                f"; {folder} holds {named} of a date in another form: name each with its day as YYYY-MM-DD, as "
                f"{parts[at]} reads them" if other else "")


def _other_dates(folder: Path, name: str) -> list[str]:
    """The names in ``folder`` (or in each folder it matches, where it holds a glob: then under the folder of
    its part before the glob, ``web/events_20261129.csv``) of the ``{date}`` name pattern ``name`` (a glob itself,
    ``events_{date}_*.csv``, too) whose date is of another form than YYYY-MM-DD, in order."""
    base = next((parent for parent in (folder, *folder.parents) if parent.is_dir()), Path("."))
    dated = "".join(r"(\d[\d._-]{4,8}\d)" if piece == "{date}" else translate(piece).removesuffix(r"\Z")
                    for piece in re.split(r"(\{date\})", name) if piece)
    other = []
    for found in sorted(glob(str(Path(escape(str(base))) / folder.relative_to(base)), recursive=True)):
        try:
            names = sorted(os.listdir(found)) if os.path.isdir(found) else []
        except OSError:  # a folder that cannot be read now: its names are not told
            names = []
        other += [(Path(found).relative_to(base) / each).as_posix() for each in names
                  if (date_ := re.fullmatch(dated, each)) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date_[1])]
    return other
