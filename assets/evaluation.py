"""Stage 4: the evaluation report of the partition's new model."""

from pathlib import Path

import dagster as dg

from assets.partitions import OWNERS, daily_partitions
from assets.training import elcrec_model
from elcrec_core.baselines import popularity_metrics
from elcrec_core.checkpoint import load_model
from elcrec_core.evaluation import evaluate
from elcrec_core.reports import markdown_table
from elcrec_core.sequences import SequenceTensors
from elcrec_pipeline.config import EvaluationSettings
from elcrec_pipeline.resources import Storage


@dg.asset(
    partitions_def=daily_partitions,
    deps=[elcrec_model],
    group_name="reports",
    owners=OWNERS,
    code_version="1",
    kinds={"pytorch", "markdown"},
    description="Full-ranking leave-one-out test HR@K and NDCG@K (K = 5, 10, 20) of the new model beside the "
                "current promoted model and the most-popular baseline, on the same split; written as report.md "
                "into the model's folder.",
)
def evaluation_report(context: dg.AssetExecutionContext, config: EvaluationSettings,
                      storage: Storage) -> dg.MaterializeResult:
    partition = context.partition_key
    candidate = storage.require_latest_model(partition)
    seqs, _ = storage.read_sequences(partition)
    data = SequenceTensors.from_sequences(seqs)
    split = config.split
    rows = [{"model": "new (ELCRec)", **evaluate(load_model(candidate["checkpoint"])[0], data, split)}]
    current = storage.current_model()
    if config.include_current_model and current is not None and current["checkpoint"] != candidate["checkpoint"]:
        rows.append({"model": f"current ({current['partition']})",
                     **evaluate(load_model(current["checkpoint"])[0], data, split)})
    rows.append({"model": "most popular", **popularity_metrics(data, split)})
    table = markdown_table(rows)
    report = (f"# Evaluation report {partition}\n\n{len(seqs)} users, {seqs.n_items} items; full ranking, "
              f"history excluded, leave-one-out {split} split.\n\n{table}\n")
    path = Path(candidate["dir"]) / "report.md"
    path.write_text(report)
    lift = rows[0]["HR@20"] - rows[-1]["HR@20"]
    return dg.MaterializeResult(metadata={
        "report": dg.MetadataValue.md(table),
        "path": dg.MetadataValue.path(str(path)),
        f"{split}_HR@20": rows[0]["HR@20"],
        f"{split}_NDCG@20": rows[0]["NDCG@20"],
        "popularity_HR@20": rows[-1]["HR@20"],
        "HR@20_over_popularity": lift,
    })
