"""How the settings of two sequence builds differ: a day's sequences against those of the day before them, which a
run without its run config (a backfill, the sensor's or the schedule's runs) silently builds with the defaults."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from elcrec_core.data.event_selection import type_keys
from elcrec_core.data.events_to_sequences import SequenceConfig


def event_type_set(event_types: tuple[str, ...] | None) -> list[str | None] | None:
    """``event_types`` as the filters compare them (:func:`type_keys`: without case and outer space), sorted and
    without repeats; None (every type) stays None."""
    return None if event_types is None else sorted(set(type_keys(list(event_types))), key=str)


def types_text(event_types: tuple[str, ...] | None) -> str:
    """``'play', ' Purchase'``: each of ``event_types`` quoted as given (unquoted, ``" Purchase"`` showed as a double
    space: helper-225); ``every type`` for None."""
    return "every type" if event_types is None else ", ".join(repr(kind) for kind in event_types)


def comparable_settings(config: SequenceConfig) -> dict[str, Any]:
    """``config``'s settings as plain data, its event types as the filters compare them (:func:`event_type_set`):
    equal for two builds that select the same events, to digest (a model's ``sequence_settings``). A
    ``max_user_events`` of None is left out: the settings of the builds before it existed digest as they did."""
    settings = {**asdict(config), "event_types": event_type_set(config.event_types),
                "min_rating": None if config.min_rating is None else float(config.min_rating)}  # 4 is 4.0
    return {name: value for name, value in settings.items() if name != "max_user_events" or value is not None}


def setting_changes(before: SequenceConfig, now: SequenceConfig) -> list[str]:
    """One ``<setting> <before's value> then, <now's> now`` for each setting that ``now`` has otherwise than
    ``before`` (event types compared as :func:`event_type_set`), in the order of :class:`SequenceConfig`; empty where
    they agree. E.g. ``event_types 'play', 'like' then, every type now`` (:func:`types_text`)."""
    def shown(config: SequenceConfig, name: str) -> str:
        value = getattr(config, name)
        if name == "event_types":
            return types_text(value)
        return "none" if value is None else str(value).lower() if isinstance(value, bool) else f"{value:g}"

    differ = [name for name in ("min_rating", "event_types", "dedupe", "k_core", "max_user_events")
              if (event_type_set(before.event_types) != event_type_set(now.event_types) if name == "event_types"
                  else getattr(before, name) != getattr(now, name))]
    return [f"{name} {shown(before, name)} then, {shown(now, name)} now" for name in differ]
