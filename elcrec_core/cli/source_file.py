"""``--source FILE``: read ``--data`` as the pipeline's source settings file (``ELCREC_SOURCE``) describes it, so
that a command sees a team's events as its daily runs do without the columns and reading settings typed again (a
trial's ``elcrec baselines`` needed them all as options: helper-165)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

# the source settings that name the command line's data options: {setting: option's attribute}
_OPTIONS = {"user_column": "user_column", "item_column": "item_column", "timestamp_format": "timestamp_format",
            "delimiter": "delimiter", "rating_column": "rating_column", "min_rating": "min_rating",
            "max_rating": "max_rating", "min_timestamp": "min_timestamp", "max_timestamp": "max_timestamp",
            "event_type_column": "event_type_column"}
# read here in a form of their own (format, path, timestamp_column '', header, names, quote '', encoding, null_ids)
_READ = {"format", "path", "timestamp_column", "header", "names", "quote", "encoding", "null_ids", *_OPTIONS}


def apply_source_file(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fill the data options of ``args`` that the command line left unset from the source settings file
    ``args.source`` (options given win), and ``args.data`` from its ``path`` (relative to the file's folder; a
    ``{date}`` path as a glob of every day's files) or ``format: synthetic``. Says on stderr which of its settings
    the command line does not use (the pipeline's own, such as ``min_rows``; a misspelt one too). Without a source
    file, a command without ``--data`` is refused by ``parser``; a file that cannot be read is refused naming it."""
    if args.source is None:
        if args.data is None:
            parser.error("the following arguments are required: --data (or --source, a source settings file)")
        return
    settings = _read(parser, Path(args.source))
    for setting, attribute in _OPTIONS.items():
        if settings.get(setting) is not None and getattr(args, attribute) is None:
            setattr(args, attribute, settings[setting])
    if args.format == "auto" and settings.get("format") not in (None, "synthetic"):
        args.format = settings["format"]
    if args.timestamp_column is None and settings.get("timestamp_column") is not None:
        args.timestamp_column = settings["timestamp_column"] or "none"  # '': a source without times
    if args.names is None and settings.get("names"):
        args.names = ",".join(settings["names"])
    args.no_header = args.no_header or settings.get("header") is False
    args.no_quote = args.no_quote or settings.get("quote") in ("", None) and "quote" in settings
    args.encoding = args.encoding or settings.get("encoding")
    if args.null_ids is None and settings.get("null_ids") is not None:
        args.null_ids = ",".join(settings["null_ids"])
    if args.data is None:
        path = settings.get("path")
        if settings.get("format") == "synthetic" or not path:
            args.data = "synthetic"
        else:
            args.data = str(Path(args.source).parent / path).replace("{date}", "*")
    if unused := sorted(set(settings) - _READ):
        print(f"--source {args.source}: the command line does not use {', '.join(unused)} (the pipeline's own "
              "settings, or a misspelt one)", file=sys.stderr)


def _read(parser: argparse.ArgumentParser, path: Path) -> dict[str, Any]:
    """The mapping of settings in the YAML file ``path``; ``parser`` refuses a file that cannot be read."""
    try:
        settings = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        parser.error(f"--source {path}: cannot read source settings: {exc}")
    if not isinstance(settings, dict):
        parser.error(f"--source {path}: a source settings file holds a mapping of settings, not "
                     f"{type(settings).__name__}")
    return settings
