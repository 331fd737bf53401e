"""`convex-attention-vector`: [E22] Theorem 2 (§3.3, eqs. (11)-(12)) as printed, corrected, docs/theory.md §8.10.

Transcribed from the formalization of [E22] (a paraphrase of the paper, not the paper; docs/theory.md §13): the
heads of Theorem 1 with a vector output w_j in R^c, decayed by |w_j|_1^2 (not |w_j|_2^2),

    f(X) = sum_j (a_j^T X v_j) w_j in R^c,    min  sum_i l(f(X_i), y_i) + beta/2 sum_j (|v_j|^2 + |w_j|_1^2)    (11)

and the convex program, separate over outputs,

    min_{z_{l,k} in R^d}  sum_i l(F_i, y_i) + beta sum_l sum_k |z_{l,k}|_2,   F_i[l] = sum_k x_{i,k}^T z_{l,k}.  (12)

Theorem 2 states no width, and fails for one head (`proofs-check errata`); the formalization's corrected statement
needs h >= s c and a loss that separates over outputs, because printed (12) applies a scalar loss per output.
Applying the loss of (11) to the whole row F_i, as here, the equivalence holds for any convex loss (cross-entropy
included: measured in docs/theory.md §8.10) with h >= the number of non-zero groups, at most N c + 1 at an extreme
point.  With the |w|_2^2 decay of `convex-attention` the same heads would give nuclear norms instead
(docs/theory.md §8.1).  Data: X (N, s, d) and one target row per sample, Y (N, c) (labels (N,) for cross-entropy);
the output is not averaged over tokens.
"""

from __future__ import annotations


from theory.simplex_readout import SimplexReadout


class ConvexAttentionVector(SimplexReadout):
    name = "convex-attention-vector"
    paper = ("Ergen, Neyshabur, Mehta, arXiv:2211.11052v1, §3.3, Theorem 2, eqs. (11)-(12), as transcribed by a "
             "third-party formalization; corrected: h >= active (output, token) groups")
    equation = "docs/theory.md §8.10 (12): min_z l(F(z)) + beta sum_l sum_k |z_lk|_2"
    statement = "simplex-row heads, |w|_1^2 decay <=> group l2 norm over (output, token) pairs"
    #: attention rows a = b^2 / |b|^2; outputs w = p o |p| entrywise (theory.simplex_readout ``output_chart``)
    weight_axes = {"b": ("m", "s"), "v": ("m", "d"), "p": ("m", "c")}
    output_chart = "signed-square"

    default_shapes = ((8, 4, 3), (8, 2))  # X, Y of the default instance, standard normal
    default_beta = 0.5
