"""Benchmark (not a test): the matrix-free prox solver at the papers' own dimensions.

    python -m benchmarks.bench_scale [--rows NAME:N,s,d,c[,gates] ...] [--cap SECONDS] [--seed S] [--json OUT]

Each row is one theorem at one size: data X (N, s, d), Y (N, s, c) standard normal from numpy.random.default_rng(seed),
beta 0.1 (as benchmarks/bench_solvers.py), solved by theory.solvers.solve(program, "prox") (SSNAL with the
structured maps of theory.operators where the theorem has them) in a fresh child process, killed after --cap
seconds.  Printed per row: the certified relative gap (C(Z) - LB) / C(Z), the seconds to build the program and to
solve it, the Newton steps, the child's peak resident memory (resource.getrusage(RUSAGE_SELF).ru_maxrss at its end,
and before the program was built: the interpreter and its libraries), the solvers' working set that theory.memory
estimates for a matrix-free program, and what a dense lifted map would have needed (theory.memory.dense_map_bytes).
The default rows are linear attention at d = 16 ... 100 (N = 16, s = 8, c = 2), gated-ReLU attention (3 gates) and
convex attention up to 1024 blocks; benchmarks/README.md has the measured table.
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
from theory.memory import dense_map_bytes, matrix_free_bytes
from theory.solvers import solve

BETA = 0.1
DEFAULT_ROWS = ["linear-attention:16,8,16,2", "linear-attention:16,8,32,2", "linear-attention:16,8,48,2",
                "linear-attention:16,8,64,2", "linear-attention:16,8,100,2",
                "gated-relu-attention:16,8,16,2,3", "gated-relu-attention:16,8,32,2,3",
                "gated-relu-attention:16,8,48,2,3",
                "convex-attention:16,8,64,2", "convex-attention:32,16,64,2", "convex-attention:64,16,100,2",
                "convex-attention:32,32,64,2"]


def parse_row(text: str) -> tuple[str, list[int]]:
    name, _, sizes = text.partition(":")
    return name, [int(value) for value in sizes.split(",")]


def bind(name: str, sizes: list[int], seed: int) -> theory.Theorem:
    N, s, d, c = sizes[:4]
    rng = np.random.default_rng(seed)
    arrays = {"X": rng.standard_normal((N, s, d)), "Y": rng.standard_normal((N, s, c))}
    options = {"gates": sizes[4]} if len(sizes) > 4 else {}
    return theory.get(name).from_arrays(arrays, BETA, seed, **options)


def child(name: str, sizes: list[int], seed: int) -> dict:
    """One row, measured in this process (the child)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    theorem = bind(name, sizes, seed)
    program = theorem.program
    built = time.perf_counter()
    solution = solve(program, "prox", max_gap=np.inf)
    solved = time.perf_counter()
    n, shapes = program.target.size, [b.shape for b in program.blocks]
    return {"theorem": name, "sizes": sizes, "seed": seed, "gap": solution.certified_gap,
            "optimum": solution.optimum, "solver": solution.solver, "build_s": built - start, "solve_s": solved - built,
            "newton_steps": solution.options.get("newton_steps"), "blocks": len(program.blocks),
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "before_mib": before,
            "estimate_mib": matrix_free_bytes(n, shapes) / 2**20,
            "dense_map_gib": dense_map_bytes(n, shapes) / 2 / 2**30}


def measure(row: str, seed: int, cap: float) -> dict:
    """One row in a fresh interpreter; the row's failure (cap, error) is reported, never dropped."""
    name, sizes = parse_row(row)
    command = [sys.executable, "-m", "benchmarks.bench_scale", "--child", row, "--seed", str(seed)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=cap)
    except subprocess.TimeoutExpired:
        return {"theorem": name, "sizes": sizes, "seed": seed, "failure": f"killed after {cap:.0f} s"}
    if done.returncode != 0:
        return {"theorem": name, "sizes": sizes, "seed": seed,
                "failure": (done.stderr.strip().splitlines() or ["exit code %d" % done.returncode])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_table(results: list[dict]) -> None:
    print(f"{'theorem':<22} {'N,s,d,c[,P]':<14} {'blocks':>6} {'gap':>8} {'build s':>8} {'solve s':>8} "
          f"{'Newton':>6} {'peak MiB':>9} {'of which solve':>14} {'estimate MiB':>12} {'dense map GiB':>13}")
    for r in results:
        sizes = ",".join(map(str, r["sizes"]))
        if "failure" in r:
            print(f"{r['theorem']:<22} {sizes:<14} {r['failure']}")
            continue
        print(f"{r['theorem']:<22} {sizes:<14} {r['blocks']:>6} {r['gap']:8.1e} {r['build_s']:8.2f} "
              f"{r['solve_s']:8.2f} {r['newton_steps'] or '-':>6} {r['peak_mib']:9.0f} "
              f"{r['peak_mib'] - r['before_mib']:14.0f} {r['estimate_mib']:12.0f} {r['dense_map_gib']:13.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="*", default=DEFAULT_ROWS, metavar="NAME:N,s,d,c[,gates]")
    parser.add_argument("--cap", type=float, default=900.0, help="seconds before a row is killed (default 900)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write the rows as JSON here")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(*parse_row(args.child), args.seed)))
        return
    results = []
    for row in args.rows:
        results.append(measure(row, args.seed, args.cap))
        print(json.dumps(results[-1]), flush=True)
    finish(results, f"seed {args.seed}, beta {BETA}, solver prox, cap {args.cap:.0f} s", print_table, args.json)


if __name__ == "__main__":
    main()
