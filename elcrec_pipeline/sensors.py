"""The sensor that starts the daily job when a day's source file arrives."""

from __future__ import annotations

import time
from pathlib import Path

import dagster as dg

from assets.daily import (EARLIER_DAY_CHANGED_TAG, RECORDS_LOOKED_AT, configured_partitions, of_this_folder,
                          of_this_folder_runs)
from assets.training import elcrec_model
from elcrec_core.data.source_config import day_files
from elcrec_pipeline.jobs import RETRAIN_JOB, RUN_CONFIG_ENV, checked_run_config
from elcrec_pipeline.resources import SOURCE_ENV, FilesNow, SourceFile, Storage, files_version

LOOKBACK_DAYS = 7  # the days a tick looks at: older days are a backfill's work
# a day's files must have been left unchanged this long before its run starts: a file still being written (or
# copied in over several ticks) would otherwise start a run, and another each time it grew
SETTLE_SECONDS = 60
RUN_KEY_TAG = "dagster/run_key"  # the tag of a sensor's run: its run key
# a run queued or going: it has not loaded the day's files yet, or it trains (or is being canceled)
GOING = (dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
         dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING)


@dg.sensor(
    job_name=RETRAIN_JOB,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=f"Requests the day's partition of daily_retrain_job when the source settings file's '{{date}}' "
                f"path (a file, a folder or a glob such as */{{date}}.csv) names files for it (one of the last "
                f"{LOOKBACK_DAYS} days) once they have been unchanged for {SETTLE_SECONDS} s, and again when one "
                "of them changes, arrives or goes (a new size or modification time, and other bytes), unless a "
                "run that retrains has loaded them as they are (raw_interactions' files_version, or the same "
                "bytes: a file touched or copied again is not new) and trained on them, or one is "
                "queued or running for the day; and the newest of those days that has a model again when a load of "
                "an earlier day changed its events after that model was trained (a corrected or late delivery: "
                "the model that serves lacked it). With the run config of "
                f"{RUN_CONFIG_ENV} where set. Off until turned on in the UI.",
)
def source_file_sensor(context: dg.SensorEvaluationContext, source_file: SourceFile,
                       storage: Storage) -> dg.SensorResult:
    settings = source_file.settings()
    # a run config file edited wrong fails each tick, naming it, not only a tick that would start a run (helper-171)
    run_config = checked_run_config(context.repository_def.get_job(RETRAIN_JOB))
    pattern = settings.get("path")
    if source_file.location() is None:  # "the source settings (none) name no path" said nothing (helper-232)
        return dg.SensorResult(skip_reason=f"no source settings file is set ({SOURCE_ENV}, or the source_file "
                                           "resource's path): the embedded data has no daily files to watch")
    if not pattern or "{date}" not in pattern:
        return dg.SensorResult(skip_reason=f"the source settings ({source_file.location()}) name no path with "
                                           "'{date}': no daily files to watch")
    days = configured_partitions().get_partition_keys()[-LOOKBACK_DAYS:]
    warehouse = storage.warehouse  # the loads, builds and models of this data folder (an instance may have several)
    newest = next((day for day in reversed(days) if _last_model(context.instance, day, warehouse) is not None), None)
    files_of = {day: day_files(pattern, day) for day in days}
    requests, settling, failed, going = [], [], [], []
    for day, files in files_of.items():
        if files and not settled(files):
            settling.append(day)
            continue
        if not files:
            continue
        if retraining(context.instance, day, warehouse):  # it reads the files when it loads them
            going.append(day)
            continue
        why = {}  # why a retrained day runs again: an earlier day's files changed after its model
        if retrained_since(context.instance, day, files, warehouse):
            change = earlier_change_since(context.instance, day, warehouse) if day == newest else None
            # a later day with files (no model: ``day`` is the newest with one) trains on the change in its own run,
            # requested or to come once its files settle (or run again by hand, where its run failed); a backfill of
            # earlier days: wait for its last load
            if (change is None or any(files_of[d] for d in days if d > day)
                    or _earlier_day_running(context.instance, day, warehouse)):
                continue
            why = {EARLIER_DAY_CHANGED_TAG: change.partition_key}
        key = f"{day}:{files_version(files)}" + (f":after load {change.storage_id}" if why else "")
        if context.instance.get_run_ids(dg.RunsFilter(tags={RUN_KEY_TAG: key}), limit=1):
            failed.append(day)  # its run of these files ended without a model: Dagster would skip it, each tick
            continue
        requests.append(dg.RunRequest(partition_key=day, run_key=key,
                                      run_config=run_config,
                                      tags={"elcrec/source_file": ", ".join(map(str, files)), **why}))
    if requests:
        return dg.SensorResult(run_requests=requests)
    # each day not requested, said (a queued run's day and a failed one's read as trained on: helper-230)
    notes = ([f"; a run that retrains is queued or running for {', '.join(going)}"] if going else []) + (
        [f"; the sensor's run of the files of {', '.join(failed)} ended without a model: run the day again, or "
         "change its files"] if failed else [])
    if settling:
        return dg.SensorResult(skip_reason=f"files changed in the last {SETTLE_SECONDS} s, waiting: "
                                           f"{', '.join(settling)} ({pattern}){''.join(notes)}")
    window = f" ({days[0]} to {days[-1]}, by the clock)" if days else ""
    return dg.SensorResult(skip_reason=f"no {'other ' if notes else ''}file for the last {LOOKBACK_DAYS} days{window} "
                                       f"that a run has not trained on since it last changed: {pattern} (the days "
                                       f"before are run by hand or as a backfill){''.join(notes)}")


def retrained_since(instance: dg.DagsterInstance, day: str, files: list[Path], warehouse: Path) -> bool:
    """Whether ``day`` needs no run for ``files`` as they are now: a run that retrains it (:func:`retrains`) is
    queued or going (the schedule's, a re-execution: it reads the files when it loads them), or one loaded them as
    they are (its ``raw_interactions``' ``files_version``, taken before it read them, or else the same paths,
    sizes and bytes: ``files_shape`` and ``files_content``, read only where the sizes agree) and trained on them:
    ``elcrec_model`` of the day materialized by that run, or after that load by a run that loaded no other files
    (such as its re-execution). Such a day is done, as when the schedule or a backfill ran it before the sensor was
    turned on (a sensor's run keys are its own: it requested every day of its window again); a load alone is not (a
    later ``raw_interactions`` of the same files, or ``ingestion_job``), nor is a run whose training failed: the
    sensor requests the day, and its run key (day and files) starts one run of them, not one a tick. A day whose
    files changed, arrived or went since is not done (a file moved into place with an old modification time too:
    its path or size differ). Looks at the day's last :data:`RECORDS_LOOKED_AT` loads and models, of them those of
    the data folder whose warehouse is ``warehouse`` (:func:`assets.daily.of_this_folder`)."""
    if retraining(instance, day, warehouse):
        return True
    now = FilesNow(files)  # the bytes read once a tick, only for a file touched or copied again

    def as_now(load: dg.EventLogRecord) -> bool:  # loaded the files as they are now: same times, or same bytes
        return now.loaded_by(load.asset_materialization.metadata)

    loads = of_this_folder(instance.fetch_materializations(dg.AssetRecordsFilter(
        asset_key=dg.AssetKey("raw_interactions"), asset_partitions=[day]), limit=RECORDS_LOOKED_AT).records, warehouse)
    loaded = {load.run_id: load for load in reversed(loads)}  # each run's last load of the day
    models = of_this_folder(instance.fetch_materializations(dg.AssetRecordsFilter(
        asset_key=elcrec_model.key, asset_partitions=[day]), limit=RECORDS_LOOKED_AT).records, warehouse)
    for load in loads:
        run = instance.get_run_by_id(load.run_id)
        if run is None or not retrains(run) or not as_now(load):
            continue
        if any(model.run_id == run.run_id or (model.storage_id > load.storage_id
                                              and (model.run_id not in loaded or as_now(loaded[model.run_id])))
               for model in models):
            return True
    return False


def _earlier_day_running(instance: dg.DagsterInstance, day: str, warehouse: Path) -> bool:
    """Whether a run of a day before ``day`` for the data folder whose warehouse is ``warehouse`` is queued or going
    (a backfill of earlier days: each of its loads would ask for ``day`` again; it runs once they are done)."""
    return any(run.tags.get("dagster/partition", day) < day
               for run in of_this_folder_runs(instance.get_runs(dg.RunsFilter(statuses=list(GOING))), warehouse))


def trained_day(instance: dg.DagsterInstance, day: str, warehouse: Path) -> bool:
    """Whether a run that retrains ``day`` (:func:`retrains`) for the data folder whose warehouse is ``warehouse``
    is queued or going, or one has materialized its ``elcrec_model``: for a day whose files are gone (an inbox that
    moves loaded files away), which the schedule then leaves alone (its run failed on the missing file: helper-230)."""
    models = of_this_folder(instance.fetch_materializations(dg.AssetRecordsFilter(
        asset_key=elcrec_model.key, asset_partitions=[day]), limit=RECORDS_LOOKED_AT).records, warehouse)
    return retraining(instance, day, warehouse) or any(
        (run := instance.get_run_by_id(model.run_id)) is not None and retrains(run) for model in models)


def retraining(instance: dg.DagsterInstance, day: str, warehouse: Path) -> bool:
    """Whether a run that retrains ``day`` (:func:`retrains`) for the data folder whose warehouse is ``warehouse`` is
    queued or going (a run of another folder that day is not: :func:`assets.daily.of_this_folder_runs`)."""
    going = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": day}, statuses=list(GOING)))
    return any(retrains(run) for run in of_this_folder_runs(going, warehouse))


def earlier_change_since(instance: dg.DagsterInstance, day: str, warehouse: Path) -> dg.EventLogRecord | None:
    """The newest load of a day before ``day`` after the sequences that ``day``'s last model trained on were built
    (also while it trained) that is its day's newest and left other events of the day than the later days' sequences
    were built from (``raw_interactions``' ``content_changed``: a corrected or late delivery), or None: those
    sequences lack that change, and so does the model. A day's bad load undone by a later load of it is none (it ran
    the day again for nothing). Loads, builds and models of the data folder whose warehouse is ``warehouse`` alone;
    looks at the last :data:`RECORDS_LOOKED_AT` loads since."""
    model = _last_model(instance, day, warehouse)
    if model is None:
        return None
    built = of_this_folder(instance.fetch_materializations(dg.AssetRecordsFilter(
        asset_key=dg.AssetKey("interaction_sequences"), asset_partitions=[day], before_storage_id=model.storage_id),
        limit=RECORDS_LOOKED_AT).records, warehouse)
    since = built[0].storage_id if built else model.storage_id
    loads = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=dg.AssetKey("raw_interactions"),
                                                                  after_storage_id=since),
                                            limit=RECORDS_LOOKED_AT)
    newest = {}  # each earlier day's newest load (the records: newest first)
    for load in of_this_folder(loads.records, warehouse):
        if load.partition_key is not None and load.partition_key < day:
            newest.setdefault(load.partition_key, load)
    return next((load for load in newest.values() if _fact(load, "content_changed")), None)


def _last_model(instance: dg.DagsterInstance, day: str, warehouse: Path) -> dg.EventLogRecord | None:
    """The last ``elcrec_model`` materialization of ``day`` in the data folder whose warehouse is ``warehouse``, or
    None."""
    models = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=elcrec_model.key,
                                                                   asset_partitions=[day]), limit=RECORDS_LOOKED_AT)
    return next(iter(of_this_folder(models.records, warehouse)), None)


def _fact(load: dg.EventLogRecord, name: str) -> str | bool | None:
    """What a ``raw_interactions`` materialization recorded of its files (``files_version``, ``files_shape``,
    ``files_content``; None: not recorded, as by loads before it was)."""
    value = load.asset_materialization.metadata.get(name)
    return value.value if value is not None else None


def retrains(run: dg.DagsterRun) -> bool:
    """Whether ``run`` trains the day's model: a run of the whole ``daily_retrain_job`` (the schedule's, a
    backfill's, the sensor's), or any run whose asset selection holds ``elcrec_model`` (the UI's "Materialize
    all"). Not ``ingestion_job``, nor a materialization of the ingestion assets alone (``dagster asset materialize
    --select raw_interactions``, the UI on one asset, ``daily_retrain_job`` with a subset that leaves training out)."""
    if run.asset_selection:
        return elcrec_model.key in run.asset_selection
    return run.job_name == RETRAIN_JOB


def settled(files: list[Path]) -> bool:
    """Whether none of ``files`` changed in the last :data:`SETTLE_SECONDS` (one gone since it was listed: no): by
    their modification times, or, for one in the future (another host's clock, an archive's times), by this host's
    time of its last change (ctime): it waited until that future time, said to have changed (helper-230)."""
    now = time.time()
    try:
        newest = max(stat.st_mtime if stat.st_mtime <= now else stat.st_ctime for stat in map(Path.stat, files))
    except OSError:
        return False
    return now - newest >= SETTLE_SECONDS
