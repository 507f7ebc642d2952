"""A local worker process of a sweep, set up once: BLAS threads limited before NumPy loads, its own
process group (the terminal's Ctrl-C reaches only the sweep, which forwards it), stop signals noted
between trials.

This module imports nothing that loads NumPy: the pool's initializer runs in a fresh (spawned)
process, and the BLAS libraries read their thread count once, when NumPy first loads them.
"""

from __future__ import annotations

import os
import signal
import sys

BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

stopped: list[int] = []
"""Stop signals this worker received outside a training session (it then starts no new trial)."""


def blas_env(threads: int) -> dict[str, str]:
    """The environment variables that give OpenBLAS, MKL and OpenMP `threads` threads."""
    return {name: str(threads) for name in BLAS_THREAD_VARIABLES}


def init_worker(threads: int) -> None:
    """The pool's initializer: BLAS threads, own process group, stop signals noted."""
    os.environ.update(blas_env(threads))
    if "numpy" in sys.modules:
        # The script that started the sweep imports NumPy at the top, and spawn imported it here
        # too: the variables come too late, threadpoolctl (where installed) limits the loaded BLAS.
        limit_loaded_blas(threads)
    if hasattr(os, "setpgrp"):
        os.setpgrp()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, note_stop)


def limit_loaded_blas(threads: int) -> None:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(threads)


def note_stop(signum, frame) -> None:
    stopped.append(signum)
