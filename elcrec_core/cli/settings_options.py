"""The experiment's settings as ``elcrec train`` (and ``baselines``' SASRec) flags, generated from the schema
(:func:`elcrec_core.config.settings.settings_fields`): one flag per field, named as users type it (``--layers``,
``--batch-size``), typed as the field, with the field's choices and description. Values are checked by the schema
when the config is built (ValueError naming the field)."""

from __future__ import annotations

import argparse
from typing import Literal, get_args, get_origin

from elcrec_core.config.settings import SettingField, load_preset, preset_names, settings_fields
from elcrec_core.train.auto_preset import AUTO, BASE_PRESET, MODEL_FIELDS, TRAIN_FIELDS


def add_settings_options(parser: argparse.ArgumentParser, preset_help: str) -> None:
    """Add to ``parser`` ``--preset`` (``preset_help``: its help) or ``--config`` (a settings file, such as a run's
    config.json), and a flag for every setting a run may override; each defaults to None (not given: the preset's
    or the config file's value holds). The help gives the value of preset auto (the default: ``general`` with some
    settings derived from the data) and the reference code's where it differs. ``elcrec train`` and ``baselines``
    (its SASRec) take the same (helper-280: baselines refused ``--hidden``)."""
    base = parser.add_mutually_exclusive_group()
    base.add_argument("--preset", choices=[*preset_names(), AUTO], default=AUTO, help=preset_help)
    base.add_argument("--config", help="settings from a JSON file, such as a model folder's config.json")
    group = parser.add_argument_group("settings", "each replaces the value of --preset or --config; the default "
                                                  "is preset auto's, beside the reference code's where it differs "
                                                  "(elcrec_core/config/settings.py, the paper's defaults)")
    base = load_preset(BASE_PRESET).to_dict()
    for setting in settings_fields():
        if setting.name in (MODEL_FIELDS if setting.section == "model" else TRAIN_FIELDS):
            default = "derived from the data"
        else:
            default = _shown(base[setting.section].get(setting.name, setting.default))
        group.add_argument("--" + setting.option.replace("_", "-"), dest=setting.option, default=None,
                           help=_help(setting, default), **_kind(setting.annotation))


def _kind(annotation: object) -> dict:
    """argparse's type, choices, nargs or action for a field's type."""
    if get_origin(annotation) is Literal:
        return {"choices": list(get_args(annotation))}
    if annotation is bool:
        return {"action": argparse.BooleanOptionalAction}
    if get_origin(annotation) is tuple:
        return {"type": get_args(annotation)[0], "nargs": len(get_args(annotation)), "metavar": "X"}
    return {"type": annotation}


def _shown(value: object) -> str:
    return " ".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)


def _help(setting: SettingField, default: str) -> str:
    """The flag's help: its description, preset auto's ``default`` and the reference's value where it differs."""
    reference = _shown(setting.default)
    shown = default if default == reference else f"{default}; reference: {reference}"
    return f"{setting.description} (default: {shown})".replace("%", "%%")
