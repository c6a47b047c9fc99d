"""The layers hold: import-linter's contracts in pyproject.toml ([tool.importlinter]) are kept, and the tool sees
the imports that would break them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(*config: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo", *map(str, config)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def test_the_layer_contracts_are_kept() -> None:
    done = _lint()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "elcrec_core imports neither dagster, assets nor elcrec_pipeline KEPT" in done.stdout
    assert "Contracts: 2 kept, 0 broken." in done.stdout


def test_a_forbidden_import_breaks_a_contract_and_is_named(tmp_path: Path) -> None:
    """The same kind of contract, pointed at imports that exist (the code location loads the assets; the assets
    use Dagster), is reported broken, with the importing module named."""
    config = tmp_path / "layers.toml"
    config.write_text('[tool.importlinter]\nroot_packages = ["elcrec_core", "assets", "elcrec_pipeline"]\n'
                      "include_external_packages = true\n\n"
                      '[[tool.importlinter.contracts]]\nname = "no assets in the code location"\n'
                      'type = "forbidden"\nsource_modules = ["elcrec_pipeline.definitions"]\n'
                      'forbidden_modules = ["assets"]\n\n'
                      '[[tool.importlinter.contracts]]\nname = "no dagster in the assets"\n'
                      'type = "forbidden"\nsource_modules = ["assets.training"]\nforbidden_modules = ["dagster"]\n')
    done = _lint(config)
    assert done.returncode == 1
    assert "Contracts: 0 kept, 2 broken." in done.stdout
    assert "elcrec_pipeline.definitions -> assets" in done.stdout
    assert "assets.training -> dagster" in done.stdout
