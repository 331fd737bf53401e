"""`convex-attention-scalar`: [E22] Theorem 1 (§3.2, eqs. (8)-(9)) as printed, corrected, docs/theory.md §8.10.

Transcribed from the formalization of [E22] (a paraphrase of the paper, not the paper; docs/theory.md §13): h heads,
each an attention vector a_j in the simplex Delta_s (not decayed), a value v_j in R^d and a scalar output w_j,

    f(X) = sum_j (a_j^T X v_j) w_j,    min  sum_i l(f(X_i), y_i) + beta/2 sum_j (|v_j|^2 + w_j^2)           (8)

and the convex program, a group l2 norm over tokens,

    min_{z_1..z_s in R^d}  sum_i l(sum_k x_{i,k}^T z_k, y_i) + beta sum_k |z_k|_2.                        (9, corrected)

The printed (9) carries a factor 1/2 on the loss that (8) does not, and states no width: both make the printed
statement false (`proofs-check errata`); the corrected statement holds for h >= the number of non-zero z_k, which
is at most N + 1 at an extreme point ([E22] Appendix A.4, Caratheodory).  The model, its lifting, recovery and the
structure are those of theory.simplex_readout at c = 1.  Data: X (N, s, d) and one real target per sample, Y (N,)
or (N, 1); the output is not averaged over tokens.
"""

from __future__ import annotations

import numpy as np

from theory.errors import InputError
from theory.simplex_readout import SimplexReadout


class ConvexAttentionScalar(SimplexReadout):
    name = "convex-attention-scalar"
    paper = ("Ergen, Neyshabur, Mehta, arXiv:2211.11052v1, §3.2, Theorem 1, eqs. (8)-(9), as transcribed by a "
             "third-party formalization; corrected: no 1/2 on the loss of (9), h >= active tokens")
    equation = "docs/theory.md §8.10 (9, corrected): min_z l(sum_k x_k^T z_k) + beta sum_k |z_k|_2"
    statement = "simplex-row heads, scalar output <=> group l2 norm over tokens (at most N + 1 active tokens)"
    weight_axes = {"b": ("m", "s"), "v": ("m", "d"), "w": ("m",)}  # attention rows a = b^2 / |b|^2
    losses = ("squared", "huber")  # one real output: no class scores for the cross-entropy

    def check_targets(self, Y: np.ndarray) -> np.ndarray:
        targets = super().check_targets(Y)
        if targets.shape[-1] != 1:
            raise InputError(f"{self.name} takes one number per sample, Y (N,) or (N, 1), got {targets.shape[-1]} "
                             "outputs: use convex-attention-vector")
        return targets

    default_shapes = ((8, 4, 3), (8,))  # X, Y of the default instance, standard normal
    default_beta = 0.5
