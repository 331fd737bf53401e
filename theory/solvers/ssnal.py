"""A semismooth Newton augmented Lagrangian method (SSNAL) for the lifted program (C), with a certified stop.

    min_Z  1/2 |sum_p A_p vec_r(Z_p) - y|^2 + beta sum_p R(Z_p)                             (C), docs/theory.md §2

The method of multipliers applied to the dual (D), i.e. the proximal point algorithm on (C) (Rockafellar 1976),
with its inner problems solved by a semismooth Newton method, as in Li, Sun & Toh, "A highly efficient
semismooth Newton augmented Lagrangian method for solving Lasso problems" (SIAM J. Optim. 2018) and Jiang, Sun &
Toh for nuclear-norm problems.  Write (D) as  min_V 1/2|V|^2 - <V, y>  s.t.  A_p^T V = W_p,  R°(W_p) <= beta,
with multipliers Z_p.  Minimising its augmented Lagrangian (penalty sigma) over W leaves, for fixed Z,

    phi(V) = 1/2 |V|^2 - <V, y> + sigma/2 sum_p |S_beta(A_p^T V + Z_p / sigma)|^2,

with S_beta the prox of beta R (theory.regularisers: singular value / block soft-thresholding), so that
grad phi(V) = V - y + sum_p A_p Z_p'  with  Z_p' = sigma S_beta(A_p^T V + Z_p / sigma).  One outer iteration
minimises phi by Newton steps, then sets Z <- Z' and raises sigma (SIGMA0 ...).  The Newton matrix

    I + sigma sum_p A_p J_p A_p^T        (n x n, n = number of outputs)

uses an element J_p of the generalised Jacobian of S_beta (a positive semidefinite operator: the divided
differences of Ding, Sun & Toh for the SVT, theory.regularisers ``jacobian_gram``); n is a few hundred here while Z
has up to 10^6 entries, which is why Newton on V is cheap.  The matrix is formed from the products of the blocks' maps
in the singular-vector basis of the prox argument (only pairs with an active singular value enter), and replaced by
conjugate gradients on products by A_p, J_p and A_p^T above DENSE_NEWTON_MAX outputs (docs/theory.md §9.9).  A step
is accepted by Armijo backtracking on phi (convex, C^1).  The stopping rule is the certificate of theory.lifted, as for FISTA (theory.solvers.fista): status "optimal"
means C(Z) - C* <= eps |C(Z)| with C* bounded below by weak duality, whatever the iteration did.

Two safeguards for the end game, both judged by the same certificate: when the gap is small but stagnates, the one
polishing step of theory.solvers.polishing (``polish_step``) re-solves (C) with the singular subspaces of the
iterate's significant components fixed (a least-squares problem), which removes the round-off that sigma * S_beta
amplifies in Z; and when SSNAL makes no tenfold progress for
STALL_OUTER outer iterations it raises :class:`Stalled` with its best iterate, from which theory.solvers lets FISTA
finish.

The iteration runs on the normalised program of theory.lifted.normalised (|A_p|_2 <= 1, |y| = 1), so the
constants below are scale free; how they were chosen is measured in benchmarks/README.md.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.sparse.linalg import LinearOperator, cg

from theory.errors import InputError, SolverFailure
from theory.lifted import LiftedProgram, certified_gap, normalised
from theory.operators import Stack
from theory.regularisers import Regulariser
from theory.solvers.polishing import polish_step
from theory.solvers.result import DEFAULT_EPS, Solution, check_eps, squared_only

#: Penalty schedule (normalised units, beta' the normalised weight decay): sigma starts at SIGMA0, grows by GROWTH
#: after an outer iteration whose inner loop converged, up to SIGMA_MAX / beta' (one outer iteration moves Z by about
#: sigma beta' where (C) is flat but for the penalty), and shrinks by GROWTH after one that stalled in round-off.
SIGMA0, GROWTH, SIGMA_MAX = 1.0, 5.0, 1e3
#: Beyond SIGMA_MAX / beta', sigma keeps growing (up to STALL_SIGMA_MAX / beta') only while an outer iteration cuts
#: the certified gap by less than the factor STAGNATION (a slow drift along a nearly flat valley of (C)).
STALL_SIGMA_MAX, STAGNATION = 1e8, 0.5
#: The polish is tried after a stagnating outer iteration with a gap below this (subspaces settled).
POLISH_BELOW = 1e-4
#: SSNAL gives up (:class:`Stalled`) after this many outer iterations without a tenfold gain in the best gap.
STALL_OUTER = 50
#: An inner Newton loop has converged when |grad phi| <= INNER_TOL beta': the certificate needs |A^T dV| small
#: against beta', so the tolerance on V scales with it.
INNER_TOL = 1e-6
#: Armijo constant, and the step below which backtracking gives up (near a singular value at the threshold the
#: Newton model of phi holds only over very short steps).
ARMIJO, MIN_STEP = 1e-4, 1e-12
#: Relative round-off of a computed phi (ten ulps).
ROUND_OFF = 10 * np.finfo(float).eps
#: The Newton matrix is formed and factorised up to this many outputs n (8 n^2 bytes: 128 MiB); above, conjugate
#: gradients solve the Newton system with products by A_p, J_p and A_p^T only (memory O(size of Z + data)).
DENSE_NEWTON_MAX = 4096
#: Conjugate gradients stop at this relative residual (an inexact Newton direction; the line search and the
#: certificate judge the step) or after this many products.
CG_RTOL, CG_MAX_ITERATIONS = 1e-10, 1000


#: The blocks of one shape and norm: their indices in the program, their stacked maps, their regulariser.
Group = tuple[list[int], Stack, Regulariser]


def _groups(program: LiftedProgram) -> list[Group]:
    """The blocks of one shape and norm, as one theory.operators.Stack, tall (rows >= cols) for nuclear ones."""
    by_kind: dict[tuple, list[int]] = {}
    for p, block in enumerate(program.blocks):
        by_kind.setdefault((block.shape, block.norm), []).append(p)
    groups = []
    for ((rows, cols), norm), indices in by_kind.items():
        transposed = norm.needs_sdp and rows < cols  # the nuclear norm's Jacobian formula takes tall matrices
        groups.append((indices, Stack([program.blocks[p].operator for p in indices], transposed), norm))
    return groups


class _Augmented:
    """phi, its gradient and the next multipliers Z' at one V, for fixed Z and sigma (module docstring)."""

    def __init__(self, groups: list[Group], y: np.ndarray, beta: float, Z: list[np.ndarray], sigma: float,
                 V: np.ndarray) -> None:
        self.V, self.sigma = V, sigma
        self.value, self.grad = 0.5 * V @ V - V @ y, V - y
        self.next_Z, self.data = [], []
        for (_, stack, norm), Zg in zip(groups, Z):
            shrunk, data = norm.prox(stack.adjoint(V) + Zg / sigma, beta)
            self.value += 0.5 * sigma * float(np.sum(shrunk * shrunk))
            self.grad = self.grad + sigma * stack.apply(shrunk)
            self.next_Z.append(sigma * shrunk)
            self.data.append(data)

    def newton_direction(self, groups: list[Group], beta: float) -> np.ndarray:
        """The solution d of (I + sigma sum_p A_p J_p A_p^T) d = -grad phi: by a dense solve of the formed matrix up
        to DENSE_NEWTON_MAX outputs, by conjugate gradients on the products beyond (docs/theory.md §9.9)."""
        n = self.V.size
        if n > DENSE_NEWTON_MAX:
            def product(v: np.ndarray) -> np.ndarray:
                out = v.copy()
                for (_, stack, norm), data in zip(groups, self.data):
                    out += self.sigma * stack.apply(norm.jacobian_apply(stack.adjoint(v), data, beta))
                return out
            operator = LinearOperator((n, n), matvec=product, dtype=float)
            return cg(operator, -self.grad, rtol=CG_RTOL, maxiter=CG_MAX_ITERATIONS)[0]
        matrix = np.eye(n)
        for (_, stack, norm), data in zip(groups, self.data):
            matrix += self.sigma * norm.jacobian_gram(stack, data, beta)
        return -np.linalg.solve(matrix, self.grad)


def _line_search(state: _Augmented, direction: np.ndarray, at) -> _Augmented | None:
    """Armijo backtracking on phi from ``state`` along ``direction`` (``at(V)`` evaluates phi); None when no step
    down to MIN_STEP passes.  phi is compared up to its round-off, ROUND_OFF |phi|: near the inner solution the
    predicted decrease falls below it and an exact Newton step may raise the computed phi by an ulp (measured).
    """
    slope, step = float(state.grad @ direction), 1.0
    allowance = ROUND_OFF * abs(state.value)
    while step >= MIN_STEP:
        trial = at(state.V + step * direction)
        if trial.value <= state.value + ARMIJO * step * slope + allowance:
            return trial
        step *= 0.5
    return None


def _next_sigma(sigma: float, beta: float, converged: bool, gap: float, previous_gap: float) -> float:
    """The penalty of the next outer iteration (SIGMA0 .. STALL_SIGMA_MAX / beta', see the constants)."""
    if not converged:
        return max(sigma / GROWTH, SIGMA0)
    if sigma < SIGMA_MAX / beta or gap > STAGNATION * previous_gap:
        return min(GROWTH * sigma, STALL_SIGMA_MAX / beta)
    return sigma


def _inner(state: _Augmented, groups: list[Group], y: np.ndarray, beta: float, Z: list[np.ndarray],
           budget: int) -> tuple[_Augmented, int, bool]:
    """Newton steps on phi from ``state`` until |grad phi| <= INNER_TOL beta' (converged), a step fails to
    decrease phi or |grad phi| (round-off: not converged), or ``budget`` steps are spent."""
    taken = 0
    while np.linalg.norm(state.grad) > INNER_TOL * beta:
        if taken >= budget:
            return state, taken, False
        trial = _line_search(state, state.newton_direction(groups, beta),
                             lambda V: _Augmented(groups, y, beta, Z, state.sigma, V))
        taken += 1
        if trial is None or not (trial.value < state.value or np.linalg.norm(trial.grad) < np.linalg.norm(state.grad)):
            return trial or state, taken, False
        state = trial
    return state, taken, True


def _blocks(program: LiftedProgram, groups: list[Group], Z: list[np.ndarray], back: float) -> list[np.ndarray]:
    blocks: list[np.ndarray] = [np.empty(0)] * len(program.blocks)
    for (indices, stack, _), Zg in zip(groups, Z):
        for p, Zp in zip(indices, Zg):
            blocks[p] = back * (Zp.T if stack.transposed else Zp)
    return blocks


class Stalled(SolverFailure):
    """SSNAL ran out of budget or stagnated; ``blocks`` is its iterate with the smallest certified gap."""

    def __init__(self, message: str, blocks: list[np.ndarray]) -> None:
        super().__init__(message)
        self.blocks = blocks


def solve_ssnal(program: LiftedProgram, eps: float = DEFAULT_EPS, max_seconds: float = 600.0,
                max_iterations: int = 2000, start: list[np.ndarray] | None = None) -> Solution:
    """Solve (C) by SSNAL until the certified relative gap is <= eps (module docstring), from the multipliers Z = 0
    and V = y, or from Z = ``start`` and its residual V = y - A(Z) (proximal Newton's previous iterate).

    ``max_iterations`` bounds Newton steps plus outer iterations.  Raises :class:`Stalled` (a SolverFailure
    stating the gap reached, carrying the best iterate) when a budget runs out or when STALL_OUTER outer
    iterations in a row did not improve the best certified gap tenfold.
    """
    refusal = squared_only(program, "SSNAL")
    if refusal is not None:
        raise InputError(refusal)
    check_eps(eps)
    began = time.perf_counter()
    scaled, back = normalised(program)
    groups = _groups(scaled)
    y, beta = scaled.target, scaled.beta
    if start is None:
        Z, V = [np.zeros((len(indices), *stack.shape)) for indices, stack, _ in groups], y.copy()
    else:  # the multipliers at the start point (normalised units), the dual point at its residual
        Z = [np.stack([(start[p].T if stack.transposed else start[p]) / back for p in indices])
             for indices, stack, _ in groups]
        V = y - sum(stack.apply(Zg) for (_, stack, _), Zg in zip(groups, Z))
    sigma, steps, outer, previous_gap = SIGMA0, 0, 0, np.inf
    best, best_gap, mark = program.zeros(), np.inf, (np.inf, 0)  # mark: (gap, outer) of the last tenfold gain
    while True:
        state, taken, converged = _inner(_Augmented(groups, y, beta, Z, sigma, V), groups, y, beta, Z,
                                         max_iterations - steps - outer)
        steps += taken
        Z, V, outer = state.next_Z, state.V, outer + 1
        blocks = _blocks(program, groups, Z, back)
        value, gap = certified_gap(program, blocks)
        stagnating = eps < gap <= POLISH_BELOW and gap > STAGNATION * previous_gap
        better = polish_step(program, blocks, gap) if stagnating else None
        polished = better is not None
        if polished:
            blocks, value, gap = better
        seconds = time.perf_counter() - began
        if gap <= eps:
            return Solution(blocks, value, gap, "PROX-SSNAL", "optimal", seconds,
                            {"method": "ssnal", "eps": eps, "newton_steps": steps, "outer_iterations": outer,
                             "sigma": sigma, "polished": polished})
        if gap < best_gap:
            best, best_gap = blocks, gap
        if best_gap <= 0.1 * mark[0]:
            mark = (best_gap, outer)
        if steps + outer >= max_iterations or seconds > max_seconds or outer - mark[1] >= STALL_OUTER:
            raise Stalled(f"SSNAL stopped at certified relative gap {best_gap:.2e} > eps {eps:.0e} after "
                          f"{seconds:.1f} s, {outer} outer iterations and {steps} Newton steps", best)
        sigma = _next_sigma(sigma, beta, converged, gap, previous_gap)
        previous_gap = gap
