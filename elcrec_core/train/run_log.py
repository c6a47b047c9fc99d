"""The lines a training run logs, and what it leaves for comparing it with others: ``config.json`` (its
settings), ``metrics.json`` (best epoch, valid and test metrics, the per-epoch history, seconds) and TensorBoard
event files in ``tensorboard/`` (scalars per epoch, and the settings with the final metrics in the HParams tab).

TensorBoard, not MLflow: ``torch.utils.tensorboard`` writes plain files with no server or database, the
``tensorboard`` package adds five small wheels to what Dagster already installs (gRPC, protobuf), and
``tensorboard --logdir data/models`` lays every run of a data folder side by side. :func:`compare_runs` does the
same in a terminal (``elcrec compare RUN_DIR ...``) from the two JSON files, for a CLI run folder and for a
pipeline model folder alike (``models/<day>/<run id>/``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from elcrec_core.config.settings import ExperimentConfig, TrainConfig, settings_fields
from elcrec_core.data.atomic_files import read_json, write_atomically
from elcrec_core.evaluate.score_text import ScoreFormat
from elcrec_core.train.checkpoint import BEST, LAST
from elcrec_core.train.state import EarlyStopping

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
TENSORBOARD_DIR = "tensorboard"
LOSS_PARTS = ("loss", "rec", "seq_cl", "intent_cl", "cluster")
DATA = "data"  # config.json's section with the data's size, beside the settings
RUN = "run"  # config.json's section with how the run ran: its processes and the checkpoint it started from
# (a config.json written before it lacks it: not recorded, shown as "-")
_DATA_SIZES = (f"{DATA}.users", f"{DATA}.items", f"{DATA}.interactions")  # equal for runs on the same data
RUN_FIELDS = ("preset", *_DATA_SIZES, f"{DATA}.training_users", f"{DATA}.training_windows")
# the name of data.training_windows in the config.json of runs before training_users (it counted the windows)
_OLD_NAMES = {f"{DATA}.training_sequences": f"{DATA}.training_windows"}


class RunLog:
    """The files of one training run in ``out_dir``: ``config.json`` at once (the settings, with the preset's
    name and ``data``: the data's size, such as ``{"users": 22363, "items": 12101, ...}``, with the users that have
    the items of a training sample and their training windows; ``run``: ``{"processes": 2, "init_from":
    "runs/a/best.pt"}``, the processes that trained it and the checkpoint it warm-started from, or null), a
    TensorBoard scalar per
    loss part, validation metric and speed figure each epoch (:meth:`epoch`), ``metrics.json`` and the HParams
    entry at the end (:meth:`finish`). With ``enabled`` False (the other ranks of a distributed run) it writes
    nothing. A resumed run appends to the same event files' folder."""

    def __init__(self, out_dir: Path, exp: ExperimentConfig, enabled: bool = True,
                 data: dict[str, int] | None = None, run: dict[str, Any] | None = None) -> None:
        self.out_dir, self.exp, self.enabled = Path(out_dir), exp, enabled
        self.writer = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter  # imports tensorboard: only where a run writes

            self.out_dir.mkdir(parents=True, exist_ok=True)
            config = {**exp.to_dict(), DATA: dict(data or {}), RUN: dict(run or {})}
            write_atomically(self.out_dir / CONFIG_FILE, json.dumps(config, indent=2) + "\n")
            self.writer = SummaryWriter(str(self.out_dir / TENSORBOARD_DIR))

    def epoch(self, row: dict[str, Any]) -> None:
        """Log one epoch's history row (:func:`elcrec_core.train.loop.train`): ``train/<part>`` for each loss part,
        ``valid/<metric>`` (HR@K, NDCG@K), ``speed/seq_per_s`` and ``speed/seconds``, at step = the epoch."""
        if self.writer is None:
            return
        epoch = int(row["epoch"])
        for name, value in row.items():
            if name in LOSS_PARTS:
                self.writer.add_scalar(f"train/{name}", value, epoch)
            elif name.startswith("valid_"):
                self.writer.add_scalar(f"valid/{name.removeprefix('valid_')}", value, epoch)
        self.writer.add_scalar("speed/seq_per_s", row["seq_per_s"], epoch)
        self.writer.add_scalar("speed/seconds", row["seconds"], epoch)
        self.writer.flush()

    def finish(self, metrics: dict[str, Any]) -> None:
        """Write ``metrics.json`` (``metrics``: best_epoch, epochs, seconds, precision (:func:`precision_used`),
        valid, test, history) and the settings as TensorBoard hyper-parameters with the valid and test metrics
        (``final/<split>/<metric>``), at step = the epochs run: a run continued with more epochs adds its figures
        at a later step, where both were at step 0 (helper-170)."""
        if self.writer is None:
            return
        write_atomically(self.out_dir / METRICS_FILE, json.dumps(metrics, indent=2, sort_keys=True) + "\n")
        scores = {f"final/{split}/{name}": value for split in ("valid", "test")
                  for name, value in metrics[split].items()}
        self.writer.add_hparams(flat_settings(self.exp.to_dict()), scores, run_name=".",
                                global_step=metrics["epochs"])
        self.writer.close()


def recorded_run(out_dir: Path) -> dict[str, Any]:
    """The ``run`` section of the ``config.json`` in ``out_dir`` (:class:`RunLog`), empty where there is none."""
    path = Path(out_dir) / CONFIG_FILE
    return read_json(path).get(RUN, {}) if path.exists() else {}


def clear_run(folder: Path, keep: Path | None = None) -> None:
    """Remove an earlier run's ``best.pt``, ``last.pt``, ``metrics.json`` and ``tensorboard/`` from the model folder
    ``folder`` before a new run writes its item index there (``keep``: a checkpoint the new run reads first, its
    ``--init-from``, is left): a run that stops early leaves no other run's model or curves beside it, relabelled
    by the new index (helper-235: a failed ``baselines --out`` left the earlier SASRec beside other data's items)."""
    for path in (folder / BEST, folder / LAST, folder / METRICS_FILE):
        if keep is None or path.resolve() != keep.resolve():
            path.unlink(missing_ok=True)
    shutil.rmtree(folder / TENSORBOARD_DIR, ignore_errors=True)  # one run's curves, not two


def keep_run(work: Path, folder: Path) -> None:
    """Move a finished run's ``best.pt``, ``config.json``, ``metrics.json`` and ``tensorboard/`` from its working
    folder ``work`` into ``folder`` (made if missing) and remove ``work`` with its epoch checkpoints. ``last.pt``
    goes first: a process killed midway leaves no finished state to resume without its ``best.pt`` (a retry
    trains afresh where it failed on the missing best.pt at every attempt)."""
    (work / LAST).unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    for name in (BEST, CONFIG_FILE, METRICS_FILE, TENSORBOARD_DIR):
        if (work / name).exists():
            if (folder / name).is_dir():
                shutil.rmtree(folder / name)
            shutil.move(work / name, folder / name)
    shutil.rmtree(work)


def precision_used(history: list[dict[str, Any]]) -> str:
    """How the epochs of a run's ``history`` computed, as its rows' ``precision`` gives it (``fp32``, ``bf16
    autocast``): the one value, or, where a resumed run computed otherwise (``precision`` auto on another machine),
    each in turn with its epochs, such as ``bf16 autocast (epochs 0-4), fp32 (epochs 5-9)``. An epoch of a run
    resumed from a version that did not record it is ``not recorded``; a run without epochs, ``none``."""
    spans: list[list[Any]] = []  # [precision, first epoch, last epoch]
    for row in history:
        used = row.get("precision", "not recorded")
        if spans and spans[-1][0] == used:
            spans[-1][2] = row["epoch"]
        else:
            spans.append([used, row["epoch"], row["epoch"]])
    if len(spans) == 1:
        return spans[0][0]
    return ", ".join(f"{used} (epoch {first})" if first == last else f"{used} (epochs {first}-{last})"
                     for used, first, last in spans) or "none"


def flat_settings(config: dict[str, Any]) -> dict[str, Any]:
    """``{"model": {"hidden": 64}, "train": {"betas": [0.9, 0.999]}}`` -> ``{"model.hidden": 64,
    "train.betas": "[0.9, 0.999]"}``: one level of sections, values that are not numbers, text or booleans as
    JSON text."""
    flat = {}
    for section, values in config.items():
        for name, value in (values.items() if isinstance(values, dict) else [("", values)]):
            key = f"{section}.{name}" if name else section
            flat[key] = value if isinstance(value, (bool, int, float, str)) else json.dumps(value)
    return flat


def read_run(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(flat settings, metrics) of a run folder (a CLI run's, a pipeline model's or its SASRec challenger's):
    ``config.json`` and ``metrics.json``. Raises FileNotFoundError naming the folder where it does not exist or is a
    file, and the missing file (a baseline challenger's folder has neither: it is not a training run)."""
    folder = Path(folder)
    config = folder / CONFIG_FILE
    metrics = folder / METRICS_FILE
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} does not exist" if not folder.exists() else
                                f"{folder} is a file, not a training run's folder")
    for path, what in ((config, CONFIG_FILE), (metrics, METRICS_FILE)):
        if not path.exists():
            raise FileNotFoundError(f"{folder} is not a finished training run: it has no {what}")
    written = flat_settings(read_json(config))
    settings = {_OLD_NAMES.get(name, name): value for name, value in written.items()}
    return _with_defaults(settings), read_json(metrics)


def _with_defaults(settings: dict[str, Any]) -> dict[str, Any]:
    """A run's flat settings with every setting of the schema that its ``config.json`` leaves out (the model
    section holds only what differs from the defaults) at its default: an unset value is the default, not a
    difference."""
    defaults = {}
    for setting in settings_fields():
        defaults.setdefault(setting.section, {})[setting.name] = setting.default
    return {**flat_settings(defaults), **settings}


def compare_runs(folders: list[Path]) -> dict[str, Any]:
    """The runs in ``folders`` side by side: ``{"runs": [folder names], "run": {name: [value per run]}`` (the
    preset each started from and the data's size, :data:`RUN_FIELDS`, always; None where a run's config.json
    predates them), ``"settings": {name: [value per run]}`` (only the settings that differ between them),
    ``"metrics": {name: [value per run]}}`` with best_epoch, epochs, seconds, the precision the epochs computed in
    (``train.precision`` auto is bf16 on one CPU and fp32 on another), and every ``valid`` and ``test``
    metric (``valid HR@20``, ...; None where a run lacks it), and ``"comparable"``: false where the runs trained on
    data of different sizes, whose metrics rank other users (once said in the text alone: helper-237). Raises
    FileNotFoundError as :func:`read_run`."""
    runs = [read_run(folder) for folder in folders]
    about = {name: [s.get(name) for s, _ in runs] for name in RUN_FIELDS}
    names = sorted({name for settings, _ in runs for name in settings if name not in RUN_FIELDS})
    settings = {name: [s.get(name) for s, _ in runs] for name in names}
    differing = {name: values for name, values in settings.items() if len({json.dumps(v) for v in values}) > 1}
    metrics: dict[str, list[Any]] = {
        name: [m.get(name) for _, m in runs] for name in ("best_epoch", "epochs", "seconds", "precision")}
    for split in ("valid", "test"):
        keys = sorted({key for _, m in runs for key in (m.get(split) or {})}, key=_metric_order)
        for key in keys:
            metrics[f"{split} {key}"] = [(m.get(split) or {}).get(key) for _, m in runs]
    comparable = all(len({value for value in about[name] if value is not None}) <= 1 for name in _DATA_SIZES)
    return {"runs": [str(folder) for folder in folders], "run": about, "settings": differing, "metrics": metrics,
            "comparable": comparable}


def format_comparison(comparison: dict[str, Any]) -> str:
    """:func:`compare_runs` as a text table: the preset and the data's size, a row per differing setting, then
    per metric; a column per run; then what each differing setting means (``train.max_steps 0`` read as a budget of
    no step: helper-224)."""
    runs = comparison["runs"]
    rows = [("", [f"run {i + 1}" for i in range(len(runs))])]
    rows += [(name.replace(".", " "), values) for name, values in comparison.get("run", {}).items()]
    rows += [(f"setting {name}", values) for name, values in comparison["settings"].items()]
    rows += [(name, values) for name, values in comparison["metrics"].items()]
    cells = [(label, [_cell(v, _row_format(label, values)) for v in values]) for label, values in rows]
    width = max(len(label) for label, _ in cells)
    widths = [max(len(row[1][i]) for row in cells) for i in range(len(runs))]
    lines = [f"run {i + 1}: {folder}" for i, folder in enumerate(runs)]
    if not comparison["settings"]:
        lines.append("the runs have the same settings")
    if not comparison["comparable"]:
        lines.append("the runs trained on data of different sizes (the data rows): their metrics rank other users "
                     "and items, not comparable as a change of settings")
    for label, values in cells:
        lines.append(f"{label:<{width}}  " + "  ".join(f"{v:>{w}}" for v, w in zip(values, widths)))
    if any(value is None for _, values in rows for value in values):  # not "none": a warm start read as none
        lines.append("-: not recorded (by the version that trained the run, or not measured)")
    meanings = {f"{s.section}.{s.name}": s.description for s in settings_fields() if s.description}
    lines += [f"setting {name}: {meanings[name]}" for name in comparison["settings"] if name in meanings]
    return "\n".join(lines)


def _metric_order(key: str) -> tuple[str, int]:
    name, _, k = key.partition("@")
    return name, int(k) if k.isdigit() else 0


def _row_format(label: str, values: list[Any]) -> ScoreFormat:
    """How the floats of a row print: a valid or test metric's at the decimals that tell the runs apart (helper-281:
    0.254612 and 0.254559 printed 0.2546 twice), any other row's at 4."""
    if not label.startswith(("valid ", "test ")):
        return ScoreFormat()
    return ScoreFormat.of(value for value in values if isinstance(value, float))


def _cell(value: Any, score: ScoreFormat) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return score(value) if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def fmt(metrics: dict[str, float]) -> str:
    """Metrics as one line for the log, "name value" pairs with four decimals: ``{"HR@5": 0.1}`` -> "HR@5 0.1000"."""
    return " ".join(f"{k} {v:.4f}" for k, v in metrics.items())


def why_training_ended(cfg: TrainConfig, stopper: EarlyStopping, steps_done: int, ran: int = 0) -> str:
    """One line for the log: early stopping (``patience`` epochs without a better validation NDCG@20), the step
    budget (``max_steps``) or the ``epochs``, in that order where several hold; ``ran`` epochs, more than
    ``epochs`` (a run resumed with fewer: helper-203), are said as such."""
    if stopper.should_stop:
        return (f"training ended: validation NDCG@20 has not improved for {stopper.bad_epochs} epochs since epoch "
                f"{stopper.best_epoch} (patience {cfg.patience})")
    if cfg.max_steps and steps_done >= cfg.max_steps:
        return f"training ended: the step budget, {steps_done} optimiser steps (max_steps {cfg.max_steps})"
    if ran > cfg.epochs:
        return f"training ended: {ran} epochs had run, more than the {cfg.epochs} that epochs asks for: none ran"
    return f"training ended: the {cfg.epochs} epochs ran" if cfg.epochs != 1 else "training ended: the 1 epoch ran"


def format_epoch(row: dict[str, Any], stopper: EarlyStopping) -> str:
    """An epoch's line for the log, from its history ``row``: the mean losses, the validation HR@20 and NDCG@20,
    seconds and sequences a second, and " *" where it is the best epoch so far. Raises KeyError for a row without
    "epoch", "valid_HR@20", "valid_NDCG@20", "seconds" or "seq_per_s"."""
    parts = " ".join(f"{k} {row[k]:.4f}" for k in LOSS_PARTS if k in row)
    return (f"epoch {int(row['epoch']):3d} | {parts} | valid HR@20 {row['valid_HR@20']:.4f} "
            f"NDCG@20 {row['valid_NDCG@20']:.4f} | {row['seconds']:.1f}s {row['seq_per_s']:.0f} seq/s"
            f"{' *' if stopper.best_epoch == row['epoch'] else ''}")
