"""Heads whose attention is a trainable row of the simplex, the building block of [E22] (docs/theory.md §8).

Shared by every theorem of the convex-attention family: the parametrisation a = b^2 / |b|^2 of a simplex row
(smooth for b != 0, and it reaches the one-hot rows of an optimum exactly, b = e_t', which a softmax reaches only
in the limit), its vector-Jacobian product, the restarts' initialisation near the vertices of the simplex
(docs/theory.md §8.4: the factorised problem keeps spurious local minima at any width), the lifted blocks of heads
that attend per query row (:func:`key_blocks`), and :class:`RowHeads`, the per-query-row heads that
`convex-attention` and `relu-attention-fc` share.
"""

from __future__ import annotations

import numpy as np

from theory.base import Theorem
from theory.lifted import Block
from theory.operators import DenseMap


def simplex_rows(B: np.ndarray) -> np.ndarray:
    """a = b^2 / |b|^2 along the last axis: rows in the simplex."""
    squares = B * B
    return squares / squares.sum(axis=-1, keepdims=True)


def simplex_rows_vjp(B: np.ndarray, dA: np.ndarray) -> np.ndarray:
    """The gradient with respect to B of <dA, simplex_rows(B)>."""
    # a_u = b_u^2 / S: d a_u / d b_v = 2 b_v (delta_uv - a_u) / S
    return 2 * B * (dA - (dA * simplex_rows(B)).sum(axis=-1, keepdims=True)) / (B * B).sum(axis=-1, keepdims=True)


#: Attention rows start near the vertices of the simplex, b = e_{j mod s} + ROW_SPREAD z (z standard normal), head j
#: of every row (and gate) near key j mod s, because the optimum has one-hot rows; the rows still train.  Measured
#: on convex-attention-fc's default instances (seeds 0-5, beta 0.1, 0.5, 1; 8 restarts each at m = 7): C* reached
#: in 88-100 % of the restarts, against 0-50 % (seeds 0-3) from standard normal b; on convex-attention's default
#: instance at beta = 0.5, 19 of 20 restarts against 1 of 20.
ROW_SPREAD = 0.1


def vertex_width(dims: dict[str, int]) -> int:
    """s (min(d, c) + 1) heads per row: with the rows at the vertices, round robin over the keys
    (init_near_vertices), every d x c block gets min(d, c) + 1 factor pairs, the width at which its factorised
    nuclear norm has no spurious local minimum.  The rows are trained, so this is the width of the restarts, not a
    guarantee.  (Measured: with s min(d, c) + 1 heads, 3 restarts of a drawn instance all stopped 1.5e-6 above C*;
    with this width 2 of 3 reached it.)"""
    return dims["s"] * (min(dims["d"], dims["c"]) + 1)


def init_near_vertices(theorem: Theorem, m: int, rng: np.random.Generator) -> np.ndarray:
    """theta = (b, u, w) with b near the vertices (ROW_SPREAD) and standard normal u, w scaled by one factor so
    that |f(X)|_F = |Y|_F (f is homogeneous of degree 2 in (u, w))."""
    B_shape, U_shape, W_shape = theorem.param_shapes(m)
    rows = np.eye(B_shape[-1])[np.arange(m) % B_shape[-1]]
    B = rows + ROW_SPREAD * rng.standard_normal(B_shape)
    U, W = rng.standard_normal(U_shape), rng.standard_normal(W_shape)
    size = float(np.linalg.norm(theorem.output(theorem.forward([B, U, W]))))
    target = float(np.linalg.norm(theorem.Y))
    scale = np.sqrt(target / size) if size > 0 and target > 0 else 1.0
    return theorem.pack([B, scale * U, scale * W])


def key_blocks(X: np.ndarray, c: int, masks: np.ndarray | None = None,
               queries: list[int] | None = None) -> tuple[Block, ...]:
    """The blocks (query t, gate p, key t'), in that order, of a program whose output row t is
    sum_p masks[p, i, t] sum_t' x_{i,t'}^T Z_{t,p,t'}: A[(i, t, e), (a, e')] = masks[p, i, t] x_{i,t'}[a] 1[e = e'].

    ``masks`` (P, N, s) are fixed given the data; None means one gate that is always on (convex attention, whose
    blocks are then labelled by (query, key) only).  ``queries``: the output rows to build (default all s; a
    single read-out row, e.g. [s - 1], gives the output layout (N, 1, c)).  Each block's map holds only the N c
    output rows of its query (theory.operators.DenseMap ``rows``)."""
    N, s, d = X.shape
    gates = np.ones((1, N, s)) if masks is None else masks
    rows = list(range(s)) if queries is None else queries
    blocks = []
    for row, t in enumerate(rows):
        reached = ((np.arange(N)[:, None] * len(rows) + row) * c + np.arange(c)).reshape(-1)  # outputs (i, row, e)
        for p, mask in enumerate(gates):
            for key in range(s):
                A = np.einsum("i,ia,ef->ieaf", mask[:, t], X[:, key], np.eye(c)).reshape(N * c, d * c)
                label = f"query {t}, key {key}" if masks is None else f"query {t}, gate {p}, key {key}"
                blocks.append(Block(DenseMap(A, (d, c), N * len(rows) * c, reached), (d, c), label=label))
    return tuple(blocks)


class RowHeads(Theorem):
    """Heads per query row t: an attention row a_tk = b_tk^2 / |b_tk|^2 in the simplex (not decayed) and value /
    output maps v_tk in R^d, w_tk in R^c (docs/theory.md §8.1); theta packs (b (s, m, s), v (s, m, d), w (s, m, c)).
    Subclasses give the activation, the program and the recovery."""

    weight_axes = {"b": ("s", "m", "s"), "v": ("s", "m", "d"), "w": ("s", "m", "c")}  # attention rows a = b^2/|b|^2
    undecayed = ("b",)
    attention_rows = staticmethod(simplex_rows)

    def init(self, m: int, rng: np.random.Generator) -> np.ndarray:
        return init_near_vertices(self, m, rng)

    def _head_values(self, B: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x_{i,u}^T v_tk (N, s_t, m, s_u) and u[i, t, k] = sum_u a_tk[u] x_{i,u}^T v_tk (N, s, m)."""
        projected = np.einsum("iua,tka->itku", self.X, V)
        return projected, np.einsum("tku,itku->itk", self.attention_rows(B), projected)

    def outputs_per_block(self) -> int:
        """N c: a block (query t, ...) holds the output rows of its query only (key_blocks)."""
        return self.dims["N"] * self.dims["c"]
