"""Stage 2: validated user sequences built from all accepted events up to the partition's day."""

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import date

import dagster as dg
import polars as pl

from assets.daily import (
    PREVIOUS_DAY,
    WAREHOUSE_POOL,
    daily_asset,
    days_in_progress,
    fails_at_once,
    log_failed_checks,
    refused,
    require_a_partition,
    wait_for_the_day_before,
    warehouse_entry,
)
from assets.ingestion import PASSED_EXPECTATIONS, earlier_days_note, raw_interactions
from assets.metadata import expectation_results, failed_expectations, metric, table, warehouse_table
from elcrec_core.config.partitions import partition_end
from elcrec_core.data import warehouse
from elcrec_core.data.event_selection import (
    absent_event_types,
    absent_types_text,
    unmodelled_event_types,
    unrated_files,
)
from elcrec_core.data.events_to_sequences import (
    SETTINGS_FILE,
    SequenceBuild,
    build_sequences,
    read_sequence_settings,
    write_sequences,
)
from elcrec_core.data.sequence_settings import setting_changes, types_text
from elcrec_core.data.sequence_summary import SequenceSummary, long_histories_note, users_text
from elcrec_core.data.sequences import sequence_day_folders
from elcrec_core.data.expectations import expect_sequences
from elcrec_pipeline.config import SequenceSettings
from elcrec_pipeline.resources import Storage, digest
from elcrec_pipeline.run_config_check import refuse_bad_run_config


@daily_asset(
    pool=WAREHOUSE_POOL,
    retried=True,
    deps=[raw_interactions, dg.AssetDep("interaction_sequences", partition_mapping=PREVIOUS_DAY)],
    group_name="sequences",
    code_version="4",
    kinds={"duckdb", "polars", "parquet"},
    check_specs=[dg.AssetCheckSpec(
        "sequence_expectations", asset="interaction_sequences", blocking=True,
        description="Great Expectations: sequence length bounds, timestamps non-decreasing per user"),
        dg.AssetCheckSpec(
            "new_event_types_modelled", asset="interaction_sequences",
            description="Warns (never blocks) where an event type that the sequence settings' event_types leave out "
                        "first occurs on this day: a new name for a modelled type (buy after purchase) leaves its "
                        "events out of the sequences and its items among the users' candidates. Lists every type "
                        "left out, with its rows and first day. Warns too where event_types names a type that no "
                        "event up to the day has (a misspelling: purchases for purchase)."),
        dg.AssetCheckSpec(
            "settings_as_the_day_before", asset="interaction_sequences",
            description="Warns (never blocks) where the day's sequence settings (event_types, min_rating, dedupe, "
                        "k_core, max_user_events) differ from those that built the nearest other day's sequences "
                        "(the day before; pruned, the nearest kept): a run without the "
                        "run config that sets them (a backfill, the sensor's or the schedule's runs without "
                        "ELCREC_RUN_CONFIG) builds with the defaults, and its model may learn another selection of "
                        "events, with no other word.")],
    description="One row per user (id, item index list, length, last timestamp) from all accepted events up to "
                "the end of the partition's day: filters, an event stored by two files used once, de-duplication, "
                "iterative k-core, chronological order, and the stable item index (known items keep their index; new "
                "ones are appended). Written to Parquet (`sequences/<day>/`) and to the warehouse table sequences.",
)
def interaction_sequences(context: dg.AssetExecutionContext, config: SequenceSettings,
                          storage: Storage) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    require_a_partition(context)
    refuse_bad_run_config(context)
    wait_for_the_day_before(context, [dg.AssetKey("raw_interactions"), dg.AssetKey("interaction_sequences")],
                            "it is still to load that day, whose events belong in this day's sequences, or to build "
                            "its sequences, which number the items that day brings first (numbered after this day's "
                            "new items, they would join its catalogue as untrained items)",
                            "building this day's sequences from the events loaded now")
    yield from _build(context, config, storage)


UNRATED = ("; min_rating drops every event without a rating, and ratings are read only from the column that the "
           "source settings' rating_column names")


def _build(context: dg.AssetExecutionContext, config: SequenceSettings,
           storage: Storage) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """:func:`interaction_sequences` after its wait for the day before. The warehouse is opened twice (each open
    costs 20-35 ms and takes the file's lock): read-only for the build and the day's reads, which other processes'
    readers share, and to write the sequences; the expectations and the day's other checks run between, outside."""
    with ExitStack() as reading:
        with fails_at_once(f"sequences of {context.partition_key}", ValueError, FileNotFoundError):  # no warehouse yet
            reading.enter_context(warehouse.held(storage.warehouse, read_only=True))
            build = build_sequences(config.sequence_config(), storage.warehouse,
                                    until=partition_end(context.partition_key))
        unrated, types_check = _read(context, config, storage, build)
    summary = build.summary
    expectations = expect_sequences(build.profile(), config.expectations())
    check = dg.AssetCheckResult(check_name="sequence_expectations", passed=expectations.success,
                                description=PASSED_EXPECTATIONS if expectations.success else None,
                                metadata=expectation_results(expectations))
    if not expectations.success:  # checked before anything is written: the day's earlier sequences stay
        yield from refused(check, f"refused: the sequences of {context.partition_key} fail their expectations "
                                  f"({failed_expectations(expectations)}; the check sequence_expectations has them "
                                  "all); nothing was written",
                           {"users": summary.users, "items": summary.items, "interactions": summary.interactions,
                            "length": table([summary.length])}, context.run.run_id)
    settings_check = _settings_as_the_day_before(config, storage, context.partition_key)  # before any is pruned
    newer = storage.newer_day(context.partition_key)  # the warehouse table belongs to the newest day
    with warehouse.held(storage.warehouse):  # the item index, the table and its metadata: one open to write
        paths = write_sequences(build, storage.sequences_dir(context.partition_key), storage.warehouse,
                                table=not newer)
        # the warehouse table's own metadata where this day wrote it; else this day's rows (the Parquet file)
        table_metadata = (warehouse_table(storage.warehouse, "sequences", SEQUENCE_COLUMNS) if not newer
                          else {"dagster/row_count": dg.MetadataValue.int(summary.users)})
    pruned = storage.prune_sequences(context.partition_key, config.keep_days,
                                     busy=days_in_progress(context.instance)) if config.keep_days else []
    if summary.max_user_events_users:
        context.log.info(f"max_user_events ({config.max_user_events}) left out "
                         f"{users_text(summary.max_user_events_users)} with {summary.max_user_events_removed:,} "
                         "events: no sequence, no list")
    elif config.max_user_events is None and (note := long_histories_note(build.sequences.lengths)):  # bots?
        context.log.warning(note)
    if summary.k_core_removed:  # users without a sequence get lists from their short histories: said, not only counted
        note = _k_core_note(summary, config.k_core)
        (context.log.warning if _k_core_removed_many(summary) else context.log.info)(note)
    log_failed_checks(context, [settings_check])
    yield dg.MaterializeResult(
        data_version=dg.DataVersion(digest(config.model_dump(), [paths["sequences"], paths["item_index"],
                                                                 paths["short_histories"]])),
        metadata={
            **warehouse_entry(storage.warehouse),  # the sensor reads this data folder's builds alone
            "users": summary.users,
            "items": summary.items,
            "interactions": summary.interactions,
            "density": metric(summary.density),
            "item_index_size": build.index_size,  # every item ever indexed
            "catalogue_size": summary.n_items,  # the day's: the index up to its largest item
            "new_items": summary.new_items,
            # events in = filtered out + repeated across files + duplicates removed + max_user_events removed +
            # k-core removed + interactions
            "events_in": summary.events_in,
            "filtered_out": summary.filtered_out,
            "repeated_across_files": summary.repeated_across_files,
            "duplicates_removed": summary.duplicates_removed,
            "max_user_events_removed": summary.max_user_events_removed,  # the events of users with more (bots?)
            "max_user_events_users": summary.max_user_events_users,
            "k_core_removed": summary.k_core_removed,
            "k_core_users_removed": summary.k_core_users_removed,
            "k_core_items_removed": summary.k_core_items_removed,
            "k_core_new_items_removed": summary.k_core_new_items_removed,  # of them first seen on the day
            # of the users it removed, those with a short history (their events on the sequences' items): they get
            # recommendations from it (short_histories.parquet)
            "short_history_users": summary.short_history_users,
            "last_two_same_time": summary.last_two_same_time,  # users whose test target the rows' order picks
            "unrated_events_dropped": dg.MetadataValue.int(int(unrated["rows"].sum())),
            "length": table([summary.length]),
            "parquet": dg.MetadataValue.path(str(paths["sequences"])),
            "days_pruned": dg.MetadataValue.text(", ".join(pruned) or "none"),
            "warehouse_table": dg.MetadataValue.text(f"kept: {newer} is newer" if newer else "replaced"),
            **table_metadata,
        },
        check_results=[check, types_check, settings_check],
    )


def _read(context: dg.AssetExecutionContext, config: SequenceSettings, storage: Storage,
          build: SequenceBuild) -> tuple[pl.DataFrame, dg.AssetCheckResult]:
    """The day's reads after the ``build`` (in :func:`_build`'s read-only hold of the warehouse): the files whose
    events min_rating drops for want of a rating (their ``source_file``, ``rows``, ``events``; none without
    min_rating) and the check ``new_event_types_modelled``; each said in the run's log. Raises
    :class:`dagster.Failure` where the build has no events or no sequences, saying why."""
    summary = build.summary
    if summary.events_in == 0:  # nothing loaded yet: not the settings' doing
        raise dg.Failure(f"no sequences for {context.partition_key}: the warehouse holds no event up to its end: "
                         "materialize raw_interactions of the day (or of an earlier day) first", allow_retries=False)
    absent = absent_event_types(storage.warehouse, config.event_types, partition_end(context.partition_key))
    if len(build.sequences) == 0:  # the settings or the data: retrying gives the same
        raise dg.Failure(f"no sequences left for {context.partition_key}: {summary.events_in} events in; "
                         f"{summary.filters_named} removed {summary.filtered_out}, events stored by "
                         f"another file too {summary.repeated_across_files}, de-duplication "
                         f"{summary.duplicates_removed}, "
                         + (f"users over max_user_events {summary.max_user_events_removed}, "
                            if config.max_user_events is not None else "")
                         + f"k-core with k = {config.k_core}: {summary.k_core_removed} (run config "
                         "ops.interaction_sequences.config: event_types, min_rating, "
                         + ("max_user_events, " if config.max_user_events is not None else "") + "k_core)"
                         + (f"; k_core {smaller['k']} keeps {smaller['users']:,} users ({smaller['events']:,} events)"
                            if (smaller := summary.smaller_k_core) and summary.k_core_removed else "") + UNRATED * (
                             config.min_rating is not None and summary.filtered_out > 0)
                         + (f". {_absent_note(absent, context.partition_key)}" if absent else "")
                         # a day run before its history: load that first, not a smaller k_core (a user's trial)
                         + (f". Before changing the settings: {late}" if (late := earlier_days_note(
                             context.instance, context.partition_key, storage.warehouse)) else ""),
                         allow_retries=False)
    unrated = unrated_files(storage.warehouse, partition_end(context.partition_key), config.event_types) \
        if config.min_rating is not None else pl.DataFrame(schema={"source_file": pl.String, "rows": pl.Int64,
                                                                   "events": pl.Int64})
    if len(unrated):  # a warning for files without any rating (loaded before the source named a rating column)
        unrated_any = unrated.filter(pl.col("rows") == pl.col("events"))
        (context.log.warning if len(unrated_any) else context.log.info)(_unrated_note(config.min_rating, unrated))
    # a type new on the day that the settings leave out, a misspelt type: in the run's log too (a new make_offer
    # type's 300 rows were left out, said at DEBUG only: helper-182), before a refusal that it may explain
    types_check = _new_event_types(config, storage, context.partition_key, absent)
    log_failed_checks(context, [types_check])
    return unrated, types_check


K_CORE_WARN_SHARE = 0.2  # above this share of the users removed by the k-core, the run's log warns


def _k_core_removed_many(summary: SequenceSummary) -> bool:
    """Whether the k-core removed more than :data:`K_CORE_WARN_SHARE` of the users: the run's log warns."""
    return summary.k_core_users_removed > K_CORE_WARN_SHARE * summary.users_before_k_core


def _k_core_note(summary: SequenceSummary, k: int) -> str:
    """What the k-core removed, for the run's log; with the setting to lower where it removed many users."""
    note = f"{summary.k_core_text(k)}{summary.without_sequence_note}"
    if not _k_core_removed_many(summary):
        return note
    counted = (" (user_recommendations counts them in users_without_sequence, with the users whose events the "
               "filters all left out, such as those of event types not modelled)" if summary.users_without_list else "")
    return note + (f"{counted}, and the models learn from the rest alone; where the data is young or sparse, a lower "
                   "k_core keeps more (run config ops.interaction_sequences.config.k_core; 0: off)")


def _unrated_note(min_rating: float, unrated: pl.DataFrame) -> str:
    """What a build whose min_rating drops stored events that have no rating says (``unrated``:
    :func:`~elcrec_core.data.event_selection.unrated_files`): the files that hold no rating at all, which a load
    before the source settings named a rating_column stored so, and those whose blank ratings are none."""
    whole = unrated.filter(pl.col("rows") == pl.col("events"))
    blank = unrated.filter(pl.col("rows") < pl.col("events"))
    parts = []
    if len(whole):
        parts.append(f"{len(whole)} file(s) hold no rating at all ({whole['rows'].sum():,} events): "
                     f"{_first_files(whole)}: where they were loaded before the source settings named a "
                     "rating_column, load them again (by their days' runs or ingestion_job) to keep their events")
    if len(blank):
        parts.append(f"{blank['rows'].sum():,} event(s) of {len(blank)} file(s) have a blank rating, which is none: "
                     f"{_first_files(blank)}")
    return (f"min_rating {min_rating:g} drops {unrated['rows'].sum():,} stored events without a rating; "
            f"{'; '.join(parts)} (or leave min_rating unset)")


def _first_files(files: pl.DataFrame) -> str:
    names = files["source_file"].to_list()
    return ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")


def _absent_note(absent: dict[str, list[str]], partition: str) -> str:
    """What to do about the types of event_types that no stored event up to the day has."""
    return (f"event_types names types that no event up to {partition} has: {absent_types_text(absent, 'the log')}. "
            "Mend a misspelt one in event_types (run config ops.interaction_sequences.config): its events are left "
            "out of the sequences; where the log has no types, the source settings' event_type_column names their "
            "column")


def _new_event_types(config: SequenceSettings, storage: Storage, partition: str,
                     absent: dict[str, list[str]]) -> dg.AssetCheckResult:
    """The check ``new_event_types_modelled``: fails (a warning) where a type left out first occurs on the
    partition's day (not the first day of the events), or where ``event_types`` names a type that no event up to
    the day has (``absent``: :func:`absent_event_types`)."""
    left_out = unmodelled_event_types(storage.warehouse, config.event_types, partition_end(partition))
    new = left_out.filter("new")
    modelled = types_text(config.event_types)
    untyped = any(not name for name in new["event_type"])  # events without a type: no event_types lists them
    description = (f"modelled: {modelled}; first seen on {new['first_day'][0]} and left out: " + ", ".join(
        f"{'no type' if name is None else repr(name)} ({rows} row{'s' if rows != 1 else ''})"
        for name, rows in new.select("event_type", "rows").iter_rows())
        + ". If it names a modelled type, add it to event_types (run config ops.interaction_sequences.config)"
        + (". Events without a type (none, or '') are never of event_types: give them one in the source's event "
           "type column" if untyped else "")
        if len(new) else f"modelled: {modelled}; no type left out is new on {partition}")
    return dg.AssetCheckResult(check_name="new_event_types_modelled", passed=not len(new) and not absent,
                               severity=dg.AssetCheckSeverity.WARN,
                               description=description + (f". {_absent_note(absent, partition)}" if absent else ""),
                               metadata={"left_out": table(left_out.drop("new")),
                                         "absent": dg.MetadataValue.text(", ".join(absent) or "none")})


def _settings_as_the_day_before(config: SequenceSettings, storage: Storage, partition: str) -> dg.AssetCheckResult:
    """The check ``settings_as_the_day_before``: fails (a warning) where the sequence settings of ``config`` differ
    from those that built the nearest other day's sequences (their ``settings.json``; the day before, or where
    keep_days pruned it the nearest kept day; none: nothing to compare; one that cannot be read: said, passed)."""
    built = [folder for folder in sequence_day_folders(storage.root) if folder.name != partition
             and (folder / SETTINGS_FILE).is_file()]
    if not built:
        return dg.AssetCheckResult(check_name="settings_as_the_day_before", passed=True,
                                   severity=dg.AssetCheckSeverity.WARN,  # the check's severity, passed or not
                                   description="no other day's sequences to compare with")
    # the nearest day, the earlier of two as near: the day before; a day run again after pruning (which keeps the
    # serving models' days, however old), the next later one
    at = date.fromisoformat(partition)
    other = min(built, key=lambda folder: (abs((date.fromisoformat(folder.name) - at).days), folder.name > partition))
    day = other.name
    try:
        changes = setting_changes(read_sequence_settings(other), config.sequence_config())
    except (OSError, ValueError, TypeError) as err:  # a file cut short, edited by hand: said, never a failure
        return dg.AssetCheckResult(check_name="settings_as_the_day_before", passed=True,
                                   severity=dg.AssetCheckSeverity.WARN,
                                   description=f"sequences/{day}/{SETTINGS_FILE} cannot be read ({err}): not compared")
    description = (f"the sequence settings differ from those that built the sequences of {day} (sequences/{day}/"
                   f"{SETTINGS_FILE}): {'; '.join(changes)}. A run takes them from its run config "
                   "(ops.interaction_sequences.config); one without it (a backfill, the sensor's or the schedule's "
                   "runs where ELCREC_RUN_CONFIG is not set) builds with the defaults, and the day's model may learn "
                   "another selection of events: run the day built without the settings meant again with them "
                   "(where its model serves, the promotion gate leaves it out, as trained on sequences of other "
                   "settings, and judges the day's models alone: elcrec rollback restores the model before it), "
                   "unless the change is meant" if changes
                   else f"as those that built the sequences of {day}")
    return dg.AssetCheckResult(check_name="settings_as_the_day_before", passed=not changes,
                               severity=dg.AssetCheckSeverity.WARN, description=description,
                               metadata={"compared_with": dg.MetadataValue.text(day),
                                         "changes": dg.MetadataValue.text("; ".join(changes) or "none")})


SEQUENCE_COLUMNS = {"user_id": "as in the source", "items": "item indexes (table item_index), oldest first",
                    "length": "number of items", "last_timestamp": "UTC time of the newest event"}
