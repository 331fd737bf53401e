"""`gated-relu-mixer`: the gated-ReLU MLP-Mixer, [S22] abstract (docs/theory.md §5.2; the gated mixer is ours).

Gates H_p in R^{s x s} (fixed, drawn from the seed or read from the data file as ``H`` (P, s, s)) give the masks
D_p(X_i) = 1[H_p X_i >= 0] in {0, 1}^{s x d}.  Primal, m mixing units per gate:
    f(X) = sum_p sum_j (D_p(X) o (W1_pj X)) W2_pj,   weight decay beta/2 sum_{p,j} (|W1_pj|^2 + |W2_pj|^2),
entrywise f[t, e] = sum_p sum_{t', a} D_p[t, a] X[t', a] Z_p[t s + t', a c + e] with
Z_p = sum_j vec_r(W1_pj) vec_r(W2_pj)^T in R^{s^2 x dc} (the lifting of `mlp-mixer`, block by block).
Convex program: the block nuclear norm beta sum_p |Z_p|_*; zero gap with m >= max_p rank(Z_p*) units per gate,
recovery per block as in `mlp-mixer`.  Unlike gated attention, the masks gate (token, channel) entries of the
mixed tokens, and the token mixing itself stays input-independent.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from theory.base import Factors, Theorem
from theory.gates import Gated
from theory.lifted import Block
from theory.mixer_units import lift_units, masked_mixer_block, units_from_pairs


class GatedReLUMixer(Gated, Theorem):
    name = "gated-relu-mixer"
    paper = "[S22] (abstract: MLP-Mixer token mixing); the gated-ReLU mixer and its program derived here"
    equation = "docs/theory.md §5: min_Z l(sum_p sum_t'a D_p[t,a] X[t',a] Z_p[(t,t'),(a,:)]) + beta sum_p |Z_p|_*"
    statement = "gated-ReLU MLP-Mixer with weight decay <=> block nuclear-norm program, one block per gate"

    gate_axis = 1
    weight_axes = {"W1": ("P", "m", "s", "s"), "W2": ("P", "m", "d", "c")}

    @cached_property
    def masks(self) -> np.ndarray:
        """D_p(X_i)[t, a] = 1[(H_p X_i)[t, a] >= 0], shape (P, N, s, d)."""
        return (np.einsum("ptu,iua->pita", self.H, self.X) >= 0).astype(float)

    def forward(self, weights: list[np.ndarray]) -> np.ndarray:
        W1, W2 = weights
        mixed = np.einsum("pjtu,iua->pjita", W1, self.X, optimize=True)
        return np.einsum("pita,pjita,pjac->itc", self.masks, mixed, W2, optimize=True)

    def backward(self, weights: list[np.ndarray], dF: np.ndarray) -> list[np.ndarray]:
        W1, W2 = weights
        mixed = np.einsum("pjtu,iua->pjita", W1, self.X, optimize=True)
        dW2 = np.einsum("pita,pjita,itc->pjac", self.masks, mixed, dF, optimize=True)
        dmixed = np.einsum("itc,pjac,pita->pjita", dF, W2, self.masks, optimize=True)
        return [np.einsum("pjita,iua->pjtu", dmixed, self.X, optimize=True), dW2]

    default_shapes = ((6, 4, 3), (6, 4, 2))  # X, Y of the default instance, standard normal
    default_beta = 0.1

    def block_shapes(self) -> list[tuple[int, int]]:
        s, d, c = self.dims["s"], self.dims["d"], self.dims["c"]
        return [(s * s, d * c)] * len(self.H)

    def build_blocks(self) -> tuple[Block, ...]:
        """A_p[(i, t, e), (t s + t', a c + e')] = D_p[i, t, a] X[i, t', a] 1[e = e']."""
        return tuple(masked_mixer_block(self.X, mask, self.dims["c"], label=f"gate {p}")
                     for p, mask in enumerate(self.masks))

    def lift_weights(self, weights: list[np.ndarray]) -> list[np.ndarray]:
        return [lift_units(W1, W2) for W1, W2 in zip(*weights)]

    def weights_from_factors(self, factors: Factors, m: int) -> list[np.ndarray]:
        s, d, c = self.dims["s"], self.dims["d"], self.dims["c"]
        units = [units_from_pairs(pairs, m, s, d, c) for pairs in factors]
        return [np.stack([W1 for W1, _ in units]), np.stack([W2 for _, W2 in units])]
