"""`convex-attention`: the convex attention alternative of [E22] (Ergen, Neyshabur, Mehta), docs/theory.md §8.

The attention map is a trainable, input-independent row-stochastic matrix instead of softmax(X W_Q W_K^T X^T)
([E22] eq. (4)).  We take the case in which docs/theory.md §8 states the equivalence as exact: every query row t has its
own heads, k = 1..m, each with an attention row a_tk in the simplex Delta_s (no weight decay on it, [E22]) and a
value/output map of head dimension one, v_tk in R^d, w_tk in R^c (weight decay beta/2 (|v|^2 + |w|^2)):

    f(X)[t, :] = sum_k (a_tk^T X) v_tk w_tk^T = sum_t' x_t'^T Z_tt',   Z_tt' = sum_k a_tk[t'] v_tk w_tk^T in R^{d x c}.

Lower bound sum_t' |Z_tt'|_* <= sum_k |v_tk| |w_tk| <= 1/2 sum_k (|v_tk|^2 + |w_tk|^2), attained by one-hot rows
a = e_t' and the SVD factors of Z_tt' (lemma L1), so training is equivalent to

    min_{Z_tt'}  1/2 sum_i sum_t | sum_t' x_{i,t'}^T Z_tt' - y_{i,t} |^2 + beta sum_{t,t'} |Z_tt'|_*     (C-E22)

a group lasso over (query, key) token pairs whose groups are d x c matrices in nuclear norm: the optimum attends
to few key tokens (**sparsity across tokens**).  A single output row (a CLS or pooled target) is the case s_out = 1
of the same program with one query row; with one value map shared by all rows the program would only be a
relaxation (docs/theory.md §8, caveat), which this module does not claim.

Simplex rows are parametrised as a = b^2 / |b|^2 (b in R^s, entrywise square): smooth for b != 0, and it reaches
the one-hot rows of the optimum exactly (b = e_t'), which a softmax reaches only in the limit.  b carries no
weight decay (decay_mask).  Zero gap needs m >= m* = max_t sum_t' rank(Z_tt'*) heads per query row;
m* <= s min(d, c).  The factorised problem keeps spurious local minima at any width, so the restarts start with
rows near the vertices (init_near_vertices, ROW_SPREAD), s (min(d, c) + 1) heads per row (vertex_width).
"""

from __future__ import annotations

import numpy as np

from theory.base import Factors
from theory.lifted import Block
from theory.simplex_heads import RowHeads, key_blocks, simplex_rows_vjp, vertex_width


class ConvexAttention(RowHeads):
    name = "convex-attention"
    paper = ("ours, generalising [E22] (arXiv:2211.11052v1) §3.2 Theorem 1 to per-query-row heads with c outputs: "
             "with c = 1 each row is convex-attention-scalar (proofs-check errata)")
    equation = "docs/theory.md §8 (C-E22): min_Z l(sum_t' x_t'^T Z_tt') + beta sum_tt' |Z_tt'|_*"
    statement = "row-stochastic attention, per-row value maps <=> group nuclear norm over token pairs (token sparsity)"
    default_shapes = ((6, 4, 3), (6, 4, 2))  # X, Y of the default instance, standard normal
    default_beta = 2.0

    def forward(self, weights: list[np.ndarray]) -> np.ndarray:
        B, V, W = weights
        return np.einsum("itk,tkc->itc", self._head_values(B, V)[1], W)

    def backward(self, weights: list[np.ndarray], dF: np.ndarray) -> list[np.ndarray]:
        B, V, W = weights
        projected, values = self._head_values(B, V)
        A = self.attention_rows(B)
        dW = np.einsum("itk,itc->tkc", values, dF)
        dvalues = np.einsum("itc,tkc->itk", dF, W)
        dV = np.einsum("itk,tku,iua->tka", dvalues, A, self.X)
        dA = np.einsum("itk,itku->tku", dvalues, projected)
        return [simplex_rows_vjp(B, dA), dV, dW]

    def build_blocks(self) -> tuple[Block, ...]:
        """Block (t, t') maps Z_tt' to output row t: A[(i, t, e), (a, e')] = x_{i,t'}[a] 1[e = e']."""
        return key_blocks(self.X, self.dims["c"])

    def lift_weights(self, weights: list[np.ndarray]) -> list[np.ndarray]:
        B, V, W = weights
        Z = np.einsum("tku,tka,tkc->tuac", self.attention_rows(B), V, W)  # Z[t, t'] = sum_k a_tk[t'] v w^T
        return list(Z.reshape((-1,) + Z.shape[2:]))

    def weights_from_factors(self, factors: Factors, m: int) -> list[np.ndarray]:
        """Head per (t', singular pair) of block (t, t'): one-hot row e_t', v = sqrt(sigma) p, w = sqrt(sigma) q.
        Unused heads get v = w = 0 and a uniform row (b = 1)."""
        B, V, W = (np.zeros(shape) for shape in self.param_shapes(m))
        B[:] = 1.0
        s = self.dims["s"]
        for t in range(s):
            heads = [(key, u, v) for key in range(s) for u, v in factors[t * s + key]]
            for k, (key, u, v) in enumerate(heads):
                B[t, k] = np.eye(s)[key]
                V[t, k], W[t, k] = u, v
        return [B, V, W]

    def heads_needed(self, factors: Factors) -> int:
        """Heads per query row: max_t sum_t' rank(Z_tt')."""
        s = self.dims["s"]
        return max(sum(len(factors[t * s + key]) for key in range(s)) for t in range(s))

    def block_shapes(self) -> list[tuple[int, int]]:
        """One d x c block per (query, key) pair."""
        return [(self.dims["d"], self.dims["c"])] * self.dims["s"] ** 2

    def heads_for_zero_gap(self) -> int:
        """The restarts' width per query row (vertex_width)."""
        return vertex_width(self.dims)

    def report_fields(self, blocks: list[np.ndarray], factors: Factors) -> dict[str, object]:
        """``active_tokens``: key positions t' attended by some query (Z_tt' != 0); ``active_pairs``: the
        (query, key) pairs with Z_tt' != 0, with their ranks."""
        s = self.dims["s"]
        pairs = [{"query": p // s, "key": p % s, "rank": len(f)} for p, f in enumerate(factors) if f]
        return {"active_tokens": sorted({pair["key"] for pair in pairs}), "active_pairs": pairs}
