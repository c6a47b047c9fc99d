"""Stage 3: ELCRec training of a candidate into a versioned model folder of the model store."""

import json
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from assets.daily import MODEL_STORE_POOL, PREVIOUS_DAY, RETRY, daily_asset, fails_at_once
from assets.metadata import figure, metric, table
from assets.sequences import interaction_sequences
from elcrec_core.config.settings import SHAPE_FIELDS, ExperimentConfig, ModelConfig
from elcrec_core.data.sequences import ITEM_INDEX_FILE, write_item_index_file
from elcrec_core.report.plots import training_curve
from elcrec_core.serve.model_store import ModelRecord
from elcrec_core.train.auto_preset import MODEL_FIELDS, TRAIN_FIELDS
from elcrec_core.train.checkpoint import LAST
from elcrec_core.train.launch import train_distributed
from elcrec_core.train.loop import train
from elcrec_core.train.run_log import keep_run
from elcrec_core.train.state import data_digest
from elcrec_pipeline.config import TrainingSettings
from elcrec_pipeline.resources import ComputeDevice, Storage


@daily_asset(
    deps=[interaction_sequences, dg.AssetDep("elcrec_model", partition_mapping=PREVIOUS_DAY)],
    pool=MODEL_STORE_POOL,
    group_name="training",
    retry_policy=RETRY,
    code_version="2",
    kinds={"pytorch"},
    description="ELCRec trained on the partition's sequences: a candidate for serving. It warm-starts from the "
                "serving model when that was trained on data up to this day (never from a newer model), so a "
                "backfill trains the days in order, and it waits (retries, up to an hour) while a run of the day "
                "before is queued or in progress: that run's gate decides which model serves. Each materialization "
                "writes a new folder "
                "`models/<day>/<run id>/` with best.pt, record.json, config.json, metrics.json and the "
                "item index. Epoch checkpoints are kept until training ends, so a killed or retried run resumes "
                "after its last complete epoch; a non-finite loss fails the step at once, saving nothing.",
)
def elcrec_model(context: dg.AssetExecutionContext, config: TrainingSettings, storage: Storage,
                 device: ComputeDevice) -> dg.MaterializeResult:
    partition = context.partition_key
    store = storage.store
    if config.warm_start:
        _wait_for_the_day_before(context)
    # read once, after the wait: what it trains on, names its folder and gives the model its item index (a run of
    # the same day that builds the sequences again meanwhile must not relabel this model)
    seqs, item_ids = storage.read_sequences(partition)
    base = store.served_up_to(partition, kinds=("elcrec",)) if config.warm_start else None
    chosen = device.setup()  # the resource's device, with its CPU threads applied (run config may name another)
    on, derived = config.device or chosen, []
    with fails_at_once(f"training settings of {partition}", ValueError):  # a misspelled preset, a bad value
        exp = config.experiment(on, base is not None, seqs, log=derived.append)  # a warm start's budget if a base
        warm = base is not None and _same_architecture(store.folder(base), exp.model)
        if base is not None and not warm:  # the serving model's shapes differ from this run's: a cold start
            derived.clear()
            exp = config.experiment(on, False, seqs, log=derived.append)
    for line in derived:  # preset auto's settings, as this run uses them
        context.log.info(line)
    init_from = store.checkpoint(base) if warm else None
    work = storage.training_dir(partition, {"experiment": exp.to_dict(), "init_from": base.dir if warm else None,
                                            "nproc": config.nproc, "sequences": data_digest(seqs)})
    if (work / LAST).exists():
        context.log.info(f"an earlier attempt left {work / LAST}: resuming after its last complete epoch")
    # NonFiniteLoss, or settings that do not fit the data (more intents than sequences): a retry meets the same
    with fails_at_once(f"training of {partition}", ValueError):
        if config.nproc > 1:
            result = train_distributed(config.nproc, seqs, exp, work, log=context.log.info, init_from=init_from,
                                       threads=device.threads or None)
        else:
            result = train(seqs, exp, work, log=context.log.info, init_from=init_from)
    out = store.run_dir(partition, context.run.run_id)
    keep_run(work, out)  # done: the next materialization trains a new version
    if not any(work.parent.iterdir()):
        work.parent.rmdir()
    write_item_index_file(out / ITEM_INDEX_FILE, item_ids)
    record = ModelRecord(day=partition, run_id=context.run.run_id, dir=store.relative(out), valid=result.valid,
                         test=result.test, best_epoch=result.best_epoch, epochs=len(result.history),
                         seconds=result.seconds, warm_start=bool(warm), warm_start_from=base.dir if warm else None)
    store.add_candidate(record, {"history": result.history})
    plot = training_curve(result.history, out / "training_curve.png")
    curve = [{k: row[k] for k in ("epoch", "loss", "rec", "valid_HR@20", "valid_NDCG@20", "seconds") if k in row}
             for row in result.history]
    return dg.MaterializeResult(data_version=dg.DataVersion(work.name), metadata={  # settings and sequences
        "model": record.name,
        "valid_HR@20": metric(result.valid["HR@20"]),
        "valid_NDCG@20": metric(result.valid["NDCG@20"]),
        "test_HR@20": metric(result.test["HR@20"]),
        "test_NDCG@20": metric(result.test["NDCG@20"]),
        "metrics": table([{"split": "valid", **result.valid}, {"split": "test", **result.test}]),
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "steps": int(result.history[-1]["steps"]) if result.history else 0,
        "train_seconds": metric(result.seconds),
        "warm_start": bool(warm),
        "warm_start_from": base.name if warm else "none",
        "preset": config.preset,
        "settings": _settings(exp),
        "users": len(seqs),
        "items": seqs.n_items,
        "training_curve": table(curve),
        "training_plot": figure(plot, "Training curves: loss parts and validation NDCG@20 per epoch"),
        "model_dir": dg.MetadataValue.path(str(out)),
    })


# how long a warm-started training waits for the runs of the day before: retries this far apart, at most this many
DAY_BEFORE_WAIT_SECONDS = 30
DAY_BEFORE_WAIT_RETRIES = 120  # an hour; then it warm-starts from what serves, with a warning
UNFINISHED = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
              dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def unfinished_runs_of_the_day_before(instance: dg.DagsterInstance, partition: str, own_run: str) -> list[str]:
    """The ids of the runs of the day before ``partition`` (ISO date) that are queued or in progress, other than
    ``own_run``."""
    day_before = (date.fromisoformat(partition) - timedelta(days=1)).isoformat()
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=UNFINISHED, tags={"dagster/partition": day_before}))
    return [run.run_id for run in runs if run.run_id != own_run]


def _wait_for_the_day_before(context: dg.AssetExecutionContext) -> None:
    """Retry later while a run of the day before is unfinished: its gate (serving_model) decides the model this day
    warm-starts from, and Dagster cannot order the two (serving_model depends on elcrec_model: the reverse
    dependency would be a cycle), so a sensor's runs of several days or an asset backfill could otherwise train
    this day first. After :data:`DAY_BEFORE_WAIT_RETRIES` tries, training goes on from what serves then."""
    waiting = unfinished_runs_of_the_day_before(context.instance, context.partition_key, context.run.run_id)
    if not waiting:
        return
    if context.retry_number < DAY_BEFORE_WAIT_RETRIES:
        context.log.info(f"waiting for run(s) {', '.join(waiting)} of the day before: its gate decides the model "
                         "this day warm-starts from (a run whose process is gone: terminate it in the UI, Runs)")
        raise dg.RetryRequested(max_retries=DAY_BEFORE_WAIT_RETRIES, seconds=DAY_BEFORE_WAIT_SECONDS)
    context.log.warning(f"run(s) {', '.join(waiting)} of the day before still unfinished after "
                        f"{DAY_BEFORE_WAIT_RETRIES} tries: warm-starting from the model that serves now")


def _settings(exp: ExperimentConfig) -> dict[str, int | str]:
    """The settings that the ``auto`` preset derives from the data (see :mod:`elcrec_core.train.auto_preset`), as
    this run has them (derived or given)."""
    model = ModelConfig(n_items=1, **exp.model)
    return {**{name: getattr(model, name) for name in MODEL_FIELDS},
            **{name: getattr(exp.train, name) for name in TRAIN_FIELDS}}


def _same_architecture(folder: Path, model: dict) -> bool:
    """Whether the parameter shapes of the model in ``folder`` fit this run's ``model`` settings (else the run
    starts cold: with preset ``auto``, also when the derived max_len or number of intents changed). Other
    settings, such as dropout, may change between days: the weights still carry over."""
    saved = ModelConfig(n_items=1, **json.loads((folder / "config.json").read_text())["model"])
    wanted = ModelConfig(n_items=1, **model)
    return all(getattr(saved, name) == getattr(wanted, name) for name in SHAPE_FIELDS)
