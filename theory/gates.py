"""Fixed gates of the gated theorems (docs/theory.md §4.1, §5.2): drawn from the seed or read from a data file, the
masks they define, and the mixin that gives a theorem its gates (gated-ReLU attention, the gated-ReLU mixer).

Gates come from the data file (array ``H``, so a published instance is reproduced exactly) or are drawn standard
normal from numpy.random.default_rng([seed, GATE_STREAM]) (option ``gates``, default DEFAULT_GATES): they depend on
the seed and the side only, not on the data, so a test set sees the same gates.
"""

from __future__ import annotations

from typing import ClassVar, Mapping

import numpy as np

from theory.base import Factors
from theory.data import check_positive_int, numeric_array
from theory.errors import InputError
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
