"""The server of a distributed launch's queues (rank 0's log lines, the ranks' errors) and the processes that end
with their parent. Standard library only: the server's spawned process imports this module, not torch (it
imported the whole training library, half a GB and seconds of start-up, to hold two queues)."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from multiprocessing import resource_tracker
from multiprocessing.managers import SyncManager

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (no-op elsewhere), so that a killed pipeline step
    takes its training processes with it instead of leaving them writing checkpoints."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def end_with_parent(parent: int) -> None:
    """In a child process of ``parent`` (its pid): have Linux kill it when the parent ends (``PR_SET_PDEATHSIG``),
    and end now where the parent has already gone (it has another parent: init, or a subreaper); nothing elsewhere
    (the manager's server then outlives a killed caller, as before)."""
    if not sys.platform.startswith("linux"):
        return
    die_with_parent()
    if os.getppid() != parent:  # the parent died before the request: no signal comes
        os._exit(1)


def start_manager() -> SyncManager:
    """A started manager (the queues of the ranks' log lines and errors) whose server process ends with this one:
    a ``kill -9`` of ``elcrec train --nproc 2`` left it and its resource tracker running for good. Raises
    KeyboardInterrupt for a Ctrl-C during the start, the server stopped."""
    manager = SyncManager(ctx=multiprocessing.get_context("spawn"))
    # Ctrl-C while the server starts: one that fell in the middle left it running (it ignores SIGINT), unknown, and
    # Python's exit waited on it for good (helper-240). This thread holds it until the end of the start (spawned
    # so, the server prints no traceback of its imports for a Ctrl-C of the terminal), but another thread of the
    # process may take it: then the server is stopped, whatever point it had reached.
    resource_tracker.ensure_running()  # first: its start unblocks SIGINT in this thread (helper-242)
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        try:
            manager.start(initializer=end_with_parent, initargs=(os.getpid(),))
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)  # a Ctrl-C held is raised here
    except BaseException:
        if shutdown := getattr(manager, "shutdown", None):  # started
            shutdown()
        elif (server := getattr(manager, "_process", None)) is not None and server.is_alive():
            server.kill()
            server.join()
        raise
    return manager
