"""What ``elcrec recommend --serving`` says where its ``--data`` would not give the list that the pipeline's
``user_recommendations`` holds: a user's history read otherwise, or the sequences of another day than the table's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from elcrec_core.cli.settings_origin import OPTIONS, Fix, SettingsOrigin
from elcrec_core.data.events_to_sequences import SETTINGS_FILE, SHORT_HISTORIES_FILE, read_sequence_settings
from elcrec_core.data.files import reading
from elcrec_core.data.sequence_summary import counted
from elcrec_core.data.sequence_settings import setting_changes
from elcrec_core.data.sequences import ITEM_INDEX_FILE, read_item_index_file

SEQUENCES_FILE = "sequences.parquet"  # in each day folder of the pipeline's sequences
# the source settings' row rules that the note names: they change a user's history
_ROW_RULES: tuple[Fix, ...] = (("min_timestamp", None), ("max_timestamp", None), ("max_rating", None),
                               ("null_ids", None))


def history_note(folder: Path, user: str, history: list[str], origin: SettingsOrigin = OPTIONS) -> str:
    """The line that says where a user's ``history`` (item ids, in order) read from ``--data`` differs from the
    user's in the pipeline's sequences (or short histories) in the day ``folder``, whose lists user_recommendations
    holds; empty where they agree, or where the pipeline has no history of the user. Rows that the source settings'
    rules rejected (``min_timestamp``, ``max_rating``, ``null_ids``: the options of those names give them), events
    after the day in UTC (a day file's past midnight) or files loaded since change the history, and so the list.
    The settings that read the rows alike are named as ``origin`` has the user give them (options, or the
    ``--source`` file's settings)."""
    for name in (SEQUENCES_FILE, SHORT_HISTORIES_FILE):
        if not (folder / name).is_file():
            continue
        with reading(folder / name):  # the user's row alone: a million users' sequences are not read
            rows = pl.scan_parquet(folder / name, glob=False).filter(
                pl.col("user_id").cast(pl.String) == user).collect()
        if len(rows):
            item_ids = read_item_index_file(folder / ITEM_INDEX_FILE)
            built = item_ids[np.asarray(rows["items"][0], dtype=np.int64) - 1].astype(str).tolist()
            if built == history:
                return ""
            at = next((k for k, (a, b) in enumerate(zip(built, history)) if a != b), min(len(built), len(history)))
            why = (f"rows that the source settings' rules rejected: {origin.give(*_ROW_RULES, joiner=', ')} as they "
                   "have them; or files loaded since")
            day_end = ("max_timestamp", f"{folder.name}T23:59:59.999999")
            if at == len(built):  # the pipeline's history, and more after it: newer events, most often
                why = (f"its last {len(history) - at}: events after the day's end in UTC, which the day's sequences do "
                       f"not hold, as a day file's past midnight UTC ({origin.named(day_end)} leaves them out), "
                       f"or {why}")
            return (f"the user's history read from --data ({counted(len(history), 'event')}) is not the one the "
                    f"pipeline built ({counted(len(built), 'event')}; {folder.name}/{name}), from event {at + 1} on: "
                    f"the list differs from user_recommendations' ({why}); give --data {folder / SEQUENCES_FILE} for "
                    "the pipeline's history")
    return ""


def other_day_note(data: Path, serving: Path, listed: str) -> str:
    """Where ``data`` (``--data``) is the ``sequences.parquet`` of another day of the ``serving`` folder than
    ``listed``, the day whose sequences user_recommendations made its lists from: the line that says so, with the
    settings that differ where both days have a ``settings.json`` (another day's, built with other event types, fed
    the model other histories without a word, helper-208); empty for that day's and for any other file."""
    folder, days = data.resolve().parent, (serving / "sequences").resolve()
    if data.name != SEQUENCES_FILE or folder.parent != days or folder.name == listed:
        return ""
    changes = setting_changes(read_sequence_settings(folder), read_sequence_settings(days / listed)) if all(
        (day / SETTINGS_FILE).is_file() for day in (folder, days / listed)) else []  # none: which, cannot be told
    built = f", built with other sequence settings ({'; '.join(changes)})" if changes else ""
    return (f"--data holds the sequences of {folder.name}{built}; user_recommendations' lists come from those of "
            f"{listed}: the list differs where the user's history does (--data {days / listed / SEQUENCES_FILE} gives "
            "the table's)")
