"""The sensor that starts the daily job when a day's source file arrives."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from assets.daily import configured_partitions
from elcrec_pipeline.jobs import daily_retrain_job
from elcrec_pipeline.resources import SourceFile

LOOKBACK_DAYS = 7  # the days a tick looks at: older days are a backfill's work


@dg.sensor(
    job=daily_retrain_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=f"Requests the day's partition of daily_retrain_job when the source settings file's '{{date}}' "
                f"path names a file for it (one of the last {LOOKBACK_DAYS} days), and again when that file "
                "changes (a new size or modification time). Off until turned on in the UI.",
)
def source_file_sensor(context: dg.SensorEvaluationContext, source_file: SourceFile) -> dg.SensorResult:
    settings = source_file.settings()
    pattern = settings.get("path")
    if not pattern or "{date}" not in pattern:
        return dg.SensorResult(skip_reason=f"the source settings ({source_file.location() or 'none'}) name no "
                                           "path with '{date}'")
    days = configured_partitions().get_partition_keys()[-LOOKBACK_DAYS:]
    requests = []
    for day in days:
        file = Path(pattern.replace("{date}", day))
        if file.is_file():
            stat = file.stat()
            requests.append(dg.RunRequest(partition_key=day, run_key=f"{day}:{stat.st_size}:{stat.st_mtime_ns}",
                                          tags={"elcrec/source_file": str(file)}))
    if not requests:
        return dg.SensorResult(skip_reason=f"no file for the last {LOOKBACK_DAYS} days: {pattern}")
    return dg.SensorResult(run_requests=requests)
