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
    assert "elcrec_core's rooms are layered (a room imports only those below it) KEPT" in done.stdout
    assert "the run config and resources that assets use import no asset (no cycle between the packages) KEPT" in \
        " ".join(done.stdout.split())
    assert "Contracts: 4 kept, 0 broken." in done.stdout


def test_a_room_importing_a_room_above_it_breaks_the_layers(tmp_path: Path) -> None:
    """The rooms' order, turned upside down, is reported broken with an import that exists named."""
    config = tmp_path / "rooms.toml"
    config.write_text('[tool.importlinter]\nroot_packages = ["elcrec_core"]\n\n'
                      '[[tool.importlinter.contracts]]\nname = "upside down"\ntype = "layers"\n'
                      'containers = ["elcrec_core"]\nlayers = ["config", "model", "cli"]\n')
    done = _lint(config)
    assert done.returncode == 1
    assert "elcrec_core.model.elcrec -> elcrec_core.config.settings" in done.stdout


def test_every_module_of_the_library_is_under_300_lines() -> None:
    """One module, one thing (ARCHITECTURE.md): none of elcrec_core's modules is 300 lines or more."""
    sizes = {str(path.relative_to(REPO)): len(path.read_text().splitlines())
             for path in (REPO / "elcrec_core").rglob("*.py")}
    assert len(sizes) > 50
    assert {path: n for path, n in sizes.items() if n >= 300} == {}


def test_every_module_of_the_library_is_named_in_its_rooms_row_of_the_architecture() -> None:
    """ARCHITECTURE.md's table of rooms is the map of the library; it had fallen behind by a dozen modules
    (expectations, day_loads, source_file, pace, ...: helper-177)."""
    rows = {line.split("|")[1].strip(" `"): line.split("|")[2] for line in
            (REPO / "ARCHITECTURE.md").read_text(encoding="utf-8").splitlines() if line.startswith("| `")}
    modules = [(path.parent.name, path.stem) for path in (REPO / "elcrec_core").glob("*/*.py")
               if path.stem not in ("__init__", "__main__")]
    assert len(modules) > 50
    assert [f"{room}.{name}" for room, name in modules if f"`{name}`" not in rows.get(room, "")] == []


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
