"""What a run's numbers depend on besides its config and seed: the versions of Python, NumPy, SciPy and
bpcli, the BLAS library and its thread count. The run summary and the checkpoint record them.

Bitwise reproducibility holds for the same versions, BLAS library and BLAS thread count: a matrix
product split over another number of threads adds its terms in another order, so 1 and 2 threads
give weights that differ in the last bits. The thread count is read with threadpoolctl when it is
installed (an optional package; it can then pin the count back on resume), else from the variable
that sets it (OPENBLAS_NUM_THREADS, MKL_NUM_THREADS, BLIS_NUM_THREADS, then OMP_NUM_THREADS), else it
is unknown (None).
"""

from __future__ import annotations

import os
import platform
from contextlib import contextmanager

import numpy as np
import scipy

from bpcli import __version__

THREAD_VARIABLES = (
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "OMP_NUM_THREADS",
)


def versions() -> dict:
    """Python, NumPy, SciPy, BLAS (name, version and thread count) and bpcli, as the run summary
    records them."""
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "blas": blas_name(),
        "blas_threads": blas_threads(),
        "bpcli": __version__,
    }


def blas_name() -> str:
    """The BLAS library that computes the network's products: SciPy's (see core/blas.py)."""
    try:
        blas = scipy.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}".strip()
    except Exception:  # older SciPy has no mode="dicts": the name is then unknown, not fatal
        return "unknown"


def blas_threads() -> int | None:
    """The number of threads BLAS uses in this process, or None where it cannot be known."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return _threads_from_environment()
    counts = [pool["num_threads"] for pool in threadpool_info() if pool.get("user_api") == "blas"]
    return counts[0] if counts else None


def _threads_from_environment() -> int | None:
    for variable in THREAD_VARIABLES:
        value = os.environ.get(variable, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return None


def can_pin_threads() -> bool:
    """True when threadpoolctl is installed, so `pinned_blas_threads` can change the count."""
    try:
        import threadpoolctl  # noqa: F401
    except ImportError:
        return False
    return True


@contextmanager
def pinned_blas_threads(threads: int | None):
    """Run the block with BLAS limited to `threads` (needs threadpoolctl; None: unchanged)."""
    if threads is None or not can_pin_threads():
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads, user_api="blas"):
        yield


def thread_mismatch(recorded: int | None) -> str | None:
    """A note when the checkpoint's BLAS thread count differs from this process's (None: same or
    unknown); says whether the count is pinned back or the result may differ in the last bits."""
    current = blas_threads()
    if recorded is None or current is None or recorded == current:
        return None
    if can_pin_threads():
        return f"note: BLAS pinned to {recorded} threads, as when the checkpoint was written"
    return (
        f"warning: the checkpoint was written with {recorded} BLAS threads, this process uses "
        f"{current}: the result may differ in the last bits from an uninterrupted run (bitwise "
        f"identity needs the same count: set OPENBLAS_NUM_THREADS={recorded}, or install "
        "threadpoolctl to pin it)"
    )
