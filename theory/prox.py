"""A first-order solver for the lifted program (C): accelerated proximal gradient with a certified stop.

    min_Z  l(sum_p A_p vec_r(Z_p)) + beta sum_p R(Z_p)                                      (C), THEORY.md §2

FISTA (Beck & Teboulle 2009) on the stacked operator A = [A_1 ... A_P] with

- step 1/L, L = sigma_max(A)^2 from a seeded power iteration on A^T A (matrix-vector products only; A^T A is
  never formed), times a safety factor 1.01 because power iteration approaches sigma_max from below;
- prox of beta/L R: singular value thresholding for nuclear blocks, block soft-thresholding for Frobenius blocks;
- adaptive restart of the momentum (O'Donoghue & Candès 2015, gradient scheme) when it points uphill;
- stop on the certified duality gap of theory.lifted.certificate: C(Z) - lower_bound <= eps |C(Z)|, where the
  lower bound is the dual objective at the rescaled, dual-feasible residual, a rigorous bound on C*.  So the
  stopping rule is a certificate, not an iteration count: status "optimal" means C(Z) - C* <= eps |C(Z)|.

Only the squared loss is supported (its gradient is 1-Lipschitz in F, so L above is the Lipschitz constant of
the smooth part); another loss is an InputError.
"""

from __future__ import annotations

import time

import numpy as np

from theory.convex import ConvexSolution, choose_solver, solve
from theory.errors import InputError, SolverFailure
from theory.lifted import LiftedProgram, certified_gap

#: Default relative certified gap; 1e-8 makes the result agree with cvxpy + Clarabel to 1e-6 relative (tests).
DEFAULT_EPS = 1e-8
#: Iterations between two certificate evaluations (each needs an SVD of every block's A_p^T V).
CHECK_EVERY = 25
#: Power iteration underestimates sigma_max(A)^2; the step 1/L stays safe with this margin once converged to 1e-6.
LIPSCHITZ_MARGIN = 1.01


#: ``auto`` uses the prox solver when the program has more lifted entries sum_p rows_p * cols_p than this, and
#: cvxpy (Clarabel / ECOS, theory.convex) otherwise: linear attention d = 8, c = 2 has 64 x 16 = 1024 entries
#: (cvxpy takes a fraction of a second), d = 16 has 256 x 32 = 8192 (cvxpy takes tens of seconds, measured in
#: benchmarks/bench_solvers.py).
AUTO_PROX_ENTRIES = 4096


def resolve_solver(program: LiftedProgram, solver: str = "auto") -> str:
    """The solver ``solve_program`` will use: "PROX", or a cvxpy solver name (InputError if unknown)."""
    name = solver.upper()
    if name == "AUTO":
        large = sum(b.shape[0] * b.shape[1] for b in program.blocks) > AUTO_PROX_ENTRIES
        name = "PROX" if large and program.loss.name == "squared" else "AUTO"
    if name == "PROX":
        return name
    return choose_solver(program, "auto" if name == "CVXPY" else name)


def solve_program(program: LiftedProgram, solver: str = "auto") -> ConvexSolution:
    """Solve (C) with ``solver``: auto (by size, see AUTO_PROX_ENTRIES), prox, cvxpy (its auto choice) or a
    cvxpy solver name (clarabel, scs, ecos)."""
    name = resolve_solver(program, solver)
    return solve_prox(program) if name == "PROX" else solve(program, name)


def lipschitz_constant(A: np.ndarray, seed: int = 0, iterations: int = 500, tol: float = 1e-6) -> float:
    """sigma_max(A)^2 by power iteration on A^T A from a seeded start, times LIPSCHITZ_MARGIN."""
    v = np.random.default_rng(seed).standard_normal(A.shape[1])
    v /= np.linalg.norm(v)
    estimate = 0.0
    for _ in range(iterations):
        w = A.T @ (A @ v)
        previous, estimate = estimate, float(np.linalg.norm(w))
        if estimate == 0.0:
            return 0.0
        v = w / estimate
        if abs(estimate - previous) <= tol * estimate:
            break
    return LIPSCHITZ_MARGIN * estimate


def _prox(program: LiftedProgram, z: np.ndarray, threshold: float, offsets: np.ndarray) -> np.ndarray:
    """prox of threshold * sum_p R(Z_p) at the flat vector z: SVT per nuclear block, block shrinkage otherwise."""
    out = np.empty_like(z)
    for block, start, stop in zip(program.blocks, offsets[:-1], offsets[1:]):
        part = z[start:stop]
        if block.norm == "nuclear":
            U, sigma, Vt = np.linalg.svd(part.reshape(block.shape), full_matrices=False)
            out[start:stop] = ((U * np.maximum(sigma - threshold, 0.0)) @ Vt).reshape(-1)
        else:
            size = float(np.linalg.norm(part))
            out[start:stop] = part * max(0.0, 1.0 - threshold / size) if size > 0 else 0.0
    return out


def _split(program: LiftedProgram, z: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    return [z[a:b].reshape(blk.shape) for blk, a, b in zip(program.blocks, offsets[:-1], offsets[1:])]


def solve_prox(program: LiftedProgram, eps: float = DEFAULT_EPS, max_seconds: float = 600.0,
               max_iterations: int = 1_000_000, seed: int = 0) -> ConvexSolution:
    """Solve (C) by FISTA with adaptive restart until the certified relative gap is <= eps.

    Raises SolverFailure (with the gap reached) if the time or iteration budget runs out first.
    """
    if program.loss.name != "squared":
        raise InputError(f"the prox solver supports the squared loss only, not {program.loss.name!r}")
    if not eps > 0:
        raise InputError(f"eps must be positive, got {eps}")
    start = time.perf_counter()
    A = np.hstack([b.matrix for b in program.blocks])
    offsets = np.cumsum([0] + [b.matrix.shape[1] for b in program.blocks])
    y = program.target
    L = lipschitz_constant(A, seed)
    x = np.zeros(A.shape[1])
    Zs, gap = _split(program, x, offsets), np.inf
    if L > 0:
        x_prev, point, t = x, x, 1.0
        for iteration in range(1, max_iterations + 1):
            x = _prox(program, point - A.T @ (A @ point - y) / L, program.beta / L, offsets)
            if np.vdot(point - x, x - x_prev) > 0:  # momentum points uphill: restart it
                t, point = 1.0, x
            else:
                t_next = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
                point, t = x + ((t - 1.0) / t_next) * (x - x_prev), t_next
            x_prev = x
            if iteration % CHECK_EVERY == 0:
                Zs = _split(program, x, offsets)
                _, gap = certified_gap(program, Zs)
                if gap <= eps or time.perf_counter() - start > max_seconds:
                    break
    value, gap = certified_gap(program, _split(program, x, offsets))
    seconds = time.perf_counter() - start
    if gap > eps:
        raise SolverFailure(f"prox solver stopped at certified relative gap {gap:.2e} > eps {eps:.0e} "
                            f"after {seconds:.1f} s")
    return ConvexSolution(_split(program, x, offsets), value, "PROX", "optimal", seconds,
                          {"eps": eps, "gap": gap, "lipschitz": L})
