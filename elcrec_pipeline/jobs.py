"""Jobs and the daily retraining schedule."""

from __future__ import annotations

import dagster as dg

from assets.ingestion import raw_interactions, rejected_interactions

RETRAIN_CRON_ENV = "ELCREC_RETRAIN_CRON"

# One process per run: the stages are sequential and share the warehouse, so separate step processes only add
# start-up time (about 5 s instead of 12 s for a small job).
daily_retrain_job = dg.define_asset_job(
    "daily_retrain_job",
    selection=dg.AssetSelection.all(),
    executor_def=dg.in_process_executor,
    description="Ingest the day, rebuild sequences, retrain (warm start), fit the challengers, choose the serving "
                "model, evaluate, profile intents, recommend.",
)

ingestion_job = dg.define_asset_job(
    "ingestion_job",
    selection=dg.AssetSelection.assets(raw_interactions, rejected_interactions),
    executor_def=dg.in_process_executor,
    description="Ingestion only, for backfills of past days.",
)


def retrain_time(cron: str) -> tuple[int, int]:
    """(minute, hour) of a daily cron expression ``M H * * *``: a daily partitioned job ticks once a day."""
    fields = cron.split()
    if len(fields) != 5 or fields[2:] != ["*", "*", "*"] or not (fields[0].isdigit() and fields[1].isdigit()):
        raise ValueError(f"{RETRAIN_CRON_ENV}={cron!r}: expected a daily cron 'M H * * *', e.g. '0 2 * * *'")
    return int(fields[0]), int(fields[1])


def retrain_schedule() -> dg.ScheduleDefinition:
    """The daily schedule of :data:`daily_retrain_job` at the time of ``ELCREC_RETRAIN_CRON`` (default 02:00 UTC),
    read when called (the code location loads). Each tick runs the partition of the day that has just ended."""
    minute, hour = retrain_time(dg.EnvVar(RETRAIN_CRON_ENV).get_value() or "0 2 * * *")
    return dg.build_schedule_from_partitioned_job(daily_retrain_job, name="daily_retrain_schedule",
                                                  minute_of_hour=minute, hour_of_day=hour)
