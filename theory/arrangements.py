"""Activation patterns of attention logits: the cells of a hyperplane arrangement (docs/theory.md §4, "Arrangement").

The logit of query t and key u of sample i is x_{i,t}^T W x_{i,u} = <a_{itu}, vec_r(W)> with a_{itu} =
vec_r(x_{i,t} x_{i,u}^T) in R^{d^2}, so sign(X_i W X_i^T) over all (i, t, u) is the sign vector of W against the
n = N s^2 hyperplanes a_{itu}^T w = 0.  Its open cells are the activation patterns a ReLU attention head can have
(logit = 0 has measure zero); a pattern is stored as a boolean vector over (i, t, u) in row-major order, True
where the logit is >= 0, so pattern.reshape(N, s, s) is the mask D of docs/theory.md §4.

Two ways to get them:
- :func:`enumerate_patterns`: every cell, by incremental enumeration.  The cells after k hyperplanes are split by
  hyperplane k + 1, keeping each side that stays non-empty, decided by a linear program (a cone is non-empty iff
  s_j a_j^T w >= 1 is feasible, by scaling).  It costs about 2 LPs per cell per hyperplane, and an arrangement of n
  central hyperplanes in rank r has at most 2 sum_{k<r} C(n-1, k) cells (Cover, Zaslavsky), so it is affordable
  only for tiny instances: it refuses (InputError) when that bound exceeds EXACT_CELL_LIMIT.
- :func:`sample_patterns`: the distinct patterns of ``count`` Gaussian W drawn from a Generator, for larger
  instances; a subset of the cells, so a program over them is a model on those patterns, not a bound.

The enumeration itself (:func:`enumerate_cells`) is that of any central arrangement.  The ReLU mixer
(docs/theory.md §5.3) uses it for its own arrangement: the pre-activation (W X_i)[t, a] = <w_t, X_i[:, a]> of
row t of the token mixing W, so each row has a cell of the arrangement of the N d columns X_i[:, a] in R^s, and
the pattern of W is the product of its rows' cells (:func:`mixing_patterns`, stored over (i, t, a) row-major).
"""

from __future__ import annotations

from math import comb

import numpy as np
from scipy.optimize import linprog

from theory.data import check_positive_int
from theory.errors import InputError

#: Largest cell-count bound 2 sum_{k<r} C(n-1, k) that exact enumeration accepts (a few seconds of LPs).
EXACT_CELL_LIMIT = 2000


def logit_vectors(X: np.ndarray) -> np.ndarray:
    """a_{itu} = vec_r(x_{i,t} x_{i,u}^T), shape (N s s, d d): logits = logit_vectors(X) @ W.reshape(-1)."""
    N, s, d = X.shape
    return np.einsum("ita,iub->ituab", X, X).reshape(N * s * s, d * d)


def patterns_of(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """The pattern of each W (..., d, d): 1[x_t^T W x_u >= 0] over (i, t, u), shape (..., N s s)."""
    return np.einsum("nk,...k->...n", logit_vectors(X), W.reshape(W.shape[:-2] + (-1,))) >= 0


def mixing_vectors(X: np.ndarray) -> np.ndarray:
    """The columns X_i[:, a] over (i, a), shape (N d, s): (W X_i)[t, a] = mixing_vectors(X)[i d + a] @ W[t]."""
    N, s, d = X.shape
    return np.swapaxes(X, 1, 2).reshape(N * d, s)


def mixing_patterns_of(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """The pattern of each token mixing W (..., s, s): 1[(W X_i)[t, a] >= 0] over (i, t, a), shape (..., N s d)."""
    return (np.einsum("...tu,iua->...ita", W, X) >= 0).reshape(W.shape[:-2] + (-1,))


def mixing_patterns(X: np.ndarray, limit: int = EXACT_CELL_LIMIT) -> np.ndarray:
    """Every pattern of a token mixing W, shape (P, N s d): the cells R of the columns' arrangement
    (:func:`enumerate_cells`) taken row by row, P = |R|^s in row-major order of the rows' cell indices; an
    InputError when P exceeds ``limit``."""
    N, s, d = X.shape
    rows = enumerate_cells(mixing_vectors(X), "token columns").reshape(-1, N, d)  # (R, N, d): cell k's signs
    if len(rows) ** s > limit:
        raise InputError(f"exact enumeration refused: {len(rows)} cells per row of the token mixing, "
                         f"{len(rows)}^{s} = {len(rows) ** s} patterns (limit {limit})")
    index = np.indices((len(rows),) * s).reshape(s, -1).T  # (P, s): the cell of each row
    return np.swapaxes(rows[index], 1, 2).reshape(len(index), -1)  # (P, s, N, d) -> (P, N, s, d)


def cell_bound(vectors: np.ndarray) -> int:
    """2 sum_{k<r} C(n - 1, k): the most cells n central hyperplanes of rank r can have."""
    n, r = len(vectors), int(np.linalg.matrix_rank(vectors))
    return 2 * sum(comb(n - 1, k) for k in range(r)) if n else 1


def _side_is_open(vectors: np.ndarray, signs: np.ndarray) -> bool:
    """Whether {w : signs_j vectors_j^T w > 0 for all j} is non-empty (LP: signs_j vectors_j^T w >= 1)."""
    result = linprog(np.zeros(vectors.shape[1]), A_ub=-(signs[:, None] * vectors), b_ub=-np.ones(len(signs)),
                     bounds=[(None, None)] * vectors.shape[1], method="highs")
    return result.status == 0


def enumerate_patterns(X: np.ndarray) -> np.ndarray:
    """Every activation pattern (open cell) of the logits of X, shape (P, N s s), by incremental LPs."""
    return enumerate_cells(logit_vectors(X), "logits")


def enumerate_cells(vectors: np.ndarray, what: str = "hyperplanes") -> np.ndarray:
    """Every open cell of the central arrangement {w : vectors_j^T w = 0}, as sign patterns (P, n) (True on the
    >= 0 side; a zero vector is on that side for every w), by incremental LPs; ``what`` names the vectors in the
    refusal."""
    bound = cell_bound(vectors)
    if bound > EXACT_CELL_LIMIT:
        raise InputError(f"exact enumeration refused: up to {bound} cells for {len(vectors)} {what} in rank "
                         f"{np.linalg.matrix_rank(vectors)} (limit {EXACT_CELL_LIMIT}); sample patterns instead")
    scale = np.linalg.norm(vectors, axis=1)
    vectors = vectors / np.where(scale > 0, scale, 1.0)[:, None]  # same hyperplanes, better-conditioned LPs
    cells = [np.zeros(0)]
    for k in range(len(vectors)):
        if scale[k] == 0:  # a zero vector (a zero token's logits) is 0 for every w: the >= 0 side, not a hyperplane
            cells = [np.append(cell, 1.0) for cell in cells]
            continue
        kept = scale[:k + 1] > 0
        cells = [np.append(cell, side) for cell in cells for side in (1.0, -1.0)
                 if _side_is_open(vectors[:k + 1][kept], np.append(cell, side)[kept])]
    return np.array(cells) > 0


def sample_patterns(X: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """The distinct patterns of ``count`` standard normal W (first-seen order), shape (P, N s s)."""
    count = check_positive_int(count, "count")
    d = X.shape[2]
    return np.unique(patterns_of(X, rng.standard_normal((count, d, d))), axis=0)
