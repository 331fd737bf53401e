"""`gated-relu-attention`: gated-ReLU self-attention, [S22] section 4 (docs/theory.md §4, "Gated ReLU self-attention").

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
are drawn standard normal from numpy.random.default_rng([seed, GATE_STREAM]) (option ``gates``, default
DEFAULT_GATES): they depend on the seed and d only, not on the data, so a test set sees the same gates.
"""

from __future__ import annotations

from functools import cached_property
from typing import ClassVar, Mapping

import numpy as np

from theory.base import Factors, Theorem
from theory.data import check_positive_int, numeric_array
from theory.errors import InputError
from theory.lifted import Block
from theory.linear_attention import attention_block, heads_from_pairs, lift_heads
from theory.losses import SQUARED, Loss

DEFAULT_GATES = 3
#: The second entry of the gates' seed sequence [seed, GATE_STREAM], apart from data and restart streams.
GATE_STREAM = 7


def draw_gates(count: int, side: int, seed: int) -> np.ndarray:
    """``count`` standard normal gate matrices (count, side, side) from the seed."""
    return np.random.default_rng([seed, GATE_STREAM]).standard_normal((check_positive_int(count, "gates"), side, side))


def logit_masks(X: np.ndarray, H: np.ndarray) -> np.ndarray:
    """D[p, i, t, u] = 1[x_{i,t}^T H_p x_{i,u} >= 0], shape (P, N, s, s)."""
    return (np.einsum("ita,pab,iub->pitu", X, H, X) >= 0).astype(float)


def masked_grams(X: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """G[p, i, t] = X_i^T diag(D[p, i, t, :]) X_i, shape (P, N, s, d, d)."""
    return np.einsum("pitu,iua,iub->pitab", masks, X, X, optimize=True)


def gates_from(name: str, arrays: Mapping[str, np.ndarray], options: Mapping[str, object], side: int,
               seed: int) -> np.ndarray:
    """The gates of a gated theorem: ``arrays["H"]`` when the data file holds them, else ``options["gates"]``
    (default DEFAULT_GATES) square gates of size ``side`` drawn from the seed.  Unknown options, gates H of another
    shape, or a gate count that disagrees with H, are InputErrors."""
    unknown = set(options) - {"gates"}
    if unknown:
        raise InputError(f"theorem {name} takes no option {', '.join(sorted(unknown))}")
    if side < 1:
        raise InputError("X must have shape (N, s, d)")
    if "H" in arrays:
        H = check_gates(arrays["H"], side)
        if options.get("gates") not in (None, H.shape[0]):
            raise InputError(f"--gates {options['gates']} disagrees with the {H.shape[0]} gates H of the data file")
        return H
    return draw_gates(options.get("gates") or DEFAULT_GATES, side, seed)


def check_gates(H: np.ndarray, side: int) -> np.ndarray:
    """H as float64 (P, side, side), P >= 1, finite; an InputError otherwise."""
    H = numeric_array(H, "gates H").astype(float)
    if H.ndim != 3 or H.shape[1:] != (side, side) or H.shape[0] < 1:
        raise InputError(f"gates H must have shape (P, {side}, {side}) with P >= 1, got {H.shape}")
    if not np.all(np.isfinite(H)):
        raise InputError("gates H contain non-finite values")
    return H


class Gated:
    """Mixin of the gated theorems: fixed gates H (P, side, side) with side = X.shape[gate_axis], read from the
    data file or drawn from the seed (:func:`gates_from`), m heads on every gate (m* = the largest block rank),
    and the report fields ``patterns`` (P) and ``blocks`` (gate index and rank of each non-zero block)."""

    gate_axis: ClassVar[int]

    def __init__(self, X: np.ndarray, Y: np.ndarray, beta: float, H: np.ndarray, loss: Loss = SQUARED) -> None:
        super().__init__(X, Y, beta, loss)
        self.H = check_gates(H, self.X.shape[self.gate_axis])

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], beta: float, seed: int, loss: Loss = SQUARED,
                    **options: object):
        """Gates from ``arrays["H"]`` when present, else ``gates`` (default DEFAULT_GATES) drawn from the seed."""
        X = np.asarray(arrays["X"])
        side = X.shape[cls.gate_axis] if X.ndim == 3 else 0
        return cls(X, arrays["Y"], beta, gates_from(cls.name, arrays, options, side, seed), loss)

    def axis_sizes(self, m: int) -> dict[str, int]:
        return {**super().axis_sizes(m), "P": len(self.H)}

    def heads_needed(self, factors: Factors) -> int:
        """Heads per gate: the largest block rank (every gate carries the same number m of heads)."""
        return max((len(pairs) for pairs in factors), default=0)

    def report_fields(self, blocks: list[np.ndarray], factors: Factors) -> dict[str, object]:
        return {"patterns": len(self.H),
                "blocks": [{"pattern": p, "rank": len(pairs)} for p, pairs in enumerate(factors) if pairs]}


class GatedReLUAttention(Gated, Theorem):
    name = "gated-relu-attention"
    paper = "[S22] (abstract: non-linear self-attention); the gated-ReLU model and its program derived here"
    equation = "docs/theory.md §4: min_Z l(sum_p sum_kl G_pt[k,l] x_t^T Z_p,kl) + beta sum_p |Z_p|_*"
    statement = "gated-ReLU self-attention with weight decay <=> block nuclear-norm program, one block per gate"

    gate_axis = 2
    weight_axes = {"W1": ("P", "m", "d", "d"), "W2": ("P", "m", "d", "c")}
    matrix_free = True

    @classmethod
    def default_data(cls, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
        return rng.standard_normal((6, 4, 3)), rng.standard_normal((6, 4, 2)), 0.1

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
