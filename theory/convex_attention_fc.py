"""`convex-attention-fc`: convex attention followed by a gated-ReLU fully-connected layer, [E22] (docs/theory.md
§8.7, "Attention + FC layer with gated ReLU").

The network.  Every query row t has its own units (as in `convex-attention`, where per-row value maps make the
program exact).  Unit (t, p, j), j = 1..m, on gate p = 1..P:
- attends with a row a_tpj in the simplex Delta_s (a = b^2 / |b|^2, no weight decay, as in [E22]);
- maps the attention output a_tpj^T X to a scalar by u_tpj in R^d: the value map and the first FC layer merged
  into one vector;
- is switched on or off by its gate, 1[z_p(X)[t] >= 0];
- writes w_tpj in R^c (the second FC layer).
Weight decay beta/2 (|u_tpj|^2 + |w_tpj|^2):

    f(X)[t, :] = sum_p M_p(X)[t] sum_j (a_tpj^T X u_tpj) w_tpj^T.

Where the gates act.  The gate of a gated-ReLU unit is a frozen copy of its pre-activation (Fiat et al. 2019): here
a frozen attention row and a frozen gate vector, z_p(X) = C_p X g_p in R^s, with C_p in R^{s x s} row-stochastic
and g_p in R^d, never trained.  So the masks M_p(X_i)[t] = 1[(C_p X_i g_p)[t] >= 0] are fixed given the data.  The
gate reads the whole sequence, so the output is not additive over tokens: M_p depends on every token that C_p
mixes.  Gates on single key tokens, 1[x_t'^T g_p >= 0], would also be exact, but they would keep the output
additive over tokens.  Then a task such as modular division, which needs an interaction between two tokens,
could not be fitted.

Lifting (docs/theory.md §8.7).  With Z_{t,p,t'} = sum_j a_tpj[t'] u_tpj w_tpj^T in R^{d x c},

    f(X_i)[t, :] = sum_p M_p(X_i)[t] sum_t' x_{i,t'}^T Z_{t,p,t'},

a linear map of the blocks (theory.simplex_heads.key_blocks).  Lower bound: by the triangle inequality and
sum_t' a[t'] = 1,
    sum_t' |Z_{t,p,t'}|_* <= sum_j sum_t' a_tpj[t'] |u_tpj| |w_tpj| = sum_j |u_tpj| |w_tpj|
                          <= 1/2 sum_j (|u_tpj|^2 + |w_tpj|^2).
It is attained by one unit per singular triple of every block: a one-hot row e_t', u = sqrt(sigma) p and
w = sqrt(sigma) q (lemma L1).  Hence training is equivalent to

    min_Z  1/2 sum_{i,t} | sum_p M_p(X_i)[t] sum_t' x_{i,t'}^T Z_{t,p,t'} - y_{i,t} |^2
           + beta sum_{t,p,t'} |Z_{t,p,t'}|_*

This is a group lasso over (query, gate, key) triples whose groups are d x c matrices in nuclear norm.  The blocks
are nuclear, not Frobenius, because every unit has an input vector u and an output vector w (lemma L1).  The
program is exact: zero gap with m >= m* = max_{t,p} sum_t' rank(Z_{t,p,t'}*) <= s min(d, c) units per (row,
gate).  As for `convex-attention`, the simplex rows give the factorised problem spurious local minima, so the
restarts start near the vertices (ROW_SPREAD) with s (min(d, c) + 1) units per (row, gate).
`convex-attention` is the case P = 1 with an always-on gate (G = 0).

What the exactness needs (each is a choice of the model, stated in docs/theory.md §8.7):
- the value map and the first FC layer are merged into u.  With a separately decayed value matrix W_V and FC
  vector w3, u = W_V w3 has three decayed factors with w, and 1/2 (|W_V|^2 + |w3|^2 + |w|^2) >=
  3/2 (|W_V| |w3| |w|)^(2/3) is not a norm of the product, so no convex program follows;
- every unit has its own attention row.  A row shared by all units of a gate is a special case of the model, so
  its optimum is >= C*, and C* is only a lower bound for it;
- every query row has its own units, as in `convex-attention`.  Units shared by all rows make C* a lower bound
  only (docs/theory.md §8, caveat);
- the gates are frozen.  With the standard ReLU on the unit's own pre-activation (a^T X u), the gated program over
  all activation patterns is only a lower bound: `relu-attention-fc` (theory.relu_attention_fc) measures that gap.

Gates come from the data file (arrays ``C`` (P, s, s) and ``G`` (P, d)), or are drawn from
numpy.random.default_rng([seed, GATE_STREAM]) (option ``gates``, default DEFAULT_GATES).  The rows of C_p are
Dirichlet(1, ..., 1) (uniform on the simplex) and g_p is standard normal.  They depend on the seed, s and d only,
not on the data, so a test set sees the same gates.
"""

from __future__ import annotations

from functools import cached_property
from typing import Mapping

import numpy as np

from theory.base import Factors, Theorem
from theory.simplex_heads import init_near_vertices, key_blocks, simplex_rows, simplex_rows_vjp, vertex_width
from theory.data import check_positive_int, numeric_array
from theory.errors import InputError
from theory.gates import DEFAULT_GATES, GATE_STREAM
from theory.lifted import Block
from theory.losses import SQUARED, Loss


def draw_fc_gates(count: int, s: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` frozen gate units from the seed: rows of C (count, s, s) uniform on the simplex, G (count, d)
    standard normal."""
    rng = np.random.default_rng([seed, GATE_STREAM])
    count = check_positive_int(count, "gates")
    return rng.dirichlet(np.ones(s), size=(count, s)), rng.standard_normal((count, d))


def gate_masks(X: np.ndarray, C: np.ndarray, G: np.ndarray) -> np.ndarray:
    """M[p, i, t] = 1[(C_p X_i g_p)[t] >= 0], shape (P, N, s)."""
    return (np.einsum("ptu,iua,pa->pit", C, X, G) >= 0).astype(float)


def check_fc_gates(C: object, G: object, s: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """C as float64 (P, s, s) and G as (P, d), P >= 1, finite; an InputError otherwise."""
    C, G = numeric_array(C, "gates C").astype(float), numeric_array(G, "gates G").astype(float)
    if C.ndim != 3 or C.shape[1:] != (s, s) or G.ndim != 2 or G.shape[1] != d or len(C) != len(G) or len(C) < 1:
        raise InputError(f"gates must be C (P, {s}, {s}) and G (P, {d}) with the same P >= 1, got {C.shape}, {G.shape}")
    if not (np.all(np.isfinite(C)) and np.all(np.isfinite(G))):
        raise InputError("gates C, G contain non-finite values")
    return C, G


class ConvexAttentionFC(Theorem):
    name = "convex-attention-fc"
    paper = ("ours: convex attention then a gated-ReLU FC layer, in the spirit of [E22] (arXiv:2211.11052v1) §3.4, "
             "whose printed model no source showed")
    equation = "docs/theory.md §8.7: min_Z l(sum_p M_p[t] sum_t' x_t'^T Z_t,p,t') + beta sum_t,p,t' |Z_t,p,t'|_*"
    statement = ("convex attention + gated-ReLU FC layer (frozen gate units) <=> group nuclear norm over "
                 "(query, gate, key) triples")
    weight_axes = {"b": ("s", "P", "m", "s"), "u": ("s", "P", "m", "d"), "w": ("s", "P", "m", "c")}  # a = b^2/|b|^2
    undecayed = ("b",)

    def __init__(self, X: np.ndarray, Y: np.ndarray, beta: float, C: np.ndarray, G: np.ndarray,
                 loss: Loss = SQUARED) -> None:
        super().__init__(X, Y, beta, loss)
        self.C, self.G = check_fc_gates(C, G, self.X.shape[1], self.X.shape[2])

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], beta: float, seed: int, loss: Loss = SQUARED,
                    **options: object):
        """Gates from ``arrays["C"]`` and ``arrays["G"]`` when present, else ``gates`` (default DEFAULT_GATES)
        drawn from the seed."""
        unknown = set(options) - {"gates"}
        if unknown:
            raise InputError(f"theorem {cls.name} takes no option {', '.join(sorted(unknown))}")
        X = np.asarray(arrays["X"])
        if ("C" in arrays) != ("G" in arrays):
            raise InputError("a data file with gates must hold both C (P, s, s) and G (P, d)")
        if X.ndim != 3:
            raise InputError("X must have shape (N, s, d)")
        if "C" in arrays:
            C, G = check_fc_gates(arrays["C"], arrays["G"], X.shape[1], X.shape[2])
            if options.get("gates") not in (None, len(C)):
                raise InputError(f"--gates {options['gates']} disagrees with the {len(C)} gates C, G of the data file")
        else:
            C, G = draw_fc_gates(options.get("gates") or DEFAULT_GATES, X.shape[1], X.shape[2], seed)
        return cls(X, arrays["Y"], beta, C, G, loss)

    default_shapes = ((6, 3, 3), (6, 3, 2))  # X, Y of the default instance, standard normal
    default_beta = 1.0

    def init(self, m: int, rng: np.random.Generator) -> np.ndarray:
        return init_near_vertices(self, m, rng)

    @cached_property
    def masks(self) -> np.ndarray:
        """M_p(X_i)[t], shape (P, N, s)."""
        return gate_masks(self.X, self.C, self.G)

    def axis_sizes(self, m: int) -> dict[str, int]:
        return {**super().axis_sizes(m), "P": len(self.C)}

    def _unit_inputs(self, B: np.ndarray, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x_{i,t'}^T u_tpj (N, s, P, m, s_t') and the gated unit inputs M_p[i, t] a_tpj^T X_i u_tpj (N, s, P, m)."""
        projected = np.einsum("iua,tpja->itpju", self.X, U)
        attended = np.einsum("tpju,itpju->itpj", simplex_rows(B), projected)
        return projected, attended * self.masks.transpose(1, 2, 0)[..., None]

    def forward(self, weights: list[np.ndarray]) -> np.ndarray:
        B, U, W = weights
        return np.einsum("itpj,tpjc->itc", self._unit_inputs(B, U)[1], W)

    def backward(self, weights: list[np.ndarray], dF: np.ndarray) -> list[np.ndarray]:
        B, U, W = weights
        projected, gated = self._unit_inputs(B, U)
        dW = np.einsum("itpj,itc->tpjc", gated, dF)
        dgated = np.einsum("itc,tpjc->itpj", dF, W) * self.masks.transpose(1, 2, 0)[..., None]
        dU = np.einsum("itpj,tpju,iua->tpja", dgated, simplex_rows(B), self.X)
        dA = np.einsum("itpj,itpju->tpju", dgated, projected)
        return [simplex_rows_vjp(B, dA), dU, dW]

    def outputs_per_block(self) -> int:
        """N c: a block (query t, ...) holds the output rows of its query only (key_blocks)."""
        return self.dims["N"] * self.dims["c"]

    def block_shapes(self) -> list[tuple[int, int]]:
        """One d x c block per (query, gate, key)."""
        return [(self.dims["d"], self.dims["c"])] * (self.dims["s"] ** 2 * len(self.C))

    def build_blocks(self) -> tuple[Block, ...]:
        """Block (t, p, t'): A[(i, t, e), (a, e')] = M_p(X_i)[t] x_{i,t'}[a] 1[e = e']."""
        return key_blocks(self.X, self.dims["c"], self.masks)

    def _index(self, t: int, p: int, key: int) -> int:
        s = self.dims["s"]
        return (t * len(self.C) + p) * s + key

    def lift_weights(self, weights: list[np.ndarray]) -> list[np.ndarray]:
        B, U, W = weights
        Z = np.einsum("tpju,tpja,tpjc->tpuac", simplex_rows(B), U, W)  # Z[t, p, t'] = sum_j a[t'] u w^T
        return list(Z.reshape((-1,) + Z.shape[3:]))

    def weights_from_factors(self, factors: Factors, m: int) -> list[np.ndarray]:
        """Unit per (t', singular pair) of block (t, p, t'): one-hot row e_t', u = sqrt(sigma) p,
        w = sqrt(sigma) q.  Unused units get u = w = 0 and a uniform row (b = 1)."""
        B, U, W = (np.zeros(shape) for shape in self.param_shapes(m))
        B[:] = 1.0
        s = self.dims["s"]
        for t in range(s):
            for p in range(len(self.C)):
                units = [(key, u, w) for key in range(s) for u, w in factors[self._index(t, p, key)]]
                for j, (key, u, w) in enumerate(units):
                    B[t, p, j] = np.eye(s)[key]
                    U[t, p, j], W[t, p, j] = u, w
        return [B, U, W]

    def heads_needed(self, factors: Factors) -> int:
        """Units per (query row, gate): max_{t,p} sum_t' rank(Z_{t,p,t'})."""
        s, P = self.dims["s"], len(self.C)
        return max(sum(len(factors[self._index(t, p, key)]) for key in range(s)) for t in range(s) for p in range(P))

    def heads_for_zero_gap(self) -> int:
        """s (min(d, c) + 1) units per (row, gate), as for convex-attention (theory.simplex_heads.vertex_width)."""
        return vertex_width(self.dims)

    def report_fields(self, blocks: list[np.ndarray], factors: Factors) -> dict[str, object]:
        """``patterns``: the number of gates P; ``active_tokens``: the key positions some unit attends to;
        ``active_blocks``: the non-zero (query, gate, key) blocks with their ranks."""
        s, P = self.dims["s"], len(self.C)
        active = [{"query": t, "gate": p, "key": key, "rank": len(factors[self._index(t, p, key)])}
                  for t in range(s) for p in range(P) for key in range(s) if factors[self._index(t, p, key)]]
        return {"patterns": P, "active_tokens": sorted({b["key"] for b in active}), "active_blocks": active}
