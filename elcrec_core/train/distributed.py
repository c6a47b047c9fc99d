"""Data-parallel training on torch.distributed: the process group (started by torchrun or by
:mod:`elcrec_core.train.launch`), rank helpers and the collectives that keep the ranks in step.

Every helper is a no-op (or the identity) in a single process, so the single-process path is unchanged.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler

from elcrec_core.train.device import select_device
from elcrec_core.train.log_queues import die_with_parent


class DistributedFailure(RuntimeError):
    """A process of a distributed training failed other than by its settings or data (killed, out of memory, a lost
    peer): the same command again resumes after the last complete epoch."""


class Terminated(KeyboardInterrupt):
    """A distributed training ended by a signal other than Ctrl-C's to its caller (SIGTERM: a Dagster run's or a
    service's stop; SIGHUP, SIGQUIT: those torch's launcher catches too): an interruption, as Ctrl-C is, whose
    command ends with the status a shell gives a process that the signal ended, 128 + ``signal``."""

    def __init__(self, signal: int) -> None:
        super().__init__(f"signal {signal}")
        self.signal = signal


def launched() -> bool:
    """Whether this process was started by torchrun or torch's launch API (a launcher that sets ``WORLD_SIZE``)."""
    return "WORLD_SIZE" in os.environ


def active() -> bool:
    """Whether a process group of more than one process is initialised."""
    return dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    """The number of processes (1 without a process group)."""
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    """Rank 0: the process that logs and writes checkpoints."""
    return rank() == 0


@contextmanager
def process_group(device: str) -> Iterator[None]:
    """Join the launcher's process group for the duration (gloo on CPU, NCCL on CUDA with one GPU per local rank);
    nothing happens in a process that no launcher started."""
    if not launched():
        yield
        return
    die_with_parent()  # the launcher is our parent
    if select_device(device).type == "cuda":
        gpu = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(gpu)
        dist.init_process_group("nccl", device_id=gpu)
    else:
        dist.init_process_group("gloo")
    try:
        yield
    finally:
        dist.destroy_process_group()


def rank_device(device: torch.device) -> torch.device:
    """This rank's device: its own GPU (``LOCAL_RANK``) for CUDA under a process group, else ``device``."""
    if active() and device.type == "cuda":
        return torch.device("cuda", torch.cuda.current_device())
    return device


def _collective_device() -> torch.device:
    """Where the tensors of a collective live: this rank's GPU under NCCL, else the CPU."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def shuffled_shard(users: torch.Tensor, seed: int, epoch: int) -> torch.Tensor:
    """This rank's users for ``epoch``: a :class:`DistributedSampler` shard of one permutation shared by all
    ranks (seeded by ``seed`` and ``epoch``), padded by repeats so that every rank has as many batches."""
    sampler = DistributedSampler(users, num_replicas=world_size(), rank=rank(), shuffle=True, seed=seed)
    sampler.set_epoch(epoch)
    return users[torch.tensor(list(sampler), dtype=torch.long)]


def shard(items: torch.Tensor) -> torch.Tensor:
    """Every ``world_size``-th row, starting at this rank's."""
    return items[rank() :: world_size()]


def mean_over_ranks(values: dict[str, float], count: int) -> dict[str, float]:
    """Means of per-rank means ``values`` weighted by each rank's ``count`` (sums all-reduced in float64), the
    same on every rank."""
    if not active():
        return values
    sums = torch.tensor([v * count if count else 0.0 for v in values.values()] + [count], dtype=torch.float64,
                        device=_collective_device())
    dist.all_reduce(sums)
    return {name: (total / sums[-1]).item() for name, total in zip(values, sums[:-1])}


def gather(obj: Any) -> list[Any] | None:
    """Every rank's ``obj`` on rank 0 (None elsewhere); ``[obj]`` in a single process."""
    if not active():
        return [obj]
    out = [None] * world_size() if is_main() else None
    dist.gather_object(obj, out, dst=0)
    return out


def barrier() -> None:
    """Wait for every rank."""
    if active():
        dist.barrier()


def check_same(value: int, what: str) -> None:
    """Raise on every rank unless all ranks hold the same ``value`` (e.g. an epoch to resume from)."""
    if not active():
        return
    ends = torch.tensor([value, -value], dtype=torch.float64, device=_collective_device())
    dist.all_reduce(ends, op=dist.ReduceOp.MAX)
    high, low = ends[0].item(), -ends[1].item()
    if high != low:
        raise RuntimeError(f"ranks disagree on {what} ({low:.0f} to {high:.0f}): is the output folder shared by "
                           f"all machines?")


def state_digest(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 of a state dict's names and bytes: equal digests mean bitwise-equal parameters."""
    digest = hashlib.sha256()
    for name, tensor in state.items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def check_replicas(model: torch.nn.Module) -> str:
    """The digest of ``model``'s state, after checking that it is the same on every rank (raises if not)."""
    digest = state_digest(model.state_dict())
    if active():
        digests = [None] * world_size()
        dist.all_gather_object(digests, digest)
        if len(set(digests)) > 1:
            raise RuntimeError(f"model replicas differ across ranks: {digests}")
    return digest
