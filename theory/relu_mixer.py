"""`relu-mixer`: the MLP-Mixer's token mixing with a ReLU, and the lower bound of its gated relaxation (docs/theory.md
§5.3; the model after [S22]'s abstract, the relaxation derived here as for `relu-attention`).

Primal, m mixing units, token mixing W1_j in R^{s x s} and channel mixing W2_j in R^{d x c}, all decayed:
    f(X) = sum_j relu(W1_j X) W2_j,    f(X)[t, e] = sum_j sum_a relu((W1_j X)[t, a]) W2_j[a, e].
The pre-activation (W1 X_i)[t, a] = <w_t, X_i[:, a]> of row t of W1 has the sign of w_t against the N d columns
X_i[:, a] in R^s, so the pattern of W1 is the product of one cell per row (theory.arrangements.mixing_patterns):
P = R^s patterns for R cells of the columns' arrangement.  A unit of pattern D_p computes
(D_p o (W1 X)) W2, the unit of `gated-relu-mixer` with mask D_p, so every ReLU mixer is a point of the gated
program over all P patterns (theory.pattern_relaxation):

    C* = min_{Z_p} l(sum_p A_p(Z_p)) + beta sum_p |Z_p|_*  <=  p*,     Z_p in R^{s^2 x dc} (the layout of §5.1),

a LOWER bound (``exact = False``), attained when the units recovered from Z* lie in their patterns' cones.  Its exact
program (theory.relu_exact, as for `relu-attention`) treats the units u = vec_r(W1) / |W1| as atoms on the unit sphere
of R^{s^2}: the oracle's normals are a_{(i,t,a)} = e_t (x) X_i[:, a] (the pre-activations a^T u) and its responses
b_{(i,t,a)}(G) = vec_r(e_a G_{i,t}^T).  The patterns are enumerated exactly, so this theorem is for tiny
instances (the default, N = 3, s = 2, d = 2, has 12 cells per row and 144 patterns); larger ones are refused with
the count.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from theory.arrangements import mixing_patterns, mixing_patterns_of
from theory.base import Theorem
from theory.lifted import Block
from theory.mixer_units import lift_units, masked_mixer_block, units_from_pairs
from theory.pattern_relaxation import PatternRelaxation
from theory.relu_exact import ExactProgram


class ReLUMixer(ExactProgram, PatternRelaxation, Theorem):
    name = "relu-mixer"
    paper = "[S22] (abstract: MLP-Mixer token mixing); the ReLU mixer's relaxation derived here (a lower bound)"
    equation = "docs/theory.md §5.3: gated mixer program over all realisable pre-activation patterns, a lower bound"
    statement = ("ReLU MLP-Mixer >= block nuclear-norm relaxation over all token-mixing patterns "
                 "(tight if units in cones)")
    pattern_kind = "pre-activation"
    bounded = "the ReLU mixer"
    weight_axes = {"W1": ("m", "s", "s"), "W2": ("m", "d", "c")}
    exact_program = "docs/theory.md §5.3: mixing units as atoms on the sphere, the exact dual norm by the faces"
    exact_fits = "N 3, s 2, d 2"

    default_shapes = ((3, 2, 2), (3, 2, 1))  # X, Y of the default instance, standard normal
    default_beta = 0.1

    @cached_property
    def patterns(self) -> np.ndarray:
        """Every realisable pattern of a token mixing W1, shape (P, N s d) over (i, t, a)."""
        return mixing_patterns(self.X)

    def _pre_activations(self, W1: np.ndarray) -> np.ndarray:
        """(W1_j X_i)[t, a], shape (N, m, s, d)."""
        return np.einsum("jtu,iua->ijta", W1, self.X, optimize=True)

    def forward(self, weights: list[np.ndarray]) -> np.ndarray:
        W1, W2 = weights
        return np.einsum("ijta,jac->itc", np.maximum(self._pre_activations(W1), 0.0), W2, optimize=True)

    def backward(self, weights: list[np.ndarray], dF: np.ndarray) -> list[np.ndarray]:
        """ReLU derivative 1[pre-activation > 0] (0 at the kink, a valid subgradient)."""
        W1, W2 = weights
        pre = self._pre_activations(W1)
        dW2 = np.einsum("ijta,itc->jac", np.maximum(pre, 0.0), dF, optimize=True)
        dpre = np.einsum("itc,jac->ijta", dF, W2, optimize=True) * (pre > 0)
        return [np.einsum("ijta,iua->jtu", dpre, self.X, optimize=True), dW2]

    def build_blocks(self) -> tuple[Block, ...]:
        """The blocks of `gated-relu-mixer` with the patterns as masks."""
        return tuple(masked_mixer_block(self.X, mask, self.dims["c"], label=f"pattern {p}")
                     for p, mask in enumerate(self.masks))

    def unit_patterns(self, W1: np.ndarray) -> np.ndarray:
        return mixing_patterns_of(self.X, W1)

    def lift_units(self, W1: np.ndarray, W2: np.ndarray) -> np.ndarray:
        """Z_p = sum_j vec_r(W1_j) vec_r(W2_j)^T over the units of pattern p."""
        return lift_units(W1, W2)

    def unit_of(self, u: np.ndarray) -> np.ndarray:
        s = self.dims["s"]
        return u.reshape(s, s)  # u = vec_r(W1)

    def units_from_pairs(self, pairs: list[tuple[np.ndarray, np.ndarray]], m: int) -> list[np.ndarray]:
        return list(units_from_pairs(pairs, m, self.dims["s"], self.dims["d"], self.dims["c"]))

    def unit_block_shape(self) -> tuple[int, int]:
        s, d, c = self.dims["s"], self.dims["d"], self.dims["c"]
        return (s * s, d * c)

    def unit_shape(self) -> tuple[int, int]:
        return (self.dims["s"], self.dims["s"])

    def oracle_normals(self) -> np.ndarray:
        """a_{(i,t,a)} = e_t (x) X_i[:, a] in R^{s^2}: (W1 X_i)[t, a] = <a_{(i,t,a)}, vec_r(W1)>."""
        N, s, d = self.X.shape
        return np.einsum("tq,iua->itaqu", np.eye(s), self.X).reshape(N * s * d, s * s)

    def oracle_responses(self, G: np.ndarray) -> np.ndarray:
        """b_{(i,t,a)} = vec_r(e_a G_{i,t}^T): the unit writes relu((W1 X_i)[t, a]) W2[a, :] on row t."""
        N, s, d = self.X.shape
        G = np.asarray(G, dtype=float).reshape(N, s, -1)
        return np.einsum("ab,itc->itabc", np.eye(d), G).reshape(N * s * d, -1)

    def gated_block(self, mask: np.ndarray) -> Block:
        return masked_mixer_block(self.X, mask.reshape(self.X.shape), self.dims["c"])

    def lifted_rows(self, Q: np.ndarray) -> np.ndarray:
        """The lifting of the mixer is in vec_r(W1) already."""
        return Q
