"""Benchmark (not a test): the project's solver against cvxpy + Clarabel and SCS as the number of samples grows.

    python -m benchmarks.bench_samples [--rows NAME:LOSS:N,s,d,c[,gates] ...] [--cap SECONDS] [--ours-cap SECONDS]
                                       [--seed S] [--json OUT]   (from the repository root)

Each row is one theorem, loss and size: X (N, s, d) standard normal from numpy.random.default_rng([seed, N, d]),
targets standard normal (squared loss) or one-hot labels drawn from the same generator (cross-entropy), token-wise,
beta 0.1, gated-ReLU attention with 3 gates (drawn from the seed).  The program is built from the theorem's blocks
directly: theory.memory's estimate for a matrix-free theorem counts four n x n Newton matrices and, with 22 GiB
available, refuses more than about 2.4e4 outputs n = N s c (N = 3000 here), which the Gram form does not need
(docs/theory.md §9.10).

Per row, three solves through theory.solvers.solve with no acceptance threshold, each in a fresh child process:
``prox``, the project's solver (SSNAL on the Gram form or on the outputs, proximal Newton for the cross-entropy;
docs/theory.md §9.4), and the peers ``clarabel`` and ``scs`` (cvxpy on the program as stated, the dense map of n rows;
theory.solvers.cvxpy_backend's settings).  Printed per solve: seconds, the child's peak resident memory above its
own before the solve (resource.getrusage: it sees Clarabel's and SCS's native allocations, which tracemalloc does
not), the certified relative gap of theory.lifted.certified_gap, and for the peers |C_peer - C_prox| / C_prox.  A
peer is killed after --cap seconds; once killed (or out of memory) at some N, it is skipped at the larger N of the
same theorem, loss and d, and the table says so.  The children run with an address-space limit of half the memory
available at the start, so that a peer that outgrows the machine fails instead of swapping its neighbours.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

from benchmarks.summary import finish
import theory
from theory.lifted import LiftedProgram
from theory.losses import get_loss
from theory.memory import available_bytes

BETA = 0.1
SOLVERS = ("prox", "clarabel", "scs")
SAMPLES = (100, 300, 1000, 3000, 10000)
#: Linear attention at d = 4 and 8 and gated-ReLU attention at d = 4 with the squared loss; with the cross-entropy
#: at d = 4 only (proximal Newton forms a model's Gram form per step, O(n dim^2): at d = 8 and N = 10^4, 1.7e11 flops
#: a step).
DEFAULT_ROWS = ([f"linear-attention:squared:{N},4,{d},2" for d in (4, 8) for N in SAMPLES]
                + [f"gated-relu-attention:squared:{N},4,4,2,3" for N in SAMPLES]
                + [f"{name}:cross-entropy:{N},4,4,2{',3' if name.startswith('gated') else ''}"
                   for name in ("linear-attention", "gated-relu-attention") for N in SAMPLES])


def parse_row(text: str) -> tuple[str, str, list[int]]:
    name, loss, sizes = text.split(":")
    return name, loss, [int(value) for value in sizes.split(",")]


def build(name: str, loss: str, sizes: list[int], seed: int) -> LiftedProgram:
    """The row's program (module docstring), from the theorem's blocks."""
    N, s, d, c = sizes[:4]
    rng = np.random.default_rng([seed, N, d])
    X = rng.standard_normal((N, s, d))
    Y = np.eye(c)[rng.integers(c, size=(N, s))] if loss == "cross-entropy" else rng.standard_normal((N, s, c))
    options = {"gates": sizes[4]} if len(sizes) > 4 else {}
    theorem = theory.get(name).from_arrays({"X": X, "Y": Y}, BETA, seed, loss=get_loss(loss), **options)
    return LiftedProgram(theorem.build_blocks(), Y.reshape(-1), BETA, get_loss(loss), c)


def child(row: str, solver: str, seed: int) -> dict:
    """One solve, measured in this process (the child)."""
    from theory.solvers import solve

    program = build(*parse_row(row), seed)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    solution = solve(program, solver, max_gap=np.inf)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "gap": solution.certified_gap, "optimum": solution.optimum,
            "solver": solution.solver, "form": str(solution.options.get("form", "outputs")),
            "solve_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before}


def measure(row: str, solver: str, seed: int, cap: float, limit: int | None) -> dict:
    """One solve in a fresh interpreter; its failure (cap, memory, error) is reported, never dropped."""
    command = [sys.executable, "-m", "benchmarks.bench_samples", "--child", row, solver, "--seed", str(seed)]
    if limit is not None:
        command += ["--limit", str(limit)]
    try:
        done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=cap)
    except subprocess.TimeoutExpired:
        return {"failure": f"killed after {cap:.0f} s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        return {"failure": "out of memory" if "MemoryError" in last or done.returncode < 0 else last[:80]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _cell(result: dict | None, ours: dict | None) -> str:
    if result is None:
        return f"{'-':>38}"
    if "failure" in result:
        return f"{result['failure']:>38}"
    agreement = ""
    if ours is not None and "optimum" in ours and result is not ours:
        agreement = f" {abs(result['optimum'] - ours['optimum']) / abs(ours['optimum']):7.0e}"
    return f"{result['seconds']:8.2f} {result['solve_mib']:7.0f} {result['gap']:8.1e}{agreement:>8}"


def print_table(results: list[dict]) -> None:
    print(f"{'theorem':<22} {'loss':<13} {'N,s,d,c[,P]':<14} {'n':>6} {'dim':>5} {'form':<6} | "
          + " | ".join(f"{name + ': s, MiB, gap' + (', dC/C' if name != 'prox' else ''):>38}" for name in SOLVERS))
    for r in results:
        ours = r["solves"].get("prox")
        form = "-" if ours is None or "form" not in ours else ("gram" if "Gram" in ours["form"] or
                                                                 ours["form"] == "gram" else "output")
        print(f"{r['theorem']:<22} {r['loss']:<13} {','.join(map(str, r['sizes'])):<14} {r['outputs']:>6} "
              f"{r['dim']:>5} {form:<6} | " + " | ".join(_cell(r["solves"].get(name), ours) for name in SOLVERS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="*", default=DEFAULT_ROWS, metavar="NAME:LOSS:N,s,d,c[,gates]")
    parser.add_argument("--cap", type=float, default=120.0, help="seconds before a peer is killed (default 120)")
    parser.add_argument("--ours-cap", type=float, default=900.0, help="the same for prox (default 900)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write the rows as JSON here")
    parser.add_argument("--child", nargs=2, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        if args.limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, (args.limit, args.limit))
        print(json.dumps(child(*args.child, args.seed)))
        return
    available = available_bytes()
    limit = None if available is None else available // 2
    results, given_up = [], {}
    for row in args.rows:
        name, loss, sizes = parse_row(row)
        dim = sum(b.shape[0] * b.shape[1] for b in build(name, loss, [2, *sizes[1:]], args.seed).blocks)
        result = {"theorem": name, "loss": loss, "sizes": sizes, "outputs": sizes[0] * sizes[1] * sizes[3],
                  "dim": dim, "solves": {}}
        family = (name, loss, tuple(sizes[1:]))
        for solver in SOLVERS:
            if (family, solver) in given_up:
                result["solves"][solver] = {"failure": f"skipped ({given_up[family, solver]} at N = "
                                                       f"{given_up[family, solver + ' N']})"}
                continue
            solve = measure(row, solver, args.seed, args.ours_cap if solver == "prox" else args.cap, limit)
            result["solves"][solver] = solve
            if "failure" in solve and solver != "prox":
                given_up[family, solver] = solve["failure"].split(" after")[0]
                given_up[family, solver + " N"] = sizes[0]
        results.append(result)
        print(json.dumps(result), flush=True)
    finish(results, f"seed {args.seed}, beta {BETA}, peers capped at {args.cap:.0f} s", print_table, args.json)


if __name__ == "__main__":
    main()
