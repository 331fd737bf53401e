"""The exact dual norm of a ReLU unit's atoms, by enumeration of the faces of its arrangement (docs/theory.md §4.4,
§5.3): ReLU attention's logits, and the ReLU mixer's pre-activations.

Generically: a ReLU unit with first layer u (unit norm, in R^D) and output weights W2 (d x c) writes
<f, G> = sum_j relu(a_j^T u) <W2, b_j(G)> against an output direction G, with normals a_j (the pre-activations are
a_j^T u) and responses b_j(G) in R^{dc}; the theorem supplies both (``normals``, ``responses``).  For ReLU
attention (the case below) a head (W1, W2) with u = vec_r(W1) writes <f, G> = sum_j relu(a_j^T u)
<W2, x_{u_j} G_{t_j}^T> against a direction G (N, s, c) of the outputs, with a_j = vec_r(x_{i,t} x_{i,t'}^T) the logit vectors of
theory.arrangements and b_j = vec_r(x_{i,t'} G_{i,t}^T) in R^{dc}, j = (i, t, t').  So the dual constraint of the
exact program of ReLU attention (docs/theory.md §4.4) is

    rho(G) = max_{|u| = 1} |B^T relu(A u)|  <=  beta,                                                       (O)

a maximum of a piecewise quadratic function over the unit sphere of R^{d^2}.  On the closure of a face F of the
arrangement (zero set T, signs sigma_j off T) it is |M_F^T u| with M_F = sum_{sigma_j = +} a_j b_j^T, because the
logits of T vanish on span F = null(A_T).  A maximiser u* lies in the relative interior of some face and is a local
maximum of |M_F^T u|^2 on the unit sphere of span F, hence a top left singular vector of Q_F^T M_F (Q_F an
orthonormal basis of span F: the Rayleigh quotient has no other local maxima).  Hence

    rho(G) = max over faces F whose top singular vector (or its negative) lies in the closure of F of
             sigma_max(Q_F^T M_F),

an exact finite maximum.  Every face is a cell of the arrangement restricted to a flat null(A_T) (T closed: every
a_j in span A_T belongs to T), and its signs off T are those of any cell whose closure contains it, so the
candidates (flat T, signs of cell p off T) over all flats and all cells (theory.arrangements.enumerate_cells)
contain every face.  A candidate that is not a face does no harm: its singular vector is kept only when it lies in
the candidate's closed set, which is inside the closure of cell p, where |M_F^T u| is the true value.

Round-off: a singular vector is accepted inside its closed set up to MEMBERSHIP_TOL on the normalised margins, and
a candidate whose top singular value is tied (within TIE_TOL) with the next, and whose singular vector fails the
test, still counts with its top value (another vector of the tied space may lie inside): the oracle's value is
then an upper bound, which keeps every certificate built on it valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import numpy as np

from theory.arrangements import enumerate_cells

#: A singular vector u lies in a closed face set when sigma_j a_j^T u / |a_j| >= -MEMBERSHIP_TOL off T (|u| = 1).
MEMBERSHIP_TOL = 1e-10
#: Two singular values are tied when the second is within this fraction of the first.
TIE_TOL = 1e-9
#: The rank of a set of logit vectors is decided by singular values above this fraction of the largest.
RANK_TOL = 1e-10


def flats(normals: np.ndarray) -> list[np.ndarray]:
    """Every flat of the arrangement below full rank, as a closed index set T (boolean over the rows of
    ``normals``): the empty set, then closure(T + {j}) level by level up to rank r - 1 (r the rank of all rows).
    Zero rows (a zero token's logits) belong to every flat."""
    scale = np.linalg.norm(normals, axis=1)
    unit = normals / np.where(scale > 0, scale, 1.0)[:, None]
    zero = scale == 0
    full = _rank(unit[~zero])

    def closure(T: np.ndarray) -> np.ndarray:
        rows = unit[T & ~zero]
        if not len(rows):
            return zero.copy()
        _, s, Vt = np.linalg.svd(rows, full_matrices=False)
        span = Vt[s > RANK_TOL * s[0]]
        residual = np.linalg.norm(unit - (unit @ span.T) @ span, axis=1)
        return (residual <= 1e-8) | zero

    level = [zero.copy()]
    found = {zero.tobytes(): zero.copy()}
    for rank in range(1, full):
        grown = {}
        for T in level:
            for j in np.flatnonzero(~T):
                flat = closure(T | (np.arange(len(T)) == j))
                grown.setdefault(flat.tobytes(), flat)
        level = [flat for key, flat in grown.items() if key not in found]
        found.update(grown)
    return list(found.values())


def _rank(rows: np.ndarray) -> int:
    if not len(rows):
        return 0
    s = np.linalg.svd(rows, compute_uv=False)
    return int(np.sum(s > RANK_TOL * s[0]))


@dataclass(frozen=True)
class FaceGroup:
    """Candidate faces of one dimension k: orthonormal bases of their spans, their signs and masks."""

    basis: np.ndarray  # (F, D, k): Q_F
    signs: np.ndarray  # (F, n) in {-1, 0, 1}: 0 on the flat's index set T
    masks: np.ndarray  # (F, n): 1 where the sign is +


@dataclass(frozen=True)
class OracleValue:
    """rho(G) of (O), the maximiser u (unit, in the closure of its face) and the values of every candidate."""

    value: float  # an upper bound on rho(G), equal to it unless a tie was unresolved (module docstring)
    direction: np.ndarray  # (D,) the maximiser among the accepted candidates
    attained: float  # |B^T relu(A u)| at ``direction`` (a lower bound on rho(G))
    candidates: list[tuple[float, np.ndarray]]  # (value, u) of the accepted candidates, best first


class ConeOracle:
    """Program (O) for the normals a_j (n, D) and the responses G -> B (n, dc) of a theorem's ReLU unit: the faces
    are enumerated once, every evaluation is batched SVDs.

    ``cells``: the open cells (patterns, theory.arrangements) when the caller has them already (a theorem enumerates
    them for its relaxation).  ``groups``: the candidate faces themselves (a test weakens the oracle by dropping
    some)."""

    def __init__(self, normals: np.ndarray, responses: Callable[[np.ndarray], np.ndarray],
                 cells: np.ndarray | None = None, groups: tuple[FaceGroup, ...] | None = None) -> None:
        self.normals = np.asarray(normals, dtype=float)
        self.responses = responses
        self.unit_normals = self.normals / np.maximum(np.linalg.norm(self.normals, axis=1), 1e-300)[:, None]
        self._cells = cells
        if groups is not None:
            self.__dict__["groups"] = groups

    @cached_property
    def groups(self) -> tuple[FaceGroup, ...]:
        """The candidate faces (module docstring), deduplicated, grouped by dimension."""
        cells = enumerate_cells(self.normals) if self._cells is None else self._cells
        cells = np.where(cells, 1, -1).astype(np.int8)
        D = self.normals.shape[1]
        by_dim: dict[int, tuple[list, list]] = {}
        for T in flats(self.normals):
            _, s, Vt = np.linalg.svd(self.normals[T], full_matrices=True) if T.any() else (None, np.zeros(0), np.eye(D))
            rank = int(np.sum(s > RANK_TOL * s[0])) if s.size else 0
            Q = Vt[rank:].T  # (D, k): null(A_T)
            signs = np.unique(np.where(T, 0, cells), axis=0)
            bases, rows = by_dim.setdefault(Q.shape[1], ([], []))
            bases.extend([Q] * len(signs))
            rows.append(signs)
        groups = []
        for k, (bases, rows) in sorted(by_dim.items()):
            signs = np.concatenate(rows)
            groups.append(FaceGroup(np.array(bases), signs, (signs > 0).astype(float)))
        return tuple(groups)

    @property
    def face_count(self) -> int:
        return int(sum(len(g.signs) for g in self.groups))

    def head_inner(self, u: np.ndarray, G: np.ndarray) -> np.ndarray:
        """B^T relu(A u) (dc,): the inner products of the head (u, E_ae) with G, for every unit W2 = E_ae."""
        return self.responses(G).T @ np.maximum(self.normals @ u, 0.0)

    def __call__(self, G: np.ndarray, keep: int = 1) -> OracleValue:
        """rho(G) of (O) and the ``keep`` best accepted candidates (distinct faces)."""
        B = self.responses(G)
        best, values, vectors = 0.0, [], []
        for group in self.groups:
            M = np.einsum("fj,jD,jk->fDk", group.masks, self.normals, B, optimize=True)
            R = np.einsum("fDq,fDk->fqk", group.basis, M, optimize=True)
            U, s, _ = np.linalg.svd(R, full_matrices=False)
            top = s[:, 0]
            u = np.einsum("fDq,fq->fD", group.basis, U[:, :, 0])
            margins = np.einsum("fj,jD,fD->fj", group.signs, self.unit_normals, u)
            plus = margins.min(axis=1) >= -MEMBERSHIP_TOL  # u in the closed set (margins are 0 on T)
            minus = margins.max(axis=1) <= MEMBERSHIP_TOL  # -u in it
            inside = plus | minus
            tied = (s[:, 1] >= (1 - TIE_TOL) * top) if s.shape[1] > 1 else np.zeros(len(top), dtype=bool)
            counted = top[inside | tied]
            best = max([best] + ([float(counted.max())] if counted.size else []))
            values.append(top[inside])
            vectors.append(np.where(plus[:, None], u, -u)[inside])
        values, vectors = np.concatenate(values), np.concatenate(vectors)
        if not values.size:
            return OracleValue(best, np.zeros(self.normals.shape[1]), 0.0, [])
        order = np.argsort(-values)
        direction = vectors[order[0]] / np.linalg.norm(vectors[order[0]])
        attained = float(np.linalg.norm(self.head_inner(direction, G)))
        return OracleValue(best, direction, attained, _distinct(values[order], vectors[order], keep))


def _distinct(values: np.ndarray, vectors: np.ndarray, keep: int) -> list[tuple[float, np.ndarray]]:
    """The first ``keep`` candidates (sorted best first) whose directions differ (the same u is found on a face and
    on the candidates that repeat it)."""
    chosen: list[tuple[float, np.ndarray]] = []
    for value, u in zip(values, vectors):
        u = u / np.linalg.norm(u)
        if all(abs(float(u @ w)) < 1 - 1e-9 for _, w in chosen):
            chosen.append((float(value), u))
        if len(chosen) == keep:
            break
    return chosen


def sampled_maximum(oracle: ConeOracle, G: np.ndarray, samples: int, rng: np.random.Generator) -> float:
    """max |B^T relu(A u)| over ``samples`` uniform unit u, then refined by ascent within each best sample's face:
    a lower bound on rho(G) that brute force reaches from below (the oracle's test)."""
    D = oracle.normals.shape[1]
    u = rng.standard_normal((samples, D))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    B = oracle.responses(G)
    values = np.linalg.norm(np.maximum(u @ oracle.normals.T, 0.0) @ B, axis=1)
    best = float(values.max())
    for start in u[np.argsort(values)[-20:]]:
        best = max(best, _ascend(oracle.normals, B, start))
    return best


def _ascend(A: np.ndarray, B: np.ndarray, u: np.ndarray, steps: int = 200) -> float:
    """Power iteration on the quadratic of u's own pattern, kept while it stays inside that pattern's closure:
    every iterate is a unit vector, so every value is attained."""
    value = float(np.linalg.norm(B.T @ np.maximum(A @ u, 0.0)))
    mask = (A @ u > 0).astype(float)
    M = A.T @ (mask[:, None] * B)
    for _ in range(steps):
        step = M @ (M.T @ u)
        if not np.linalg.norm(step):
            break
        trial = step / np.linalg.norm(step)
        trial_value = float(np.linalg.norm(B.T @ np.maximum(A @ trial, 0.0)))
        if trial_value <= value:
            break
        u, value = trial, trial_value
    return value
