"""Batched random restarts: a vectorised first phase over all restarts at once, then L-BFGS on the best.

Restart k starts from the same point as in the serial path (proofs_check.restarts.restart_rng(seed, m, k)).
Phase 1 runs gradient descent with a Barzilai-Borwein step per restart on the stacked weights Theta (R, n),
using :meth:`theory.base.Theorem.batch_objective_and_gradient` (one vectorised numpy call per iteration for
theorems that override it; a loop otherwise, which is correct but not faster).  A step that raises a restart's
objective is rejected and that restart's step halved, so every restart's value decreases monotonically.
Phase 2 polishes the ``polish`` restarts with the lowest phase-1 values by the serial path's own
:func:`proofs_check.restarts.local_minimum`.  The values of the others are their phase-1 values (upper bounds
on what L-BFGS would reach from there); the best value is always a polished one.

The harness takes this path with ``verify(..., batched=True)`` (``proofs-check run --batched``);
:func:`run_batched_restarts` has the signature and result of :func:`proofs_check.restarts.run_restarts`.

Speed: a serial restart is a full L-BFGS run (4 s to 12 s at N = d = 8 and the zero-gap width in different runs:
the factorised problem is degenerate and needs thousands of iterations), while phase 1 costs about 0.07 s per
restart there (300 batched evaluations at about 0.2 ms per restart), so R batched restarts take about
0.07 R s + POLISH L-BFGS runs, and the rate ratio grows with R towards (L-BFGS time) / 0.07 s
(benchmarks/bench_solvers.py: 17x with R = 64 at d = 8, measured).
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
