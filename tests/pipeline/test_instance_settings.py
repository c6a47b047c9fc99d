"""The note of scripts/setup.sh on an instance folder made by an earlier version: the project's settings it lacks
(helper-129: an instance without run_monitoring kept a killed run's pool slot, and the next run waited, silent)."""

from __future__ import annotations

from pathlib import Path

from elcrec_pipeline.instance_settings import PROJECT_SETTINGS, main, missing_settings, setting_paths


def test_the_settings_an_earlier_instance_lacks_are_named(tmp_path: Path, capsys) -> None:
    old = tmp_path / "dagster.yaml"
    old.write_text("telemetry:\n  enabled: false\nconcurrency:\n  pools:\n    default_limit: 1\n", encoding="utf-8")
    assert missing_settings(old) == ["run_monitoring.enabled", "run_monitoring.poll_interval_seconds",
                                     "run_monitoring.free_slots_after_run_end_seconds",
                                     "run_monitoring.max_resume_run_attempts"]
    assert main([str(old)]) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"note: {old} lacks the project's settings run_monitoring.enabled, ") and \
        "'Step blocked by limit for pool'" in said
    assert missing_settings(PROJECT_SETTINGS) == []
    old.write_text(PROJECT_SETTINGS.read_text(encoding="utf-8") + "run_queue:\n  max_concurrent_runs: 4\n")
    assert missing_settings(old) == [] and main([str(old)]) == 0 and capsys.readouterr().out == ""  # more is fine
    old.write_text(PROJECT_SETTINGS.read_text(encoding="utf-8").replace("telemetry:\n  enabled: false\n", ""),
                   encoding="utf-8")  # run_monitoring's reason only where it lacks some of run_monitoring
    assert main([str(old)]) == 0 and capsys.readouterr().out == (
        f"note: {old} lacks the project's settings telemetry.enabled: copy them from {PROJECT_SETTINGS}\n")
    for broken in (b"telemetry: [", b"telemetry:\n  enabled: \xff\n"):  # a note, never a failed set-up
        old.write_bytes(broken)
        assert main([str(old)]) == 0 and "is not valid YAML in UTF-8" in capsys.readouterr().out


def test_setting_paths_are_the_leaves_of_the_mapping() -> None:
    assert setting_paths({"a": {"b": 1, "c": {"d": None}}, "e": {}, "f": [1]}) == ["a.b", "a.c.d", "e", "f"]
    assert setting_paths(None) == [] and setting_paths("text") == []
