"""The first-order ("prox") solvers for the lifted program (C), both stopped on a certificate.

    min_Z  l(sum_p A_p vec_r(Z_p)) + beta sum_p R(Z_p)                                      (C), THEORY.md §2

Two methods, chosen by ``solve_prox(..., method=...)``; both return only when the certified duality gap of
theory.lifted.certified_gap is <= eps (C(Z) - C* <= eps |C(Z)|, C* bounded below by weak duality), so the
stopping rule is a certificate, not an iteration count, and status "optimal" means the same for both:

- ``ssnal`` (default, theory.ssnal): the augmented Lagrangian method on the dual (= proximal point on (C)) with
  semismooth Newton inner steps on an n x n system.  Linear attention at d = 16 in 1.4 s, d = 32 in 20 s.  On
  rare ill-conditioned instances its outer iteration crawls along a nearly flat valley of (C), or float64
  round-off in sigma * S_beta(.) keeps the certificate above eps; it then stops (theory.ssnal.Stalled) and
  FISTA, warm-started from its best iterate, finishes (measured: 5 of 3,200 drawn instances needed it, see
  PROX_MIN_BETA).
- ``fista``: accelerated proximal gradient (Beck & Teboulle 2009) on the stacked operator A = [A_1 ... A_P],
  kept as the simple reference method.  Step 1/L, L = sigma_max(A)^2 from a seeded power iteration on A^T A
  (matrix-vector products only) times a safety factor 1.01, because power iteration approaches sigma_max from
  below; prox of beta/L R by theory.lifted.shrink; adaptive restart of the momentum when it points uphill
  (O'Donoghue & Candès 2015, gradient scheme).  Its iteration count grows with the condition of A: at d = 16
  L = 2.8e5 and it took 38 s; at d = 32 it reached a gap of only 2e-4 in 600 s (measured, README "Speed"),
  which is why SSNAL is the default.

Only the squared loss is supported (for FISTA, its gradient is 1-Lipschitz in F, so L above is the Lipschitz
constant of the smooth part); another loss is an InputError.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from theory.convex import ConvexSolution, choose_solver, solve
from theory.errors import InputError, SolverFailure
from theory.lifted import DEFAULT_EPS, LiftedProgram, certified_gap, shrink
from theory.ssnal import Stalled, check_iterative_input, solve_ssnal

#: Iterations between two certificate evaluations (each needs an SVD of every block's A_p^T V).
CHECK_EVERY = 25
#: Power iteration underestimates sigma_max(A)^2; the step 1/L stays safe with this margin once converged to 1e-6.
LIPSCHITZ_MARGIN = 1.01


#: The prox solvers certify eps = 1e-8 reliably when the normalised weight decay beta' = beta / (max_p |A_p|_2 |y|)
#: (theory.convex.normalised) is at least this.  Below it the certificate needs the residual to about 1e-8 beta',
#: near float64 round-off.  Measured on instances drawn by tests/strategies.instances_for (200 per theorem and
#: hypothesis seed): seeds 11, 12: 3,200 of 3,200 certified, 5 after the FISTA finish (all linear attention with
#: beta' < 1e-6); unseeded runs: 1,598 of 1,600, then 596 of 600 linear-attention draws (seeds 1-3) certified,
#: and the 4 failures of the latter had beta' in 1.7e-9 .. 2.9e-7, where Clarabel's own solutions certified only
#: 3e-6 .. 4e-6 on three of the four.  solve_prox does not refuse such programs: it raises SolverFailure if it
#: cannot certify them.
PROX_MIN_BETA = 1e-6


#: ``auto`` uses the prox solver when the program has more lifted entries sum_p rows_p * cols_p than this, and
#: cvxpy (Clarabel / ECOS, theory.convex) otherwise, so that the small programs of the default examples and the
#: tests are solved by an interior-point method independent of this module: linear attention d = 8, c = 2 has
#: 64 x 16 = 1024 entries (Clarabel 19 s, SSNAL 0.1 s), d = 16 has 256 x 32 = 8192 (Clarabel runs out of
#: memory, SSNAL 1.5 s; measured in benchmarks/bench_solvers.py).
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


def solve_prox(program: LiftedProgram, eps: float = DEFAULT_EPS, max_seconds: float = 600.0,
               method: str = "ssnal", max_iterations: int | None = None) -> ConvexSolution:
    """Solve (C) to a certified relative gap <= eps by ``method`` (see the module docstring).

    ``ssnal``: SSNAL, and when it stalls (theory.ssnal.Stalled), FISTA warm-started from its best iterate for
    the rest of the time (solver "PROX-SSNAL+FISTA").  ``fista``: FISTA from Z = 0.  ``max_iterations`` (Newton
    steps + outer iterations for SSNAL, iterations for FISTA) defaults to each method's own.  SolverFailure,
    stating the gap reached, when the budget runs out first.
    """
    if method not in ("ssnal", "fista"):
        raise InputError(f"unknown prox method {method!r}; choose ssnal or fista")
    budget = {} if max_iterations is None else {"max_iterations": max_iterations}
    if method == "fista":
        return solve_fista(program, eps=eps, max_seconds=max_seconds, **budget)
    start = time.perf_counter()
    try:
        return solve_ssnal(program, eps=eps, max_seconds=max_seconds, **budget)
    except Stalled as stalled:
        spent = time.perf_counter() - start
        finish = solve_fista(program, eps=eps, max_seconds=max(max_seconds - spent, 0.0), start=stalled.blocks,
                             **budget)
        return replace(finish, solver="PROX-SSNAL+FISTA", seconds=spent + finish.seconds,
                       options={**finish.options, "ssnal": str(stalled)})


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
    """prox of threshold * sum_p R(Z_p) at the flat vector z (theory.lifted.shrink per block)."""
    out = np.empty_like(z)
    for block, start, stop in zip(program.blocks, offsets[:-1], offsets[1:]):
        out[start:stop] = shrink(z[start:stop].reshape(1, *block.shape), threshold, block.norm)[0].reshape(-1)
    return out


def _split(program: LiftedProgram, z: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    return [z[a:b].reshape(blk.shape) for blk, a, b in zip(program.blocks, offsets[:-1], offsets[1:])]


def solve_fista(program: LiftedProgram, eps: float = DEFAULT_EPS, max_seconds: float = 600.0,
                max_iterations: int = 1_000_000, seed: int = 0,
                start: list[np.ndarray] | None = None, callback=None) -> ConvexSolution:
    """Solve (C) by FISTA with adaptive restart, from ``start`` (default Z = 0), until the certified relative gap
    is <= eps.  ``callback(iteration, blocks)``, if given, sees the iterate at every certificate check.

    Raises SolverFailure (with the gap reached) if the time or iteration budget runs out first.
    """
    check_iterative_input(program, eps, "FISTA")
    began = time.perf_counter()
    A = np.hstack([b.matrix for b in program.blocks])
    offsets = np.cumsum([0] + [b.matrix.shape[1] for b in program.blocks])
    y = program.target
    L = lipschitz_constant(A, seed)
    x = np.zeros(A.shape[1]) if start is None else np.concatenate([Z.reshape(-1) for Z in start])
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
                if callback is not None:
                    callback(iteration, Zs)
                if gap <= eps or time.perf_counter() - began > max_seconds:
                    break
    value, gap = certified_gap(program, _split(program, x, offsets))
    seconds = time.perf_counter() - began
    if gap > eps:
        raise SolverFailure(f"FISTA stopped at certified relative gap {gap:.2e} > eps {eps:.0e} "
                            f"after {seconds:.1f} s")
    return ConvexSolution(_split(program, x, offsets), value, "PROX-FISTA", "optimal", seconds,
                          {"method": "fista", "eps": eps, "gap": gap, "lipschitz": L})
