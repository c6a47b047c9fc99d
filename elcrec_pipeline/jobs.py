"""Jobs, and the run config and time that the daily schedule and the sensor give their runs."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from assets.ingestion import raw_interactions, rejected_interactions
from elcrec_pipeline.run_config_check import run_config_problems

RETRAIN_CRON_ENV = "ELCREC_RETRAIN_CRON"
RUN_CONFIG_ENV = "ELCREC_RUN_CONFIG"
RUN_CONFIG_SECTIONS = frozenset({"ops", "resources", "execution", "loggers"})

RETRAIN_JOB = "daily_retrain_job"


def retrain_job(partitions: dg.DailyPartitionsDefinition) -> dg.UnresolvedAssetJobDefinition:
    """The job that runs every asset for a day of ``partitions``. A run made for a day by Dagster (a job backfill,
    ``dagster job backfill``, the launchpad) starts from the run config of ``ELCREC_RUN_CONFIG``
    (:func:`run_config_file`, read then), as the schedule's and the sensor's runs do; ``dagster job execute`` takes
    it with ``-c``."""
    # One process per run: the stages are sequential and share the warehouse, so separate step processes only add
    # start-up time (about 5 s instead of 12 s for a small job).
    return dg.define_asset_job(
        RETRAIN_JOB,
        selection=dg.AssetSelection.all(),
        executor_def=dg.in_process_executor,
        config=dg.PartitionedConfig(partitions, run_config_for_partition_key_fn=lambda _day: run_config_file()),
        description="Ingest the day, rebuild sequences, retrain (warm start), fit the challengers, choose the "
                    f"serving model, evaluate, profile intents, recommend; with the run config of {RUN_CONFIG_ENV} "
                    "where set.",
    )

ingestion_job = dg.define_asset_job(
    "ingestion_job",
    selection=dg.AssetSelection.assets(raw_interactions, rejected_interactions),
    executor_def=dg.in_process_executor,
    description="Ingestion only, for backfills of past days.",
)


def retrain_time(cron: str) -> tuple[int, int]:
    """(minute, hour) of a daily cron expression ``M H * * *``: a daily partitioned job ticks once a day. Raises
    ValueError naming ``ELCREC_RETRAIN_CRON`` for another form or a time that does not exist."""
    fields = cron.split()
    if (len(fields) != 5 or fields[2:] != ["*", "*", "*"] or not (fields[0].isdigit() and fields[1].isdigit())
            or int(fields[0]) > 59 or int(fields[1]) > 23):
        raise ValueError(f"{RETRAIN_CRON_ENV}={cron!r}: expected a daily cron 'M H * * *' (minute 0-59, hour "
                         "0-23), e.g. '0 2 * * *'")
    return int(fields[0]), int(fields[1])


def run_config_file() -> dict[str, Any]:
    """The run config that the schedule and the sensor give each run they start: the YAML file that
    ``ELCREC_RUN_CONFIG`` names (as ``dagster job execute -c`` reads it: ``ops``, ``resources``), read at each tick
    so that an edit applies to the next run; ``{}`` where the variable is not set. Raises ValueError naming the
    variable and the file when it is missing, not YAML, or not a mapping of those sections, or when the path is
    relative (the daemon and the webserver resolve it against folders of their own)."""
    name = dg.EnvVar(RUN_CONFIG_ENV).get_value()
    if not name:
        return {}
    if not Path(name).expanduser().is_absolute():
        raise ValueError(f"{RUN_CONFIG_ENV}={name!r}: give an absolute path, such as {Path(name).resolve()} (the "
                         "daemon and the webserver read it from folders of their own)")
    file = Path(name).expanduser()
    try:
        config = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"{RUN_CONFIG_ENV}={name!r}: cannot read run config {file}: {err}") from None
    if not isinstance(config, dict) or not set(config) <= RUN_CONFIG_SECTIONS:
        raise ValueError(f"{RUN_CONFIG_ENV}={name!r}: {file} must hold a run config, a mapping of "
                         f"{sorted(RUN_CONFIG_SECTIONS)}")
    return config


def checked_run_config(job: dg.JobDefinition) -> dict[str, Any]:
    """The run config of ``ELCREC_RUN_CONFIG`` (:func:`run_config_file`), checked for ``job``: Dagster's check of the
    names and types (``epoch`` for ``epochs`` failed each run that the schedule or the sensor started) and
    :func:`run_config_problems` but the devices (the runs may go to other machines: their first step checks them).
    Raises ValueError naming the variable and each problem: when the code location loads, and at each tick of the
    schedule and the sensor (the file may change while they run)."""
    config = run_config_file()
    if not config:
        return config
    try:
        resolved = dg.validate_run_config(job, config)  # with the values of {env: NAME}
    except dg.DagsterInvalidConfigError as err:  # an {env: NAME} not set here too: its message without the trace
        problems = [_without_schema(" ".join(error.message.split("\n\nStack Trace")[0].split()))
                    for error in err.errors]
        # and the bounds of the other values at once (a misspelt name hid top_k: 0 until it was mended: helper-191),
        # but those of a value that Dagster named (not the mapping that holds a misspelt name: helper-195)
        named = {found[1] for error in err.errors if error.reason.value not in _ENTRY_ERRORS
                 and (found := re.search(r"at path (root(?::[\w\[\]]+)*)", error.message))}
        problems += [problem for problem in run_config_problems(config, devices=False)
                     if f"root:{problem.split(':')[0].replace('.', ':')}" not in named]
    else:
        problems = run_config_problems(resolved, devices=False)  # runs may go to machines with other devices
    if problems:
        raise ValueError(f"{RUN_CONFIG_ENV}={dg.EnvVar(RUN_CONFIG_ENV).get_value()!r}: its run config does not fit "
                         f"{job.name}: {'; '.join(problems)}")
    return config


# Dagster's errors of a mapping's entries (a name misspelt or missing), at the path of the mapping, not of a value
_ENTRY_ERRORS = {"FIELD_NOT_DEFINED", "FIELDS_NOT_DEFINED", "MISSING_REQUIRED_FIELD", "MISSING_REQUIRED_FIELDS",
                 "FIELD_ALIAS_COLLISION"}


def _without_schema(message: str) -> str:
    """Dagster's message of an unexpected config entry without the whole schema it lists (2 KB for
    ``elcrec_model``): the entry, its path, and the known name closest to it."""
    found = re.fullmatch(r'(Received unexpected config entry "([^"]*)" at path [^.]*)\. Expected: "(.*)"\.?', message)
    if found is None:  # another message with the schema (a config that is no mapping): without it
        return re.sub(r'\. Expected: ".*"\.?$', "", message)
    names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\?:", found[3])
    close = difflib.get_close_matches(found[2], names, n=1)
    return f"{found[1]}: did you mean {close[0]!r}?" if close else f"{found[1]}; known: {', '.join(names)}"
