"""`relu-attention`: ReLU self-attention and the lower bound of its gated relaxation, [S22] abstract (docs/theory.md §4; the relaxation is ours).

Primal (ReLU in place of softmax), m heads W1_j in R^{d x d}, W2_j in R^{d x c}:
    f(X) = sum_j relu(X W1_j X^T) X W2_j,   p* = min 1/2 sum_i |f(X_i) - Y_i|_F^2 + beta/2 sum_j (|W1_j|^2 + |W2_j|^2).
A head whose logits have pattern D_p (an open cell of the arrangement of the vectors vec(x_t x_u^T),
theory.arrangements) computes (D_p o (X W1 X^T)) X W2, the gated head of `gated-relu-attention` with mask D_p.
So every ReLU network is a point of the gated program over ALL realisable patterns p = 1..P,
    C* = min_{Z_p}  l(sum_p A_p(Z_p)) + beta sum_p |Z_p|_*,                                          (docs/theory.md §4)
(theory.pattern_relaxation) without the cone constraints W1 in K_p of the exact program (cone-constrained nuclear
norm, not tractable for vector outputs).  Hence C* <= p*: a LOWER bound, which is what this theorem claims (``exact = False``).  It is
attained when the heads recovered from Z* (SVD per block, as in `linear-attention`) lie in their patterns' cones,
i.e. sign(X_i W1 X_i^T) = D_p on the data: then the recovered ReLU network computes A(Z*) and has objective C*.
The harness reports that tightness (the recovered ReLU objective against C*, the fraction of heads in their cones)
and the best restart's gap as measured observations, never as a claimed zero gap.

The patterns are enumerated exactly (theory.arrangements.enumerate_patterns), so this theorem is for tiny instances
(the default has N = 3, s = 2, d = 2: 12 logits, 390 patterns); larger ones are refused with the cell bound.
Recovery chooses, per SVD pair (u, v), the sign of (u, v) -> (-u, -v) (same Z_p) whose W1 agrees with more of
D_p's signs.  A recovered head outside its cone is kept as it is: its objective then shows the gap.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from theory.arrangements import enumerate_patterns, logit_vectors, patterns_of
from theory.base import Theorem
from theory.gates import masked_grams
from theory.lifted import Block
from theory.attention_heads import attention_block, heads_from_pairs, lift_heads
from theory.pattern_relaxation import PatternRelaxation
from theory.relu_exact import ExactProgram


class ReLUAttention(ExactProgram, PatternRelaxation, Theorem):
    name = "relu-attention"
    paper = "[S22] (abstract: non-linear dot-product self-attention); the relaxation derived here (a lower bound)"
    equation = "docs/theory.md §4: gated program over all realisable patterns, a lower bound on the ReLU optimum"
    statement = "ReLU self-attention >= block nuclear-norm relaxation over all logit patterns (tight if heads in cones)"
    pattern_kind = "logit"
    bounded = "ReLU"
    weight_axes = {"W1": ("m", "d", "d"), "W2": ("m", "d", "c")}
    matrix_free = True

    exact_program = "docs/theory.md §4.4: heads as atoms on the sphere, the exact dual norm by the faces of the arrangement"
    exact_fits = "N 4, s 2, d 2 or N 2, s 3, d 2 or N 1, s 3, d 3"
    default_shapes = ((3, 2, 2), (3, 2, 1))  # X, Y of the default instance, standard normal
    default_beta = 0.1

    @cached_property
    def patterns(self) -> np.ndarray:
        """Every realisable pattern, shape (P, N s s) (True where the logit is >= 0)."""
        return enumerate_patterns(self.X)

    def _activations(self, W1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logits X_i W1_j X_i^T and their ReLU, shape (N, m, s, s) each."""
        logits = np.einsum("ita,jab,iub->ijtu", self.X, W1, self.X, optimize=True)
        return logits, np.maximum(logits, 0.0)

    def forward(self, weights: list[np.ndarray]) -> np.ndarray:
        W1, W2 = weights
        return np.einsum("ijtu,iua,jac->itc", self._activations(W1)[1], self.X, W2, optimize=True)

    def backward(self, weights: list[np.ndarray], dF: np.ndarray) -> list[np.ndarray]:
        """ReLU derivative 1[logit > 0] (0 at the kink, a valid subgradient)."""
        W1, W2 = weights
        logits, active = self._activations(W1)
        dW2 = np.einsum("ijtu,iua,itc->jac", active, self.X, dF, optimize=True)
        dlogits = np.einsum("itc,jac,iua->ijtu", dF, W2, self.X, optimize=True) * (logits > 0)
        return [np.einsum("ita,ijtu,iub->jab", self.X, dlogits, self.X, optimize=True), dW2]

    def build_blocks(self) -> tuple[Block, ...]:
        c = self.dims["c"]
        return tuple(attention_block(self.X, grams, c, label=f"pattern {p}")
                     for p, grams in enumerate(masked_grams(self.X, self.masks)))

    def unit_patterns(self, W1: np.ndarray) -> np.ndarray:
        return patterns_of(self.X, W1)

    def lift_units(self, W1: np.ndarray, W2: np.ndarray) -> np.ndarray:
        """Z_p = sum_j vec_c(W1_j) vec_r(W2_j)^T over the heads of pattern p."""
        return lift_heads(W1, W2)

    def unit_of(self, u: np.ndarray) -> np.ndarray:
        d = self.dims["d"]
        return u.reshape(d, d).T  # u = vec_c(W1)

    def units_from_pairs(self, pairs: list[tuple[np.ndarray, np.ndarray]], m: int) -> list[np.ndarray]:
        return list(heads_from_pairs(pairs, m, self.dims["d"], self.dims["c"]))

    def unit_block_shape(self) -> tuple[int, int]:
        d, c = self.dims["d"], self.dims["c"]
        return (d * d, d * c)

    def unit_shape(self) -> tuple[int, int]:
        return (self.dims["d"], self.dims["d"])

    def oracle_normals(self) -> np.ndarray:
        """The logit vectors a_{itt'} = vec_r(x_{i,t} x_{i,t'}^T) (theory.arrangements)."""
        return logit_vectors(self.X)

    def oracle_responses(self, G: np.ndarray) -> np.ndarray:
        """b_j = vec_r(x_{i,t'} G_{i,t}^T) for j = (i, t, t'), G the output direction (N, s, c)."""
        N, s, d = self.X.shape
        G = np.asarray(G, dtype=float).reshape(N, s, -1)
        return np.einsum("iua,itc->ituac", self.X, G).reshape(N * s * s, -1)

    def gated_block(self, mask: np.ndarray) -> Block:
        N, s = self.dims["N"], self.dims["s"]
        return attention_block(self.X, masked_grams(self.X, mask.reshape(1, N, s, s))[0], self.dims["c"])

    def lifted_rows(self, Q: np.ndarray) -> np.ndarray:
        """vec_c of each basis matrix (the lifting of attention is in vec_c(W1))."""
        d = self.dims["d"]
        return np.swapaxes(Q.T.reshape(-1, d, d), 1, 2).reshape(-1, d * d).T
