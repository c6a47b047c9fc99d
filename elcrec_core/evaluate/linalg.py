"""The inverse of a symmetric positive definite matrix through LAPACK (SciPy), for EASE."""

from __future__ import annotations

import math

import torch
from scipy.linalg import lapack
from threadpoolctl import threadpool_limits


def spd_inverse_(a: torch.Tensor, backend: str | None = None) -> torch.Tensor:
    """The inverse of the symmetric positive definite ``a`` [n, n] (float32 or float64, CPU, contiguous), computed
    in ``a``'s memory (its contents are lost): LAPACK's Cholesky factorisation and inverse (``potrf``, ``potri``),
    through SciPy's OpenBLAS (``backend`` "scipy", with as many threads as torch uses, then the triangle it writes
    mirrored) or torch's LAPACK (``backend`` "torch": Intel MKL in the CPU wheel). None: :func:`lapack_backend`.

    Why two: torch's MKL takes a slow path on AMD CPUs (1.7x slower for EASE on Beauty's 12,101 items in float64 on
    an EPYC with AVX2; BENCHMARKS.md "Simple baselines"); and SciPy's OpenBLAS (0.3.30) crashed the process (SIGSEGV
    in its AVX-512 "SkylakeX" kernels) inverting Sports' 18,357 x 18,357 matrix with 2 threads on a Xeon, where
    torch's MKL took 53 s (BENCHMARKS.md "EASE's inverse on an AVX-512 CPU"). Raises torch.linalg.LinAlgError where
    ``a`` is not positive definite (LAPACK's ``info`` names the failing minor) or not finite, ValueError for another
    shape, dtype, layout or device, a tensor that needs gradients, or an unknown backend. Besides ``a``, either
    backend holds one n x n temporary at most (torch's factor is written into ``a`` too). An empty (0 x 0) ``a`` is
    returned as it is.
    """
    backend = backend or lapack_backend()
    if backend not in ("scipy", "torch"):
        raise ValueError(f"spd_inverse_'s backend is scipy or torch, not {backend!r}")
    if (a.ndim != 2 or a.shape[0] != a.shape[1] or not a.is_contiguous() or a.device.type != "cpu"
            or a.dtype not in (torch.float32, torch.float64) or a.requires_grad):
        raise ValueError(f"spd_inverse_ needs a contiguous square float32 or float64 CPU matrix without autograd, "
                         f"not {tuple(a.shape)} {a.dtype} on {a.device}")
    if a.numel() == 0:
        return a
    if not all(map(math.isfinite, torch.aminmax(a))):  # NaN propagates to both; no n x n temporary (isfinite's)
        raise torch.linalg.LinAlgError("the matrix holds NaN or infinite values")
    if backend == "torch":
        info = torch.empty((), dtype=torch.int32)
        torch.linalg.cholesky_ex(a, out=(a, info))  # the factor in a's memory: no third n x n matrix
        _check(int(info))
        return torch.cholesky_inverse(a, out=a)
    # the row-major buffer read column-major is a.T = a: LAPACK works in place on it (lower triangle in its
    # column-major terms = upper triangle of a), with no copy into Fortran order
    fortran = a.numpy().T
    potrf, potri = lapack.get_lapack_funcs(("potrf", "potri"), (fortran,))
    with threadpool_limits(torch.get_num_threads(), user_api="blas"):
        factor, info = potrf(fortran, lower=1, overwrite_a=1, clean=1)
        if info == 0:
            factor, info = potri(factor, lower=1, overwrite_c=1)
    _check(info)  # > 0 only: the arguments are valid after the checks above
    inverse = torch.from_numpy(factor.T)  # a's memory: LAPACK works in place on a Fortran-ordered array
    return inverse.add_(torch.triu(inverse, 1).T)  # the upper triangle holds the inverse, the lower zeros: mirror


def lapack_backend() -> str:
    """The LAPACK of :func:`spd_inverse_` on this CPU: "torch" (MKL) where it has AVX-512, whose OpenBLAS kernels
    crashed, else "scipy" (OpenBLAS; MKL is slow on AMD's AVX2 CPUs)."""
    return "torch" if torch.backends.cpu.get_cpu_capability().startswith("AVX512") else "scipy"


def _check(info: int) -> None:
    if info != 0:
        raise torch.linalg.LinAlgError(f"the matrix is not positive definite (LAPACK info {info}: its leading minor of "
                                       f"order {info} is not)")
