"""BLAS threads in the hot loops: one by default, set by the environment variable PROOFS_CHECK_BLAS_THREADS.

The solvers and the restarts multiply small dense matrices (a few hundred rows) thousands of times.  Multi-threaded
BLAS gains nothing at that size, and when another CPU-bound process shares a 2-core machine its threads wait for each
other: an SSNAL solve of 0.21 s took 11.4 s (benchmarks/bench_busy.py, docs/benchmarks.md).  So every solve
(theory.solvers.solve) and every restart run (proofs_check.restarts) runs inside :func:`limited_blas`, through
threadpoolctl.  PROOFS_CHECK_BLAS_THREADS=k allows k threads; 0 leaves the BLAS library's own default.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

from threadpoolctl import threadpool_limits

from theory.errors import InputError

BLAS_THREADS_ENV = "PROOFS_CHECK_BLAS_THREADS"
DEFAULT_BLAS_THREADS = 1


def blas_thread_limit() -> int | None:
    """The BLAS thread limit from the environment (None: no limit), or an InputError naming the bad value."""
    text = os.environ.get(BLAS_THREADS_ENV, str(DEFAULT_BLAS_THREADS)).strip()
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise InputError(f"{BLAS_THREADS_ENV} must be an integer >= 0 (0: no limit), got {text!r}")
    return value or None


@contextmanager
def limited_blas() -> Iterator[None]:
    """Run the enclosed code with at most blas_thread_limit() BLAS threads."""
    limit = blas_thread_limit()
    if limit is None:
        yield
        return
    with threadpool_limits(limits=limit, user_api="blas"):
        yield
