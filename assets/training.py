"""Stage 3: ELCRec training of a candidate into a versioned model folder of the model store."""

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg

from assets.daily import (
    MODEL_STORE_POOL,
    PREVIOUS_DAY,
    backfill_still_to_run_the_day_before,
    daily_asset,
    day_before,
    fails_at_once,
    log_failed_checks,
    wait_for_the_day_before,
    warehouse_entry,
)
from assets.metadata import figure, metric, table
from assets.sequences import interaction_sequences
from elcrec_core.config.settings import ExperimentConfig, ModelConfig
from elcrec_core.data.atomic_files import read_json
from elcrec_core.data.sequences import ITEM_INDEX_FILE, write_item_index_file
from elcrec_core.report.plots import LOSS_PARTS, training_curve
from elcrec_core.serve.model_store import ModelRecord, ModelStore
from elcrec_core.serve.training_data import other_settings, sequences_words
from elcrec_core.train.auto_preset import AUTO, MODEL_FIELDS, TRAIN_FIELDS
from elcrec_core.train.checkpoint import LAST, CheckpointError
from elcrec_core.train.launch import train_distributed
from elcrec_core.train.loop import train
from elcrec_core.train.run_log import keep_run, precision_used
from elcrec_core.train.state import code_digest, data_digest
from elcrec_core.train.warm_start import changed_settings, run_settings, shape_changes
from elcrec_pipeline.config import TrainingSettings
from elcrec_pipeline.resources import ComputeDevice, Storage, digest
from elcrec_pipeline.run_config_check import refuse_bad_run_config

GATE = dg.AssetKey("serving_model")  # the day before's gate decides the model a day warm-starts from
SETTINGS_CHECK = "model_settings_as_the_day_before"
# the likely cause of a model's settings that differ from the day before's (a trial's hand run without -c trained a
# model half as wide, said at INFO alone: helper-277)
WITHOUT_RUN_CONFIG = ("a run without the run config that the days before had (dagster job execute without -c FILE; "
                      "the schedule's and the sensor's runs where ELCREC_RUN_CONFIG is not set) trains with the "
                      "preset's settings")
# settings not compared from day to day: those preset auto derives from the day's data (and a warm start's budget),
# and the device the run has
NOT_COMPARED = (*TRAIN_FIELDS, "device")


@daily_asset(
    deps=[interaction_sequences, dg.AssetDep("elcrec_model", partition_mapping=PREVIOUS_DAY)],
    pool=MODEL_STORE_POOL,
    group_name="training",
    retried=True,
    code_version="2",
    kinds={"pytorch"},
    check_specs=[dg.AssetCheckSpec(
        SETTINGS_CHECK, asset="elcrec_model",
        description="Warns (never blocks) where the day's model settings (every setting of its config.json but "
                    f"those that preset auto derives from the data: {', '.join(TRAIN_FIELDS)}; and the device) "
                    "differ from those of the ELCRec model that "
                    "served the day before, each named with both values: " + WITHOUT_RUN_CONFIG + ", and a model of "
                    "other shapes (hidden, layers, heads, max_len, intents) trains from scratch.")],
    description="ELCRec trained on the partition's sequences: a candidate for serving. It warm-starts from the "
                "serving model when that was trained on data up to this day (never from a newer model), so a "
                "backfill trains the days in order, and it waits (retries, up to an hour) while a run of the day "
                "before is queued or in progress and still to run its gate, or its backfill is still to run the "
                "day before's gate: that gate decides which model serves. Each materialization writes a new folder "
                "`models/<day>/<run id>/` with best.pt, record.json, config.json, metrics.json and the "
                "item index. Epoch checkpoints are kept until training ends, so a killed or retried run resumes "
                "after its last complete epoch; a non-finite loss fails the step at once, saving nothing.",
)
def elcrec_model(context: dg.AssetExecutionContext, config: TrainingSettings, storage: Storage,
                 device: ComputeDevice) -> dg.MaterializeResult:
    refuse_bad_run_config(context)  # the first step of a run that starts here
    if config.warm_start:  # Dagster cannot order the two (serving_model depends on elcrec_model: a cycle)
        wait_for_the_day_before(context, [GATE], "its gate decides the model this day warm-starts from",
                                "warm-starting from the model that serves now",
                                still_to_come=_gate_to_come(context, storage.store))
    return _train(context, config, storage, device)


def _gate_to_come(context: dg.AssetExecutionContext, store: ModelStore) -> str | None:
    """What to wait for when this run's backfill is still to judge the day before's candidate (None: nothing). An
    asset backfill runs the day before's gate after its candidate is trained, in a run of its own that it may
    launch after this day's training has started (it warm-started from an older model, and served another model
    than the days built in order)."""
    before = day_before(context.partition_key)
    candidate = store.candidate(before)
    if candidate is None or store.decision(candidate) is not None:
        return None
    backfill = backfill_still_to_run_the_day_before(context, GATE, candidate.run_id)
    return backfill and (f"the gate of {before} (its candidate {candidate.name}), which backfill {backfill} is "
                         "still to run")


def _train(context: dg.AssetExecutionContext, config: TrainingSettings, storage: Storage,
           device: ComputeDevice) -> dg.MaterializeResult:
    """:func:`elcrec_model` after its wait for the day before."""
    partition, store = context.partition_key, storage.store
    # read once, after the wait: what it trains on, names its folder and gives the model its item index (a run of
    # the same day that builds the sequences again meanwhile must not relabel this model)
    seqs, item_ids = storage.read_sequences(partition)
    sequences = data_digest(seqs)
    built = ModelRecord(partition, "", "", sequences=sequences, sequence_settings=storage.sequence_settings_digest(
        partition))  # what this run trains on, to compare
    base = storage.with_recorded_settings(store.served_up_to(partition, kinds=("elcrec",))) if config.warm_start \
        else None  # an earlier version's record: the settings of its day's sequences, where it trained on them
    unlike = base is not None and other_settings(base, built)  # its training items may be this day's targets
    chosen = device.setup()  # the resource's device, with its CPU threads applied (run config may name another)
    on, derived = config.device or chosen, []
    with fails_at_once(f"training settings of {partition}", ValueError):  # a misspelled preset, a bad value
        exp = config.experiment(on, base is not None, seqs, log=derived.append)  # a warm start's budget if a base
        changed = _shape_changes(store.folder(base), exp.model) if base is not None else []
        warm = base is not None and not changed and not unlike
        if changed or unlike:  # the serving model's shapes or sequences differ from this run's: a cold start
            derived.clear()
            exp = config.experiment(on, False, seqs, log=derived.append)
    for line in derived:  # preset auto's settings, as this run uses them
        context.log.info(line)
    cold = "" if warm else _cold_start(config, partition, base, changed)
    if cold:  # another model's shapes: a warning (a run without its run config)
        (context.log.warning if changed else context.log.info)(f"training from scratch: {cold}")
    init_from = store.checkpoint(base) if warm else None
    # the code too: a run killed under other code (an upgrade) starts again, not resumed from its epochs (helper-185)
    work = storage.training_dir(partition, {"experiment": exp.to_dict(), "init_from": base.dir if warm else None,
                                            "nproc": config.nproc, "sequences": sequences, "code": code_digest()})
    # a run of another Dagster instance (another DAGSTER_HOME) may train the day in this folder
    with storage.training_lock(partition, context.log.info, f"run {context.run.run_id}"):
        if (work / LAST).exists():
            context.log.info(f"an earlier attempt left {work / LAST}: resuming after its last complete epoch")
        # NonFiniteLoss, settings that do not fit the data (more intents than sequences), a damaged checkpoint to
        # warm-start or resume from: a retry meets the same
        with fails_at_once(f"training of {partition}", ValueError, CheckpointError), _ways_back(
                init_from, base, base is not None and base == store.serving(), storage.root):
            if config.nproc > 1:
                result = train_distributed(config.nproc, seqs, exp, work, log=context.log.info,
                                           init_from=init_from, threads=device.threads or None)
            else:
                result = train(seqs, exp, work, log=context.log.info, init_from=init_from)
        out = store.run_dir(partition, context.run.run_id)
        keep_run(work, out)  # done: the next materialization trains a new version
        # and the day's other trainings' folders (under the lock: none goes on): a diverged one's, a killed one's of
        # other settings, which stayed for good (helper-234: "saves nothing" left config.json and curves)
        shutil.rmtree(work.parent)
    write_item_index_file(out / ITEM_INDEX_FILE, item_ids)
    record = ModelRecord(day=partition, run_id=context.run.run_id, dir=store.relative(out), valid=result.valid,
                         test=result.test, best_epoch=result.best_epoch, epochs=len(result.history),
                         seconds=result.seconds, warm_start=bool(warm), warm_start_from=base.dir if warm else None,
                         sequences=sequences, recipe=digest({"training": work.name, "code": code_digest()}),
                         sequence_settings=built.sequence_settings)
    precision = precision_used(result.history)
    store.add_candidate(record, {"history": result.history, "precision": precision})
    plot = training_curve(result.history, out / "training_curve.png")
    check = _settings_as_the_day_before(store, partition, exp)
    log_failed_checks(context, [check])
    curve = [{k: row[k] for k in ("epoch", *LOSS_PARTS, "valid_HR@20", "valid_NDCG@20", "seconds") if k in row}
             for row in result.history]  # the parts the plot shows
    return dg.MaterializeResult(data_version=dg.DataVersion(work.name), metadata={  # settings and sequences
        **warehouse_entry(storage.warehouse),  # the sensor reads this data folder's models alone
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
        "precision": precision,
        "warm_start": bool(warm),
        "warm_start_from": base.name if warm else "none",
        **({"cold_start": cold} if cold else {}),  # why not warm
        "preset": config.preset,
        "settings": _settings(exp),
        "users": len(seqs),
        "items": seqs.n_items,
        "training_curve": table(curve),
        "training_plot": figure(plot, "Training curves: loss parts and validation NDCG@20 per epoch"),
        "model_dir": dg.MetadataValue.path(str(out)),
    }, check_results=[check])


def _settings(exp: ExperimentConfig) -> dict[str, Any]:
    """Every setting this run used, as its config.json has them (the model's given or by default): derived by preset
    ``auto`` (see :mod:`elcrec_core.train.auto_preset`), given, or the preset's; ``n_negatives`` with sampled softmax
    only, the loss that uses it (a hand-picked list of the derived ones left out ``hidden``: helper-277)."""
    return {name: value for name, value in run_settings(exp).items()
            if name != "n_negatives" or exp.train.rec_loss == "sampled_softmax"}


def _settings_as_the_day_before(store: ModelStore, partition: str, exp: ExperimentConfig) -> dg.AssetCheckResult:
    """The check ``model_settings_as_the_day_before``: fails (a warning) where the settings of ``exp`` (but
    :data:`NOT_COMPARED`) differ from those of the ELCRec model that served for data up to the day before (its
    config.json); none such: nothing to compare; a config.json that cannot be read: said, passed."""
    before = store.served_up_to(day_before(partition), kinds=("elcrec",))
    if before is None:
        return _settings_check(True, f"no ELCRec model served before {partition}: nothing to compare")
    path = store.folder(before) / "config.json"
    try:
        theirs = ExperimentConfig.from_dict(read_json(path))
    except (OSError, ValueError) as err:  # a file cut short, edited by hand: said, never a failure
        return _settings_check(True, f"{path} cannot be read ({err}): not compared", before.name)
    ours = run_settings(exp)
    changes = changed_settings(run_settings(theirs), ours, [name for name in ours if name not in NOT_COMPARED])
    if not changes:
        return _settings_check(True, f"as those of {before.name}, the model that served the day before", before.name)
    cause = _likely_cause(changes, exp.preset if theirs.preset == exp.preset else "")
    return _settings_check(False, f"the model settings differ from those of {before.name}, the ELCRec model that "
                                  f"served the day before ({path}): {'; '.join(changes)}. A run takes them from its "
                                  f"run config (ops.elcrec_model.config); {cause}"
                                  + (", and a model of other shapes trains from scratch" if shape_changes(
                                      ModelConfig(n_items=1, **theirs.model), ModelConfig(n_items=1, **exp.model))
                                     else "")
                                  + ": run the day again with the run config meant, unless the change is meant",
                           before.name, "; ".join(changes))


def _likely_cause(changes: list[str], preset: str) -> str:
    """Why a run's settings differ from the day before's model's (``changes`` as :func:`changed_settings` gives them;
    ``preset``: the run's, where the day before's was the same): a run without its run config, or where only the
    settings preset auto derives from the data moved, that too."""
    derived = preset == AUTO and all(change.split()[0] in MODEL_FIELDS for change in changes)
    return ("preset auto derives max_len and n_intents from the day's sequences, whose growth may move them (the run "
            f"config may set them), or {WITHOUT_RUN_CONFIG}" if derived else WITHOUT_RUN_CONFIG)


def _settings_check(passed: bool, description: str, compared_with: str = "none",
                    changes: str = "none") -> dg.AssetCheckResult:
    """A result of the check ``model_settings_as_the_day_before`` (a warning where it fails)."""
    return dg.AssetCheckResult(check_name=SETTINGS_CHECK, passed=passed, severity=dg.AssetCheckSeverity.WARN,
                               description=description,
                               metadata={"compared_with": dg.MetadataValue.text(compared_with),
                                         "changes": dg.MetadataValue.text(changes)})


def _cold_start(config: TrainingSettings, partition: str, base: ModelRecord | None, changed: list[str]) -> str:
    """Why a run of ``config`` trains ``partition`` from scratch: warm_start off, no ``base`` to start from, a base
    whose shapes differ from the run's (``changed``, as :func:`_shape_changes` gives them), with the likely cause,
    else one trained on sequences of other settings."""
    if not config.warm_start:
        return "warm_start is false in the run config"
    if base is None:
        return f"no ELCRec model that has served (and was not withdrawn) was trained on data up to {partition}"
    if changed:
        return (f"the model it would warm-start from, {base.name}, has other shapes than this run's settings make "
                f"({', '.join(changed)}): {_likely_cause(changed, config.preset)}. It trains from scratch, and so does "
                "the next run with the earlier settings where this run's model comes to serve: unless the change is "
                "meant, run the day again with the run config meant (where its model serves, after elcrec rollback, "
                "which restores the model before it)")
    return (f"the model it would warm-start from, {base.name}, was trained on sequences {sequences_words(base)}, "
            "whose training items may be this day's validation and test targets")


@contextmanager
def _ways_back(init_from: Path | None, base: ModelRecord | None, serves: bool, root: Path) -> Iterator[None]:
    """A damaged or missing checkpoint of the model to warm-start from, with the ways back (it was named alone, and
    the rollback that a trial then ran was a guess: helper-217); a rollback only where that model ``serves`` (where
    a SASRec challenger serves, or for a day before the serving model's, it would restore the damaged one:
    helper-223)."""
    try:
        yield
    except CheckpointError as err:
        if init_from is None or base is None or str(init_from) not in str(err):
            raise
        rollback = f"roll back to the model before it, elcrec rollback --data-dir {root}, " if serves else ""
        raise CheckpointError(f"{err} (the model this run warm-starts from, {base.name}: put its checkpoint back, "
                              f"{rollback}or set warm_start: false in the run config)") from err


def _shape_changes(folder: Path, model: dict) -> list[str]:
    """:func:`~elcrec_core.train.warm_start.shape_changes` of the model in ``folder`` against this run's ``model``
    settings; none where they fit, and the run warm-starts from it (with preset ``auto`` the derived max_len or
    number of intents may change from day to day)."""
    return shape_changes(ModelConfig(n_items=1, **read_json(folder / "config.json")["model"]),
                         ModelConfig(n_items=1, **model))
