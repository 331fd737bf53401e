"""Benchmark (not a test): restarts per second serially and on local joblib workers, and whether the values agree.

    python -m benchmarks.bench_parallel [--theorem NAME] [--restarts K] [--workers N ...] [--seed S] [--repeats R]

The theorem's default instance (seed S) at its zero-gap width; K restarts of proofs_check.restarts.run_restarts
(stream (m,)), serially and with each worker count N (local processes: proofs_check.parallel), each timed R times
after one warm-up run that starts the worker pool; printed: the median seconds, restarts per second, the speed-up
over the serial median, and whether every restart value and the best weights equal the serial run's exactly.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import theory
from proofs_check.restarts import TheoremAtWidth, run_restarts


def timed(objective: TheoremAtWidth, restarts: int, seed: int, workers: int, repeats: int):
    runs, seconds = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        runs.append(run_restarts(objective, restarts, seed, (objective.m,), workers=workers))
        seconds.append(time.perf_counter() - start)
    return runs[0], statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--theorem", default="linear-attention")
    parser.add_argument("--restarts", type=int, default=16)
    parser.add_argument("--workers", type=int, nargs="*", default=[2])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    theorem = theory.get(args.theorem).default_instance(args.seed)
    objective = TheoremAtWidth(theorem, theorem.heads_for_zero_gap())
    for workers in args.workers:  # warm-up: start the worker pools
        run_restarts(objective, workers, args.seed, (objective.m,), workers=workers)
    serial, serial_seconds = timed(objective, args.restarts, args.seed, 1, args.repeats)
    with open("/proc/loadavg") as load:
        print(f"{args.theorem} default instance (seed {args.seed}), m = {objective.m}, {args.restarts} restarts, "
              f"median of {args.repeats}; load average {load.read().split()[:3]}")
    print(f"{'workers':>7} {'seconds':>8} {'restarts/s':>10} {'speed-up':>8} {'same values':>11}")
    print(f"{1:>7} {serial_seconds:8.2f} {args.restarts / serial_seconds:10.2f} {1.0:8.2f} {'-':>11}")
    for workers in args.workers:
        run, seconds = timed(objective, args.restarts, args.seed, workers, args.repeats)
        same = np.array_equal(run.values, serial.values) and np.array_equal(run.best_theta, serial.best_theta)
        print(f"{workers:>7} {seconds:8.2f} {args.restarts / seconds:10.2f} {serial_seconds / seconds:8.2f} "
              f"{str(same):>11}")


if __name__ == "__main__":
    main()
