"""The lifting of token-mixing units (docs/theory.md §5): shared by the linear, the gated-ReLU and the ReLU MLP-Mixer.

A unit (W1 in R^{s x s} token mixing, W2 in R^{d x c} channel mixing) contributes vec_r(W1) vec_r(W2)^T to the
lifted matrix Z in R^{s^2 x dc} (row t s + t', column a c + e).
"""

from __future__ import annotations

import numpy as np

from theory.lifted import Block


def lift_units(W1: np.ndarray, W2: np.ndarray) -> np.ndarray:
    """Z = sum_j vec_r(W1_j) vec_r(W2_j)^T for units W1 (m, s, s), W2 (m, d, c)."""
    m, s, _ = W1.shape
    return W1.reshape(m, s * s).T @ W2.reshape(m, W2.shape[1] * W2.shape[2])


def units_from_pairs(pairs: list[tuple[np.ndarray, np.ndarray]], m: int, s: int, d: int,
                     c: int) -> tuple[np.ndarray, np.ndarray]:
    """W1 (m, s, s), W2 (m, d, c) of m units whose lifted matrix is sum_r u_r v_r^T (undoing vec_r twice)."""
    W1, W2 = np.zeros((m, s, s)), np.zeros((m, d, c))
    for r, (u, v) in enumerate(pairs):
        W1[r], W2[r] = u.reshape(s, s), v.reshape(d, c)
    return W1, W2


def masked_mixer_block(X: np.ndarray, mask: np.ndarray, c: int, label: str = "") -> Block:
    """The block of the mask D (N, s, d) on the mixed tokens: A[(i, t, e), (t s + t', a c + e')] =
    D[i, t, a] X[i, t', a] 1[e = e'] (docs/theory.md §5.2)."""
    N, s, d = X.shape
    A = np.einsum("tq,ita,iua,ef->itequaf", np.eye(s), mask, X, np.eye(c), optimize=True)
    return Block(A.reshape(N * s * c, s * s * d * c), (s * s, d * c), label=label)
