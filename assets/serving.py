"""Stage 4: which model serves. The promotion gate (:func:`elcrec_core.serve.promotion.gate`) decides whether the day's
candidate, the serving model or a challenger serves; this asset applies the decision to the model store's
aliases, and its ``promotion_gate`` check reports the decision (a WARN when the candidate is refused).

The check is declared on the asset (``check_specs``) rather than as a separate partitioned ``@asset_check``:
partitioned asset checks are a Dagster preview feature that warns on every load."""

import dataclasses
from typing import Any

import dagster as dg

from assets.challengers import challengers
from assets.daily import MODEL_STORE_POOL, PREVIOUS_DAY, daily_asset, run_lineage, warehouse_entry
from assets.metadata import metric, table
from assets.sequences import interaction_sequences
from assets.training import elcrec_model
from elcrec_core.data.sequences import SequenceTensors
from elcrec_core.serve.challengers import stored_ranks
from elcrec_core.serve.model_store import ModelRecord
from elcrec_core.serve.promotion import CANDIDATE, CHAMPION, FLOOR, Contender, gate
from elcrec_core.serve.recommenders import load_recommender, with_recipe
from elcrec_core.train.checkpoint import CheckpointError
from elcrec_core.train.state import data_digest
from elcrec_pipeline.config import PromotionSettings
from elcrec_pipeline.resources import Storage, digest
from elcrec_pipeline.run_config_check import refuse_bad_run_config


@daily_asset(
    # the gate scores every contender on the validation users of the candidate's sequences
    deps=[elcrec_model, challengers, interaction_sequences,
          dg.AssetDep("serving_model", partition_mapping=PREVIOUS_DAY)],
    pool=MODEL_STORE_POOL,
    group_name="serving",
    code_version="4",
    kinds={"pytorch"},
    check_specs=[dg.AssetCheckSpec(
        "promotion_gate", asset="serving_model",
        description="Did the day's candidate pass the promotion gate? A warning, not a failure of the run, when it "
                    "was refused: the serving model keeps serving, or the best challenger serves, and the reason "
                    "is in the metadata.")],
    description="The registry entry that recommendations read: the model store's serving alias after the "
                "promotion gate (champion / challenger) has judged the day's candidate against the serving model "
                "and the challengers, all scored on the same validation users (NDCG@20; a baseline challenger by "
                "the ranks its fit kept). The candidate serves "
                "when every validation user's scores are finite, it was trained on a day not older than the "
                "serving model's nor the newest day whose gate kept or chose it (unless that model gives "
                "non-finite scores, cannot score this data or does not beat most popular on it), it was not "
                "withdrawn by elcrec rollback, it beats most popular and it "
                "is within the tolerance of the best of them (of the others where it is newer than the serving "
                "model and below it within the noise: two paired standard errors), and, where it is the serving "
                "trained model's own day run again on the sequences it trained on, it is above that model by more "
                "than the noise. A trained serving model of sequences built with other sequence settings (its "
                "training items may be these sequences' targets) is left out, as a withdrawn one is: the day's models "
                "alone are judged. Otherwise the serving model stays if it meets the same conditions, else the best "
                "challenger serves (a baseline may serve); the run still "
                "succeeds, and the promotion_gate check and the report say why. The model that served before "
                "becomes 'previous' (elcrec rollback restores it).",
)
def serving_model(context: dg.AssetExecutionContext, config: PromotionSettings,
                  storage: Storage) -> dg.MaterializeResult:
    refuse_bad_run_config(context)  # a run may start here (one asset materialized again)
    store = storage.store
    candidate = storage.require_candidate(context.partition_key, run_lineage(context))
    before = store.serving()
    seqs, _ = storage.read_candidate_sequences(context.partition_key, candidate)
    data = SequenceTensors.from_sequences(seqs)

    sequences = data_digest(seqs)

    def contender(role: str, record: ModelRecord) -> Contender:
        return Contender(role, record, load_recommender(store, record, data, "valid"))

    def rival(record: ModelRecord) -> Contender:
        """A challenger of the candidate, judged by the validation ranks its fit stored on these sequences (a
        baseline: not fitted again), else fitted. The serving model is fitted whatever it stored: it must fit the
        day's data to serve on."""
        if (stored := stored_ranks(store, record, sequences, "valid")) is not None:
            return Contender(record.kind, record, None, stored)
        return contender(record.kind, record)

    rivals = store.challengers(candidate)
    if FLOOR not in {record.kind for record in rivals}:
        raise dg.Failure(f"the candidate {candidate.name} has no most-popular challenger, the gate's floor: "
                         f"materialize challengers for {context.partition_key} first (daily_retrain_job does)",
                         allow_retries=False)
    champion, left_out = None, ""
    if before is not None:
        try:  # a baseline that serves is refitted on the day: an EASE whose catalogue grew past its limit cannot be
            champion = contender(CHAMPION, storage.with_recorded_settings(before))  # an earlier version's: settings
        except (ValueError, CheckpointError) as err:  # unfit, as a model of NaN scores: the others judged alone
            left_out = (f" (the serving model {with_recipe(before.name, before)} was left out: it cannot score this "
                        f"day's data: {err})")  # named as the gate names it; a damaged checkpoint too (helper-234)
            context.log.warning(left_out.strip(" ()"))
    decision = gate(contender(CANDIDATE, candidate), champion,
                    [rival(record) for record in rivals], data, config.tolerance,
                    frozenset(store.withdrawn()),
                    max(store.judged_days(champion.record), default=None) if champion is not None else None)
    decision = dataclasses.replace(decision, reason=decision.reason + left_out, serving=before if champion is not None
                                   and decision.serving is champion.record else decision.serving)  # as stored
    if decision.serving is not None and decision.serving != before:
        store.promote(decision.serving, decision.reason)
    serving = store.serving()
    verdict = {**decision.to_dict(), "candidate": candidate.to_dict(),
               "serving_before": before.to_dict() if before is not None else None,
               "serving": serving.to_dict() if serving is not None else None,
               "serving_log_length": len(store.serving_log())}  # the report sees the rollbacks since
    # what served when this candidate was first judged, kept when it is judged again (the day's backtest)
    verdict["first_gate"] = first_gate(store.decision(candidate)) or {
        key: verdict[key] for key in ("serving_before", "serving_log_length")}
    store.record_decision(candidate, verdict)
    # a refusal is a warning, as the check's (dagster job execute shows a check's evaluation at DEBUG only)
    (context.log.info if decision.promote else context.log.warning)(f"candidate {candidate.name}: {decision.reason}")
    inputs = {"settings": config.model_dump(), "candidate": candidate.name, "before": before and before.name,
              "challengers": sorted(record.name for record in store.challengers(candidate))}
    version = dg.DataVersion(digest(inputs, [storage.sequences_file(context.partition_key)]))
    return dg.MaterializeResult(data_version=version, metadata={
        **warehouse_entry(storage.warehouse),  # which data folder's gate (one instance may run several)
        "serving": serving.name if serving is not None else "none",
        "serving_kind": serving.kind if serving is not None else "none",
        "serving_day": serving.day if serving is not None else "none",
        "candidate": candidate.name,
        "promoted": decision.promote,
        "reason": decision.reason,
        "scores": table([{"model": role, "valid_NDCG@20": decision.scores.get(role), "serves": role == decision.serves}
                         for role in decision.non_finite],  # every contender; a non-finite one without a score
                        {"model": "the role in the gate: candidate, serving (the model that served before) or a "
                                  "challenger"}),
        **_scores(decision.candidate_score, decision.serving_score),
        "serving_before": before.name if before is not None else "none",
        "tolerance": metric(decision.tolerance),
    }, check_results=[_gate_check(candidate, verdict)])


def _gate_check(candidate: ModelRecord, decision: dict) -> dg.AssetCheckResult:
    """The ``promotion_gate`` check's result: the stored decision, reported (it changes nothing)."""
    return dg.AssetCheckResult(
        check_name="promotion_gate",
        passed=bool(decision["promote"]),
        severity=dg.AssetCheckSeverity.WARN,
        description=decision["reason"],
        metadata={"candidate": candidate.name,
                  "serving": ModelRecord.from_dict(decision["serving"]).name if decision["serving"] else "none",
                  "reason": decision["reason"],
                  **_scores(decision["candidate_score"], decision["serving_score"]),
                  "non_finite_users": decision["non_finite_users"]},
    )


def first_gate(decision: dict[str, Any] | None) -> dict[str, Any] | None:
    """Of a candidate's recorded ``decision`` (None: none yet), its first gate: ``{"serving_before",
    "serving_log_length"}`` as they were when it was first judged (a decision of an earlier version: its own,
    the length None where it lacks one)."""
    if decision is None:
        return None
    return decision.get("first_gate") or {"serving_before": decision.get("serving_before"),
                                          "serving_log_length": decision.get("serving_log_length")}


def _scores(candidate: float | None, serving_before: float | None) -> dict[str, dg.FloatMetadataValue]:
    """The gate's validation NDCG@20 of the candidate and of the model that served before, as numbers that the UI
    plots by partition; a score that the gate did not compute is left out (not a text in a numeric series)."""
    scores = {"candidate_valid_NDCG@20": candidate, "serving_before_valid_NDCG@20": serving_before}
    return {name: metric(score) for name, score in scores.items() if score is not None}
