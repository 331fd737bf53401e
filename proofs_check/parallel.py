"""Where independent tasks run (restarts, the points of a sweep): serially, in local worker processes, or on a
Dask cluster, all through joblib (docs/theory.md §10.1).

- ``workers`` = 1: in this process, one after the other;
- ``workers`` = N > 1: N local processes (joblib's default loky backend);
- :func:`dask_backend` (``--dask-scheduler ADDRESS``): joblib's dask backend on a dask.distributed cluster, imported
  only then, so dask is needed only by those who use it.

:func:`run_tasks` runs one function over a list of arguments and yields the results in the order of the arguments,
whatever the backend, each task under theory.threads' BLAS limit.  A task's result depends only on its arguments
(every restart carries its own seed), so the values are the same as a serial run's.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, TypeVar

import joblib

from theory.errors import InputError
from theory.threads import limited_blas

#: Seconds to wait for a Dask scheduler before the address is refused.
CONNECT_SECONDS = 10

Result = TypeVar("Result")


def check_workers(workers: int) -> int:
    """An integer >= 1; an InputError otherwise."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(f"workers must be an integer >= 1, got {workers!r}")
    return workers


def _limited(function: Callable[..., Result], *args: object) -> Result:
    with limited_blas():
        return function(*args)


def run_tasks(function: Callable[..., Result], arguments: Iterable[tuple], workers: int = 1) -> Iterator[Result]:
    """``function(*args)`` for every tuple of ``arguments``, in order: serially when ``workers`` is 1, else through
    joblib with ``workers`` jobs on the active backend (local processes unless :func:`dask_backend` is active)."""
    if check_workers(workers) == 1:
        return (_limited(function, *args) for args in arguments)
    tasks = (joblib.delayed(_limited)(function, *args) for args in arguments)
    return joblib.Parallel(n_jobs=workers, return_as="generator")(tasks)


@contextmanager
def dask_backend(scheduler: str) -> Iterator[int]:
    """Connect to the Dask scheduler at ``scheduler`` and make it joblib's backend; yields the cluster's thread count.
    InputError when dask.distributed is not installed or the scheduler cannot be reached."""
    try:
        from distributed import Client
    except ImportError:
        raise InputError("--dask-scheduler needs dask.distributed: pip install 'proofs-check[dask]'") from None
    try:
        client = Client(scheduler, timeout=CONNECT_SECONDS)
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from None
    with client, joblib.parallel_config(backend="dask"):
        yield sum(client.nthreads().values())


@contextmanager
def backend(workers: int = 1, scheduler: str | None = None) -> Iterator[int]:
    """The ``workers`` value to hand to :func:`run_tasks`: ``workers`` local processes, or with a Dask scheduler
    address the cluster (``workers`` jobs at once when given above 1, else all of its threads)."""
    workers = check_workers(workers)
    if scheduler is None:
        yield workers
        return
    with dask_backend(scheduler) as threads:
        yield workers if workers > 1 else max(threads, 2)
