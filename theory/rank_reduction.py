"""Rank reduction of a convex solution to an extreme point of the optimal face (Barvinok-Pataki purification).

The theorems say m heads reach C* as soon as m >= m*, the rank of SOME optimal Z.  When the optimum is not
unique, interior-point solvers return a point in the relative interior of the optimal face, i.e. of maximal
rank, which overstates m*.  This module moves such a solution to a lower-rank optimum without changing the
objective (docs/theory.md §3: "an optimal Z of rank r with r(r+1)/2 <= N s c + 1 always exists").

Write each nuclear block as Z_p = P_p S_p Q_p^T (its SVD: P_p, Q_p orthonormal, S_p = diag(sigma) >= 0) and each
Frobenius block as Z_p = s_p D_p (|D_p|_F = 1, s_p >= 0; the same form with P_p = vec D_p, Q_p = [1]).  For every S_p >= 0 (PSD), |P_p S_p Q_p^T|_* = tr S_p
exactly, so on the set {S_p >= 0} both the prediction sum_p A_p(P_p S_p Q_p^T) and the penalty beta sum_p tr S_p
are LINEAR in S.  With S_p = R_p R_p^T, a symmetric direction T_p in the null space of

    T -> ( sum_p A_p(P_p R_p T_p R_p^T Q_p^T),  sum_p tr(R_p T_p R_p^T) )

moves S_p -> R_p (I - T_p / lambda) R_p^T, lambda = the largest eigenvalue of the T_p: prediction and penalty are
unchanged (so is the objective), the S_p stay PSD and at least one of them loses rank.  Repeating until the map
is injective ends at an extreme point, where sum_p r_p (r_p + 1) / 2 <= (number of independent constraints)
<= n_outputs + 1.  The result is a lower-rank optimum, not necessarily the lowest-rank one (that is NP-hard in
general); the harness measures minimality separately (the width-necessity observation).
"""

from __future__ import annotations

import numpy as np

from theory.lifted import (Components, LiftedProgram, component_outputs, compose, objective_scale,
                           significant_components)

#: A direction counts as a null direction when it moves the constraints by less than this fraction of the
#: largest singular value of the constraint map (float64 round-off on maps of moderate condition).
NULL_TOL = 1e-10

#: The reduced solution is accepted only if its objective equals the input's to this relative accuracy
#: (float64 round-off of the rotations); otherwise the input is returned unchanged.
OBJECTIVE_TOL = 1e-9


def _constraint_columns(program: LiftedProgram, parts: Components) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """Columns of the map T -> (prediction change, trace change), one per symmetric basis element (p, a, b)."""
    columns, index = [], []
    for p, (block, (P, sigma, Qt)) in enumerate(zip(program.blocks, parts)):
        root = np.sqrt(sigma)
        outputs = component_outputs(block, P, Qt.T)  # A_p(p_a q_b^T)
        for a in range(sigma.size):
            for b in range(a, sigma.size):
                change = root[a] * root[b] * (outputs[:, a, b] + (outputs[:, b, a] if a != b else 0.0))
                columns.append(np.append(change, sigma[a] if a == b else 0.0))
                index.append((p, a, b))
    K = np.array(columns).T
    # scale-free: the prediction rows (of the size of A(Z)) and the trace row (of the size of sigma) can differ by
    # many decades (features over twelve decades: 1e-11 against 10), and NULL_TOL relative to the largest singular
    # value would then count every prediction constraint as null; each part is normalised to unit norm (the same
    # null space in exact arithmetic)
    for rows in (slice(0, -1), slice(-1, None)):
        norm = np.linalg.norm(K[rows])
        K[rows] /= norm if norm > 0 else 1.0
    return K, index


def _step(parts: Components, direction: np.ndarray, index: list[tuple[int, int, int]]) -> Components:
    """S_p -> R_p (I - T_p / lambda_max) R_p^T, re-diagonalised; drops the components that reach zero."""
    T = [np.zeros((sigma.size, sigma.size)) for _, sigma, _ in parts]
    for t, (p, a, b) in zip(direction, index):
        T[p][a, b] = T[p][b, a] = t
    top = max(float(np.linalg.eigvalsh(Tp)[-1]) for Tp in T if Tp.size)
    if top <= 0:
        T, top = [-Tp for Tp in T], max(float(np.linalg.eigvalsh(-Tp)[-1]) for Tp in T if Tp.size)
    reduced = []
    for (P, sigma, Qt), Tp in zip(parts, T):
        root = np.sqrt(sigma)
        S = root[:, None] * (np.eye(sigma.size) - Tp / top) * root[None, :]
        values, W = np.linalg.eigh(0.5 * (S + S.T))
        keep = values > NULL_TOL * max(float(sigma.max(initial=0.0)), np.finfo(float).tiny)
        reduced.append((P @ W[:, keep], values[keep], W[:, keep].T @ Qt))
    return reduced


def reduce_rank(program: LiftedProgram, Zs: list[np.ndarray]) -> list[np.ndarray]:
    """An optimum at an extreme point of the optimal face through Zs, with Zs's objective.

    Zs is first truncated to its significant components (theory.lifted.significant_components); the reduction
    then keeps the objective of the truncated solution to OBJECTIVE_TOL, and the truncated solution is returned
    if it would not (a guard against an ill-conditioned null-space step).
    """
    parts = significant_components(program, Zs)
    truncated = compose(program, parts)
    while any(sigma.size for _, sigma, _ in parts):
        K, index = _constraint_columns(program, parts)
        _, singular, Vt = np.linalg.svd(K, full_matrices=True)
        if K.shape[1] <= int(np.sum(singular > NULL_TOL * singular[0])):
            break
        parts = _step(parts, Vt[-1], index)
    reduced = compose(program, parts)
    before, after = program.objective(truncated), program.objective(reduced)
    return reduced if abs(after - before) <= OBJECTIVE_TOL * objective_scale(program, before) else truncated
