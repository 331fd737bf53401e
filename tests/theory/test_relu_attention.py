"""`relu-attention` and theory.arrangements beyond the generic tests (gradients, lifted map, weak duality and the
claimed witnesses run for every theorem): the enumeration is complete and every pattern is realised, big
instances are refused, heads in their cones turn the lower bound into the network's objective, and the CLI
reports which program was solved.

Tolerances: float64 round-off of two evaluations of the same sums, 1e-12 relative.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog

from tests.tolerances import ROUND_OFF
from theory.arrangements import cell_bound, enumerate_patterns, logit_vectors, patterns_of, sample_patterns
from theory.errors import InputError
from theory.relu_attention import ReLUAttention



def _interior_point(vectors: np.ndarray, pattern: np.ndarray) -> np.ndarray:
    hyperplanes = np.any(vectors != 0, axis=1)  # a zero token's logits are 0 for every W, on the >= 0 side
    vectors, signs = vectors[hyperplanes], np.where(pattern[hyperplanes], 1.0, -1.0)
    result = linprog(np.zeros(vectors.shape[1]), A_ub=-(signs[:, None] * vectors), b_ub=-np.ones(len(signs)),
                     bounds=[(None, None)] * vectors.shape[1], method="highs")
    assert result.status == 0
    return result.x


@pytest.mark.parametrize("seed, zero_token", [(0, False), (1, False), (2, False), (3, True)])
def test_enumeration_is_complete_and_every_pattern_is_realised(seed, zero_token):
    X = np.random.default_rng(seed).standard_normal((2, 2, 2))
    X[0, 1] *= not zero_token  # found by the fuzz test: a zero token once left no pattern at all
    patterns = enumerate_patterns(X)
    assert 1 <= len(np.unique(patterns, axis=0)) == len(patterns) <= cell_bound(logit_vectors(X))
    for pattern in patterns:  # an LP interior point has exactly this pattern
        W = _interior_point(logit_vectors(X), pattern).reshape(2, 2)
        assert np.array_equal(patterns_of(X, W), pattern)
    sampled = sample_patterns(X, 20000, np.random.default_rng(seed + 10))
    assert {p.tobytes() for p in sampled} <= {p.tobytes() for p in patterns}


def test_large_instances_are_refused_with_the_cell_bound():
    X = np.random.default_rng(0).standard_normal((6, 4, 3))
    with pytest.raises(InputError, match="exact enumeration refused"):
        enumerate_patterns(X)


def test_a_head_in_its_cone_attains_the_relaxation():
    """One head of pattern p: its lifting sits in block p only, and the gated program there computes the ReLU
    network exactly (the tightness argument of docs/theory.md §4, checked on the data)."""
    rng = np.random.default_rng(3)
    theorem = ReLUAttention(rng.standard_normal((2, 2, 2)), rng.standard_normal((2, 2, 1)), 0.1)
    W1, W2 = rng.standard_normal((1, 2, 2)), rng.standard_normal((1, 2, 1))
    blocks = theorem.lift_weights([W1, W2])
    active = [p for p, Z in enumerate(blocks) if np.any(Z)]
    assert active == list(theorem.pattern_index(W1))
    F = theorem.forward([W1, W2]).reshape(-1)
    assert np.allclose(theorem.program.predict(blocks), F, rtol=0, atol=ROUND_OFF * np.abs(F).max())
    value = theorem.program.objective(blocks)
    assert value <= theorem.objective(theorem.pack([W1, W2]), 1) * (1 + ROUND_OFF)


def test_cli_reports_the_relaxation(cli):
    rng = np.random.default_rng(4)
    data = cli.npz("relu.npz", X=rng.standard_normal((2, 2, 2)), Y=rng.standard_normal((2, 2, 1)))
    result = cli.run("verify", "relu-attention", "--data", data, "--restarts", "3", json=True)
    assert result.code == 0
    report = result.json
    assert report["patterns"] == len(enumerate_patterns(np.load(data)["X"]))
    assert "lower bound" in report["program"]
    # the blocks' ranks (heads recovered per pattern) are the structure witness's ranks (from the singular values)
    assert {b["pattern"]: b["rank"] for b in report["blocks"]} == {
        p: rank for p, rank in enumerate(report["structure"]["ranks"]) if rank}
    claims = report["checks"]
    assert not claims["zero_gap"]["claim"] and not claims["recovery"]["claim"]
    assert claims["weak_duality"]["passed"] and report["best_primal"] >= report["lower_bound"]
