"""``--source FILE``: read ``--data`` as the pipeline's source settings file (``ELCREC_SOURCE``) describes it, so
that a command sees a team's events as its daily runs do without the columns and reading settings typed again (a
trial's ``elcrec baselines`` needed them all as options: helper-165)."""

from __future__ import annotations

import argparse
import sys
from glob import escape, glob
from pathlib import Path
from typing import Any

import yaml

from elcrec_core.cli.settings_origin import SettingsOrigin
from elcrec_core.data.expectations import ExpectationConfig
from elcrec_core.data.files import SourceReadError
from elcrec_core.data.source_config import (delimited_refusal, delimited_settings, files_now, path_without_format,
                                             read_settings_file, resolve_files)
from elcrec_core.config.setting_names import did_you_mean
from elcrec_core.data.source_folders import metadata_among_events, missing_day_advice
from elcrec_core.data.time_zones import naive_utc, timezone_problem, zone_warning
from elcrec_core.data.timestamp_patterns import timestamp_format_problem
from elcrec_core.data.validation import RowRules

# the source settings that name the command line's data options: {setting: option's attribute}
_OPTIONS = {"user_column": "user_column", "item_column": "item_column", "timestamp_format": "timestamp_format",
            "timezone": "timezone",
            "delimiter": "delimiter", "rating_column": "rating_column", "min_rating": "min_rating",
            "max_rating": "max_rating", "min_timestamp": "min_timestamp", "max_timestamp": "max_timestamp",
            "event_type_column": "event_type_column"}
# the pipeline's bounds on a load's rejected rows: the command line reads a load all the same, and says so
_BOUNDS = ("max_rejected_share", "max_rejected_share_by_reason")
# read here in a form of their own (format, path, timestamp_column '', header, names, quote '', encoding, null_ids)
_READ = {"format", "path", "timestamp_column", "header", "names", "quote", "encoding", "null_ids", *_OPTIONS, *_BOUNDS}
# the pipeline's source settings that the command line has no use for (of a load, item metadata, the synthetic data)
_PIPELINE_OWN = {"max_line_bytes", "min_rows", "overwrite_day", "synthetic_users", "synthetic_items",
                 "synthetic_intents", "synthetic_seed", *(f"item_metadata_{name}" for name in (
                     "path", "item_column", "title_column", "categories_column", "categories_separator",
                     "category_flags", "category_names", "delimiter", "header", "names", "encoding", "quote"))}
# the pipeline's sequence settings (its run config's), which it refuses in a source settings file, and the command
# line's options for them (None: the pipeline's alone, its expectations and its pruning)
_SEQUENCE_SETTINGS = {"event_types": "--event-types", "dedupe": "--dedupe", "k_core": "--k-core",
                      "max_user_events": "--max-user-events", "min_length": None, "max_length": None, "keep_days": None}


def apply_source_file(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fill the data options of ``args`` that the command line left unset from the source settings file
    ``args.source`` (options given win), and ``args.data`` from its ``path`` (relative to the file's folder; a
    ``{date}`` path as a glob of every day's files, or folders) or ``format: synthetic``; without a source file or
    a path, the command's default ``--data`` (train: the synthetic data), else ``parser`` refuses the command. Says
    on stderr which of its settings the command line does not use (the pipeline's own, such as ``min_rows``), and
    a timezone likely not meant (EST: :func:`~elcrec_core.data.time_zones.zone_warning`);
    ``parser`` refuses a file that cannot be read, a setting the pipeline does not know (a misspelt one), a path
    without a format, a ``{date}`` path that names no file (with the pipeline's advice for a missing day), a
    setting of the wrong type and a quote character other than ``"`` (the command line has none other)."""
    if args.source is not None:  # the file read, named so in every message (helper-273: a relative name was not)
        args.source = str(Path(args.source).resolve())
    args.settings_origin = _origin(args)  # before the file's settings fill the options
    settings = _read(parser, Path(args.source)) if args.source is not None else {}
    given = {name: value for name, value in settings.items() if value is not None}
    for name in ("names", "null_ids"):
        if name in given and not (isinstance(given[name], list) and all(isinstance(v, str) for v in given[name])):
            parser.error(f"--source {args.source}: {name} is a list of texts, not {given[name]!r}")
    if refusal := path_without_format(given):
        parser.error(f"--source {args.source}: {refusal} (the pipeline refuses it too)")
    # escape: the library's alone (the pipeline and the command line have no such setting: refused as unknown below)
    delimited = delimited_settings({name: value for name, value in settings.items() if name != "escape"})
    if given.get("format") in ("jsonl", "parquet", "sequence", "synthetic") and delimited:
        parser.error(f"--source {args.source}: {delimited_refusal(delimited, given['format'])} (the pipeline "
                     "refuses them too)")  # named as settings, not as the options they stand for
    problem = ("timestamp_format" in given and timestamp_format_problem(given["timestamp_format"])) or (
        "timezone" in given and timezone_problem(given["timezone"]))
    if problem:
        parser.error(f"--source {args.source}: {problem} (the pipeline refuses it too)")
    if problem := _timestamp_formats_problem(args.timestamp_format):
        parser.error(problem)
    if given.get("quote") not in (None, "", '"'):
        parser.error(f"--source {args.source}: quote {given['quote']!r}: the command line reads '\"' or no quoting "
                     "(--no-quote) alone")
    taken = [setting for setting, attribute in _OPTIONS.items()
             if setting in given and getattr(args, attribute) is None]
    for setting in taken:  # YAML's dates, ids as numbers: the options' text
        patterns = setting == "timestamp_format" and isinstance(given[setting], list)  # checked above
        as_given = setting in ("min_rating", "max_rating") or patterns
        setattr(args, _OPTIONS[setting], given[setting] if as_given else str(given[setting]))
    if problem := _bounds_problem(args, taken):
        parser.error(f"--source {args.source}: {problem}")
    if warning := zone_warning(args.timezone, "timezone" if "timezone" in taken else "--timezone"):  # EST: valid
        print(f"--source {args.source}: {warning}" if "timezone" in taken else warning, file=sys.stderr)
    if args.format == "auto" and given.get("format") not in (None, "synthetic"):
        args.format = given["format"]
    if args.timestamp_column is None and "timestamp_column" in given:
        args.timestamp_column = given["timestamp_column"] or "none"  # '': a source without times
    if args.names is None and given.get("names"):
        args.names = ",".join(given["names"])
        args.header_names = args.header_names or given.get("header") is True  # header: true: they replace its names
    args.no_header = args.no_header or given.get("header") is False
    args.no_quote = args.no_quote or given.get("quote") == "" or "quote" in settings and settings["quote"] is None
    args.encoding = args.encoding or given.get("encoding")
    if bounds := {name: given[name] for name in _BOUNDS if name in given}:
        try:
            args.rejected_shares = ExpectationConfig(**bounds)
        except ValueError as err:
            parser.error(f"--source {args.source}: {err}")
    if args.null_ids is None and "null_ids" in given:
        args.null_ids = ",".join(given["null_ids"])
    if args.source is not None and args.data == args.data_default:  # not given (train's default: synthetic)
        args.data = _data_path(given)
        if args.data != "synthetic" and (advice := missing_day_advice(str(given["path"]))):
            try:
                resolve_files(args.data)
            except SourceReadError as exc:  # no day's file: the pipeline's advice for a day's (helper-274)
                parser.error(f"--source {args.source}: {exc}{advice}")
        if args.data != "synthetic" and (among := metadata_among_events(
                files_now(args.data), given.get("item_metadata_path"))):
            parser.error(f"--source {args.source}: {among} (the pipeline's load fails on it too)")
    if args.data is None:
        parser.error("the following arguments are required: --data (or --source, a source settings file)")
    if unknown := sorted(set(settings) - _READ - _PIPELINE_OWN):  # helper-187: a note alone, the pipeline refuses
        built = [f"{name} ({_SEQUENCE_SETTINGS[name] or 'none'})" for name in unknown if name in _SEQUENCE_SETTINGS]
        hint = did_you_mean(unknown, _READ | _PIPELINE_OWN, not_for=_SEQUENCE_SETTINGS)
        parser.error(f"--source {args.source}: unknown source setting(s) {unknown}{hint}, which the pipeline refuses "
                     "too"
                     + (f"; {', '.join(built)}: how the sequences are built, not what the source holds: the run config "
                        "of the pipeline (ops.interaction_sequences.config), and the command line's option named "
                        "beside each" if built else ""))
    if unused := sorted(set(settings) & _PIPELINE_OWN):
        print(f"--source {args.source}: the command line does not use {', '.join(unused)} (the pipeline's own "
              "settings)", file=sys.stderr)


def _origin(args: argparse.Namespace) -> SettingsOrigin:
    """Where the data options of ``args`` come from: the ``--source`` file (resolved), and the source settings whose
    options the command line gave (they win over the file's); options alone without a file."""
    if args.source is None:
        return SettingsOrigin()
    typed = {setting for setting in (*_OPTIONS, "timestamp_column", "names", "encoding", "null_ids")
             if getattr(args, _OPTIONS.get(setting, setting)) is not None}
    flags = {"format": args.format != "auto", "header": args.no_header or args.header_names, "quote": args.no_quote}
    return SettingsOrigin(Path(args.source), frozenset(typed | {name for name, on in flags.items() if on}))


_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")


def _timestamp_formats_problem(formats: list[str] | None) -> str | None:
    """Why the ``--timestamp-format`` values given (None: none) are no timestamp format: a value that is none,
    named with its place where the option was given more than once (``the second --timestamp-format = '%Q': no
    strptime pattern (...)``: helper-268's trial was told the value alone), else a list that holds a named format
    (iso8601 among patterns); None where they are one."""
    if not formats:
        return None
    for place, fmt in enumerate(formats):
        name = "--timestamp-format" if len(formats) == 1 else (
            f"the {_ORDINALS[place]} --timestamp-format" if place < len(_ORDINALS)
            else f"--timestamp-format number {place + 1}")
        if problem := timestamp_format_problem(fmt, name):
            return problem
    return timestamp_format_problem(formats, "--timestamp-format") if len(formats) > 1 else None


def _bounds_problem(args: argparse.Namespace, taken: list[str]) -> str | None:
    """Why the time window or the rating bounds of ``args`` cannot be, where the source settings file gave one of
    them (``taken``: the settings it gave): a time that is no ISO 8601 time, named as the file's setting, or a
    minimum above its maximum, naming the options that the command line gave beside them; None where they can be
    (helper-268's trial: a swapped window of the file was told of "the settings", not of the file)."""
    pairs = [pair for pair in (("min_timestamp", "max_timestamp"), ("min_rating", "max_rating"))
             if {*pair} & {*taken}]
    if not pairs:
        return None
    name = {setting: setting if setting in taken else "--" + setting.replace("_", "-") for pair in pairs
            for setting in pair}
    try:
        window = {setting: naive_utc(name[setting], getattr(args, setting), args.timezone)
                  for setting in ("min_timestamp", "max_timestamp") if setting in name}
        RowRules(**window, **{setting: getattr(args, setting) for setting in ("min_rating", "max_rating")
                              if setting in name})
    except ValueError as err:
        options = [option for option in name.values() if option.startswith("--")]
        return str(err) + (f" ({', '.join(options)}: the command line's)" if options else "")
    return None


_DAY_GLOB = "[0-9]" * 4 + "-" + "[0-9]" * 2 + "-" + "[0-9]" * 2  # a {date}: the partition's day, YYYY-MM-DD


def _data_path(settings: dict[str, Any]) -> str:
    """The ``path`` of the source settings (made absolute against the file's folder: :func:`read_settings_file`) as
    ``--data``: a ``{date}`` path as the glob of every day's (``logs/{date}.csv``: ``logs/<YYYY-MM-DD>.csv``, not
    ``logs/*.csv``, which took a catalogue ``artikel.csv`` beside them for a day: helper-251; a folder a day,
    ``days/{date}``: their files); ``synthetic`` for the synthetic source, or one without a path."""
    path = settings.get("path")
    if settings.get("format") == "synthetic" or not path:
        return "synthetic"
    pattern = str(path).replace("{date}", _DAY_GLOB)
    # its folders that exist are names, not patterns, as resolve_files reads them: a folder "data [v2]" matched
    # no day's folder, and the folders were read as files (helper-254)
    base = next((parent for parent in Path(pattern).parents if parent.is_dir()), Path("."))
    days = glob(str(Path(escape(str(base))) / Path(pattern).relative_to(base)))
    return pattern + "/*" if "{date}" in path and any(Path(f).is_dir() for f in days) else pattern


def _read(parser: argparse.ArgumentParser, path: Path) -> dict[str, Any]:
    """The mapping of settings in the YAML file ``path``; ``parser`` refuses a file that cannot be read."""
    try:
        return read_settings_file(path)
    except (OSError, yaml.YAMLError) as exc:
        parser.error(f"--source {path}: cannot read source settings: {exc}")
    except TypeError as held:
        parser.error(f"--source {path}: a source settings file holds a mapping of settings, not {held}")
