"""The student-teacher experiment (proofs_check.studies.student_teacher) on a tiny configuration: the teacher against its
definition written with explicit loops, every student's fields and certificates, the errors against their
definition, JSON round trip, and the CLI.

Tolerances: float64 round-off of the same sums in another order, 1e-12 relative; the convex students are certified
to the solvers' 1e-6 (proofs_check.tolerances.DUAL).
"""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from proofs_check import tolerances as tol
from proofs_check.cli import studies as cli_module
from proofs_check.studies.student_teacher import (StudentTeacherConfig, StudentTeacherResult, run_student_teacher,
                                                  teacher_outputs)
from tests.tolerances import ROUND_OFF
from theory.convex_attention_fc import ConvexAttentionFC
from theory.errors import InputError
from theory.lifted import block_factors
from theory.solvers import solve

TINY = StudentTeacherConfig(n_train=8, n_test=12, tokens=3, features=2, outputs=1, teacher_hidden=3, gates=2,
                            restarts=1, beta=0.01)


@pytest.fixture(scope="module")
def tiny_result() -> StudentTeacherResult:
    return run_student_teacher(TINY)


def test_teacher_is_softmax_attention_then_a_relu_layer():
    config = StudentTeacherConfig(features=2, outputs=2, teacher_heads=2, teacher_hidden=3, seed=5)
    X = np.random.default_rng(1).standard_normal((3, 4, 2))
    rng = np.random.default_rng([5, 1])
    Wq, Wk, Wv = rng.standard_normal((3, 2, 2, 2)) / np.sqrt(2)
    W1, W2 = rng.standard_normal((4, 3)) / 2, rng.standard_normal((3, 2)) / np.sqrt(3)
    expected = np.zeros((3, 4, 2))
    for i, x in enumerate(X):
        heads = []
        for h in range(2):
            logits = x @ Wq[h] @ Wk[h].T @ x.T
            weights = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
            heads.append(weights @ x @ Wv[h])
        expected[i] = np.maximum(np.hstack(heads) @ W1, 0) @ W2
    np.testing.assert_allclose(teacher_outputs(X, config), expected, rtol=0, atol=ROUND_OFF * np.abs(expected).max())


def test_every_student_is_reported_with_its_certificate(tiny_result):
    students = {s.student: s for s in tiny_result.students}
    assert list(students) == ["softmax-attention", "simplex-attention", "convex-attention", "convex-attention-fc"]
    assert students["softmax-attention"].certified_gap is None and students["simplex-attention"].certified_gap is None
    for name in ("convex-attention", "convex-attention-fc"):
        assert students[name].certified_gap <= tol.DUAL
    # The simplex-row network is convex-attention's, and the squared loss makes the optimal training predictions F*
    # unique: C(Z) - C* >= 1/2 |A(Z) - F*|^2, so each student's predictions lie within sqrt(2 (objective - LB)) of F*
    # (LB = the certified lower bound) and the two training errors, computed by different code (the network's
    # forward pass, the program's lifted map), agree to what these distances allow.
    convex, simplex = students["convex-attention"], students["simplex-attention"]
    X = np.random.default_rng([TINY.seed, 0]).standard_normal((TINY.n_train + TINY.n_test, TINY.tokens, TINY.features))
    norm = float(np.sum(teacher_outputs(X, TINY)[:TINY.n_train] ** 2))  # |Y_train|^2
    lower = convex.objective * (1 - convex.certified_gap)
    distance = sum(np.sqrt(2 * max(s.objective - lower, 0.0)) for s in (convex, simplex))
    allowed = distance * (2 * np.sqrt(convex.train_error * norm) + distance) / norm
    assert abs(simplex.train_error - convex.train_error) <= allowed + ROUND_OFF, (
        simplex.train_error, convex.train_error, allowed)
    again = StudentTeacherResult.from_json(json.loads(json.dumps(tiny_result.to_json())))
    assert again.to_json() == tiny_result.to_json()


def test_the_simplex_model_by_restarts_lies_above_its_certified_optimum_and_its_curves_are_honest(tiny_result):
    """The non-convex simplex-row model is convex-attention's network: weak duality puts every restart at or above
    the certified optimum (within tolerances.ROUNDOFF), and on this tiny instance one restart reaches it (GAP).  Each
    curve is the best value so far: non-increasing in passes and seconds, ending at the arm's reported objective
    (FISTA's at the convex optimum within its own certified gap of 1e-8)."""
    students = {s.student: s for s in tiny_result.students}
    optimum = students["convex-attention"].objective
    relative = (students["simplex-attention"].objective - optimum) / optimum
    assert -tol.ROUNDOFF <= relative <= tol.GAP
    for name in ("softmax-attention", "simplex-attention", "convex-attention"):
        curve = students[name].curve
        assert np.all(np.diff(curve.passes) > 0) and np.all(np.diff(curve.seconds) >= 0), name
        assert np.all(np.diff(curve.objective) <= 0), name
    assert students["softmax-attention"].curve.objective[-1] == students["softmax-attention"].objective
    assert students["simplex-attention"].curve.objective[-1] == students["simplex-attention"].objective
    assert abs(students["convex-attention"].curve.objective[-1] / optimum - 1) <= 1e-8 + tol.ROUNDOFF
    assert students["convex-attention-fc"].curve is None


def test_test_error_is_that_of_the_recovered_network(tiny_result):
    """The convex-attention-fc student's test error, recomputed by another route: the network recovered from the
    training solution (lemma L1), run forward on the test tokens with the gates of the same seed.  The solution is
    recomputed by the same solver, so the two agree to its certified accuracy (1e-6 relative, tolerances.DUAL)."""
    X = np.random.default_rng([TINY.seed, 0]).standard_normal((TINY.n_train + TINY.n_test, 3, 2))
    Y = teacher_outputs(X, TINY)
    train = ConvexAttentionFC.from_arrays({"X": X[:TINY.n_train], "Y": Y[:TINY.n_train]}, TINY.beta, TINY.seed,
                                          gates=TINY.gates)
    factors = block_factors(train.program, solve(train.program).blocks)
    test = ConvexAttentionFC.from_arrays({"X": X[TINY.n_train:], "Y": Y[TINY.n_train:]}, TINY.beta, TINY.seed,
                                         gates=TINY.gates)
    F = test.forward(train.weights_from_factors(factors, train.heads_needed(factors)))
    assert np.abs(F).max() > 0.1 * np.abs(test.Y).max()  # Z* != 0: the gates matter for the test predictions
    error = float(np.sum((F - test.Y) ** 2) / np.sum(test.Y**2))
    reported = next(s for s in tiny_result.students if s.student == "convex-attention-fc").test_error
    assert reported == pytest.approx(error, rel=tol.DUAL)


def test_bad_configuration_is_an_input_error():
    with pytest.raises(InputError):
        StudentTeacherConfig(beta=0.0)
    with pytest.raises(InputError):
        StudentTeacherConfig(restarts=0)


def test_cli_writes_the_student_teacher_json_and_plot(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(cli_module, "StudentTeacherConfig", functools.partial(StudentTeacherConfig, **{
        k: v for k, v in TINY.__dict__.items() if k not in ("seed", "restarts")}))
    result = cli.run("experiment", "student-teacher", "--seed", "3", "--restarts", "1", "--report", tmp_path)
    assert result.code == 0
    assert "test error" in result.out
    stored = json.loads((tmp_path / "student_teacher.json").read_text())
    assert stored["config"]["seed"] == 3 and stored["loss"] == "squared loss"
    assert (tmp_path / "student_teacher.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "student_teacher_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert cli.run("experiment", "student-teacher", "--steps", "3").code == 2
