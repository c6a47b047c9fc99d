"""The Dagster code location of elcrec-pipeline (loaded by workspace.yaml), built when Dagster loads it: the
partitions' start date (``ELCREC_START_DATE``) and the schedule's time (``ELCREC_RETRAIN_CRON``) are read then,
not when this module is imported; a bad ``ELCREC_WAREHOUSE_LOCK_WAIT``, or an ``ELCREC_RUN_CONFIG`` that is no run
config of ``daily_retrain_job`` (a misspelt setting, a value out of bounds), stops the load."""

from __future__ import annotations

import dagster as dg

from assets import challengers, evaluation, ingestion, profiling, recommendations, sequences, serving, training
from assets.daily import configured_partitions
from elcrec_core.data.warehouse_file import lock_wait_seconds
from elcrec_pipeline.alerts import AlertWebhook, run_failure_alert
from elcrec_pipeline.jobs import RETRAIN_JOB, checked_run_config, ingestion_job, retrain_job
from elcrec_pipeline.resources import ComputeDevice, SourceFile, Storage
from elcrec_pipeline.schedules import retrain_schedule
from elcrec_pipeline.sensors import source_file_sensor

_modules = [ingestion, sequences, training, challengers, serving, evaluation, profiling, recommendations]


@dg.definitions
def defs() -> dg.Definitions:
    """Every asset of the daily partitions from ``ELCREC_START_DATE``, its checks, the jobs, the schedule, the
    sensors (the source files', the run-failure alert) and the resources."""
    partitions = configured_partitions()
    lock_wait_seconds()  # checked before a run starts: a bad value would fail each step that opens the warehouse
    definitions = dg.Definitions(
        assets=dg.map_asset_specs(lambda spec: spec.replace_attributes(partitions_def=partitions),
                                  dg.load_assets_from_modules(_modules)),
        asset_checks=dg.load_asset_checks_from_modules(_modules),
        jobs=[retrain_job(partitions), ingestion_job],
        schedules=[retrain_schedule()],
        sensors=[source_file_sensor, run_failure_alert],
        resources={"storage": Storage(), "device": ComputeDevice(), "source_file": SourceFile(),
                   "alert_webhook": AlertWebhook()},
    )
    # ELCREC_RUN_CONFIG, before the schedule's or the sensor's first tick (which check it again each time)
    checked_run_config(definitions.resolve_job_def(RETRAIN_JOB))
    return definitions
