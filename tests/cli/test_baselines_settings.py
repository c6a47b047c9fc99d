"""elcrec baselines trains its SASRec with elcrec train's settings options and --config (helper-280: --hidden was
refused, so a custom run had no like-for-like SASRec)."""

from __future__ import annotations

import json
from pathlib import Path

from elcrec_core.cli.main import main
from elcrec_core.train.checkpoint import load_model


def _events(tmp_path: Path) -> Path:
    """8 users of 5 events each."""
    rows = [f"u{u},i{(u + k) % 10 + 1},{10 * u + k}" for u in range(8) for k in range(5)]
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,timestamp\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _sasrec(tmp_path: Path, capsys, *argv: str) -> tuple:
    """The model and the settings of the SASRec that ``elcrec baselines`` trains with ``argv``."""
    out = tmp_path / "sasrec"
    code = main(["baselines", "--data", str(_events(tmp_path)), "--epochs", "1", "--out", str(out), "--json", *argv])
    assert code == 0, capsys.readouterr().err
    model, _ = load_model(out / "best.pt")
    return model.cfg, json.loads((out / "config.json").read_text(encoding="utf-8"))


def test_baselines_trains_its_sasrec_with_the_model_settings_given(tmp_path: Path, capsys) -> None:
    cfg, config = _sasrec(tmp_path, capsys, "--hidden", "24", "--layers", "1", "--lr", "0.002")
    assert (cfg.hidden, cfg.n_layers, config["train"]["lr"], config["train"]["epochs"]) == (24, 1, 0.002, 1)
    assert config["train"]["cf_weight"] == config["train"]["trade_off"] == 0.0  # SASRec: the intent parts off


def test_baselines_reads_a_runs_config_as_train_does(tmp_path: Path, capsys) -> None:
    """--config run/config.json: the SASRec of a custom elcrec train run's settings (--epochs over them)."""
    run = tmp_path / "run"
    assert main(["train", "--data", str(_events(tmp_path)), "--out", str(run), "--epochs", "1", "--hidden", "16",
                 "--layers", "2"]) == 0
    cfg, config = _sasrec(tmp_path, capsys, "--config", str(run / "config.json"))
    assert (cfg.hidden, cfg.n_layers, config["train"]["epochs"]) == (16, 2, 1)
