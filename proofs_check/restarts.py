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


def local_minimum(theorem: Theorem, theta0: np.ndarray, m: int) -> tuple[float, np.ndarray]:
    """One L-BFGS run from theta0; returns the final objective and weights."""
    result = minimize(theorem.objective_and_gradient, theta0, args=(m,), jac=True, method="L-BFGS-B",
                      options=LBFGS_OPTIONS)
    return float(result.fun), result.x


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
