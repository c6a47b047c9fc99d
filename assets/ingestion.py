"""Stage 1: raw interaction ingestion into the warehouse, with the quarantine of rejected rows."""

from collections.abc import Iterator, Mapping
from datetime import date, datetime, time, timedelta
from pathlib import Path

import dagster as dg
import polars as pl

from assets.daily import (
    RECORDS_LOOKED_AT,
    START_DATE_ENV,
    WAREHOUSE_POOL,
    daily_asset,
    days_in_progress,
    fails_at_once,
    log_failed_checks,
    of_this_folder,
    refused,
    require_a_partition,
    warehouse_entry,
)
from assets.load_advice import (
    byte_copies_note,
    load_line,
    metadata_read_advice,
    not_utf8_note,
    other_rules_note,
    read_advice,
    rejected_items_note,
    rejected_note,
    sentences,
    shrunk_files_note,
    threshold_note,
    withdrawn_note,
)
from assets.metadata import expectation_results, failed_expectations, metric, table, warehouse_table
from elcrec_core.data import day_loads, warehouse
from elcrec_core.data.files import SourceReadError, byte_copies
from elcrec_core.data.ingestion import (
    EventsBeforeStart,
    LoadReport,
    MixedSources,
    files_under_other_rules,
    read_checked,
    refuse_mixing,
    store_checked,
    stored_files_gone,
    times_in_1970_hint,
)
from elcrec_core.data.load_history import (
    SPILL_HOURS,
    changed_since_loaded,
    days_with_data,
    held_by_other_files,
    ids_of_other_files,
    never_loaded,
    newest_load_files,
)
from elcrec_core.data.item_metadata import categories_from_text, read_item_metadata, separator_advice
from elcrec_core.data.rejections import (
    REFUSED_COUNTS,
    REFUSED_ROWS,
    file_name,
    keep_refused_load,
    id_notes,
    rejected_files_note,
    rows_per_file,
)
from elcrec_core.data.sequences import sequence_day_folders
from elcrec_core.data.source_folders import missing_beside_others, sources_of_day
from elcrec_core.data.source_config import ItemMetadataConfig, day_files, resolve_files
from elcrec_core.data.synthetic import generate
from elcrec_core.data.time_zones import naive_times_note, zone_warning
from elcrec_core.data.timestamp_patterns import format_text
from elcrec_core.data.expectations import expect_interactions
from elcrec_core.data.validation import RowCheck
from elcrec_pipeline.config import SourceSettings
from elcrec_pipeline.resources import (
    FilesNow,
    SourceFile,
    Storage,
    digest,
    events_content,
    files_content,
    files_shape,
    files_version,
)
from elcrec_pipeline.run_config_check import refuse_bad_run_config

LATE_DAYS = 31  # how far back earlier_days_loaded looks for files that no load has read
PASSED_EXPECTATIONS = "every expectation passed (the table has each, with what it observed)"
EARLIER_DAYS_NOTE = "earlier_days_note"  # metadata: the warning of earlier_days_loaded, left out where it passed
OFF_DAY_NOTE = "off_day_note"  # metadata: the warning of events_on_their_day, left out where it passed
DAY_CONTENT = "day_content"  # metadata: the events the data folder holds of a {date} day's files after its load
MIN_METADATA_COVERAGE = 0.5  # item_metadata_matches_items warns where a smaller share of the events' items has metadata
MIN_NEW_ITEMS = 5  # ... or of the day's new items, where there are at least this many


@daily_asset(
    pool=WAREHOUSE_POOL,
    retried=True,
    group_name="ingestion",
    code_version="1",
    kinds={"duckdb", "polars"},
    check_specs=[dg.AssetCheckSpec(
        "interaction_expectations", asset="raw_interactions", blocking=True,
        description="Great Expectations: row count, null rates, distinct users/items, rejected share"),
        dg.AssetCheckSpec(
            "earlier_days_loaded", asset="raw_interactions",
            description=f"Every file that a source path with {{date}} names for the {LATE_DAYS} days before this "
                        "one (but "
                        "days with a run in progress) has been loaded, when this day loads: a delivery that came "
                        "after its day's run (which failed without it), or a day never run, is in no day's "
                        "sequences until its day runs"),
        dg.AssetCheckSpec(
            "later_days_trained_after", asset="raw_interactions",
            description="A warning where a {date} source's day holds other events after this load than the "
                        "sequences of later days were built from (a corrected or late delivery; a load that puts back "
                        "the events they were built from is none): they, their models and the model that serves lack "
                        "the change until the newest of "
                        "them runs again (the sensor runs it where its files are among its last days). Names those "
                        "days"),
        dg.AssetCheckSpec(
            "events_on_their_day", asset="raw_interactions",
            description="A warning where a source path with {date} gave this day a file without any event on the "
                        "day: another day's file delivered again under this day's name (its events are used once, "
                        "so the day trains on nothing new while the day's own events are missing)"),
        dg.AssetCheckSpec(
            "item_metadata_matches_items", asset="raw_interactions",
            description=f"A warning where item metadata is stored but fewer than {MIN_METADATA_COVERAGE:.0%} of the "
                        "stored events' items have a row of it (ids are compared as exact text: 07, 7.0 and 7 "
                        "differ): the profiles' titles and categories and the category purity would describe few "
                        "items or none. Names ids of each side that the other lacks"),
        dg.AssetCheckSpec(
            "item_categories_split", asset="raw_interactions",
            description="A warning where the categories text of this load's item metadata looks split on the wrong "
                        "separator: at most 1% of the items have two categories, while at least half of those with "
                        "one hold another separator (, ; or |), as 'Action, Comedy' read with the default | is one "
                        "category 'Action, Comedy', or a fifth are categories that other items hold alone, separated "
                        "by spaces (RecBole's lists: 'Action Adventure') (the profiles' categories and the "
                        "category purity would count such combinations). Names the separator")],
    description="Interaction events of the day loaded into the DuckDB warehouse (table raw_interactions). The "
                "source is the run config over the source settings file (resource source_file, ELCREC_SOURCE), "
                "else the embedded synthetic data set. Every row is accepted or quarantined in "
                "rejected_interactions with a reason; a load replaces exactly what the same source file "
                "contributed before, whatever days its events fall on. The synthetic demo data and real files "
                "never share a data folder: a load that would mix them is refused. The entries files_version, "
                "files_shape, files_content and day_content are digests of the day's files and of its events as "
                "stored: change detection for the sensor and the checks, not for reading.",
)
def raw_interactions(context: dg.AssetExecutionContext, config: SourceSettings, storage: Storage,
                     source_file: SourceFile) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    require_a_partition(context)
    refuse_bad_run_config(context)  # the later stages' too: a bad top_k failed after the training
    settings = f"source settings ({config.origin(source_file.location())})"  # where a bad setting came from
    given = {name for name, value in config.model_dump().items() if value is not None}  # by the run config
    with fails_at_once(settings, ValueError):  # pydantic's too
        given |= set(source_file.settings())  # and by the file
        config = config.resolved(source_file.settings())
        source = config.source_config(context.partition_key, storage, source_file.folders())  # a format, ...
        rules = config.row_rules()
    if warning := zone_warning(source.timezone):  # EST: a valid zone, yet a summer an hour off New York's clocks
        context.log.warning(f"{settings}: {warning}")
    start = context.assets_def.partitions_def.start.replace(tzinfo=None)  # the code location's partitions
    with fails_at_once(f"ingestion of {context.partition_key}", MixedSources):  # before the files' own errors: a
        refuse_mixing(source.format == "synthetic", storage.warehouse)  # forgotten source read as a start date's
    try:  # the files' version as they are before they are read: the sensor compares it (a change after: again)
        listed = resolve_files(source.path) if source.format != "synthetic" else None
        version = files_version(listed) if listed is not None else None  # a touch changes it; the content, not:
        content = (files_shape(listed), files_content(listed)) if listed is not None else None  # the sensor asks
        batch = read_checked(source, rules, not_before=start)
    except EventsBeforeStart as err:
        # most of a file in 1970: times in the wrong unit, which min_timestamp would reject all (a few: zeros)
        read_as = f"timestamp_format ({format_text(config.timestamp_format)})"
        unit = (f" Events in 1970 are mostly {times_in_1970_hint(read_as)}."
                if err.earliest.year == 1970 and 2 * err.count > err.accepted else "")
        raise dg.Failure(f"ingestion of {context.partition_key} failed: {err}.{unit} The partitions start at "
                         f"{START_DATE_ENV}={start.date()}: set {START_DATE_ENV}={err.earliest.date()} (or earlier) "
                         "for the code location, the daemon and the CLI, and load again." + ("" if unit else (
                             f" Where those times are wrong, not history, min_timestamp: '{start.date()}' in the "
                             f"{settings} rejects each such row instead (reason timestamp_out_of_window, kept "
                             "with the rejected rows) and loads the rest, as long as the rejected rows stay within "
                             "max_rejected_share.")), allow_retries=False) from err
    except (ValueError, FileNotFoundError) as err:  # bad input: retrying cannot help
        raise dg.Failure(f"ingestion of {context.partition_key} failed: {err}{read_advice(err, config, settings)}",
                         allow_retries=False) from err
    # read before anything is written, as the events are: a bad file leaves the warehouse as it was
    with fails_at_once(f"item metadata of {context.partition_key} ({settings})", ValueError, FileNotFoundError):
        item_metadata, items = config.item_metadata(storage, source_file.folders()), None
        if item_metadata is not None:
            try:
                items, rejected_items = read_item_metadata(item_metadata)
            except SourceReadError as err:
                raise ValueError(f"{err}{metadata_read_advice(err, item_metadata)}") from err
    files = [Path(f) for f in batch.files if Path(f).is_file()]  # the synthetic source: its settings alone
    files += [Path(item_metadata.path)] if item_metadata is not None else []
    check = batch.check
    expectations = expect_interactions(check.accepted, check, config.expectations())
    if not expectations.success:  # checked before anything is written: a bad delivery never replaces a good load
        notes = sentences(rejected_note(check, source.format, source.timestamp_format, settings,
                                        apart=config.max_rejected_share_by_reason or {}),
                           threshold_note(expectations, check, config, settings, given))
        kept = storage.refused_dir(context.partition_key, context.run.run_id)
        keep_refused_load(kept, check, batch.files, failed_expectations(expectations))
        yield from refused(
            dg.AssetCheckResult(check_name="interaction_expectations", passed=False,
                                metadata=expectation_results(expectations)),
            f"refused: the load of {', '.join(batch.files)} fails its expectations "
            f"({failed_expectations(expectations)}; the check interaction_expectations has them all); nothing was "
            f"written to the warehouse, which keeps what earlier loads of these files stored, and {kept} keeps "
            + (f"this load's {len(check.rejected)} rejected rows with their reasons ({REFUSED_ROWS}) and its counts "
               if len(check.rejected) else "this load's counts ") + f"({REFUSED_COUNTS}). {notes}",
            {**_counts(check), "files": dg.MetadataValue.text(", ".join(batch.files)),
             "refused_rows": dg.MetadataValue.path(str(kept / REFUSED_ROWS))},
            context.run.run_id)
    # the files are read: from here short queries alone, on one open warehouse (opening it costs 20-30 ms)
    with warehouse.held(storage.warehouse):
        with fails_at_once(f"ingestion of {context.partition_key}", MixedSources):
            file_day = date.fromisoformat(context.partition_key) if "{date}" in (config.path or "") else None
            held = _day_content(file_day, batch.files, storage) if file_day is not None else None  # before the load
            report = store_checked(batch, storage.warehouse, file_day,  # the day of a {date} file's untimed events
                                   overwrite_day=config.overwrite_day)
        context.log.info(load_line(report.accepted, check, source.format, batch.files,
                                   (report.replaced, report.replaced_rejected),
                                   config.max_rejected_share_by_reason or {}))
        for note in (shrunk_files_note(rows_per_file(check, batch.files), report.replaced_by_file),  # not all there?
                     not_utf8_note(check, batch.files),
                     naive_times_note(check.naive_times, source.timezone, f"timezone in the {settings}", "timezone",
                                      batch.files),
                     rejected_files_note(check, config.max_rejected_share, source.format, batch.files,
                                         apart=config.max_rejected_share_by_reason or {})):
            if note:
                context.log.warning(note)
        if report.withdrawn_files:  # the day rewritten under new names: its old files' rows go
            warn, note = withdrawn_note(context.partition_key, report.withdrawn_files, check.rows_in,
                                        report.replaced + report.replaced_rejected)
            (context.log.warning if warn else context.log.info)(note)
        with_rows = {*check.accepted["source_file"], *check.rejected["source_file"]} - {warehouse.SYNTHETIC_SOURCE_FILE}
        if copies := byte_copies([Path(file) for file in batch.files if file in with_rows]):  # not two empty files
            context.log.warning(byte_copies_note(copies, batch.files, dated=file_day is not None))  # likely not meant
        for note in id_notes(check.accepted, batch.files if len(batch.files) > 1 else None, source.format,
                             columns=(source.columns.user, source.columns.item),  # and beside earlier days' ids
                             stored=ids_of_other_files(batch.files, storage.warehouse)):
            context.log.warning(note)
        other_rules = files_under_other_rules(batch, storage.warehouse)
        if other_rules:  # a changed min_rating (say) applies to the files loaded from now on, not to the stored ones
            context.log.warning(other_rules_note(other_rules))
        gone = stored_files_gone(storage.warehouse)
        if gone:  # a delivery withdrawn from the folder: its events are still used
            context.log.warning(f"{len(gone)} stored file(s) are no longer on disk, and their rows stay in the "
                                f"warehouse (the sequences use them): {', '.join(gone[:5])}"
                                f"{', ...' if len(gone) > 5 else ''}. To "
                                "withdraw a file's events, empty the file and load it again" + (
                                    "; or, where a writer rewrites a day under new file names (Spark), set "
                                    "overwrite_day: true in the source settings and load the day again: the files an "
                                    "earlier load of the day read and that are gone are then withdrawn"
                                    if file_day is not None and not config.overwrite_day else ""))
        if source.format == "synthetic":  # keep the planted intents: the profiles measure how well they are found
            planted = generate(source.synthetic).user_intents.with_columns(pl.col("user_id").cast(pl.String))
            warehouse.replace_table(storage.warehouse, "planted_intents", planted)
        metadata_counts = {}
        if item_metadata is not None:
            metadata_counts = warehouse.load_item_metadata(items, rejected_items, item_metadata.path, storage.warehouse)
            if len(rejected_items):  # a green run must not hide items that lost their titles and categories; a
                # spreadsheet's empty rows (;;, empty_row) alone lose none: an INFO line, as the events' empty rows
                lost = (rejected_items["reason"] != "empty_row").any()
                (context.log.warning if lost else context.log.info)(
                    rejected_items_note(rejected_items, len(items), item_metadata.path))
        metadata = {
            **_counts(check),
            "days_covered": _days(report.days),
            "files": dg.MetadataValue.text(", ".join(report.files)),
            "files_withdrawn": dg.MetadataValue.text(", ".join(report.withdrawn_files) or "none"),
            "rows_replaced": report.replaced,
            "rejected_rows_replaced": report.replaced_rejected,
            "files_under_other_row_rules": dg.MetadataValue.int(len(other_rules)),
            "stored_files_not_on_disk": dg.MetadataValue.text(  # an inbox that archives its files: many, each day
                ", ".join(gone[:10]) + (f", ... ({len(gone)} in all)" if len(gone) > 10 else "") or "none"),
            **({"files_version": dg.MetadataValue.text(version), "files_shape": dg.MetadataValue.text(content[0]),
                "files_content": dg.MetadataValue.text(content[1])} if version and content else {}),
            "tables": _tables(storage),
            **warehouse_entry(storage.warehouse),  # the sensor reads this folder's loads alone
            **warehouse_table(storage.warehouse, "raw_interactions", RAW_COLUMNS, partition_rows=report.accepted),
        }
        if metadata_counts:
            metadata["item_metadata"] = table([metadata_counts], ITEM_METADATA_COUNTS)
        busy = days_in_progress(context.instance)
        earlier = _earlier_days_files(config.path, start.date(), context.partition_key, busy)
        late = never_loaded([file for files in earlier.values() for file in files], storage.warehouse)
        corrected, corrected_days = _corrected_files(context.instance, earlier, storage.warehouse)
        missing = _days_without_files(config.path, start.date(), context.partition_key, storage, busy)
        beside = _missing_beside_others(config.path, start.date(), context.partition_key, storage.warehouse)
        notes = [note for note in (late and _late_note(late, context.partition_key),
                                   (corrected or corrected_days) and _corrected_note(corrected, corrected_days,
                                                                                     context.partition_key),
                                   missing and _missing_note(missing, context.partition_key),
                                   beside and _beside_note(beside, context.partition_key)) if note]
        unloaded = sentences(*notes) if notes else ""
        if unloaded:
            context.log.warning(unloaded)
        metadata["earlier_days_not_loaded"] = dg.MetadataValue.int(len(late))
        metadata[EARLIER_DAYS_NOTE] = dg.MetadataValue.text(unloaded)  # the day's report repeats it
        now = _day_content(file_day, batch.files, storage) if held is not None else None
        built, other = _later_days_built_from_other(context.instance, context.partition_key, now, held, storage)
        later_check = _later_days_trained_after(context.partition_key, now != held, built, other, storage)
        metadata["content_changed"] = later_check.metadata["content_changed"]  # the sensor runs the newest day again
        if now is not None:  # what later days' builds saw of the day: the next load compares with it
            metadata[DAY_CONTENT] = dg.MetadataValue.text(now)
        on_day = _events_on_their_day(config.path, report, check.accepted, context.partition_key, storage.warehouse)
        metadata[OFF_DAY_NOTE] = dg.MetadataValue.text("" if on_day.passed else on_day.description)  # the report's too
        warned = [later_check, on_day,
                  _metadata_matches(warehouse.item_metadata_coverage(storage.warehouse,
                                                                      day=date.fromisoformat(context.partition_key))),
                  _categories_split(items, item_metadata)]
        log_failed_checks(context, warned)
        yield dg.MaterializeResult(
            data_version=dg.DataVersion(digest(config.model_dump(), files)),
            metadata=metadata,
            check_results=[dg.AssetCheckResult(check_name="interaction_expectations", passed=True,
                                               # a passed check said nothing (helper-232)
                                               description=PASSED_EXPECTATIONS,
                                               metadata=expectation_results(expectations)),
                           dg.AssetCheckResult(
                               check_name="earlier_days_loaded", passed=not unloaded,
                               severity=dg.AssetCheckSeverity.WARN, description=unloaded or (
                                   f"every file of the {LATE_DAYS} days before {context.partition_key} is loaded as it "
                                   "is, and none is missing" if config.path and "{date}" in config.path else
                                   "not judged: the source names no {date} files"),
                               metadata={"files_not_loaded": dg.MetadataValue.int(len(late)),
                                         # a day whose changed file cannot be told counts one
                                         "files_changed_since_loaded": dg.MetadataValue.int(len(corrected)
                                                                                            + len(corrected_days)),
                                         "days_with_a_file_changed": dg.MetadataValue.text(", ".join(corrected_days)
                                                                                           or "none"),
                                         "first_files": dg.MetadataValue.text(", ".join(map(str, late[:10])) or "none"),
                                         "days_without_files": dg.MetadataValue.text(", ".join(missing) or "none"),
                                         "files_missing_beside_others": dg.MetadataValue.text(", ".join(beside)
                                                                                              or "none")}),
                           *warned],
        )


def earlier_days_note(instance: dg.DagsterInstance, partition: str, warehouse_path: Path) -> str:
    """What the check ``earlier_days_loaded`` said of the newest load of ``partition`` into the data folder of
    ``warehouse_path`` (files of earlier days no load has read, days without a delivery); empty where it passed or
    no load is recorded."""
    return _load_note(instance, partition, warehouse_path, EARLIER_DAYS_NOTE)


def off_day_note(instance: dg.DagsterInstance, partition: str, warehouse_path: Path) -> str:
    """What the check ``events_on_their_day`` said of the newest load of ``partition`` into the data folder of
    ``warehouse_path`` (a file of the day without events on it: another day's again, so the day trains on nothing
    new); empty where it passed or no load is recorded."""
    return _load_note(instance, partition, warehouse_path, OFF_DAY_NOTE)


def _load_note(instance: dg.DagsterInstance, partition: str, warehouse_path: Path, key: str) -> str:
    """The text entry ``key`` of the newest load of ``partition`` into the data folder of ``warehouse_path``; empty
    where it has none (its check passed: an empty entry is left out; a load of an earlier version) or no load is
    recorded."""
    note = _newest_load_metadata(instance, partition, warehouse_path).get(key)
    return note.value if note is not None else ""


def _newest_load_metadata(instance: dg.DagsterInstance, partition: str,
                          warehouse_path: Path) -> Mapping[str, dg.MetadataValue]:
    """The metadata of the newest load of ``partition`` into the data folder of ``warehouse_path`` (empty: none)."""
    loads = instance.fetch_materializations(dg.AssetRecordsFilter(
        asset_key=raw_interactions.key, asset_partitions=[partition]), limit=RECORDS_LOOKED_AT).records
    last = of_this_folder(loads, warehouse_path)
    return last[0].asset_materialization.metadata if last else {}


def _day_content(day: date, files: list[str], storage: Storage) -> str:
    """:func:`~elcrec_pipeline.resources.events_content` of the events that the data folder's warehouse holds of
    ``day``'s files (:func:`~elcrec_core.data.day_loads.day_events`), each timed event once, as the sequences use an
    event that two files stored: a load changed the day where it differs after the load from before it. The
    warehouse's own rows, not the last load's metadata in Dagster: a data folder moved or copied (its loads recorded
    under another path: helper-208), another DAGSTER_HOME or a load of an earlier version is compared alike; the
    same events written otherwise (another column order, line ends, a byte order mark, another file name, a copy of
    a file beside it or gone from it: helper-213, helper-214) are no change, nor is a first load without events."""
    events = day_loads.day_events(day, files, storage.warehouse)
    timed = events.filter(pl.col("timestamp").is_not_null()).sort("source_file", "source_row").unique(
        ["user_id", "item_id", "timestamp", "rating", "event_type"], keep="first", maintain_order=True)
    return events_content(pl.concat([timed, events.filter(pl.col("timestamp").is_null())]))


def newest_days_text(days: list[str]) -> str:
    """``days`` (sorted) for a message: the newest five after ``...,``, with the count and the oldest, where there
    are more (the newest five alone made the oldest look unaffected: helper-186)."""
    return ", ".join(days) if len(days) <= 5 else f"..., {', '.join(days[-5:])} ({len(days)} in all, from {days[0]})"


def _later_days_built_from_other(instance: dg.DagsterInstance, day: str, now: str | None, before: str | None,
                                 storage: Storage) -> tuple[list[str], list[str]]:
    """(built, other): the days after ``day`` whose sequences the data folder of ``storage`` holds, oldest first, and
    of them those built from other events of ``day`` than ``now`` (:func:`_day_content` after this load). A build saw
    what the day's newest load in this folder before it recorded (:data:`DAY_CONTENT`), else (no such load or record
    in this instance: a folder moved or copied, a new ``DAGSTER_HOME``, a load of an earlier version) what the day
    held ``before`` this load: a load that puts back the events later days were built from changes none of them
    (it warned that the team retrain for nothing, each time a bad load was undone). None for a source without
    ``{date}`` (``now`` None)."""
    if now is None:
        return [], []
    built = [folder.name for folder in sequence_day_folders(storage.root) if folder.name > day]
    loads = of_this_folder(instance.fetch_materializations(dg.AssetRecordsFilter(
        asset_key=raw_interactions.key, asset_partitions=[day]), limit=RECORDS_LOOKED_AT).records, storage.warehouse)

    def seen(later: str) -> str | None:  # the day's events that the later day's newest build read
        builds = of_this_folder(instance.fetch_materializations(dg.AssetRecordsFilter(
            asset_key=dg.AssetKey("interaction_sequences"), asset_partitions=[later]), limit=RECORDS_LOOKED_AT).records,
            storage.warehouse)
        load = next((load for load in loads if builds and load.storage_id < builds[0].storage_id), None)
        recorded = load.asset_materialization.metadata.get(DAY_CONTENT) if load is not None else None
        return recorded.value if recorded is not None else before

    return built, [later for later in built if seen(later) != now]


def _later_days_trained_after(day: str, changed: bool, built: list[str], other: list[str],
                              storage: Storage) -> dg.AssetCheckResult:
    """The check ``later_days_trained_after``: fails (a warning) where later days of the data folder of ``storage``
    have sequences built from other events of ``day`` than the load left (``other`` of ``built``:
    :func:`_later_days_built_from_other`): their models trained, or train, without the change, which this load made
    (``changed``: other events than before it) or an earlier one did. Its ``content_changed``: whether ``other`` has
    a day, or (no later day built) whether the load ``changed`` the day (the sensor's cue)."""
    shown = newest_days_text(other)
    # a model stored (its day's latest.json), not a training begun (its lock's folder): else none (helper-201, -206)
    trained = any((storage.root / "models" / d / "latest.json").is_file() for d in other)
    what = (f"this load changed the events of {day}" if changed else f"the events of {day} changed")
    return dg.AssetCheckResult(
        check_name="later_days_trained_after", passed=not other, severity=dg.AssetCheckSeverity.WARN,
        description=(f"{what} after the sequences of later days were built"
                     f"{'' if changed else ' (by an earlier load; this one stored the same events again)'}: {shown}. "
                     f"They lack the change{', and so do their models and the model that serves' if trained else ''}"
                     f"{'' if trained else ' (none of them has trained a model yet)'}: run "
                     f"{other[-1]} again (daily_retrain_job; the sensor does where {other[-1]}'s files are among its "
                     "last 7 days, once no run of an earlier day is going, unless a later day's files are there "
                     "for their own run)") if other else
                    (f"this load changed the events of {day} back to those that the sequences of the later days "
                     f"were built from: {newest_days_text(built)}") if changed and built else
                    "no later day's sequences were built before this load's change" if changed else
                    "this load changed none of the day's stored events",
        metadata={"content_changed": dg.MetadataValue.bool(bool(other) if built else changed),
                  "later_days_built": dg.MetadataValue.text(", ".join(other) or "none")})


def _metadata_matches(coverage: warehouse.MetadataCoverage) -> dg.AssetCheckResult:
    """The check ``item_metadata_matches_items``: fails (a warning) where item metadata is stored (by this load or
    an earlier one) and describes fewer than :data:`MIN_METADATA_COVERAGE` of the stored events' items."""
    counts = {"event_items": dg.MetadataValue.int(coverage.event_items),
              "event_items_with_metadata": dg.MetadataValue.int(coverage.described),
              "metadata_items": dg.MetadataValue.int(coverage.metadata_items)}
    if not coverage.metadata_items and not coverage.described:
        return dg.AssetCheckResult(check_name="item_metadata_matches_items", passed=True, metadata=counts,
                                   severity=dg.AssetCheckSeverity.WARN,
                                   description="no item metadata is stored")
    found = (f"{coverage.described:,} of the {coverage.event_items:,} items of the stored events "
             f"({coverage.share:.1%}) have item metadata ({coverage.metadata_items:,} items stored)")
    passed = coverage.share >= MIN_METADATA_COVERAGE
    # a growing catalogue whose metadata file stopped growing: the day's new items undescribed, the share still high
    stale = (coverage.new_items >= MIN_NEW_ITEMS and coverage.new_described < MIN_METADATA_COVERAGE
             * coverage.new_items)
    counts |= {"new_items": dg.MetadataValue.int(coverage.new_items),
               "new_items_with_metadata": dg.MetadataValue.int(coverage.new_described)}
    return dg.AssetCheckResult(
        check_name="item_metadata_matches_items", passed=passed and not stale, severity=dg.AssetCheckSeverity.WARN,
        metadata=counts, description=found + ("" if passed else (
            f". Items of events without metadata: {', '.join(map(repr, coverage.events_only)) or 'none'}; items "
            f"of the metadata in no event: {', '.join(map(repr, coverage.metadata_only)) or 'none'}. Ids are "
            "compared as exact text (07, 7.0 and 7 differ): is the item metadata's item column the events' item "
            "id, written alike? Its rows rejected are in rejected_item_metadata")) + (
            f". Of the {coverage.new_items:,} items first seen on the day, {coverage.new_described:,} have item "
            "metadata: is the item metadata file delivered with the new items? (a file's rows replace the stored "
            "ones item by item; an item it lacks keeps an earlier load's row, or none)" if stale else ""))


def _categories_split(items: pl.DataFrame | None, config: ItemMetadataConfig | None) -> dg.AssetCheckResult:
    """The check ``item_categories_split``: fails (a warning) where this load's item metadata seems split on the
    wrong separator (:func:`separator_advice`)."""
    if items is None or config is None or not categories_from_text(config):
        return dg.AssetCheckResult(check_name="item_categories_split", passed=True,
                                   severity=dg.AssetCheckSeverity.WARN, description=(
            "no item metadata in this load" if config is None else "not checked: the categories do not come from "
            "a text column (a list column, flag columns or none), which the separator would split"))
    advice = separator_advice(items, config, "item_metadata_categories_separator")
    counts = items["categories"].list.len().fill_null(0)
    return dg.AssetCheckResult(
        check_name="item_categories_split", passed=advice is None, severity=dg.AssetCheckSeverity.WARN,
        description=advice or (f"the categories text is split on {config.categories_separator!r}: "
                               f"{int((counts > 1).sum()):,} of the {int((counts > 0).sum()):,} items with "
                               "categories have two or more"),
        metadata={"items_with_categories": dg.MetadataValue.int(int((counts > 0).sum())),
                  "items_with_several": dg.MetadataValue.int(int((counts > 1).sum())),
                  "separator": dg.MetadataValue.text(config.categories_separator)})


def _events_on_their_day(pattern: str | None, report: LoadReport, accepted: pl.DataFrame,
                         partition: str, warehouse_path: Path) -> dg.AssetCheckResult:
    """The check ``events_on_their_day``: fails (a warning) where the {date} files of one of the day's sources
    (:func:`~elcrec_core.data.source_folders.source_of`; of their ``accepted`` rows) have events, none on the day:
    each such source's files named, with their events' days (the app's file beside the web shop's of
    ``*/{date}.csv`` passed with the others' events: helper-192; a day's hourly parts are one source). Events all in
    the edge hours of a neighbouring day, as a log in local time has, pass, unless other files of the warehouse at
    ``warehouse_path`` hold each of them (another day's file again)."""
    day = date.fromisoformat(partition)
    # a file without times (timestamp_column '', the sequence format) has no days to tell
    sources = sources_of_day(report.files, partition) if pattern is not None and "{date}" in pattern else {}
    dated = accepted.filter(pl.col("timestamp").is_not_null()).select(pl.col("source_file").cast(pl.String),
                                                                      "timestamp")
    end = datetime.combine(day + timedelta(days=1), datetime.min.time())
    off_day = {}
    for files in sources.values():  # each source's files of the day together (an hour's part in local time has
        times = dated.filter(pl.col("source_file").is_in(files))["timestamp"]  # none on the day: helper-198)
        days = sorted(times.dt.date().unique().to_list())
        # a log in local time: an evening's behind UTC, every event in the hours after the day (helper-199), or a
        # morning's ahead of it, in the hours before (helper-202); not dates alone, nor events that another file,
        # loaded, holds (another day's file again, whose events fall in such hours)
        spill, start = timedelta(hours=SPILL_HOURS), end - timedelta(days=1)
        edge = bool(days) and not (times.dt.time() == time(0)).all() and (
            (times.min() >= end and times.max() < end + spill)
            or (times.min() >= start - spill and times.max() < start))
        if days and day not in days and (not edge or held_by_other_files(files, day, warehouse_path)):
            off_day[_first_five([file_name(file, report.files) for file in files])] = (
                f"{'has' if len(files) == 1 else 'have'} {len(times)} events, none on {partition}: they fall on "
                f"{_days(days).value}")
    whose = (f"the file of {partition} ({report.files[0]}) {next(iter(off_day.values()), '')}"
             if len(report.files) == 1 else f"{len(off_day)} of the {len(sources)} sources of {partition}'s files: "
             + "; ".join(f"{files} {text}" for files, text in off_day.items()))
    return dg.AssetCheckResult(
        check_name="events_on_their_day", passed=not off_day, severity=dg.AssetCheckSeverity.WARN,
        description=(f"{whose}. Another day's file delivered again under this day's name? Its events are used once, "
                     "and this day's own are missing until its file is delivered and loaded again") if off_day
        else f"the events of the day's files fall on {partition} (or in its edge hours)" if sources
        else "not judged: the source names no {date} files with times",
        metadata={"days_covered": _days(report.days)})


def _earlier_days_files(pattern: str | None, first: date, partition: str, busy: set[str]) -> dict[str, list[Path]]:
    """The files that ``pattern`` (a source path with ``{date}``) names for each of the :data:`LATE_DAYS` days
    before ``partition`` (from ``first``, the partitions' start), but for the days ``busy`` (runs in progress: a
    backfill's days load in any order), oldest day first; none for a path without ``{date}``."""
    if not pattern or "{date}" not in pattern:
        return {}
    days = [day.isoformat() for day in _days_before(first, partition) if day.isoformat() not in busy]
    return {day: day_files(pattern, day) for day in days}


def _days_before(first: date, partition: str) -> list[date]:
    """The :data:`LATE_DAYS` days before ``partition``, from ``first`` (the partitions' start) on, oldest first: the
    window that ``earlier_days_loaded`` looks at."""
    last = date.fromisoformat(partition)
    return [last - timedelta(days=n) for n in range(min(LATE_DAYS, (last - first).days), 0, -1)]


def _corrected_files(instance: dg.DagsterInstance, earlier: dict[str, list[Path]],
                     warehouse_path: Path) -> tuple[list[Path], list[str]]:
    """The files of ``earlier`` (day -> its files) of a day whose files differ from what the day's newest load in
    this data folder read (their paths, sizes and times, then their bytes:
    :class:`~elcrec_pipeline.resources.FilesNow`): a corrected delivery. Those written after their last load
    (:func:`changed_since_loaded`), else, where that load read the same paths and recorded what it read, the day's
    file, or the day where it has several (a backup put back with its older time, ``cp -p``, is one too, as the sensor
    finds; the load recorded digests of all its files, which cannot tell which: each was named, helper-186): (files,
    days). A copy of the same bytes is none; a file that came since (``never_loaded``) makes none of the others one."""
    corrected, days = [], []
    written = set(changed_since_loaded([file for files in earlier.values() for file in files], warehouse_path))
    read = newest_load_files(warehouse_path)
    for day, files in earlier.items():
        newer = [file for file in files if file in written]
        # the same paths as that load read: a file that came or went since is no file changed (the late note says)
        same = {str(file) for file in files} == read.get(date.fromisoformat(day))
        recorded = _newest_load_metadata(instance, day, warehouse_path) if newer or same else {}
        if (newer or same and "files_version" in recorded) and not FilesNow(files).loaded_by(recorded):
            if newer or len(files) == 1:
                corrected += newer or files
            else:
                days.append(day)
    return corrected, days


def _days_without_files(pattern: str | None, first: date, partition: str, storage: Storage,
                        busy: set[str]) -> list[str]:
    """The days of the :data:`LATE_DAYS` before ``partition`` (from ``first``, the partitions' start), after the
    data folder's first ``{date}`` day loaded (else its first day with events:
    :func:`~elcrec_core.data.load_history.days_with_data`) and but the days ``busy``, for which ``pattern`` (a source
    path with ``{date}``) names no file and of which the warehouse holds nothing: a delivery that never came; none
    for a path without ``{date}``."""
    if not pattern or "{date}" not in pattern:
        return []
    loaded, first_file_day = days_with_data(storage.warehouse)
    since = first_file_day or min(loaded, default=date.fromisoformat(partition))
    return [day.isoformat() for day in _days_before(first, partition) if day > since and day not in loaded
            and day.isoformat() not in busy and not day_files(pattern, day.isoformat())]


def _missing_beside_others(pattern: str | None, first: date, partition: str, warehouse_path: Path) -> list[str]:
    """The files of the :data:`LATE_DAYS` days before ``partition`` (from ``first``, the partitions' start; not of
    the day itself, whose sources may deliver at other hours: helper-198) that one of the sources of ``pattern``
    (``*/{date}.csv``: web/, app/) lacks between its daily deliveries
    (:func:`~elcrec_core.data.source_folders.missing_beside_others`; helper-192: one system's delivery that never
    came passed every check); none for a path without ``{date}``. A file that a load of the warehouse at
    ``warehouse_path`` read was delivered, though moved away since (its rows stay: helper-202)."""
    if not pattern or "{date}" not in pattern:
        return []
    loaded = {day.isoformat(): files for day, files in newest_load_files(warehouse_path).items()}
    # and the day's own files: a later delivery alone
    return missing_beside_others(pattern, [day.isoformat() for day in _days_before(first, partition)] + [partition],
                                 loaded)


def _beside_note(missing: list[str], partition: str) -> str:
    return (f"{len(missing)} file(s) of the {LATE_DAYS} days before {partition} are not on disk, where the day's "
            f"other sources delivered and theirs did on each day of the week before and on a later day (a delivery "
            f"of one system that never came?): {_first_five(missing)}. Their events are in no day's sequences: "
            "deliver them and run their days, then this day again")


def _first_five(names: list) -> str:
    """The first five of ``names``, and how many there are in all where there are more."""
    return ", ".join(map(str, names[:5])) + (f", ... ({len(names)} in all)" if len(names) > 5 else "")


def _late_note(late: list[Path], partition: str) -> str:
    shown = _first_five(late)
    return (f"{len(late)} file(s) of the {LATE_DAYS} days before {partition} are on disk but no load has read them "
            f"(a delivery that came after its day's run, which read the day's other files or failed without it; one "
            f"refused by its checks; a day never run): their events are in no day's sequences. Run their days "
            f"(daily_retrain_job, or a backfill), then this day again: {shown}")


def _corrected_note(corrected: list[Path], days: list[str], partition: str) -> str:
    """The note of files changed since their day's last load: ``corrected`` by name, and the ``days`` of several
    files one of which changed, with its time older than the load (which one, the load's record cannot tell)."""
    named = [f"{len(corrected)} file(s)"] if corrected else []
    named += [f"a file of each of {_first_five(days)} (its time not after the day's load, as a copy that keeps it "
              "writes it: which of the day's files, the load's record cannot tell)"] if days else []
    return (f"{' and '.join(named)} of the {LATE_DAYS} days before {partition} changed since their last load "
            f"(a corrected delivery): the warehouse holds their earlier rows and no day's sequences hold the change. "
            f"Run their days again (daily_retrain_job), then this day again" + (
                f": {_first_five(corrected)}" if corrected else ""))


def _missing_note(missing: list[str], partition: str) -> str:
    shown = _first_five(missing)
    return (f"{len(missing)} day(s) before {partition} have no file and no load (a delivery that never came): "
            f"{shown}. Their events, if any, are in no day's sequences but for those that other days' files hold (a "
            "few, or the edge hours of a neighbouring day's file, as a log in local time has): deliver them (a day "
            "without events: an empty file, with min_rows: 0) and run their days, then this day again")


RAW_COLUMNS = {
    "event_date": "UTC day of the event (without a time: its {date} file's day, else empty)",
    "user_id": "as in the source, as text",
    "item_id": "as in the source, as text", "timestamp": "UTC", "rating": "when the source has one",
    "event_type": "when the source has one",
    "source_file": "the file that the row came from", "source_row": "its row in that file",
    "load_id": "the load that stored it (table loads)",
}
REJECTED_COLUMNS = {
    "user_id": "the row's user id, as text (null: it has none)", "item_id": "its item id, as text (null: none)",
    "timestamp": "its time, UTC, where it could be read (null: none, or unreadable: see detail)",
    "rating": "its rating, where it could be read (null: none, or unreadable)", "event_type": "its event type",
    "source_file": "the file that the row came from", "source_row": "its row in that file",
    "reason": "the row rule it broke", "detail": "what was wrong", "load_id": "the load that read it (table loads)",
}
ITEM_METADATA_COUNTS = {"rows_in": "rows read from the item metadata file", "stored": "items stored or updated",
                        "superseded": "of the rejected rows, earlier rows of an item that a later row of the file "
                                      "replaced (superseded_item)",
                        "rejected": "rows kept in rejected_item_metadata (rows in = stored + rejected)",
                        "kept": "items of earlier loads that this file does not update (it lacks them or rejects "
                                "their row): their earlier row stays"}


def _counts(check: RowCheck) -> dict[str, object]:
    """A load's row counts (rows in = accepted + rejected) and its rejected rows by reason."""
    rows_in, rejected = check.rows_in, len(check.rejected)
    return {"accepted": len(check.accepted), "rejected": rejected, "rows_in": rows_in,
            "rejected_share": metric(rejected / rows_in if rows_in else 0.0),
            "rejected_by_reason": _by_reason(dict(check.by_reason))}


def _tables(storage: Storage) -> dg.TableMetadataValue:
    """The warehouse's tables with their row counts (none before the first load)."""
    counts = warehouse.table_counts(storage.warehouse) if Path(storage.warehouse).exists() else {}
    return table(pl.DataFrame({"table": list(counts), "rows": list(counts.values())},
                              schema={"table": pl.String, "rows": pl.Int64}))


def _by_reason(by_reason: dict[str, int]) -> dg.TableMetadataValue:
    """Rejected rows per reason, most first (as many: by name)."""
    return table(pl.DataFrame({"reason": list(by_reason), "rows": list(by_reason.values())},
                              schema={"reason": pl.String, "rows": pl.Int64}).sort(["rows", "reason"],
                                                                                   descending=[True, False]))


def _days(days: list[date]) -> dg.TextMetadataValue:
    """The event days of a load, as a range ("2026-01-01 to 2026-01-30, 30 days") or "none"."""
    if not days:
        return dg.MetadataValue.text("none")
    first, last = min(days), max(days)
    span = (last - first).days + 1
    gaps = "" if span == len(days) else f" with {span - len(days)} days missing"
    if span == 1:
        return dg.MetadataValue.text(f"{first.isoformat()}, 1 day")
    return dg.MetadataValue.text(f"{first.isoformat()} to {last.isoformat()}, {len(days)} days{gaps}")


@daily_asset(
    pool=WAREHOUSE_POOL,
    retried=True,
    deps=[raw_interactions],
    group_name="ingestion",
    code_version="1",
    kinds={"duckdb"},
    description="Rows that failed the row rules (missing ids, bad or out-of-window timestamps, rating out of "
                "range, exact duplicates, malformed lines), kept with source file, row and reason. Its counts and "
                "sample are the day's files' rows (a {date} source, none before the day's load; all rows "
                "otherwise); the table holds every "
                "file's (dagster/row_count).",
)
def rejected_interactions(context: dg.AssetExecutionContext, storage: Storage) -> dg.MaterializeResult:
    day = date.fromisoformat(context.partition_key) if context.has_partition_key else None
    with (fails_at_once("rejected_interactions (materialize raw_interactions first)", FileNotFoundError),
          warehouse.held(storage.warehouse, read_only=True)):  # three reads on one open warehouse
        by_reason, sample = day_loads.rejected_summary(storage.warehouse, day=day)  # the day's, as its load's
        rejected = warehouse.read_table(storage.warehouse, "rejected_interactions").sort("source_file", "source_row")
        stored = warehouse_table(storage.warehouse, "rejected_interactions", REJECTED_COLUMNS,
                                 partition_rows=sum(by_reason.values()))
    rows = rejected.drop("load_id")  # the rows, not which load stored them: loading again changes no version
    return dg.MaterializeResult(data_version=dg.DataVersion(digest({}, [rows])), metadata={
        "rejected": sum(by_reason.values()),
        "by_reason": _by_reason(by_reason),
        "sample": table(sample, {name: REJECTED_COLUMNS[name] for name in sample.columns}),
        **stored,
        **warehouse_entry(storage.warehouse),  # which data folder's (one instance may run several)
    })
