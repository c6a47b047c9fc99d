"""Every training run leaves config.json, metrics.json and TensorBoard event files that hold its real figures, and
`elcrec compare` lays runs side by side: the settings that differ and the metrics of each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from elcrec_core.cli.data_loading import load
from elcrec_core.cli.data_options import DataOptions
from elcrec_core.cli.main import main
from elcrec_core.train.auto_preset import derive_settings
from elcrec_core.train.run_log import compare_runs, flat_settings, format_comparison

SMALL = ["--intents", "2", "--hidden", "8", "--max-len", "6", "--device", "cpu", "--epochs", "2", "--patience", "5"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path, dict, dict]:
    """Two CLI runs on the same 300 synthetic users, lr 0.001 and 0.005; (folder, folder, result, result)."""
    root = tmp_path_factory.mktemp("runs")
    events = root / "events.csv"
    assert main(["synth", "--out", str(events), "--users", "300", "--items", "40", "--intents", "2"]) == 0
    results = []
    for name, lr in (("a", "0.001"), ("b", "0.005")):
        out = root / name
        assert main(["train", "--data", str(events), "--out", str(out), "--lr", lr, *SMALL]) == 0
        results.append(json.loads((out / "metrics.json").read_text()))
    return root / "a", root / "b", results[0], results[1]


def test_a_run_writes_its_settings_metrics_and_tensorboard_scalars(runs, capsys) -> None:
    a, _, metrics, _ = runs
    config = json.loads((a / "config.json").read_text())
    assert config["train"]["lr"] == 0.001 and config["model"]["hidden"] == 8
    assert config["preset"] == "auto"  # the CLI's default
    seqs = load(str(a.parent / "events.csv"), DataOptions()).sequences
    windows = derive_settings(seqs, {"max_len": 6, "n_intents": 2}).samples  # the auto preset's windows: all
    assert config["data"] == {"users": 300, "items": seqs.n_items, "interactions": len(seqs.items),
                              "training_users": 300, "training_windows": windows}
    assert config["run"] == {"processes": 1, "init_from": None}  # one process, from k-means centres
    assert len(seqs.items) == len((a.parent / "events.csv").read_text().splitlines()) - 1 and windows > 300
    assert metrics["epochs"] == 2 == len(metrics["history"]) and metrics["best_epoch"] in (0, 1)
    best = metrics["history"][metrics["best_epoch"]]
    assert metrics["valid"]["NDCG@20"] == pytest.approx(best["valid_NDCG@20"])
    assert set(metrics["test"]) == {f"{m}@{k}" for m in ("HR", "NDCG") for k in (5, 10, 20)}

    events = EventAccumulator(str(a / "tensorboard"))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"train/loss", "train/rec", "valid/NDCG@20", "valid/HR@5", "speed/seq_per_s"} <= scalars
    ndcg = events.Scalars("valid/NDCG@20")
    assert [e.step for e in ndcg] == [0, 1]
    assert [e.value for e in ndcg] == pytest.approx([row["valid_NDCG@20"] for row in metrics["history"]], rel=1e-6)
    loss = events.Scalars("train/loss")
    assert [e.value for e in loss] == pytest.approx([row["loss"] for row in metrics["history"]], rel=1e-6)
    assert "final/test/NDCG@20" in scalars  # the HParams entry: settings with the final metrics
    assert events.Scalars("final/test/NDCG@20")[0].value == pytest.approx(metrics["test"]["NDCG@20"], rel=1e-6)


def test_a_run_continued_with_more_epochs_adds_its_final_figures_at_a_later_step(runs, tmp_path) -> None:
    """A finished 2-epoch run continued to 3 epochs left two final/test/NDCG@20 values at step 0, the old and the
    new (helper-170): each run's final figures are at the step of the epochs it ran."""
    import shutil

    a, _, first, _ = runs
    shutil.copytree(a, tmp_path / "a")
    options = [option if option != "2" or SMALL[i - 1] != "--epochs" else "3" for i, option in enumerate(SMALL)]
    assert main(["train", "--data", str(a.parent / "events.csv"), "--out", str(tmp_path / "a"), "--lr", "0.001",
                 *options]) == 0
    events = EventAccumulator(str(tmp_path / "a" / "tensorboard"))
    events.Reload()
    final = events.Scalars("final/test/NDCG@20")
    continued = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert [(e.step, e.value) for e in final] == [(2, pytest.approx(first["test"]["NDCG@20"], rel=1e-6)),
                                                  (3, pytest.approx(continued["test"]["NDCG@20"], rel=1e-6))]


def test_compare_shows_the_settings_that_differ_and_each_runs_metrics(runs, capsys) -> None:
    a, b, first, second = runs
    comparison = compare_runs([a, b])
    assert comparison["settings"] == {"train.lr": [0.001, 0.005]}  # only what differs
    size = json.loads((a / "config.json").read_text())["data"]
    assert comparison["run"] == {"preset": ["auto", "auto"], **{f"data.{k}": [v, v] for k, v in size.items()}}
    assert comparison["metrics"]["test NDCG@20"] == [first["test"]["NDCG@20"], second["test"]["NDCG@20"]]
    assert comparison["metrics"]["best_epoch"] == [first["best_epoch"], second["best_epoch"]]
    assert list(comparison["metrics"])[4:7] == ["valid HR@5", "valid HR@10", "valid HR@20"]

    assert main(["compare", str(a), str(b)]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"run 1: {a}\nrun 2: {b}\n")
    assert next(line for line in text.splitlines() if line.startswith("data users")).split()[-2:] == ["300", "300"]
    line = next(line for line in text.splitlines() if line.startswith("setting train.lr"))
    assert line.split()[-2:] == ["0.0010", "0.0050"]
    line = next(line for line in text.splitlines() if line.startswith("test NDCG@20"))
    assert line.split()[-2:] == [f"{first['test']['NDCG@20']:.4f}", f"{second['test']['NDCG@20']:.4f}"]

    assert main(["compare", str(a), str(b), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(comparison))


def test_compare_shows_the_processes_the_warm_start_and_the_precision_of_each_run(runs, tmp_path: Path,
                                                                                  capsys, monkeypatch) -> None:
    """A 1-process and a 2-process run (twice the users per step) were "the same settings", so were a run from
    scratch and one warm-started with --init-from (config.json said centre_init kmeans), and two runs of precision
    auto that computed in bf16 and in fp32 (a trial of 2026-12-05)."""
    a, b, first, _ = runs
    warm = tmp_path / "warm"
    assert main(["train", "--data", str(a.parent / "events.csv"), "--out", str(warm), "--lr", "0.001",
                 "--init-from", str(a / "best.pt"), *SMALL]) == 0
    assert json.loads((warm / "config.json").read_text())["run"] == {"processes": 1, "init_from": str(a / "best.pt")}
    older = tmp_path / "older"  # a run of a version that recorded neither: one process, no warm start known
    older.mkdir()
    config = json.loads((a / "config.json").read_text())
    (older / "config.json").write_text(json.dumps({k: v for k, v in config.items() if k != "run"}))
    (older / "metrics.json").write_text(json.dumps({**first, "precision": "bf16 autocast"}))
    comparison = compare_runs([a, warm, older])
    assert comparison["settings"] == {"run.init_from": ["null", str(a / "best.pt"), None],  # JSON's null; None:
                                      "run.processes": [1, 1, None]}  # not recorded, shown as "-"
    assert comparison["metrics"]["precision"] == [first["precision"], first["precision"], "bf16 autocast"]
    (older / "config.json").write_text(json.dumps({**config, "run": {"processes": 2, "init_from": None}}))
    assert compare_runs([a, older])["settings"] == {"run.processes": [1, 2]}
    # resumed with another --init-from: the run goes on from its own epochs, and says the option is not used
    (tmp_path / "resumed").mkdir()
    for name in ("last.pt", "best.pt", "config.json", "metrics.json"):
        (tmp_path / "resumed" / name).write_bytes((warm / name).read_bytes())
    assert main(["train", "--data", str(a.parent / "events.csv"), "--out", str(tmp_path / "resumed"), "--lr",
                 "0.001", "--init-from", str(b / "best.pt"), *SMALL, "--epochs", "3"]) == 0
    assert (f"init_from {b / 'best.pt'} is not used: the run resumed started from {a / 'best.pt'}"
            in capsys.readouterr().out)
    assert json.loads((tmp_path / "resumed" / "config.json").read_text())["run"]["init_from"] == str(a / "best.pt")
    # --init-from as typed, relative: recorded absolute, so that compare and a resume from elsewhere name the file
    # (helper-237: "../shared/reference/ELCRec-Beauty-1.pt" named nothing from another folder)
    # through a link as typed, not the link's target (resolved, ../shared/... was recorded as /work/shared/...)
    (tmp_path / "link").symlink_to(a, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    relative = tmp_path / "relative"
    assert main(["train", "--data", str(a.parent / "events.csv"), "--out", str(relative), "--lr",
                 "0.001", "--init-from", "link/best.pt", *SMALL]) == 0
    assert json.loads((relative / "config.json").read_text())["run"]["init_from"] == str(tmp_path / "link" / "best.pt")
    # a run recorded as typed by an older version, resumed with the same option: "init_from best.pt is not used:
    # the run resumed started from best.pt" (helper-239)
    capsys.readouterr()
    config = json.loads((relative / "config.json").read_text())
    (relative / "config.json").write_text(json.dumps({**config, "run": {**config["run"], "init_from": "best.pt"}}))
    monkeypatch.chdir(a)
    assert main(["train", "--data", str(a.parent / "events.csv"), "--out", str(relative), "--lr", "0.001",
                 "--init-from", "best.pt", *SMALL, "--epochs", "3"]) == 0
    assert "is not used" not in capsys.readouterr().out
    # recorded resolved (the link's target) by the version before, resumed through the link: said "not used" of
    # the same file (helper-244)
    (relative / "config.json").write_text(json.dumps({**config, "run": {**config["run"], "init_from": str(
        (a / "best.pt").resolve())}}))
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", str(a.parent / "events.csv"), "--out", str(relative), "--lr", "0.001",
                 "--init-from", "link/best.pt", *SMALL, "--epochs", "4"]) == 0
    out = capsys.readouterr().out
    assert "resumed from" in out and "is not used" not in out


def test_compare_of_a_folder_without_a_finished_run_names_the_folder_and_the_file(tmp_path: Path, capsys) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model": {}, "train": {}}))
    assert main(["compare", str(tmp_path)]) != 0
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "metrics.json" in err
    # a folder that is not there, or a file: it said that one had no config.json
    for path, said in ((tmp_path / "nonexist", "does not exist"), (tmp_path / "config.json", "is a file, not a "
                                                                   "training run's folder")):
        assert main(["compare", str(path), str(tmp_path)]) != 0
        assert capsys.readouterr().err.strip().endswith(f"error: {path} {said}")


def test_identical_settings_are_said_plainly() -> None:
    comparison = {"runs": ["x", "y"], "settings": {}, "metrics": {"best_epoch": [1, None]}, "comparable": True}
    text = format_comparison(comparison)
    assert "the runs have the same settings" in text and text.splitlines()[-2].split()[-2:] == ["1", "-"]
    # an earlier version's run: its "-" read as a run that started from no checkpoint (helper-129)
    assert text.splitlines()[-1] == "-: not recorded (by the version that trained the run, or not measured)"
    assert "not recorded" not in format_comparison({**comparison, "metrics": {"best_epoch": [1, 2]}})


def test_each_differing_setting_is_explained_below_the_table() -> None:
    """'train.max_steps 0' beside 60 read as a budget of no step (helper-224): each differing setting's meaning is
    given, as its field describes it; a setting no field describes (an earlier version's) has none."""
    comparison = {"runs": ["x", "y"], "settings": {"train.max_steps": [0, 60], "train.gone": [1, 2]},
                  "metrics": {"best_epoch": [1, 2]}, "comparable": True}
    assert format_comparison(comparison).splitlines()[-1] == (
        "setting train.max_steps: optimiser-step budget (0: none; epochs still apply)")


def test_settings_flatten_one_level_with_lists_as_json_text() -> None:
    assert flat_settings({"model": {"hidden": 64}, "train": {"betas": [0.9, 0.999], "rec_loss": "ce"}}) == {
        "model.hidden": 64, "train.betas": "[0.9, 0.999]", "train.rec_loss": "ce"}


def test_compare_counts_a_setting_a_config_leaves_out_at_its_default(tmp_path: Path) -> None:
    """config.json's model section holds only what differs from the defaults: a run that leaves max_len out has
    the default 50, the same as a run that says 50, and differs from one that says 30."""
    folders = []
    for name, model in (("unset", {}), ("fifty", {"max_len": 50}), ("thirty", {"max_len": 30})):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"model": model, "train": {"lr": 0.001}}))
        (folder / "metrics.json").write_text(json.dumps({"best_epoch": 0, "epochs": 1, "seconds": 1.0}))
        folders.append(folder)
    assert compare_runs(folders[:2])["settings"] == {}
    assert compare_runs(folders)["settings"] == {"model.max_len": [50, 50, 30]}
    assert compare_runs(folders)["run"]["preset"] == [None] * 3  # written before config.json named it: unknown


def test_compare_names_the_training_windows_as_windows_also_for_a_run_that_called_them_sequences(
        tmp_path: Path) -> None:
    """The data's training_sequences counted the windows (2412 for ml-100k's 943 users): now training_windows
    beside training_users, and an older run's count shows under training_windows, not as a setting."""
    for name, data in (("old", {"users": 943, "training_sequences": 2412}),
                       ("new", {"users": 943, "training_users": 943, "training_windows": 2412})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps({"model": {}, "train": {}, "data": data}))
        (tmp_path / name / "metrics.json").write_text(json.dumps({"best_epoch": 0, "epochs": 1, "seconds": 1.0}))
    comparison = compare_runs([tmp_path / "old", tmp_path / "new"])
    assert comparison["run"]["data.training_windows"] == [2412, 2412]
    assert comparison["run"]["data.training_users"] == [None, 943] and comparison["settings"] == {}
    assert "data of different sizes" not in format_comparison(comparison)  # a size one run lacks: no difference
    assert comparison["comparable"] is True
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model": {}, "train": {}, "data": {"users": 3000}}))
    (other / "metrics.json").write_text(json.dumps({"best_epoch": 0, "epochs": 1, "seconds": 1.0}))
    apart = compare_runs([tmp_path / "old", other])  # a subset of the data: metrics side by side
    assert apart["comparable"] is False  # --json says so too, not the text alone (helper-237)
    text = format_comparison(apart)
    assert ("the runs have the same settings\nthe runs trained on data of different sizes (the data rows): their "
            "metrics rank other users and items, not comparable as a change of settings\n") in text



def test_a_run_kept_midway_leaves_nothing_to_resume(tmp_path, monkeypatch):
    """keep_run removes last.pt before it moves best.pt: a process killed after the move (here: the move of
    config.json fails) leaves a working folder without last.pt, so a retry trains afresh instead of resuming a
    finished run whose best.pt is gone (it failed on the missing best.pt at every attempt)."""
    import shutil as shutil_module

    from elcrec_core.train import run_log

    work, kept = tmp_path / "work", tmp_path / "kept"
    work.mkdir()
    for name in ("best.pt", "last.pt", "config.json"):
        (work / name).write_text(name)
    move = shutil_module.move

    def killed(source, dest):
        if Path(source).name == "config.json":
            raise KeyboardInterrupt
        return move(source, dest)

    monkeypatch.setattr(run_log.shutil, "move", killed)
    with pytest.raises(KeyboardInterrupt):
        run_log.keep_run(work, kept)
    assert (kept / "best.pt").exists() and not (work / "last.pt").exists()
