"""Batched random restarts: a vectorised first phase over all restarts at once, then L-BFGS on the best.

Restart k starts from the same point as in the serial path (proofs_check.restarts.restart_rng(seed, m, k)).
Phase 1 runs gradient descent with a Barzilai-Borwein step per restart on the stacked weights Theta (R, n),
using :meth:`theory.base.Theorem.batch_objective_and_gradient` (one vectorised numpy call per iteration for
theorems that override it; a loop otherwise, which is correct but not faster).  A step that raises a restart's
objective is rejected and that restart's step halved, so every restart's value decreases monotonically.
Phase 2 polishes the ``polish`` restarts with the lowest phase-1 values by the serial path's own
:func:`proofs_check.restarts.local_minimum`.  The values of the others are their phase-1 values (upper bounds
on what L-BFGS would reach from there); the best value is always a polished one.

Which path the harness uses is chosen by the caller (``verify(..., batched=...)`` is not wired yet; use
:func:`run_batched_restarts` in place of :func:`proofs_check.restarts.run_restarts`, same signature and result).
"""

from __future__ import annotations

import time

import numpy as np

from proofs_check.restarts import RestartRun, local_minimum, restart_rng
from theory.base import Theorem

#: Phase-1 iterations and the number of restarts polished by L-BFGS.
PHASE_ONE_ITERATIONS = 300
POLISH = 3


def phase_one(theorem: Theorem, Theta: np.ndarray, m: int, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """Monotone Barzilai-Borwein gradient descent on every row of Theta at once; returns values and weights."""
    values, grads = theorem.batch_objective_and_gradient(Theta, m)
    steps = 1e-3 * np.linalg.norm(Theta, axis=1) / np.maximum(np.linalg.norm(grads, axis=1), 1e-300)
    for _ in range(iterations):
        trial = Theta - steps[:, None] * grads
        new_values, new_grads = theorem.batch_objective_and_gradient(trial, m)
        accept = new_values <= values
        s, dg = trial - Theta, new_grads - grads
        curvature = np.einsum("rn,rn->r", s, dg)
        bb = np.where(curvature > 0, np.einsum("rn,rn->r", s, s) / np.where(curvature > 0, curvature, 1.0), steps)
        steps = np.where(accept, bb, 0.5 * steps)
        Theta = np.where(accept[:, None], trial, Theta)
        values, grads = np.where(accept, new_values, values), np.where(accept[:, None], new_grads, grads)
    return values, Theta


def run_batched_restarts(theorem: Theorem, m: int, count: int, seed: int, progress=None,
                         iterations: int = PHASE_ONE_ITERATIONS, polish: int = POLISH) -> RestartRun:
    """``count`` restarts at width m: vectorised phase 1 on all, L-BFGS on the ``polish`` best (see module doc)."""
    if progress is not None:
        progress(0, count)
    start = time.perf_counter()
    Theta = np.array([theorem.init(m, restart_rng(seed, m, k)) for k in range(count)])
    values, Theta = phase_one(theorem, Theta, m, iterations)
    best_value, best_theta = np.inf, None
    for k in np.argsort(values)[:max(polish, 1)]:
        values[k], theta = local_minimum(theorem, Theta[k], m)
        if values[k] <= best_value:
            best_value, best_theta = values[k], theta
    if progress is not None:
        progress(count, count)
    return RestartRun(m, seed, values, best_theta, time.perf_counter() - start)
