"""Benchmark (not a test): convex solvers and restart paths, for every registered theorem at growing sizes.

    python -m benchmarks.bench_solvers [--theorems NAME ...] [--max-d D] [--cap SECONDS] [--seed S]
                                       [--restarts K] [--batched R] [--plot PATH]   (from the repository root)

For each theorem and size (N, s, d, c) in SIZES (d = 4, 8, 12, 16, 32 with N and s growing), the data are drawn
from numpy.random.default_rng(seed) and bound with the theorem's from_arrays (beta 0.1).  Printed per row:

- the seconds of cvxpy + Clarabel, cvxpy + SCS (eps 1e-9) and the two prox methods (theory.solvers: ``prox`` =
  SSNAL, the default, and ``fista``; both stop at a certified relative gap of 1e-8), all through theory.solvers.solve
  with no acceptance threshold, each run in a child process killed after
  --cap seconds, and the certified relative gap (C(Z) - LB) / C(Z) each reached, so that the times compare
  equal accuracy; a solve that did not finish prints why (cap, or the exception, e.g. out of memory);
- clar/prox, the ratio of the Clarabel and SSNAL times, and |dC|/C, the relative difference of their optima;
- restarts per second of the serial path of proofs_check.restarts (K restarts, each L-BFGS to convergence) and of
  its batched path (R restarts: a vectorised first phase for all, L-BFGS for the best POLISH), at the zero-gap width, and the relative difference of their best values (only for d <=
  --restart-max-d: serial restarts at d = 16 take minutes).

A PNG plot of solve time vs d (matplotlib, Agg backend) is written to --plot.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import signal
import time
from dataclasses import dataclass, field

import numpy as np

import theory
from proofs_check.restarts import POLISH, TheoremAtWidth, run_restarts
from theory.errors import InputError
from theory.lifted import LiftedProgram
from theory.solvers import solve

SIZES = [(6, 4, 4, 2), (8, 6, 8, 2), (10, 8, 12, 2), (12, 8, 16, 2), (16, 8, 32, 2)]  # (N, s, d, c)
SOLVERS = ("clarabel", "scs", "prox", "fista")
BETA = 0.1


@dataclass
class Row:
    theorem: str
    size: tuple[int, int, int, int]
    seconds: dict[str, float | None] = field(default_factory=dict)  # None: capped or failed
    gaps: dict[str, float] = field(default_factory=dict)
    prox_vs_clarabel: float | None = None
    serial_rate: float | None = None
    batched_rate: float | None = None
    restart_difference: float | None = None


def bind(name: str, size: tuple[int, int, int, int], seed: int) -> theory.Theorem:
    N, s, d, c = size
    rng = np.random.default_rng(seed)
    arrays = {"X": rng.standard_normal((N, s, d)), "Y": rng.standard_normal((N, s, c))}
    return theory.get(name).from_arrays(arrays, BETA, seed)


#: Address-space limit of a solver's child process, so that a solver that asks for more memory than the machine
#: has fails in its child (Clarabel aborts on a failed allocation) instead of the kernel killing another process.
MEMORY_LIMIT = 20 * 2**30


def _child(solver: str, program: LiftedProgram, queue) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    try:
        start = time.perf_counter()
        solution = solve(program, solver, max_gap=np.inf)
        seconds = time.perf_counter() - start
        queue.put((seconds, solution.optimum, solution.certified_gap))
    except Exception as exc:  # reported in the table, never silently
        queue.put(repr(exc))


def timed_solve(solver: str, program: LiftedProgram, cap: float) -> tuple[float, float, float] | str:
    """(seconds, optimum, certified gap) of one solve in a child process, or why not: "cap" when killed after
    ``cap`` seconds, the exception, or how the child died (e.g. SIGABRT: an allocation above MEMORY_LIMIT)."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child, args=(solver, program, queue))
    child.start()
    child.join(cap)
    if child.is_alive():
        child.terminate()
        child.join()
        return "cap"
    if not queue.empty():
        return queue.get()
    code = child.exitcode or 0
    return f"died: {signal.Signals(-code).name}" if code < 0 else f"died: exit code {code}"


def measure(name: str, size: tuple[int, int, int, int], seed: int, cap: float, restarts: int, batched: int,
            restart_max_d: int) -> Row:
    theorem = bind(name, size, seed)
    row, optima = Row(name, size), {}
    try:
        program = theorem.program
    except InputError as exc:  # e.g. relu-attention's exact pattern enumeration refused at this size
        print(f"  {name} {size}: no program: {exc}")
        row.seconds, row.gaps = dict.fromkeys(SOLVERS), dict.fromkeys(SOLVERS, float("nan"))
        return row
    for solver in SOLVERS:
        result = timed_solve(solver, program, cap)
        if isinstance(result, str):
            row.seconds[solver] = None
            row.gaps[solver] = float("nan")
            print(f"  {name} {size} {solver}: {result}")
        else:
            row.seconds[solver], optima[solver], row.gaps[solver] = result
    if "clarabel" in optima and "prox" in optima:
        row.prox_vs_clarabel = abs(optima["prox"] - optima["clarabel"]) / abs(optima["clarabel"])
    if size[2] <= restart_max_d:
        m = theorem.heads_for_zero_gap()
        serial = run_restarts(TheoremAtWidth(theorem, m), restarts, seed, (m,))
        batch = run_restarts(TheoremAtWidth(theorem, m), batched, seed, (m,), batched=True)
        row.serial_rate, row.batched_rate = restarts / serial.seconds, batched / batch.seconds
        row.restart_difference = (batch.best - serial.best) / abs(serial.best)
    return row


def _cell(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(rows: list[Row]) -> None:
    print(f"{'theorem':<20} {'N,s,d,c':<11} {'clarabel s':>10} {'scs s':>8} {'prox s':>8} {'fista s':>8} "
          f"{'clar/prox':>9} {'gap clar':>8} {'gap scs':>8} {'gap prox':>8} {'gap fista':>9} {'|dC|/C':>8} "
          f"{'serial/s':>8} {'batch/s':>8} {'speedup':>7} {'best diff':>9}")
    for r in rows:
        t = r.seconds
        ratio = t["clarabel"] / t["prox"] if t.get("clarabel") and t.get("prox") else None
        speedup = r.batched_rate / r.serial_rate if r.serial_rate else None
        print(f"{r.theorem:<20} {','.join(map(str, r.size)):<11} {_cell(t['clarabel'], '10.3f')} "
              f"{_cell(t['scs'], '8.3f')} {_cell(t['prox'], '8.3f')} {_cell(t['fista'], '8.3f')} {_cell(ratio, '9.1f')} "
              f"{r.gaps['clarabel']:8.0e} {r.gaps['scs']:8.0e} {r.gaps['prox']:8.0e} {r.gaps['fista']:9.0e} "
              f"{_cell(r.prox_vs_clarabel, '8.0e')} {_cell(r.serial_rate, '8.2f')} {_cell(r.batched_rate, '8.2f')} "
              f"{_cell(speedup, '7.1f')} {_cell(r.restart_difference, '9.0e')}")


def plot(rows: list[Row], path: str) -> None:
    import matplotlib
    import matplotlib.ticker
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for name in dict.fromkeys(r.theorem for r in rows):
        for solver, style in zip(SOLVERS, ("o-", "s--", "^-", "v:")):
            points = [(r.size[2], r.seconds[solver]) for r in rows if r.theorem == name and r.seconds[solver]]
            if points:
                axis.plot(*zip(*points), style, label=f"{name} {'prox (SSNAL)' if solver == 'prox' else solver}")
    axis.set(xscale="log", yscale="log", xlabel="d", ylabel="solve time [s]",
             title="solve time (certified gaps: see the table)")
    axis.set_xticks([4, 8, 12, 16, 32], labels=["4", "8", "12", "16", "32"])
    axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    print(f"plot written to {path}")


def run(names: list[str], sizes: list[tuple[int, int, int, int]], seed: int, cap: float, restarts: int,
        batched: int, restart_max_d: int) -> list[Row]:
    """Measure every theorem at every size (the rows of the table)."""
    return [measure(name, size, seed, cap, restarts, batched, restart_max_d) for name in names for size in sizes]


def arguments(description: str, plot_path: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--theorems", nargs="*", default=sorted(theory.REGISTRY))
    parser.add_argument("--max-d", type=int, default=32, help="largest d in SIZES to run (default 32)")
    parser.add_argument("--cap", type=float, default=120.0, help="seconds before a solve is killed (default 120)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--restarts", type=int, default=2, help="serial restarts (default 2)")
    parser.add_argument("--batched", type=int, default=64, help="batched restarts (default 64)")
    parser.add_argument("--restart-max-d", type=int, default=8, help="restart timing only up to this d")
    parser.add_argument("--plot", default=plot_path)
    return parser


def main(description: str = __doc__.splitlines()[0], plot_path: str = "benchmarks/bench_solvers.png",
         names: list[str] | None = None) -> None:
    """Parse the arguments, measure (``names`` overrides --theorems), print the table and write the plot."""
    args = arguments(description, plot_path).parse_args()
    sizes = [size for size in SIZES if size[2] <= args.max_d]
    rows = run(names or args.theorems, sizes, args.seed, args.cap, args.restarts, args.batched, args.restart_max_d)
    print(f"seed {args.seed}, beta {BETA}, cap {args.cap:.0f} s, restarts serial {args.restarts} / batched "
          f"{args.batched} (L-BFGS on the best {POLISH})")
    print_table(rows)
    plot(rows, args.plot)


if __name__ == "__main__":
    main()
