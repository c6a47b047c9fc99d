"""Files written whole or not at all: through a temporary file beside the target and a rename."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file beside it and a rename: a reader never sees half
    a file, and a write that fails (a full disk) leaves ``path`` as it was and no temporary file (helper-215: a full
    disk cut the serving log's last line, and every later run failed on it). Raises the write's OSError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
