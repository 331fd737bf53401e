"""`mlp-mixer` and `fno` beyond the generic tests (gradients, lifted map, witnesses run for every theorem): the
networks against their definitions, FNO's circulant form against its FFT form, and the Fourier-domain identities
of docs/theory.md §6 under our convention (numpy.fft, norm="ortho").

Tolerances: float64 round-off of two evaluations of the same sums (FFTs included), 1e-12 relative.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.tolerances import ROUND_OFF
import theory
from theory.fno import FNO, circulant_unfolding, fourier_blocks
from theory.lifted import TRUNCATION_TOL
from theory.mlp_mixer import MLPMixer

shapes = st.tuples(st.integers(1, 4), st.integers(1, 6), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3))


def _draw(cls, shape, seed=0):
    N, s, d, c, m = shape
    rng = np.random.default_rng(seed)
    theorem = cls(rng.standard_normal((N, s, d)), rng.standard_normal((N, s, c)), 0.1)
    return theorem, theorem.unpack(rng.standard_normal(theorem.n_params(m)), m)


def _close(a, b):
    np.testing.assert_allclose(a, b, rtol=0, atol=ROUND_OFF * max(np.abs(b).max(), 1.0))


@given(shape=shapes)
def test_mixer_is_token_mixing_then_channel_mixing(shape):
    theorem, (W1, W2) = _draw(MLPMixer, shape)
    expected = np.stack([sum(W1[j] @ X @ W2[j] for j in range(len(W1))) for X in theorem.X])
    _close(theorem.forward([W1, W2]), expected)


def test_gated_mixer_is_masked_token_mixing_then_channel_mixing():
    from theory.gated_relu_mixer import GatedReLUMixer

    rng = np.random.default_rng(3)
    theorem = GatedReLUMixer.from_arrays({"X": rng.standard_normal((3, 4, 2)), "Y": rng.standard_normal((3, 4, 2))},
                                         0.1, 0, gates=2)
    W1, W2 = theorem.unpack(rng.standard_normal(theorem.n_params(2)), 2)
    expected = np.stack([sum(((H @ X >= 0) * (W1[p, j] @ X)) @ W2[p, j] for p, H in enumerate(theorem.H)
                             for j in range(2)) for X in theorem.X])
    _close(theorem.forward([W1, W2]), expected)


@given(shape=shapes)
def test_fno_circulant_form_equals_fft_form_and_definition(shape):
    theorem, (K, w) = _draw(FNO, shape)
    s = theorem.dims["s"]
    circulant = lambda k: np.stack([np.roll(k, t) for t in range(s)], axis=1)  # first column k
    expected = np.stack([sum(np.outer(sum(circulant(K[j][:, a]) @ X[:, a] for a in range(X.shape[1])), w[j])
                             for j in range(len(K))) for X in theorem.X])
    _close(theorem.forward([K, w]), expected)
    _close(theorem.forward_fft([K, w]), expected)


@given(shape=shapes)
def test_fourier_blocks_keep_the_nuclear_norm_and_diagonalise_the_prediction(shape):
    """|Z_hat|_* = |Z|_* and fft(C(X) Z)[omega] = sqrt(s) x_hat_omega^T Z_hat_omega (unitary DFT)."""
    theorem, _ = _draw(FNO, shape)
    N, s, d = theorem.X.shape
    Z = np.random.default_rng(1).standard_normal((s * d, theorem.dims["c"]))
    hat = fourier_blocks(Z, s)
    assert np.linalg.svd(hat.reshape(s * d, -1), compute_uv=False).sum() == pytest.approx(
        np.linalg.svd(Z, compute_uv=False).sum(), rel=ROUND_OFF)
    prediction = circulant_unfolding(theorem.X) @ Z
    x_hat = np.fft.fft(theorem.X, axis=1, norm="ortho")
    _close(np.fft.fft(prediction, axis=1, norm="ortho"), np.sqrt(s) * np.einsum("iwa,wac->iwc", x_hat, hat))


def test_fno_reports_the_frequencies_of_its_solution():
    from proofs_check.harness import verify

    theorem = FNO(*FNO.default_data(np.random.default_rng(0)))
    result = verify(theorem, restarts=3, seed=0)
    assert result.passed
    rows = result.extras["frequencies"]
    assert [row["omega"] for row in rows] == list(range(theorem.dims["s"]))
    assert all(row["rank"] <= result.rank for row in rows) and result.extras["used_frequencies"]


def test_compare_puts_the_architectures_on_the_same_data(cli):
    result = cli.run("compare", json=True)
    assert result.code == 0
    rows = {row["theorem"]: row for row in result.json}
    # without --data, compare fits every architecture to linear-attention's default data of seed 0
    Y = theory.get("linear-attention").default_data(np.random.default_rng(0))[1]
    assert {"linear-attention", "convex-attention", "mlp-mixer", "fno"} <= set(rows)
    baseline = [name for name in rows if name.startswith("softmax-attention")]
    assert len(baseline) == 1 and np.isnan(rows[baseline[0]]["certified_gap"])  # non-convex: no certificate
    refused = [name for name, row in rows.items() if row["refused"]]  # the exact ReLU programs: too large here
    assert sorted(refused) == ["relu-attention", "relu-mixer"]
    for name, row in rows.items():
        if name in baseline + refused:
            continue
        # the relative fit |F - Y| / |Y| and the squared loss 1/2 |F - Y|^2 at the same F, against the data's own |Y|
        assert row["relative_fit"] == pytest.approx(np.sqrt(2 * row["loss"]) / np.linalg.norm(Y), rel=ROUND_OFF), name
        # loss and beta R are evaluated at the rank-reduced solution, C* at the solver's: the reduction keeps the
        # objective within TRUNCATION_TOL (theory.lifted), so their sum must reproduce C* to that accuracy
        assert abs(row["loss"] + row["penalty"] - row["optimum"]) <= 2 * TRUNCATION_TOL * row["optimum"], name
