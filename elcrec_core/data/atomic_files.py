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
        descriptor = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        tmp.replace(path)
    except Exception as err:
        raise _not_written(path, err) from err
    finally:
        tmp.unlink(missing_ok=True)
    for left in path.parent.glob(f".{glob.escape(path.name)}.tmp-*"):
        if not _running(left.name.rsplit("-", 1)[1]):
            left.unlink(missing_ok=True)


def replace_folder(folder: Path, write: Callable[[Path], object]) -> None:
    """Write ``folder``'s files as one: ``write`` writes them into a temporary folder beside it
    (``.<name>.tmp-<pid>``), which then takes its place, so that a reader never sees some files of the new version
    beside others of the old (a full disk after the first of them: helper-219). A failed ``write`` leaves ``folder``
    as it was and no temporary folder; raises :class:`NotWritten` as :func:`write_atomically` does."""
    tmp, old = (folder.with_name(f".{folder.name}.{what}-{os.getpid()}") for what in ("tmp", "old"))
    for left in (tmp, old):
        shutil.rmtree(left, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        write(tmp)
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
    except Exception as err:  # the cause of a file's refusal inside, told of the folder
        raise _not_written(folder, err.__cause__ if isinstance(err, NotWritten) else err) from err
    finally:
        for left in (tmp, old):
            shutil.rmtree(left, ignore_errors=True)


def _not_written(path: Path, err: Exception) -> NotWritten:
    """:class:`NotWritten` for ``path``, with ``err``'s errno and the free space of its file system."""
    free_mib = shutil.disk_usage(path.parent).free / 2**20
    refusal = NotWritten(f"{path} was not written, and is as it was: {err} ({free_mib:,.0f} MiB free on its file "
                         f"system)")
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


def read_json(path: Path, advice: str = "") -> Any:
    """The JSON that ``path`` holds; ValueError naming the file where it holds none (a damaged file said only
    ``Expecting value: line 1 column 1 (char 0)``: helper-217), followed by ``advice`` (``: run the day again``)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err}){advice}") from None
