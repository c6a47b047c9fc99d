"""The experiment's settings as ``elcrec train`` flags, generated from the schema
(:func:`elcrec_core.config.settings.settings_fields`): one flag per field, named as users type it (``--layers``,
``--batch-size``), typed as the field, with the field's choices and description. Values are checked by the schema
when the config is built (ValueError naming the field)."""

from __future__ import annotations

import argparse
from typing import Literal, get_args, get_origin

from elcrec_core.config.settings import SettingField, settings_fields


def add_settings_options(parser: argparse.ArgumentParser) -> None:
    """Add a flag for every setting a run may override to ``parser``; each defaults to None (not given: the
    preset's or the config file's value holds)."""
    group = parser.add_argument_group("settings", "each replaces the value of --preset or --config "
                                                  "(the defaults: elcrec_core/config/settings.py, the paper's)")
    for setting in settings_fields():
        group.add_argument("--" + setting.option.replace("_", "-"), dest=setting.option, default=None,
                           help=_help(setting), **_kind(setting.annotation))


def _kind(annotation: object) -> dict:
    """argparse's type, choices, nargs or action for a field's type."""
    if get_origin(annotation) is Literal:
        return {"choices": list(get_args(annotation))}
    if annotation is bool:
        return {"action": argparse.BooleanOptionalAction}
    if get_origin(annotation) is tuple:
        return {"type": get_args(annotation)[0], "nargs": len(get_args(annotation)), "metavar": "X"}
    return {"type": annotation}


def _help(setting: SettingField) -> str:
    default = " ".join(map(str, setting.default)) if isinstance(setting.default, tuple) else setting.default
    return f"{setting.description} (default: {default})".replace("%", "%%")
