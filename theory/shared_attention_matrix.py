"""[E22] Appendix A.7 (`theo:attn_matrix_convex`, eqs. (30)-(33)) as the formalization transcribes it: sequence
targets, one row-stochastic s x s matrix per head shared by all rows; docs/theory.md §8.11.

Network (30): h heads, each a row-stochastic A_j (not decayed), a value matrix V_j in R^{d x c} and a scalar o_j,

    f(X)[r, l] = sum_j o_j sum_k A_j[r, k] x_k^T V_j[:, l],    decay  beta/2 sum_j (|V_j|_1^2 + o_j^2)

with |V|_1 the entrywise l1 norm (the formalization's choice: its dual is the entrywise l-infinity norm of the
appendix's dual constraint).  Printed convex program (33), over non-negative s x s matrices C+_{q,l}, C-_{q,l}:

    min  l(F, Y) + beta sum_{q,l} (|C+_{q,l}|_{1,inf} + |C-_{q,l}|_{1,inf}),   F[r, l] = sum_{q,k} (C+ - C-)_{q,l}[r, k] x_k[q]

with a norm |.|_{1,inf} that the paper does not define (NORMS: the candidates measured).

*The exact program [derived here].*  Head j contributes C_{q,l} = sum_j A_j (V_j[q, l] o_j); split by the sign of
V_j[q, l] o_j, C+_{q,l} = sum_j A_j (V_j[q, l] o_j)_+ is non-negative with **every row summing to the same**
t+_{q,l} = sum_j (V_j[q, l] o_j)_+, because each A_j is row-stochastic, and the decay is at least
beta sum_j |V_j|_1 |o_j| = beta sum_{q,l} (t+_{q,l} + t-_{q,l}).  Conversely a pair (C+, C-) with constant row sums
t+, t- is attained by one head per (q, l, sign): A = C / t, V = +-sqrt(t) e_q e_l^T, o = sqrt(t), decay exactly
beta t.  So with h >= the number of non-zero (q, l, sign) the network is equivalent to

    min  l(F, Y) + beta sum_{q,l} (t+_{q,l} + t-_{q,l})   s.t.  C+-_{q,l} >= 0,  C+-_{q,l} 1 = t+-_{q,l} 1,        (33*)

which is (33) with the max-row-l1 norm (= t for a matrix of constant row sums) **plus** the constraint that every
row has the same sum.  Dropping it, (33) with that norm is a relaxation: a lower bound on the network.
"""

from __future__ import annotations

from dataclasses import dataclass

import cvxpy as cp
import numpy as np

from theory.data import check_beta, check_data
from theory.errors import InputError
from theory.simplex_heads import ROW_SPREAD, simplex_rows, simplex_rows_vjp

#: Candidate definitions of the undefined |C|_{1,inf} of (33), name -> (formula, cvxpy expression of a matrix).
NORMS = {
    "max-row-l1": ("max_r sum_k |C[r, k]| (the induced infinity norm)", lambda C: cp.max(cp.sum(cp.abs(C), axis=1))),
    "sum-row-max": ("sum_r max_k |C[r, k]| (the l1 norm of the rows' l-infinity norms)",
                    lambda C: cp.sum(cp.max(cp.abs(C), axis=1))),
    "entrywise-l1": ("sum_{r,k} |C[r, k]|", lambda C: cp.sum(cp.abs(C))),
    "max-column-l1": ("max_k sum_r |C[r, k]| (the induced 1 norm)", lambda C: cp.max(cp.sum(cp.abs(C), axis=0))),
}


@dataclass(frozen=True)
class SharedMatrixNetwork:
    """The network (30) with m heads on data X (N, s, d), sequence targets Y (N, s, c), squared loss 1/2 |F - Y|^2.

    theta packs (b (m, s, s), p (m, d, c), o (m,)): A_j = b_j^2 / |b_j|^2 row by row (theory.simplex_heads), and
    V_j = p_j o |p_j| entrywise, so that |V_j|_1 = |p_j|_F^2 and the decay beta/2 (|p_j|_F^4 + o_j^2) is smooth for
    L-BFGS (the same network and decay as functions of V).  Restarts: an objective of proofs_check.restarts."""

    X: np.ndarray
    Y: np.ndarray
    beta: float
    m: int

    @classmethod
    def bind(cls, X: np.ndarray, Y: np.ndarray, beta: float, m: int) -> "SharedMatrixNetwork":
        X, Y = check_data(X, Y)
        if Y.ndim != 3:
            raise InputError(f"Appendix A.7 has sequence targets Y (N, s, c), got shape {Y.shape}")
        return cls(X, Y, check_beta(beta), m)

    def unpack(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        _, s, d = self.X.shape
        c = self.Y.shape[2]
        sizes = np.cumsum([self.m * s * s, self.m * d * c])
        B, P, o = np.split(theta, sizes)
        return B.reshape(self.m, s, s), P.reshape(self.m, d, c), o

    def weights(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(A (m, s, s) row-stochastic, V (m, d, c), o (m,)): the parameters of (30)."""
        B, P, o = self.unpack(theta)
        return simplex_rows(B), P * np.abs(P), o

    def forward(self, theta: np.ndarray) -> np.ndarray:
        A, V, o = self.weights(theta)
        return predict(self.X, A, V, o)

    def value_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        B, P, o = self.unpack(theta)
        A, V = simplex_rows(B), P * np.abs(P)
        values = np.einsum("ika,jal->ijkl", self.X, V)  # x_{i,k}^T V_j[:, l]
        mixed = np.einsum("jrk,ijkl->ijrl", A, values)
        R = np.einsum("j,ijrl->irl", o, mixed) - self.Y
        l1 = np.sum(P * P, axis=(1, 2))  # |V_j|_1
        value = 0.5 * float(np.sum(R * R)) + 0.5 * self.beta * float(np.sum(l1**2) + o @ o)
        do = np.einsum("irl,ijrl->j", R, mixed) + self.beta * o
        dA = np.einsum("j,irl,ijkl->jrk", o, R, values)
        dV = np.einsum("j,irl,jrk,ika->jal", o, R, A, self.X)
        dP = 2 * np.abs(P) * dV + self.beta * 2 * l1[:, None, None] * P
        return value, np.concatenate([simplex_rows_vjp(B, dA).reshape(-1), dP.reshape(-1), do])

    def init(self, rng: np.random.Generator) -> np.ndarray:
        """Rows near random vertices (theory.simplex_heads.ROW_SPREAD), standard normal p and o rescaled by one
        factor so that |f(X)| = |Y| (f is homogeneous of degree 3 in (p, o): |p|^2 o)."""
        _, s, d = self.X.shape
        c = self.Y.shape[2]
        B = np.eye(s)[rng.integers(0, s, (self.m, s))] + ROW_SPREAD * rng.standard_normal((self.m, s, s))
        theta = np.concatenate([B.reshape(-1), rng.standard_normal(self.m * d * c), rng.standard_normal(self.m)])
        size, target = float(np.linalg.norm(self.forward(theta))), float(np.linalg.norm(self.Y))
        if size > 0 and target > 0:
            factor = (target / size) ** (1 / 3)
            B, P, o = self.unpack(theta)
            theta = np.concatenate([B.reshape(-1), factor * P.reshape(-1), factor * o])
        return theta


def predict(X: np.ndarray, A: np.ndarray, V: np.ndarray, o: np.ndarray) -> np.ndarray:
    """F[i, r, l] = sum_j o_j sum_k A_j[r, k] x_{i,k}^T V_j[:, l] (30)."""
    return np.einsum("j,jrk,ika,jal->irl", o, A, X, V)


def convex_prediction(X: np.ndarray, C: np.ndarray) -> np.ndarray:
    """F[i, r, l] = sum_{q,k} C[q, l, r, k] x_{i,k}[q] for C (d, c, s, s) (33)."""
    return np.einsum("qlrk,ikq->irl", C, X)


@dataclass(frozen=True)
class MatrixProgramSolution:
    optimum: float
    positive: np.ndarray  # C+ (d, c, s, s)
    negative: np.ndarray  # C-
    status: str


def _solve(X: np.ndarray, Y: np.ndarray, beta: float, norm: str | None) -> MatrixProgramSolution:
    """(33*) when ``norm`` is None, else (33) with the candidate norm NORMS[norm]; squared loss, Clarabel."""
    _, s, d = X.shape
    c = Y.shape[2]
    plus = [[cp.Variable((s, s), nonneg=True) for _ in range(c)] for _ in range(d)]
    minus = [[cp.Variable((s, s), nonneg=True) for _ in range(c)] for _ in range(d)]
    constraints, penalty = [], 0
    if norm is None:
        sums = [cp.Variable((d, c), nonneg=True) for _ in range(2)]  # t+ and t-
        for q in range(d):
            for l in range(c):
                constraints += [cp.sum(plus[q][l], axis=1) == sums[0][q, l], cp.sum(minus[q][l], axis=1) == sums[1][q, l]]
        penalty = cp.sum(sums[0]) + cp.sum(sums[1])
    else:
        expression = NORMS[norm][1]
        penalty = sum(expression(plus[q][l]) + expression(minus[q][l]) for q in range(d) for l in range(c))
    residual = []
    for i in range(len(X)):
        for l in range(c):
            F = sum((plus[q][l] - minus[q][l]) @ X[i, :, q] for q in range(d))
            residual.append(F - Y[i, :, l])
    objective = 0.5 * cp.sum_squares(cp.hstack(residual)) + beta * penalty
    problem = cp.Problem(cp.Minimize(objective), constraints)
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    value = lambda grid: np.array([[grid[q][l].value for l in range(c)] for q in range(d)])
    return MatrixProgramSolution(float(problem.value), value(plus), value(minus), str(problem.status))


def exact_program(X: np.ndarray, Y: np.ndarray, beta: float) -> MatrixProgramSolution:
    """(33*): the network's program with constant row sums (module docstring)."""
    return _solve(X, Y, beta, None)


def printed_program(X: np.ndarray, Y: np.ndarray, beta: float, norm: str) -> MatrixProgramSolution:
    """(33) as printed, with the candidate definition ``norm`` of |.|_{1,inf} (NORMS)."""
    if norm not in NORMS:
        raise InputError(f"unknown norm {norm!r}; candidates: {', '.join(NORMS)}")
    return _solve(X, Y, beta, norm)


#: A coefficient below this fraction of the largest is zero when heads are read off a solution of (33*).
ZERO_COEFFICIENT = 1e-9


def heads_from_exact(solution: MatrixProgramSolution) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One head per non-zero (q, l, sign) of a solution of (33*): A = C / t (t its common row sum, the mean of the
    row sums), V = +-sqrt(t) e_q e_l^T, o = sqrt(t); returns (A (h, s, s), V (h, d, c), o (h,))."""
    d, c, s, _ = solution.positive.shape
    heads = []
    signed = [(sign, C, C.sum(axis=3).mean(axis=2))  # row sums (d, c)
              for sign, C in ((1.0, np.maximum(solution.positive, 0.0)), (-1.0, np.maximum(solution.negative, 0.0)))]
    # one threshold for both signs: per sign, a C- of round-off (row sums 0 and 3e-13) passed its own, and a zero row
    # then became a row of NaNs (found by the thorough profile)
    largest = max(float(sums.max(initial=0.0)) for _, _, sums in signed)
    for sign, C, sums in signed:
        for q in range(d):
            for l in range(c):
                t = float(sums[q, l])
                if t > ZERO_COEFFICIENT * largest:
                    V = np.zeros((d, c))
                    V[q, l] = sign * np.sqrt(t)
                    heads.append((C[q, l] / C[q, l].sum(axis=1, keepdims=True), V, np.sqrt(t)))
    if not heads:
        return np.zeros((0, s, s)), np.zeros((0, d, c)), np.zeros(0)
    A, V, o = zip(*heads)
    return np.array(A), np.array(V), np.array(o)


def network_objective(X: np.ndarray, Y: np.ndarray, beta: float, A: np.ndarray, V: np.ndarray, o: np.ndarray) -> float:
    """1/2 |f(X) - Y|^2 + beta/2 sum_j (|V_j|_1^2 + o_j^2) of (30) at the given heads."""
    R = predict(X, A, V, o) - Y
    return 0.5 * float(np.sum(R * R)) + 0.5 * beta * float(np.sum(np.abs(V).sum(axis=(1, 2)) ** 2) + o @ o)
