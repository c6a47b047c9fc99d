"""Files written whole or not at all, on a file system that refuses the write (a full disk)."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Each write below runs in a process whose files may not grow past 16 KiB (RLIMIT_FSIZE; Python ignores SIGXFSZ,
# so a write past it fails with EFBIG, as one on a full disk fails with ENOSPC): every writer meets the refusal
# part-way, as on a full disk, without filling one.
WRITES = textwrap.dedent("""
    import json, resource, sys
    from pathlib import Path
    import numpy as np, torch
    from elcrec_core.data.atomic_files import write_atomically
    from elcrec_core.data.sequences import write_item_index_file
    from elcrec_core.report.plots import training_curve
    from elcrec_core.serve import challengers
    from elcrec_core.serve.model_store import ModelRecord
    from elcrec_core.train.checkpoint import save_checkpoint

    folder = Path(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, resource.RLIM_INFINITY))
    writes = {
        "last.pt": lambda path: save_checkpoint(path, {"weights": torch.arange(100_000, dtype=torch.float32)}),
        "item_index.parquet": lambda path: write_item_index_file(path, np.array([f"item {i}" for i in range(50_000)])),
        "report.json": lambda path: write_atomically(path, json.dumps(list(range(50_000)))),
        "training_curve.png": lambda path: training_curve(
            [{"epoch": e, "loss": e * 7919 % 101 / 100, "valid_NDCG@20": e * 104729 % 97 / 97} for e in range(3000)],
            path),  # jagged lines: a PNG past the limit
        "ranks.npz": lambda path: challengers._store_ranks(  # a baseline's stored ranks
            path.parent, "digest", ModelRecord(day="2026-01-02", run_id="r/ease", dir="d", kind="ease"),
            {"valid": (torch.arange(100_000), 0)}),
    }
    said = {}
    for name, write in writes.items():
        try:
            write(folder / name)
            said[name] = None
        except OSError as err:
            said[name] = [type(err).__name__, err.errno, str(err)]
    print(json.dumps(said))
""")


def test_a_write_that_the_file_system_refuses_names_the_file_and_leaves_it_as_it_was(tmp_path: Path) -> None:
    """A full disk in training said only torch's ``unexpected pos 704 vs 598`` and left ``.last.pt.tmp-<pid>``; the
    sequences' Parquet files and the training's JSON files were written in place, so a refused write left half a
    file for the next run to meet (helper-215). Each now names its file, keeps the earlier version and leaves no
    temporary file."""
    earlier = {"last.pt": b"the earlier checkpoint", "item_index.parquet": b"the earlier index",
               "report.json": b"[1, 2, 3]\n", "training_curve.png": b"the earlier plot",
               "ranks.npz": b"the earlier ranks"}
    for name, content in earlier.items():
        (tmp_path / name).write_bytes(content)
    done = subprocess.run([sys.executable, "-c", WRITES, str(tmp_path)], capture_output=True, text=True, timeout=120,
                          check=True)
    said = json.loads(done.stdout)
    for name, content in earlier.items():
        kind, code, message = said[name]
        assert kind == "NotWritten" and code == errno.EFBIG, said[name]
        assert message.startswith(f"{tmp_path / name} was not written, and is as it was: "), message
        assert "File too large" in message and "MiB free on its file system" in message, message
        assert (tmp_path / name).read_bytes() == content  # as it was
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(earlier)  # no temporary file left


def test_a_write_replaces_the_file_whole_and_takes_text_bytes_or_a_writer(tmp_path: Path) -> None:
    import polars as pl

    from elcrec_core.data.atomic_files import write_atomically

    path = tmp_path / "deep" / "file"
    write_atomically(path, "é\n")
    assert path.read_bytes() == "é\n".encode()
    write_atomically(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    write_atomically(path, pl.DataFrame({"a": [1, 2]}).write_parquet)
    assert pl.read_parquet(path)["a"].to_list() == [1, 2]
    assert [p.name for p in path.parent.iterdir()] == ["file"]

    def refused(_: Path) -> None:
        raise ValueError("no such column")

    with pytest.raises(OSError, match=rf"^{path} was not written, and is as it was: no such column"):
        write_atomically(path, refused)
    assert pl.read_parquet(path)["a"].to_list() == [1, 2]


def test_a_set_of_files_replaces_its_earlier_version_and_the_staging_that_killed_writers_left(tmp_path: Path) -> None:
    """A staging folder left by a killed writer is a whole copy of a day's sequences: removed by the next write, as
    write_atomically removes its temporary files (helper-222); a running process's own stays."""
    import os
    import subprocess

    from elcrec_core.data.atomic_files import replace_files

    ended = subprocess.Popen(["true"])
    ended.wait()  # a process id that no process holds now
    dead, alive = tmp_path / f".staging-{ended.pid}", tmp_path / f".staging-{os.getppid()}"
    for left in (dead, alive):
        left.mkdir()
        (left / "sequences.parquet").write_bytes(b"half")
    (tmp_path / "a").write_text("old a")
    (tmp_path / "kept").write_text("another file")

    def write(folder: Path) -> None:
        (folder / "a").write_text("new a")
        (folder / "b").write_text("new b")

    replace_files(tmp_path, write)
    assert {path.name: path.read_text() for path in tmp_path.iterdir() if path.is_file()} == {
        "a": "new a", "b": "new b", "kept": "another file"}
    assert not dead.exists() and alive.exists()


@pytest.mark.parametrize(("text", "said"), [("[]", "a JSON array"), ('"x"', "a JSON string"), ("1.5", "a JSON number"),
                                            ("true", "a JSON true or false"), ("null", "a JSON null")])
def test_a_file_of_json_that_is_no_object_is_named(tmp_path: Path, text: str, said: str) -> None:
    """Every JSON file the pipeline writes holds an object; one edited to another type (``[]``) failed later on a
    ``.get`` or a missing field that named no file (helper-222). It is named with its type and the advice."""
    from elcrec_core.data.atomic_files import RUN_AGAIN, read_json

    path = tmp_path / "settings.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError) as refused:
        read_json(path, RUN_AGAIN)
    assert str(refused.value) == f"{path} holds {said}, not the object that the pipeline writes{RUN_AGAIN}"
    path.write_text('{"a": [1]}', encoding="utf-8")
    assert read_json(path) == {"a": [1]}
