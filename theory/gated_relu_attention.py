"""`gated-relu-attention`: gated-ReLU self-attention, [S22] abstract (docs/theory.md §4.1; the gated model is ours).

Gates.  P fixed gate matrices H_p in R^{d x d} (drawn, never trained) define the masks of every sample,
    D_p^{(i)} = 1[X_i H_p X_i^T >= 0]  in {0, 1}^{s x s},
and the per-query Gram matrices G_{p,t}^{(i)} = X_i^T diag(D_p^{(i)}[t, :]) X_i.
Primal: m heads on every gate (P m heads in all), W1_pj in R^{d x d}, W2_pj in R^{d x c},
    f(X_i)[t, :] = sum_p sum_j ((D_p^{(i)} o (X_i W1_pj X_i^T)) X_i W2_pj)[t, :] = sum_p sum_j x_t^T W1_pj G_{p,t} W2_pj,
    p* = min 1/2 sum_i |f(X_i) - Y_i|_F^2 + beta/2 sum_{p,j} (|W1_pj|_F^2 + |W2_pj|_F^2).
Convex program (block nuclear norm), with Z_p = sum_j vec_c(W1_pj) vec_r(W2_pj)^T in R^{d^2 x dc}:
    min_{Z_1..Z_P}  1/2 sum_i | [sum_p sum_{k,l} G_{p,t}^{(i)}[k, l] x_{i,t}^T Z_{p,kl}]_t - Y_i |_F^2 + beta sum_p |Z_p|_*.
Zero gap when every gate has m >= rank(Z_p*) heads (so m* = max_p rank(Z_p*) heads per gate here, and
min(d^2, dc) + 1 per gate makes every local minimum global); recovery per block by SVD as in `linear-attention`,
head (p, r) keeping gate H_p.  Linear attention is the case P = 1 with an all-ones mask.

Gates come from the data file (array ``H`` of shape (P, d, d), so a published instance is reproduced exactly) or
are drawn standard normal from the seed (theory.gates: they depend on the seed and d only, not on the data, so a
test set sees the same gates).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from theory.base import Factors, Theorem
from theory.lifted import Block
from theory.attention_heads import attention_block, heads_from_pairs, lift_heads
from theory.gates import Gated, logit_masks, masked_grams

class GatedReLUAttention(Gated, Theorem):
    name = "gated-relu-attention"
    paper = "[S22] (abstract: non-linear self-attention); the gated-ReLU model and its program derived here"
    equation = "docs/theory.md §4: min_Z l(sum_p sum_kl G_pt[k,l] x_t^T Z_p,kl) + beta sum_p |Z_p|_*"
    statement = "gated-ReLU self-attention with weight decay <=> block nuclear-norm program, one block per gate"

    gate_axis = 2
    weight_axes = {"W1": ("P", "m", "d", "d"), "W2": ("P", "m", "d", "c")}
    matrix_free = True

    default_shapes = ((6, 4, 3), (6, 4, 2))  # X, Y of the default instance, standard normal
    default_beta = 0.1

    @cached_property
    def masks(self) -> np.ndarray:
        """D_p^{(i)}, shape (P, N, s, s)."""
        return logit_masks(self.X, self.H)

    @cached_property
    def grams(self) -> np.ndarray:
        """G_{p,t}^{(i)}, shape (P, N, s, d, d)."""
        return masked_grams(self.X, self.masks)

    def _query_grams(self, W1: np.ndarray) -> np.ndarray:
        """x_{i,t}^T W1_pj G_{p,t}^{(i)}, shape (P, m, N, s, d)."""
        queries = np.einsum("ita,pjab->pjitb", self.X, W1)
        return np.einsum("pjitb,pitbk->pjitk", queries, self.grams, optimize=True)

    def forward(self, weights: list[np.ndarray]) -> np.ndarray:
        W1, W2 = weights
        return np.einsum("pjitk,pjkc->itc", self._query_grams(W1), W2, optimize=True)

    def backward(self, weights: list[np.ndarray], dF: np.ndarray) -> list[np.ndarray]:
        W1, W2 = weights
        dW2 = np.einsum("pjitk,itc->pjkc", self._query_grams(W1), dF, optimize=True)
        back = np.einsum("itc,pjkc,pitbk->pjitb", dF, W2, self.grams, optimize=True)  # G symmetric
        return [np.einsum("ita,pjitb->pjab", self.X, back, optimize=True), dW2]

    def build_blocks(self) -> tuple[Block, ...]:
        c = self.dims["c"]
        return tuple(attention_block(self.X, grams, c, label=f"gate {p}") for p, grams in enumerate(self.grams))

    def lift_weights(self, weights: list[np.ndarray]) -> list[np.ndarray]:
        return [lift_heads(W1, W2) for W1, W2 in zip(*weights)]

    def weights_from_factors(self, factors: Factors, m: int) -> list[np.ndarray]:
        d, c = self.dims["d"], self.dims["c"]
        heads = [heads_from_pairs(pairs, m, d, c) for pairs in factors]
        return [np.stack([W1 for W1, _ in heads]), np.stack([W2 for _, W2 in heads])]

    def block_shapes(self) -> list[tuple[int, int]]:
        d, c = self.dims["d"], self.dims["c"]
        return [(d * d, d * c)] * len(self.H)

    def report_fields(self, blocks: list[np.ndarray], factors: Factors) -> dict[str, object]:
        """``patterns``: the number of gates P (one mask pattern each) and how many distinct masks they give on the
        data; ``blocks``: per non-zero block its gate (pattern) index and rank."""
        distinct = len({mask.tobytes() for mask in self.masks.astype(bool)})
        return {**super().report_fields(blocks, factors), "distinct_patterns": distinct}

    def head_masks(self, sample: int, heads: int) -> np.ndarray:
        """The masks of ``heads`` heads numbered gate-major (p, j) -> p m + j, for one sample: (heads, s, s)."""
        return np.repeat(self.masks[:, sample], heads // len(self.H), axis=0)
