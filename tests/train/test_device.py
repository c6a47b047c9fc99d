"""Precision choice: what ``auto`` means on each kind of device."""

import pytest
import torch

from elcrec_core.train import device as dev


@pytest.mark.parametrize(
    ("kind", "native", "precision", "expected"),
    [
        ("cuda", True, "auto", True),  # "native" here: a GPU of compute capability 8 (Ampere) or later
        ("cuda", False, "auto", False),  # a Volta or Turing GPU emulates bf16: fp32
        ("cpu", True, "auto", True),
        ("cpu", False, "auto", False),
        ("cpu", True, "fp32", False),
        ("cuda", True, "fp32", False),
        ("cpu", False, "bf16", True),
        ("cuda", False, "bf16", True),
    ],
)
def test_auto_precision_is_bf16_where_the_device_computes_it_natively(monkeypatch, kind, native, precision, expected):
    monkeypatch.setattr(dev, "cpu_has_native_bf16", lambda: native)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0) if native else (7, 5))
    assert dev.uses_bf16(torch.device(kind), precision) is expected


def test_autocast_context_matches_choice(monkeypatch):
    monkeypatch.setattr(dev, "cpu_has_native_bf16", lambda: True)
    a = torch.randn(4, 4)
    with dev.autocast_for(torch.device("cpu"), "auto"):
        assert (a @ a).dtype == torch.bfloat16
    with dev.autocast_for(torch.device("cpu"), "fp32"):
        assert (a @ a).dtype == torch.float32


@pytest.mark.parametrize(
    ("field", "flags", "native"),
    [
        ("flags", "fpu sse2 avx2 fma", False),  # AMD Zen 3: AVX2 only
        ("flags", "avx2 avx512f avx512bw avx512vl avx512dq avx512_vnni", False),  # Cascade Lake: AVX-512, no bf16
        ("flags", "avx2 avx512f avx512bw avx512vl avx512_bf16", True),  # Cooper Lake, Zen 4
        ("flags", "avx2 avx512f amx_tile amx_bf16 amx_int8", True),  # Sapphire Rapids
        ("Features", "fp asimd sve bf16 i8mm", True),  # Arm with FEAT_BF16 (Graviton 3)
        ("Features", "fp asimd aes", False),
    ],
)
def test_native_bf16_is_read_from_the_cpu_flags(tmp_path, field, flags, native):
    """torch's mkldnn check says yes for every AVX-512 CPU, where bf16 is emulated and slower than fp32; the CPU's
    own flags say whether bf16 products run in hardware. cpu_model names it the same way."""
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: Some CPU\n{field}\t\t: {flags}\n\nprocessor\t: 1\n"
                       f"{field}\t\t: avx512_bf16 bf16\n")  # the first CPU's flags count
    assert dev.cpu_has_native_bf16(cpuinfo) is native
    assert ("native bf16" in dev.cpu_model(cpuinfo)) is native


def test_without_cpuinfo_or_its_flags_the_check_is_torchs(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    (tmp_path / "bare").write_text("processor\t: 0\nmodel name\t: Some CPU\n")
    assert dev.cpu_has_native_bf16(tmp_path / "missing") is True and dev.cpu_has_native_bf16(tmp_path / "bare")
