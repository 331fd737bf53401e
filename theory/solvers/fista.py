"""FISTA for program (C), stopped on a certificate (docs/theory.md §9): the simple reference prox method.

Accelerated proximal gradient (Beck & Teboulle 2009) on the stacked operator A = [A_1 ... A_P] with step 1/L,
L = sigma_max(A)^2 from a seeded power iteration on A^T A (matrix-vector products only) times LIPSCHITZ_MARGIN,
because power iteration approaches sigma_max from below; the prox of beta/L R is each block's regulariser prox
(theory.regularisers); the momentum restarts when it points uphill (O'Donoghue & Candès 2015, gradient scheme).
It stops when the certified relative gap of theory.lifted.certified_gap is <= eps.  Its iteration count grows with
the condition of A, which is why SSNAL (theory.solvers.ssnal) is the default prox method for the squared loss and
FISTA its finisher.  Any loss of theory.losses: the gradient of l is ``lipschitz``-Lipschitz in F, so L above times
that constant is the Lipschitz constant of the smooth part, and FISTA is the prox method of the other losses.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from theory.errors import SolverFailure
from theory.lifted import LiftedProgram, certified_gap
from theory.operators import held_dense
from theory.solvers.result import DEFAULT_EPS, Solution, check_eps

#: Iterations between two certificate evaluations (each needs an SVD of every block's A_p^T V).
CHECK_EVERY = 25
#: Power iteration underestimates sigma_max(A)^2; the step 1/L stays safe with this margin once converged to 1e-6.
LIPSCHITZ_MARGIN = 1.01

#: ``callback(iteration, blocks, gap)`` is called at every certificate evaluation (e.g. to record a convergence curve).
Callback = Callable[[int, list[np.ndarray], float], None]


def lipschitz_constant(A: Stacked, seed: int = 0, iterations: int = 500, tol: float = 1e-6) -> float:
    """sigma_max(A)^2 of the stacked operator A = [A_1 ... A_P] by power iteration on A^T A from a seeded start,
    times LIPSCHITZ_MARGIN."""
    v = np.random.default_rng(seed).standard_normal(A.size)
    v /= np.linalg.norm(v)
    estimate = 0.0
    for _ in range(iterations):
        w = A.adjoint(A.apply(v))
        previous, estimate = estimate, float(np.linalg.norm(w))
        if estimate == 0.0:
            return 0.0
        v = w / estimate
        if abs(estimate - previous) <= tol * estimate:
            break
    return LIPSCHITZ_MARGIN * estimate


def _prox(program: LiftedProgram, z: np.ndarray, threshold: float, offsets: np.ndarray) -> np.ndarray:
    """prox of threshold * sum_p R(Z_p) at the flat vector z (each block's regulariser prox)."""
    out = np.empty_like(z)
    for block, start, stop in zip(program.blocks, offsets[:-1], offsets[1:]):
        out[start:stop] = block.norm.prox(z[start:stop].reshape(1, *block.shape), threshold)[0].reshape(-1)
    return out


def _split(program: LiftedProgram, z: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    return [z[a:b].reshape(blk.shape) for blk, a, b in zip(program.blocks, offsets[:-1], offsets[1:])]


class Stacked:
    """The stacked operator A = [A_1 ... A_P] on the flat vector of all blocks: one matrix when the blocks are held
    dense (theory.operators.held_dense; one product per iteration however many blocks), the blocks' maps otherwise."""

    def __init__(self, program: LiftedProgram) -> None:
        self.program = program
        self.offsets = np.cumsum([0] + [b.shape[0] * b.shape[1] for b in program.blocks])
        self.size = int(self.offsets[-1])
        dense = held_dense([b.operator for b in program.blocks])
        self.matrix = np.hstack([b.matrix for b in program.blocks]) if dense else None

    def apply(self, x: np.ndarray) -> np.ndarray:
        return self.matrix @ x if self.matrix is not None else self.program.predict(self.split(x))

    def adjoint(self, V: np.ndarray) -> np.ndarray:
        if self.matrix is not None:
            return self.matrix.T @ V
        return np.concatenate([M.reshape(-1) for M in self.program.adjoint(V)])

    def split(self, x: np.ndarray) -> list[np.ndarray]:
        return _split(self.program, x, self.offsets)


def solve_fista(program: LiftedProgram, eps: float = DEFAULT_EPS, max_seconds: float = 600.0,
                max_iterations: int = 1_000_000, seed: int = 0, start: list[np.ndarray] | None = None,
                callback: Callback | None = None) -> Solution:
    """Solve (C) by FISTA with adaptive restart, from ``start`` (default Z = 0), until the certified relative gap
    is <= eps; SolverFailure (with the gap reached) if the time or iteration budget runs out first."""
    check_eps(eps)
    began = time.perf_counter()
    A = Stacked(program)
    offsets = A.offsets
    L = program.loss.lipschitz * lipschitz_constant(A, seed)
    x = np.zeros(A.size) if start is None else np.concatenate([Z.reshape(-1) for Z in start])
    if L > 0:
        x_prev, point, t = x, x, 1.0
        for iteration in range(1, max_iterations + 1):
            x = _prox(program, point + A.adjoint(program.dual_point(A.apply(point))) / L, program.beta / L, offsets)
            if np.vdot(point - x, x - x_prev) > 0:  # momentum points uphill: restart it
                t, point = 1.0, x
            else:
                t_next = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
                point, t = x + ((t - 1.0) / t_next) * (x - x_prev), t_next
            x_prev = x
            if iteration % CHECK_EVERY == 0:
                Zs = _split(program, x, offsets)
                gap = certified_gap(program, Zs)[1]
                if callback is not None:
                    callback(iteration, Zs, gap)
                if gap <= eps or time.perf_counter() - began > max_seconds:
                    break
    Zs = _split(program, x, offsets)
    value, gap = certified_gap(program, Zs)
    seconds = time.perf_counter() - began
    if gap > eps:
        raise SolverFailure(f"FISTA stopped at certified relative gap {gap:.2e} > eps {eps:.0e} "
                            f"after {seconds:.1f} s")
    return Solution(Zs, value, gap, "PROX-FISTA", "optimal", seconds, {"method": "fista", "eps": eps, "lipschitz": L})
