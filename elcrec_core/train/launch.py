"""Data-parallel training in several processes on this machine, started in process through torch's launch API
(:func:`torch.distributed.launcher.api.elastic_launch`, what ``torchrun --standalone`` runs): each process joins
the process group and calls :func:`~elcrec_core.train.loop.train`; rank 0's log lines stream back to the caller.

On several machines, start ``elcrec train`` under ``torchrun`` on each of them instead (README, "Distributed
training"); :func:`elcrec_core.train.distributed.process_group` joins that group the same way.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import torch
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.launcher.api import LaunchConfig, elastic_launch

from elcrec_core.config.settings import ExperimentConfig
from elcrec_core.data.sequences import Sequences
from elcrec_core.train import distributed
from elcrec_core.train.loop import TrainResult, train
from elcrec_core.train.objective import NonFiniteLoss


def train_distributed(nproc: int, seqs: Sequences, exp: ExperimentConfig, out_dir: str | Path,
                      log: Callable[[str], None] = print, resume: bool = True,
                      init_from: str | Path | None = None, threads: int | None = None) -> TrainResult:
    """:func:`~elcrec_core.train.loop.train` of ``seqs`` with ``exp`` into ``out_dir`` in ``nproc`` (>= 2)
    processes on this machine under DistributedDataParallel (gloo on CPU; NCCL with one GPU per process on CUDA).

    Each process runs ``threads`` CPU threads (None: ``OMP_NUM_THREADS`` if set, else the cores / ``nproc``).
    Returns rank 0's result, with ``seconds`` the wall time of the launch (the processes' start included).
    Raises ValueError for ``nproc`` < 2 and RuntimeError naming each rank that failed, its error and exit code
    (the traceback is on stderr) when a process fails (:class:`NonFiniteLoss` where one diverged, ValueError
    where one refused the settings); a killed caller takes its processes with it."""
    if nproc < 2:
        raise ValueError(f"nproc must be at least 2 for distributed training, not {nproc}")
    threads = threads or int(os.environ.get("OMP_NUM_THREADS", "0")) or max(1, _cores() // nproc)
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=f"elcrec-{uuid.uuid4().hex}",
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0, start_method="spawn")
    began = time.perf_counter()
    with multiprocessing.get_context("spawn").Manager() as manager:
        lines = manager.Queue()
        relay = threading.Thread(target=_relay, args=(lines, log), daemon=True)
        relay.start()
        try:
            results = elastic_launch(config, _rank)(seqs, exp, str(out_dir), resume, init_from, threads, lines)
        except ChildFailedError as err:
            failed = f"distributed training in {nproc} processes failed: {_failure(err)}"
            errors = {_message(f.message).split(":", 1)[0] for f in err.failures.values()}
            for kind in (NonFiniteLoss, ValueError):  # the settings diverge, or do not fit the data: a retry fails too
                if kind.__name__ in errors:
                    raise kind(failed) from None
            raise RuntimeError(failed) from None
        finally:
            lines.put(None)
            relay.join()
    return dataclasses.replace(results[0], seconds=time.perf_counter() - began)


def _rank(seqs: Sequences, exp: ExperimentConfig, out_dir: str, resume: bool, init_from: str | Path | None,
          threads: int, lines: queue.Queue) -> TrainResult:
    """One process: join the process group, train, return the result (rank 0's goes back to the caller)."""
    torch.set_num_threads(threads)
    with distributed.process_group(exp.train.device):
        return train(seqs, exp, out_dir, resume=resume, log=lines.put, init_from=init_from)


def _relay(lines: queue.Queue, log: Callable[[str], None]) -> None:
    """Hand each line rank 0 logs to ``log``, in order, until None arrives."""
    for line in iter(lines.get, None):
        log(line)


def _failure(err: ChildFailedError) -> str:
    """``rank R: <its error> (exit code C)`` for each failed process, the first failure first."""
    failures = sorted(err.failures.items(), key=lambda rank_failure: rank_failure[1].timestamp)
    return "; ".join(f"rank {rank}: {_message(f.message)} (exit code {f.exitcode})" for rank, f in failures)


def _message(message: str | dict) -> str:
    """The error a process recorded (torch's error file holds ``{"message": ...}``), on one line."""
    text = message.get("message", "") if isinstance(message, dict) else message
    return " ".join(str(text).split())


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
