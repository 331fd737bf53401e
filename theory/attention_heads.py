"""The lifting of attention heads (docs/theory.md §3.1, §4): shared by linear, gated-ReLU and ReLU attention.

A head (W1 in R^{d x d}, W2 in R^{d x c}) contributes vec_c(W1) vec_r(W2)^T to the lifted matrix Z in R^{d^2 x dc};
the block of one attention program acts on Z through the per-query Grams (theory.operators.AttentionMap).
"""

from __future__ import annotations

import numpy as np

from theory.lifted import Block
from theory.operators import AttentionMap


def attention_block(X: np.ndarray, query_grams: np.ndarray, c: int, label: str = "") -> Block:
    """The block A of one attention program with per-query Grams G[i, t] (N, s, d, d), or one Gram per sample
    (N, 1, d, d): A[(i, t, e), (k d + a, l c + e')] = X[i, t, a] G[i, t, k, l] 1[e = e'], acting on Z in
    R^{d^2 x dc}, applied matrix-free (theory.operators.AttentionMap, docs/theory.md §9.9)."""
    d = X.shape[2]
    return Block(AttentionMap(X, query_grams, c), (d * d, d * c), label=label)


def lift_heads(W1: np.ndarray, W2: np.ndarray) -> np.ndarray:
    """Z = sum_j vec_c(W1_j) vec_r(W2_j)^T for heads W1 (m, d, d), W2 (m, d, c)."""
    m, d, c = W2.shape
    return np.swapaxes(W1, 1, 2).reshape(m, d * d).T @ W2.reshape(m, d * c)


def heads_from_pairs(pairs: list[tuple[np.ndarray, np.ndarray]], m: int, d: int, c: int) -> tuple[np.ndarray, np.ndarray]:
    """W1 (m, d, d), W2 (m, d, c) of m heads whose lifted matrix is sum_r u_r v_r^T (undoing vec_c, vec_r)."""
    W1, W2 = np.zeros((m, d, d)), np.zeros((m, d, c))
    for r, (u, v) in enumerate(pairs):
        W1[r], W2[r] = u.reshape(d, d).T, v.reshape(d, c)
    return W1, W2
