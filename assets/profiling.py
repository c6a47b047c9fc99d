"""Stage 5: cluster-intent profiles: which learned intent each user belongs to, and what each intent is."""

import dagster as dg
import numpy as np
import polars as pl
import torch.nn.functional as F

from assets.daily import WAREHOUSE_POOL, daily_asset, run_lineage, warehouse_entry
from assets.metadata import figure, metric, table, warehouse_table
from assets.sequences import interaction_sequences
from assets.serving import serving_model
from elcrec_core.data import warehouse
from elcrec_core.evaluate.statistics import category_lift, category_purity, item_lift, planted_agreement
from elcrec_core.intents.profiles import (
    NO_INTENT,
    UserIntents,
    assign_user_intents,
    intent_column,
    intent_sizes,
    item_categories,
    placed_interactions,
    summarise_intents,
)
from elcrec_core.report.plots import intent_map, intent_sizes_chart
from elcrec_core.serve.promotion import below_floor
from elcrec_core.train.checkpoint import load_model
from elcrec_pipeline.config import ProfileSettings
from elcrec_pipeline.resources import Storage, digest
from elcrec_pipeline.run_config_check import refuse_bad_run_config


@daily_asset(
    pool=WAREHOUSE_POOL,
    deps=[serving_model, interaction_sequences],  # the intents are of the day's sequences' users
    group_name="reports",
    code_version="7",
    kinds={"pytorch", "duckdb"},
    description="Each user's intent under the serving ELCRec model (when a challenger serves: the newest "
                "ELCRec model that served, else the day's candidate): the nearest learned centre to the sequence "
                "representation, its squared distance (0 to 4, both normalised), the runner-up, in the warehouse "
                "table user_intents (nulls for a user with no item the model knows: left out of every figure; "
                "history: sequence, or short for a user the k-core removed, from their events on the sequences' "
                "items as their recommendations are made, left out of the profiles' figures); per "
                "intent its users, cohesion, nearest other intent and the items that characterise it (by the "
                "lower bound of the 95% interval of their lift over global popularity, with titles when item "
                "metadata exists) in "
                "intent_profiles; with item categories "
                "(genres) also its top categories by lift and its category purity, and the intents' category "
                "purity against shuffled assignments of the same sizes (table intent_category_purity); a 2-D "
                "map and the size chart (in `profiles/<day>/`); agreement with the planted intents on synthetic "
                "data. The tables belong to the newest day: a day older than the day whose rows they hold (a "
                "backfill) leaves them as they are (one without a model of its own fails, as its report does).",
)
def intent_profiles(context: dg.AssetExecutionContext, config: ProfileSettings,
                    storage: Storage) -> dg.MaterializeResult:
    refuse_bad_run_config(context)  # a run may start here (one asset materialized again)
    partition = context.partition_key
    if newer := storage.newer_day_in("user_intents", partition):  # the tables describe the newest day's users
        storage.require_candidate(partition, run_lineage(context))  # a day without a model is not done
        context.log.info(f"the intent tables hold {newer}'s profiles, a newer day: left as they are")
        return dg.MaterializeResult(data_version=dg.DataVersion(digest({"left_to": newer})),
                                    metadata={"written": False, "newer_day": newer,  # the table as it is
                                              **warehouse_entry(storage.warehouse),  # (helper-232)
                                              **warehouse_table(storage.warehouse, "intent_profiles",
                                                                PROFILE_COLUMNS, as_it_is=True)})
    profiled = storage.intent_model(partition, run_lineage(context))  # the serving ELCRec model, or the newest served
    if unfit := below_floor(storage.store.decision(profiled)):  # no ELCRec model that stands has served
        context.log.warning(f"the intents are those of {profiled.name}, the day's candidate (no ELCRec model that "
                            f"still stands has served), which the gate found unfit: {unfit}; they tell little of the "
                            "users' interests")
    model, _ = load_model(storage.store.checkpoint(profiled), finite=False)  # unfit: said below
    seqs, item_ids = storage.read_sequences(partition)
    assigned = assign_user_intents(model, seqs)  # users with no item the model knows: no intent, counted nowhere
    short = storage.read_short_histories(partition)  # the users the k-core removed: in user_intents alone
    short_assigned = assign_user_intents(model, short)
    summary = summarise_intents(assigned, F.normalize(model.centres.detach().float(), dim=1).numpy())
    users, items = placed_interactions(assigned, seqs)
    lift = item_lift(assigned.intent, users, items)
    lift = lift.with_columns(item_id=pl.Series(item_ids[lift["item"].to_numpy() - 1], dtype=pl.String))
    item_metadata = warehouse.read_table(storage.warehouse, "item_metadata").sort("item_id")
    profiles = summary.per_intent.join(_describe(lift, item_metadata), on="intent", how="left", maintain_order="left")
    categories = item_categories(storage.warehouse, item_ids)
    purity = category_purity(assigned.intent, users, items, categories) if not categories.is_empty() else None
    profiles = profiles.join(_categories(assigned.intent, users, items, categories, purity), on="intent", how="left",
                             maintain_order="left")
    out = storage.profiles_dir(partition)
    sizes = intent_sizes(assigned.intent, model.cfg.n_intents)
    placed = assigned.only_placed()
    map_png = intent_map(placed.representation, placed.intent, out / "intent_map.png", config.map_method,
                         config.map_sample)
    sizes_png = intent_sizes_chart(sizes, out / "intent_sizes.png")
    # the tables once everything is computed, in one transaction: a failure above, or a warehouse locked past the
    # wait (a retry), leaves all three as they were, never one replaced (of another day than the others)
    user_ids = pl.Series(seqs.user_ids, dtype=pl.String)
    whose = [pl.lit(partition, pl.String).alias("partition"),  # which day and model the intents are of
             pl.lit(profiled.name, pl.String).alias("model")]
    warehouse.replace_tables(storage.warehouse, {
        "user_intents": pl.concat([_intent_rows(seqs.user_ids, assigned, "sequence"),
                                   _intent_rows(short.user_ids, short_assigned, "short")]).with_columns(whose),
        "intent_profiles": profiles.with_columns(whose),
        # one row for these profiles; none without item categories (no stale numbers of an earlier model)
        "intent_category_purity": pl.DataFrame([] if purity is None else [{
            "partition": partition, "model": profiled.name, "category_purity": purity.purity,
            "shuffled_category_purity": purity.shuffled, "shuffled_std": purity.shuffled_std,
            "shuffles": purity.shuffles, "users": int(purity.per_intent["users"].sum()),
            "interactions": int(purity.per_intent["interactions"].sum())}], schema={
            "partition": pl.String, "model": pl.String, "category_purity": pl.Float64,
            "shuffled_category_purity": pl.Float64, "shuffled_std": pl.Float64, "shuffles": pl.Int64,
            "users": pl.Int64, "interactions": pl.Int64})})

    metadata = {
        "written": True,
        "model": profiled.name,
        "model_unfit": unfit or "no",  # below the gate's floor (helper-194)
        "users": len(seqs),
        "users_without_intent": int((~assigned.placed).sum()),  # no item the model knows
        "short_history_users": len(short),  # in user_intents, not in the profiles' figures
        "intents": model.cfg.n_intents,
        "intents_used": summary.used,
        "dead_intents": summary.dead,
        "largest_intents": _largest(profiles, with_categories=purity is not None),
        "users_per_intent": table([summary.size_quantiles], {  # quantiles over the used intents (helper-232)
            name: f"{what} of the users per intent, over the {summary.used} intents that hold users"
            for name, what in zip(summary.size_quantiles, ("the fewest", "the 25th percentile", "the median",
                                                           "the 75th percentile", "the most"))}),
    }
    if summary.silhouette is not None:
        metadata["silhouette"] = metric(summary.silhouette)
    if purity is not None:
        metadata |= {"category_purity": metric(purity.purity), "shuffled_category_purity": metric(purity.shuffled)}
    planted = _planted(storage, user_ids, assigned.intent)
    if planted is not None:
        metadata |= {"planted_NMI": metric(planted.nmi), "planted_ARI": metric(planted.ari),
                     "shuffled_NMI": metric(planted.shuffled_nmi), "shuffled_ARI": metric(planted.shuffled_ari)}
    metadata |= {"intent_map": figure(map_png, "Users by intent"), "intent_sizes": figure(sizes_png, "Intent sizes"),
                 **warehouse_table(storage.warehouse, "intent_profiles", PROFILE_COLUMNS),
                 **warehouse_entry(storage.warehouse)}  # which data folder's (one instance may run several)
    short_file = storage.short_histories_file(partition)  # none: a day built by an earlier version
    inputs = [storage.sequences_file(partition), item_metadata] + [short_file] * short_file.exists()
    version = dg.DataVersion(digest({"settings": config.model_dump(), "model": profiled.name}, inputs))
    return dg.MaterializeResult(data_version=version, metadata=metadata)


PROFILE_COLUMNS = {
    "intent": "index of the learned intent (its centre)", "users": "users whose nearest centre it is",
    "partition": "the day whose sequences were profiled",
    "model": "the ELCRec model whose centres the intents are (<day>/<run id>)",
    "cohesion": "mean squared distance of its users to the centre (null: no users)",
    "nearest_intent": "the closest other centre that holds users (null: none does)",
    "top_items": "items that characterise it: highest lower bound of their lift's 95% interval (items picked at "
                 "least 3 times by its users)",
    "top_lift": "their lifts (share of the item's interactions by its users over its share of all interactions)",
    "top_lift_low": "the lower bounds of their lifts' 95% intervals (Clopper-Pearson), by which they are ranked",
    "top_titles": "their titles, in the same order (item metadata; null where an item has none)",
    "top_categories": "its 5 categories of highest lift (item metadata; categories its users picked at least 3 "
                      "times; below 1: picked less often than by everybody)",
    "top_category_lift": "their lifts",
    "main_category": "its most frequent category",
    "category_purity": "share of its described interactions (with an item that has a category) in main_category",
}


def _intent_rows(user_ids: np.ndarray, assigned: UserIntents, history: str) -> pl.DataFrame:
    """Rows of the table user_intents for ``user_ids`` and their ``assigned`` intents, from a ``history`` of each
    user (``sequence``; ``short``: the short history of a user the k-core removed)."""
    return pl.DataFrame({
        "user_id": pl.Series(user_ids, dtype=pl.String), "intent": intent_column(assigned.intent),
        "distance": pl.Series(assigned.distance.astype(np.float64), nan_to_null=True),
        "runner_up": intent_column(assigned.runner_up),
        "history": pl.Series([history] * len(user_ids), dtype=pl.String),
    })


def _largest(profiles: pl.DataFrame, with_categories: bool, n: int = 10) -> dg.TableMetadataValue:
    """The ``n`` largest intents that hold users: size, cohesion, nearest intent, top items (and their first 5
    titles when items have titles; with item categories, the top categories of lift above 1), largest first (ties:
    lower intent first). One without items frequent enough for a lift says so instead of an empty cell; those
    without users are left out (dead_intents counts them: they padded the table, helper-232)."""
    columns = [pl.col("top_items").list.join(LISTED).fill_null(NO_TOP_ITEMS).alias("top_items")]
    if profiles["top_titles"].list.drop_nulls().list.len().fill_null(0).sum() > 0:
        titles = pl.col("top_titles").list.head(5).list.eval(pl.element().fill_null("(no title)"))
        columns.append(titles.list.join(LISTED).fill_null(""))
    if with_categories:  # sorted by lift: the first ones, as many as have a lift above 1
        above_1 = pl.col("top_category_lift").list.eval(pl.element() > 1).list.sum()
        columns.append(pl.col("top_categories").list.head(above_1).list.join(LISTED).fill_null(""))
    largest = profiles.filter(pl.col("users") > 0).sort(["users", "intent"], descending=[True, False]).head(n).select(
        "intent", "users", "cohesion", "nearest_intent", *columns)
    return table(largest, {name: LARGEST_COLUMNS.get(name, PROFILE_COLUMNS[name]) for name in largest.columns})


LARGEST_COLUMNS = {  # where the largest_intents table shows less than intent_profiles
    "top_titles": "the titles of its first 5 top items (item metadata)",
    "top_categories": "its top categories with a lift above 1: its users pick them more often than everybody does",
}


NO_TOP_ITEMS = "(no item frequent enough)"
LISTED = " | "  # between the items, titles or categories of a cell: a title holds commas (ml-100k's "Godfather, The")


def _describe(lift: pl.DataFrame, item_metadata: pl.DataFrame) -> pl.DataFrame:
    """Per intent: its top items by their lift's lower bound, with their titles where ``item_metadata`` (the
    warehouse's table) has them."""
    described = lift.join(item_metadata.select("item_id", "title"), on="item_id", how="left", maintain_order="left")
    return described.group_by("intent", maintain_order=True).agg(
        top_items=pl.col("item_id"), top_lift=pl.col("lift"), top_lift_low=pl.col("lift_low"),
        top_titles=pl.col("title"))  # null: no title


def _categories(intents: np.ndarray, users: np.ndarray, items: np.ndarray, categories: pl.DataFrame,
                purity) -> pl.DataFrame:
    """Per intent: its top categories by lift (with their lifts), its most frequent category and its category
    purity; empty columns without item categories."""
    schema = {"intent": pl.Int64, "top_categories": pl.List(pl.String), "top_category_lift": pl.List(pl.Float64),
              "main_category": pl.String, "category_purity": pl.Float64}
    if purity is None:
        return pl.DataFrame(schema=schema)
    lift = category_lift(intents, users, items, categories).group_by("intent", maintain_order=True).agg(
        top_categories=pl.col("category"), top_category_lift=pl.col("lift"))
    main = purity.per_intent.select("intent", "main_category", pl.col("purity").alias("category_purity"))
    return main.join(lift, on="intent", how="full", coalesce=True).select(
        pl.col(name).cast(dtype) for name, dtype in schema.items())


def _planted(storage: Storage, user_ids: pl.Series, learned: np.ndarray):
    """NMI/ARI against the planted intents that the synthetic source stores (over the users that have an intent),
    or None for real data."""
    truth = warehouse.read_table(storage.warehouse, "planted_intents", ("user_id", "primary_intent"))
    if truth is None:
        return None
    joined = (pl.DataFrame({"user_id": user_ids, "learned": learned}).filter(pl.col("learned") != NO_INTENT)
              .join(truth, on="user_id"))
    if len(joined) < 2:  # NMI and ARI of one user (or none) are 1: no evidence
        return None
    return planted_agreement(joined["primary_intent"].to_numpy(), joined["learned"].to_numpy())
