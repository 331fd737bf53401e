"""Instances of program (C) whose optimum is known by construction, for every theorem (docs/theory.md §11).

Every other witness compares two computations of this package with each other.  Here the optimum C* and a
solution Z* are fixed first and the target y is built around them, so a solver, the restarts or a recovery map
can be held against a number that no solver of ours produced.  No convex solver is called in this module.

Program (C) with the squared loss (docs/theory.md §2):

    C* = min_Z  1/2 |A(Z) - y|^2 + beta sum_p |Z_p|_*,        A(Z) = sum_p A_p vec_r(Z_p).

**Optimality (KKT).**  Z* is optimal iff the residual V = y - A(Z*) satisfies A_p^T V in beta d|Z_p*|_* for every
block p.  The subdifferential of the nuclear norm at Z = U Sigma W^T (thin SVD, rank r) is
{U W^T + R : U^T R = 0, R W = 0, |R|_2 <= 1}, and at Z = 0 it is the spectral-norm ball {|M|_2 <= 1}.  So, with
the block shapes fixed by the theorem and the data X,

    A_p^T V = beta (U W^T + R),  U^T R = 0,  R W = 0,  |R|_2 <= 1,     |A_q^T V|_2 <= beta  (q != p)     (K)

make Z_p* = U Sigma W^T (other blocks 0) optimal for the target y = A(Z*) + V, and its value is

    C* = 1/2 |V|^2 + beta tr Sigma,

because <A_p^T V, Z_p*> = beta tr Sigma by (K), and the dual objective <V, y> - 1/2 |V|^2 = 1/2 |V|^2 + <V, A(Z*)>
equals the same number (zero gap: the certificate of theory.lifted bounds C* from below by exactly C*).  The
blocks A_p depend on X (and the gates H) only, never on y, so y is free to be chosen this way.

**(a) Rank one** (:func:`rank_one`).  Draw V, take the block p with the largest |A_p^T V|_2 and scale V so that
this maximum is beta.  The top singular pair (u, w) of A_p^T V then satisfies (K) with R = the rest of its SVD
divided by beta, and Z_p* = sigma u w^T for any sigma > 0.

**(b) Rank r** (:func:`planted_rank`).  Take U, W as the top-r singular vectors of A_p^T V0 for a drawn V0.
Conditions (K) without the inequalities are linear in V: P_T(A_p^T V) = beta U W^T, with P_T the orthogonal
projection onto the tangent space T = {U M^T + N W^T} of the rank-r matrices at Z_p* (dim r (rows + cols - r)).
With B an orthonormal basis of T, L = B^T A_p^T; when A_p is injective on T (smallest singular value lambda_T of
A_p B positive) L is onto, and V = L^+(beta B^T vec(U W^T)) + t (I - L^+ L) V0 solves them for every t: the
least-norm solution plus a seeded component of the null space.  Then R = P_{T-perp}(A_p^T V) / beta and the other
blocks are checked: (K) holds when |R|_2 < 1 and |A_q^T V|_2 < beta.  A few values of t and of the draw are tried;
when none passes, the construction refuses (InputError).

**Uniqueness and width.**  When (K) holds strictly (margin rho_max = max(|R|_2, max_q |A_q^T V|_2 / beta) < 1)
and lambda_T > 0, Z* is the unique solution, so m* = r heads are needed.  For any Z,

    C(Z) - C* = 1/2 |A(Z - Z*)|^2 + sum_q (beta |Z_q|_* - <A_q^T V, Z_q>)

(expand the square with y = A(Z*) + V and use <A^T V, Z*> = beta |Z*|_*), and the second sum is at least
beta (1 - rho_max) x with x = |P_{T-perp}(Z_p)|_* + sum_{q != p} |Z_q|_*.  If Z_p has rank <= r - 1 (a network
with m* - 1 heads), Eckart-Young gives |Z_p - Z_p*|_F >= sigma_r, so its T-part has norm >= sqrt(sigma_r^2 - x^2)
and |A(Z - Z*)| >= lambda_T sqrt(sigma_r^2 - x^2) - kappa x, kappa = max_q |A_q|_2.  Hence every such network lies
at least

    g = min_{x >= 0} max( beta (1 - rho_max) x,  1/2 (lambda_T sqrt((sigma_r^2 - x^2)_+) - kappa x)_+^2 )

above C* (``narrow_gap``, 0 when Z* is not known to be unique; for r = 1 the narrower network is Z = 0 and the
gap is exactly 1/2 |y|^2 - C*).

**(c) Closed form for `linear-mlp`** (:func:`linear_mlp_closed_form`).  Stack the samples, X in R^{Ns x d} with
X^T X = I (orthonormal design, :func:`orthonormal_design`).  Since y splits into X X^T Y and its orthogonal
complement, 1/2 |X Z - Y|^2 = 1/2 |Z - X^T Y|^2 + 1/2 |Y|^2 - 1/2 |X^T Y|^2 (Pythagoras; |X M| = |M| because
X^T X = I).  The remaining problem min_Z 1/2 |Z - B|^2 + beta |Z|_*, B = X^T Y, is the prox of the nuclear norm:
singular value thresholding Z* = sum_r (s_r - beta)_+ p_r q_r^T on the SVD B = sum_r s_r p_r q_r^T, and per
singular value it costs min_{z >= 0} 1/2 (z - s)^2 + beta z = h(s), h(s) = beta s - beta^2 / 2 if s > beta, else
s^2 / 2.  So

    C* = 1/2 |Y|^2 - 1/2 |X^T Y|^2 + sum_r h(s_r).

This needs neither (K) nor a drawn dual point: an independent known answer.  It is unique (the prox is strongly
convex), and by von Neumann's trace inequality the best Z of rank k - 1 keeps the top k - 1 shrunk values, so a
network with one head fewer than the k = m* active ones pays exactly 1/2 z_k^2 more, z_k = s_k - beta the smallest
non-zero shrunk value.

**(e) Cross-entropy** (:func:`cross_entropy_rank_one`).  For l(F; T) = sum_rows logsumexp(f) - <t, f> with
probability rows t, the optimality condition of (C) reads the same with the dual point V = -grad l(F*) =
T - softmax(F*) (docs/theory.md §1).  So: draw W with zero row sums, take the block p maximising |A_p^T W|_2 and
its top pair (u, w), fix F* = A(sigma u w^T) for a chosen sigma, and set V = eps W and T = softmax(F*) + V, with eps
small enough that T >= 0 (half the largest admissible value; T's rows sum to 1 because W's sum to 0).  Then
beta = eps |A_p^T W|_2 makes (K) hold exactly as in (a), and C* = sum_rows [logsumexp(f*) - <t, f*>] + beta sigma in
closed form: no solver, and the targets are soft labels (a one-hot T cannot be reached this way).

**(d) A relaxation attains its bound** (:func:`in_cone`).  The program of a relaxation (``exact = False``:
relu-attention, relu-attention-fc) is the gated program over all activation patterns, a lower bound on the ReLU
network (docs/theory.md §4, §8.7).  When the rank-one Z_p*
of (a) is the lifting of one head (W1, W2) whose logits have exactly pattern p (W1 in the cone of p, up to the sign
(u, w) -> (-u, -w) that leaves Z_p* unchanged), that ReLU head computes A_p(Z_p*) with weight decay sigma, so the
ReLU network attains C*: the bound is tight and C* is the ReLU optimum.  Draws of V are repeated until the top
pair of the maximising block lies in its cone, or the construction refuses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import null_space
from scipy.optimize import brentq

from theory.base import Factors, Theorem
from theory.errors import InputError
from theory.lifted import LiftedProgram
from theory.losses import CROSS_ENTROPY, SQUARED
from theory.regularisers import NUCLEAR

#: A dual norm within this fraction of beta counts as attaining it (a tie: Z* need not be unique there).  SVDs are
#: accurate to ~1e-15 relative, so 1e-6 separates genuine ties from round-off by nine orders.
STRICT = 1e-6
#: A_p counts as injective on the tangent space T when lambda_T exceeds this fraction of |A_p B|_2 (float64
#: round-off of the SVD of A_p B, ~1e-16 relative, with margin).
INJECTIVE = 1e-10
#: The equality part of (K) must hold to this (kkt_residual), so that C* = C(Z*) exceeds the optimum by at most
#: about KKT_TOL beta tr Sigma (a draw whose least-norm solve is too ill-conditioned for it is skipped).
KKT_TOL = 1e-12
#: Multiples t of the unit null-space component tried in (b), in order (0 = the least-norm dual point).
NULL_WEIGHTS = (0.0, 0.1, 0.3, 1.0)


@dataclass(frozen=True)
class KnownAnswer:
    """A theorem bound to (X, y, beta) whose program (C) has the known solution ``blocks`` and optimum C*."""

    theorem: Theorem
    blocks: list[np.ndarray]  # Z_p*
    optimum: float  # C* = 1/2 |V|^2 + beta tr Sigma (or the closed form (c))
    factors: Factors  # per block the pairs (sqrt(sigma_k) u_k, sqrt(sigma_k) w_k), sum_k u_k w_k^T = Z_p*
    heads: int  # m* = theorem.heads_needed(factors)
    margin: float  # rho_max of (K); < 1 - STRICT means strict
    unique: bool  # strict and lambda_T > 0: Z* is the only solution, m* heads are necessary
    narrow_gap: float  # every network with m* - 1 heads lies at least this far above C* (module docstring)


def _require_nuclear(program: LiftedProgram, loss=SQUARED) -> None:
    """Nuclear-norm blocks, or blocks of one column or row, where the Frobenius norm is the nuclear norm (the group
    lasso of the read-out theorems, docs/theory.md §8.10), and the given loss."""
    if any(block.norm != NUCLEAR and min(block.shape) != 1 for block in program.blocks) or program.loss != loss:
        raise InputError(f"this known answer is built for nuclear-norm blocks and the {loss.name} loss")


def tangent_basis(U: np.ndarray, W: np.ndarray) -> np.ndarray:
    """An orthonormal basis (as columns acting on vec_r) of T = {U M^T + N W^T}, the tangent space of the rank-r
    matrices at U Sigma W^T: the vec_r(u_i e_j^T) and vec_r(f_k w_i^T), f_k an orthonormal basis of U-perp."""
    return np.hstack([np.kron(U, np.eye(len(W))), np.kron(null_space(U.T), W)])


def _tangent_injectivity(program: LiftedProgram, p: int, U: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """B = tangent_basis(U, W), A_p B and lambda_T = the smallest singular value of A_p B (0 when below INJECTIVE)."""
    B = tangent_basis(U, W)
    AB = program.blocks[p].matrix @ B
    singular = np.linalg.svd(AB, compute_uv=False)
    full = AB.shape[0] >= AB.shape[1] and singular[-1] > INJECTIVE * singular[0]
    return B, AB, float(singular[-1]) if full else 0.0


def kkt_residual(program: LiftedProgram, V: np.ndarray, p: int, U: np.ndarray, W: np.ndarray, beta: float) -> float:
    """The equality part of (K): max(|U^T M - beta W^T|, |M W - beta U|) / beta with M = A_p^T V (0 when it holds)."""
    M = program.adjoint(V)[p]
    return float(max(np.abs(U.T @ M - beta * W.T).max(), np.abs(M @ W - beta * U).max())) / beta


def _margin(program: LiftedProgram, V: np.ndarray, p: int, U: np.ndarray, W: np.ndarray, beta: float) -> float:
    """rho_max of (K): max(|P_U-perp (A_p^T V) P_W-perp|_2, max_{q != p} |A_q^T V|_2) / beta (U, W with their
    twins when the block has a symmetry, theory.lifted.Block.twin)."""
    adjoints = program.adjoint(V)
    twin = program.blocks[p].twin
    if twin is not None:  # the twins of the top pairs attain the same value by symmetry: not a tie that matters
        U, W = np.linalg.qr(np.hstack([U, twin[0] @ U]))[0], np.linalg.qr(np.hstack([W, twin[1] @ W]))[0]
    normal = adjoints[p] - U @ (U.T @ adjoints[p])
    normal = normal - (normal @ W) @ W.T
    norms = [np.linalg.norm(normal, 2)] + [np.linalg.norm(M, 2) for q, M in enumerate(adjoints) if q != p]
    return float(max(norms)) / beta


def narrow_gap_bound(program: LiftedProgram, p: int, lambda_T: float, margin: float, sigma_r: float) -> float:
    """g of the module docstring: every Z whose block p has rank < r lies at least g above C*."""
    if lambda_T <= 0 or margin >= 1:
        return 0.0
    a = program.beta * (1.0 - margin)
    kappa = max(block.operator.spectral_norm() for block in program.blocks)
    fit = lambda x: 0.5 * max(lambda_T * np.sqrt(max(sigma_r**2 - x * x, 0.0)) - kappa * x, 0.0) ** 2
    x0 = lambda_T * sigma_r / np.hypot(lambda_T, kappa)  # where the fit term reaches 0
    crossing = brentq(lambda x: a * x - fit(x), 0.0, x0, xtol=1e-15 * sigma_r, rtol=1e-15)
    return a * crossing


def _answer(theorem: Theorem, p: int, U: np.ndarray, sigma: np.ndarray, W: np.ndarray, V: np.ndarray, beta: float,
            margin: float, lambda_T: float) -> KnownAnswer:
    """Assemble the record for Z_p* = U diag(sigma) W^T and the dual point V satisfying (K)."""
    program = theorem.program
    blocks = program.zeros()
    blocks[p] = (U * sigma) @ W.T
    y = program.predict(blocks) + V
    bound = theorem.rebind(beta, y)
    factors: Factors = [[] for _ in blocks]
    factors[p] = [(np.sqrt(s) * U[:, k], np.sqrt(s) * W[:, k]) for k, s in enumerate(sigma)]
    optimum = 0.5 * float(V @ V) + beta * float(sigma.sum())
    unique = margin < 1 - STRICT and lambda_T > 0
    if sigma.size == 1:
        narrow = 0.5 * float(y @ y) - optimum
    else:
        narrow = narrow_gap_bound(bound.program, p, lambda_T, margin, float(sigma.min())) if unique else 0.0
    return KnownAnswer(bound, blocks, optimum, factors, bound.heads_needed(factors), margin, unique, narrow)


def _signal_scale(program: LiftedProgram, p: int, Z: np.ndarray, V: np.ndarray, signal: float) -> float:
    """The factor that makes |A_p(Z)| = signal |V| (planted output comparable to the residual)."""
    size = np.linalg.norm(program.blocks[p].operator.apply(Z))
    if size == 0:
        raise InputError("the planted block has no effect on the outputs (A_p(Z) = 0)")
    return signal * float(np.linalg.norm(V)) / float(size)


def _rank_one_draw(theorem: Theorem, rng: np.random.Generator, beta: float):
    """One draw of (a): V scaled so that max_p |A_p^T V|_2 = beta, the maximising block p and its top pair."""
    draw = _rank_one_draw_from(theorem.program, rng.standard_normal(theorem.program.target.size))
    if draw is None:
        return None
    p, U, W, unit, margin = draw
    return p, U, W, beta * unit, margin


def rank_one(theorem: Theorem, rng: np.random.Generator, beta: float = 1.0, signal: float = 1.0,
             attempts: int = 20, accept=None) -> KnownAnswer:
    """(a): a known answer with one active block of rank one, m* = 1 (the module docstring).

    ``theorem`` is bound to the data X (and gates); its Y fixes only the output width c.  V is redrawn until (K)
    holds strictly (no tie of the top singular value within the block or with another block) and ``accept(p, factors)``
    (if given) agrees; after ``attempts`` draws the construction refuses (InputError).  sigma makes
    |A(Z*)| = signal |V|.
    """
    program = theorem.program
    _require_nuclear(program)
    best = np.inf
    for _ in range(attempts):
        draw = _rank_one_draw(theorem, rng, beta)
        if draw is None:
            continue
        p, U, W, V, margin = draw
        best = min(best, margin)
        sigma = np.array([_signal_scale(program, p, U @ W.T, V, signal)])
        factors = [[] for _ in program.blocks]
        factors[p] = [(np.sqrt(sigma[0]) * U[:, 0], np.sqrt(sigma[0]) * W[:, 0])]
        if margin < 1 - STRICT and (accept is None or accept(p, factors)):
            lambda_T = _tangent_injectivity(program, p, U, W)[2]
            return _answer(theorem, p, U, sigma, W, V, beta, margin, lambda_T)
    raise InputError(f"no strict rank-one known answer for {theorem.name} in {attempts} draws "
                     f"(best margin {best:.3g}{'' if accept is None else ', or none accepted'})")


def planted_rank(theorem: Theorem, rank: int, rng: np.random.Generator, beta: float = 1.0, signal: float = 1.0,
                 attempts: int = 20) -> KnownAnswer:
    """(b): a known answer whose only active block has rank ``rank`` (m* = rank heads), unique by construction.

    Per draw: V0, the block p whose rank-th singular value of A_p^T V0 is largest, U, W its top singular vectors,
    then V solving the linear part of (K) (least norm plus t times the unit null-space component of V0, t in
    NULL_WEIGHTS, the first strict one kept).  Singular values of Z_p* are spread as linspace(1, 0.5, rank) (distinct,
    so the SVD of Z* is unique up to signs), scaled so that |A(Z*)| = signal |V|.  Refuses (InputError) when no draw
    gives a strict, unique answer.
    """
    program = theorem.program
    _require_nuclear(program)
    best = np.inf
    for _ in range(attempts):
        V0 = rng.standard_normal(program.target.size)
        adjoints = program.adjoint(V0)
        spectra = [np.linalg.svd(M, compute_uv=False) for M in adjoints]
        if max(len(s) for s in spectra) < rank:
            raise InputError(f"{theorem.name}: no block has rank {rank} available (block shapes too small)")
        p = int(np.argmax([s[rank - 1] if len(s) >= rank else -1.0 for s in spectra]))
        Uf, _, Wt = np.linalg.svd(adjoints[p])
        U, W = Uf[:, :rank], Wt[:rank].T
        B, AB, lambda_T = _tangent_injectivity(program, p, U, W)
        if lambda_T == 0:
            continue
        Q, _, _ = np.linalg.svd(AB, full_matrices=False)  # range of A_p B; L^+ L = Q Q^T on V
        least_norm = np.linalg.lstsq(AB.T, beta * B.T @ (U @ W.T).reshape(-1), rcond=None)[0]
        free = V0 - Q @ (Q.T @ V0)
        free *= np.linalg.norm(least_norm) / max(float(np.linalg.norm(free)), np.finfo(float).tiny)
        for t in NULL_WEIGHTS:
            V = least_norm + t * free
            margin = _margin(program, V, p, U, W, beta)
            best = min(best, margin)
            if margin < 1 - STRICT and kkt_residual(program, V, p, U, W, beta) <= KKT_TOL:
                profile = np.linspace(1.0, 0.5, rank)
                sigma = profile * _signal_scale(program, p, (U * profile) @ W.T, V, signal)
                return _answer(theorem, p, U, sigma, W, V, beta, margin, lambda_T)
    raise InputError(f"no strict rank-{rank} known answer for {theorem.name} in {attempts} draws "
                     f"(best margin {best:.3g})")


def in_cone(theorem: Theorem, rng: np.random.Generator, beta: float = 1.0, signal: float = 1.0,
                 attempts: int = 40) -> KnownAnswer:
    """(d): a rank-one known answer of `relu-attention` whose head lies in its pattern's cone, so the ReLU network
    recovered from the known factors attains C* (the relaxation is tight on this instance)."""
    if not hasattr(theorem, "recovered_in_cones"):
        raise InputError(f"{theorem.name} has no activation patterns; in_cone is for the relaxations (exact = False)")
    return rank_one(theorem, rng, beta, signal, attempts, accept=lambda p, factors: theorem.recovered_in_cones(factors))


def cross_entropy_rank_one(theorem: Theorem, rng: np.random.Generator, logit_scale: float = 1.0,
                           attempts: int = 20) -> KnownAnswer:
    """(e): a rank-one known answer for the cross-entropy loss with soft targets (module docstring); ``theorem`` is
    bound to its data X (and gates) with the cross-entropy loss, its targets fixing only the rows and classes.
    sigma makes the largest logit of F* equal ``logit_scale``, so that softmax(F*) stays away from 0 and eps (hence
    beta) from underflow."""
    program = theorem.program
    _require_nuclear(program, CROSS_ENTROPY)
    rows = (-1, program.classes)
    best = np.inf
    for _ in range(attempts):
        W = rng.standard_normal(rows[1] * (program.target.size // rows[1])).reshape(rows)
        W -= W.mean(axis=1, keepdims=True)  # zero row sums: T = softmax + eps W keeps rows in the simplex
        draw = _rank_one_draw_from(program, W.reshape(-1))
        if draw is None:
            continue
        p, U, Wt, direction, margin = draw
        best = min(best, margin)
        if margin >= 1 - STRICT:
            continue
        blocks = program.zeros()
        blocks[p] = U @ Wt.T
        unit = float(np.abs(program.predict(blocks)).max())
        if unit == 0:
            continue
        sigma = logit_scale / unit
        blocks[p] = sigma * blocks[p]
        F = program.predict(blocks).reshape(rows)
        P = np.exp(F - F.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        negative = direction.reshape(rows) < 0
        eps = 0.5 * float(np.min(P[negative] / -direction.reshape(rows)[negative]))
        V = eps * direction
        T = P + V.reshape(rows)
        beta = eps * float(np.linalg.svd(program.adjoint(direction)[p], compute_uv=False)[0])
        bound = theorem.rebind(beta, T)
        factors: Factors = [[] for _ in blocks]
        factors[p] = [(np.sqrt(sigma) * U[:, 0], np.sqrt(sigma) * Wt[:, 0])]
        optimum = bound.program.loss_value(F.reshape(-1)) + beta * sigma
        return KnownAnswer(bound, blocks, optimum, factors, bound.heads_needed(factors), margin, True, 0.0)
    raise InputError(f"no strict rank-one cross-entropy known answer for {theorem.name} in {attempts} draws "
                     f"(best margin {best:.3g})")


def _rank_one_draw_from(program: LiftedProgram, V: np.ndarray):
    """The block p maximising |A_p^T V|_2, its top pair (U, W) and (K)'s margin for V scaled to unit dual norm;
    None when V reaches no block."""
    adjoints = program.adjoint(V)
    p = int(np.argmax([np.linalg.norm(M, 2) for M in adjoints]))
    Uf, s, Wt = np.linalg.svd(adjoints[p])
    if s[0] == 0:
        return None
    return p, Uf[:, :1], Wt[:1].T, V / s[0], _margin(program, V / s[0], p, Uf[:, :1], Wt[:1].T, 1.0)


def orthonormal_design(N: int, s: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """X (N, s, d) whose stacked (N s, d) matrix has orthonormal columns (X^T X = I); needs N s >= d."""
    if N * s < d:
        raise InputError(f"an orthonormal design needs N s >= d, got N s = {N * s} < d = {d}")
    Q, _ = np.linalg.qr(rng.standard_normal((N * s, d)))
    return Q.reshape(N, s, d)


def linear_mlp_closed_form(theorem: Theorem) -> KnownAnswer:
    """(c): C* and Z* of `linear-mlp` by singular value thresholding, for a design with X^T X = I (stacked)."""
    if theorem.name != "linear-mlp":
        raise InputError(f"the closed form (c) is for linear-mlp, not {theorem.name}")
    N, s, d = theorem.X.shape
    X, Y, beta = theorem.X.reshape(N * s, d), theorem.Y.reshape(N * s, -1), theorem.beta
    if np.abs(X.T @ X - np.eye(d)).max() > 1e-12:  # float64 round-off of a QR factor's Gram matrix is ~1e-15
        raise InputError("the closed form needs an orthonormal design: stacked X^T X = I")
    P, s_values, Qt = np.linalg.svd(X.T @ Y, full_matrices=False)
    shrunk = np.maximum(s_values - beta, 0.0)
    cost = np.where(s_values > beta, beta * s_values - 0.5 * beta**2, 0.5 * s_values**2)
    optimum = 0.5 * float(np.sum(Y * Y)) - 0.5 * float(np.sum(s_values**2)) + float(cost.sum())
    active = shrunk > 0
    factors: Factors = [[(np.sqrt(z) * P[:, k], np.sqrt(z) * Qt[k]) for k, z in enumerate(shrunk) if active[k]]]
    narrow = 0.5 * float(shrunk[active].min()) ** 2 if active.any() else 0.0
    margin = float(s_values[~active].max(initial=0.0)) / beta  # A^T V = B - Z*: singular values min(s_r, beta)
    return KnownAnswer(theorem, [(P * shrunk) @ Qt], optimum, factors, theorem.heads_needed(factors), margin, True,
                       narrow)
