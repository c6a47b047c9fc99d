"""Stage 3: ELCRec training into a versioned model folder, and the promotion check."""

import json
import shutil
from pathlib import Path

import dagster as dg

from assets.partitions import OWNERS, RETRY, daily_partitions
from assets.sequences import interaction_sequences
from elcrec_core.checkpoint import load_model
from elcrec_core.config import SHAPE_FIELDS, ModelConfig
from elcrec_core.evaluation import evaluate
from elcrec_core.plots import markdown_image, training_curve
from elcrec_core.markdown import markdown_table
from elcrec_core.sequences import SequenceTensors
from elcrec_core.training import BEST, LAST, SELECTION_METRIC, train, train_distributed
from elcrec_pipeline.config import PromotionSettings, TrainingSettings
from elcrec_pipeline.resources import ComputeDevice, Storage


@dg.asset(
    partitions_def=daily_partitions,
    deps=[interaction_sequences],
    group_name="training",
    owners=OWNERS,
    retry_policy=RETRY,
    code_version="1",
    kinds={"pytorch"},
    description="ELCRec trained on the partition's sequences (warm-started from the current model when there is "
                "one). Each materialization writes a new folder models/<day>/<run id>/ with best.pt, the config, "
                "the item index and the metrics; the model is a candidate until the promotion check passes. "
                "Epoch checkpoints are kept until training ends, so a killed or retried run resumes after its "
                "last complete epoch.",
)
def elcrec_model(context: dg.AssetExecutionContext, config: TrainingSettings, storage: Storage,
                 device: ComputeDevice) -> dg.MaterializeResult:
    partition = context.partition_key
    seqs, _ = storage.read_sequences(partition)
    current = storage.current_model()
    warm = config.warm_start and current is not None and _same_architecture(current, config, device)
    exp = config.experiment(config.device or device.setup(), warm)
    init_from = current["checkpoint"] if warm else None
    work = storage.training_dir(partition, {"experiment": exp.to_dict(), "init_from": init_from,
                                            "nproc": config.nproc})
    if (work / LAST).exists():
        context.log.info(f"an earlier attempt left {work / LAST}: resuming after its last complete epoch")
    if config.nproc > 1:
        result = train_distributed(config.nproc, storage.sequences_dir(partition) / "sequences.parquet", "parquet",
                                   exp, work, log=context.log.info, init_from=init_from)
    else:
        result = train(seqs, exp, work, log=context.log.info, init_from=init_from)
    out = storage.model_dir(partition, context.run.run_id)
    out.mkdir(parents=True, exist_ok=True)
    result.checkpoint = Path(shutil.move(result.checkpoint, out / BEST))
    shutil.rmtree(work)  # done: the next materialization trains a new version
    if not any(work.parent.iterdir()):
        work.parent.rmdir()
    shutil.copy(storage.sequences_dir(partition) / "item_index.parquet", out / "item_index.parquet")
    (out / "config.json").write_text(json.dumps(exp.to_dict(), indent=2) + "\n")
    record = {"partition": partition, "run_id": context.run.run_id, "dir": str(out),
              "checkpoint": str(result.checkpoint), "valid": result.valid, "test": result.test,
              "best_epoch": result.best_epoch, "epochs": len(result.history), "seconds": result.seconds,
              "warm_start": bool(warm)}
    (out / "metrics.json").write_text(json.dumps({**record, "history": result.history}, indent=2) + "\n")
    storage.set_latest_model(partition, record)
    plot = training_curve(result.history, out / "training_curve.png")
    curve = [{k: row[k] for k in ("epoch", "loss", "rec", "valid_HR@20", "valid_NDCG@20", "seconds") if k in row}
             for row in result.history]
    return dg.MaterializeResult(metadata={
        "model_dir": dg.MetadataValue.path(str(out)),
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "warm_start": bool(warm),
        "train_seconds": round(result.seconds, 1),
        "users": len(seqs),
        "items": seqs.n_items,
        **{f"valid_{k}": v for k, v in result.valid.items()},
        **{f"test_{k}": v for k, v in result.test.items()},
        "training_curve": dg.MetadataValue.md(markdown_table(curve)),
        "training_plot": dg.MetadataValue.md(markdown_image(plot, "training curve")),
    })


def _same_architecture(current: dict, config: TrainingSettings, device: ComputeDevice) -> bool:
    """Whether the current model's parameter shapes fit this run's settings (else the run starts cold). Other
    settings, such as dropout, may change between days: the weights still carry over."""
    saved = ModelConfig(n_items=1, **json.loads((Path(current["dir"]) / "config.json").read_text())["model"])
    wanted = ModelConfig(n_items=1, **config.experiment(device.device, warm=True).model)
    return all(getattr(saved, name) == getattr(wanted, name) for name in SHAPE_FIELDS)


@dg.asset_check(
    asset=elcrec_model,
    blocking=True,
    partitions_def=daily_partitions,
    description="Promote the new model to current only if its validation NDCG@20 is not worse than the current "
                "model's (both scored now on the same validation split) by more than the tolerance; otherwise "
                "it stays a candidate and the current model keeps serving.",
)
def promotion(context: dg.AssetCheckExecutionContext, config: PromotionSettings,
              storage: Storage) -> dg.AssetCheckResult:
    partition = context.partition_key
    candidate = storage.require_latest_model(partition)
    current = storage.current_model()
    seqs, _ = storage.read_sequences(partition)
    data = SequenceTensors.from_sequences(seqs)
    new_score = evaluate(load_model(candidate["checkpoint"])[0], data, "valid")[SELECTION_METRIC]
    if current is None or current["checkpoint"] == candidate["checkpoint"]:
        old_score, passed = None, True
    else:
        old_score = evaluate(load_model(current["checkpoint"])[0], data, "valid")[SELECTION_METRIC]
        passed = new_score >= old_score - config.tolerance
    if passed:
        storage.set_current_model(candidate)
    context.log.info(f"candidate {new_score:.4f} vs current {old_score}: {'promoted' if passed else 'kept'}")
    return dg.AssetCheckResult(
        passed=passed,
        metadata={"candidate_valid_NDCG@20": new_score,
                  "current_valid_NDCG@20": old_score if old_score is not None else "none",
                  "tolerance": config.tolerance,
                  "serving": (storage.current_model() or {}).get("checkpoint", "none")},
    )
