"""`linear-attention`: linear (no-softmax) self-attention, [S22] abstract (docs/theory.md §3; the model is ours).

Primal (query-key product merged into W1_j in R^{d x d}, value-output product into W2_j in R^{d x c}):
    f(X) = sum_{j=1}^m (X W1_j X^T) X W2_j,
    p* = min  1/2 sum_i |f(X_i) - Y_i|_F^2 + beta/2 sum_j (|W1_j|_F^2 + |W2_j|_F^2).
Key identity, with the Gram matrix G_i = X_i^T X_i:
    f(X_i) = sum_{k,l} G_i[k, l] X_i Z_kl,   Z_kl = sum_j W1_j[:, k] W2_j[l, :]  in R^{d x c}.
Stacking block (k, l) at rows k d .. k d + d - 1 and columns l c .. l c + c - 1 gives
Z = sum_j vec_c(W1_j) vec_r(W2_j)^T in R^{d^2 x dc} and the convex program
    p* = min_Z  1/2 sum_i | sum_{k,l} G_i[k, l] X_i Z_kl - Y_i |_F^2 + beta |Z|_*.
Zero gap for m >= m* = rank(Z*) <= min(d^2, dc).  Recovery: head r gets W1_r = sqrt(sigma_r) p_r.reshape(d, d).T
(undoing vec_c) and W2_r = sqrt(sigma_r) q_r.reshape(d, c).  Lifted map as a matrix:
A[(i, t, e), (k d + a, l c + e')] = X_i[t, a] G_i[k, l] 1[e = e'], applied matrix-free (docs/theory.md §9.9).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from theory.base import Factors, Theorem
from theory.lifted import Block
from theory.attention_heads import attention_block, heads_from_pairs, lift_heads


class LinearAttention(Theorem):
    name = "linear-attention"
    matrix_free = True
    paper = "[S22] (abstract: self-attention as a block nuclear-norm program); the linear model derived here"
    equation = "docs/theory.md §3: min_Z l(sum_kl G[k,l] X Z_kl) + beta |Z|_*"
    statement = "linear self-attention with weight decay <=> nuclear-norm program on Z in R^{d^2 x dc}"
    weight_axes = {"W1": ("m", "d", "d"), "W2": ("m", "d", "c")}

    default_shapes = ((6, 4, 3), (6, 4, 2))  # X, Y of the default instance, standard normal
    default_beta = 0.1

    @cached_property
    def gram(self) -> np.ndarray:
        """G_i = X_i^T X_i, shape (N, d, d)."""
        return np.einsum("ita,itb->iab", self.X, self.X)

    def _query_gram(self, W1: np.ndarray) -> np.ndarray:
        """X_i W1_j G_i for every sample i and head j, shape (N, m, s, d)."""
        return np.matmul(np.matmul(self.X[:, None], W1), self.gram[:, None])

    def forward(self, weights: list[np.ndarray]) -> np.ndarray:
        W1, W2 = weights
        return np.matmul(self._query_gram(W1), W2).sum(axis=1)

    def backward(self, weights: list[np.ndarray], dF: np.ndarray) -> list[np.ndarray]:
        W1, W2 = weights
        dW2 = np.einsum("ijtk,itc->jkc", self._query_gram(W1), dF)
        back = np.matmul(np.matmul(dF[:, None], np.swapaxes(W2, 1, 2)), self.gram[:, None])  # dF_i W2_j^T G_i
        return [np.einsum("ita,ijtb->jab", self.X, back), dW2]

    def batch_objective_and_gradient(self, Theta: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised over the leading restart axis of Theta (R, n): the forward/backward above with W1, W2 of
        shape (R, m, ., .), broadcast against X, G of shape (1, N, 1, ., .)."""
        W1, W2 = self.unpack_batch(Theta, m)
        X, gram = self.X[None, :, None], self.gram[None, :, None]
        query_gram = np.matmul(np.matmul(X, W1[:, None]), gram)  # (R, N, m, s, d)

        def backward(dF: np.ndarray) -> list[np.ndarray]:
            back = np.matmul(np.matmul(dF[:, :, None], np.swapaxes(W2, 2, 3)[:, None]), gram)  # (R, N, m, s, d)
            return [np.einsum("ita,ritjb->rjab", self.X, np.swapaxes(back, 2, 3)),
                    np.einsum("rijtk,ritc->rjkc", query_gram, dF)]
        return self.batch_loss(Theta, np.matmul(query_gram, W2[:, None]).sum(axis=2), backward)

    def build_blocks(self) -> tuple[Block, ...]:
        return (attention_block(self.X, self.gram[:, None], self.dims["c"]),)  # every query sees the same Gram G_i

    def lift_weights(self, weights: list[np.ndarray]) -> list[np.ndarray]:
        return [lift_heads(*weights)]

    def weights_from_factors(self, factors: Factors, m: int) -> list[np.ndarray]:
        return list(heads_from_pairs(factors[0], m, self.dims["d"], self.dims["c"]))

    def block_shapes(self) -> list[tuple[int, int]]:
        d, c = self.dims["d"], self.dims["c"]
        return [(d * d, d * c)]
