"""The Python API (proofs_check.api, ``import proofs_check as pc``) and `proofs-check certify` on weights trained
outside the project.

The weights are trained here by a small loop of our own (scipy L-BFGS on a forward pass and gradient written in this
file, not the restart engine) or built by hand, and their objective is evaluated independently by the slow
transcription of tests/reference.py.  Known answers (theory.known_answers: C* fixed before the data are built) hold
the lower bound and the saved optimum against a number no solver of ours produced.

Tolerances: ROUND_OFF (tests/tolerances.py) for two evaluations of the same objective; the certified lower bound
lies within ACCEPT_GAP = 1e-7 (theory.solvers) of C*, so a known C* is matched to 1e-6 relative (proofs_check
.tolerances.RECOVERY, the accuracy of the recovered network); trained weights reach zero gap to GAP = 1e-6.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from scipy.optimize import minimize

import proofs_check as pc
from proofs_check import api, tolerances as tol
from proofs_check.weights import check_weights
from tests import reference
from tests.tolerances import ROUND_OFF
import theory
from theory.errors import InputError
from theory.known_answers import planted_rank

SHAPE = (5, 3, 2, 2)  # N, s, d, c: a linear-attention program with a 4 x 4 block, min(d^2, dc) + 1 = 5 heads
BETA = 0.1


def _data(seed: int = 3) -> dict[str, np.ndarray]:
    N, s, d, c = SHAPE
    rng = np.random.default_rng(seed)
    return {"X": rng.standard_normal((N, s, d)), "Y": rng.standard_normal((N, s, c))}


def _linear_attention_objective(theta: np.ndarray, X: np.ndarray, Y: np.ndarray, m: int) -> tuple[float, np.ndarray]:
    """Our own linear attention, F_i = sum_j X_i W1_j (X_i^T X_i) W2_j, with weight decay and its gradient:
    dW2_j = sum_i G_i W1_j^T X_i^T R_i, dW1_j = sum_i X_i^T R_i W2_j^T G_i (G_i = X_i^T X_i symmetric)."""
    d, c = X.shape[2], Y.shape[2]
    W1, W2 = theta[:m * d * d].reshape(m, d, d), theta[m * d * d:].reshape(m, d, c)
    G = np.einsum("ita,itb->iab", X, X)
    F = np.einsum("ita,jab,ibk,jkc->itc", X, W1, G, W2)
    R = F - Y
    dW2 = np.einsum("iab,jka,itk,itc->jbc", G, W1, X, R)
    dW1 = np.einsum("ita,itc,jkc,ikb->jab", X, R, W2, G)
    value = 0.5 * float(np.sum(R * R)) + 0.5 * BETA * float(theta @ theta)
    return value, np.concatenate([dW1.reshape(-1), dW2.reshape(-1)]) + BETA * theta


def _trained_elsewhere(arrays: dict[str, np.ndarray], m: int, iterations: int, seed: int = 0) -> dict[str, np.ndarray]:
    N, s, d, c = SHAPE
    theta0 = 0.3 * np.random.default_rng(seed).standard_normal(m * (d * d + d * c))
    result = minimize(_linear_attention_objective, theta0, args=(arrays["X"], arrays["Y"], m), jac=True,
                      method="L-BFGS-B", options={"maxiter": iterations, "ftol": 1e-15, "gtol": 1e-11})
    return {"W1": result.x[:m * d * d].reshape(m, d, d), "W2": result.x[m * d * d:].reshape(m, d, c)}


def _reference_objective(name: str, arrays: dict[str, np.ndarray], weights: dict[str, np.ndarray],
                         beta: float = BETA) -> float:
    bound = theory.get(name).from_arrays(arrays, beta, 0)
    return reference.objective(name, bound, [weights[key] for key in bound.weight_axes])


def test_certify_weights_trained_elsewhere(cli, tmp_path):
    """Objective = the reference's, LB <= C*, near-zero suboptimality for weights trained to convergence at the
    zero-gap width, and the saved optimum reaches C* by the reference's evaluation."""
    arrays = _data()
    weights = _trained_elsewhere(arrays, m=5, iterations=5000)
    result = pc.certify("linear-attention", cli.npz(**arrays), cli.npz("w.npz", **weights), beta=BETA,
                        save_optimum=tmp_path / "opt.npz")
    expected = _reference_objective("linear-attention", arrays, weights)
    assert abs(result.objective - expected) <= ROUND_OFF * expected
    assert result.lower_bound <= result.optimum.convex_optimum
    assert result.heads == 5 and result.consistent
    assert 0 <= result.relative_suboptimality <= tol.GAP
    saved = dict(np.load(tmp_path / "opt.npz"))
    optimum = _reference_objective("linear-attention", arrays, saved)
    assert abs(optimum - result.optimum.convex_optimum) <= tol.RECOVERY * optimum
    assert optimum >= result.lower_bound * (1 - ROUND_OFF)


def test_certify_measures_how_far_undertrained_weights_are():
    """Three L-BFGS steps stop far above C*: the suboptimality is (objective - LB) / objective of the reference's
    objective, and clearly positive."""
    arrays = _data()
    weights = _trained_elsewhere(arrays, m=5, iterations=3)
    result = pc.certify("linear-attention", arrays, weights, beta=BETA)
    objective = _reference_objective("linear-attention", arrays, weights)
    assert result.relative_suboptimality == pytest.approx((objective - result.lower_bound) / objective, rel=1e-9)
    assert result.relative_suboptimality > 1e-3


@pytest.mark.parametrize("name", ["linear-attention", "mlp-mixer", "fno"])
def test_certify_against_a_known_optimum(name):
    """A planted rank-2 optimum (theory.known_answers): LB lies at or below the known C* and within the accepted
    certified gap of it; the recovered weights reach the known C* by the reference's evaluation."""
    N, s, d, c = SHAPE
    rng = np.random.default_rng(11)
    seed_theorem = theory.get(name)(rng.standard_normal((N, s, d)), rng.standard_normal((N, s, c)), BETA)
    known = planted_rank(seed_theorem, 2, rng, beta=BETA)
    bound = known.theorem
    hand_built = dict(zip(bound.weight_axes, bound.weights_from_factors(known.factors, known.heads)))
    result = pc.certify(bound, None, hand_built)
    C = known.optimum
    assert result.lower_bound <= C * (1 + ROUND_OFF) and result.lower_bound >= C * (1 - tol.RECOVERY)
    assert abs(result.objective - C) <= tol.RECOVERY * C  # the hand-built optimum is certified as optimal
    assert result.relative_suboptimality <= tol.RECOVERY
    optimum = reference.objective(name, bound, list(result.optimum.weights.values()))
    assert abs(optimum - C) <= tol.RECOVERY * C


@pytest.mark.parametrize("name", sorted(theory.REGISTRY))
def test_named_weights_evaluate_as_the_reference(name):
    """Every theorem: random weights named per weight_axes are read in the declared order, and their objective is
    the reference's (a name bound to the wrong array would change it)."""
    bound = theory.get(name).default_instance(2)
    m = 2
    rng = np.random.default_rng(4)
    named = {key: rng.standard_normal(shape) for key, shape in zip(bound.weight_axes, bound.param_shapes(m))}
    arrays, width = check_weights(bound, dict(reversed(list(named.items()))))
    assert width == m
    value = reference.objective(name, bound, [named[key] for key in bound.weight_axes])
    assert abs(bound.objective(bound.pack(arrays), m) - value) <= ROUND_OFF * value


def test_solve_and_verify_records_match_the_cli_json(cli):
    """pc.verify's to_json is what `proofs-check verify --json` writes (up to timings); pc.solve agrees with it."""
    arrays = _data()
    result = cli.run("verify", "linear-attention", "--data", cli.npz(**arrays), "--beta", BETA, "--convex-only",
                     json=True)
    assert result.code == 0
    written = result.json
    record = pc.verify("linear-attention", arrays, beta=BETA, convex_only=True).to_json()
    for key in ("seconds", "solver"):
        written.pop(key), record.pop(key)
    assert json.loads(json.dumps(record)) == written
    optimum = pc.solve("linear-attention", arrays, beta=BETA)
    assert optimum.convex_optimum == pytest.approx(written["convex_optimum"], rel=tol.DUAL)
    assert optimum.heads == written["rank"]


def test_cli_certify_prints_and_writes_the_record(cli, tmp_path):
    arrays = _data()
    weights = _trained_elsewhere(arrays, m=2, iterations=50)
    data, trained = cli.npz(**arrays), cli.npz("w.npz", **weights)
    result = cli.run("certify", "linear-attention", "--data", data, "--weights", trained, "--beta", BETA,
                     "--save-optimum", tmp_path / "opt", json=True)
    assert result.code == 0
    shown, record = result.out, result.json
    assert f"{record['objective']:.10g}" in shown and f"{record['lower_bound']:.10g}" in shown
    assert record["optimum_file"] == str(tmp_path / "opt.npz") and (tmp_path / "opt.npz").is_file()
    again = cli.run("certify", "linear-attention", "--data", data, "--weights", tmp_path / "opt.npz", "--beta", BETA,
                    json=True)
    assert again.code == 0
    assert again.json["relative_suboptimality"] <= tol.RECOVERY


def test_weights_below_the_bound_exit_1(cli, monkeypatch):
    """An objective below the certified lower bound contradicts weak duality: certify says so and exits 1.  The
    bound is moved above the weights' objective on purpose (a wrong certificate)."""
    arrays = _data()
    data, trained = cli.npz(**arrays), cli.npz("w.npz", **_trained_elsewhere(arrays, m=5, iterations=5000))
    real = api.find_optimum

    def inflated(bound, solver="auto"):
        optimum = real(bound, solver)
        return replace(optimum, certificate=replace(optimum.certificate, lower_bound=optimum.lower_bound * 1.01))
    monkeypatch.setattr(api, "find_optimum", inflated)
    assert cli.run("certify", "linear-attention", "--data", data, "--weights", trained, "--beta", BETA).code == 1


@pytest.mark.parametrize("weights, needle", [
    ({"W1": np.ones((2, 2, 2))}, "weights are W1 (m, d, d), W2 (m, d, c); found W1"),
    ({"W1": np.ones((2, 2, 2)), "W2": np.ones((2, 2, 2)), "W3": np.ones(2)}, "found W1, W2, W3"),
    ({"w1": np.ones((2, 2, 2)), "W2": np.ones((2, 2, 2))}, "found w1, W2"),
    ({"W1": np.ones((2, 2, 2)), "W2": np.ones((3, 2, 2))}, "W2 has shape (3, 2, 2), expected (m, d, c) = (2, 2, 2)"),
    ({"W1": np.ones((2, 3, 3)), "W2": np.ones((2, 2, 2))}, "W1 has shape (2, 3, 3)"),
    ({"W1": np.ones((2, 2)), "W2": np.ones((2, 2))}, "axes"),
    ({"W1": np.full((2, 2, 2), np.nan), "W2": np.ones((2, 2, 2))}, "W1 contain non-finite"),
    ({"W1": np.ones((2, 2, 2)), "W2": np.full((2, 2, 2), -np.inf)}, "W2 contain non-finite"),
    ({"W1": np.ones((2, 2, 2)) * 1j, "W2": np.ones((2, 2, 2))}, "real numbers"),
    ({"W1": np.ones((2, 2, 2)).astype(str), "W2": np.ones((2, 2, 2))}, "real numbers"),
    ({"W1": np.full((2, 2, 2), 1e300), "W2": np.full((2, 2, 2), 1e300)}, "not finite"),
])
def test_bad_weights_exit_2_with_one_line(cli, weights, needle):
    line = cli.error("certify", "linear-attention", "--data", cli.npz(**_data()),
                     "--weights", cli.npz("w.npz", **weights))
    assert needle in line, line


def test_weights_files_that_are_not_weights(cli, tmp_path):
    data = cli.npz(**_data())
    (tmp_path / "text.npz").write_text("not a zip")
    (tmp_path / "folder.npz").mkdir()
    for name, needle in (("missing.npz", "weights file not found"), ("text.npz", "not an .npz archive"),
                         ("folder.npz", "not an .npz weights file")):
        line = cli.error("certify", "linear-attention", "--data", data, "--weights", tmp_path / name)
        assert needle in line, line
    assert "--weights" in cli.error("certify", "linear-attention", "--data", data)


def test_api_bad_input_raises_input_error():
    with pytest.raises(InputError, match="unknown theorem"):
        pc.certify("no-such", None, {})
    with pytest.raises(InputError, match="no array Y"):
        pc.theorem("linear-attention", {"X": np.ones((2, 2, 2))})
    with pytest.raises(InputError, match="carries its own data"):
        pc.solve(pc.theorem("linear-mlp"), beta=1.0)


def test_list_weights_names_every_array_of_every_theorem(cli):
    result = cli.run("list", "--weights")
    assert result.code == 0
    lines = result.out.splitlines()
    for cls in theory.REGISTRY.values():
        line = next(line for line in lines if line.split()[0] == cls.name)
        for key, axes in cls.weight_axes.items():
            assert f"{key} ({', '.join(axes)})" in line
    assert pc.weight_layout("convex-attention") == {"b": ("s", "m", "s"), "v": ("s", "m", "d"), "w": ("s", "m", "c")}


def test_a_theorem_is_bound_once_and_rebound_without_rebuilding_its_blocks():
    """rebind at a new beta, or at a fraction of beta_max, keeps the lifted blocks (they depend on X only) and gives
    the beta asked for; the default beta is read without drawing data."""
    bound = api.theorem("gated-relu-attention")
    blocks = bound.blocks
    half = bound.rebind(fraction=0.5)
    assert half.blocks is blocks and half.beta == pytest.approx(0.5 * bound.beta_max, rel=1e-15)
    assert half.program.beta == half.beta and bound.program.beta == bound.beta == type(bound).default_beta
    other = bound.rebind(0.25, Y=2 * bound.Y)
    assert other.blocks is blocks and other.beta_max == pytest.approx(2 * bound.beta_max, rel=1e-12)
    assert api.theorem("gated-relu-attention", beta_fraction=0.5).beta == pytest.approx(half.beta, rel=1e-15)


@pytest.mark.parametrize("binding, needle", [
    ({"beta": 0.1, "beta_fraction": 0.5}, "not both"),
    ({"beta_fraction": -1.0}, "beta"),
    ({"beta_fraction": float("nan")}, "beta"),
])
def test_bad_binding_is_an_input_error(binding, needle):
    with pytest.raises(InputError, match=needle):
        api.theorem("linear-mlp", **binding)
