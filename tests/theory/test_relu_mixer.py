"""`relu-mixer` beyond the generic tests (gradients, the reference transcription, weak duality, known answers and
the claimed witnesses run for every theorem): the patterns are exactly the products of the rows' cells, their
number is Cover's count, large instances are refused, a unit in its cone turns the lower bound into the network's
objective, and the CLI reports which program was solved.

Tolerances: float64 round-off of two evaluations of the same sums, ROUND_OFF relative.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog

from tests.tolerances import ROUND_OFF
from theory.arrangements import mixing_patterns, mixing_patterns_of, mixing_vectors
from theory.errors import InputError
from theory.relu_mixer import ReLUMixer


def _row_in_cell(vectors: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """A row w with sign(<w, v_k>) = signs_k on every non-zero column v_k (LP: signs_k <w, v_k> >= 1)."""
    used = np.any(vectors != 0, axis=1)  # a zero column's pre-activation is 0 for every w, on the >= 0 side
    result = linprog(np.zeros(vectors.shape[1]), A_ub=-(signs[used, None] * vectors[used]), b_ub=-np.ones(used.sum()),
                     bounds=[(None, None)] * vectors.shape[1], method="highs")
    assert result.status == 0
    return result.x


@pytest.mark.parametrize("seed, zero_column", [(0, False), (1, False), (2, True)])
def test_every_pattern_is_realised_and_sampling_finds_no_other(seed, zero_column):
    X = np.random.default_rng(seed).standard_normal((2, 2, 2))
    X[1, :, 0] *= not zero_column
    N, s, d = X.shape
    patterns = mixing_patterns(X)
    assert len(np.unique(patterns, axis=0)) == len(patterns)
    for pattern in patterns:  # each row of W from its own LP: the product structure, built independently
        D = pattern.reshape(N, s, d)
        W = np.array([_row_in_cell(mixing_vectors(X), np.where(D[:, t].reshape(-1), 1.0, -1.0)) for t in range(s)])
        assert np.array_equal(mixing_patterns_of(X, W), pattern)
    W = np.random.default_rng(seed + 10).standard_normal((20000, s, s))
    assert {p.tobytes() for p in mixing_patterns_of(X, W)} <= {p.tobytes() for p in patterns}


def test_the_pattern_count_is_covers_count_per_row():
    """n columns in general position in R^2 cut the plane into 2 n cells (Cover), so s = 2 rows give (2 n)^2
    patterns: a count no enumeration of ours produced."""
    for seed, (N, d) in enumerate([(2, 2), (3, 2), (2, 3)]):
        X = np.random.default_rng(seed).standard_normal((N, 2, d))
        assert len(mixing_patterns(X)) == (2 * N * d) ** 2


def test_large_instances_are_refused_with_the_count():
    X = np.random.default_rng(0).standard_normal((2, 3, 2))  # 4 columns in R^3: 14 cells per row, 14^3 patterns
    with pytest.raises(InputError, match=r"14\^3 = 2744 patterns"):
        ReLUMixer(X, np.zeros((2, 3, 1)), 0.1).patterns


def test_a_unit_in_its_cone_attains_the_relaxation():
    """One unit of pattern p: its lifting sits in block p only, and the gated program there computes the ReLU
    mixer exactly (docs/theory.md §5.3), at a regulariser no larger than the weight decay."""
    rng = np.random.default_rng(3)
    theorem = ReLUMixer(rng.standard_normal((2, 2, 2)), rng.standard_normal((2, 2, 1)), 0.1)
    W1, W2 = rng.standard_normal((1, 2, 2)), rng.standard_normal((1, 2, 1))
    blocks = theorem.lift_weights([W1, W2])
    assert [p for p, Z in enumerate(blocks) if np.any(Z)] == list(theorem.pattern_index(W1))
    F = theorem.forward([W1, W2]).reshape(-1)
    assert np.allclose(theorem.program.predict(blocks), F, rtol=0, atol=ROUND_OFF * np.abs(F).max())
    assert theorem.program.objective(blocks) <= theorem.objective(theorem.pack([W1, W2]), 1) * (1 + ROUND_OFF)


def test_cli_reports_the_relaxation(cli):
    rng = np.random.default_rng(4)
    data = cli.npz("mixer.npz", X=rng.standard_normal((2, 2, 2)), Y=rng.standard_normal((2, 2, 1)))
    result = cli.run("verify", "relu-mixer", "--data", data, "--restarts", "3", json=True)
    assert result.code == 0
    report = result.json
    assert report["patterns"] == 64 and report["program"].startswith("gated relaxation over all 64 realisable")
    inside, units = map(int, report["heads_in_cone"].split("/"))
    assert 0 <= inside <= units == sum(block["rank"] for block in report["blocks"])
    assert report["passed"] and not report["checks"]["zero_gap"]["claim"]
