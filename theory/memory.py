"""Memory estimates made before a lifted map is built or a program handed to an interior-point solver.

A program that does not fit must be refused with the estimate and what does fit (an InputError: exit code 2), not
killed by the kernel after minutes.  Two estimates, against the memory the kernel reports as available:

- the dense lifted map: 8 bytes per entry of every A_p, n x (rows_p cols_p) with n the output rows each block holds
  (all N s c, or N c for a block of one query's rows: Theorem.outputs_per_block), twice (numpy builds it through an
  intermediate of the same size);
- a matrix-free program (theory.operators: the attention theorems): the solvers hold a few block-sized iterates
  (Z, A^T V, the prox and its SVD, the line search's trial point) and the n x n Newton matrix, so ITERATE_COPIES
  times 8 sum_p rows_p cols_p plus NEWTON_COPIES times 8 n^2 bytes plus SOLVER_BASE bytes; its dense map is built (and
  checked) only when something asks for it (cvxpy, the tests' oracles);
- cvxpy + Clarabel: each nuclear block becomes a semidefinite cone of side k = rows + cols, whose scaling matrix in
  the interior-point KKT system has (k (k + 1) / 2)^2 entries; measured peak memory was IPM_FACTOR times
  8 sum_p (k_p (k_p + 1) / 2)^2 bytes or less (benchmarks/README.md), plus the dense map cvxpy holds.
"""

from __future__ import annotations

import os
from pathlib import Path

from theory.errors import InputError

#: Measured ratio of Clarabel's peak memory to 8 sum_p (k_p (k_p + 1) / 2)^2 bytes: 8.1, 6.7, 6.5, 6.2 for linear
#: attention at d = 6, 8, 10, 12 (benchmarks/README.md); the largest, rounded up.
IPM_FACTOR = 9
#: Block-sized arrays SSNAL holds at once on a matrix-free program, copies of the n x n Newton matrix, and what does
#: not grow with the program: the solve's peak memory above the interpreter's, measured by benchmarks/bench_scale.py
#: (linear attention d = 16 ... 100, gated-ReLU attention d = 16 ... 48; 14 ... 464 MiB, about 25 block sizes plus
#: 83 MiB), was below this estimate on every row (benchmarks/README.md).
ITERATE_COPIES, NEWTON_COPIES, SOLVER_BASE = 32, 4, 128 * 2**20
#: A program is refused when its estimate exceeds this fraction of the available memory (room for Python itself).
USABLE = 0.8
#: The environment variable that replaces the kernel's figure (in bytes), e.g. to test the refusal.
MEMORY_ENV = "PROOFS_CHECK_MEMORY_BYTES"


def available_bytes() -> int | None:
    """MemAvailable of /proc/meminfo (or PROOFS_CHECK_MEMORY_BYTES); None where neither exists."""
    override = os.environ.get(MEMORY_ENV)
    if override is not None:
        try:
            return int(override)
        except ValueError:
            raise InputError(f"{MEMORY_ENV} must be an integer number of bytes, got {override!r}") from None
    meminfo = Path("/proc/meminfo")
    if not meminfo.is_file():
        return None
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


def _gib(size: float) -> str:
    return f"{size / 2**30:.3g} GiB"


def _check(needed: float, what: str, advice: str) -> None:
    available = available_bytes()
    if available is not None and needed > USABLE * available:
        raise InputError(f"{what} needs about {_gib(needed)}, more than the {_gib(USABLE * available)} usable here "
                         f"({_gib(available)} available); {advice}")


def dense_map_bytes(outputs: int, shapes: list[tuple[int, int]]) -> float:
    return 2 * 8.0 * outputs * sum(rows * cols for rows, cols in shapes)


def matrix_free_bytes(outputs: int, shapes: list[tuple[int, int]]) -> float:
    return 8.0 * (ITERATE_COPIES * sum(rows * cols for rows, cols in shapes) + NEWTON_COPIES * outputs**2) + SOLVER_BASE


def interior_point_bytes(outputs: int, shapes: list[tuple[int, int]]) -> float:
    cones = sum(((rows + cols) * (rows + cols + 1) / 2) ** 2 for rows, cols in shapes)
    return IPM_FACTOR * 8.0 * cones + dense_map_bytes(outputs, shapes)


def check_dense_map(outputs: int, shapes: list[tuple[int, int]]) -> None:
    """InputError when the dense lifted map of ``outputs`` rows and blocks of these shapes would not fit."""
    _check(dense_map_bytes(outputs, shapes), "the dense lifted map", "use a smaller instance (fewer samples, tokens "
                                                                      "or features)")


def check_matrix_free(outputs: int, shapes: list[tuple[int, int]]) -> None:
    """InputError when the solvers' iterates of a matrix-free program of these shapes would not fit."""
    _check(matrix_free_bytes(outputs, shapes), "the prox solvers' working set",
           "use a smaller instance (fewer samples, tokens, features or gates)")


def check_interior_point(outputs: int, shapes: list[tuple[int, int]], solver: str) -> None:
    """InputError when cvxpy + ``solver`` (an interior-point method) would not fit; the prox solvers need only the
    dense map and an n x n Newton system."""
    _check(interior_point_bytes(outputs, shapes), f"cvxpy + {solver} on this program",
           "use --solver prox, which needs only the lifted map")
