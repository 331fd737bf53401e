"""`linear-mlp`: the two-layer linear network, the baseline of lemma L1 (docs/theory.md §2).

Primal (token-wise):   F_i = X_i W1 W2,   W1 in R^{d x m},  W2 in R^{m x c},
    p* = min  1/2 sum_i |X_i W1 W2 - Y_i|_F^2 + beta/2 (|W1|_F^2 + |W2|_F^2).
Convex program:        min_{Z in R^{d x c}}  1/2 sum_i |X_i Z - Y_i|_F^2 + beta |Z|_*.
Zero gap for m >= rank(Z*) <= min(d, c); recovery by the SVD of Z* (head r: column r of W1 = sqrt(sigma_r) p_r,
row r of W2 = sqrt(sigma_r) q_r); dual constraint |sum_i X_i^T V_i|_2 <= beta.
Lifted layout: Z is one block acting by A[(i, t, e), (a, e')] = X_i[t, a] 1[e = e'].
"""

from __future__ import annotations

import numpy as np

from theory.base import Factors, Theorem
from theory.lifted import Block


class LinearMLP(Theorem):
    name = "linear-mlp"
    paper = "standard: Pilanci & Ergen 2020 (lemma L1), the building block of [S22] and [E22]"
    equation = "docs/theory.md §2: min_Z l(XZ) + beta |Z|_*"
    statement = "two-layer linear network with weight decay <=> nuclear-norm regularised linear model"
    weight_axes = {"W1": ("d", "m"), "W2": ("m", "c")}

    default_shapes = ((8, 3, 4), (8, 3, 3))  # X, Y of the default instance, standard normal
    default_beta = 1.0

    def forward(self, weights: list[np.ndarray]) -> np.ndarray:
        W1, W2 = weights
        return self.X @ W1 @ W2

    def backward(self, weights: list[np.ndarray], dF: np.ndarray) -> list[np.ndarray]:
        W1, W2 = weights
        XW1 = self.X @ W1
        return [np.einsum("ita,itc,mc->am", self.X, dF, W2), np.einsum("itm,itc->mc", XW1, dF)]

    def batch_objective_and_gradient(self, Theta: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised over the leading restart axis of Theta (R, n): F_r = X W1_r W2_r."""
        W1, W2 = self.unpack_batch(Theta, m)
        XW1 = np.einsum("ita,ram->ritm", self.X, W1)

        def backward(dF: np.ndarray) -> list[np.ndarray]:
            return [np.einsum("ita,ritc,rmc->ram", self.X, dF, W2), np.einsum("ritm,ritc->rmc", XW1, dF)]
        return self.batch_loss(Theta, np.matmul(XW1, W2[:, None]), backward)

    def build_blocks(self) -> tuple[Block, ...]:
        N, s, d, c = self.X.shape + (self.dims["c"],)
        A = np.einsum("ita,ef->iteaf", self.X, np.eye(c)).reshape(N * s * c, d * c)
        return (Block(A, (d, c), label="Z"),)

    def lift_weights(self, weights: list[np.ndarray]) -> list[np.ndarray]:
        W1, W2 = weights
        return [W1 @ W2]

    def weights_from_factors(self, factors: Factors, m: int) -> list[np.ndarray]:
        W1, W2 = (np.zeros(shape) for shape in self.param_shapes(m))
        for r, (u, v) in enumerate(factors[0]):
            W1[:, r], W2[r] = u, v
        return [W1, W2]

    def block_shapes(self) -> list[tuple[int, int]]:
        return [(self.dims["d"], self.dims["c"])]
