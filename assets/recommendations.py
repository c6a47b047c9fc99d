"""Stage 6: top-K recommendations per user from the serving model."""

import dagster as dg
import numpy as np
import polars as pl
import torch

from assets.partitions import OWNERS, WAREHOUSE_POOL, daily_partitions
from assets.serving import serving_model
from elcrec_core import warehouse
from elcrec_core.checkpoint import item_catalogue, load_model
from elcrec_core.profiling import assign_user_intents
from elcrec_core.recommend import recommend
from elcrec_core.sequences import SequenceTensors
from elcrec_pipeline.config import RecommendationSettings
from elcrec_pipeline.resources import Storage


@dg.asset(
    partitions_def=daily_partitions,
    pool=WAREHOUSE_POOL,
    deps=[serving_model],
    group_name="recommendations",
    owners=OWNERS,
    code_version="1",
    kinds={"pytorch", "duckdb"},
    description="Top-K items per user (history excluded) with scores and the user's intent, from the serving "
                "model over the partition's sequences (whether or not the day's candidate was promoted), in the "
                "warehouse table user_recommendations.",
)
def user_recommendations(context: dg.AssetExecutionContext, config: RecommendationSettings,
                         storage: Storage) -> dg.MaterializeResult:
    serving = storage.require_serving()
    checkpoint = storage.store.checkpoint(serving)
    model, _ = load_model(checkpoint)
    seqs, item_ids = storage.read_sequences(context.partition_key)
    item_ids = item_catalogue(checkpoint, model.cfg.n_items, item_ids)
    data = SequenceTensors.from_sequences(seqs.known(model.cfg.n_items))  # items newer than the model: left out
    items, scores = recommend(model, data, torch.arange(len(seqs)), k=config.top_k)
    intents = assign_user_intents(model, data).intent
    k = items.shape[1]
    frame = pl.DataFrame({
        "user_id": pl.Series(np.repeat(seqs.user_ids, k), dtype=pl.String),
        "rank": np.tile(np.arange(1, k + 1, dtype=np.int32), len(seqs)),
        "item_id": pl.Series(item_ids[items.flatten().numpy() - 1], dtype=pl.String),
        "score": scores.flatten().numpy().astype(np.float64),
        "intent": np.repeat(intents, k).astype(np.int32),
    }).filter(pl.col("score").is_finite())  # a user who has seen all but j < k items gets those j
    warehouse.replace_table(storage.warehouse, "user_recommendations", frame)
    distinct = frame["item_id"].n_unique()
    return dg.MaterializeResult(metadata={
        "users": len(seqs),
        "rows": len(frame),
        "top_k": k,
        "distinct_items_recommended": distinct,
        "catalogue_coverage": distinct / seqs.n_items,
        "model": serving.name,
        "model_day": serving.day,
    })
