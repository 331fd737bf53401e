"""The regularisers R of program (C) (docs/theory.md §2): one object per norm, with everything a solver needs.

Weight decay beta/2 sum_j (|u_j|^2 + |v_j|^2) on the factors of Z_p = sum_j u_j v_j^T becomes beta R(Z_p) (lemma
L1), with R the nuclear norm |.|_* when u_j, v_j are vectors (every registered theorem), or the Frobenius norm
|.|_F (a group lasso) when Z_p = G g is a matrix G times a scalar gain g.  A regulariser gives:

- ``value(Z)`` = R(Z) and ``dual(M)`` = R°(M), the dual norm of the constraint R°(A_p^T V) <= beta of (D);
- ``prox(X, t)``: the prox of t R on a stack X (P, rows, cols), with the data its Jacobian needs (SSNAL);
- ``jacobian_gram(stack, data, t)``: sum_p A_p J_p A_p^T, the Jacobian J_p of the prox in the Newton matrix of SSNAL,
  from the products of a theory.operators.Stack; ``jacobian_apply(H, data, t)``: J_p[H_p] (the matrix-free Newton
  solve);
- ``components(Z)``: Z = sum_r sigma_r p_r q_r^T with sigma >= 0 (what truncation, rank reduction and recovery
  split), and ``pairs`` turning components into balanced factors (lemma L1);
- ``cvxpy(Z)``: the cvxpy expression, and ``needs_sdp`` (the nuclear norm needs a semidefinite cone, which ECOS
  lacks);
- ``max_rank(shape)``: the largest number of components.

Both objects are used: the nuclear norm by every theorem, the Frobenius norm by group-lasso programs (and the
solver tests mix the two, so every code path is exercised).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from theory.operators import Stack

if TYPE_CHECKING:  # cvxpy is imported where its expressions are built: a restart worker never loads it
    import cvxpy as cp


@dataclass(frozen=True)
class Nuclear:
    """R(Z) = |Z|_*, the sum of singular values; R° is the spectral norm |.|_2."""

    name: str = "nuclear"
    needs_sdp: bool = True

    def value(self, Z: np.ndarray) -> float:
        return float(np.linalg.svd(Z, compute_uv=False).sum())

    def dual(self, M: np.ndarray) -> float:
        return float(np.linalg.svd(M, compute_uv=False)[0])

    def prox(self, X: np.ndarray, t: float) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        """Singular value thresholding U diag(max(s - t, 0)) W^T of every matrix of X; data (U, s, W^T)."""
        U, s, Wt = np.linalg.svd(X, full_matrices=False)
        return (U * np.maximum(s - t, 0.0)[:, None, :]) @ Wt, (U, s, Wt)

    @staticmethod
    def _divided_differences(s: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """G1, G2 (P, k, k) and g3 (P, k) of :meth:`jacobian_gram` for singular values s (P, k), f(s) = max(s - t, 0)."""
        f = np.maximum(s - t, 0.0)
        diff = s[:, :, None] - s[:, None, :]
        same = np.abs(diff) <= 1e-14 * np.maximum(s[:, :1, None], 1e-300)
        G1 = np.where(same, (f > 0)[:, :, None] * 1.0, (f[:, :, None] - f[:, None, :]) / np.where(same, 1.0, diff))
        total = s[:, :, None] + s[:, None, :]
        G2 = np.where(total > 0, (f[:, :, None] + f[:, None, :]) / np.where(total > 0, total, 1.0), 0.0)
        return G1, G2, np.where(s > 0, f / np.where(s > 0, s, 1.0), 0.0)

    def jacobian_gram(self, stack: Stack, data: tuple, t: float) -> np.ndarray:
        """sum_p <A_p^T e_a, J_p[A_p^T e_b]> (n x n) for tall X_p = U diag(s) W^T (the stack's orientation), with
        f(s) = max(s - t, 0), H1 = U^T H W and its symmetric/skew parts S, K:

            <H', J[H]> = <S', G1 o S> + <K', G2 o K> + <U_perp^T H' W, U_perp^T H W diag(g3)>,
            G1_ij = (f_i - f_j) / (s_i - s_j) (f'(s_i) at equal values),  G2_ij = (f_i + f_j) / (s_i + s_j),
            g3_j = f_j / s_j   (the divided differences of Ding, Sun & Toh).

        G1, G2 and g3 vanish unless an index is active (s_i > t, the first r), so only the rows and columns of H1 at
        active indices enter: the outputs A(u_i w_j^T) with i or j active (``stack.outer``), and
        |U_perp^T H w_j|^2 = |H w_j|^2 - |U^T H w_j|^2 for active j (``stack.right_gram``): O(n r (rows + cols))
        numbers instead of the n matrices A_p^T e_a (docs/theory.md §9.9).
        """
        U, s, Wt = data
        r = int(np.sum(s > t, axis=1).max(initial=0))
        if r == 0:
            return np.zeros((stack.outputs, stack.outputs))
        G1, G2, g3 = self._divided_differences(s, t)
        W = Wt.transpose(0, 2, 1)
        top = stack.outer(U[:, :, :r], W)  # H1[a, :] (P, n, r, k)
        low = stack.outer(U[:, :, r:], W[:, :, :r]).transpose(0, 1, 3, 2)  # H1[b, a]^T (P, n, r, k - r)
        inner, cross = top[..., :r], top[..., r:]
        pair_G1 = G1[:, :r, r:] + G1[:, r:, :r].transpose(0, 2, 1)  # both orders of a pair (active, inactive)
        pair_G2 = G2[:, :r, r:] + G2[:, r:, :r].transpose(0, 2, 1)
        columns = np.concatenate([inner, low.transpose(0, 1, 3, 2)], axis=2)  # H1[:, a] = U^T H W_a (P, n, k, r)
        return (stack.combine(0.5 * (inner + inner.transpose(0, 1, 3, 2)), G1[:, None, :r, :r])
                + stack.combine(0.5 * (inner - inner.transpose(0, 1, 3, 2)), G2[:, None, :r, :r])
                + stack.combine(0.5 * (cross + low), pair_G1[:, None])
                + stack.combine(0.5 * (cross - low), pair_G2[:, None])
                + stack.right_gram(W[:, :, :r], g3[:, :r]) - stack.combine(columns, g3[:, None, None, :r]))

    def jacobian_apply(self, H: np.ndarray, data: tuple, t: float) -> np.ndarray:
        """J_p[H_p] for tall stacks H (P, rows, cols): U (G1 o S + G2 o K) W^T + (I - U U^T) H W diag(g3) W^T
        (:meth:`jacobian_gram`), for SSNAL's matrix-free Newton solve."""
        U, s, Wt = data
        G1, G2, g3 = self._divided_differences(s, t)
        HW = H @ Wt.transpose(0, 2, 1)
        H1 = U.transpose(0, 2, 1) @ HW
        S, K = 0.5 * (H1 + H1.transpose(0, 2, 1)), 0.5 * (H1 - H1.transpose(0, 2, 1))
        perp = (HW - U @ H1) * g3[:, None, :]
        return (U @ (G1 * S + G2 * K) + perp) @ Wt

    def components(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.linalg.svd(Z, full_matrices=False)

    def pairs(self, P: np.ndarray, sigma: np.ndarray, Qt: np.ndarray, shape: tuple[int, int]) -> list:
        """u_r = sqrt(sigma_r) p_r, v_r = sqrt(sigma_r) q_r: 1/2 sum_r (|u_r|^2 + |v_r|^2) = |Z|_*."""
        root = np.sqrt(sigma)
        return [(P[:, r] * root[r], Qt[r] * root[r]) for r in range(sigma.size)]

    def max_rank(self, shape: tuple[int, int]) -> int:
        return min(shape)

    def cvxpy(self, Z: cp.Expression) -> cp.Expression:
        import cvxpy as cp
        return cp.normNuc(Z)


@dataclass(frozen=True)
class Frobenius:
    """R(Z) = |Z|_F (group lasso: one component, vec Z / |Z|_F with weight |Z|_F); R° is |.|_F too."""

    name: str = "frobenius"
    needs_sdp: bool = False

    def value(self, Z: np.ndarray) -> float:
        return float(np.linalg.norm(Z))

    def dual(self, M: np.ndarray) -> float:
        return float(np.linalg.norm(M))

    def prox(self, X: np.ndarray, t: float) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        """Block soft-thresholding X max(0, 1 - t / |X|_F) of every matrix of X; data (X, |X|_F)."""
        size = np.linalg.norm(X.reshape(X.shape[0], -1), axis=1)
        factor = np.maximum(0.0, 1.0 - t / np.where(size > 0, size, 1.0)) * (size > 0)
        return X * factor[:, None, None], (X, size)

    def jacobian_gram(self, stack: Stack, data: tuple, t: float) -> np.ndarray:
        """J = (1 - t/|x|) I + t x x^T / |x|^3 where |x| > t, else 0 (x = vec X): with the Grams A_p A_p^T and the
        outputs A_p(X_p), sum_p (1 - t/|x_p|) A_p A_p^T + t/|x_p|^3 A_p(X_p) A_p(X_p)^T."""
        X, size = data
        active = size > t
        if not active.any():
            return np.zeros((stack.outputs, stack.outputs))
        scale = np.where(active, t / np.where(active, size, 1.0), 0.0)
        outputs = stack.outputs_of(X) / np.where(active, size, 1.0)[:, None]  # A_p(X_p / |X_p|)
        return (stack.gram_sum(np.where(active, 1.0 - scale, 0.0))
                + stack.combine(outputs[:, :, None], scale[:, None, None]))

    def jacobian_apply(self, H: np.ndarray, data: tuple, t: float) -> np.ndarray:
        """J_p[H_p] for stacks H (P, rows, cols) (:meth:`jacobian_gram`)."""
        X, size = data
        active = size > t
        safe = np.where(active, size, 1.0)
        x = X / safe[:, None, None]
        along = np.einsum("pij,pij->p", x, H)
        result = (1.0 - t / safe)[:, None, None] * H + (t / safe * along)[:, None, None] * x
        return result * active[:, None, None]

    def components(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        size = float(np.linalg.norm(Z))
        return Z.reshape(-1, 1) / (size or 1.0), np.array([size]), np.ones((1, 1))

    def pairs(self, P: np.ndarray, sigma: np.ndarray, Qt: np.ndarray, shape: tuple[int, int]) -> list:
        """One pair (matrix G = Z / sqrt|Z|_F, scalar gain sqrt|Z|_F) when the block is not zero."""
        return [(P[:, 0].reshape(shape) * np.sqrt(sigma[0]), np.array(np.sqrt(sigma[0])))] if sigma.size else []

    def max_rank(self, shape: tuple[int, int]) -> int:
        return 1

    def cvxpy(self, Z: cp.Expression) -> cp.Expression:
        import cvxpy as cp
        return cp.norm(Z, "fro")


NUCLEAR = Nuclear()
FROBENIUS = Frobenius()
Regulariser = Nuclear | Frobenius
