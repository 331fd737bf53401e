"""Benchmark (not a test): convex solve time and restarts per second for linear attention at a few sizes.

    python -m benchmarks.bench_linear_attention [--max-d D] [--cap SECONDS] [--seed S] [--restarts K] [--batched R]

The linear-attention rows of benchmarks/bench_solvers.py (same sizes, solvers, time cap and restart paths; see
its docstring for the columns), with the plot written to benchmarks/bench_linear_attention.png.
"""

from __future__ import annotations

from benchmarks.bench_solvers import main

if __name__ == "__main__":
    main(__doc__.splitlines()[0], "benchmarks/bench_linear_attention.png", ["linear-attention"])
