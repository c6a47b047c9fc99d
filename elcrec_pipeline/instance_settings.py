"""The project's Dagster instance settings (``elcrec_pipeline/dagster.yaml``) that an instance folder's
``dagster.yaml`` lacks: ``scripts/setup.sh`` keeps an existing file as it is, so an instance made by an earlier
version misses settings added since, such as ``run_monitoring`` (without it, a run killed in a step of a pool keeps
its slot, and later runs wait for it for good, saying so only at DEBUG level). Run as
``python -m elcrec_pipeline.instance_settings INSTANCE_YAML``: prints a note naming them, if any."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

PROJECT_SETTINGS = Path(__file__).with_name("dagster.yaml")


def setting_paths(tree: Any, prefix: str = "") -> list[str]:
    """The dotted paths of the leaves of a YAML mapping (``run_monitoring.enabled``); none of a non-mapping."""
    if not isinstance(tree, dict):
        return []
    return [path for key, value in tree.items() for path in (
        setting_paths(value, f"{prefix}{key}.") if isinstance(value, dict) and value else [f"{prefix}{key}"])]


def missing_settings(instance_yaml: Path, project_yaml: Path = PROJECT_SETTINGS) -> list[str]:
    """The settings of ``project_yaml`` that ``instance_yaml`` does not set, in the project file's order. Raises
    ``yaml.YAMLError`` where the instance file is not YAML."""
    held = set(setting_paths(yaml.safe_load(instance_yaml.read_text(encoding="utf-8"))))
    project = setting_paths(yaml.safe_load(project_yaml.read_text(encoding="utf-8")))
    return [path for path in project if path not in held]


def main(argv: list[str]) -> int:
    instance = Path(argv[0])
    try:
        missing = missing_settings(instance)
    except (yaml.YAMLError, UnicodeDecodeError) as err:  # a note, never a failed set-up
        print(f"note: {instance} is not valid YAML in UTF-8: {err}")
        return 0
    if missing:
        print(f"note: {instance} lacks the project's settings {', '.join(missing)}: copy them from {PROJECT_SETTINGS}"
              + (" (without run_monitoring, a run killed in a step of a pool keeps its slot, and later runs wait for"
                 " it for good; their log says so only at DEBUG level: 'Step blocked by limit for pool')"
                 if any(path.startswith("run_monitoring.") for path in missing) else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
