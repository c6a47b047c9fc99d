"""Shared fixtures: the benchmark data beside the repository, and small synthetic data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# ELCREC_SHARED_DIR: for a copy of the tests elsewhere (benchmarks/mutation.py runs them from mutants/)
SHARED = Path(os.environ.get("ELCREC_SHARED_DIR") or Path(__file__).resolve().parents[1].parent / "shared")


@pytest.fixture(autouse=True)
def _one_thread_per_test():
    """Tests use small tensors: more threads only add scheduling noise on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def shared() -> Path:
    """The shared benchmark folder; tests that need it skip only when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent")
    return SHARED
