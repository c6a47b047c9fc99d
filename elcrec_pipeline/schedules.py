"""The daily retraining schedule."""

from __future__ import annotations

from datetime import timedelta, timezone
from pathlib import Path

import dagster as dg

from assets.daily import START_DATE_ENV, configured_partitions
from elcrec_core.data.source_config import day_files
from elcrec_pipeline.jobs import RETRAIN_CRON_ENV, RETRAIN_JOB, RUN_CONFIG_ENV, checked_run_config, retrain_time
from elcrec_pipeline.resources import SourceFile, Storage
from elcrec_pipeline.sensors import retrained_since, trained_day


def retrain_schedule() -> dg.ScheduleDefinition:
    """The daily schedule of ``daily_retrain_job`` (:func:`~elcrec_pipeline.jobs.retrain_job`) at the time of
    ``ELCREC_RETRAIN_CRON`` (default 02:00 UTC), read when called (the code location loads). Each tick runs the
    partition of the day that has just ended, with the run config of ``ELCREC_RUN_CONFIG``, checked
    (:func:`~elcrec_pipeline.jobs.checked_run_config`: a tick fails naming the variable). It skips a day before the
    partitions' start, and a day whose ``{date}`` files (the source settings' path) a run that retrains has trained
    on as they are now, or is queued or running for (:func:`retrained_since`: the sensor's, a backfill's), so that
    with the sensor on too a day is not trained twice; so is a day whose files are gone that such a run has trained
    (:func:`trained_day`: an inbox moves loaded files away). A day whose file has not come is run, and fails by name,
    and so is every day where the source settings file cannot be read."""
    minute, hour = retrain_time(dg.EnvVar(RETRAIN_CRON_ENV).get_value() or "0 2 * * *")

    @dg.schedule(job_name=RETRAIN_JOB, cron_schedule=f"{minute} {hour} * * *", name="daily_retrain_schedule",
                 execution_timezone="UTC", description="daily_retrain_job for the day that has just ended (UTC), "
                 f"with the run config of {RUN_CONFIG_ENV} where set; skips a day whose {{date}} files a run has "
                 "already trained on as they are (the sensor's), one queued or running for the day, or one whose "
                 "files are gone (moved away once loaded) that a run has trained.")
    def daily_retrain_schedule(context: dg.ScheduleEvaluationContext, source_file: SourceFile,
                               storage: Storage) -> dg.RunRequest | dg.SkipReason:
        # first: a run config file edited wrong fails each tick, naming it, not only one that would start a run
        run_config = checked_run_config(context.repository_def.get_job(RETRAIN_JOB))
        day = (context.scheduled_execution_time.astimezone(timezone.utc) - timedelta(days=1)).date().isoformat()
        partitions = configured_partitions()
        if not partitions.has_partition_key(day):
            if day < partitions.start.date().isoformat():
                return dg.SkipReason(f"{day} is before the partitions' start ({START_DATE_ENV})")
            return dg.SkipReason(f"{day} has not ended yet, so it is no partition yet (a test of a later tick "
                                 "evaluates it now; the tick itself, once the day has ended, runs it)")
        files = _day_files(source_file, day)
        if files and retrained_since(context.instance, day, files, storage.warehouse):
            return dg.SkipReason(f"{day}: a run that retrains has trained on its files as they are, or is queued or "
                                 f"running for the day (the sensor's, a backfill's): {', '.join(map(str, files))}")
        if files == [] and trained_day(context.instance, day, storage.warehouse):
            return dg.SkipReason(f"{day}: no file of the day is there now, and a run that retrains has trained the "
                                 "day or is queued or running for it (an inbox that moves loaded files away)")
        return dg.RunRequest(run_key=day, partition_key=day, run_config=run_config)

    return daily_retrain_schedule


def _day_files(source_file: SourceFile, day: str) -> list[Path] | None:
    """The files of ``day`` that the source settings' ``{date}`` path names (none there now: empty); None where
    there is no such path, or where the settings file cannot be read (the day's run then fails, naming it, as a run
    does)."""
    try:
        pattern = source_file.settings().get("path")
    except dg.Failure:
        return None
    return day_files(pattern, day) if isinstance(pattern, str) and "{date}" in pattern else None

