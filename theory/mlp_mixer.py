"""`mlp-mixer`: linear token mixing + channel mixing, [S22] abstract (docs/theory.md §5; the model is ours).

Primal, m mixing units, token mixing W1_j in R^{s x s} and channel mixing W2_j in R^{d x c}:
    f(X) = sum_j (W1_j X) W2_j,    weight decay beta/2 sum_j (|W1_j|_F^2 + |W2_j|_F^2).
Lifting, Z = sum_j vec_r(W1_j) vec_r(W2_j)^T in R^{s^2 x dc} (row t s + t', column a c + e):
    f(X)[t, e] = sum_{t', a} X[t', a] Z[t s + t', a c + e],   i.e. f(X)[t, :] = sum_t' x_t'^T Z_tt'.
Convex program: min_Z 1/2 sum_i |f_Z(X_i) - Y_i|_F^2 + beta |Z|_*, m* = rank(Z*) <= min(s^2, dc).  Recovery:
W1_r = sqrt(sigma_r) p_r.reshape(s, s), W2_r = sqrt(sigma_r) q_r.reshape(d, c).  Low rank of Z couples the token
mixing and channel mixing matrices ("low rank in the token dimension"); unlike attention the token mixing does not
depend on the input (docs/theory.md §5, the inductive-bias contrast that `proofs-check compare` measures).
"""

from __future__ import annotations

import numpy as np

from theory.base import Factors, Theorem
from theory.lifted import Block
from theory.mixer_units import lift_units, units_from_pairs


class MLPMixer(Theorem):
    name = "mlp-mixer"
    paper = "[S22] (abstract: MLP-Mixer token mixing); the linear mixer and its program derived here"
    equation = "docs/theory.md §5: min_Z l(sum_t' x_t'^T Z_tt') + beta |Z|_*, Z in R^{s^2 x dc}"
    statement = "linear MLP-Mixer (token x channel mixing) with weight decay <=> nuclear-norm program on R^{s^2 x dc}"
    weight_axes = {"W1": ("m", "s", "s"), "W2": ("m", "d", "c")}

    default_shapes = ((6, 4, 3), (6, 4, 2))  # X, Y of the default instance, standard normal
    default_beta = 0.1

    def forward(self, weights: list[np.ndarray]) -> np.ndarray:
        W1, W2 = weights
        return np.einsum("jtu,iua,jac->itc", W1, self.X, W2, optimize=True)

    def backward(self, weights: list[np.ndarray], dF: np.ndarray) -> list[np.ndarray]:
        W1, W2 = weights
        return [np.einsum("iua,jac,itc->jtu", self.X, W2, dF, optimize=True),
                np.einsum("jtu,iua,itc->jac", W1, self.X, dF, optimize=True)]

    def build_blocks(self) -> tuple[Block, ...]:
        """A[(i, t, e), (t s + t', a c + e')] = X[i, t', a] 1[e = e']."""
        N, s, d = self.X.shape
        c = self.dims["c"]
        A = np.einsum("tq,iua,ef->itequaf", np.eye(s), self.X, np.eye(c), optimize=True)
        return (Block(A.reshape(N * s * c, s * s * d * c), (s * s, d * c)),)

    def lift_weights(self, weights: list[np.ndarray]) -> list[np.ndarray]:
        return [lift_units(*weights)]

    def weights_from_factors(self, factors: Factors, m: int) -> list[np.ndarray]:
        return list(units_from_pairs(factors[0], m, self.dims["s"], self.dims["d"], self.dims["c"]))

    def block_shapes(self) -> list[tuple[int, int]]:
        s, d, c = self.dims["s"], self.dims["d"], self.dims["c"]
        return [(s * s, d * c)]
