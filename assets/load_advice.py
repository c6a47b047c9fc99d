"""What a load's messages advise: the source settings to set for a file that could not be read (the columns it
lacks, its delimiter, its format), the rejected rows of a refused load with the settings that decide them, the
thresholds that refused it, and the warnings of rejected item metadata and of files under other row rules. Text
only: :mod:`assets.ingestion` puts it in its failures and its log."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from datetime import time as dt_time
from pathlib import Path

import polars as pl

from elcrec_core.cli.format_guessing import looks_like
from elcrec_core.cli.read_advice import siblings_having, siblings_text
from elcrec_core.data.files import HEADER_IS_DATA, SourceReadError
from elcrec_core.data.item_metadata import ENCODING_ADVICE
from elcrec_core.data.rejections import (count_text, decimal_comma_note, example_rows, file_name, percent_above,
                                        reason_counts, rejected_examples)
from elcrec_core.data.source_config import ItemMetadataConfig
from elcrec_core.data.timestamp_patterns import FORMATS_TEXT, format_text
from elcrec_core.data.source_folders import metadata_among_events
from elcrec_core.data.sources import NOT_UTF8_ADVICE
from elcrec_core.data.expectations import UNBOUNDED, ExpectationReport, rejected_shares, unbounded_rows
from elcrec_core.data.validation import RowCheck
from elcrec_pipeline.config import SourceSettings

# what the pipeline adds to decimal_comma_note: its settings that load the other rows
_DECIMAL_COMMA_TAIL = (" (a higher max_rejected_share would load the other rows alone, and a min_rating then drops the "
                       "unrated ones)")
COLUMN_SETTINGS = ("user_column", "item_column", "timestamp_column", "rating_column", "event_type_column")


def read_advice(err: Exception, config: SourceSettings, settings: str) -> str:
    """What to set in the source settings for a file that could not be read: the settings of the columns it lacks,
    or the format its content looks like where the one given cannot read it. ``settings`` names the settings and
    where they come from (:meth:`SourceSettings.origin`)."""
    if not isinstance(err, SourceReadError):
        return ""
    if delimiter := _delimiter(err):  # not the columns: they are all there (after the reader's "?")
        return f" Set {'format: tsv' if delimiter == _TAB else f'delimiter: {delimiter}'} in the {settings}."
    if HEADER_IS_DATA in err.cause:
        return f". Set header: false and names (a name for each column, in order) in the {settings}."
    if err.cause.startswith("no column(s)"):
        path = Path(err.path)  # the item metadata file read as events: its folder's files (a RecBole dataset's)
        if path == Path(config.item_metadata_path or "").resolve():
            folder = sorted(file.resolve() for file in path.parent.iterdir() if file.is_file())
            return "; " + metadata_among_events(folder, config.item_metadata_path)
        names = "" if config.format in ("jsonl", "parquet") else (  # header: false would reject the header line
            " (or names, a name for each column, which replace the header's)")
        keys = _naming(err, {key: [getattr(config, key)] for key in COLUMN_SETTINGS})
        siblings = siblings_having(Path(err.path), err.cause, config)
        odd = "" if _named_alone(Path(err.path), config.path) else _odd_file(Path(err.path))
        return (f"{odd}; name the file's columns in the {settings}: {', '.join(keys)}{names}"
                + (f"; but {siblings_text(siblings)}" if siblings else ""))
    if err.cause.startswith("not a Parquet file") or "NUL byte" in err.cause:
        content = looks_like(Path(err.path))
        if content not in (None, config.format):
            return f"; it looks like {content}: set format: {content} in the {settings}"
    return ""


def _named_alone(path: Path, pattern: str | None) -> bool:
    """Whether the source path ``pattern`` names the file ``path`` itself (``events.csv``, ``logs/{date}.csv``), not
    a folder or a glob of files among which it is one (helper-200: a file named alone was asked whether it is data
    beside the folder's settings files)."""
    name = Path(pattern or "").name
    if any(c in name for c in "*?["):
        return False
    return re.fullmatch(re.escape(name).replace(re.escape("{date}"), r"\d{4}-\d{2}-\d{2}"), path.name) is not None


def _odd_file(path: Path) -> str:
    """Where ``path``'s suffix is not the one of most other files in its folder (a README.txt among the .csv files
    of a folder source): that it may be no data file, and a glob that reads only the others; else empty."""
    suffixes = Counter(file.suffix.lower() for file in path.parent.iterdir()
                       if file.is_file() and not file.name.startswith((".", "_")))
    (common, count), = suffixes.most_common(1) or [("", 0)]
    if count < 2 or path.suffix.lower() == common:
        return ""
    return (f"; is {path.name} a data file? It is not a {common} file as {count} others of its folder are: a folder "
            f"source reads every file in it, and a glob such as {path.parent.name}/*{common} reads those alone")


_TAB = '"\\t"'  # a tab as YAML writes it (in double quotes)


def _delimiter(err: SourceReadError) -> str | None:
    """The other common delimiter that a header read as one column holds, or that splits a line into the columns
    that the names give (the reader's hint in ``err``), as YAML writes it, else None."""
    hint = re.search(r"holds '(.+?)'(?: between as many fields)?: is that the delimiter\?", err.cause)
    return None if hint is None else _TAB if hint[1] == "\\t" else f"'{hint[1]}'"


def metadata_read_advice(err: SourceReadError, config: ItemMetadataConfig) -> str:
    """The settings that name the columns an item metadata file lacks (its title and categories may be ''), or its
    delimiter where its header holds another."""
    if delimiter := _delimiter(err):
        return f" Set item_metadata_delimiter: {delimiter}."
    if HEADER_IS_DATA in err.cause:
        return ". Set item_metadata_header: false and item_metadata_names (a name for each column, in order)."
    if not err.cause.startswith("no column(s)"):
        return ""
    named = {"item_metadata_item_column": [config.item], "item_metadata_title_column": [config.title],
             "item_metadata_categories_column": [config.categories],
             "item_metadata_category_flags": [column for column, _ in config.category_flags or ()]}
    keys = _naming(err, named)
    optional = [key for key in keys if key in ("item_metadata_title_column", "item_metadata_categories_column")]
    return (f"; name the file's columns with {', '.join(keys)}" + (f" ({' or '.join(optional)}: '' for none)"
                                                                 if optional else ""))


def _naming(err: SourceReadError, columns: dict[str, list[str | None]]) -> list[str]:
    """The settings (keys of ``columns``, which give the columns each names) that name a column that the file of
    ``err`` (no column(s) ...) lacks."""
    lacking = err.cause.split("; the file has")[0]
    return [key for key, names in columns.items() if any(name and repr(name) in lacking for name in names)]


# what to look at in the source settings where rows were rejected for a reason that they decide
_REASON_SETTINGS = {"bad_timestamp": f"timestamp_format ({FORMATS_TEXT})",
                    "missing_timestamp": "timestamp_column ('' for a source without times)",
                    "missing_user": "user_column", "missing_item": "item_column",
                    "rating_out_of_range": "min_rating, max_rating",  # named nowhere (helper-238)
                    "timestamp_out_of_window": "min_timestamp, max_timestamp"}
# what the rows of such a reason lack, where most rows have it: the setting is not in doubt (helper-275's trial: 6
# blank customers of 107 rows asked whether user_column was right)
_LACKING = {"bad_timestamp": "a time that timestamp_format reads", "missing_timestamp": "a time",
            "missing_user": "a user", "missing_item": "an item",
            "rating_out_of_range": "a rating within min_rating, max_rating",
            "timestamp_out_of_window": "a time within min_timestamp, max_timestamp"}
# the reasons whose rows hold a value, which is at fault (a time that is none, a rating out of bounds), not lack one
_HOLDING = {"bad_timestamp", "rating_out_of_range", "timestamp_out_of_window"}
# a rating bound of the source settings rejects rows; the sequences' filter of the same name keeps them (helper-238)
_RATING_RULE_NOTE = ("rating_out_of_range: the source settings' min_rating and max_rating are row rules, which reject "
                     "a row outside them; to leave low ratings out of the sequences and keep their rows, set the "
                     "sequence setting min_rating (ops.interaction_sequences.config.min_rating) instead")


def rejected_note(check: RowCheck, fmt: str, timestamp_format: object, where: str,
                  apart: Collection[str] = ()) -> str:
    """A refused load's rows for its message: the counts by reason, the first rejected rows (file, row, reason,
    field and value; of several reasons, the first of each, the most frequent first, those ``apart`` last, so that
    the rows that made the load fail come before a few stray ones), and the settings to check for the reasons that
    they decide and that hold a tenth of the rejected rows or more (one empty id among wrong times is no reason to
    doubt user_column), in ``where`` (the settings and their origin), but those ``apart``, which have a share of
    their own (anonymous events: no doubt of user_column). A setting is asked about only where more than half of
    the rows read (a spreadsheet's empty rows aside) are of its reason; else the rows lack a value, or their value is
    at fault (a bad time, a rating out of bounds), and the note says so (``6 of 107 rows read lack a user
    (missing_user), which the other rows have: ...``)."""
    if not len(check.rejected):
        return count_text(check.rows_in, len(check.accepted), check.by_reason)
    files = sorted({*check.accepted["source_file"].unique(), *check.rejected["source_file"].unique()})
    shown, said = example_rows(check.rejected, apart=apart)
    first = rejected_examples(shown, 3, files, fmt)
    judged = len(check.rejected) - unbounded_rows(check.by_reason)  # 100 empty rows hid 5 bad times' advice
    many = {reason for reason, n in check.by_reason.items() if n * 10 >= judged and reason not in UNBOUNDED}
    counted = check.rows_in - unbounded_rows(check.by_reason)  # the rows read, a spreadsheet's empty rows aside
    asked = [reason for reason in _REASON_SETTINGS if reason in many and reason not in apart]
    doubted = [reason for reason in asked if check.by_reason[reason] * 2 > counted]  # most rows: the setting?
    settings = [_REASON_SETTINGS[reason] for reason in doubted]
    aside = " (the empty rows aside)" if counted < check.rows_in else ""
    lacking = [f"{check.by_reason[reason]:,} of {counted:,} rows read{aside} lack {_LACKING[reason]} ({reason}), "
               f"which the other rows have: "
               f"{'their values are at fault' if reason in _HOLDING else 'these rows lack a value'}, and "
               f"{_REASON_SETTINGS[reason].split(' (')[0]} "
               f"{'are' if reason.endswith(('range', 'window')) else 'is'} not in doubt"
               for reason in asked if reason not in doubted]
    read_as = f" (the timestamps were read as {format_text(timestamp_format)})" if "bad_timestamp" in doubted else ""
    return sentences(
        f"{count_text(check.rows_in, len(check.accepted), check.by_reason)}; {said}: {'; '.join(first)}",
        f"Is {', '.join(settings)} in the {where} right for these files{read_as}?" if settings else "",
        *lacking,
        _quote_note(check.rejected) if "malformed_line" in many and fmt in ("csv", "tsv") else "",
        _duplicates_note(check) if "duplicate_event" in many else "",
        _RATING_RULE_NOTE if "rating_out_of_range" in many else "",
        note + _DECIMAL_COMMA_TAIL if "bad_rating" in many and (note := decimal_comma_note(check.rejected)) else "")


def _quote_note(rejected: pl.DataFrame) -> str:
    """Where malformed lines hold a quote character inside a value (``"Weird Al" Yankovic``, which DuckDB calls an
    unquoted value): that the file may not quote its values, and the setting that reads quotes as data. Empty
    otherwise."""
    quoted = rejected.filter((pl.col("reason") == "malformed_line") & pl.col("detail").str.contains("QUOTE"))
    if not len(quoted):
        return ""
    return (f"{len(quoted)} malformed line(s) hold a quote character inside a value: a file that does not quote its "
            "values (a tab-separated export, as most are) reads them as data with the source setting quote: '' "
            "(--no-quote); with quoting on, a value in quotes loses them")


def _duplicates_note(check: RowCheck) -> str:
    """What makes rows ``duplicate_event`` (equal to an earlier row of their file in user, item, time, rating and
    event type), and where the file's times are dates alone (each at midnight), that two events of a user with an
    item on one day are one there."""
    dates = check.accepted["timestamp"].drop_nulls()
    at_midnight = len(dates) > 0 and bool((dates.dt.time() == dt_time(0)).all())
    return ("duplicate_event: a row equal to an earlier row of its file in user, item, time, rating and event type" + (
        "; the file's times are dates alone, so two events of a user with an item on one day are one: the repeats "
        "are kept as rejected rows, and the sequences would lose only an item's repeat on its day (never "
        "recommended to its user anyway)" if at_midnight else "; a file whose rows repeat (a delivery appended "
        "twice) keeps each event once"))


def not_utf8_note(check: RowCheck, files: Sequence[str]) -> str:
    """The warning of a load that rejected lines that are not UTF-8 text (a file of another encoding, read as
    UTF-8: its every line with a letter beyond ASCII, whole users' histories where their names hold one, under the
    share that refuses a load and with no warning: helper-187); empty where none."""
    bad = check.rejected.filter(pl.col("detail").str.ends_with(f"({NOT_UTF8_ADVICE})"))
    if not len(bad):
        return ""
    named = sorted({file_name(str(file), files) for file in bad["source_file"].cast(pl.String)})
    return (f"{len(bad):,} line(s) of {', '.join(named[:5])}{', ...' if len(named) > 5 else ''} are not UTF-8 text and "
            f"were rejected (malformed_line): a file in another encoding loses every line with a letter beyond ASCII "
            f"(a user's whole history, where their id holds one). Give the source setting encoding (such as cp1252 "
            f"or latin-1) and load the day again")


def rejected_items_note(rejected: pl.DataFrame, stored: int, path: str) -> str:
    """The warning of a load that rejected rows of item metadata: counts by reason and the first rows."""
    counts = count_text(stored + len(rejected), stored, dict(rejected["reason"].value_counts().iter_rows()))
    fmt = "parquet" if Path(path).suffix.lower() == ".parquet" else "csv"
    first = rejected_examples(rejected.sort("source_row"), 3, None, fmt)
    shown = "; ".join(first)  # a row's advice stays in its shortened detail: said once, not again after the rows
    encoding = rejected["detail"].str.ends_with(f"({ENCODING_ADVICE})").any() and ENCODING_ADVICE not in shown
    return (f"item metadata {path}: {counts}; the profiles use no title or categories of a rejected row (rows kept in "
            f"rejected_item_metadata; an item's superseded row gives way to its later one). The first: "
            f"{shown}" + (f". Some of its lines are {ENCODING_ADVICE}" if encoding else ""))


def threshold_note(expectations: ExpectationReport, check: RowCheck, config: SourceSettings, where: str,
                   given: Collection[str] = ()) -> str:
    """The source settings that set the failed thresholds of a refused load (``where``: the settings and their
    origin), with their values (", the default" where none of ``given``, the settings that the run config or the
    file set), where changing them would load something: ``max_rejected_share`` where some rows were accepted,
    ``min_rows`` for an empty delivery (no row read); empty where neither."""
    failed = {outcome.column or outcome.expectation for outcome in expectations.failed}
    empty = unbounded_rows(check.by_reason, config.expectations())  # left out of max_rejected_share and its rows

    def value(name: str) -> str:
        return f"{getattr(config, name)}{'' if name in given else ', the default'}"

    notes = []
    own = config.max_rejected_share_by_reason or {}
    if "rejected_share" in failed and len(check.accepted):
        apart = "" if not own else (f" for the reasons without a share of their own ({', '.join(own)} "
                                    f"{'has' if len(own) == 1 else 'have'} one)")
        by_design = {reason: _share_above(check.by_reason[reason] / check.rows_in) for reason in
                     ("missing_user", "duplicate_event") if reason not in own
                     and check.by_reason.get(reason, 0) * 10 >= len(check.rejected) - empty}  # anonymous, repeats
        shares = ", ".join(f"{reason}: {share:g}" for reason, share in {**own, **by_design}.items())  # the whole map
        kinds = " and ".join({"missing_user": "anonymous events", "duplicate_event": "repeats"}[r] for r in by_design)
        rest = rejected_shares({r: n for r, n in check.by_reason.items() if r not in by_design}, check.rows_in,
                               config.expectations())["rejected_share"][0]
        judged = sum(n for reason, n in check.by_reason.items() if reason not in own and reason not in UNBOUNDED)
        aside = (f" (of the rows but the {empty:,} empty row{'s' * (empty != 1)}, empty_row, which no share "
                 f"counts: {judged:,} of {check.rows_in - empty:,})") if empty else ""
        notes.append(f"max_rejected_share ({value('max_rejected_share')}) sets the share of rejected rows a load "
                     f"may have{apart}{aside}: raise it to load the accepted rows (the rejected ones are kept "
                     "with their reasons)" + (f", or, where the data holds {' and '.join(by_design)} rows by design "
                                   f"({kinds}), "
                                   f"give them a share of their own, max_rejected_share_by_reason: {{{shares}}}, and "
                                   "the other reasons keep max_rejected_share" + (
                                       " (their rows, "
                                       f"{percent_above(rest, config.max_rejected_share)} of the load, are above it "
                                       "too)"
                                       if rest > config.max_rejected_share else "") if by_design else ""))
    for reason, share in own.items():
        if f"{reason}_share" in failed and len(check.accepted):
            notes.append(f"max_rejected_share_by_reason gives {reason} rows a share of {share}: raise it to load "
                         "the accepted rows")
    if "expect_table_row_count_to_be_between" in failed and check.rows_in == empty:  # empty lines or rows alone
        notes.append(f"min_rows ({value('min_rows')}) sets the rows a load needs: 0 lets an empty delivery through "
                     "(a day without events" + (f"; its {empty:,} row{'s' * (empty != 1)} of delimiters only, "
                                                "empty_row, are kept as rejected rows)" if empty else ")"))
    return f"In the {where}: {'; '.join(notes)}." if notes else ""


def _share_above(share: float) -> float:
    """The tenth above ``share`` (0.3 gives 0.4, 0.34 gives 0.4), at most 1: a share that loads the rows seen."""
    return min(1.0, (int(share * 10 + 1e-9) + 1) / 10)


def load_line(stored: int, check: RowCheck, fmt: str, files: Sequence[str], replaced: tuple[int, int],
              apart: Collection[str] = ()) -> str:
    """The log line of a load of ``files`` that stored ``stored`` events of ``check``: ``loaded A events, rejected
    R of N``, where rows were rejected their counts by reason and three of them (file, line and detail: the first
    three of one reason, else the first of each reason as a refusal shows them, those ``apart``, of a share of their
    own, after the others: 433 anonymous events hid a clickstream's 3 broken lines), and where it replaced rows that
    earlier loads stored (``replaced``: events, rejected rows; of its files, and of files that ``overwrite_day``
    withdrew), their counts."""
    line = f"loaded {stored} events, rejected {len(check.rejected)} of {check.rows_in}"
    if len(check.rejected):
        shown, said = example_rows(check.rejected, apart=apart)
        line = (f"{line} ({reason_counts(check.by_reason)}), kept in rejected_interactions with file, line and "
                f"detail; {said}: {'; '.join(rejected_examples(shown, 3, files, fmt))}")
    events, rejected = replaced
    return line + (f"; it replaced {events} event(s) and {rejected} rejected row(s) that earlier loads stored"
                   if events or rejected else "")


def byte_copies_note(copies: Mapping[Path, Path], files: Sequence[str], dated: bool) -> str:
    """The warning of a load with files that are byte copies of another of its ``files`` (``copies``: copy ->
    the older file of its bytes, as :func:`~elcrec_core.data.files.byte_copies` finds them), the first five named:
    the copy by its path, the original by its path in the load's folder (``app/2026-03-01.csv``, not a name that
    both share). Removing the copy withdraws its rows only under ``overwrite_day`` (helper-186), which acts on a
    source whose path holds ``{date}`` (``dated``); emptying it and loading again withdraws them from any source."""
    named = ", ".join(f"{copy} (of {file_name(str(first), files)})" for copy, first in list(copies.items())[:5])
    withdraw = ("Remove the copy where it is not meant (its stored rows stay unless the source sets overwrite_day: "
                "true, and the day is loaded again)" if dated else
                "Where the copy is not meant, empty it and load again (a removed file's stored rows stay)")
    return (f"{len(copies)} file(s) of this load are byte copies of another: {named}. Each file's rows are stored "
            f"(raw_interactions counts them twice); the sequences use each event once. {withdraw}")


def withdrawn_note(day: str, withdrawn: Sequence[str], rows_in: int, before: int) -> tuple[bool, str]:
    """What an ``overwrite_day`` load of ``day`` that withdrew the rows of the files ``withdrawn`` (gone from
    disk) did, and whether it is a warning: where its ``rows_in`` are half or fewer of the ``before`` rows (events
    and rejected) that the day's replaced files had stored, a rewrite cut short or partial withdrew the rest. A
    load of no rows at all, which only ``min_rows: 0`` lets through, withdraws the day as meant: no warning."""
    listed = f"{', '.join(withdrawn[:5])}{', ...' if len(withdrawn) > 5 else ''}"
    text = (f"overwrite_day: withdrew the rows of {len(withdrawn)} file(s) that an earlier load of {day} read and "
            f"that are gone from disk: {listed}")
    if not rows_in or 2 * rows_in > before:
        return False, text
    return True, (f"{text}. This load read {rows_in:,} row(s), where the day's files stored {before:,} before: a "
                  "rewrite of the day cut short (a job still writing it: the load does not wait for a marker such as "
                  "Spark's _SUCCESS) or a partial one withdraws the rest; load the day again once it is whole. A "
                  "rewrite that removed them on purpose has withdrawn them, as meant")


def shrunk_files_note(rows: Mapping[str, int], before: Mapping[str, int]) -> str:
    """The warning of a load with files that hold half the rows or fewer that earlier loads stored for them
    (``rows``: this load's rows per file, every file it read; ``before``: the rows stored for each before it),
    named with their counts; empty where there are none. A file emptied by a failed transfer among good ones
    leaves the load's total above half. A load of no rows at all, which only ``min_rows: 0`` lets through, is a
    withdrawal, as meant: none."""
    if not any(rows.values()):
        return ""
    files = list(rows)
    shrunk = [file for file in files if before.get(file, 0) > 0 and 2 * rows[file] <= before[file]]
    if not shrunk:
        return ""
    listed = ", ".join(f"{file_name(file, files)} {rows[file]} row{'s' * (rows[file] != 1)} ({before[file]} before)"
                       for file in shrunk[:5])
    return (f"{len(shrunk)} file(s) of this load hold half the rows or fewer that their earlier loads stored: "
            f"{listed}{', ...' if len(shrunk) > 5 else ''}. A file cut short (still being written), emptied by a failed"
            " transfer, or a partial delivery replaces the whole one (write files under a temporary name and rename "
            "them when complete); load the day again once they are whole. A file emptied on purpose has withdrawn its"
            " events, as meant")


def sentences(first: str, *more: str) -> str:
    """``first`` and the non-empty ``more`` joined, each but the last ending in a full stop or a question mark."""
    parts = [first, *filter(None, more)]
    return " ".join(part if i == len(parts) - 1 or part.endswith((".", "?")) else part + "."
                    for i, part in enumerate(parts))


def other_rules_note(other_rules: dict[str, list[str]]) -> str:
    """The warning of a load whose row rules differ from those the stored files were checked under."""
    files, differ = list(other_rules), sorted({name for names in other_rules.values() for name in names})
    rating = ". To apply a rating filter to every day, use the sequence settings' min_rating" if any(
        "rating" in name for name in differ) else ""
    return (f"{len(files)} stored file(s) were checked under other row rules than this load's ({', '.join(differ)}), "
            f"and their rows stay as those rules decided until they are loaded again: {', '.join(files[:5])}"
            f"{', ...' if len(files) > 5 else ''}{rating}")
