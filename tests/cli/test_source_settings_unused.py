"""Under ``--source FILE``, a setting that the file's format has no use for is named as the file's setting, not as an
option the user never typed (helper-281: ``format: sequence`` with ``user_column: uid`` was refused as
'--user-column: only for event files'); an option typed beside the file is named as the option."""

from __future__ import annotations

from pathlib import Path

import pytest

from elcrec_core.cli.main import main


@pytest.mark.parametrize(("settings", "typed", "said"), [
    ("user_column: uid\ntimezone: Europe/Paris\n", [],
     "user_column, timezone in {file}: only for event files (csv, tsv, jsonl, parquet), not the sequence format"),
    ("user_column: uid\n", ["--event-types", "buy", "--event-type-column", "kind"],
     "--event-type-column, --event-types, user_column in {file}: only for event files"),
])
def test_a_sequence_file_s_unused_settings_are_named_as_the_user_gave_them(tmp_path: Path, capsys, settings: str,
                                                                           typed: list[str], said: str) -> None:
    (tmp_path / "s.txt").write_text("1 1 2 3\n2 2 3 1\n", encoding="utf-8")
    source = tmp_path / "src.yaml"
    source.write_text("format: sequence\npath: s.txt\n" + settings, encoding="utf-8")
    assert main(["sequences", "--source", str(source), *typed]) != 0
    assert said.format(file=source.resolve()) in capsys.readouterr().err


def test_the_synthetic_source_s_unused_settings_are_the_file_s(tmp_path: Path, capsys) -> None:
    source = tmp_path / "src.yaml"
    source.write_text("format: synthetic\nrating_column: stars\n", encoding="utf-8")
    assert main(["sequences", "--source", str(source)]) != 0
    assert f"rating_column in {source.resolve()}: only for event files, not the synthetic data" in \
        capsys.readouterr().err
