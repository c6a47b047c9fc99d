"""The Dagster code location of elcrec-pipeline (loaded by workspace.yaml)."""

from __future__ import annotations

import dagster as dg

from assets import challengers, evaluation, ingestion, profiling, recommendations, sequences, serving, training
from elcrec_pipeline.jobs import daily_retrain_job, daily_retrain_schedule, ingestion_job
from elcrec_pipeline.resources import ComputeDevice, SourceFile, Storage
from elcrec_pipeline.sensors import source_file_sensor

_modules = [ingestion, sequences, training, challengers, serving, evaluation, profiling, recommendations]

defs = dg.Definitions(
    assets=dg.load_assets_from_modules(_modules),
    asset_checks=dg.load_asset_checks_from_modules(_modules),
    jobs=[daily_retrain_job, ingestion_job],
    schedules=[daily_retrain_schedule],
    sensors=[source_file_sensor],
    resources={"storage": Storage(), "device": ComputeDevice(), "source_file": SourceFile()},
)
