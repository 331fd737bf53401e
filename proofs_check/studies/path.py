"""The regularisation path: the convex program solved over a grid of beta, with what is active at each beta.

For a theorem bound to its data, beta_k = beta_max 10^(-DECADES (1 - k/(K-1))), k = 0..K-1: K log-spaced values
from beta_max 10^-DECADES up to beta_max, the smallest beta at which Z* = 0 (theory.lifted.beta_max), so the grid
means the same amount of regularisation whatever the scale of the data.  Per beta: the loss and the regulariser
at the optimum, the number of non-zero blocks and the heads m* (after rank reduction and the objective-based
truncation of theory.lifted), and the theorem's report fields (for convex-attention: active tokens and pairs).

Exact facts of any regularised path (C*(beta) = min_Z l(Z) + beta R(Z)), asserted in tests: the regulariser at
the optimum is non-increasing in beta and the loss non-decreasing (compare the optimality of Z*(beta1) and
Z*(beta2)); Z* = 0 from beta_max on.  For points that are optimal only up to certified absolute gaps g1, g2
(``absolute_gap``) the same comparison gives R1 - R2 >= -(g1 + g2) / (beta2 - beta1) and L2 - L1 >= -(beta1 (g1 +
g2) / (beta2 - beta1) + g1), the tolerances the tests use.  The number of active groups of a group lasso need not be
monotone; the table shows what it does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from proofs_check.optimum import find_optimum
from proofs_check.parallel import run_tasks
from theory.base import Theorem
from theory.data import check_positive_int

DECADES = 3.0
POINTS = 10


@dataclass(frozen=True)
class PathPoint:
    beta: float
    loss: float
    regulariser: float
    absolute_gap: float  # C - LB at the point's extreme point, LB from the solver's certificate
    active_blocks: int
    heads: int
    fields: dict
    solver: str


def beta_grid(theorem: Theorem, points: int = POINTS, decades: float = DECADES) -> np.ndarray:
    """``points`` log-spaced betas from beta_max 10^-decades to beta_max."""
    top = theorem.beta_max
    return top * 10.0 ** np.linspace(-decades, 0.0, check_positive_int(points, "points"))


def regularisation_path(theorem: Theorem, points: int = POINTS, decades: float = DECADES,
                        solver: str = "auto", workers: int = 1) -> list[PathPoint]:
    """Solve the theorem's program with ``solver`` (theory.solvers) at every beta of :func:`beta_grid` (same data,
    options and seed), the betas on ``workers`` joblib workers (proofs_check.parallel)."""
    betas = beta_grid(theorem, points, decades)
    return list(run_tasks(path_point, ((theorem, float(beta), solver) for beta in betas), workers))


def path_point(theorem: Theorem, beta: float, solver: str) -> PathPoint:
    """The point of the path at one beta."""
    optimum = find_optimum(theorem.rebind(beta), solver)
    return PathPoint(beta, optimum.loss, optimum.regulariser, optimum.extreme_objective - optimum.lower_bound,
                     sum(1 for pairs in optimum.factors if pairs), optimum.heads, optimum.report_fields(),
                     optimum.solver)


def path_json(path: list[PathPoint]) -> list[dict]:
    return [asdict(point) for point in path]


