"""The command line's data: any source file read exactly as the pipeline reads it, into sequences.

Event files (csv, tsv, jsonl, Parquet events) and the benchmark ``sequence`` format go through the pipeline's own steps:
:func:`elcrec_core.data.ingestion.ingest` (the readers of :mod:`elcrec_core.data.sources`, ids as text, and the row
rules of the options: :meth:`~elcrec_core.cli.data_options.DataOptions.row_rules`) into a temporary warehouse, then
:func:`elcrec_core.data.events_to_sequences.build_sequences` (events ordered by timestamp, source file and source row;
items indexed in natural id order; k-core off unless asked for). The pipeline's own ``sequences.parquet`` (with its
``item_index.parquet``) is read as it is.

One rule is the command line's own: in the ``sequence`` format, when every item id is a positive integer in canonical
form (``7``, not ``007``), the item index is the integer itself (``n_items`` = the largest id), as the benchmark files
and the paper's checkpoints expect; the item ids are then the indices (``item_ids`` is None). Integer ids far sparser
than the items that occur (:data:`SPARSE_ITEM_IDS`) are refused where the format was guessed and, given ``--format
sequence``, above :data:`MAX_INDEXED_ITEMS`.

The format is guessed when not given: from a Parquet file's magic bytes, from the name (``.csv``, ``.tsv``, ``.jsonl``,
``.parquet``), else from the first line (``{`` jsonl, a tab tsv, a comma csv, whitespace-separated tokens the sequence
format). The timestamp format (epoch seconds, epoch milliseconds or ISO 8601) is detected from the first rows when not
given. Files are sniffed through their first :data:`~.format_guessing.SNIFF_BYTES`.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from elcrec_core.cli.data_options import SYNTHETIC, DataOptions
from elcrec_core.cli.format_guessing import (check_one_format, choose_format, event_source, first_lines,
                                             is_sequences_parquet)
from elcrec_core.cli.integer_ids import integer_ids, integer_items
from elcrec_core.cli.read_advice import read_advice
from elcrec_core.cli.settings_origin import OPTIONS, SEQUENCE_FORMAT, SPACE_DELIMITER, SettingsOrigin
from elcrec_core.data.event_selection import absent_event_types, absent_types_text, unmodelled_event_types
from elcrec_core.data import warehouse
from elcrec_core.data.events_to_sequences import SHORT_HISTORIES_FILE, SequenceBuild, SequenceConfig, build_sequences
from elcrec_core.data.files import SourceReadError
from elcrec_core.data.ingestion import LoadReport, ingest, times_in_1970_hint
from elcrec_core.data.rejections import (count_text, decimal_comma_note, example_rows, id_notes, rejected_examples,
                                        rejected_share_notes, write_rejected)
from elcrec_core.data.seen_items import seen_items
from elcrec_core.data.sequence_summary import SequenceSummary, counted, read_summary, users_text
from elcrec_core.data.sequences import Sequences, read_sequence_parquet
from elcrec_core.data.source_config import SourceConfig, resolve_files
from elcrec_core.data.synthetic import SyntheticConfig
from elcrec_core.data.time_zones import naive_times_note
from elcrec_core.data.expectations import ExpectationConfig


@dataclass
class LoadedData:
    """Sequences read for a command, the item id of each index (None: the integer ids are the indices) and
    what the reading did (for the lines :meth:`describe` prints)."""

    sequences: Sequences
    item_ids: np.ndarray | None
    path: str
    format: str  # sequence, csv, tsv, jsonl, parquet (events), sequences-parquet, synthetic
    notes: list[str] = field(default_factory=list)  # how the format and timestamps were chosen
    report: LoadReport | None = None  # None for the pipeline's sequences.parquet
    rejected_examples: list[str] = field(default_factory=list)
    rejected: pl.DataFrame | None = None  # the rejected rows (validation's REJECTED_COLUMNS)
    k_core_removed: int = 0
    repeated_across_files: int = 0  # events that another file of the data holds too: used once
    id_notes: list[str] = field(default_factory=list)  # ids (and times) kept as read, likely not as meant
    filter_notes: list[str] = field(default_factory=list)  # what the sequence filters left out (_filter_notes)
    k_core: str = ""  # what the k-core removed (SequenceSummary.k_core_text), where it removed events
    # every item of each user's events of the modelled types, where the sequence filters (--sequence-min-rating,
    # --dedupe, --k-core) may have left some out (seen_items; the users of sequences, then those of short_histories),
    # and the id of each of its item indices (None: the indices are the ids, as item_ids): None otherwise
    seen: Sequences | None = None
    seen_item_ids: np.ndarray | None = None
    # the users --k-core removed, with their events on the sequences' items (SequenceBuild.short_histories, numbered
    # as sequences): recommend makes their lists from them, as the pipeline does; no command trains on them
    short_histories: Sequences | None = None
    limits: ExpectationConfig | None = None  # the pipeline's bounds on rejected rows, where --source gives them
    data_users: np.ndarray | None = None  # each user with an accepted row, where the rows were read (not built)
    origin: SettingsOrigin = OPTIONS  # how the lines name a setting: an option, or the --source file's

    def item_names(self, indices: np.ndarray) -> list[str]:
        """The item id (text) of each of the item ``indices`` (1..n_items)."""
        if self.item_ids is None:
            return np.asarray(indices).astype(str).tolist()
        return np.asarray(self.item_ids)[np.asarray(indices) - 1].astype(str).tolist()

    def no_such_user(self, user: str, where: str) -> ValueError:
        """The error for ``user``, who has no sequence in the data read from ``where``: that all of their rows were
        rejected, with the first three (``line 5: bad_timestamp (...)``), or that the data does not hold them (or
        the k-core removed them, where it removed events); that the filters left none of their events where the
        data read holds them (helper-233: "is not in (or the k-core removed ...)" of a user it had read)."""
        theirs = self.rejected.filter(pl.col("user_id") == user) if self.rejected is not None else None
        why = ([f"the k-core removed {self.k_core_removed} of the data's events"] if self.k_core_removed else []) + [
            note for note in self.filter_notes if "left out" in note and ": 0 event" not in note]  # --event-types, ...
        if why and self.data_users is not None and bool((self.data_users == user).any()):
            n = 0 if theirs is None else len(theirs)
            rejected = f"; {n} other row(s) of theirs were rejected" if n else ""
            return ValueError(f"user {user!r} is in {where}, but no event of theirs is left after the filters "
                              f"({'; '.join(why)}){rejected}")
        if theirs is None or not len(theirs) or self.report is None:
            removed = "".join(f" (or {reason})" for reason in why)
            return ValueError(f"user {user!r} is not in {where}{removed}{self._near(user)}")
        rows = _examples(theirs, self.report, self.format, 3, each_reason=False)  # one user's: in file order
        return ValueError(f"user {user!r} has no accepted row in {where}: its {len(theirs)} row(s) were rejected "
                          f"({'; '.join(rows)}{'; ...' if len(theirs) > len(rows) else ''})")

    def _near(self, user: str) -> str:
        """``; did you mean '00042'?``: the data's user ids (up to 3) that are ``user`` but for case, outer white
        space and leading zeros (an id typed as a number, ``42`` for ``00042``); else empty."""
        def key(ids: np.ndarray) -> np.ndarray:
            text = np.char.lower(np.char.strip(ids.astype(str)))
            stripped = np.char.lstrip(text, "0")
            return np.where((stripped == "") & (text != ""), "0", stripped)

        ids = [self.sequences.user_ids] + ([] if self.short_histories is None else [self.short_histories.user_ids])
        every = np.concatenate(ids).astype(str)
        near = every[(key(every) == key(np.array([user]))[0]) & (every != user)][:3]  # not itself: a short history
        return f"; did you mean {' or '.join(repr(str(u)) for u in near)}?" if len(near) else ""

    def describe(self) -> list[str]:
        """Lines for stderr: what was read as what, and the row counts with the reasons for rejected rows."""
        if self.report is None:
            return []
        how = f" ({'; '.join(self.notes)})" if self.notes else ""
        what = "" if self.format == SYNTHETIC else f" as {self.format}"
        lines = [f"reading {self.path}{what}{how}", "data: " + counts(self.report)]
        lines += [f"  {example}" for example in self.rejected_examples] + [decimal_comma_note(self.rejected)]
        lines += rejected_share_notes(self.report.by_reason, self.report.rows_in, self.limits or ExpectationConfig(),
                                      f"in {self.origin.source_file}")
        lines += self.id_notes
        if self.report.days:  # a wrong epoch unit shows here (seconds read as milliseconds: January 1970)
            hint = times_in_1970_hint(self.origin.named(("timestamp_format", None)))
            lines.append(f"events from {min(self.report.days)} to {max(self.report.days)} (UTC days)"
                         + (f": {hint}" if max(self.report.days).year == 1970 else ""))
        lines += self.filter_notes  # first: the repeats are counted among the events that the filters keep
        if self.repeated_across_files:
            lines.append(f"events that another file holds too: {self.repeated_across_files}, used once (copies, "
                         f"overlapping exports){' of those kept' if self.filter_notes else ''}")
        return [line for line in lines if line] + ([self.k_core] if self.k_core else [])


def counts(report: LoadReport) -> str:
    """``N rows read, A accepted, R rejected (reason: count, ...)``, reasons in order of precedence."""
    return count_text(report.rows_in, report.accepted, report.by_reason)


def load(path: str, options: DataOptions = DataOptions()) -> LoadedData:
    """Read ``path`` (a file, folder or glob, or ``synthetic``) into sequences; see the module docstring.
    A file that cannot be read, or that gives no accepted rows, raises :class:`SourceReadError` naming it
    (with advice on the options when a guess may be at fault)."""
    if path == SYNTHETIC:
        if given := options.origin.as_given(options.event_options):  # named as the user gave them
            raise ValueError(f"{given}: only for event files, not the synthetic data")
        source = SourceConfig(format="synthetic", synthetic=SyntheticConfig(seed=options.seed))
        return _load_source(source, f"the synthetic data (seed {options.seed})", SYNTHETIC, [], options,
                            lambda exc: "")
    files = resolve_files(path)
    first = files[0]
    name = str(first) if len(files) == 1 else path
    if options.format in (None, "auto"):
        check_one_format(path, files)
    fmt, notes = choose_format(first, options)
    if fmt == "parquet" and len(files) == 1 and is_sequences_parquet(first):
        if extra := options.origin.as_given([*options.event_options, *options.built_options]):
            raise ValueError(f"{extra}: {name} is the pipeline's sequences.parquet, built already")
        seqs, item_ids = read_sequence_parquet(first)
        beside = first.with_name(SHORT_HISTORIES_FILE)  # the users its k-core removed, as the pipeline serves them
        short = read_sequence_parquet(beside)[0] if beside.is_file() and beside != first else None
        summary = read_summary(first.with_name("summary.json"))  # what its filters left out: a user not in it
        return LoadedData(seqs, item_ids, name, "sequences-parquet", notes, short_histories=short,
                          filter_notes=summary.left_out_notes() if summary else [])
    if fmt in ("sequence", "jsonl", "parquet") and (refused := options.unused_for(fmt)):
        raise ValueError(refused)
    if fmt == "sequence":
        source = SourceConfig(format="sequence", path=path, encoding=options.encoding)
    else:
        source, more = event_source(path, files, fmt, options)
        notes += more
    how = notes[0] if options.format in (None, "auto") and notes else None
    return _load_source(source, name, fmt, notes, options, lambda exc: read_advice(exc, first, source, how,
                                                                                  options.origin))


def _load_source(source: SourceConfig, name: str, fmt: str, notes: list[str], options: DataOptions,
                 advice) -> LoadedData:
    """Ingest ``source`` into a temporary warehouse and build its sequences, as the pipeline does."""
    with tempfile.TemporaryDirectory(prefix="elcrec-data-") as tmp:
        db = Path(tmp) / "warehouse.duckdb"
        try:
            report, check = ingest(source, options.row_rules(), db)
            if report.accepted == 0:  # --rejected-out: its rows are the ones wanted most (helper-187: none written)
                written = f"; {write_rejected(check.rejected, options.rejected_out)}" if options.rejected_out else ""
                raise SourceReadError(name, f"no rows accepted: {counts(report)}" + "".join(
                    f"; {e}" for e in [*_examples(check.rejected, report, fmt, 1), decimal_comma_note(check.rejected)]
                    if e) + written)
        except SourceReadError as exc:
            raise SourceReadError(exc.path, exc.cause + advice(exc)) from None
        with warehouse.held(db, read_only=True):  # opened once for the queries below, not for each (20-30 ms)
            build = build_sequences(SequenceConfig(
                min_rating=options.sequence_min_rating, event_types=options.event_types, dedupe=options.dedupe,
                k_core=options.k_core, max_user_events=options.max_user_events), db)
            filtered = options.sequence_min_rating is not None or options.dedupe or options.k_core
            seen, seen_ids = (_every_item_seen(db, build, options.event_types) if filtered else (None, None))
            other_types = (int(unmodelled_event_types(db, options.event_types)["rows"].sum())
                           if options.event_types else 0)
            types = _filter_notes(options, absent_event_types(db, options.event_types), other_types, build.summary)
    if not len(build.sequences):  # what each filter, then the k-core, removed
        raise ValueError(f"{name}: " + "; ".join(types + ([f"--k-core {options.k_core} removed " + (
            f"the other {build.summary.k_core_removed}" if types else f"every one of its {report.accepted}")
            + " events"] if build.summary.k_core_removed else [])))
    seqs, item_ids, short = build.sequences, build.item_ids, build.short_histories
    if fmt == "sequence" and (as_integers := integer_ids(item_ids)) is not None:
        largest, given = int(as_integers.max()), options.format not in (None, "auto")
        tabs = "\t" in next(iter(first_lines(resolve_files(source.path)[0], source.encoding)), "")
        table, fix = ("tabs", ("format", "tsv")) if tabs else ("spaces", SPACE_DELIMITER)
        sequence, give = options.origin.named(SEQUENCE_FORMAT), options.origin.give(fix, ("names", None))
        if largest > (MAX_INDEXED_ITEMS if given else SPARSE_ITEM_IDS * len(as_integers) + 100_000):
            raise SourceReadError(name, f"its item ids are integers, used as the item indices"
                                        f"{f' as {sequence} asks' if given else ''}: the largest, {largest:,}, "
                                        f"would give the model {largest:,} items for the {len(as_integers):,} that "
                                        f"occur. Is it a table of events separated by {table}? "
                                        f"{give[0].upper()}{give[1:]} (user, item, "
                                        "timestamp columns)" + (f", not {sequence}" if given else
                                                                f"; a sequence file of such ids: {sequence}"))
        seqs = Sequences(seqs.user_ids, as_integers[seqs.items - 1], seqs.offsets, largest)
        short = Sequences(short.user_ids, as_integers[short.items - 1], short.offsets, largest)
        seen, seen_ids = None if seen is None else integer_items(seen, seen_ids), None
        item_ids = None
        absent = (f", of which {len(as_integers):,} occur (the others, which no event names, stay in the catalogue "
                  "and are ranked too, by a trained model from what it learned of them as negatives: a part of a "
                  "benchmark file keeps its numbering)" if len(as_integers) < largest else "")  # (helper-246)
        notes = [*notes, f"item ids are integers: used as the item indices 1..{seqs.n_items}{absent}"]
    return LoadedData(seqs, item_ids, name, fmt, notes, report,
                      _examples(check.rejected, report, fmt, 3, apart=options.own_shares()), check.rejected,
                      build.summary.k_core_removed, build.summary.repeated_across_files,
                      [*id_notes(check.accepted, report.files if len(report.files) > 1 else None, fmt,
                                 columns=(source.columns.user, source.columns.item)),
                       naive_times_note(check.naive_times, source.timezone, options.origin.named(("timezone", None)),
                                        options.origin.word("timezone"),
                                        report.files)], types,
                      build.summary.k_core_text(options.k_core, "the data's newest day")
                      if build.summary.k_core_removed else "", seen,
                      seen_ids, short if len(short) else None, options.rejected_shares,
                      check.accepted["user_id"].unique().to_numpy(), options.origin)


def _filter_notes(options: DataOptions, absent: dict[str, list[str]], other_types: int,
                  summary: SequenceSummary) -> list[str]:
    """What ``--dedupe`` (unsaid: the accepted rows did not add up to the events, helper-220), ``--max-user-events``
    and ``--event-types`` left out (``other_types``: events of other types), its types that no event has
    (``absent``: :func:`~elcrec_core.data.event_selection.absent_event_types`), and what ``--sequence-min-rating``
    left out of the rest (the ``summary``'s ``filtered_out`` less ``other_types``)."""
    left_out = summary.filtered_out
    lines = [f"--dedupe left out {summary.duplicates_removed:,} repeated (user, item) events"] if options.dedupe else []
    lines += [f"--max-user-events {options.max_user_events} left out {users_text(summary.max_user_events_users)} "
              f"with {counted(summary.max_user_events_removed, 'event')}"] if summary.max_user_events_users else []
    if options.event_types is not None:
        lines.append(f"--event-types {','.join(options.event_types)}: {counted(other_types, 'event')} of "
                     "other types left out")
        if absent:
            lines.append(f"--event-types names types that no event has: {absent_types_text(absent, 'the data')}")
    if options.sequence_min_rating is not None:
        lines.append(f"--sequence-min-rating {options.sequence_min_rating:g}: "
                     f"{counted(left_out - other_types, 'event')} "
                     f"{'of those types ' if options.event_types is not None else ''}rated below it or without a "
                     "rating left out")
    return lines


# integer item ids of the sequence format are the item indices (the benchmarks' ids run 1..n): ids this much
# sparser than the items that occur (plus 100,000) are refused in a file guessed to be of that format (a table of
# events separated by spaces, whose timestamps would become items); given --format sequence, ids above
# MAX_INDEXED_ITEMS (an item table of gigabytes: ml-100k read so asked for 228 GB)
SPARSE_ITEM_IDS = 10
MAX_INDEXED_ITEMS = 10_000_000


def _every_item_seen(db: Path, build: SequenceBuild, event_types: tuple[str, ...] | None,
                     ) -> tuple[Sequences, np.ndarray]:
    """Every item of each user of ``build``'s events of ``event_types`` in the warehouse ``db``, whatever the
    sequences left out (:func:`~elcrec_core.data.seen_items.seen_items`; the users of its sequences, then those of its
    short histories), and the id of each of its item indices: the build's catalogue (numbered as it is), then the
    stored events' other items."""
    with warehouse.connect(db, read_only=True) as con:
        stored = con.sql("SELECT DISTINCT item_id FROM raw_interactions ORDER BY item_id").pl()["item_id"]
    ids = np.concatenate([build.item_ids, stored.filter(~stored.is_in(build.item_ids.tolist())).to_numpy()])
    users = np.concatenate([build.sequences.user_ids, build.short_histories.user_ids])
    return seen_items(db, None, users, ids, event_types), ids


def _examples(rejected: pl.DataFrame, report: LoadReport, fmt: str, n: int, each_reason: bool = True,
              apart: tuple[str, ...] = ()) -> list[str]:
    """``n`` rejected rows as ``line 5: bad_timestamp (timestamp: x)`` (with the file first when the load read
    several files: its path in their common folder): the first, or with ``each_reason``, of several reasons the
    first of each, those ``apart`` last (:func:`~elcrec_core.data.rejections.example_rows`)."""
    shown = example_rows(rejected, n, apart)[0] if each_reason else rejected
    return rejected_examples(shown, n, report.files if len(report.files) > 1 else None, fmt)
