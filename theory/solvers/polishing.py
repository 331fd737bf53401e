"""Polish: re-solve (C) with the singular subspaces of a near-optimal point fixed (docs/theory.md §9).

With Z_p = P_p diag(sigma_p) Q_p^T (its regulariser's components, theory.regularisers: the SVD, or vec Z / |Z|_F for
a Frobenius block) and M_p symmetric positive definite, R(P_p M_p Q_p^T) = tr M_p.  So (C) restricted to
Z_p = P_p M_p Q_p^T is a smooth problem in the entries m of the M_p,

    min_m  l(B m) + beta c^T m,

with B the columns A_p vec(P_p E Q_p^T) over the basis E_ij = e_i e_j^T + e_j e_i^T (i < j), e_i e_i^T of symmetric
matrices and c their traces.  Newton's method solves it from m = diag(sigma) (one step for the squared loss, whose
restricted problem is least squares).  A solver's point is then exact up to float64 round-off wherever its
subspaces are right; whether they were is decided by the certificate, since :func:`polish_step` keeps the polished
point only if its certified gap is smaller.

:func:`polish_step` is the one polishing step of the package: the subspaces are those of the significant components
of the point (theory.lifted.significant_components, the one notion of a component that counts), and theory.solvers
applies it to any method's solution certified above eps; SSNAL applies it when its gap stagnates (docs/theory.md §9.5).
"""

from __future__ import annotations

import numpy as np

from theory.lifted import Components, LiftedProgram, certified_gap, component_outputs, significant_components

#: Newton iterations at most; a step may raise the objective by ten ulps (round-off of its evaluation).
NEWTON_STEPS, ROUND_OFF = 50, 10 * np.finfo(float).eps


def _face(program: LiftedProgram, parts: Components) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """B (n, k), the traces c (k,), the start m0 = diag(sigma) (k,) and each block's (P, Q, index) layout."""
    columns, traces, start, layout = [], [], [], []
    for block, (P, sigma, Qt) in zip(program.blocks, parts):
        Q, r = Qt.T, sigma.size
        reduced = component_outputs(block, P, Q)  # A_p(P e_i e_j^T Q^T)
        upper = np.triu_indices(r)
        diagonal = upper[0] == upper[1]
        columns.append((reduced + reduced.transpose(0, 2, 1))[:, upper[0], upper[1]] / np.where(diagonal, 2.0, 1.0))
        traces.append(diagonal.astype(float))
        start.append(np.where(diagonal, sigma[upper[0]], 0.0))
        layout.append((P, Q, upper))
    return np.hstack(columns), np.concatenate(traces), np.concatenate(start), layout


def _objective(program: LiftedProgram, B: np.ndarray, c: np.ndarray, m: np.ndarray) -> float:
    return program.loss_value(B @ m) + program.beta * float(c @ m)


def _gradient_and_hessian(program: LiftedProgram, B: np.ndarray, c: np.ndarray,
                          m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = (-1, program.classes)
    F, target = (B @ m).reshape(rows), program.target.reshape(rows)
    Bk = B.reshape(-1, program.classes, B.shape[1])  # (rows, c, k)
    grad = B.T @ program.loss.gradient(F, target).reshape(-1) + program.beta * c
    return grad, np.einsum("rck,rcd,rdl->kl", Bk, program.loss.hessian(F, target), Bk)


def _newton(program: LiftedProgram, B: np.ndarray, c: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Damped Newton on l(B m) + beta c^T m (lstsq for the possibly singular Newton system), until the gradient
    stops shrinking: the certificate needs the point to round-off, not only its objective."""
    value = _objective(program, B, c, m)
    grad, hessian = _gradient_and_hessian(program, B, c, m)
    for _ in range(NEWTON_STEPS):
        step = -np.linalg.lstsq(hessian, grad, rcond=None)[0]
        for scale in 0.5 ** np.arange(30):
            trial = _objective(program, B, c, m + scale * step)
            if trial <= value + ROUND_OFF * abs(value):
                break
        else:
            return m
        new_grad, new_hessian = _gradient_and_hessian(program, B, c, m + scale * step)
        if not np.linalg.norm(new_grad) < np.linalg.norm(grad):
            return m
        m, value, grad, hessian = m + scale * step, trial, new_grad, new_hessian
    return m


def polish(program: LiftedProgram, parts: Components) -> list[np.ndarray]:
    """The point of (C) restricted to the subspaces of ``parts`` (per block: P, sigma, Q^T) found by Newton.

    tr M_p is the nuclear norm only while M_p is positive semidefinite: when Newton ends with a negative eigenvalue
    (a component that the optimum does not use), that eigen-direction is dropped and the smaller face re-solved.
    """
    while True:
        B, c, m0, layout = _face(program, parts)
        if B.shape[1] == 0:
            return program.zeros()
        m = _newton(program, B, c, m0)
        matrices, k = [], 0
        for P, Q, upper in layout:
            M = np.zeros((P.shape[1],) * 2)
            M[upper] = m[k:k + len(upper[0])]
            k += len(upper[0])
            matrices.append(M + np.triu(M, 1).T)
        eigen = [np.linalg.eigh(M) for M in matrices]
        if all(values.min(initial=0.0) >= 0 for values, _ in eigen):
            return [(P @ M @ Q.T).reshape(block.shape)
                    for block, M, (P, Q, _) in zip(program.blocks, matrices, layout)]
        parts = [(P @ W[:, values > 0], values[values > 0], (Q @ W[:, values > 0]).T)
                 for (values, W), (P, Q, _) in zip(eigen, layout)]


def polish_step(program: LiftedProgram, blocks: list[np.ndarray],
                gap: float) -> tuple[list[np.ndarray], float, float] | None:
    """The point ``blocks`` (certified gap ``gap``) polished in the subspaces of its significant components, with its
    objective and certified gap, when that gap is smaller than ``gap``; None otherwise."""
    candidate = polish(program, significant_components(program, blocks))
    value, polished_gap = certified_gap(program, candidate)
    return (candidate, value, polished_gap) if polished_gap < gap else None
