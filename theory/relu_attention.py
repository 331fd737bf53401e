"""`relu-attention`: ReLU self-attention and the lower bound of its gated relaxation, [S22] abstract (docs/theory.md §4; the relaxation is ours).

Primal (ReLU in place of softmax), m heads W1_j in R^{d x d}, W2_j in R^{d x c}:
    f(X) = sum_j relu(X W1_j X^T) X W2_j,   p* = min 1/2 sum_i |f(X_i) - Y_i|_F^2 + beta/2 sum_j (|W1_j|^2 + |W2_j|^2).
A head whose logits have pattern D_p (an open cell of the arrangement of the vectors vec(x_t x_u^T),
theory.arrangements) computes (D_p o (X W1 X^T)) X W2, the gated head of `gated-relu-attention` with mask D_p.
So every ReLU network is a point of the gated program over ALL realisable patterns p = 1..P,
    C* = min_{Z_p}  l(sum_p A_p(Z_p)) + beta sum_p |Z_p|_*,                                          (docs/theory.md §4)
without the cone constraints W1 in K_p of the exact program (cone-constrained nuclear norm, not tractable for
vector outputs).  Hence C* <= p*: a LOWER bound, which is what this theorem claims (``exact = False``).  It is
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

from theory.arrangements import enumerate_patterns, patterns_of
from theory.base import Factors, Theorem
from theory.errors import InputError
from theory.gates import masked_grams
from theory.lifted import Block
from theory.attention_heads import attention_block, heads_from_pairs, lift_heads
from theory.cone_oracle import ConeOracle
from theory.relu_attention_exact import ExactOptimum, solve_exact


class ReLUAttention(Theorem):
    name = "relu-attention"
    paper = "[S22] (abstract: non-linear dot-product self-attention); the relaxation derived here (a lower bound)"
    equation = "docs/theory.md §4: gated program over all realisable patterns, a lower bound on the ReLU optimum"
    statement = "ReLU self-attention >= block nuclear-norm relaxation over all logit patterns (tight if heads in cones)"
    exact = False
    weight_axes = {"W1": ("m", "d", "d"), "W2": ("m", "d", "c")}
    matrix_free = True

    exact_program = "docs/theory.md §4.4: heads as atoms on the sphere, the exact dual norm by the faces of the arrangement"
    default_shapes = ((3, 2, 2), (3, 2, 1))  # X, Y of the default instance, standard normal
    default_beta = 0.1

    @cached_property
    def patterns(self) -> np.ndarray:
        """Every realisable pattern, shape (P, N s s) (True where the logit is >= 0)."""
        return enumerate_patterns(self.X)

    @cached_property
    def cone_oracle(self) -> ConeOracle:
        """The exact dual norm of the exact program (theory.cone_oracle), on this theorem's patterns."""
        return ConeOracle(self.X, self.patterns)

    def __getstate__(self) -> dict:
        """Without the oracle's faces either (rebuilt on demand, like the program)."""
        state = super().__getstate__()
        state.pop("cone_oracle", None)
        return state

    def solve_exact(self) -> ExactOptimum:
        """The certified ReLU optimum of the exact program (theory.relu_attention_exact, docs/theory.md §4.4)."""
        return solve_exact(self, oracle=self.cone_oracle)

    @cached_property
    def masks(self) -> np.ndarray:
        N, s = self.X.shape[:2]
        return self.patterns.reshape(-1, N, s, s).astype(float)

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

    def pattern_index(self, W1: np.ndarray) -> np.ndarray:
        """The index p of the pattern of each head W1 (m, d, d) among :attr:`patterns`."""
        index = {pattern.tobytes(): p for p, pattern in enumerate(self.patterns)}
        found = [index.get(pattern.tobytes()) for pattern in patterns_of(self.X, W1)]
        if None in found:
            raise InputError(f"{self.name}: a head has a logit exactly 0 (on a boundary of the arrangement)")
        return np.array(found, dtype=int)

    def lift_weights(self, weights: list[np.ndarray]) -> list[np.ndarray]:
        """Each head joins the block of its own pattern: Z_p = sum_{j : pattern(W1_j) = p} vec_c(W1_j) vec_r(W2_j)^T."""
        W1, W2 = weights
        d, c = self.dims["d"], self.dims["c"]
        where = self.pattern_index(W1) if len(W1) else np.zeros(0, dtype=int)
        return [lift_heads(W1[where == p], W2[where == p]) if np.any(where == p) else np.zeros((d * d, d * c))
                for p in range(len(self.patterns))]

    def weights_from_factors(self, factors: Factors, m: int) -> list[np.ndarray]:
        """All blocks' SVD pairs as heads (block by block), each pair signed towards its pattern's cone."""
        d, c = self.dims["d"], self.dims["c"]
        pairs = [self._towards_cone(u, v, p) for p, block in enumerate(factors) for u, v in block]
        return list(heads_from_pairs(pairs, m, d, c))

    def _towards_cone(self, u: np.ndarray, v: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
        d = self.dims["d"]
        agree = np.mean(patterns_of(self.X, u.reshape(d, d).T) == self.patterns[p])
        return (u, v) if agree >= 0.5 else (-u, -v)

    def block_shapes(self) -> list[tuple[int, int]]:
        """One d^2 x dc block per pattern (the restarts' width, min(d^2, dc) + 1, is that of linear attention: no
        zero gap is claimed for a relaxation)."""
        d, c = self.dims["d"], self.dims["c"]
        return [(d * d, d * c)] * len(self.patterns)

    def heads_in_cones(self, factors: Factors) -> list[bool]:
        """For each recovered head (block by block): whether its logits have exactly its block's pattern."""
        W1 = self.weights_from_factors(factors, sum(len(pairs) for pairs in factors))[0]
        owners = [p for p, pairs in enumerate(factors) for _ in pairs]
        return [bool(np.array_equal(patterns_of(self.X, W), self.patterns[p])) for W, p in zip(W1, owners)]

    def recovered_in_cones(self, factors: Factors) -> bool:
        """The tightness condition of the relaxation: every recovered head lies in its pattern's cone."""
        return all(self.heads_in_cones(factors))

    def report_fields(self, blocks: list[np.ndarray], factors: Factors) -> dict[str, object]:
        """Which program was solved, the patterns, the non-zero blocks, and the recovered heads in their cones."""
        in_cone = self.heads_in_cones(factors)
        return {"program": f"gated relaxation over all {len(self.patterns)} realisable patterns (lower bound on ReLU)",
                "patterns": len(self.patterns),
                "blocks": [{"pattern": p, "rank": len(pairs)} for p, pairs in enumerate(factors) if pairs],
                "heads_in_cone": f"{sum(in_cone)}/{len(in_cone)}"}
