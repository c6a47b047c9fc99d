"""A run's whole run config checked before its first steps (the day's load, sequences and training): each
stage's settings are otherwise checked only when that stage starts, after hours of training for the last ones."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import dagster as dg
from pydantic import ValidationError

from elcrec_core.train.device import select_device
from elcrec_pipeline.config import (
    ChallengerSettings,
    EvaluationSettings,
    ProfileSettings,
    PromotionSettings,
    RecommendationSettings,
    SequenceSettings,
    SourceSettings,
    TrainingSettings,
)
from elcrec_pipeline.resources import ComputeDevice

# each asset's run config class (tests/pipeline/test_run_config_check.py checks it against the assets), and the
# resources whose settings have bounds
OP_SETTINGS: dict[str, type[dg.Config]] = {
    "raw_interactions": SourceSettings, "interaction_sequences": SequenceSettings, "elcrec_model": TrainingSettings,
    "challengers": ChallengerSettings, "serving_model": PromotionSettings, "evaluation_report": EvaluationSettings,
    "intent_profiles": ProfileSettings, "user_recommendations": RecommendationSettings}
RESOURCE_SETTINGS: dict[str, type[dg.ConfigurableResource]] = {"device": ComputeDevice}


def run_config_problems(run_config: Mapping[str, Any], devices: bool = True) -> list[str]:
    """Every wrong value of ``run_config`` (``ops``, ``resources``: as ``dagster job execute -c`` reads it) that
    Dagster's own check of its types and choices lets through: each stage's bounds (``top_k: 0``, ``tolerance:
    -1``, the source settings' that the run config sets), the training settings over their preset (``epochs: -3``,
    a preset that does not exist) and, with ``devices``, a device that this machine lacks (not where the code
    location loads: its runs may go to other machines). One entry per problem, as
    ``ops.serving_model.config.tolerance: Input should be greater than or equal to 0 (given -1)``; empty where there
    is none. A value read from an environment variable (``{"env": NAME}``) is checked with this process's value of
    it (left out where it is not set: Dagster names it)."""
    problems = [f"ops.{name}.config: {name} takes no settings (given {_given(given['config'])}): those of the load "
                "go under ops.raw_interactions.config"
                for name, given in _mapping(_mapping(run_config).get("ops")).items()  # Dagster lets any value through
                if name not in OP_SETTINGS and isinstance(given, Mapping) and given.get("config")]
    for section, classes in (("ops", OP_SETTINGS), ("resources", RESOURCE_SETTINGS)):
        for name, kind in classes.items():
            given = _mapping(_mapping(_mapping(run_config).get(section)).get(name)).get("config")
            if not isinstance(given, Mapping):  # none, or a value of the wrong type: Dagster's check names it
                given = {}  # (config: 5 raised AttributeError here, helper-198)
            values = {key: _from_environment(value) for key, value in given.items()}
            where = f"{section}.{name}.config"
            try:
                settings = kind(**{key: value for key, value in values.items() if value is not _UNSET})
            except ValidationError as err:
                problems += [f"{where}.{'.'.join(map(str, e['loc']))}: {e['msg']} (given {e['input']!r})"
                             for e in err.errors()]
                continue
            problems += [f"{where}: {problem}" for problem in _own_problems(settings, devices)]
    return problems


def _mapping(value: Any) -> Mapping[str, Any]:
    """``value`` where it is a mapping, else empty (a section or an op given as another type: Dagster names it)."""
    return value if isinstance(value, Mapping) else {}


def _given(config: Any) -> str:
    """The names of the settings of ``config``, or the value itself where it is no mapping (Dagster takes any)."""
    return ", ".join(map(str, config)) if isinstance(config, Mapping) else repr(config)


_UNSET = object()  # an {"env": NAME} value whose variable is not set here


def _from_environment(value: Any) -> Any:
    """A run config value, with ``{"env": NAME}`` read from this process's environment (:data:`_UNSET` where the
    variable is not set)."""
    if isinstance(value, Mapping) and set(value) == {"env"}:
        return os.environ.get(str(value["env"]), _UNSET)
    return value


def _own_problems(settings: Any, devices: bool) -> list[str]:
    """What the settings' own checks refuse: the source settings' bounds, the training settings over their preset,
    and with ``devices`` the training settings' and the device resource's device."""
    if isinstance(settings, SourceSettings):
        return settings.value_problems()
    names = [settings.device] if isinstance(settings, ComputeDevice) else []
    try:
        if isinstance(settings, TrainingSettings):
            settings.checked()
            names = [settings.device] if settings.device else []
        for name in names if devices else []:
            select_device(name)
    except ValueError as err:
        return [str(err)]
    return []


def refuse_bad_run_config(context: dg.AssetExecutionContext) -> None:
    """Fail the step at once, without retries, naming every problem of the run's run config
    (:func:`run_config_problems`): called by the first steps of a run, before anything is loaded or trained. An
    asset invoked directly (a test's ``build_asset_context``) has no run config: its settings were given as
    objects."""
    try:
        run_config = context.run.run_config
    except dg.DagsterError:  # invoked directly: no run
        return
    if problems := run_config_problems(run_config):
        raise dg.Failure(f"the run config of run {context.run.run_id} has wrong values, so nothing was run: "
                         f"{'; '.join(problems)}", allow_retries=False)
