"""The pipeline's own files: written whole or not at all (through a temporary file beside the target and a
rename), and JSON read back naming the file where it is damaged."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any


RUN_AGAIN = ": run its day again, which writes it anew"  # the advice for a damaged file of a day's sequences


class NotWritten(OSError):
    """A file that could not be written (a full disk): the message names it; ``errno`` is the cause's, where known."""


def write_atomically(path: Path, content: str | bytes | Callable[[Path], object]) -> None:
    """Write ``content`` to ``path`` through a temporary file beside it (``.<name>.tmp-<pid>``), flushed to disk,
    and a rename: a reader never sees half a file, and a write that fails leaves ``path`` as it was and no temporary
    file. ``content`` is text (written as UTF-8), bytes, or a function that writes the file at the path it is given
    (``frame.write_parquet``). Then removes the temporary files of ``path`` that processes no longer running left
    (killed while they wrote: each stayed for good, helper-203).

    Raises :class:`NotWritten` naming ``path`` and the free space of its file system, with the cause's errno where
    it has one (a full disk cut the serving log's last line, and torch said only ``unexpected pos 704 vs 598`` for a
    checkpoint: helper-215)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        if callable(content):
            content(tmp)
        else:
            tmp.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        _flush(tmp)
        tmp.replace(path)
    except Exception as err:
        raise _not_written(path, err) from err
    finally:
        tmp.unlink(missing_ok=True)
    _remove_left(path.parent, f".{glob.escape(path.name)}.tmp-*")


def replace_files(folder: Path, write: Callable[[Path], object]) -> None:
    """Write a set of files into ``folder`` as one: ``write`` writes them into a staging folder inside it
    (``.staging-<pid>``), flushed to disk, and only then are they moved into place, so that a refused write (a full
    disk after the first of them) leaves every file of ``folder`` as it was, not new sequences beside old settings
    (helper-219); only a kill between the moves (renames: microseconds) can leave both. The folder's other files
    stay, and a folder that links elsewhere is written through (helper-221).
    Then removes the staging folders that processes no longer running left. Raises :class:`NotWritten` as
    :func:`write_atomically` does."""
    staging = folder / f".staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
        write(staging)
        written = sorted(file for file in staging.iterdir() if file.is_file())
        for file in written:
            _flush(file)
    except Exception as err:  # the cause of a file's refusal inside, told of the folder
        shutil.rmtree(staging, ignore_errors=True)
        raise _not_written(folder, err.__cause__ if isinstance(err, NotWritten) else err) from err
    for file in written:  # renames within one file system: no space needed
        file.replace(folder / file.name)
    shutil.rmtree(staging, ignore_errors=True)
    _remove_left(folder, ".staging-*")


def _flush(path: Path) -> None:
    """``path``'s data on disk (fsync)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _remove_left(folder: Path, pattern: str) -> None:
    """Remove the temporary files or folders in ``folder`` that match ``pattern`` (their names end ``-<pid>``) whose
    process no longer runs."""
    for left in folder.glob(pattern):
        if _running(left.name.rsplit("-", 1)[1]):
            continue
        if left.is_dir():
            shutil.rmtree(left, ignore_errors=True)
        else:
            left.unlink(missing_ok=True)


def _not_written(path: Path, err: Exception) -> NotWritten:
    """:class:`NotWritten` for ``path``, with ``err``'s errno and the free space of its file system."""
    try:
        free = f"{shutil.disk_usage(path.parent).free / 2**20:,.0f} MiB free on its file system"
    except OSError:  # no such folder: the cause says why
        free = "its folder cannot be read"
    refusal = NotWritten(f"{path} was not written, and is as it was: {err} ({free})")
    refusal.errno = getattr(err, "errno", None) or _os_error_code(str(err))
    return refusal


def _os_error_code(message: str) -> int | None:
    """The errno that a message of Rust's I/O errors, as polars raises them, holds (``... (os error 28)``)."""
    found = re.search(r"\(os error (\d+)\)", message)
    return int(found.group(1)) if found else None


def _running(pid: str) -> bool:
    """Whether a process of id ``pid`` (text) runs on this machine."""
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:  # another user's
        return True
    return True


def read_json(path: Path, advice: str = "") -> dict[str, Any]:
    """The JSON object that ``path`` holds, as every file the pipeline writes holds one; ValueError naming the file
    where it holds no JSON (a damaged file said only ``Expecting value: line 1 column 1 (char 0)``: helper-217) or
    JSON of another type (``[]`` or ``"x"`` failed later on a ``.get`` or a missing field: helper-222), followed by
    ``advice`` (:data:`RUN_AGAIN`)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err}){advice}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path} holds a JSON {json_kind(value)}, not the object that the pipeline writes{advice}")
    return value


def json_kind(value: Any) -> str:
    """What JSON calls the type of ``value`` as :func:`json.loads` gives it: object, array, string, number, ..."""
    return {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "true or false",
            type(None): "null"}.get(type(value), type(value).__name__)
