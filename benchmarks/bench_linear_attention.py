"""Benchmark (not a test): convex solve time and restarts per second for linear attention at a few sizes.

    python -m benchmarks.bench_linear_attention [--max-d D] [--cap SECONDS] [--seed S] [--restarts K]

The linear-attention rows of benchmarks/bench_solvers.py (same sizes, solvers, time cap and restart paths; see
its docstring for the columns), with the plot written to benchmarks/bench_linear_attention.png.
"""

from __future__ import annotations

from benchmarks.bench_solvers import SIZES, arguments, plot, print_table, run


def main() -> None:
    args = arguments(__doc__.splitlines()[0], "benchmarks/bench_linear_attention.png").parse_args()
    rows = run(["linear-attention"], [size for size in SIZES if size[2] <= args.max_d], args.seed, args.cap,
               args.restarts, args.restart_max_d)
    print_table(rows)
    plot(rows, args.plot)


if __name__ == "__main__":
    main()
