"""Proximal Newton for program (C) with a smooth loss other than the squared one (docs/theory.md §9).

At the current point Z0 (prediction F0), the loss is replaced by its second-order model around F0,

    l(F) ~ l(F0) + <g, F - F0> + 1/2 <F - F0, H (F - F0)>,       g = grad l(F0),  H = hess l(F0) + mu I,

with H block diagonal (one c x c block per row; mu = DAMPING times its largest eigenvalue keeps it positive
definite where the loss is flat, as the cross-entropy is along constant shifts of a row).  With L = H^(1/2) the model
is 1/2 |L (F - F0) + L^-1 g|^2 up to a constant, so the model problem

    min_Z  1/2 |L A(Z) - (L F0 - L^-1 g)|^2 + beta sum_p R(Z_p)

is program (C) with the squared loss, blocks L A_p and target L F0 - L^-1 g: SSNAL solves it (theory.solvers.ssnal),
warm-started at Z0, on the model itself or on its Gram form (theory.solvers.gram, docs/theory.md §9.10: the Newton
step in the space of the lifted variables when there are more outputs than lifted entries).
Its solution Z_hat gives the direction Z_hat - Z0, and a backtracking line search on the true objective of (C)
(convex along the segment) takes the step (Lee, Sun & Saunders, SIAM J. Optim. 2014).  The model problems are solved
to a relative accuracy that follows the certified gap of the outer iterate, so the outer iteration converges
quadratically near the solution.  It stops when the certified relative gap of theory.lifted.certified_gap is <= eps.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import scipy.sparse

from theory.lifted import LiftedProgram, certified_gap
from theory.losses import SQUARED
from theory.solvers.gram import gram_form
from theory.solvers.result import DEFAULT_EPS, Solution, check_eps
from theory.solvers.ssnal import Stalled, solve_ssnal

#: Relative damping of the row Hessians: keeps the model positive definite where the loss is flat (a constant shift
#: of a cross-entropy row, a Huber residual beyond delta) without letting L^-1 g overflow there.
DAMPING = 1e-8
#: Floor of the largest row curvature in the damping: where every row is flat to round-off (each Huber residual
#: beyond delta), a floor of the smallest normal float made |L^-1 g| ~ 1e158 and the model's |target|^2 overflow.
FLAT = float(np.finfo(float).eps)
#: The model problem is solved to this fraction of the outer certified gap (at most MODEL_EPS_MAX, at least 1e-13).
MODEL_FRACTION, MODEL_EPS_MAX = 1e-2, 1e-4
#: Backtracking: Armijo constant, step reduction, and the shortest step tried.
ARMIJO, SHRINK, MIN_STEP = 1e-4, 0.5, 1e-10


def _row_roots(H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """H^(1/2) and H^(-1/2) of each damped row Hessian (rows, c, c)."""
    values, vectors = np.linalg.eigh(H)
    values = values + DAMPING * max(float(values.max(initial=0.0)), FLAT)
    root = np.einsum("rij,rj,rkj->rik", vectors, np.sqrt(values), vectors)
    inverse = np.einsum("rij,rj,rkj->rik", vectors, 1.0 / np.sqrt(values), vectors)
    return root, inverse


def model_program(program: LiftedProgram, Zs: list[np.ndarray]) -> LiftedProgram:
    """The squared-loss program of the second-order model of the loss at Zs (module docstring)."""
    rows = (-1, program.classes)
    F0 = program.predict(Zs).reshape(rows)
    target = program.target.reshape(rows)
    root, inverse = _row_roots(program.loss.hessian(F0, target))
    g = program.loss.gradient(F0, target)
    new_target = np.einsum("rij,rj->ri", root, F0) - np.einsum("rij,rj->ri", inverse, g)
    rows_root = scipy.sparse.bsr_matrix((root, np.arange(len(root)), np.arange(len(root) + 1)))  # block diagonal
    blocks = tuple(replace(b, operator=b.operator.mapped(rows_root)) for b in program.blocks)
    return LiftedProgram(blocks, new_target.reshape(-1), program.beta, SQUARED, program.classes)


def _line_search(program: LiftedProgram, Z0: list[np.ndarray], Z1: list[np.ndarray],
                 value: float) -> tuple[list[np.ndarray], float]:
    """Backtracking from the full step Z0 -> Z1 on the objective of (C), with the Armijo condition on the model
    decrease Delta = <grad l(F0), A(Z1 - Z0)> + beta (R(Z1) - R(Z0)) <= 0; (Z0, value) when no step passes."""
    direction = [b - a for a, b in zip(Z0, Z1)]
    slope = (-float(program.dual_point(program.predict(Z0)) @ program.predict(direction))
             + program.beta * (program.regulariser(Z1) - program.regulariser(Z0)))
    step = 1.0
    while step >= MIN_STEP:
        trial = [a + step * d for a, d in zip(Z0, direction)]
        trial_value = program.objective(trial)
        if trial_value <= value + ARMIJO * step * min(slope, 0.0):
            return trial, trial_value
        step *= SHRINK
    return Z0, value


def solve_prox_newton(program: LiftedProgram, eps: float = DEFAULT_EPS, max_seconds: float = 600.0,
                      max_iterations: int = 100, gram: bool = False) -> Solution:
    """Solve (C) by proximal Newton to a certified relative gap <= eps, or until the budget runs out or no step
    decreases the objective any more; then status "inaccurate" with the gap reached (theory.solvers.solve judges it).
    ``gram``: SSNAL iterates on the Gram form of each model (theory.solvers.gram: the Newton step in the space of
    the lifted variables, formed in one pass over the rows of H^(1/2) A), not on its outputs."""
    check_eps(eps)
    start = time.perf_counter()
    Zs = program.zeros()
    value, gap = certified_gap(program, Zs)
    for iteration in range(1, max_iterations + 1):
        if gap <= eps or time.perf_counter() - start > max_seconds:
            break
        model = model_program(program, Zs)
        model = gram_form(model).program if gram else model
        model_eps = min(MODEL_EPS_MAX, max(MODEL_FRACTION * gap, 1e-13))
        try:
            proposal = solve_ssnal(model, eps=model_eps, max_seconds=max_seconds, start=Zs).blocks
        except Stalled as stalled:
            proposal = stalled.blocks
        Zs, new_value = _line_search(program, Zs, proposal, value)
        if new_value >= value:
            break
        value, gap = certified_gap(program, Zs)
    # Above eps the point is still returned, as cvxpy's are: theory.solvers.solve polishes it and accepts it up to
    # ACCEPT_GAP (a point certified at 2e-8 is a result, not a failure).
    status = "optimal" if gap <= eps else "inaccurate"
    return Solution(Zs, value, gap, "PROX-NEWTON", status, time.perf_counter() - start,
                    {"method": "prox-newton", "eps": eps, "iterations": iteration})
