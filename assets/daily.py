"""What every daily asset shares: the daily partitions (and the mappings to the day before), the owners, the retry
policy, the warehouse pool, and ``daily_asset``, the decorator that applies them."""

from __future__ import annotations

import errno
import functools
import inspect
import os
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from filelock import Timeout

from assets.metadata import without_empty_text
from elcrec_core.config.partitions import DEFAULT_START_DATE, START_DATE_ENV
from elcrec_core.data.warehouse_file import WarehouseDamaged, WarehouseLocked
from elcrec_pipeline.resources import WAREHOUSE_TAG

# The assets' partitions as imported (tests, a materialization in process); the code location replaces them with
# configured_partitions() when Dagster loads it (elcrec_pipeline.definitions), so nothing is read at import.
daily_partitions = dg.DailyPartitionsDefinition(start_date=DEFAULT_START_DATE)
# What one day reads of the day before (the model it warm-starts from, the model the backtest scores): declared,
# so that backfills materialize the days in order. The first day has no day before. Only an asset's dependency on
# its own day before: Dagster's backfills add a dependency on another asset's day before to their targets, the day
# after the last (a report of a day nobody asked for, failing without its model, failed the backfill).
PREVIOUS_DAY = dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)
OWNERS = ["team:recommendations"]

# Transient failures (a warehouse lock held past its wait, a full disk freed later) are retried with backoff by
# the steps' own code (retried_on_error: no step takes this as its Dagster retry policy); bad input raises
# dg.Failure(allow_retries=False) and fails at once.
RETRY = dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL)
# Every asset that opens the DuckDB warehouse is in this pool; dagster.yaml limits it to one step at a time
# across runs, so writers queue in Dagster instead of meeting DuckDB's single-writer lock.
WAREHOUSE_POOL = "warehouse"
# The assets that write the model store (a run's training folder, the challengers, the serving aliases) are in this
# one: two runs (the sensor requests several days at once) neither train into one folder nor gate against the same
# serving model and overwrite each other's promotion.
MODEL_STORE_POOL = "model_store"


def configured_partitions() -> dg.DailyPartitionsDefinition:
    """The daily partitions from ``ELCREC_START_DATE`` (default 2026-01-01), read when called: when the code
    location loads, or when the sensor ticks. Raises ValueError naming the variable for a value that is no date."""
    start = dg.EnvVar(START_DATE_ENV).get_value() or DEFAULT_START_DATE
    try:  # strictly YYYY-MM-DD: Python reads 20260101 and 2026-W01-1 too, which Dagster then refuses unnamed
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", start):
            raise ValueError(start)
        date.fromisoformat(start)
    except ValueError:
        raise ValueError(f"{START_DATE_ENV}={start!r}: expected a date YYYY-MM-DD, such as 2026-01-01") from None
    return dg.DailyPartitionsDefinition(start_date=start)


def require_a_partition(context: dg.AssetExecutionContext) -> None:
    """Fail at once where the run has no day (saying how to give one), or its day is no partition of the asset
    (naming the partitions): a day that has not ended yet (``dagster job execute --tags '{"dagster/partition":
    "<today>"}'`` took a partial day's events and trained on them) or one before ``ELCREC_START_DATE``. Dagster's UI,
    schedule, sensor and backfills offer partitions only; a key given by hand is not checked against them."""
    if context.has_partition_key_range and not context.has_partition_key:
        raise dg.Failure(f"{context.asset_key.to_user_string()} is built one day at a time, not for a range of "
                         f"days ({context.partition_key_range.start} .. {context.partition_key_range.end}): run each "
                         "day (a backfill of the days does)", allow_retries=False)
    if not context.has_partition_key:  # Dagster's own words: "Cannot access partition_key for a non-partitioned run"
        raise dg.Failure(f"{context.asset_key.to_user_string()} is built for one day: give it, as in dagster job "
                         "execute ... --tags '{\"dagster/partition\": \"2026-01-31\"}' (the UI, the schedule, the "
                         "sensor and backfills give it themselves)", allow_retries=False)
    partitions, day = context.assets_def.partitions_def, context.partition_key
    if not partitions.has_partition_key(day):
        first, last = partitions.get_first_partition_key(), partitions.get_last_partition_key()
        complete = "once it has ended in UTC, so that its events are complete"
        which = (f"the partitions are the days from {first} ({START_DATE_ENV}) to {last}, each {complete}"
                 if last is not None else
                 f"there is none yet, for {START_DATE_ENV}={partitions.start.date()} has not ended (a day is one "
                 f"{complete})")
        raise dg.Failure(f"{day} is no partition: {which}", allow_retries=False)


def daily_asset(retried: bool = False, **settings: Any) -> Any:
    """``dg.asset`` with what every stage shares: the daily partitions and the owners; ``settings`` are the rest
    of the decorator's arguments (group, pool, code version, description, ...). ``retried``: an unexpected error of
    the step is retried, twice (:func:`retried_on_error`); without it, a warehouse that another process held locked
    past the wait (:class:`WarehouseLocked`) is: a consumer's open connection failed the recommendations at once,
    where the README promised retries (helper-245)."""
    asset = dg.asset(partitions_def=daily_partitions, owners=OWNERS, **settings)
    return lambda compute: asset(retried_on_error(compute, Exception if retried else WarehouseLocked))


def retried_on_error(compute: Callable[..., Any], kind: type[Exception] = Exception) -> Callable[..., Any]:
    """``compute`` (an asset's function, a generator or not, whose first argument is its context) with its
    unexpected errors of ``kind`` retried by :func:`retried_despite_waits`. The steps take no Dagster retry policy:
    Dagster retries a step with one when its run is terminated (the UI's Terminate, Ctrl-C), and in the in-process
    executor of the daily jobs the retry ran in the terminated run itself, which went on to succeed and promote the
    model it was terminated while training (dagster-io/dagster#15026, open). Without one, the interruption ends the
    run. What it returns or yields goes through :func:`~assets.metadata.without_empty_text`: no asset's metadata
    shows an empty entry."""
    if inspect.isgeneratorfunction(compute):
        @functools.wraps(compute)
        def each(context: dg.AssetExecutionContext, *args: Any, **kwargs: Any) -> Iterator[Any]:
            with retried_despite_waits(context, kind):
                yield from map(without_empty_text, compute(context, *args, **kwargs))
        return each

    @functools.wraps(compute)
    def once(context: dg.AssetExecutionContext, *args: Any, **kwargs: Any) -> Any:
        with retried_despite_waits(context, kind):
            return without_empty_text(compute(context, *args, **kwargs))
    return once


@contextmanager
def fails_at_once(what: str, *errors: type[Exception]) -> Iterator[None]:
    """Errors of the kinds ``errors`` in the block (bad settings, an earlier stage not materialized: a retry meets
    the same) fail the step at once, without retries, as ``<what>: <error>``."""
    try:
        yield
    except errors as err:
        raise dg.Failure(f"{what}: {err}", allow_retries=False) from err


def log_failed_checks(context: dg.AssetExecutionContext, results: Iterable[dg.AssetCheckResult]) -> None:
    """Each failed check of ``results`` in the run's log too, at its severity (a warning; an error for
    ``ERROR``): `dagster job execute` shows a check's evaluation at DEBUG only, before a run that succeeds."""
    for result in results:
        if not result.passed:
            say = context.log.error if result.severity == dg.AssetCheckSeverity.ERROR else context.log.warning
            say(f"check {result.check_name} failed: {result.description}")


def refused(check: dg.AssetCheckResult, message: str, metadata: dict[str, Any],
            run_id: str) -> Iterator[dg.AssetCheckResult]:
    """Yield the failed blocking ``check``, then fail the step at once with ``message`` and ``metadata``: nothing was
    written, so nothing is materialized (the partition keeps its last good materialization and its data version,
    and stays missing for 'materialize missing' when it has none). Dagster shows the check beside the partition's
    latest materialization, the last good one, so the check says that it judged the refused data of ``run_id``."""
    about = (f"The data of run {run_id} failed this check and was refused: nothing of it was stored. The "
             "materialization shown beside this result (if any) is the last good one, and its data is unchanged.")
    yield dg.AssetCheckResult(passed=check.passed, asset_key=check.asset_key, check_name=check.check_name,
                              severity=check.severity, description=about,
                              metadata={**check.metadata, "refused_run": dg.MetadataValue.text(run_id)})
    raise dg.Failure(message, allow_retries=False, metadata=metadata)


def run_lineage(context: dg.AssetExecutionContext) -> tuple[str, ...]:
    """The run and those it re-executes, newest first (its parent, the parent's parent, ..., the original): the
    runs whose trained model it judges, the first that trained one. A parent no longer in the instance ends the
    chain before the original, which comes last."""
    lineage, run = [context.run.run_id], context.run
    while run.parent_run_id and run.parent_run_id not in lineage:
        lineage.append(run.parent_run_id)
        run = context.instance.get_run_by_id(run.parent_run_id)
        if run is None:
            break
    return tuple(dict.fromkeys([*lineage, *([context.run.root_run_id] if context.run.root_run_id else [])]))


# how long a step waits for the runs of the day before: retries this far apart, at most this many
DAY_BEFORE_WAIT_SECONDS = 30
DAY_BEFORE_WAIT_RETRIES = 120  # an hour; then the step goes on, with a warning
BACKFILL_TAG = "dagster/backfill"  # the tag of a backfill's runs: the backfill's id
# on the sensor's run of a day again after a load of an earlier day changed its events: that day
EARLIER_DAY_CHANGED_TAG = "elcrec/earlier_day_changed"
WILL_RETRY_TAG = "dagster/will_retry"  # "true" on a failed run that Dagster's run retries start again
UNFINISHED = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
              dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


WAREHOUSE_KEY = "warehouse"  # the metadata of a load, a sequence build and a model: the warehouse of its data folder
RECORDS_LOOKED_AT = 20  # a day's latest materializations of an asset that are read back, of every data folder


def warehouse_entry(path: Path) -> dict[str, dg.MetadataValue]:
    """The metadata entry that tells which data folder (its warehouse at ``path``) a materialization was made for."""
    return {WAREHOUSE_KEY: dg.MetadataValue.path(str(path))}


def of_this_folder_runs(runs: Iterable[dg.DagsterRun], warehouse: Path) -> list[dg.DagsterRun]:
    """The runs of ``runs`` that are for the data folder whose warehouse is ``warehouse`` (their load tags them:
    :data:`elcrec_pipeline.resources.WAREHOUSE_TAG`), and those that do not say yet (queued, or not started: they
    may be)."""
    return [run for run in runs if run.tags.get(WAREHOUSE_TAG, str(warehouse)) == str(warehouse)]


def of_this_folder(records: Iterable[dg.EventLogRecord], warehouse: Path) -> list[dg.EventLogRecord]:
    """The materializations of ``records`` made for the data folder whose warehouse is ``warehouse``, and those that
    do not say (made before this was recorded; a test's stand-in): one Dagster instance (``DAGSTER_HOME``) may run
    the pipeline on several data folders (the demo data, ml-100k, a team's), whose days would otherwise be taken for
    one another's (a load in a new folder warned that later days, built in another, lacked it)."""
    return [record for record in records
            if (entry := record.asset_materialization.metadata.get(WAREHOUSE_KEY)) is None
            or entry.value == str(warehouse)]


def day_before(partition: str) -> str:
    """The partition key (ISO date) of the day before ``partition``."""
    return (date.fromisoformat(partition) - timedelta(days=1)).isoformat()


def unfinished_runs_of_the_day_before(instance: dg.DagsterInstance, partition: str, own_run: str | None = None,
                                      still_to: Iterable[dg.AssetKey] | None = None) -> list[str]:
    """The ids of the runs of the day before ``partition`` (ISO date) that are queued or in progress, other than
    ``own_run`` (None: none excluded); with ``still_to``, only those that are still to materialize one of those
    assets for the day (select it and have not materialized it: a run past it, writing the day's report, is no
    reason)."""
    before = day_before(partition)
    runs = [run for run in instance.get_runs(filters=dg.RunsFilter(statuses=UNFINISHED,
                                                                    tags={"dagster/partition": before}))
            if run.run_id != own_run]
    if still_to is not None and runs:
        still = {key: {record.run_id for record in instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[before]), limit=100).records} for key in still_to}
        runs = [run for run in runs if any(run.run_id not in done and (run.asset_selection is None
                                                                       or key in run.asset_selection)
                                           for key, done in still.items())]
    return [run.run_id for run in runs]


def days_in_progress(instance: dg.DagsterInstance) -> set[str]:
    """The days (partition keys) of the runs that are queued or in progress."""
    return {run.tags["dagster/partition"] for run in instance.get_runs(filters=dg.RunsFilter(statuses=UNFINISHED))
            if "dagster/partition" in run.tags}


@contextmanager
def retried_despite_waits(context: dg.AssetExecutionContext, kind: type[Exception] = Exception) -> Iterator[None]:
    """Retry an unexpected error of the block (of ``kind``; others pass as they are) as :data:`RETRY` says (twice,
    after 10 s then 30 s), counting only this step's attempts that an error ended: the waits of
    :func:`wait_for_the_day_before` are retries too, and Dagster's policy counted them, so two waits left an error no
    retry. Failures and retries pass as they are, and so does an interruption of the run (not an Exception):
    :func:`retried_on_error`."""
    try:
        yield
    except (dg.Failure, dg.RetryRequested, dg.DagsterError):  # Dagster's own errors: its policy never retries them
        raise
    except kind as err:
        if permanent := _lasting_file_system_error(err):
            raise dg.Failure(f"{type(err).__name__}: {err} (not retried: {permanent}, which a retry meets the same)",
                             allow_retries=False) from err
        failed = _attempts_an_error_ended(context)
        if failed >= RETRY.max_retries:
            raise
        context.log.warning(f"retrying after {type(err).__name__}: {err}")
        raise dg.RetryRequested(max_retries=context.retry_number + 1,
                                seconds_to_wait=RETRY.delay * (2 ** (failed + 1) - 1)) from err


LASTING_ERRNOS = (errno.EROFS, errno.EACCES, errno.EPERM)  # a read-only file system, permission denied: they stay
HELD_LOCK = r"Could not set lock|Conflicting lock"  # DuckDB's words for a lock another process holds


def _lasting_file_system_error(err: BaseException) -> str | None:
    """What of :data:`LASTING_ERRNOS` ``err`` or its causes say (an OSError's errno, or its text in the message of
    DuckDB's error, such as its IOException on a read-only data folder, or of an OSError without an errno, as
    polars raises), or that the warehouse file is damaged (:class:`WarehouseDamaged`); None where none, and where
    any of them is about a lock held by another process, a wait however the system words it (a held fcntl lock may
    be reported as permission denied)."""
    chain = []
    while err is not None:
        chain.append(err)
        err = err.__cause__
    if any(isinstance(e, WarehouseLocked | Timeout) or re.search(HELD_LOCK, str(e)) for e in chain):
        return None
    if any(isinstance(e, WarehouseDamaged) for e in chain):
        return "a damaged warehouse file"
    for e in chain:
        if isinstance(e, OSError) and e.errno in LASTING_ERRNOS:
            return os.strerror(e.errno).lower()
        if (isinstance(e, duckdb.Error) or isinstance(e, OSError) and e.errno is None) and (
                said := next((os.strerror(code) for code in LASTING_ERRNOS if os.strerror(code) in str(e)), None)):
            return said.lower()
    return None


def _attempts_an_error_ended(context: dg.AssetExecutionContext) -> int:
    """How many earlier attempts of this step in this run an error ended (a retry with a cause: a wait has none)."""
    step = context.get_step_execution_context().step.key
    events = (entry.dagster_event for entry in context.instance.all_logs(
        context.run.run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY))
    return sum(1 for event in events if event is not None and event.step_key == step
               and event.event_specific_data.error is not None and event.event_specific_data.error.cause is not None)


def backfill_still_to_run_the_day_before(context: dg.AssetExecutionContext, asset: dg.AssetKey,
                                         trained_by: str) -> str | None:
    """The id of the backfill that this step's run belongs to when that backfill is still to run ``asset`` for
    the day before, else None. An asset backfill (the UI's Materialize over a date range) launches each step of a
    day when its declared inputs are materialized, so a later day's step may run before ``asset`` of the day
    before, and while no run of that day is unfinished. Still to run: the backfill targets ``asset`` (a job's
    backfill runs whole days), ``trained_by`` (the run that made the day before's input of ``asset``) is one of its
    runs, and no run of the backfill for the day before or an earlier day has failed for good or been canceled:
    Dagster then runs none of the later days' steps that depend on their day before, so ``asset`` (a gate, which
    depends on the gate of its day before) may never run, and each later day would wait its hour in turn."""
    try:
        backfill_id = context.run.tags.get(BACKFILL_TAG)
    except dg.DagsterError:  # a step invoked directly (a test) has no run, so no backfill
        return None
    backfill = context.instance.get_backfill(backfill_id) if backfill_id else None
    if backfill is None or (backfill.asset_selection is not None and asset not in backfill.asset_selection):
        return None
    trainer = context.instance.get_run_by_id(trained_by)
    if trainer is None or trainer.tags.get(BACKFILL_TAG) != backfill_id:
        return None
    ended = context.instance.get_runs(filters=dg.RunsFilter(
        statuses=[dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED], tags={BACKFILL_TAG: backfill_id}))
    before = day_before(context.partition_key)
    if any(run.tags.get("dagster/partition", "") <= before and run.tags.get(WILL_RETRY_TAG) != "true"
           for run in ended):
        return None
    return backfill_id


def wait_for_the_day_before(context: dg.AssetExecutionContext, needs: Iterable[dg.AssetKey], why: str,
                            otherwise: str, still_to_come: str | None = None) -> None:
    """Retry later while a run of the day before is still to materialize one of ``needs`` for that day (``why``:
    what this step needs of it), or while ``still_to_come`` (what the step needs of the day before that no run has
    started yet, such as a backfill's next step; None: nothing) says so: runs of several days (a sensor's tick after
    an outage, a backfill from the UI) start in any order, and declared dependencies do not order separate runs.
    After :data:`DAY_BEFORE_WAIT_RETRIES` tries the step goes on (``otherwise``: how), with a warning."""
    waiting = unfinished_runs_of_the_day_before(context.instance, context.partition_key, still_to=needs)
    if waiting:  # the run is read only then: a step invoked directly (a test) has none
        waiting = [run for run in waiting if run != context.run.run_id]
    if waiting:
        what = f"run(s) {', '.join(waiting)} of the day before"
        stuck = "a run whose process is gone: terminate it in the UI, Runs"
    elif still_to_come is not None:
        what, stuck = still_to_come, "a backfill that does not go on: cancel it in the UI, Overview, Backfills"
    else:
        return
    if context.retry_number < DAY_BEFORE_WAIT_RETRIES:
        context.log.info(f"waiting for {what}: {why} ({stuck})")
        raise dg.RetryRequested(max_retries=DAY_BEFORE_WAIT_RETRIES, seconds_to_wait=DAY_BEFORE_WAIT_SECONDS)
    context.log.warning(f"still waiting after {DAY_BEFORE_WAIT_RETRIES} tries for {what}: {otherwise}")
