"""Every text file the product reads or writes names its encoding (UTF-8): without one, Python takes the locale's,
so a settings file with ``ü`` failed under ``LC_ALL=C`` (``'ascii' codec can't decode byte 0xc3``) and a report
with an item's accented title would be written in cp1252 on Windows (helper-131)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("elcrec_core", "assets", "elcrec_pipeline")


def _mode(call: ast.Call, position: int) -> str | None:
    """The mode of an ``open`` call given at ``position`` or as ``mode=``; None where not a constant or absent."""
    given = call.args[position] if len(call.args) > position else next(
        (k.value for k in call.keywords if k.arg == "mode"), None)
    return given.value if isinstance(given, ast.Constant) else "r" if given is None else None


def _text_calls_without_encoding(source: str) -> list[int]:
    """The lines of calls that open a text file without ``encoding=``: ``read_text``, ``write_text``, ``open`` (the
    built-in with its mode second, ``Path.open`` with it first) in a text mode. A ``.open`` whose first argument is
    no string constant opens no file (urllib's ``opener.open(request)``): a mode here is always written out."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or any(k.arg == "encoding" for k in node.keywords):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ("read_text", "write_text"):
            lines.append(node.lineno)
        elif isinstance(func, ast.Name) and func.id == "open" and "b" not in (_mode(node, 1) or ""):
            lines.append(node.lineno)
        elif (isinstance(func, ast.Attribute) and func.attr == "open" and not (
                isinstance(func.value, ast.Name) and func.value.id == "os") and "b" not in (_mode(node, 0) or "")
              and not (node.args and not isinstance(node.args[0], ast.Constant))):
            lines.append(node.lineno)
    return lines


def test_every_text_file_of_the_product_is_opened_as_utf8() -> None:
    found = [f"{path.relative_to(REPO)}:{line}" for package in PACKAGES
             for path in sorted((REPO / package).rglob("*.py"))
             for line in _text_calls_without_encoding(path.read_text(encoding="utf-8"))]
    assert found == []


def test_the_check_finds_what_it_looks_for() -> None:
    source = ("from pathlib import Path\np = Path('x')\np.read_text()\np.write_text('a')\nopen(p)\nopen(p, 'w')\n"
              "p.open('a')\np.open('rb')\nopen(p, 'rb')\np.read_text(encoding='utf-8')\nimport os\nos.open(p, 1)\n"
              "opener.open(request, timeout=10)\np.open()\n")
    assert _text_calls_without_encoding(source) == [3, 4, 5, 6, 7, 14]


def test_a_settings_file_with_non_ascii_text_reads_in_the_c_locale(tmp_path: Path) -> None:
    """The source settings file is read as UTF-8 whatever the locale (here ASCII, UTF-8 mode off)."""
    settings = tmp_path / "source.yaml"
    settings.write_text("format: csv\npath: ereignisse-ü.csv\n", encoding="utf-8")
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    code = ("import locale; from elcrec_pipeline.resources import SourceFile; "
            f"print(locale.getpreferredencoding(False)); print(ascii(SourceFile(path={str(settings)!r}).settings()))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    encoding, read = done.stdout.decode("ascii").splitlines()[:2]
    assert encoding.lower() in ("ansi_x3.4-1968", "ascii", "us-ascii")
    assert read == ascii({"format": "csv", "path": str(tmp_path / "ereignisse-ü.csv")})
