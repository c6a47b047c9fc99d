"""Process-level settings that make CPU training faster."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 << 20  # glibc's upper limit on 64-bit


def keep_freed_memory() -> bool:
    """Ask glibc malloc to keep freed blocks instead of returning them to the OS.

    By default every activation over 128 KiB is a fresh ``mmap`` whose pages fault in, zero-filled, at first
    touch; a training step allocates and frees hundreds of MB of such tensors, and the faults cost about a fifth
    of its time on CPU. Returns False where this is not glibc.
    """
    if not sys.platform.startswith("linux"):
        return False
    path = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(path)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    ok = mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX) == 1
    return ok and mallopt(_M_TRIM_THRESHOLD, 1 << 30) == 1
