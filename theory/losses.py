"""Convex losses l(F; y) with their gradient and the dual objective -l*(-V) (THEORY.md §1, §2).

Only the squared loss l(F) = 1/2 |F - y|^2 is used by the theorems so far.  A loss carries everything the
lifted program (theory.lifted), the cvxpy model (theory.convex) and the primal networks need, so adding one
(e.g. cross-entropy on pooled outputs) touches this module only.
"""

from __future__ import annotations

from dataclasses import dataclass

import cvxpy as cp
import numpy as np


@dataclass(frozen=True)
class Loss:
    name: str

    def value(self, F: np.ndarray, y: np.ndarray) -> float:
        raise NotImplementedError

    def gradient(self, F: np.ndarray, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def dual_value(self, V: np.ndarray, y: np.ndarray) -> float:
        """-l*(-V): the dual objective of THEORY.md §2 at the dual point V."""
        raise NotImplementedError

    def cvxpy(self, F: cp.Expression, y: np.ndarray) -> cp.Expression:
        raise NotImplementedError


class _Squared(Loss):
    def value(self, F: np.ndarray, y: np.ndarray) -> float:
        r = F - y
        return 0.5 * float(np.vdot(r, r))

    def gradient(self, F: np.ndarray, y: np.ndarray) -> np.ndarray:
        return F - y

    def dual_value(self, V: np.ndarray, y: np.ndarray) -> float:
        return float(np.vdot(V, y)) - 0.5 * float(np.vdot(V, V))

    def cvxpy(self, F: cp.Expression, y: np.ndarray) -> cp.Expression:
        return 0.5 * cp.sum_squares(F - y)


SQUARED: Loss = _Squared("squared")
