"""[E22] as the formalization transcribes it, beyond the tests every registered theorem gets (gradients, the second
transcription, known answers, witnesses on drawn data): `convex-attention-scalar` and `convex-attention-vector`
(theory.simplex_readout, docs/theory.md §8.10) and the shared-matrix model of Appendix A.7
(theory.shared_attention_matrix, §8.11).

Tolerances: ROUND_OFF for two float64 evaluations of the same sums; tolerances.GAP for a best restart against a
certified optimum; TWO_ACCEPTED for two certified optima of the same program.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import check_grad

from proofs_check import tolerances as tol
from proofs_check.harness import verify
from proofs_check.optimum import find_optimum
from proofs_check.restarts import run_restarts
from tests.tolerances import ROUND_OFF, TWO_ACCEPTED
from theory.lifted import TRUNCATION_TOL
import theory
from theory import shared_attention_matrix as sam
from theory.errors import InputError
from theory.losses import CROSS_ENTROPY


def _vector(seed: int = 0, shape=(6, 3, 2, 2), beta: float = 0.3):
    N, s, d, c = shape
    rng = np.random.default_rng(seed)
    return theory.get("convex-attention-vector").from_arrays(
        {"X": rng.standard_normal((N, s, d)), "Y": rng.standard_normal((N, c))}, beta, seed)


def test_the_output_decay_is_the_squared_l1_norm_of_w():
    """(11) decays |w_j|_1^2, through the chart w = p o |p| (so |w|_1 = |p|^2), and not the attention rows."""
    theorem = _vector()
    theta = np.random.default_rng(1).standard_normal(theorem.n_params(3))
    B, V, P = theorem.unpack(theta, 3)
    w = P * np.abs(P)
    expected = 0.5 * (np.sum(V**2) + np.sum(np.abs(w).sum(axis=1) ** 2))
    assert theorem.weight_decay(theta, 3) == pytest.approx(expected, rel=ROUND_OFF)
    assert np.sum(np.abs(w).sum(axis=1) ** 2) != pytest.approx(np.sum(w**2))  # the two decays differ here


def test_the_program_is_a_group_norm_over_output_token_pairs_and_sparse():
    """Blocks d x 1 in Frobenius (= l2) norm, one per (output, token); the report's active groups are the non-zero
    blocks of the reduced optimum, and there are at most N c + 1 of them (Caratheodory)."""
    theorem = _vector(seed=2, shape=(3, 6, 2, 2), beta=0.05)
    blocks = theorem.program.blocks
    assert len(blocks) == 12 and all(b.shape == (2, 1) and b.norm.name == "frobenius" for b in blocks)
    convex = find_optimum(theorem)
    fields = convex.report_fields()
    nonzero = [p for p, Z in enumerate(convex.blocks) if np.linalg.norm(Z) > 0]
    assert [g["output"] * 6 + g["token"] for g in fields["active_groups"]] == nonzero
    assert fields["head_bound"]["heads_needed"] == len(nonzero) <= 3 * 2 + 1 == fields["head_bound"]["caratheodory"]


def test_recovered_heads_attend_to_one_token_and_write_one_output():
    theorem = _vector(seed=3)
    convex = find_optimum(theorem)
    B, V, P = convex.weight_list
    A = B**2 / np.sum(B**2, axis=1, keepdims=True)
    assert np.all(np.isin(A, [0.0, 1.0])) and np.all(np.count_nonzero(P, axis=1) == 1)
    # the heads write the extreme point exactly; the extreme point drops components below TRUNCATION_TOL, so it is
    # compared with C(Z) there and not to round-off (a dual-certified point kept a block of norm 9e-11 here)
    assert abs(convex.recovered_objective - convex.extreme_objective) <= ROUND_OFF * convex.convex_optimum
    assert abs(convex.extreme_objective - convex.convex_optimum) <= TRUNCATION_TOL * convex.scale


@settings(deadline=None)
@given(seed=st.integers(0, 2**32 - 1), c=st.integers(1, 3), log_beta=st.floats(-2, 0))
def test_the_optimum_agrees_with_an_independent_solve_of_the_corrected_program(seed, c, log_beta):
    """(12, corrected) written directly from its formula in cvxpy (one variable z_{l,k} in R^d per output and token,
    no lifted map of the package), solved by Clarabel, against the theorem's certified optimum: two accepted solutions
    of one program agree within TWO_ACCEPTED."""
    import cvxpy as cp

    rng = np.random.default_rng(seed)
    N, s, d = 5, 3, 2
    X, Y, beta = rng.standard_normal((N, s, d)), rng.standard_normal((N, c)), float(10.0**log_beta)
    name = "convex-attention-scalar" if c == 1 else "convex-attention-vector"
    theorem = theory.get(name).from_arrays({"X": X, "Y": Y[:, 0] if c == 1 else Y}, beta, 0)
    z = [[cp.Variable(d) for _ in range(s)] for _ in range(c)]
    fit = sum(cp.square(sum(X[i, k] @ z[l][k] for k in range(s)) - Y[i, l]) for i in range(N) for l in range(c))
    penalty = sum(cp.norm(z[l][k], 2) for l in range(c) for k in range(s))
    problem = cp.Problem(cp.Minimize(0.5 * fit + beta * penalty))
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    optimum = find_optimum(theorem).convex_optimum
    assert abs(optimum - problem.value) <= TWO_ACCEPTED * abs(problem.value)


def test_the_scalar_theorem_is_the_vector_theorem_at_one_output():
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((6, 3, 2)), rng.standard_normal(6)
    scalar = theory.get("convex-attention-scalar").from_arrays({"X": X, "Y": y}, 0.2, 0)
    vector = theory.get("convex-attention-vector").from_arrays({"X": X, "Y": y[:, None]}, 0.2, 0)
    a, b = find_optimum(scalar).convex_optimum, find_optimum(vector).convex_optimum
    assert abs(a - b) <= TWO_ACCEPTED * a


def test_cross_entropy_labels_pass_every_witness():
    rng = np.random.default_rng(5)
    theorem = theory.get("convex-attention-vector").from_arrays(
        {"X": rng.standard_normal((6, 3, 2)), "Y": rng.permutation(np.arange(6) % 3)}, 0.1, 0, loss=CROSS_ENTROPY)
    result = verify(theorem, restarts=3, seed=0)
    assert result.passed and result.dims["c"] == 3, [(c.name, c.value) for c in result.checks]


@pytest.mark.parametrize("name, Y, loss, needle", [
    ("convex-attention-scalar", np.zeros((5, 3, 1)), "squared", "one target per sample"),
    ("convex-attention-vector", np.zeros((5, 3, 2)), "squared", "one target per sample"),
    ("convex-attention-scalar", np.zeros((5, 2)), "squared", "one number per sample"),
    ("convex-attention-scalar", np.array([0, 1, 0, 1, 1]), "cross-entropy", "not stated for the cross-entropy loss"),
])
def test_bad_targets_are_one_line_errors(cli, name, Y, loss, needle):
    path = cli.npz(X=np.random.default_rng(6).standard_normal((5, 3, 2)), Y=Y)
    result = cli.run("verify", name, "--data", path, "--loss", loss, "--convex-only")
    assert result.code == 2
    err = result.err_lines
    assert len(err) == 1 and needle in err[0], err


def test_verify_reports_the_active_groups(cli):
    rng = np.random.default_rng(8)
    path = cli.npz(X=rng.standard_normal((5, 3, 2)), Y=rng.standard_normal(5))
    result = cli.run("verify", "convex-attention-scalar", "--data", path, "--restarts", "3", json=True)
    assert result.code == 0
    report = result.json
    assert report["passed"] and report["rank"] == len(report["active_groups"]) == report["head_bound"]["heads_needed"]


# ---- Appendix A.7 ---------------------------------------------------------------------------------------------

@st.composite
def matrix_instances(draw):
    N, s, d, c = draw(st.integers(2, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    seed, log_beta = draw(st.integers(0, 2**32 - 1)), draw(st.floats(-2, 0.5))
    rng = np.random.default_rng(seed)
    return rng.standard_normal((N, s, d)), rng.standard_normal((N, s, c)), float(10.0**log_beta), seed


@settings(deadline=None)
@given(case=matrix_instances())
def test_the_exact_matrix_program_is_the_network_and_the_max_row_program_bounds_it(case):
    """(33*) read back as heads (one per non-zero (q, l, sign)) gives a network with objective (33*), so (33*) is
    attained; (33) with the max-row l1 norm is never above it; and the gradient of the network is right."""
    X, Y, beta, seed = case
    exact = sam.exact_program(X, Y, beta)
    A, V, o = sam.heads_from_exact(exact)
    assert np.all(A >= 0) and np.allclose(A.sum(axis=-1), 1.0, atol=1e-12)
    recovered = sam.network_objective(X, Y, beta, A, V, o)
    assert abs(recovered - exact.optimum) <= TWO_ACCEPTED * exact.optimum
    assert sam.printed_program(X, Y, beta, "max-row-l1").optimum <= exact.optimum * (1 + TWO_ACCEPTED)
    network = sam.SharedMatrixNetwork.bind(X, Y, beta, 2)
    theta = network.init(np.random.default_rng(seed))
    value = lambda t: network.value_and_gradient(t)[0]
    gradient = lambda t: network.value_and_gradient(t)[1]
    assert check_grad(value, gradient, theta) <= 1e-5 * max(1.0, float(np.linalg.norm(gradient(theta))))


def test_a_round_off_sign_gives_no_head():
    """Found by the thorough profile: here C+ is round-off (row sums 0 and 2.8e-13, C- 1.7) and passed a threshold
    taken per sign, so its zero row became a row of NaNs; one threshold over both signs drops it."""
    rng = np.random.default_rng(3489079061)
    X, Y, beta = rng.standard_normal((2, 2, 1)), rng.standard_normal((2, 2, 1)), 0.018951645683952273
    exact = sam.exact_program(X, Y, beta)
    A, V, o = sam.heads_from_exact(exact)
    assert np.all(V <= 0) and np.all(A >= 0) and np.allclose(A.sum(axis=-1), 1.0, atol=1e-12)
    assert abs(sam.network_objective(X, Y, beta, A, V, o) - exact.optimum) <= TWO_ACCEPTED * exact.optimum


def test_restarts_of_the_matrix_network_reach_the_exact_program():
    rng = np.random.default_rng(9)
    X, Y, beta = rng.standard_normal((4, 3, 2)), rng.standard_normal((4, 3, 1)), 0.2
    exact = sam.exact_program(X, Y, beta)
    heads = len(sam.heads_from_exact(exact)[2])
    best = run_restarts(sam.SharedMatrixNetwork.bind(X, Y, beta, heads), 6, 0, (heads,)).best
    assert -tol.ROUNDOFF <= (best - exact.optimum) / exact.optimum <= tol.GAP


def test_matrix_model_refuses_pooled_targets():
    with pytest.raises(InputError, match="sequence targets"):
        sam.SharedMatrixNetwork.bind(np.ones((3, 2, 1)), np.ones((3, 1)), 0.1, 1)
