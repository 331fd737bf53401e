"""Benchmark (not a test): the same SSNAL solve and the same width's restarts on an idle machine and beside a busy
process, with BLAS limited to one thread (the default, theory.threads) and unlimited (PROOFS_CHECK_BLAS_THREADS=0).

    python -m benchmarks.bench_busy [--repeats R] [--restarts K] [--seed S]

The solve is linear attention at N = 8, s = 6, d = 8, c = 2 (beta 0.1, data from numpy.random.default_rng(seed)) by
theory.solvers.solve(program, "ssnal"); the restarts are K serial restarts of the default linear-attention instance
at its zero-gap width (proofs_check.restarts).  "Busy" is one more process spinning a pure-Python loop, i.e. one of
the two cores taken, as when CI, pytest-xdist or a user runs a second job.  Each time is the median of R runs;
the table prints busy / idle per setting.  The machine must otherwise be quiet while this runs.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np

import theory
from proofs_check.restarts import TheoremAtWidth, run_restarts
from theory.solvers import solve
from theory.threads import BLAS_THREADS_ENV

SETTINGS = {"one BLAS thread (default)": "1", "BLAS default threads": "0"}


def _spin() -> None:
    while True:
        pass


@contextmanager
def busy_core() -> Iterator[None]:
    """A CPU-bound child process for the duration of the block."""
    child = multiprocessing.get_context("fork").Process(target=_spin, daemon=True)
    child.start()
    time.sleep(0.5)  # let the scheduler see it
    try:
        yield
    finally:
        child.terminate()
        child.join()


def median_seconds(task: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        task()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def tasks(seed: int, restarts: int) -> dict[str, Callable[[], object]]:
    rng = np.random.default_rng(seed)
    arrays = {"X": rng.standard_normal((8, 6, 8)), "Y": rng.standard_normal((8, 6, 2))}
    program = theory.get("linear-attention").from_arrays(arrays, 0.1, seed).program
    theorem = theory.get("linear-attention").default_instance(seed)
    m = theorem.heads_for_zero_gap()
    return {"SSNAL solve (linear attention d = 8)": lambda: solve(program, "ssnal"),
            f"{restarts} restarts (linear attention default, m = {m})":
                lambda: run_restarts(TheoremAtWidth(theorem, m), restarts, seed, (m,))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    work = tasks(args.seed, args.restarts)
    print(f"seed {args.seed}, median of {args.repeats} runs, {os.cpu_count()} CPUs")
    print(f"{'task':<44} {'setting':<27} {'idle s':>8} {'busy s':>8} {'busy/idle':>9}")
    for setting, value in SETTINGS.items():
        os.environ[BLAS_THREADS_ENV] = value
        for name, task in work.items():
            task()  # warm-up: imports, caches
            idle = median_seconds(task, args.repeats)
            with busy_core():
                busy = median_seconds(task, args.repeats)
            print(f"{name:<44} {setting:<27} {idle:8.3f} {busy:8.3f} {busy / idle:9.2f}", flush=True)


if __name__ == "__main__":
    main()
