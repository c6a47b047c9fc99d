"""Security: checkpoints load with ``weights_only=True``, nothing unpickles, SQL built from configured names is
quoted (values are parameters), and the UI binds to this machine only."""

from __future__ import annotations

import ast
import json
import re
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from elcrec_core.data import warehouse
from elcrec_core.data.events_to_sequences import SequenceConfig, build_sequences
from elcrec_core.data.ingestion import ingest
from elcrec_core.data.item_metadata import read_item_metadata
from elcrec_core.data.source_config import ColumnMap, ItemMetadataConfig, SourceConfig
from elcrec_core.data.sources import read_source
from elcrec_core.data.validation import RowRules

REPO = Path(__file__).resolve().parents[1]
SKIPPED = {".venv", "runs", "data", ".dagster_home", ".git", "__pycache__"}
T0 = 1_772_366_400
HOSTILE = ['it\'s', 'say "hi"', 'x"; DROP TABLE loads; --', "a'); DROP TABLE loads; --", "back\\slash", "a/b~c"]


def _unsafe_loads(source: str) -> list[str]:
    """Calls that can run code from a file: ``torch.load`` without ``weights_only=True``, any use of pickle (or
    dill, cloudpickle, marshal), ``allow_pickle=True`` and ``yaml.load``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"line {node.lineno}: import {m}" for m in modules
                      if m.split(".")[0] in {"pickle", "dill", "cloudpickle", "marshal", "joblib"}]
        if not isinstance(node, ast.Call):
            continue
        name = ast.unparse(node.func)
        keywords = {k.arg: k.value for k in node.keywords}
        safe = isinstance(keywords.get("weights_only"), ast.Constant) and keywords["weights_only"].value is True
        if name == "torch.load" and not safe:
            found.append(f"line {node.lineno}: torch.load without weights_only=True")
        if isinstance(keywords.get("allow_pickle"), ast.Constant) and keywords["allow_pickle"].value is True:
            found.append(f"line {node.lineno}: allow_pickle=True")
        if name in {"yaml.load", "pd.read_pickle", "pandas.read_pickle"}:
            found.append(f"line {node.lineno}: {name}")
    return found


def test_the_scanner_finds_unsafe_loads() -> None:
    source = ("import pickle\nfrom dill import loads\nimport torch\ntorch.load(p)\ntorch.load(p, weights_only=False)\n"
              "torch.load(p, weights_only=True)\nnp.load(p, allow_pickle=True)\nyaml.load(text)\nyaml.safe_load(t)\n")
    assert _unsafe_loads(source) == [
        "line 1: import pickle", "line 2: import dill", "line 4: torch.load without weights_only=True",
        "line 5: torch.load without weights_only=True", "line 7: allow_pickle=True", "line 8: yaml.load"]


def test_no_code_loads_checkpoints_or_data_unsafely() -> None:
    files = [p for p in REPO.rglob("*.py") if not SKIPPED & set(p.relative_to(REPO).parts)]
    assert len(files) > 40
    found = {str(p.relative_to(REPO)): hits for p in files if (hits := _unsafe_loads(p.read_text()))}
    assert found == {}


def test_readme_binds_the_ui_to_this_machine() -> None:
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", (REPO / "README.md").read_text(), flags=re.S | re.M)
    commands = [line for block in blocks for line in block.splitlines() if re.search(r"dagster\S* dev\b", line)]
    assert commands and all(re.search(r"\s-h 127\.0\.0\.1\b", line) for line in commands), commands


# --- names from configuration reach SQL quoted ------------------------------------------------------------


def test_quote_identifier_doubles_quotes() -> None:
    assert warehouse.quote_identifier('a"b') == '"a""b"'
    assert warehouse.quote_identifier('x"; DROP TABLE loads; --') == '"x""; DROP TABLE loads; --"'


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_column_names_with_quotes_are_read_as_names(tmp_path: Path, fmt: str) -> None:
    user, item, stamp = HOSTILE[1], HOSTILE[2], HOSTILE[3]
    frame = pl.DataFrame({user: ["u1", "u2"], item: ["i1", 'i"2'], stamp: [T0, T0 + 1]})
    path = tmp_path / f"e.{fmt}"
    if fmt == "csv":
        frame.write_csv(path)
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in frame.iter_rows(named=True)))
    else:
        frame.write_parquet(path)
    got = read_source(SourceConfig(format=fmt, path=str(path), columns=ColumnMap(user, item, stamp)))
    assert got.select("user_id", "item_id", "error").rows() == [("u1", "i1", None), ("u2", 'i"2', None)]


@pytest.mark.parametrize("key", HOSTILE)
def test_json_keys_with_quotes_and_path_characters_are_read_as_keys(tmp_path: Path, key: str) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text(json.dumps({key: "u1", "item_id": "i1", "timestamp": T0, "other": "x"}) + "\n")
    got = read_source(SourceConfig(format="jsonl", path=str(path), columns=ColumnMap(user=key)))
    assert got.select("user_id", "item_id", "error").rows() == [("u1", "i1", None)]


def test_configured_names_of_a_headerless_file_and_item_metadata_are_quoted(tmp_path: Path) -> None:
    path = tmp_path / "e.tsv"
    path.write_text(f"u1\ti1\t{T0}\n")
    got = read_source(SourceConfig(format="tsv", path=str(path), header=False, names=tuple(HOSTILE[:3]),
                                   columns=ColumnMap(*HOSTILE[:3])))
    assert got.select("user_id", "item_id").rows() == [("u1", "i1")]
    items = tmp_path / "items.parquet"
    pl.DataFrame({HOSTILE[3]: ["i1"], HOSTILE[4]: ["Soap"], HOSTILE[0]: [["Bath"]]}).write_parquet(items)
    meta, rejected = read_item_metadata(ItemMetadataConfig(str(items), item=HOSTILE[3], title=HOSTILE[4],
                                                           categories=HOSTILE[0]))
    assert meta.rows() == [("i1", "Soap", ["Bath"])] and rejected.is_empty()


def test_table_names_with_quotes_stay_one_table(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    for name in HOSTILE:
        warehouse.replace_table(db, name, pl.DataFrame({"x": [1, 2]}))
    counts = warehouse.table_counts(db)
    assert {name: counts[name] for name in HOSTILE} == dict.fromkeys(HOSTILE, 2)
    assert counts["loads"] == 0  # still there


def test_configured_values_reach_sql_as_parameters(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    kinds = [HOSTILE[0], HOSTILE[2], "view"]
    pl.DataFrame({"user_id": ["u"] * 3, "item_id": ["i1", "i2", "i3"], "timestamp": [T0, T0 + 1, T0 + 2],
                  "kind": kinds}).write_csv(path)
    db = tmp_path / "w.duckdb"
    ingest(SourceConfig(format="csv", path=str(path), columns=ColumnMap(event_type="kind")),
           RowRules(now=datetime(2026, 11, 27)), db)
    build = build_sequences(SequenceConfig(event_types=(HOSTILE[0], HOSTILE[2]), k_core=0), db)
    assert (build.summary.events_in, build.summary.filtered_out, build.item_ids.tolist()) == (3, 1, ["i1", "i2"])
