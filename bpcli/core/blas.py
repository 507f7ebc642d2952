r"""The engine's BLAS calls: C ← α·A·B + β·C, y ← a·x + y and x·y, through one BLAS library.

NumPy's `matmul` has no β, so an update fused into a product, P ← P − α·Hᵀ·dZ, would need a scratch
array and a second, single-threaded pass over P. SciPy's wrappers of `sgemm`/`dgemm` and
`saxpy`/`daxpy` take α, β and an output that they overwrite, and run on BLAS's threads. Every GEMM
of the network goes through here (and the norms that training's checks take), so during training one
BLAS (SciPy's) does all the work and NumPy's own BLAS stays idle instead of competing for the cores.

The arrays are NumPy's row-major (C-order) ones; BLAS is column-major, so C = A·B is computed as
Cᵀ = Bᵀ·Aᵀ, where the transpose of a C-contiguous array is a Fortran-contiguous view (no copy).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import blas as _blas

Array = np.ndarray

_GEMM = {np.dtype(np.float32): _blas.sgemm, np.dtype(np.float64): _blas.dgemm}
_AXPY = {np.dtype(np.float32): _blas.saxpy, np.dtype(np.float64): _blas.daxpy}
_DOT = {np.dtype(np.float32): _blas.sdot, np.dtype(np.float64): _blas.ddot}


def _column_major(M: Array) -> tuple[Array, int]:
    """(F, t) with F Fortran-contiguous and op_t(F) = M (t = 1: transposed), without a copy."""
    if M.flags.f_contiguous:
        return M, 0
    if M.flags.c_contiguous:
        return M.T, 1
    raise ValueError(f"BLAS operands must be C- or F-contiguous, got strides {M.strides}")


def gemm(A: Array, B: Array, C: Array, alpha: float = 1.0, beta: float = 0.0) -> Array:
    r"""C ← α·A·B + β·C in place; returns C.

    A (m, k) and B (k, n) may be C- or F-contiguous (a transposed view costs nothing); C (m, n) must
    be C-contiguous and of the same float dtype. With β = 0 the old C is never read (NaN-safe).
    """
    if not C.flags.c_contiguous:
        raise ValueError("gemm writes into a C-contiguous output only")
    a, trans_a = _column_major(B.T)
    b, trans_b = _column_major(A.T)
    # positional: (alpha, a, b, beta, c, trans_a, trans_b, overwrite_c), keywords cost ~0.4 µs a call
    _GEMM[C.dtype](alpha, a, b, beta, C.T, trans_a, trans_b, 1)
    return C


def axpy(a: float, x: Array, y: Array) -> Array:
    r"""y ← a·x + y in place, element by element (x and y C-contiguous, same shape); returns y."""
    if not (x.flags.c_contiguous and y.flags.c_contiguous) or x.shape != y.shape:
        raise ValueError("axpy needs two C-contiguous arrays of one shape")
    _AXPY[y.dtype](x.reshape(-1), y.reshape(-1), a=a)
    return y


def dot(x: Array, y: Array) -> float:
    r"""Σ x_i·y_i over all elements of two C-contiguous float arrays of one shape and dtype."""
    if not (x.flags.c_contiguous and y.flags.c_contiguous) or x.shape != y.shape:
        raise ValueError("dot needs two C-contiguous arrays of one shape")
    return float(_DOT[x.dtype](x.reshape(-1), y.reshape(-1)))
