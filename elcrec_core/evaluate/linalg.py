"""The inverse of a symmetric positive definite matrix through LAPACK (SciPy), for EASE."""

from __future__ import annotations

import torch
from scipy.linalg import lapack
from threadpoolctl import threadpool_limits


def spd_inverse_(a: torch.Tensor) -> torch.Tensor:
    """The inverse of the symmetric positive definite ``a`` [n, n] (float32 or float64, CPU, contiguous), computed
    in ``a``'s memory (its contents are lost): LAPACK's Cholesky factorisation and inverse (``potrf``, ``potri``)
    through SciPy's OpenBLAS, with as many threads as torch uses, then the triangle they write mirrored.

    Why not ``torch.cholesky_inverse(torch.linalg.cholesky(a))``: torch's LAPACK is Intel MKL, which takes a slow
    path on AMD CPUs (1.7x slower for EASE on Beauty's 12,101 items in float64 on an EPYC; BENCHMARKS.md "Simple
    baselines"), and it keeps three n x n matrices alive where this keeps two. Raises torch.linalg.LinAlgError
    where ``a`` is not positive definite (LAPACK's ``info`` names the failing minor) or not finite, ValueError for
    another shape, dtype, layout or device or a tensor that needs gradients. An empty (0 x 0) ``a`` is returned
    as it is.
    """
    if (a.ndim != 2 or a.shape[0] != a.shape[1] or not a.is_contiguous() or a.device.type != "cpu"
            or a.dtype not in (torch.float32, torch.float64) or a.requires_grad):
        raise ValueError(f"spd_inverse_ needs a contiguous square float32 or float64 CPU matrix without autograd, "
                         f"not {tuple(a.shape)} {a.dtype} on {a.device}")
    if a.numel() == 0:
        return a
    if not bool(torch.isfinite(a).all()):
        raise torch.linalg.LinAlgError("the matrix holds NaN or infinite values")
    # the row-major buffer read column-major is a.T = a: LAPACK works in place on it (lower triangle in its
    # column-major terms = upper triangle of a), with no copy into Fortran order
    fortran = a.numpy().T
    potrf, potri = lapack.get_lapack_funcs(("potrf", "potri"), (fortran,))
    with threadpool_limits(torch.get_num_threads(), user_api="blas"):
        factor, info = potrf(fortran, lower=1, overwrite_a=1, clean=1)
        if info == 0:
            factor, info = potri(factor, lower=1, overwrite_c=1)
    if info != 0:  # > 0: the arguments are valid after the checks above
        raise torch.linalg.LinAlgError(f"the matrix is not positive definite (LAPACK info {info}: its leading minor of "
                                       f"order {info} is not)")
    inverse = torch.from_numpy(factor.T)  # a's memory: LAPACK works in place on a Fortran-ordered array
    return inverse.add_(torch.triu(inverse, 1).T)  # the upper triangle holds the inverse, the lower zeros: mirror
