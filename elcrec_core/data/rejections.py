"""How a load's rejected rows are told to a person: the counts by reason, and the first rejected rows with their
file, row and field. The CLI prints them; the pipeline puts them in the message of a load it refuses, and keeps
that load's rows and counts in a folder of their own. Also the accepted rows whose ids a person may not mean as
given (white space around them)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import polars as pl

from elcrec_core.data.detail_shortening import shorten_detail
from elcrec_core.data.expectations import UNBOUNDED, ExpectationConfig, rejected_shares, unbounded_rows
from elcrec_core.data.validation import CUT_SHORT, REASONS, REJECTED_COLUMNS, RowCheck

REFUSED_ROWS, REFUSED_COUNTS = "rejected.csv", "load.json"  # the files of a refused load's folder


def count_text(rows_in: int, accepted: int, by_reason: Mapping[str, int]) -> str:
    """``N rows read, A accepted, R rejected (reason: count, ...)``, reasons in order of precedence
    (:data:`~elcrec_core.data.validation.REASONS`)."""
    text = f"{rows_in:,} row{'' if rows_in == 1 else 's'} read, {accepted:,} accepted, {rows_in - accepted:,} rejected"
    return f"{text} ({reason_counts(by_reason)})" if by_reason else text


def reason_counts(by_reason: Mapping[str, int]) -> str:
    """``bad_timestamp: 12, duplicate_event: 5``: reasons in order of precedence (:data:`REASONS`)."""
    ordered = sorted(by_reason.items(), key=lambda kv: REASONS.index(kv[0]) if kv[0] in REASONS else 99)
    return ", ".join(f"{reason}: {n:,}" for reason, n in ordered)


def rejected_examples(rejected: pl.DataFrame, n: int, files: Sequence[str] | None, fmt: str) -> list[str]:
    """The first ``n`` rejected rows (``REJECTED_COLUMNS``) as ``line 5: bad_timestamp (timestamp: x)``, with the
    file first where ``files`` (the load's) are given, as :func:`_row_name` names it; a ``line`` of a text file, a
    ``row`` of the source format ``fmt`` where that is Parquet or generated data, an ``event`` of a sequence file;
    a long detail cut in its value, not its advice (:func:`shorten_detail`)."""
    return [f"{_row_name(file, row, files, fmt, reason == 'malformed_line')}: {reason}"
            + (f" ({shorten_detail(detail)})" if detail else "")
            for file, row, reason, detail in rejected.head(n).select("source_file", "source_row", "reason",
                                                                     "detail").iter_rows()]


def example_rows(rejected: pl.DataFrame, n: int = 3, apart: Collection[str] = ()) -> tuple[pl.DataFrame, str]:
    """The rejected rows to show a person, and what they are: the first ``n`` where one reason holds them all;
    else the first of each reason, most frequent first (ties in the order of :data:`REASONS`), of the ``n`` most
    frequent, so that the rows that decide a load come before a few stray ones and no reason hides behind
    another; the reasons ``apart`` (of a share of their own, which they may keep) after the others, which
    ``max_rejected_share`` judges (helper-229: 482 anonymous events hid the 5 bad times that refused a load), and
    the empty rows (:data:`~elcrec_core.data.expectations.UNBOUNDED`, which no share judges) last (helper-254: a
    spreadsheet's 10 empty rows came before the 2 bad times that refused a load)."""
    counts = dict(rejected["reason"].cast(pl.String).value_counts().iter_rows())
    empty = {reason for reason in UNBOUNDED if reason not in apart}
    reasons = sorted(counts, key=lambda reason: (2 if reason in empty else 1 if reason in apart else 0,
                                                 -counts[reason], REASONS.index(reason)))
    if len(reasons) <= 1:
        return rejected.head(n), "the first rejected"
    firsts = pl.concat([rejected.filter(pl.col("reason").cast(pl.String) == reason).head(1) for reason in reasons[:n]])
    shares = {*reasons} & {*apart} and {*reasons} - {*apart} - empty
    last = ", empty rows last" if empty & {*reasons} else ""
    if shares or last:  # the order is not the counts' alone
        order = ("those without a share of their own first, each most frequent first" if shares
                 else "most frequent first") + last
        return firsts, (f"the first rejected of each reason, {order}" if len(reasons) <= n
                        else f"the first rejected of {n} reason{'s' if n > 1 else ''}, {order}")
    return firsts, ("the first rejected of each reason, most frequent first" if len(reasons) <= n
                    else f"the first rejected of the {n} most frequent reasons" if n > 1
                    else "the first rejected of the most frequent reason")


def _row_name(file: str, row: int, files: Sequence[str] | None, fmt: str, line: bool = False) -> str:
    """``line 5`` of a text file, ``row 5`` of a Parquet file or of generated data (``fmt``), ``event 5`` of a
    sequence file (its fifth item: a line holds many; ``line``: a row of a whole line, a malformed one), after the
    file's :func:`file_name` among ``files``; without ``files``, no file."""
    where = "row" if fmt in ("parquet", "synthetic") else "event" if fmt == "sequence" and not line else "line"
    return f"{file_name(file, files)} {where} {row}" if files else f"{where} {row}"


def file_name(file: str, files: Sequence[str]) -> str:
    """``file``'s path in the folder that holds all of ``files``, one load's (``dt=2026-03-01/part-0.parquet``,
    where every day's file is ``part-0.parquet``); a file alone, or one not among them: its name."""
    if len(files) == 1 or file not in files:
        return Path(file).name
    folder = os.path.commonpath([str(Path(f).parent) for f in files])  # one load's files: all absolute
    return Path(os.path.relpath(file, folder)).as_posix()


def rows_per_file(check: RowCheck, files: Sequence[str]) -> dict[str, int]:
    """The rows that each of ``files`` (a load's, every file it read) holds in ``check``, accepted or rejected (0
    for an empty one)."""
    names = pl.concat([check.accepted["source_file"], check.rejected["source_file"]]).cast(pl.String)
    return dict.fromkeys(files, 0) | dict(names.value_counts().iter_rows())


def rejected_files_note(check: RowCheck, share: float, fmt: str, files: Sequence[str],
                        apart: Collection[str] = ()) -> str:
    """A notice of the files of ``check`` (a load of several, ``files``) whose own share of rejected rows, but those
    of the reasons ``apart`` (which have a share of their own: ``max_rejected_share_by_reason``), is above ``share``
    (the load's ``max_rejected_share``), which the load's share hides (a whole file in the wrong time unit among
    good files): each with its counts by reason and first rejected row of the reasons that it is judged by (one of
    ``apart`` hid them: helper-235); empty where there are none."""
    rows = rows_per_file(check, files)
    if len(rows) < 2:  # a file alone: its share is the load's, which the expectations judge
        return ""
    notes, unbounded = [], [reason for reason in UNBOUNDED if reason not in apart]  # as the load's share
    for (file,), part in check.rejected.group_by(pl.col("source_file").cast(pl.String), maintain_order=True):
        judged = part.filter(~pl.col("reason").cast(pl.String).is_in([*apart, *unbounded]))
        if judged.height > share * (rows[file] - part["reason"].cast(pl.String).is_in(unbounded).sum()):
            by_reason = dict(part["reason"].cast(pl.String).value_counts().iter_rows())
            first = "the first" if judged.height == part.height else "the first without a share of its own"
            notes.append(f"{file_name(file, files)}: {count_text(rows[file], rows[file] - len(part), by_reason)}"
                         f"; {first}: {rejected_examples(judged, 1, None, fmt)[0]}")
    if not notes:
        return ""
    return (f"{len(notes)} file(s) of this load have more rejected rows than max_rejected_share ({share}) allows a "
            f"load, hidden by its other files: {'; '.join(notes)}. The rejected rows are kept in "
            "rejected_interactions")


# white space, and the characters that show as nothing (zero-width space, joiners, word joiner, byte order mark)
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
_SPACE = f"[\\s{_INVISIBLE}]"


# an id as a float column's value past its exact integers reads (event_normalisation.id_text): 16777216.0 of a 32-bit
# column, 9007199254740992.0 of a 64-bit one, 1e+20 (a whole float below them reads without .0)
_INEXACT = r"^-?([0-9]{8,}\.0|[0-9](\.[0-9]+)?e\+[0-9]+)$"
_EXCEL_NUMBER = r"^-?[0-9](\.[0-9]+)?E\+[0-9]+$"  # a long number as Excel shows and saves it: 1.23457E+29


def rejected_share_notes(by_reason: Mapping[str, int], rows_in: int, limits: ExpectationConfig = ExpectationConfig(),
                         given: str = "given") -> list[str]:
    """A line for each share of a load's rejected rows over its bound under ``limits`` (:func:`rejected_shares`),
    for a reader that keeps a load the pipeline refuses; a bound other than the default is said to be ``given``
    (``in the --source file``). Each share shows the decimals that set it above its bound, and where reasons have
    shares of their own, ``max_rejected_share``'s is said to be of the others (helper-229: '0.4% of the rows were
    rejected' of 4.3%, over a bound of 0.0044)."""
    default = ExpectationConfig().max_rejected_share
    others = " for the reasons without a share of their own" if limits.max_rejected_share_by_reason else ""
    empty = unbounded_rows(by_reason, limits)  # left out of max_rejected_share's rows (helper-254: 9.1% of 32 rows)
    aside = f" (the {empty:,} empty row{'s' * (empty != 1)}, empty_row, aside)" if empty else ""
    return [f"{percent_above(share, limit)} of the rows{aside if name == 'rejected_share' else ''} were rejected"
            f"{others if name == 'rejected_share' else ' as ' + name[:-6]}: the "
            f"pipeline refuses a load of more than {setting} ({limit:g} "
            f"{'by default' if (name, limit) == ('rejected_share', default) else given}; see "
            "max_rejected_share_by_reason); read anyway"
            for name, (share, limit) in rejected_shares(by_reason, rows_in, limits).items() if share > limit
            for setting in ["max_rejected_share" if name == "rejected_share"
                            else f"max_rejected_share_by_reason.{name[:-6]}"]]


def percent_above(share: float, limit: float) -> str:
    """``share`` as a percentage of one decimal, or more where that does not show it above ``limit`` (0.445% of
    rows over a bound of 0.0044 read 0.4%, below it; 500,001 of 10,000,000 over 0.05 read 5.0000% at 4: 5.00001%)."""
    digits = next((d for d in range(1, 10) if round(share * 100, d) > limit * 100), 10)
    return f"{share:.{digits}%}"


def id_notes(accepted: pl.DataFrame, files: Sequence[str] | None, fmt: str, n: int = 3,
             columns: tuple[str, str] = ("user_id", "item_id"),
             stored: Mapping[str, pl.Series] | None = None) -> list[str]:
    """Notices of the ``accepted`` rows (validation's ``EVENT_COLUMNS``) whose ids are kept as given but likely not
    as meant, each with its first ``n`` rows (``line 2: sku ' i1'``, as :func:`rejected_examples` names rows, each
    id by ``columns``: the file's user and item columns): a user or item id with white space (or a character that
    shows as nothing, such as a zero-width space) around it (``' i1'`` and ``'i1'`` are two items, as an export
    written with ", " gives them); an id of a float column of 2^53 or more (2^24 of a 32-bit one), where a float no
    longer holds every integer (pandas writes an integer id column with a missing value as floats), so that ids
    that differ may have become one; an id in Excel's scientific notation (``1.23457E+29``), which kept six digits;
    ids that another id equals but for case (``c0005`` and ``C0005``: two users), of the load or, in ``stored``
    (``user_id`` and ``item_id``: the ids that other files stored, :func:`~elcrec_core.data.load_history.
    ids_of_other_files`), of earlier loads (a daily export that changed their case). None where there are none."""
    notes = []
    for pattern, said in ((f"^{_SPACE}|{_SPACE}$", "have an id with white space around it, kept as given (' i1' and "
                                                   "'i1' are two items)"),
                          (_INEXACT, "have an id that a float column held at 2^53 or more (2^24 for 32 bits), "
                                     "where a float no longer holds every integer (pandas writes an integer id "
                                     "column with a missing value as floats): ids that differ may have become one; "
                                     "write the column as integers or text"),
                          (_EXCEL_NUMBER, "have an id in scientific notation, as Excel shows and saves a long number "
                                          "(1.23457E+29: its digits past the sixth are lost): ids that differ may "
                                          "have become one; format the column as text before saving")):
        rows = accepted.filter(pl.any_horizontal(pl.col("user_id", "item_id").str.contains(pattern)))
        if not len(rows):
            continue
        out = []
        for file, row, *ids in rows.head(n).select("source_file", "source_row", "user_id", "item_id").iter_rows():
            named = [f"{name} {value!r}" for name, value in zip(columns, ids) if re.search(pattern, value)]
            out.append(f"{_row_name(file, row, files, fmt)}: {', '.join(named)}")
        notes.append(f"{len(rows)} accepted row(s) {said}: {'; '.join(out)}{'; ...' if len(rows) > n else ''}")
    return notes + [note for column, name in zip(("user_id", "item_id"), ("users", "items"))
                    if (note := _case_note(accepted[column], name, n, (stored or {}).get(column)))]


def _case_note(ids: pl.Series, name: str, n: int, stored: pl.Series | None = None) -> str:
    """``2 user ids differ from another only in case ...``: the ids of ``ids`` (of ``name``, users or items) that
    another id equals but for case or Unicode form (NFKC: ``é`` as one character or as ``e`` and an accent), or, of
    digits alone, but for leading zeros (``159`` and ``000159``: a spreadsheet that read the column as numbers and
    saved it so), kept as given (an export that changed an id so splits a user in two), with the first ``n`` of
    them; beside ``stored`` (earlier loads' ids), those that equal one of them so (not two stored ids alike, named
    by their own load). Case counts where most ids hold both cases (keys whose case is theirs)."""
    own = ids.unique()
    earlier = pl.Series([], dtype=pl.String) if stored is None else stored.filter(~stored.is_in(own.implode()))
    distinct = pl.concat([own.to_frame("id").with_columns(new=True), earlier.rename("id").to_frame().with_columns(
        new=False)]).with_columns(key=pl.col("id").str.normalize("NFKC"))
    mixed = distinct["id"].str.contains("[a-z]") & distinct["id"].str.contains("[A-Z]")
    cased = mixed.sum() * 2 <= len(distinct)  # else ids in both cases by design (random base62 keys): case is theirs
    zeros = pl.col("key").str.strip_chars_start("0")
    distinct = distinct.with_columns(key=pl.when(pl.col("key").str.contains("^[0-9]+$"))
                                     .then(pl.when(zeros == "").then(pl.lit("0")).otherwise(zeros))
                                     .otherwise(pl.col("key").str.to_lowercase() if cased else pl.col("key")))
    groups = (distinct.group_by("key").agg(pl.col("id").sort_by("id"), pl.col("new").sort_by("id"))
              .filter((pl.col("id").list.len() > 1) & pl.col("new").list.any()).sort("key"))
    if not len(groups):
        return ""
    digits = groups["id"].list.first().str.contains("^[0-9]+$")
    if digits.any():
        form = "only in leading zeros" + ("" if digits.all() else " or in case or Unicode form")
        return (f"{int(groups['id'].list.len().sum())} {name[:-1]} ids differ from another {form}, kept as given "
                f"(each {'a user' if name == 'users' else 'an item'} of its own): " + _shown(groups, n)
                + "; maybe a spreadsheet read the id column as numbers and saved it so ('159' for '000159'): where "
                "an export changed them, write them alike (the column as text); codes that differ so by design "
                "(007 and 7) need nothing")
    one = {"users": "a user", "items": "an item"}[name]
    return (f"{int(groups['id'].list.len().sum())} {name[:-1]} ids differ from another only in case or Unicode "
            f"form, kept as given (each {one} of its own): {_shown(groups, n)}; where an "
            "export changed them, write them alike")


def _shown(groups: pl.DataFrame, n: int) -> str:
    """The first ``n`` of ``groups`` (ids alike, each list with ``new``: of this load), ``'a' (stored before) and
    'A'; ...``."""
    return "; ".join(" and ".join(f"{i!r}{'' if new else ' (stored before)'}" for i, new in zip(*group))
                     for group in groups.select("id", "new").head(n).rows()) + ("; ..." if len(groups) > n else "")


def decimal_comma_note(rejected: pl.DataFrame | None) -> str:
    """Where most ``bad_rating`` rows of ``rejected`` (None: none) hold a number with a decimal comma (``4,5``, as a
    spreadsheet of a German or French locale writes it): that it is no number here, and how to write it; else
    empty."""
    values = (rejected if rejected is not None else pl.DataFrame(schema={"reason": pl.String, "detail": pl.String})
              ).filter(pl.col("reason") == "bad_rating")["detail"].str.strip_suffix(CUT_SHORT).str.extract(
        r".*: (.*)$")  # after the last ": "
    commas = values.filter(values.str.contains(r"^[+-]?[0-9]+,[0-9]+$"))
    if not len(commas) or len(commas) * 2 < len(values):
        return ""
    return (f"{len(commas):,} of the {len(values):,} bad_rating rows hold a number with a decimal comma ({commas[0]}), "
            "which is no number here: write the ratings with a decimal point, or as a number column")


def write_rejected(rejected: pl.DataFrame | None, path: str | Path) -> str:
    """Write the rejected rows ``rejected`` (None: none) to the CSV file ``path``, every one with its file, row,
    reason, detail and fields (:data:`~elcrec_core.data.validation.REJECTED_COLUMNS`; a header alone where none);
    returns ``rejected rows: N written to PATH``. Raises OSError where it cannot be written."""
    rows = rejected.select(REJECTED_COLUMNS) if rejected is not None and len(rejected) else \
        pl.DataFrame(schema=dict.fromkeys(REJECTED_COLUMNS, pl.String))
    rows.write_csv(path)
    return f"rejected rows: {len(rows)} written to {path}"


def keep_refused_load(folder: Path, check: RowCheck, files: Sequence[str], failed: str) -> None:
    """Keep what a refused load read in ``folder`` (created), since the warehouse stores none of it:
    :data:`REFUSED_ROWS`, every rejected row (:data:`~elcrec_core.data.validation.REJECTED_COLUMNS`: file, row,
    reason, detail and the fields as read; a header alone where none), and :data:`REFUSED_COUNTS`, the load's files,
    counts (rows in = accepted + rejected), rejected rows by reason and ``failed``, the expectations it failed.
    Raises OSError where the folder cannot be written."""
    folder.mkdir(parents=True, exist_ok=True)
    write_rejected(check.rejected, folder / REFUSED_ROWS)
    counts = {"files": list(files), "rows_in": check.rows_in, "accepted": len(check.accepted),
              "rejected": len(check.rejected), "rejected_by_reason": dict(check.by_reason),
              "failed_expectations": failed}
    (folder / REFUSED_COUNTS).write_text(json.dumps(counts, indent=1) + "\n", encoding="utf-8")
