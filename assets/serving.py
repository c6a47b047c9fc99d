"""Stage 4: which model serves. The promotion gate (:func:`elcrec_core.promotion.gate`) decides whether the day's
candidate replaces the serving model; this asset applies the decision to the model store's aliases, and the
``promotion_gate`` check reports it without changing anything."""

import dagster as dg

from assets.partitions import OWNERS, PREVIOUS_DAY, daily_partitions
from assets.training import elcrec_model
from elcrec_core.checkpoint import load_model
from elcrec_core.model_store import ModelRecord
from elcrec_core.promotion import gate
from elcrec_core.sequences import SequenceTensors
from elcrec_pipeline.config import PromotionSettings
from elcrec_pipeline.resources import Storage


@dg.asset(
    partitions_def=daily_partitions,
    deps=[elcrec_model, dg.AssetDep("serving_model", partition_mapping=PREVIOUS_DAY)],
    group_name="serving",
    owners=OWNERS,
    code_version="1",
    kinds={"pytorch"},
    description="The registry entry that recommendations read: the model store's serving alias after the "
                "promotion gate has judged the day's candidate. The candidate serves when every validation "
                "user's scores are finite, it was trained on a day not older than the serving model's, and its "
                "validation NDCG@20 is not below the serving model's by more than the tolerance (both scored now "
                "on the same users). Otherwise the serving model stays, and the run still succeeds: the "
                "promotion_gate check and the report say why. The model that served before becomes 'previous' "
                "(elcrec rollback restores it).",
)
def serving_model(context: dg.AssetExecutionContext, config: PromotionSettings,
                  storage: Storage) -> dg.MaterializeResult:
    store = storage.store
    candidate = storage.require_candidate(context.partition_key)
    before = store.serving()
    seqs, _ = storage.read_sequences(context.partition_key)
    decision = gate(load_model(store.checkpoint(candidate))[0], candidate.day,
                    load_model(store.checkpoint(before))[0] if before is not None else None,
                    before.day if before is not None else None, SequenceTensors.from_sequences(seqs),
                    config.tolerance)
    if decision.promote:
        store.promote(candidate, decision.reason)
    serving = store.serving()
    store.record_decision(candidate, {**decision.to_dict(), "candidate": candidate.to_dict(),
                                      "serving_before": before.to_dict() if before is not None else None,
                                      "serving": serving.to_dict() if serving is not None else None})
    context.log.info(f"candidate {candidate.name}: {decision.reason}")
    return dg.MaterializeResult(metadata={
        "serving": serving.name if serving is not None else "none",
        "serving_day": serving.day if serving is not None else "none",
        "candidate": candidate.name,
        "promoted": decision.promote,
        "reason": decision.reason,
        "candidate_valid_NDCG@20": decision.candidate_score,
        "serving_before_valid_NDCG@20": decision.serving_score if decision.serving_score is not None else "none",
        "serving_before": before.name if before is not None else "none",
        "tolerance": decision.tolerance,
    })


@dg.asset_check(
    asset=serving_model,
    partitions_def=daily_partitions,
    description="Did the day's candidate pass the promotion gate? A warning, not a failure of the run, when it was "
                "refused: the serving model keeps serving, and the reason is in the metadata.",
)
def promotion_gate(context: dg.AssetCheckExecutionContext, storage: Storage) -> dg.AssetCheckResult:
    candidate = storage.require_candidate(context.partition_key)
    decision = storage.store.decision(candidate)
    if decision is None:
        raise dg.Failure(f"the candidate {candidate.name} has no decision: materialize serving_model first")
    return dg.AssetCheckResult(
        passed=bool(decision["promote"]),
        severity=dg.AssetCheckSeverity.WARN,
        description=decision["reason"],
        metadata={"candidate": candidate.name,
                  "serving": ModelRecord.from_dict(decision["serving"]).name if decision["serving"] else "none",
                  "reason": decision["reason"],
                  "candidate_valid_NDCG@20": decision["candidate_score"],
                  "serving_before_valid_NDCG@20": decision["serving_score"]
                  if decision["serving_score"] is not None else "none",
                  "non_finite_users": decision["non_finite_users"]},
    )
