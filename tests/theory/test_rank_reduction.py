"""The rank reduction (theory.rank_reduction) on badly scaled data: a relu-attention draw whose features span many
decades (X from 2e-5 to 6e-4, Y about 2e-11, beta 9e-23; the lifted columns, cubic in X, span twelve decades).

Before the constraint map was normalised part by part, the prediction rows (about 1e-11) sat below NULL_TOL times
the trace row (about 10), every null-space step moved the predictions, the objective check rejected the reduction
and 10 rank-one blocks remained against the extreme-point bound of n + 1 = 5 (the structure witness failed)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from proofs_check import harness
from proofs_check.optimum import find_optimum
from tests.strategies import bind
from theory.lifted import beta_max
from theory.rank_reduction import reduce_rank


def twelve_decades(seed: int = 33):
    """A draw of the structured family (tests/strategies.py) with column scales spread over four decades and the
    data at 1e-3: a rank-1 or rank-2 X, a planted relu-attention target, beta between 1e-3 and 0.5 beta_max."""
    rng = np.random.default_rng([seed, 6])
    N, s, d, c = 2, 2, 2, int(rng.integers(1, 3))
    rank = int(rng.integers(1, 3))
    B = rng.standard_normal((rank, d)) * 10.0 ** rng.uniform(-4, 0, size=d)
    X = (10.0 ** rng.uniform(-3.5, -2.5) * rng.standard_normal((N * s, rank)) @ B).reshape(N, s, d)
    if rng.random() < 0.5:
        X[:, -1] = X[:, 0]
    heads = int(rng.integers(1, 3))
    planted = bind("relu-attention", X, np.zeros((N, s, c)), 1.0, seed)
    F = planted.forward(planted.unpack(rng.standard_normal(planted.n_params(heads)), heads))
    noise = 0.0 if rng.random() < 0.5 else 10 ** rng.uniform(-3, 0)
    Y = F + noise * float(np.sqrt(np.mean(F * F))) * rng.standard_normal(F.shape)
    beta = float(10.0 ** rng.uniform(-3, -0.3) * beta_max(replace(planted.program, target=Y.reshape(-1))))
    return bind("relu-attention", X, Y, beta, seed)


def test_the_reduction_reaches_an_extreme_point_on_twelve_decades():
    theorem = twelve_decades()
    assert np.abs(theorem.X).max() / np.abs(theorem.X[theorem.X != 0]).min() > 10 and np.abs(theorem.Y).max() < 1e-9
    program = theorem.program
    Zs = reduce_rank(program, find_optimum(theorem, "auto").solution.blocks)
    ranks = [np.linalg.matrix_rank(Z, tol=1e-9 * max(np.abs(Z).max(), 1e-300)) if np.any(Z) else 0 for Z in Zs]
    assert sum(r * (r + 1) // 2 for r in ranks) <= program.target.size + 1


def test_the_structure_witness_passes_on_twelve_decades():
    result = harness.verify(twelve_decades(), restarts=1, convex_only=True)
    (structure,) = [check for check in result.checks if check.name == "structure"]
    assert structure.passed, structure
