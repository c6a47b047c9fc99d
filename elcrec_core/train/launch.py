"""Data-parallel training in several processes on this machine, started in process through torch's launch API
(:func:`torch.distributed.launcher.api.elastic_launch`, what ``torchrun --standalone`` runs): each process joins
the process group and calls :func:`~elcrec_core.train.loop.train`; rank 0's log lines stream back to the caller.

On several machines, start ``elcrec train`` under ``torchrun`` on each of them instead (README, "Distributed
training"); :func:`elcrec_core.train.distributed.process_group` joins that group the same way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import queue
import signal
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import torch
from torch.distributed.elastic.multiprocessing.api import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.launcher.api import LaunchConfig, elastic_launch

from elcrec_core.config.settings import ExperimentConfig
from elcrec_core.data.sequences import Sequences
from elcrec_core.train import distributed
from elcrec_core.train.checkpoint import LAST, CheckpointError
from elcrec_core.train.distributed import DistributedFailure, Terminated
from elcrec_core.train.log_queues import start_manager
from elcrec_core.train.loop import TrainResult, train
from elcrec_core.train.objective import NonFiniteLoss
from elcrec_core.train.state import load_last, other_settings, processes_change


def train_distributed(nproc: int, seqs: Sequences, exp: ExperimentConfig, out_dir: str | Path,
                      log: Callable[[str], None] = print, resume: bool = True,
                      init_from: str | Path | None = None, threads: int | None = None) -> TrainResult:
    """:func:`~elcrec_core.train.loop.train` of ``seqs`` with ``exp`` into ``out_dir`` in ``nproc`` (>= 2)
    processes on this machine under DistributedDataParallel (gloo on CPU; NCCL with one GPU per process on CUDA).

    Each process runs ``threads`` CPU threads (None: ``OMP_NUM_THREADS`` if set, else the cores / ``nproc``).
    Returns rank 0's result, with ``seconds`` the wall time of the launch (the processes' start included).
    Raises ValueError for ``nproc`` < 2, an ``OMP_NUM_THREADS`` that is no count (naming it) or a run of ``out_dir``
    to resume of another number of processes (before any process starts), KeyboardInterrupt where Ctrl-C stopped
    them (:class:`~elcrec_core.train.distributed.Terminated` where a TERM signal did), and
    :class:`DistributedFailure` naming each rank that failed, its error and exit code (the traceback is on stderr; a
    rank a signal killed first, then the rank whose training raised first) when a process fails
    (:class:`NonFiniteLoss` where one diverged, :class:`~elcrec_core.train.checkpoint.CheckpointError` where one
    refused its checkpoint, ValueError where one refused the settings); a killed caller takes
    its processes with it."""
    if nproc < 2:
        raise ValueError(f"nproc must be at least 2 for distributed training, not {nproc}")
    last = Path(out_dir) / LAST  # refused here, not in each process after their start (30 lines of torch's log)
    if resume and last.is_file() and (change := processes_change(load_last(last), nproc, exp.train.batch_size)):
        raise other_settings(last, change)
    threads = threads or _omp_threads() or max(1, _cores() // nproc)
    if nproc > _cores() and not torch.cuda.is_available():  # accepted without a word (helper-240)
        log(f"{nproc} processes on {_cores()} CPU cores: they take turns on the cores (--nproc {_cores()} or fewer "
            "trains faster)")
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=f"elcrec-{uuid.uuid4().hex}",
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0, start_method="spawn")
    began = time.perf_counter()
    with start_manager() as manager:
        lines, raised = manager.Queue(), manager.Queue()
        relay = threading.Thread(target=_relay, args=(lines, log), daemon=True)
        relay.start()
        try:
            results = elastic_launch(config, _rank)(seqs, exp, str(out_dir), resume, init_from, threads, lines,
                                                    raised)
        except SignalException as err:  # Ctrl-C (or a TERM) of the caller: as in one process (helper-203), not
            if err.sigval == signal.SIGINT:  # torch's traceback (helper-240)
                raise KeyboardInterrupt from None
            raise Terminated(err.sigval) from None
        except ChildFailedError as err:
            errors = _failures(err, _drain(raised))
            failed = f"distributed training in {nproc} processes failed: {_describe(errors, err)}"
            kinds = {error.split(":", 1)[0] for error in errors.values()}
            # the settings diverge, a checkpoint is corrupt, the settings do not fit the data: a retry fails too (a
            # corrupt last.pt was a process failure, rc 1, "the same command again resumes": helper-244)
            for kind in (NonFiniteLoss, CheckpointError, ValueError):
                if kind.__name__ in kinds:
                    raise kind(failed) from None
            raise DistributedFailure(failed) from None
        finally:
            lines.put(None)
            relay.join()
    return dataclasses.replace(results[0], seconds=time.perf_counter() - began)


def _rank(seqs: Sequences, exp: ExperimentConfig, out_dir: str, resume: bool, init_from: str | Path | None,
          threads: int, lines: queue.Queue, raised: queue.Queue) -> TrainResult:
    """One process: join the process group, train, return the result (rank 0's goes back to the caller).

    An error training raises goes on ``raised`` as ``(rank, "<type>: <message>")`` before the process leaves the
    group: the peers then fail on its closed connection, and the launcher may stop this process before torch has
    recorded its error (on the way out, to the whole second), so the queue keeps which rank failed first."""
    torch.set_num_threads(threads)
    with distributed.process_group(exp.train.device):
        try:
            return train(seqs, exp, out_dir, resume=resume, log=lines.put, init_from=init_from)
        except Exception as err:
            with contextlib.suppress(Exception):  # the manager gone: the error itself still fails the rank
                raised.put((distributed.rank(), f"{type(err).__name__}: {err}"))
            raise


def _relay(lines: queue.Queue, log: Callable[[str], None]) -> None:
    """Hand each line rank 0 logs to ``log``, in order, until None arrives."""
    for line in iter(lines.get, None):
        log(line)


def _drain(raised: queue.Queue) -> list[tuple[int, str]]:
    """What the ranks put on ``raised``, in the order they put it."""
    items = []
    while True:
        try:
            items.append(raised.get_nowait())
        except queue.Empty:
            return items


def _failures(err: ChildFailedError, raised: list[tuple[int, str]]) -> dict[int, str]:
    """Each failed rank's error, ``"<type>: <message>"`` on one line: first the ranks a signal ended (a process
    killed: its peers then fail on the connection it closed, helper-203), then the errors the ranks' training raised,
    in the order raised, then the other failures the launcher saw (failing outside training), by time."""
    errors: dict[int, str] = {rank: _message(failure.message) for rank, failure in sorted(
        err.failures.items(), key=lambda rank_failure: rank_failure[1].timestamp) if failure.exitcode < 0}
    for rank, error in raised:
        errors.setdefault(rank, _message(error))
    for rank, failure in sorted(err.failures.items(), key=lambda rank_failure: rank_failure[1].timestamp):
        errors.setdefault(rank, _message(failure.message))
    return errors


def _describe(errors: dict[int, str], err: ChildFailedError) -> str:
    """``rank R: <its error> (exit code C)`` for each rank of ``errors``, in order; no exit code for a rank the
    launcher stopped before it exited of its own accord."""
    return "; ".join(f"rank {rank}: {error}" + (f" (exit code {err.failures[rank].exitcode})"
                                               if rank in err.failures else "") for rank, error in errors.items())


def _message(message: str | dict) -> str:
    """The error a process recorded (torch's error file holds ``{"message": ...}``), on one line."""
    text = message.get("message", "") if isinstance(message, dict) else message
    return " ".join(str(text).split())


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _omp_threads() -> int:
    """The threads of ``OMP_NUM_THREADS`` (its first level, as OpenMP reads "4,2"); 0 where it is not set. Raises
    ValueError naming the variable for a value that is no count."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    first = value.split(",")[0].strip()
    if first and not first.isdecimal():  # not isdigit: "²" is a digit that int() refuses
        raise ValueError(f"OMP_NUM_THREADS={value!r}: expected a number of threads, such as 4")
    return int(first or 0)
