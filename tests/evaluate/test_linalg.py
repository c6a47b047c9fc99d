"""spd_inverse_: LAPACK's Cholesky inverse in place, the full symmetric inverse, clear refusals."""

from __future__ import annotations

import pytest
import torch
from threadpoolctl import threadpool_info

from elcrec_core.evaluate import linalg
from elcrec_core.evaluate.linalg import spd_inverse_


def _spd(n: int, dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n + 3, n, generator=g, dtype=torch.float64)
    return (x.T @ x + 0.5 * torch.eye(n, dtype=torch.float64)).to(dtype)


@pytest.mark.parametrize("backend", ["scipy", "torch"])
@pytest.mark.parametrize("n", [1, 2, 7, 130])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_inverse_in_place(n: int, dtype: torch.dtype, backend: str) -> None:
    a = _spd(n, dtype)
    expected = torch.linalg.inv(a.double())
    address = a.data_ptr()
    inverse = spd_inverse_(a, backend)
    assert inverse.data_ptr() == address and inverse.dtype == dtype and inverse.is_contiguous()
    assert torch.equal(inverse, inverse.T)  # both triangles, mirrored exactly
    tol = {"rtol": 1e-9, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-3, "atol": 1e-5}
    torch.testing.assert_close(inverse.double(), expected, **tol)


def test_torchs_factor_is_written_into_the_matrix() -> None:
    """EASE at 24,813 items held 13.5 GB: each n x n matrix counts. torch's path allocates one n x n temporary (in
    cholesky_inverse), not also the Cholesky factor beside ``a`` nor a copy for the check that ``a`` is finite
    (before: four), as the profiler sees them."""
    n = 200
    a = _spd(n, torch.float64)
    expected = torch.linalg.inv(a)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
        spd_inverse_(a, "torch")
    matrices = [e.name for e in prof.events() if e.cpu_memory_usage >= n * n * a.element_size()]
    assert len(matrices) == 1, matrices
    torch.testing.assert_close(a, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("backend", ["scipy", "torch"])
def test_not_positive_definite_is_refused(backend: str) -> None:
    a = torch.tensor([[1.0, 2.0], [2.0, 1.0]], dtype=torch.float64)  # eigenvalues 3 and -1
    with pytest.raises(torch.linalg.LinAlgError, match="not positive definite"):
        spd_inverse_(a, backend)
    with pytest.raises(ValueError, match="backend is scipy or torch, not 'mkl'"):
        spd_inverse_(a, "mkl")


def test_the_lapack_is_torchs_on_an_avx512_cpu_and_scipys_on_avx2(monkeypatch: pytest.MonkeyPatch) -> None:
    """SciPy's OpenBLAS crashed (SIGSEGV) in its AVX-512 kernels inverting an 18,357-item EASE matrix; torch's MKL
    is slow on AMD's AVX2 CPUs: the default follows the CPU, and both give the same inverse."""
    for capability, backend in (("AVX512", "torch"), ("AVX512_BF16", "torch"), ("AVX2", "scipy"),
                                ("DEFAULT", "scipy")):
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda c=capability: c)
        assert linalg.lapack_backend() == backend
    used: list[str] = []
    cholesky = torch.linalg.cholesky_ex
    monkeypatch.setattr(torch.linalg, "cholesky_ex", lambda a, **kw: used.append("torch") or cholesky(a, **kw))
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    a = _spd(20, torch.float64)
    torch.testing.assert_close(spd_inverse_(a.clone()), spd_inverse_(a.clone(), "scipy"), rtol=1e-9, atol=1e-12)
    assert used == ["torch"]


@pytest.mark.parametrize("a", [torch.ones(2, 3), torch.eye(3)[:, :2].T.contiguous(), torch.eye(4)[::2, ::2]])
def test_other_shapes_and_layouts_are_refused(a: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="contiguous square float32 or float64 CPU matrix"):
        spd_inverse_(a)


def test_blas_threads_follow_torch_and_are_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    def blas_threads() -> list[int]:
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    inside: list[list[int]] = []
    real = linalg.lapack.get_lapack_funcs

    def recording(names, arrays):  # type: ignore[no-untyped-def]
        potrf, potri = real(names, arrays)

        def potrf_recorded(*args, **kwargs):  # type: ignore[no-untyped-def]
            inside.append(blas_threads())
            return potrf(*args, **kwargs)
        return potrf_recorded, potri

    monkeypatch.setattr(linalg.lapack, "get_lapack_funcs", recording)
    before = blas_threads()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        spd_inverse_(_spd(50, torch.float64), "scipy")
    finally:
        torch.set_num_threads(threads)
    assert inside == [[1] * len(before)] and before  # numpy's OpenBLAS at least
    assert blas_threads() == before


@pytest.mark.parametrize("a", [torch.eye(3, dtype=torch.float16), torch.eye(3, dtype=torch.int64),
                               torch.eye(3, dtype=torch.complex128), torch.eye(3, dtype=torch.bfloat16),
                               torch.eye(3).requires_grad_(True)])
def test_other_dtypes_and_autograd_are_refused(a: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="float32 or float64 CPU matrix without autograd"):
        spd_inverse_(a)


def test_empty_matrix_is_its_own_inverse_and_nan_is_refused() -> None:
    empty = torch.empty(0, 0, dtype=torch.float64)
    assert spd_inverse_(empty) is empty
    for value in (float("nan"), float("inf"), -float("inf")):
        for dtype in (torch.float64, torch.float32):
            a = _spd(4, dtype)
            a[1, 2] = a[2, 1] = value
            with pytest.raises(torch.linalg.LinAlgError, match="NaN or infinite"):
                spd_inverse_(a)


@pytest.mark.parametrize("backend", ["scipy", "torch"])
def test_the_failing_minor_is_named(backend: str) -> None:
    a = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [0.0, 1.0, 1.0]], dtype=torch.float64)  # singular at order 3
    with pytest.raises(torch.linalg.LinAlgError, match="leading minor of order 3"):
        spd_inverse_(a, backend)
