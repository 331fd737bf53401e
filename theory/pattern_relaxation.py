"""What the pattern relaxations share (docs/theory.md §4.2, §5.3): `relu-attention` and `relu-mixer`.

A ReLU unit whose pre-activations on the data have the sign pattern D_p (an open cell of the unit's arrangement,
theory.arrangements) computes the gated unit with mask D_p: relu(z) = D_p o z entrywise.  So every ReLU network is
a point of the gated program over ALL realisable patterns, its units joining the blocks of their patterns, at a
regulariser no larger than its weight decay (lemma L1):

    C* = min_{Z_p} l(sum_p A_p(Z_p)) + beta sum_p |Z_p|_*  <=  p*,

a LOWER bound (``exact = False``), attained when the units recovered from Z* lie in their blocks' cones.  This mixin
holds the pattern bookkeeping: a unit's pattern index, the lifting by patterns, the recovery with each SVD pair
signed towards its block's cone, the in-cone count and the report.  A theorem supplies :attr:`patterns` and the
four unit maps below.
"""

from __future__ import annotations

from functools import cached_property
from typing import ClassVar

import numpy as np

from theory.base import Factors
from theory.errors import InputError


class PatternRelaxation:
    """Mixin: the gated relaxation over the realisable patterns (module docstring)."""

    exact = False
    #: What the patterns are patterns of, for the report ("logit", "pre-activation").
    pattern_kind: ClassVar[str]
    #: What the relaxation bounds, for the report.
    bounded: ClassVar[str]

    patterns: np.ndarray  # (P, n) True where the pre-activation is >= 0, n over (i, t, ...) row-major

    @cached_property
    def masks(self) -> np.ndarray:
        """The patterns as masks D_p (P, N, s, ...) of the gated blocks: (N, s, s) logits for attention, (N, s, d)
        pre-activations for the mixer."""
        N, s = self.X.shape[:2]
        return self.patterns.reshape(len(self.patterns), N, s, -1).astype(float)

    def unit_patterns(self, W1: np.ndarray) -> np.ndarray:
        """The patterns of the first-layer weights W1 (m, ...) on the data, (m, n)."""
        raise NotImplementedError

    def lift_units(self, W1: np.ndarray, W2: np.ndarray) -> np.ndarray:
        """The lifted matrix of these units (all of one pattern)."""
        raise NotImplementedError

    def unit_of(self, u: np.ndarray) -> np.ndarray:
        """The first-layer weight of the unit whose lifted left factor is u."""
        raise NotImplementedError

    def units_from_pairs(self, pairs: list[tuple[np.ndarray, np.ndarray]], m: int) -> list[np.ndarray]:
        """The weights of m units whose lifted matrix is sum_r u_r v_r^T (unused units zero)."""
        raise NotImplementedError

    def unit_block_shape(self) -> tuple[int, int]:
        """The shape of one pattern's block of the lifted program."""
        raise NotImplementedError

    def block_shapes(self) -> list[tuple[int, int]]:
        """One block per pattern (the restarts' width is that of the linear network: no zero gap is claimed for a
        relaxation)."""
        return [self.unit_block_shape()] * len(self.patterns)

    def pattern_index(self, W1: np.ndarray) -> np.ndarray:
        """The index p of the pattern of each unit W1 (m, ...) among :attr:`patterns`."""
        index = {pattern.tobytes(): p for p, pattern in enumerate(self.patterns)}
        found = [index.get(pattern.tobytes()) for pattern in self.unit_patterns(W1)]
        if None in found:
            raise InputError(f"{self.name}: a unit has a {self.pattern_kind} exactly 0 (on a boundary of the "
                             "arrangement)")
        return np.array(found, dtype=int)

    def lift_weights(self, weights: list[np.ndarray]) -> list[np.ndarray]:
        """Each unit joins the block of its own pattern: Z_p = the lifting of the units of pattern p."""
        W1, W2 = weights
        where = self.pattern_index(W1) if len(W1) else np.zeros(0, dtype=int)
        return [self.lift_units(W1[where == p], W2[where == p]) if np.any(where == p)
                else np.zeros(self.unit_block_shape()) for p in range(len(self.patterns))]

    def _signed_pairs(self, factors: Factors) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """(block, u, v) of every SVD pair, signed (u, v) -> (-u, -v) (same Z_p) so that the unit agrees with its
        block's pattern on at least half of the pre-activations."""
        signed = []
        for p, block in enumerate(factors):
            for u, v in block:
                agree = np.mean(self.unit_patterns(self.unit_of(u)[None])[0] == self.patterns[p])
                signed.append((p, u, v) if agree >= 0.5 else (p, -u, -v))
        return signed

    def weights_from_factors(self, factors: Factors, m: int) -> list[np.ndarray]:
        """All blocks' SVD pairs as units (block by block), each signed towards its pattern's cone."""
        return self.units_from_pairs([(u, v) for _, u, v in self._signed_pairs(factors)], m)

    def heads_in_cones(self, factors: Factors) -> list[bool]:
        """For each recovered unit (block by block): whether its pre-activations have exactly its block's pattern."""
        return [bool(np.array_equal(self.unit_patterns(self.unit_of(u)[None])[0], self.patterns[p]))
                for p, u, _ in self._signed_pairs(factors)]

    def recovered_in_cones(self, factors: Factors) -> bool:
        """The tightness condition of the relaxation: every recovered unit lies in its pattern's cone."""
        return all(self.heads_in_cones(factors))

    def report_fields(self, blocks: list[np.ndarray], factors: Factors) -> dict[str, object]:
        """Which program was solved, the patterns, the non-zero blocks, and the recovered units in their cones."""
        in_cone = self.heads_in_cones(factors)
        return {"program": f"gated relaxation over all {len(self.patterns)} realisable {self.pattern_kind} patterns "
                           f"(lower bound on {self.bounded})",
                "patterns": len(self.patterns),
                "blocks": [{"pattern": p, "rank": len(pairs)} for p, pairs in enumerate(factors) if pairs],
                "heads_in_cone": f"{sum(in_cone)}/{len(in_cone)}"}
