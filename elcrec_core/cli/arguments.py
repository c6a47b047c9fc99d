"""From the command line's parsed arguments to what the commands use: the data (read as the pipeline reads it) and
the experiment's settings (a preset, a config file and the flags); the data options every command shares."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from elcrec_core.cli.data_loading import LoadedData, load
from elcrec_core.cli.data_options import FORMAT_CHOICES, DataOptions
from elcrec_core.cli.settings_origin import SettingsOrigin
from elcrec_core.config.settings import (
    ExperimentConfig,
    TrainConfig,
    load_preset,
    merge_overrides,
    overrides,
    preset_names,
)
from elcrec_core.data.rejections import write_rejected
from elcrec_core.data.sequences import Sequences
from elcrec_core.data.text_encoding import encoding_problem
from elcrec_core.data.time_zones import timezone_problem
from elcrec_core.data.timestamp_patterns import FORMATS_TEXT, timestamp_format_value
from elcrec_core.train.auto_preset import AUTO, BASE_PRESET, preset_experiment

TRAIN_FIELDS = {field.name for field in dataclasses.fields(TrainConfig)}


def _encoding(name: str) -> str:
    """``name`` where Python knows it as a codec; else argparse's error, before any file is read (helper-195)."""
    if problem := encoding_problem(name):  # rot13 too, a codec but no text encoding (helper-202)
        raise argparse.ArgumentTypeError(f"{problem} (a Python codec: utf-8, latin-1, cp1252, utf-16, ...)")
    return name


def _timezone(zone: str) -> str:
    """``zone`` where it is an IANA time zone name; else argparse's error, naming a close name."""
    if problem := timezone_problem(zone, "--timezone"):
        raise argparse.ArgumentTypeError(problem)
    return zone


def load_data_with_ids(path: str, fmt: str | None = None, seed: int = 0) -> tuple[Sequences, np.ndarray | None]:
    """Sequences from ``path`` (see :func:`elcrec_core.cli.data_loading.load`; ``fmt`` None guesses it) and the item id
    of each index (``ids[i - 1]``), or None where the integer ids of a sequence file are the indices."""
    data = load(path, DataOptions(format=fmt, seed=seed))
    return data.sequences, data.item_ids


def data_options(args: argparse.Namespace, seed: int = 0) -> DataOptions:
    return DataOptions(
        format=args.format, user_column=args.user_column, item_column=args.item_column,
        timestamp_column=args.timestamp_column, delimiter=args.delimiter,
        timestamp_format=timestamp_format_value(args.timestamp_format),  # given more than once: a list
        timezone=args.timezone,
        header=not args.no_header, names=tuple(args.names.split(",")) if args.names else None,
        header_names=args.header_names,
        quote=None if args.no_quote else '"', encoding=args.encoding or "utf-8",
        rating_column=args.rating_column, min_rating=args.min_rating, max_rating=args.max_rating,
        min_timestamp=args.min_timestamp, max_timestamp=args.max_timestamp,
        null_ids=None if args.null_ids is None else tuple(t for t in args.null_ids.split(",") if t),
        event_type_column=args.event_type_column,
        event_types=tuple(args.event_types.split(",")) if args.event_types is not None else None,
        sequence_min_rating=args.sequence_min_rating, dedupe=args.dedupe, k_core=args.k_core,
        max_user_events=args.max_user_events, seed=seed, rejected_shares=getattr(args, "rejected_shares", None),
        rejected_out=getattr(args, "rejected_out", None),
        origin=getattr(args, "settings_origin", SettingsOrigin()),  # set by apply_source_file
    )


def load_data(args: argparse.Namespace, seed: int = 0, report: bool = True) -> LoadedData:
    """``--data`` read with the data options; what was read, and the rejected rows, go to stderr. Raises ValueError
    before reading where ``--rejected-out`` names a folder, or a file in a folder that does not exist."""
    if (out := getattr(args, "rejected_out", None)) is not None:
        if not out or out.endswith(("/", "\\")) or Path(out).is_dir():
            raise ValueError(f"--rejected-out {out!r} is no file: give a file, such as {Path(out) / 'rejected.csv'}")
        if not Path(out).resolve().parent.is_dir():
            raise ValueError(f"--rejected-out {out}: {Path(out).resolve().parent} is no folder")
    data = load(args.data, data_options(args, seed))
    if report:
        for line in data.describe():
            print(line, file=sys.stderr, flush=True)
    if getattr(args, "rejected_out", None):
        print(write_rejected(data.rejected, args.rejected_out), file=sys.stderr, flush=True)
    return data


def build_config(args: argparse.Namespace, seqs: Sequences | None = None) -> ExperimentConfig:
    """The settings of ``--config`` or ``--preset`` with the options given over them. Preset ``auto`` derives
    its settings from ``seqs``; before the data is read (None) it is its base preset, whose seed and device
    are auto's."""
    model, train = overrides(vars(args))
    if args.config:
        try:
            config = json.loads(Path(args.config).read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"--config {args.config} is not JSON: {err}") from None
        exp = ExperimentConfig.from_dict(config)
        if missing := _left_to_defaults(exp, config):
            left = f"{', '.join(missing[:4])}{', ...' if len(missing) > 4 else ''}"
            if exp.preset not in (AUTO, *preset_names()):
                raise ValueError(f"--config {args.config}: its preset {exp.preset!r} is none of "
                                 f"{sorted([AUTO, *preset_names()])}, and it leaves out settings ({left}) that would "
                                 "take the schema's defaults: give every setting (a model folder's config.json has "
                                 "them), or --preset with the settings as options")
            raise ValueError(f"--config {args.config}: its preset {exp.preset!r} is a record of where the settings "
                             f"started, not applied, and it leaves out settings ({left}) that would take the "
                             f"schema's defaults: give --preset {exp.preset} with the settings as options, or every "
                             "setting the preset makes (a model folder's config.json has them)")
        return merge_overrides(exp, model, train)
    preset = BASE_PRESET if args.preset == AUTO and seqs is None else args.preset
    return preset_experiment(preset, seqs, model, train, log=lambda line: print(line, file=sys.stderr, flush=True))


def _left_to_defaults(exp: ExperimentConfig, raw: dict) -> list[str]:
    """The settings that a settings file naming a preset leaves to the schema's defaults, which differ from the
    preset's: every train setting the file lacks, and the model settings of the preset (of auto: of its base) that
    its model section lacks; of a preset not known (misspelt, or one of an older release), the train settings it
    lacks. None where it names no preset."""
    name = BASE_PRESET if exp.preset == AUTO else exp.preset
    if not exp.preset:
        return []
    train = [f"train.{key}" for key in sorted(TRAIN_FIELDS - set(raw.get("train", {})))]
    if name not in preset_names():
        return train
    return train + [f"model.{key}" for key in sorted(set(load_preset(name).model) - set(exp.model))]


def add_data_options(p: argparse.ArgumentParser, data_help: str, default: str | None = None) -> None:
    g = p.add_argument_group("data", "--data is read as the pipeline reads it: its readers and row rules (the "
                                     "counts go to stderr), events ordered by time, ids as text")
    g.add_argument("--data", default=default, help=data_help + (
        " (default: the --source file's path)" if default is None else f" (default: the --source file's path, else "
                                                                       f"{default})"))
    # data_default: taken where no --source gives a path (train: the synthetic data); data_parser: the command's
    # own parser, which refuses a --source file's or the data options' bad values with its usage (helper-268)
    p.set_defaults(data_default=default, data_parser=p)
    g.add_argument("--source", metavar="YAML", help="the pipeline's source settings file (ELCREC_SOURCE): its format, "
                                                    "columns, reading settings and row rules for the options not "
                                                    "given, and its path for --data (a {date} path: every day's "
                                                    "files)")
    g.add_argument("--format", choices=FORMAT_CHOICES, default="auto",
                   help="auto (default: from the name or the first line); sequence: the benchmark lines 'user "
                        "item item ...'; csv, tsv, jsonl: events; parquet: events, or the pipeline's "
                        "sequences.parquet (columns user_id, items); sequences and events: earlier names "
                        "(events: csv, tsv, jsonl or parquet by the name)")
    g.add_argument("--user-column", help="column of the user id (default user_id)")
    g.add_argument("--item-column", help="column of the item id (default item_id)")
    g.add_argument("--timestamp-column", help="column of the time (default timestamp; none: no times, events "
                                              "keep the file's order)")
    g.add_argument("--timestamp-format", metavar="FORMAT", action="append",  # checked by apply_source_file
                   help=f"{FORMATS_TEXT.replace('%', '%%')} (a German Excel export's 07.12.2026 14:03); given again, "
                        "patterns for times of several forms, each time read by the first that reads it whole "
                        "(--timestamp-format '%%m/%%d/%%Y %%I:%%M:%%S %%p' --timestamp-format '%%m/%%d/%%Y'); "
                        "default: detected from the first rows")
    g.add_argument("--timezone", type=_timezone, metavar="ZONE",
                   help="IANA zone of times written without a UTC offset (a till's local times: America/New_York), "
                        "stored as UTC, as the source settings' timezone; times with an offset and epoch numbers "
                        "are not moved (default: UTC)")
    g.add_argument("--delimiter", help="field delimiter of csv/tsv (one character; \\t or tab for a tab)")
    g.add_argument("--no-header", action="store_true", help="the first line is data (columns column0, column1, "
                                                            "... unless --names)")
    g.add_argument("--names", help="comma-separated column names of a file without a header (implies --no-header)")
    g.add_argument("--header-names", action="store_true", help="with --names: the first line is a header, whose "
                                                               "names they replace (the source settings' header: true "
                                                               "with names)")
    g.add_argument("--no-quote", action="store_true", help="csv/tsv without quoting: a quote character is data "
                                                           "(for a file whose stray quotes open fields)")
    g.add_argument("--encoding", type=_encoding, help="of a text file (default utf-8; latin-1, cp1252, ...: any "
                                                       "Python codec), as the source settings' encoding")
    g.add_argument("--rating-column", help="column of a rating (default: none read); a row whose rating is not a "
                                           "number is rejected as bad_rating")
    g.add_argument("--min-rating", type=float, help="reject rows rated below this as rating_out_of_range (needs "
                                                    "--rating-column; a row without a rating is kept), as the "
                                                    "source settings' min_rating")
    g.add_argument("--max-rating", type=float, help="reject rows rated above this as rating_out_of_range (needs "
                                                    "--rating-column), as the source settings' max_rating")
    g.add_argument("--min-timestamp", metavar="ISO", help="reject rows before this time (ISO 8601; without an "
                                                          "offset, of --timezone, else UTC) as "
                                                          "timestamp_out_of_window, as the source settings' "
                                                          "min_timestamp")
    g.add_argument("--max-timestamp", metavar="ISO", help="reject rows after this time as timestamp_out_of_window, "
                                                          "as the source settings' max_timestamp")
    g.add_argument("--null-ids", metavar="TEXTS", help="comma-separated texts that mean no id (default: NULL, "
                                                       "null, None, NaN, NA, N/A, ..., as the source settings' "
                                                       "null_ids; '' for none: an item named NA or - is an id)")
    g.add_argument("--event-type-column", help="column of the event type (view, purchase, ...; default: none "
                                               "read), as the source settings' event_type_column")
    g.add_argument("--event-types", help="comma-separated event types modelled (compared without case and outer "
                                         "spaces; needs --event-type-column; default: every event), as the sequence "
                                         "settings' event_types: the others stay out of the sequences, and of a "
                                         "user's history in recommend")
    g.add_argument("--sequence-min-rating", type=float, metavar="R",
                   help="leave events rated below R, or without a rating, out of the sequences, as the sequence "
                        "settings' min_rating (needs --rating-column; unlike --min-rating, no row is rejected: in "
                        "recommend their items stay out of the list)")
    g.add_argument("--dedupe", action="store_true", help="keep each user's first event of an item only, as the "
                                                         "sequence settings' dedupe")
    g.add_argument("--k-core", type=int, default=0, help="keep only users and items with at least K events, "
                                                         "as the pipeline can (default 0: off)")
    g.add_argument("--max-user-events", type=int, metavar="N", help="leave out users with more than N events (bots, "
                                                                     "shared accounts), as the sequence settings' "
                                                                     "max_user_events")
    g.add_argument("--rejected-out", metavar="CSV", help="write every rejected row to this CSV file: its file, row, "
                                                         "reason and detail, and its fields as read (stderr shows "
                                                         "the first 3)")
