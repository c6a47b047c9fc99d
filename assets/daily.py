"""What every daily asset shares: the daily partitions (and the mappings to the day before), the owners, the retry
policy, the warehouse pool, and ``daily_asset``, the decorator that applies them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import dagster as dg

START_DATE_ENV = "ELCREC_START_DATE"
DEFAULT_START_DATE = "2026-01-01"

# The assets' partitions as imported (tests, a materialization in process); the code location replaces them with
# configured_partitions() when Dagster loads it (elcrec_pipeline.definitions), so nothing is read at import.
daily_partitions = dg.DailyPartitionsDefinition(start_date=DEFAULT_START_DATE)
# What one day reads of the day before (the model it warm-starts from, the model the backtest scores): declared,
# so that backfills materialize the days in order. The first day has no day before.
PREVIOUS_DAY = dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)
THIS_AND_PREVIOUS_DAY = dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=0)
OWNERS = ["team:recommendations"]

# Transient failures (a warehouse lock held past its wait, a killed worker, a full disk freed later) are retried
# with backoff; bad input raises dg.Failure(allow_retries=False) and fails at once.
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
    try:
        date.fromisoformat(start)
    except ValueError:
        raise ValueError(f"{START_DATE_ENV}={start!r}: expected a date YYYY-MM-DD, such as 2026-01-01") from None
    return dg.DailyPartitionsDefinition(start_date=start)


def daily_asset(**settings: Any) -> Any:
    """``dg.asset`` with what every stage shares: the daily partitions and the owners; ``settings`` are the rest
    of the decorator's arguments (group, pool, retries, code version, description, ...)."""
    return dg.asset(partitions_def=daily_partitions, owners=OWNERS, **settings)


@contextmanager
def fails_at_once(what: str, *errors: type[Exception]) -> Iterator[None]:
    """Errors of the kinds ``errors`` in the block (bad settings, an earlier stage not materialized: a retry meets
    the same) fail the step at once, without retries, as ``<what>: <error>``."""
    try:
        yield
    except errors as err:
        raise dg.Failure(f"{what}: {err}", allow_retries=False) from err


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
    """The run and those it re-executes (its parent, the original): the runs whose trained model it judges."""
    run = context.run
    return tuple(dict.fromkeys(r for r in (run.run_id, run.parent_run_id, run.root_run_id) if r))
