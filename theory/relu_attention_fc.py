"""`relu-attention-fc`: convex attention followed by a ReLU fully-connected layer, and the lower bound of its gated
relaxation (docs/theory.md §8.7; the ReLU counterpart of `convex-attention-fc`, as `relu-attention` is of
`gated-relu-attention`).

Primal.  Every query row t has m units.  Unit (t, j) attends with a_tj in the simplex (a = b^2 / |b|^2, no decay),
applies the ReLU to its own pre-activation a_tj^T X u_tj (the standard order: attention, then FC), and writes
w_tj.  Weight decay beta/2 (|u|^2 + |w|^2):

    f(X)[t, :] = sum_j relu(a_tj^T X u_tj) w_tj^T.

Relaxation.  Unit (t, j) has the activation pattern D_tj[i] = 1[a_tj^T X_i u_tj > 0] over the samples, so
    f(X_i)[t, :] = sum_D D[i] sum_t' x_{i,t'}^T Z_{t,D,t'},   Z_{t,D,t'} = sum_{j : D_tj = D} a_tj[t'] u_tj w_tj^T,
and the regulariser bound of `convex-attention-fc` gives sum_{D,t'} |Z_{t,D,t'}|_* <= the weight decay.  Every ReLU
network is therefore a point of the program of `convex-attention-fc` whose gates are ALL 2^N - 1 non-zero sample
patterns (masks M_D[i, t] = D[i]), at no larger cost.  That program drops the cone constraint "unit (t, D, t') has
pattern D", so its optimum C* is a LOWER bound on the ReLU optimum (``exact = False``).  It is attained when the
units recovered from Z* (one-hot row e_t', SVD factors, sign of (u, w) chosen to agree with D) have the patterns of
their blocks: 1[x_{i,t'}^T u > 0] = D[i] for every i.  The harness reports the recovered network's objective and the
best restart against C*: the gap of the relaxation, measured.

The patterns used are all 2^N - 1 non-zero vectors in {0, 1}^N, a superset of the realisable ones, so the bound
stays valid (more blocks can only lower C*), and it needs no enumeration.  This is for tiny instances:
N <= MAX_SAMPLES.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from theory.base import Factors
from theory.simplex_heads import RowHeads, key_blocks, simplex_rows_vjp
from theory.errors import InputError
from theory.lifted import Block
from theory.losses import SQUARED, Loss

#: 2^N - 1 patterns, each with s^2 blocks: N = 6 gives 63 patterns (1008 blocks at s = 4).
MAX_SAMPLES = 6


class ReLUAttentionFC(RowHeads):
    name = "relu-attention-fc"
    paper = "ours: convex attention then a ReLU FC layer, a relaxation derived here (docs/theory.md §8.7)"
    equation = "docs/theory.md §8.7: the program of convex-attention-fc over all 2^N - 1 sample patterns (lower bound)"
    statement = "convex attention + ReLU FC layer >= group nuclear-norm relaxation over all sample patterns"
    exact = False

    def __init__(self, X: np.ndarray, Y: np.ndarray, beta: float, loss: Loss = SQUARED) -> None:
        super().__init__(X, Y, beta, loss)
        if self.dims["N"] > MAX_SAMPLES:
            raise InputError(f"{self.name} enumerates 2^N - 1 sample patterns: N = {self.dims['N']} > {MAX_SAMPLES}")

    default_shapes = ((4, 2, 2), (4, 2, 2))  # X, Y of the default instance, standard normal
    default_beta = 0.1

    @cached_property
    def patterns(self) -> np.ndarray:
        """Pattern k (k = 0 .. 2^N - 2) is the binary expansion of k + 1: D_k[i] = bit i, shape (2^N - 1, N)."""
        N = self.dims["N"]
        return (np.arange(1, 2**N)[:, None] >> np.arange(N)) & 1 == 1

    def pattern_index(self, D: np.ndarray) -> int:
        """The index of the non-zero pattern D (N,) in :attr:`patterns`."""
        return int(D.astype(int) @ (1 << np.arange(len(D)))) - 1

    def forward(self, weights: list[np.ndarray]) -> np.ndarray:
        B, V, W = weights
        return np.einsum("itk,tkc->itc", np.maximum(self._head_values(B, V)[1], 0.0), W)

    def backward(self, weights: list[np.ndarray], dF: np.ndarray) -> list[np.ndarray]:
        """ReLU derivative 1[pre-activation > 0] (0 at the kink, a valid subgradient)."""
        B, V, W = weights
        projected, values = self._head_values(B, V)
        dW = np.einsum("itk,itc->tkc", np.maximum(values, 0.0), dF)
        dvalues = np.einsum("itc,tkc->itk", dF, W) * (values > 0)
        dV = np.einsum("itk,tku,iua->tka", dvalues, self.attention_rows(B), self.X)
        dA = np.einsum("itk,itku->tku", dvalues, projected)
        return [simplex_rows_vjp(B, dA), dV, dW]

    def block_shapes(self) -> list[tuple[int, int]]:
        """One d x c block per (query, pattern, key)."""
        return [(self.dims["d"], self.dims["c"])] * (self.dims["s"] ** 2 * len(self.patterns))

    def build_blocks(self) -> tuple[Block, ...]:
        """The blocks of `convex-attention-fc` with gates = patterns: block (t, D, t'), mask M_D[i, t] = D[i]."""
        masks = np.repeat(self.patterns[:, :, None], self.dims["s"], axis=2).astype(float)
        return key_blocks(self.X, self.dims["c"], masks)

    def _index(self, t: int, pattern: int, key: int) -> int:
        s = self.dims["s"]
        return (t * len(self.patterns) + pattern) * s + key

    def lift_weights(self, weights: list[np.ndarray]) -> list[np.ndarray]:
        """Unit (t, j) joins the blocks (t, D_tj, t'); a unit that is off on every sample joins none."""
        B, V, W = weights
        s, d, c = self.dims["s"], self.dims["d"], self.dims["c"]
        active = self._head_values(B, V)[1] > 0  # (N, s, m)
        Z = np.zeros((s, len(self.patterns), s, d, c))
        A = self.attention_rows(B)
        for t in range(s):
            for j in range(B.shape[1]):
                if active[:, t, j].any():
                    Z[t, self.pattern_index(active[:, t, j])] += np.einsum("u,a,c->uac", A[t, j], V[t, j], W[t, j])
        return list(Z.reshape(-1, d, c))

    def _recovered_units(self, factors: Factors) -> list[list[tuple[int, int, np.ndarray, np.ndarray]]]:
        """Per query row: (pattern, key, u, w) of every factor pair, (u, w) signed so that the unit's pattern
        1[x_{i,key}^T u > 0] agrees with the block's pattern on most samples."""
        s = self.dims["s"]
        rows = []
        for t in range(s):
            units = []
            for k, D in enumerate(self.patterns):
                for key in range(s):
                    for u, w in factors[self._index(t, k, key)]:
                        agree = np.mean((self.X[:, key] @ u > 0) == D)
                        units.append((k, key, u, w) if agree >= 0.5 else (k, key, -u, -w))
            rows.append(units)
        return rows

    def weights_from_factors(self, factors: Factors, m: int) -> list[np.ndarray]:
        """Unit per factor pair: one-hot row e_key, signed (u, w) (:meth:`_recovered_units`); unused units zero
        with a uniform row."""
        B, V, W = (np.zeros(shape) for shape in self.param_shapes(m))
        B[:] = 1.0
        for t, units in enumerate(self._recovered_units(factors)):
            for j, (_, key, u, w) in enumerate(units):
                B[t, j] = np.eye(self.dims["s"])[key]
                V[t, j], W[t, j] = u, w
        return [B, V, W]

    def heads_needed(self, factors: Factors) -> int:
        """Units per query row: max_t sum_{D,t'} rank(Z_{t,D,t'})."""
        return max(len(units) for units in self._recovered_units(factors))

    def heads_for_zero_gap(self) -> int:
        """The width of the restarts (no zero gap is claimed for a relaxation): N c + 1 units per row, the
        Caratheodory bound on the units an optimum over the N c outputs of a row needs, so that the width does
        not limit the measured gap."""
        return self.dims["N"] * self.dims["c"] + 1

    def heads_in_cones(self, factors: Factors) -> list[bool]:
        """For each recovered unit: whether its pattern 1[x_{i,key}^T u > 0] is its block's pattern D."""
        return [bool(np.array_equal(self.X[:, key] @ u > 0, self.patterns[k]))
                for units in self._recovered_units(factors) for k, key, u, _ in units]

    def recovered_in_cones(self, factors: Factors) -> bool:
        """The tightness condition of the relaxation: every recovered unit has its block's pattern."""
        return all(self.heads_in_cones(factors))

    def report_fields(self, blocks: list[np.ndarray], factors: Factors) -> dict[str, object]:
        """Which program was solved, the non-zero blocks, and the recovered units in their cones."""
        in_cone = self.heads_in_cones(factors)
        s = self.dims["s"]
        active = [{"query": t, "pattern": k, "key": key, "rank": len(factors[self._index(t, k, key)])}
                  for t in range(s) for k in range(len(self.patterns)) for key in range(s)
                  if factors[self._index(t, k, key)]]
        return {"program": f"gated relaxation over all {len(self.patterns)} non-zero sample patterns "
                           "(lower bound on the ReLU FC block)",
                "patterns": len(self.patterns), "active_blocks": active,
                "heads_in_cone": f"{sum(in_cone)}/{len(in_cone)}"}
