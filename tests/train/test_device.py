"""Precision choice: what ``auto`` means on each kind of device."""

import pytest
import torch

from elcrec_core.train import device as dev


@pytest.mark.parametrize(
    ("kind", "native", "precision", "expected"),
    [
        ("cuda", False, "auto", True),
        ("cpu", True, "auto", True),
        ("cpu", False, "auto", False),
        ("cpu", True, "fp32", False),
        ("cuda", True, "fp32", False),
        ("cpu", False, "bf16", True),
    ],
)
def test_auto_precision_is_bf16_on_cuda_and_native_bf16_cpus(monkeypatch, kind, native, precision, expected):
    monkeypatch.setattr(dev, "cpu_has_native_bf16", lambda: native)
    assert dev.uses_bf16(torch.device(kind), precision) is expected


def test_autocast_context_matches_choice(monkeypatch):
    monkeypatch.setattr(dev, "cpu_has_native_bf16", lambda: True)
    a = torch.randn(4, 4)
    with dev.autocast_for(torch.device("cpu"), "auto"):
        assert (a @ a).dtype == torch.bfloat16
    with dev.autocast_for(torch.device("cpu"), "fp32"):
        assert (a @ a).dtype == torch.float32
