"""`convex-attention` ([E22], docs/theory.md §8) beyond the generic tests (gradients, lifted map, witnesses run for every
theorem): the network against its definition, simplex rows, one-hot recovery, token sparsity in the report, and
the regularisation path's exact monotonicity facts with tolerances derived from the certified gaps.

Tolerances: float64 round-off of two evaluations of the same sums, 1e-12 relative.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proofs_check.optimum import find_optimum
from proofs_check.studies.path import regularisation_path
from tests.tolerances import ROUND_OFF, WITNESS
from theory.convex_attention import ConvexAttention



def _theorem(seed: int = 0, beta: float = 1.0, shape=(5, 3, 2, 2)) -> ConvexAttention:
    N, s, d, c = shape
    rng = np.random.default_rng(seed)
    return ConvexAttention(rng.standard_normal((N, s, d)), rng.standard_normal((N, s, c)), beta)


def test_forward_is_the_definition_with_simplex_rows():
    theorem = _theorem()
    B, V, W = theorem.unpack(np.random.default_rng(1).standard_normal(theorem.n_params(3)), 3)
    A = theorem.attention_rows(B)
    assert np.all(A >= 0) and np.allclose(A.sum(axis=-1), 1.0, rtol=0, atol=ROUND_OFF)
    expected = np.zeros(theorem.Y.shape)
    for i, X in enumerate(theorem.X):
        for t in range(X.shape[0]):
            for k in range(3):
                expected[i, t] += (A[t, k] @ X @ V[t, k]) * W[t, k]
    np.testing.assert_allclose(theorem.forward([B, V, W]), expected, rtol=0, atol=ROUND_OFF * np.abs(expected).max())


def test_attention_rows_carry_no_weight_decay():
    theorem = _theorem()
    theta = np.random.default_rng(2).standard_normal(theorem.n_params(2))
    B, V, W = theorem.unpack(theta, 2)
    assert theorem.weight_decay(theta, 2) == pytest.approx(0.5 * (np.sum(V**2) + np.sum(W**2)), rel=ROUND_OFF)


def test_recovered_heads_attend_to_one_token():
    theorem = _theorem(seed=3, beta=0.5)
    optimum = find_optimum(theorem)
    factors = optimum.factors
    B, V, W = optimum.weight_list
    A = theorem.attention_rows(B)
    used = np.linalg.norm(V, axis=-1) > 0
    assert np.all(np.isin(A[used], [0.0, 1.0])) and np.all(A[used].sum(axis=-1) == 1.0)
    s = theorem.dims["s"]
    for t in range(s):  # head k of row t reads key argmax a_tk, the key of the block it came from
        keys = [key for key in range(s) for _ in factors[t * s + key]]
        assert list(np.argmax(A[t][used[t]], axis=-1)) == keys


@settings(deadline=None)
@given(seed=st.integers(0, 2**32 - 1), N=st.integers(2, 6), s=st.integers(2, 4), d=st.integers(1, 3),
       c=st.integers(1, 2))
def test_regularisation_path_is_monotone_within_the_certified_gaps(seed, N, s, d, c):
    theorem = _theorem(seed, 1.0, (N, s, d, c))
    path = regularisation_path(theorem, points=6)
    assert path[-1].active_blocks == 0 and path[-1].regulariser == 0.0  # beta_max: Z* = 0
    assert path[-2].active_blocks >= 1  # below beta_max the optimum is not zero
    for low, high in zip(path, path[1:]):
        slack = (low.absolute_gap + high.absolute_gap) / (high.beta - low.beta)
        assert low.regulariser - high.regulariser >= -slack
        assert high.loss - low.loss >= -(low.beta * slack + low.absolute_gap)


def test_cli_reports_active_tokens(cli):
    theorem = _theorem(seed=4, beta=2.0)
    data = cli.npz(X=theorem.X, Y=theorem.Y)
    result = cli.run("verify", "convex-attention", "--data", data, "--beta", "2", json=True)
    assert result.code == 0
    report = result.json
    assert report["passed"] and report["relative_gap"] <= WITNESS
    keys = {pair["key"] for pair in report["active_pairs"]}
    assert report["active_tokens"] == sorted(keys)
    assert sum(pair["rank"] for pair in report["active_pairs"]) == sum(report["structure"]["ranks"])
    path = cli.run("path", "convex-attention", "--data", data, "--points", "4", json=True)
    assert path.code == 0
    assert len(path.json) == 4


def test_softmax_baseline_gradient_matches_central_differences():
    """The non-convex baseline of `compare` (proofs_check.studies.models.softmax_attention): analytic gradient vs
    central differences, h = 1e-6 (truncation ~1e-12, round-off ~1e-10 relative), agreement to 1e-6 relative."""
    from proofs_check.studies.models.softmax_attention import SoftmaxAttention

    rng = np.random.default_rng(5)
    baseline = SoftmaxAttention(rng.standard_normal((4, 3, 2)), rng.standard_normal((4, 3, 2)), 0.3, 3)
    theta = rng.standard_normal(baseline.n_params)
    value, grad = baseline.value_and_gradient(theta)
    for _ in range(3):
        e = rng.standard_normal(theta.size)
        numeric = (baseline.value_and_gradient(theta + 1e-6 * e)[0]
                   - baseline.value_and_gradient(theta - 1e-6 * e)[0]) / 2e-6
        assert numeric == pytest.approx(grad @ e, rel=1e-6, abs=1e-8 * abs(value))
