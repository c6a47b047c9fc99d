"""What a build of sequences removed at each step, and statistics of the sequences it made
(:func:`elcrec_core.data.events_to_sequences.build_sequences` fills it; ``summary.json`` and the asset's metadata
show it)."""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from elcrec_core.data.atomic_files import RUN_AGAIN, read_json


@dataclass
class SequenceSummary:
    """Counts of what each step removed, and statistics of the result."""

    events_in: int
    filtered_out: int
    repeated_across_files: int  # the same event stored by two files, used once (module event_selection)
    duplicates_removed: int
    k_core_removed: int
    k_core_users_removed: int  # users whose every event the k-core removed: no sequence to train on
    k_core_rounds: int
    users: int
    items: int  # distinct items in the sequences
    interactions: int
    density: float  # interactions / (users * items)
    n_items: int  # size of the catalogue: the item index up to its largest present item (SequenceBuild)
    new_items: int  # appended to the index by this build
    items_with_metadata: int  # items in the sequences that have stored metadata
    length: dict[str, float]  # min, quantiles, max, mean of the sequence lengths
    # items whose every event the k-core removed; users whose last two events (the test and validation targets of
    # leave-one-out) have the same time, so that the order of the rows decides which is the test target. None: a
    # summary of an earlier version, which did not count them
    k_core_items_removed: int | None = None
    last_two_same_time: int | None = None
    # of the users the k-core removed, those with an event on an item of the sequences: their recommendations are made
    # from those events (short_histories.parquet); the others get none. None: a summary of an earlier version, whose
    # removed users got no recommendations
    short_history_users: int | None = None
    # where the k-core kept no user: the largest smaller k that keeps some, {"k", "users", "events"} (None otherwise)
    smaller_k_core: dict[str, int] | None = None
    # of the items the k-core removed, those first seen on the day (new listings: modelled once they have k events);
    # None: a summary of an earlier version, which did not count them
    k_core_new_items_removed: int | None = None
    # the events of the users with more than max_user_events (bots, shared accounts), left out before the k-core,
    # and those users (0: a summary of an earlier version, which had no such setting)
    max_user_events_removed: int = 0
    max_user_events_users: int = 0
    # the events that each filter set (event_types, min_rating) left out, by its name (an event may fail both), and
    # the users whose every event they left out (no sequence, no list); None: a summary of an earlier version
    filtered_out_by: dict[str, int] | None = None
    filtered_out_users: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def users_before_k_core(self) -> int:
        return self.users + self.k_core_users_removed

    def k_core_text(self, k: int, day: str = "the day") -> str:
        """``k-core (k = 5) removed 3 of 33 events, 3 of 9 users (33%) and 2 of 12 items (17%; 1 of them first seen
        on the day)``: what the k-core of ``k`` removed (users and items where it removed any; items, and the new
        ones among them, of a summary that counts them, first seen on ``day``: the partition's, or for a build of no
        partition its data's newest, which the command line names: helper-224)."""
        parts = [f"{self.k_core_removed:,} of {self.interactions + self.k_core_removed:,} events"]
        new = (f"; {self.k_core_new_items_removed:,} of them first seen on {day}" if self.k_core_new_items_removed
               else "")
        for gone, left, name, more in ((self.k_core_users_removed, self.users, "users", ""),
                                       (self.k_core_items_removed, self.items, "items", new)):
            if gone:
                parts.append(f"{gone:,} of {left + gone:,} {name} ({percent(gone / (left + gone))}{more})")
        return f"k-core (k = {k}) removed {', '.join(parts[:-1])}{' and ' if len(parts) > 1 else ''}{parts[-1]}"

    @property
    def without_sequence_note(self) -> str:
        """What the k-core's removal of users means (after :meth:`k_core_text`), or '' where it removed none."""
        if not self.k_core_users_removed:
            return ""
        if self.short_history_users is None:
            return ": a user without a sequence gets no recommendations"
        served, without = self.short_history_users, self.users_without_list
        return ": " + "; ".join(
            ([f"recommendations come from their events on the sequences' items (a short history) for {served:,} of "
              "these users"] if served else [])
            + ([f"{without:,} without such an event get none" if served else
                "none of them has an event on the sequences' items (a short history): they get no recommendations"]
               if without else []))

    def left_out_notes(self) -> list[str]:
        """What the build's filters left out before the k-core (users of more than ``max_user_events`` events,
        events of ``min_rating`` and ``event_types``), each ending ``left out``-worded, as a note where a user is
        missing from the sequences (``elcrec recommend --serving``; helper-193's lead)."""
        bots = self.max_user_events_users
        return [note for note, n in (
            (f"max_user_events left out {users_text(bots)} with {counted(self.max_user_events_removed, 'event')}",
             bots),
            (f"{self.filters_named} left out {counted(self.filtered_out, 'event')}{self.filtered_users_note}",
             self.filtered_out)) if n]

    @property
    def filters_named(self) -> str:
        """``the filter event_types``, ``the filters event_types and min_rating``: those that left events out (a
        summary of an earlier version, which did not count them apart: ``the sequence filters``)."""
        names = [name for name, n in (self.filtered_out_by or {}).items() if n]
        if not names:
            return "the sequence filters"
        return f"the filter{'s' * (len(names) > 1)} {' and '.join(names)}"

    @property
    def filtered_users_note(self) -> str:
        """``, among them every event of 3 users (no list for them)``: the users whose every event the filters left
        out, or '' where none (or not counted)."""
        n = self.filtered_out_users
        return f", among them every event of {users_text(n)} (no list for them)" if n else ""

    @property
    def users_without_list(self) -> int:
        """The users the k-core removed who have no short history: they get no recommendations (all of them where
        the summary does not count short histories)."""
        return self.k_core_users_removed - (self.short_history_users or 0)


_QUANTILES = {"p10": 0.1, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p90": 0.9, "p99": 0.99}


def length_stats(lengths: np.ndarray) -> dict[str, float]:
    """The summary's ``length``: min, the :data:`_QUANTILES` (p10 ... p99), max and mean of the sequence
    ``lengths`` (one a user, events); empty for no user."""
    if not len(lengths):
        return {}
    quantiles = np.quantile(lengths, list(_QUANTILES.values()))
    return {"min": float(lengths.min()), **{k: float(q) for k, q in zip(_QUANTILES, quantiles)},
            "max": float(lengths.max()), "mean": float(lengths.mean())}


def percent(share: float) -> str:
    """``share`` as a whole percentage, or to a tenth below 1% (1 of 944 is 0.1%, not 0%)."""
    return f"{share:.1%}" if 0 < share < 0.01 else f"{share:.0%}"


def read_summary(path: str | Path) -> SequenceSummary | None:
    """The summary a build wrote to ``path`` (``summary.json``); None where there is none, or it lacks a count that
    every version wrote (the counts added since, of a summary of an earlier version, are None: not counted)."""
    path = Path(path)
    if not path.exists():
        return None
    written = read_json(path, RUN_AGAIN)
    names = {field.name for field in fields(SequenceSummary)}
    required = {field.name for field in fields(SequenceSummary) if field.default is MISSING}
    return SequenceSummary(**{k: v for k, v in written.items() if k in names}) if required <= set(written) else None


def long_histories_note(lengths: np.ndarray, times: int = 50, warn_at: float = 0.1, min_users: int = 100) -> str:
    """Where the users whose sequences (``lengths``, one a user) are more than ``times`` the median long (and over
    100 events) hold ``warn_at`` of the events or more, as bots or shared accounts do: how many, their share, the
    longest, and the setting that leaves them out (``max_user_events``, at that line); empty otherwise, and for fewer
    than ``min_users`` users. Such users shape the training windows and an intent of their own (helper-172: 30 bots
    among 42,151 users held 19% of the events; helper-175: 3 bots among 1,200 held 36%, and the longest 0.1% that
    this looked at before was one of them)."""
    lengths = np.asarray(lengths)
    if len(lengths) < min_users:
        return ""
    line = int(max(times * np.median(lengths), 100))
    outliers = lengths[lengths > line]
    if outliers.sum() < warn_at * lengths.sum():
        return ""
    return (f"{users_text(len(outliers))} with more than {line:,} events ({times} times the median sequence) hold "
            f"{outliers.sum() / lengths.sum():.0%} of the events, the longest {int(outliers.max()):,}: bots or shared "
            f"accounts? They shape the training windows and the intents; max_user_events: {line} (run config "
            "ops.interaction_sequences.config) leaves users with more events out of the sequences and the lists")


def users_text(n: int) -> str:
    """``1 user``, ``2,000 users``."""
    return counted(n, "user")


def counted(n: int, noun: str) -> str:
    """``n`` of ``noun`` (singular, of a plural in -s), one in the singular: ``1 event``, ``2,000 events``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"

