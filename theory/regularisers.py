"""The regularisers R of program (C) (docs/theory.md §2): one object per norm, with everything a solver needs.

Weight decay beta/2 sum_j (|u_j|^2 + |v_j|^2) on the factors of Z_p = sum_j u_j v_j^T becomes beta R(Z_p) (lemma
L1), with R the nuclear norm |.|_* when u_j, v_j are vectors (every registered theorem), or the Frobenius norm
|.|_F (a group lasso) when Z_p = G g is a matrix G times a scalar gain g.  A regulariser gives:

- ``value(Z)`` = R(Z) and ``dual(M)`` = R°(M), the dual norm of the constraint R°(A_p^T V) <= beta of (D);
- ``prox(X, t)``: the prox of t R on a stack X (P, rows, cols), with the data its Jacobian needs (SSNAL);
- ``jacobian_gram(H, data, t)``: sum_p <H_pl, J_p[H_pk]>, the Jacobian of the prox in the Newton matrix of SSNAL;
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

import cvxpy as cp
import numpy as np


def _weighted_gram(T: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sum_p <T_pl, weights_p o T_pk> for T (P, n, ...) and nonnegative weights broadcasting against T[:, 0]."""
    Tw = (T * np.sqrt(weights)).reshape(T.shape[0], T.shape[1], -1)
    return (Tw @ Tw.transpose(0, 2, 1)).sum(axis=0)


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

    def jacobian_gram(self, H: np.ndarray, data: tuple, t: float) -> np.ndarray:
        """For tall X = U diag(s) W^T, f(s) = max(s - t, 0) and H1 = U^T H W with symmetric/skew parts S, K:

            <H', J[H]> = <S', G1 o S> + <K', G2 o K> + <U_perp^T H' W, U_perp^T H W diag(g3)>,
            G1_ij = (f_i - f_j) / (s_i - s_j) (f'(s_i) at equal values),  G2_ij = (f_i + f_j) / (s_i + s_j),
            g3_j = f_j / s_j   (the divided differences of Ding, Sun & Toh).
        """
        U, s, Wt = data
        f = np.maximum(s - t, 0.0)
        diff = s[:, :, None] - s[:, None, :]
        same = np.abs(diff) <= 1e-14 * np.maximum(s[:, :1, None], 1e-300)
        G1 = np.where(same, (f > 0)[:, :, None] * 1.0, (f[:, :, None] - f[:, None, :]) / np.where(same, 1.0, diff))
        total = s[:, :, None] + s[:, None, :]
        G2 = np.where(total > 0, (f[:, :, None] + f[:, None, :]) / np.where(total > 0, total, 1.0), 0.0)
        g3 = np.where(s > 0, f / np.where(s > 0, s, 1.0), 0.0)[:, None, None, :]
        HW = H @ Wt.transpose(0, 2, 1)[:, None]  # (P, n, rows, k)
        H1 = U.transpose(0, 2, 1)[:, None] @ HW  # (P, n, k, k)
        S, K = 0.5 * (H1 + H1.transpose(0, 1, 3, 2)), 0.5 * (H1 - H1.transpose(0, 1, 3, 2))
        return (_weighted_gram(S, G1[:, None]) + _weighted_gram(K, G2[:, None])
                + _weighted_gram(HW, g3) - _weighted_gram(H1, g3))

    def components(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.linalg.svd(Z, full_matrices=False)

    def pairs(self, P: np.ndarray, sigma: np.ndarray, Qt: np.ndarray, shape: tuple[int, int]) -> list:
        """u_r = sqrt(sigma_r) p_r, v_r = sqrt(sigma_r) q_r: 1/2 sum_r (|u_r|^2 + |v_r|^2) = |Z|_*."""
        root = np.sqrt(sigma)
        return [(P[:, r] * root[r], Qt[r] * root[r]) for r in range(sigma.size)]

    def max_rank(self, shape: tuple[int, int]) -> int:
        return min(shape)

    def cvxpy(self, Z: cp.Expression) -> cp.Expression:
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

    def jacobian_gram(self, H: np.ndarray, data: tuple, t: float) -> np.ndarray:
        """J = (1 - t/|x|) I + t x x^T / |x|^3 where |x| > t, else 0 (x = vec X)."""
        X, size = data
        P, n = H.shape[:2]
        active = size > t
        Hf = H.reshape(P, n, -1)[active]
        x = X.reshape(P, -1)[active] / size[active, None]
        Hx = np.einsum("pni,pi->pn", Hf, x)
        scale = t / size[active]
        Hs = Hf * np.sqrt(1.0 - scale)[:, None, None]
        return (Hs @ Hs.transpose(0, 2, 1)).sum(axis=0) + (Hx.T * scale) @ Hx

    def components(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        size = float(np.linalg.norm(Z))
        return Z.reshape(-1, 1) / (size or 1.0), np.array([size]), np.ones((1, 1))

    def pairs(self, P: np.ndarray, sigma: np.ndarray, Qt: np.ndarray, shape: tuple[int, int]) -> list:
        """One pair (matrix G = Z / sqrt|Z|_F, scalar gain sqrt|Z|_F) when the block is not zero."""
        return [(P[:, 0].reshape(shape) * np.sqrt(sigma[0]), np.array(np.sqrt(sigma[0])))] if sigma.size else []

    def max_rank(self, shape: tuple[int, int]) -> int:
        return 1

    def cvxpy(self, Z: cp.Expression) -> cp.Expression:
        return cp.norm(Z, "fro")


NUCLEAR = Nuclear()
FROBENIUS = Frobenius()
Regulariser = Nuclear | Frobenius
