"""Convex losses l(F; T) with their gradient and the dual objective -l*(-V) (docs/theory.md §1, §2).

Every loss acts row by row on outputs F of shape (..., c) against targets T of the same shape: a row is one output
token (token-wise targets) or one sample (pooled targets, where F is the mean of the network output over tokens).

- ``squared``: l(f; t) = 1/2 |f - t|^2; -l*(-v) = <v, t> - 1/2 |v|^2.
- ``cross-entropy`` (softmax): l(f; t) = logsumexp(f) - <t, f> for a target t in the simplex (a one-hot label, or
  a probability vector); -l*(-v) = H(t - v) = -sum_k (t - v)_k log (t - v)_k on the domain t - v >= 0,
  sum_k v_k = 0 (and -inf outside it): the negative entropy is the conjugate of logsumexp.
- ``huber`` (delta = 1): l(f; t) = sum_k h(f_k - t_k), h(r) = r^2 / 2 for |r| <= delta, delta (|r| - delta / 2)
  beyond; -l*(-v) = <v, t> - 1/2 |v|^2 on |v_k| <= delta (-inf outside).

The dual point of a candidate solution is V = -grad l(F); for every loss here, t - alpha V (cross-entropy) or
alpha V (huber) stays in the domain for 0 <= alpha <= 1, which is what the rescaled certificate of theory.lifted
needs.  ``lipschitz`` is the Lipschitz constant of grad l (FISTA's step); ``hessian`` gives each row's c x c (generalised)
Hessian (the Newton polish of theory.solvers.polishing); ``value`` sums over all rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import logsumexp, softmax

from theory.errors import InputError

if TYPE_CHECKING:  # cvxpy is imported where its expressions are built: a restart worker never loads it
    import cvxpy as cp

#: A dual point counts as inside a loss's domain up to this multiple of float64 round-off of its entries.
DOMAIN_SLACK = 1e-12


@dataclass(frozen=True)
class Squared:
    name: str = "squared"
    lipschitz: float = 1.0

    def rows(self, F: np.ndarray, T: np.ndarray) -> np.ndarray:
        return 0.5 * np.square(F - T).sum(axis=-1)

    def gradient(self, F: np.ndarray, T: np.ndarray) -> np.ndarray:
        return F - T

    def hessian(self, F: np.ndarray, T: np.ndarray) -> np.ndarray:
        return np.broadcast_to(np.eye(F.shape[-1]), F.shape + F.shape[-1:])

    def dual_value(self, V: np.ndarray, T: np.ndarray) -> float:
        return float(np.vdot(V, T)) - 0.5 * float(np.vdot(V, V))

    def cvxpy(self, F: cp.Expression, T: np.ndarray) -> cp.Expression:
        import cvxpy as cp
        return 0.5 * cp.sum_squares(F - T)

    def value(self, F: np.ndarray, T: np.ndarray) -> float:
        return float(self.rows(F, T).sum())


@dataclass(frozen=True)
class CrossEntropy:
    name: str = "cross-entropy"
    lipschitz: float = 0.5  # the softmax Jacobian diag(p) - p p^T has norm <= 1/2

    def rows(self, F: np.ndarray, T: np.ndarray) -> np.ndarray:
        return logsumexp(F, axis=-1) - (T * F).sum(axis=-1)

    def gradient(self, F: np.ndarray, T: np.ndarray) -> np.ndarray:
        return softmax(F, axis=-1) - T

    def hessian(self, F: np.ndarray, T: np.ndarray) -> np.ndarray:
        p = softmax(F, axis=-1)
        return np.einsum("...k,kl->...kl", p, np.eye(F.shape[-1])) - p[..., :, None] * p[..., None, :]

    def dual_value(self, V: np.ndarray, T: np.ndarray) -> float:
        P = T - V
        slack = DOMAIN_SLACK * max(1.0, float(np.abs(V).max(initial=0.0)))
        if P.min(initial=0.0) < -slack or np.abs(V.sum(axis=-1)).max(initial=0.0) > slack * V.shape[-1]:
            return -np.inf
        P = np.clip(P, 0.0, None)
        return float(-np.sum(P * np.log(np.where(P > 0, P, 1.0))))

    def cvxpy(self, F: cp.Expression, T: np.ndarray) -> cp.Expression:
        import cvxpy as cp
        return cp.sum(cp.log_sum_exp(F, axis=1)) - cp.sum(cp.multiply(T, F))

    def value(self, F: np.ndarray, T: np.ndarray) -> float:
        return float(self.rows(F, T).sum())


@dataclass(frozen=True)
class Huber:
    name: str = "huber"
    lipschitz: float = 1.0
    delta: float = 1.0

    def rows(self, F: np.ndarray, T: np.ndarray) -> np.ndarray:
        r = np.abs(F - T)
        return np.where(r <= self.delta, 0.5 * r * r, self.delta * (r - 0.5 * self.delta)).sum(axis=-1)

    def gradient(self, F: np.ndarray, T: np.ndarray) -> np.ndarray:
        return np.clip(F - T, -self.delta, self.delta)

    def hessian(self, F: np.ndarray, T: np.ndarray) -> np.ndarray:
        """An element of the generalised Hessian (the loss is piecewise quadratic)."""
        inside = (np.abs(F - T) <= self.delta).astype(float)
        return np.einsum("...k,kl->...kl", inside, np.eye(F.shape[-1]))

    def dual_value(self, V: np.ndarray, T: np.ndarray) -> float:
        if np.abs(V).max(initial=0.0) > self.delta * (1 + DOMAIN_SLACK):
            return -np.inf
        return float(np.vdot(V, T)) - 0.5 * float(np.vdot(V, V))

    def cvxpy(self, F: cp.Expression, T: np.ndarray) -> cp.Expression:
        import cvxpy as cp
        return 0.5 * cp.sum(cp.huber(F - T, self.delta))  # cvxpy's huber is twice ours

    def value(self, F: np.ndarray, T: np.ndarray) -> float:
        return float(self.rows(F, T).sum())


Loss = Squared | CrossEntropy | Huber
SQUARED, CROSS_ENTROPY, HUBER = Squared(), CrossEntropy(), Huber()
LOSSES: dict[str, Loss] = {loss.name: loss for loss in (SQUARED, CROSS_ENTROPY, HUBER)}


def get_loss(name: str) -> Loss:
    """The loss registered under ``name`` (InputError otherwise)."""
    try:
        return LOSSES[name]
    except KeyError:
        raise InputError(f"unknown loss {name!r}; known: {', '.join(LOSSES)}") from None
