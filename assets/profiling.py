"""Stage 5: cluster-intent profiles: which learned intent each user belongs to."""

import dagster as dg
import numpy as np
import polars as pl

from assets.partitions import OWNERS, daily_partitions
from assets.training import elcrec_model
from elcrec_core import warehouse
from elcrec_core.checkpoint import load_model
from elcrec_core.profiling import assign_user_intents, intent_sizes
from elcrec_core.reports import markdown_table
from elcrec_core.sequences import SequenceTensors
from elcrec_pipeline.resources import Storage


@dg.asset(
    partitions_def=daily_partitions,
    deps=[elcrec_model],
    group_name="reports",
    owners=OWNERS,
    code_version="1",
    kinds={"pytorch", "duckdb"},
    description="Each user's intent under the new model (nearest learned centre to the sequence "
                "representation, with its distance and the runner-up) in the warehouse table user_intents, and "
                "the size of every intent.",
)
def intent_profiles(context: dg.AssetExecutionContext, storage: Storage) -> dg.MaterializeResult:
    partition = context.partition_key
    candidate = storage.require_latest_model(partition)
    model, _ = load_model(candidate["checkpoint"])
    seqs, _ = storage.read_sequences(partition)
    intents = assign_user_intents(model, SequenceTensors.from_sequences(seqs))
    frame = pl.DataFrame({
        "user_id": pl.Series(seqs.user_ids, dtype=pl.String),
        "intent": intents.intent.astype(np.int32),
        "distance": intents.distance.astype(np.float64),
        "runner_up": intents.runner_up.astype(np.int32),
    })
    warehouse.replace_table(storage.warehouse, "user_intents", frame)
    sizes = intent_sizes(intents.intent, model.cfg.n_intents)
    largest = np.argsort(-sizes)[:10]
    return dg.MaterializeResult(metadata={
        "users": len(frame),
        "intents": model.cfg.n_intents,
        "intents_used": int((sizes > 0).sum()),
        "dead_intents": int((sizes == 0).sum()),
        "largest_intents": dg.MetadataValue.md(markdown_table(
            [{"intent": int(i), "users": int(sizes[i]), "share": float(sizes[i] / len(frame))} for i in largest])),
    })
