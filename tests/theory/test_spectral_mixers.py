"""`fno-modes` and `afno` beyond the generic tests (gradients, reference transcription, known answers and witnesses run
for every theorem): their FFT forms, the complex programs of docs/theory.md §6.2-§6.3 transcribed independently in
cvxpy, the reduction |W|_* = |Z(W)|_* at the optimum, the modes the optimum uses, and the options.

Tolerances: ROUND_OFF (1e-12 relative) for two float64 evaluations of the same sums; solver agreement within the sum
of the two certified gaps (Clarabel's solution of the real form is accepted at ACCEPT_GAP = 1e-7, the cvxpy
transcription is held to the same); the reduction holds at an exact optimum, so at a certified one it holds to the
certified gap times C* / (beta |W|_*) (the regulariser is part of the objective).
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.tolerances import ROUND_OFF
from theory.afno import AFNO
from theory.errors import InputError
from theory.fno_modes import FNOModes
from theory.spectral import complex_rows
from theory.solvers import ACCEPT_GAP, solve
from theory.spectral import complex_reading, phase_twin

shapes = st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3))


def _theorem(N, s, d, c, seed=0, modes=None, beta=0.1):
    rng = np.random.default_rng(seed)
    return FNOModes(rng.standard_normal((N, s, d)), rng.standard_normal((N, s, c)), beta, modes)


@given(shape=shapes, data=st.data())
def test_the_features_form_is_numpys_rfft_then_irfft(shape, data):
    N, s, d, c, m = shape
    theorem = _theorem(N, s, d, c, modes=data.draw(st.integers(1, s // 2 + 1)))
    weights = theorem.unpack(np.random.default_rng(1).standard_normal(theorem.n_params(m)), m)
    expected = theorem.forward_fft(weights)
    np.testing.assert_allclose(theorem.forward(weights), expected, rtol=0,
                               atol=ROUND_OFF * max(np.abs(expected).max(), 1.0))


def test_the_phase_twin_leaves_every_block_unchanged():
    theorem = _theorem(3, 5, 2, 3)
    J_row, J_col = phase_twin(2, 3)
    W = np.random.default_rng(2).standard_normal((4, 6))
    np.testing.assert_allclose(complex_reading(J_row @ W @ J_col.T), complex_reading(W), rtol=0, atol=ROUND_OFF)
    for block in theorem.program.blocks:
        np.testing.assert_allclose(block.operator.apply(J_row @ W @ J_col.T), block.operator.apply(W), rtol=0,
                                   atol=ROUND_OFF * np.abs(block.operator.apply(W)).max())


def _complex_program(theorem) -> float:
    """min 1/2 |irfft(x_hat^T Z) - Y|^2 + beta R(Z) over complex channel maps, the prediction built from numpy's irfft
    applied to unit spectra (nothing of theory.spectral): fno-modes one Z_omega per kept mode (real at the
    self-conjugate modes), R = sum_omega |Z_omega|_*; afno one block-diagonal Z for every mode, R = sum_b |Z_b|_*."""
    X, Y = theorem.X, theorem.Y
    N, s, d = X.shape
    c = Y.shape[-1]
    x_hat = np.fft.rfft(X, axis=1, norm="ortho")
    if isinstance(theorem, AFNO):
        b = theorem.channel_blocks
        D, C = d // b, c // b
        parts = [cp.Variable((D, C), complex=True) for _ in range(b)]
        shared = cp.bmat([[parts[p] if p == q else np.zeros((D, C)) for q in range(b)] for p in range(b)])
        maps = [shared] * theorem.modes
    else:
        parts = [cp.Variable((d, c)) if w == 0 or 2 * w == s else cp.Variable((d, c), complex=True)
                 for w in range(theorem.modes)]
        maps = parts
    prediction = 0
    for w, Z in enumerate(maps):
        real = w == 0 or 2 * w == s
        unit = np.zeros(s // 2 + 1, dtype=complex)
        unit[w] = 1.0
        cosine = np.fft.irfft(unit, n=s, norm="ortho")  # the output of a unit real spectrum at mode w
        unit[w] = 1j
        sine = np.fft.irfft(unit, n=s, norm="ortho")  # ... of a unit imaginary one (zero at a self-conjugate mode)
        for i in range(N):
            y_hat = x_hat[i, w] @ Z  # (c,)
            term = np.outer(cosine, np.ones(c)) @ cp.diag(cp.real(y_hat))
            if not real:
                term = term + np.outer(sine, np.ones(c)) @ cp.diag(cp.imag(y_hat))
            prediction = prediction + cp.vec(term, order="C") @ np.kron(np.eye(N)[i], np.eye(s * c))
    loss = 0.5 * cp.sum_squares(prediction - Y.reshape(-1))
    problem = cp.Problem(cp.Minimize(loss + theorem.beta * sum(cp.normNuc(Z) for Z in parts)))
    problem.solve(solver=cp.CLARABEL)
    return float(problem.value)


@pytest.mark.parametrize("s, modes", [(4, 3), (4, 2), (5, 3), (6, 2)])
def test_the_complex_program_has_the_optimum_of_the_real_form(s, modes):
    """docs/theory.md §6.2: min{|W|_* : Z(W) = Z} = |Z|_*, so both programs have one optimum; and at the optimum
    each mode's real and complex nuclear norms agree."""
    theorem = _theorem(5, s, 2, 2, seed=s, modes=modes)
    solution = solve(theorem.program, "clarabel")
    complex_optimum = _complex_program(theorem)
    assert abs(solution.optimum - complex_optimum) <= 2 * ACCEPT_GAP * complex_optimum
    for row in complex_rows(solution.blocks, "omega"):
        penalty = theorem.beta * row["real_nuclear"]
        assert row["real_nuclear"] - row["complex_nuclear"] <= 2 * ACCEPT_GAP * solution.optimum / theorem.beta, row
        assert row["complex_nuclear"] <= row["real_nuclear"] * (1 + ROUND_OFF) or penalty == 0  # |Z(W)|_* <= |W|_*


def test_the_optimum_uses_exactly_the_modes_of_a_planted_target():
    """The modes' outputs are orthogonal, so the program separates by mode: a mode the target lacks has A_w^T V = 0
    at the optimum, its block is zero; a planted mode with beta far below its own beta_max is used."""
    rng = np.random.default_rng(4)
    N, s, d, c = 5, 6, 2, 2
    X = rng.standard_normal((N, s, d))
    planted = FNOModes(X, np.zeros((N, s, c)), 1.0)  # all 4 modes
    weights = planted.unpack(rng.standard_normal(planted.n_params(2)), 2)
    for w in (1, 3):  # the target has modes 0 and 2 only
        for array in weights:
            array[:, w] = 0.0
    theorem = planted.rebind(1.0, planted.forward(weights)).rebind(fraction=1e-3)
    solution = solve(theorem.program, "clarabel")
    used = [row["omega"] for row in complex_rows(solution.blocks, "omega") if row["rank"]]
    assert used == [0, 2]


def test_truncated_modes_are_the_leading_blocks_of_the_full_program():
    """Separation by mode: the blocks of the k-mode optimum are those of the full one (each mode its own problem)."""
    full = _theorem(6, 4, 3, 2)
    low = full.__class__(full.X, full.Y, full.beta, modes=2)
    rows_full = complex_rows(solve(full.program, "clarabel").blocks, "omega")
    rows_low = complex_rows(solve(low.program, "clarabel").blocks, "omega")
    for a, b in zip(rows_low, rows_full[:2]):
        assert abs(a["complex_nuclear"] - b["complex_nuclear"]) <= 1e-6 * b["complex_nuclear"]


@pytest.mark.parametrize("modes, message", [(0, "from 1 to"), (4, "from 1 to"), (1.5, "integer"), (True, "integer")])
def test_modes_outside_the_rfft_range_are_one_line_errors(modes, message):
    with pytest.raises(InputError, match=message):
        _theorem(2, 4, 2, 1, modes=modes)


def test_the_modes_option_on_the_command_line(cli):
    result = cli.run("run", "fno-modes", "--modes", "2", "--restarts", "3", "--no-report", json=True)
    assert result.code == 0
    row = result.json[0] if isinstance(result.json, list) else result.json
    assert row["passed"] and row["kept_modes"] == 2 and row["used_modes"] == [0, 1]
    assert cli.error("run", "fno", "--modes", "2", "--no-report").endswith("theorem fno takes no option modes")


def _afno(N, s, d, c, seed=0, modes=None, blocks=None, beta=0.1):
    rng = np.random.default_rng(seed)
    return AFNO(rng.standard_normal((N, s, d)), rng.standard_normal((N, s, c)), beta, modes, blocks)


@given(data=st.data())
def test_afno_features_form_is_numpys_rfft_then_irfft(data):
    s, blocks, D, C, m = (data.draw(st.integers(1, high)) for high in (6, 3, 2, 2, 3))
    theorem = _afno(2, s, blocks * D, blocks * C, modes=data.draw(st.integers(1, s // 2 + 1)), blocks=blocks)
    weights = theorem.unpack(np.random.default_rng(1).standard_normal(theorem.n_params(m)), m)
    expected = theorem.forward_fft(weights)
    np.testing.assert_allclose(theorem.forward(weights), expected, rtol=0,
                               atol=ROUND_OFF * max(np.abs(expected).max(), 1.0))


@pytest.mark.parametrize("s, modes, blocks", [(4, 3, 2), (4, 2, 1), (5, 3, 2), (6, 4, 2)])
def test_afno_complex_program_has_the_optimum_of_the_real_form(s, modes, blocks):
    """docs/theory.md §6.3: the real form of the shared block-diagonal map has the complex program's optimum."""
    theorem = _afno(5, s, 4, 2, seed=s, modes=modes, blocks=blocks)
    solution = solve(theorem.program, "clarabel")
    complex_optimum = _complex_program(theorem)
    assert abs(solution.optimum - complex_optimum) <= 2 * ACCEPT_GAP * complex_optimum
    for row in complex_rows(solution.blocks, "block"):
        assert row["real_nuclear"] - row["complex_nuclear"] <= 2 * ACCEPT_GAP * solution.optimum / theorem.beta, row


@pytest.mark.parametrize("blocks, message", [(3, "dividing d = 4 and c = 2"), (0, "integer >= 1"), (1.0, "integer")])
def test_channel_blocks_that_do_not_divide_the_channels_are_one_line_errors(blocks, message):
    with pytest.raises(InputError, match=message):
        _afno(2, 4, 4, 2, blocks=blocks)


def test_the_channel_blocks_option_on_the_command_line(cli):
    result = cli.run("run", "afno", "--channel-blocks", "1", "--restarts", "3", "--no-report", json=True)
    assert result.code == 0
    row = result.json[0] if isinstance(result.json, list) else result.json
    assert row["passed"] and len(row["channel_blocks"]) == 1
    assert cli.error("run", "afno", "--channel-blocks", "3", "--no-report").endswith("got 3")
