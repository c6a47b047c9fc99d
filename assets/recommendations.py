"""Stage 6: top-K recommendations per user from the serving model."""

import dagster as dg
import numpy as np
import polars as pl
import torch

from assets.daily import (WAREHOUSE_POOL, daily_asset, fails_at_once, log_failed_checks, run_lineage,
                          warehouse_entry)
from assets.metadata import metric, table, warehouse_table
from assets.sequences import interaction_sequences
from assets.serving import serving_model
from elcrec_core.config.partitions import partition_end
from elcrec_core.data import warehouse
from elcrec_core.data.events_to_sequences import read_sequence_settings
from elcrec_core.data.seen_items import active_items, seen_items, users_with_events
from elcrec_core.data.sequences import SequenceTensors
from elcrec_core.intents.profiles import assign_user_intents, intent_column
from elcrec_core.serve.recommend import recommend_day
from elcrec_core.serve.recommenders import load_recommender
from elcrec_core.train.checkpoint import item_catalogue, load_model
from elcrec_pipeline.config import RecommendationSettings
from elcrec_pipeline.resources import Storage, digest
from elcrec_pipeline.run_config_check import refuse_bad_run_config


@daily_asset(
    pool=WAREHOUSE_POOL,
    deps=[serving_model, interaction_sequences],  # the lists are of the day's sequences' users
    group_name="recommendations",
    code_version="5",
    kinds={"pytorch", "duckdb"},
    check_specs=[dg.AssetCheckSpec(
        "complete_lists", asset="user_recommendations",
        description="Did every user get top_k items (or every item it has not seen, where fewer are left)? A user "
                    "short of them had a NaN or infinite score from the serving model for an item it has not "
                    "seen: such scores are never served, so the user gets fewer items or none. An error (the run "
                    "still succeeds and the table holds the finite rows): look at the model; elcrec rollback "
                    "restores the one that served before.")],
    description="Top-K items per user (history excluded: every item the user has an event with up to the day, of "
                "the sequences' event types, also those min_rating or k-core left out) with scores and the user's "
                "intent, from the serving model over the partition's sequences and the short histories of the users "
                "its k-core removed (their events on items of the sequences), whether or not the day's candidate "
                "was promoted (a baseline that serves is refitted on every item of the sequences), in the warehouse "
                "table user_recommendations; with active_days, only items with an event in that many days up to the "
                "day's end (still on offer). "
                "The intent is the user's nearest centre under the ELCRec model of intent_profiles (null for a user "
                "with no item that model knows). The table "
                "belongs to the newest day: a day older than the day whose rows it holds (a backfill) leaves it as it "
                "is (one without a model of its own fails, as its report does).",
)
def user_recommendations(context: dg.AssetExecutionContext, config: RecommendationSettings,
                         storage: Storage) -> dg.MaterializeResult:
    refuse_bad_run_config(context)  # a run may start here (one asset materialized again)
    partition = context.partition_key
    # the table serves the newest day's users and histories
    if newer := storage.newer_day_in("user_recommendations", partition):
        storage.require_candidate(partition, run_lineage(context))  # a day without a model is not done
        context.log.info(f"user_recommendations holds {newer}'s recommendations, a newer day: left as it is")
        return dg.MaterializeResult(data_version=dg.DataVersion(digest({"left_to": newer})),
                                    metadata={"written": False, "newer_day": newer,  # the table as it is
                                              **warehouse_entry(storage.warehouse),  # (helper-232: its Overview
                                              **warehouse_table(storage.warehouse, "user_recommendations",  # lost
                                                                RECOMMENDATION_COLUMNS, as_it_is=True)},  # rows)
                                    check_results=[dg.AssetCheckResult(
                                        check_name="complete_lists", passed=True,
                                        description=f"not judged: the table holds {newer}'s lists, a newer day",
                                        metadata={"written": False, "newer_day": newer})])
    store = storage.store
    serving = storage.require_serving()
    seqs, item_ids = storage.read_sequences(partition)
    short = storage.read_short_histories(partition)  # the users the k-core removed
    users = seqs.concat(short)
    # every item a user has an event with up to the day (of the sequences' event types), also those min_rating or
    # k-core left out of the sequences
    event_types = read_sequence_settings(storage.sequences_dir(partition)).event_types
    with fails_at_once(f"the serving model {serving.name} cannot score the data of {partition} (materialize "
                       "serving_model for the day: the gate replaces a model that cannot)", ValueError):
        rec = load_recommender(store, serving, SequenceTensors.from_sequences(seqs), "all")
    if serving.trained:  # a checkpoint knows the items of its day: newer items are left out of its input, and
        item_ids = item_catalogue(store.checkpoint(serving), rec.n_items, item_ids)  # it may know more than the day
    seen = SequenceTensors.from_sequences(seen_items(storage.warehouse, partition_end(partition), users.user_ids,
                                                     item_ids, event_types))  # of every item the model scores
    offered = _items_on_offer(config.active_days, storage, partition, item_ids[:rec.n_items], event_types)
    items, scores, missing, non_finite = recommend_day(rec, seqs, short, config.top_k, seen,
                                                       None if offered is None else torch.from_numpy(offered))
    missing, non_finite = missing.numpy(), non_finite.numpy()
    listed = torch.isfinite(scores).sum(dim=1).numpy()  # each user's list: a user who has seen all but j < k items
    # of those on offer gets j, none where they have seen them all (without a word: helper-171)
    intent_record = storage.intent_model(partition, run_lineage(context))
    intent_model = load_model(store.checkpoint(intent_record), finite=False)[0]
    intents = assign_user_intents(intent_model, users)
    k = items.shape[1]
    frame = pl.DataFrame({
        "user_id": pl.Series(np.repeat(users.user_ids, k), dtype=pl.String),
        "rank": np.tile(np.arange(1, k + 1, dtype=np.int32), len(users)),
        "item_id": pl.Series(item_ids[items.flatten().numpy() - 1], dtype=pl.String),
        "score": scores.flatten().numpy().astype(np.float64),
        "intent": intent_column(np.repeat(intents.intent, k)),  # null: no item the intent model knows
        "model": pl.Series([f"{serving.name} ({serving.kind})"] * (len(users) * k), dtype=pl.String),
        "partition": pl.Series([partition] * (len(users) * k), dtype=pl.String),
    }).filter(pl.col("score").is_finite())  # a user who has seen all but j < k items gets those j
    warehouse.replace_table(storage.warehouse, "user_recommendations", frame)
    distinct = frame["item_id"].n_unique()
    first_users = frame["user_id"].unique(maintain_order=True).head(SAMPLE_USERS)  # their lists: the sample
    inputs = {"settings": config.model_dump(), "model": serving.name, "intent_model": intent_record.name}
    short_file = storage.short_histories_file(partition)  # none: a day built by an earlier version
    version = dg.DataVersion(digest(inputs, [storage.sequences_file(partition)] + [short_file] * short_file.exists()))
    complete = _complete_lists(users.user_ids, missing, non_finite, serving.name)
    log_failed_checks(context, [complete])
    return dg.MaterializeResult(data_version=version, metadata={
        **warehouse_entry(storage.warehouse),  # which data folder's (one instance may run several)
        "written": True,
        "model": serving.name,
        "model_kind": serving.kind,
        "model_day": serving.day,
        "intent_model": intent_record.name,
        "users": len(users),
        # of them, the users the k-core removed: their lists come from their events on items of the sequences
        "users_from_short_histories": len(users) - len(seqs),
        # users with events whose events left no sequence (filters, k-core) and no short history: they get no list
        "users_without_sequence": max(0, users_with_events(storage.warehouse, partition_end(partition)) - len(users)),
        "rows": len(frame),
        "top_k": k,
        "distinct_items_recommended": distinct,
        # the model's items that may be recommended: all, or those with an event in the last active_days days
        "items_on_offer": dg.MetadataValue.int(len(item_ids) if offered is None else int(offered.sum())),
        "catalogue_coverage": metric(distinct / seqs.n_items),
        "sample": table(frame.filter(pl.col("user_id").is_in(first_users.implode())), RECOMMENDATION_COLUMNS),
        **warehouse_table(storage.warehouse, "user_recommendations", RECOMMENDATION_COLUMNS),
        "users_missing_recommendations": int((missing > 0).sum()),
        "users_with_non_finite_scores": int((non_finite > 0).sum()),  # never served: complete_lists fails
        # users with a list; users with fewer than top_k items because they have seen all but fewer of those on
        # offer (none where they have seen every one), apart from the non-finite scores above
        "users_listed": int((listed > 0).sum()),
        "users_without_list": int((listed == 0).sum()),  # every item on offer seen, or no finite score
        "users_with_short_lists": int((listed + missing < k).sum()),
    }, check_results=[complete])


def _items_on_offer(days: int | None, storage: Storage, partition: str, item_ids: np.ndarray,
                    event_types: list[str] | tuple[str, ...] | None) -> np.ndarray | None:
    """Which of the model's ``item_ids`` may be recommended under the setting ``active_days`` (``days``): those with
    an event of ``event_types`` in the ``days`` days up to the end of ``partition``; None (every item) without it.
    A setting that leaves no item fails the step, naming it: no list would be served."""
    if days is None:
        return None
    offered = active_items(storage.warehouse, partition_end(partition), days, item_ids, event_types)
    if not offered.any():
        raise dg.Failure(f"active_days {days}: none of the model's {len(item_ids)} items has an event in the {days} "
                         f"day(s) up to the end of {partition}, so no item could be recommended; a larger "
                         "active_days (run config ops.user_recommendations.config), or none, serves lists (events "
                         "without a time count on their {date} file's day: a source with neither has no days, and "
                         "active_days cannot apply to it)", allow_retries=False)
    return offered


def _complete_lists(user_ids: np.ndarray, missing: np.ndarray, non_finite: np.ndarray,
                    model: str) -> dg.AssetCheckResult:
    """The ``complete_lists`` check: fails where the serving ``model`` gave some users NaN or infinite scores
    (``non_finite[u]`` of user ``user_ids[u]``), which are never served, whether or not they cost the user's list
    items: ``missing[u]`` recommendations lost to them (:func:`elcrec_core.serve.recommend.missing_recommendations`).
    A model refitted to serve that scores one item NaN for everyone gave whole lists without it (helper-211)."""
    short, broken = np.flatnonzero(missing > 0), np.flatnonzero(non_finite > 0)
    lost = (f"{len(short)} of them get fewer recommendations than they should ({int(missing.sum())} missing)"
            if len(short) else "their lists are whole: the items so scored were left out")
    return dg.AssetCheckResult(
        check_name="complete_lists", passed=len(broken) == 0, severity=dg.AssetCheckSeverity.ERROR,
        description=f"every user's scores from {model} are finite: every list is whole" if len(broken) == 0 else (
            f"{model} gives {len(broken)} users NaN or infinite scores ({int(non_finite.sum())} in all), which are "
            f"never served; {lost}"),
        metadata={"users_with_non_finite_scores": len(broken), "non_finite_scores": int(non_finite.sum()),
                  "users_missing_recommendations": len(short), "recommendations_missing": int(missing.sum()),
                  "first_users": ", ".join(str(u) for u in user_ids[(short if len(short) else broken)[
                      :SAMPLE_USERS * 3]]) or "none"})


SAMPLE_USERS = 3
RECOMMENDATION_COLUMNS = {"user_id": "as in the source", "rank": "1 = the best", "item_id": "as in the source",
                          "score": "the serving model's score (higher is better)",
                          "intent": "the user's nearest intent under the intent model (null: no item it knows)",
                          "model": "the model that served them: <day>/<run id>[/<challenger>] (<kind>)",
                          "partition": "the day whose sequences (every history up to its end) they were made from"}
