"""Stage 3b: the challengers of the day's candidate (SASRec, most popular, item transition, EASE), fitted on the
same sequences and stored beside it (:func:`elcrec_core.serve.challengers.fit_challengers`)."""

import dagster as dg

from assets.daily import MODEL_STORE_POOL, daily_asset, fails_at_once, run_lineage, warehouse_entry
from assets.metadata import metric, table
from assets.sequences import interaction_sequences
from assets.training import elcrec_model
from elcrec_core.evaluate.baselines import ease_lambdas
from elcrec_core.serve.challengers import fit_challengers
from elcrec_pipeline.config import ChallengerSettings
from elcrec_pipeline.resources import ComputeDevice, Storage, digest
from elcrec_pipeline.run_config_check import refuse_bad_run_config


@daily_asset(
    deps=[elcrec_model, interaction_sequences],  # fitted on the candidate's sequences
    pool=MODEL_STORE_POOL,
    group_name="training",
    retried=True,
    code_version="5",
    kinds={"pytorch", "scipy"},
    description="The models the day's candidate competes with for serving (champion / challenger): SASRec (the "
                "candidate's settings and budget without the intent parts, warm-started as the candidate was), "
                "most popular, item transition and EASE (λ chosen on valid; item-kNN, its k chosen on valid, "
                "above EASE's 30,000 items), each fitted on each user's "
                "items[:-2] as the candidate was trained. Stored in `models/<day>/<run id>/challengers/<name>/` "
                "with valid and test HR@K / NDCG@K; "
                "any of them may serve when it beats the candidate (serving_model).",
)
def challengers(context: dg.AssetExecutionContext, config: ChallengerSettings, storage: Storage,
                device: ComputeDevice) -> dg.MaterializeResult:
    refuse_bad_run_config(context)  # a run may start here (one asset materialized again)
    device.setup()  # the CPU threads of SASRec's training and EASE's solve (the device is the candidate's)
    candidate = storage.require_candidate(context.partition_key, run_lineage(context))
    seqs, _ = storage.read_candidate_sequences(context.partition_key, candidate)
    with fails_at_once("challenger settings", ValueError):  # before any fit: SASRec's training takes long
        lambdas = ease_lambdas(config.ease_lambdas)
    records = fit_challengers(storage.store, candidate, seqs, sasrec=config.sasrec, log=context.log.info,
                              lambdas=lambdas, threads=device.threads or None)  # each process's, as the candidate's
    rows = [{"model": r.kind, "valid_NDCG@20": r.valid["NDCG@20"], "test_HR@20": r.test["HR@20"],
             "test_NDCG@20": r.test["NDCG@20"], "params": ", ".join(f"{k} {v:g}" for k, v in r.params.items()),
             "seconds": float(r.seconds)} for r in records]
    inputs = {"settings": config.model_dump(), "candidate": candidate.name}
    version = dg.DataVersion(digest(inputs, [storage.sequences_file(context.partition_key)]))
    return dg.MaterializeResult(data_version=version, metadata={
        **warehouse_entry(storage.warehouse),  # which data folder's (one instance may run several)
        "candidate": candidate.name,
        "challengers": table(rows, {"params": "chosen on valid (EASE: its L2 weight λ; item-kNN: its neighbours k "
                                              "and shrink)",
                                    "seconds": "SASRec: training; a baseline: fitting, choosing on valid, scoring"}),
        **{f"{r.kind}_valid_NDCG@20": metric(r.valid["NDCG@20"]) for r in records},
    })
