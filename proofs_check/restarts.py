"""The restart engine: seeded random restarts of a smooth non-convex objective, serial or batched (one engine for
the witnesses' networks, the softmax-attention baseline and the experiment's MLP head).

An objective is any object with ``init(rng) -> theta`` and ``value_and_gradient(theta) -> (value, gradient)``; it
may add ``batch_value_and_gradient(Theta) -> (values (R,), gradients (R, n))`` for R weight vectors at once.  A
theorem at width m is adapted by :class:`TheoremAtWidth`.

Restart k of a run starts from ``init(numpy.random.default_rng([seed, *stream, k]))``, so every restart is
reproducible from (seed, stream, k) alone and independent of the others (the witnesses use stream (m,)).

- serial: :func:`local_minimum` from every start (L-BFGS, then L-BFGS on the objective divided by the value reached);
- batched: monotone Barzilai-Borwein gradient descent on all restarts at once for PHASE_ONE_ITERATIONS vectorised
  steps (:func:`phase_one`), then :func:`local_minimum` from the ``polish`` lowest.  The others keep their phase-1
  values, upper bounds on what L-BFGS would reach from there; the best value is always a polished one.  A serial
  restart is a full L-BFGS run, a batched one costs a few vectorised evaluations (benchmarks/README.md).

Every run holds BLAS to theory.threads' thread count.  With ``workers`` > 1 the L-BFGS runs go to joblib workers
(local processes, or a Dask cluster: proofs_check.parallel); each starts from the same theta0 as in the serial
run, so the values are the same.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np
from scipy.optimize import minimize

from proofs_check.parallel import check_workers, run_tasks
from theory.base import Theorem
from theory.threads import limited_blas

#: L-BFGS-B settings: the factorised problems are degenerate (rotations of the heads leave the objective
#: unchanged) and need ~1e3 iterations; ftol/gtol this small make the final value accurate to ~1e-11.
LBFGS_OPTIONS = {"maxiter": 50_000, "maxfun": 100_000, "ftol": 1e-14, "gtol": 1e-10, "maxcor": 30}
#: Batched path: phase-1 iterations, and the number of restarts then polished by L-BFGS.
PHASE_ONE_ITERATIONS = 300
POLISH = 3

Progress = Callable[[int, int], None]  # (restarts done, restarts in all)


class Objective(Protocol):
    def init(self, rng: np.random.Generator) -> np.ndarray: ...

    def value_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]: ...


@dataclass(frozen=True)
class TheoremAtWidth:
    """The training objective of a theorem's network with m heads, as an objective of the engine."""

    theorem: Theorem
    m: int

    def init(self, rng: np.random.Generator) -> np.ndarray:
        return self.theorem.init(self.m, rng)

    def value_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        return self.theorem.objective_and_gradient(theta, self.m)

    def batch_value_and_gradient(self, Theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.theorem.batch_objective_and_gradient(Theta, self.m)


@dataclass(frozen=True)
class RestartRun:
    """Final objectives of independent restarts of one objective, and the weights of the best."""

    seed: int
    stream: tuple[int, ...]
    values: np.ndarray
    best_theta: np.ndarray
    seconds: float

    @property
    def best(self) -> float:
        return float(self.values.min())


def restart_rng(seed: int, stream: tuple[int, ...], k: int) -> np.random.Generator:
    """The generator of restart k."""
    return np.random.default_rng([seed, *stream, k])


def _lbfgs(objective: Objective, theta0: np.ndarray, value_scale: float, theta_scale: float,
           options: dict) -> tuple[float, np.ndarray]:
    """L-BFGS-B on phi -> f(theta_scale phi) / value_scale from theta0 / theta_scale: scale-free in both."""
    def scaled(phi: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = objective.value_and_gradient(theta_scale * phi)
        return value / value_scale, grad * (theta_scale / value_scale)
    result = minimize(scaled, theta0 / theta_scale, jac=True, method="L-BFGS-B", options=options)
    return float(result.fun) * value_scale, result.x * theta_scale


def local_minimum(objective: Objective, theta0: np.ndarray, options: dict = LBFGS_OPTIONS) -> tuple[float, np.ndarray]:
    """L-BFGS from theta0, then again on the objective divided by the value reached; returns value and weights.

    Both runs see the weights divided by |theta0| and the objective divided by its size, so that L-BFGS-B's
    absolute tests (gtol, and ftol, which divides by max(|f|, 1)) mean the same at every scale of the data: data
    scaled by 1e20 left the restarts 1e-5 above C* without this (docs/theory.md §10.1).  The second run, on f / f_1,
    makes the ftol test relative where the first ended well below the start.
    """
    theta_scale = float(np.linalg.norm(theta0)) or 1.0
    start = abs(objective.value_and_gradient(theta0)[0]) or 1.0
    value, theta = _lbfgs(objective, theta0, start, theta_scale, options)
    return _lbfgs(objective, theta, abs(value), theta_scale, options) if value != 0 else (value, theta)


def batch_value_and_gradient(objective: Objective, Theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The objective's vectorised evaluation, or a loop over its serial one."""
    if hasattr(objective, "batch_value_and_gradient"):
        return objective.batch_value_and_gradient(Theta)
    pairs = [objective.value_and_gradient(theta) for theta in Theta]
    return np.array([v for v, _ in pairs]), np.array([g for _, g in pairs]).reshape(Theta.shape)


def phase_one(objective: Objective, Theta: np.ndarray, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """Barzilai-Borwein gradient descent on every row of Theta at once; a step that raises a row's value is rejected
    and that row's step halved, so every value decreases monotonically.  Returns values and weights."""
    values, grads = batch_value_and_gradient(objective, Theta)
    steps = 1e-3 * np.linalg.norm(Theta, axis=1) / np.maximum(np.linalg.norm(grads, axis=1), 1e-300)
    for _ in range(iterations):
        trial = Theta - steps[:, None] * grads
        new_values, new_grads = batch_value_and_gradient(objective, trial)
        accept = new_values <= values
        s, dg = trial - Theta, new_grads - grads
        curvature = np.einsum("rn,rn->r", s, dg)
        bb = np.where(curvature > 0, np.einsum("rn,rn->r", s, s) / np.where(curvature > 0, curvature, 1.0), steps)
        steps = np.where(accept, bb, 0.5 * steps)
        Theta = np.where(accept[:, None], trial, Theta)
        values, grads = np.where(accept, new_values, values), np.where(accept[:, None], new_grads, grads)
    return values, Theta


def run_restarts(objective: Objective, count: int, seed: int, stream: tuple[int, ...] = (), *, batched: bool = False,
                 options: dict = LBFGS_OPTIONS, iterations: int = PHASE_ONE_ITERATIONS, polish: int = POLISH,
                 progress: Progress | None = None, workers: int = 1) -> RestartRun:
    """``count`` restarts (module docstring), their L-BFGS runs on ``workers`` joblib workers (proofs_check.parallel);
    ``progress(done, count)`` is called before the first and after each."""
    workers = check_workers(workers)
    say = progress or (lambda done, total: None)
    say(0, count)
    start = time.perf_counter()
    starts = np.array([objective.init(restart_rng(seed, stream, k)) for k in range(count)])
    with limited_blas():
        if batched:
            values, Theta = phase_one(objective, starts, iterations)
            chosen = np.argsort(values)[:max(polish, 1)]
        else:
            values, Theta, chosen = np.full(count, np.inf), starts, np.arange(count)
        best_value, best_theta = np.inf, None
        minima = run_tasks(local_minimum, ((objective, Theta[k], options) for k in chosen), workers)
        for k, (value, theta) in zip(chosen, minima):
            values[k] = value
            if value <= best_value:
                best_value, best_theta = value, theta
            say(int(k) + 1 if not batched else count, count)
    return RestartRun(seed, stream, values, best_theta, time.perf_counter() - start)
