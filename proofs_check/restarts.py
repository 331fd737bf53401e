"""Random restarts of the non-convex primal: scipy L-BFGS-B with the theorem's analytic gradient.

Restart k at width m starts from ``theorem.init(m, numpy.random.default_rng([seed, m, k]))``, so every restart
is reproducible from (seed, m, k) alone and independent of the others and of their order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from theory.base import Theorem

#: L-BFGS-B settings: the factorised problems are degenerate (rotations of the heads leave the objective
#: unchanged) and need ~1e3 iterations; ftol/gtol this small make the final value accurate to ~1e-11.
LBFGS_OPTIONS = {"maxiter": 50_000, "maxfun": 100_000, "ftol": 1e-14, "gtol": 1e-10, "maxcor": 30}


@dataclass(frozen=True)
class RestartRun:
    """Final objectives of independent restarts at one width m."""

    m: int
    seed: int
    values: np.ndarray
    best_theta: np.ndarray
    seconds: float

    @property
    def best(self) -> float:
        return float(self.values.min())


def restart_rng(seed: int, m: int, k: int) -> np.random.Generator:
    """The generator of restart k at width m."""
    return np.random.default_rng([seed, m, k])


def _lbfgs(theorem: Theorem, theta0: np.ndarray, m: int, scale: float) -> tuple[float, np.ndarray]:
    def scaled(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = theorem.objective_and_gradient(theta, m)
        return value / scale, grad / scale
    result = minimize(scaled, theta0, jac=True, method="L-BFGS-B", options=LBFGS_OPTIONS)
    return float(result.fun) * scale, result.x


def local_minimum(theorem: Theorem, theta0: np.ndarray, m: int) -> tuple[float, np.ndarray]:
    """L-BFGS from theta0, then again on the objective divided by the value reached; returns value and weights.

    L-BFGS-B stops when the relative reduction (f_k - f_k+1) / max(|f_k|, |f_k+1|, 1) falls below ftol, which is
    an ABSOLUTE test when f < 1: on instances with a small optimum it stopped 1e-5 relative above C* (measured).
    The second phase on f / f_1 makes the test relative; it costs a few iterations when the first was enough.
    """
    value, theta = _lbfgs(theorem, theta0, m, 1.0)
    return _lbfgs(theorem, theta, m, abs(value)) if 0 < abs(value) < 1 else (value, theta)


def run_restarts(theorem: Theorem, m: int, count: int, seed: int, progress=None) -> RestartRun:
    """``count`` independent restarts at width m; ``progress(k, count)`` is called before the first and after each."""
    if progress is not None:
        progress(0, count)
    start = time.perf_counter()
    values, best_theta = np.empty(count), None
    for k in range(count):
        values[k], theta = local_minimum(theorem, theorem.init(m, restart_rng(seed, m, k)), m)
        if best_theta is None or values[k] <= values[:k].min(initial=np.inf):
            best_theta = theta
        if progress is not None:
            progress(k + 1, count)
    return RestartRun(m, seed, values, best_theta, time.perf_counter() - start)
