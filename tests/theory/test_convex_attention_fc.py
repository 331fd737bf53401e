"""`convex-attention-fc` and `relu-attention-fc` (docs/theory.md §8.7) beyond the generic tests (gradients, lifted
map, weak duality and the witnesses run for every registered theorem).  Covered here: the networks against their
definitions written with explicit loops, the reduction to `convex-attention`, frozen gates as copies of ReLU units,
the interaction between tokens that the gates create, the gates' input handling, exactness on the default
instance, and the relaxation's lower bound with its measured gap in the CLI's JSON.

Tolerances: two float64 evaluations of the same sums in another order agree to 1e-12 relative.
"""

from __future__ import annotations

import numpy as np
import pytest

from proofs_check.harness import verify
from tests.tolerances import ROUND_OFF
import theory
from theory.convex_attention import ConvexAttention
from theory.convex_attention_fc import ConvexAttentionFC, draw_fc_gates
from theory.errors import InputError
from theory.relu_attention_fc import ReLUAttentionFC



def _fc(seed: int = 0, shape=(4, 3, 2, 2), gates: int = 2, beta: float = 0.5) -> ConvexAttentionFC:
    N, s, d, c = shape
    rng = np.random.default_rng(seed)
    return ConvexAttentionFC.from_arrays({"X": rng.standard_normal((N, s, d)), "Y": rng.standard_normal((N, s, c))},
                                         beta, seed, gates=gates)


def _rows(B: np.ndarray) -> np.ndarray:
    return B**2 / (B**2).sum(axis=-1, keepdims=True)


def test_forward_is_the_definition_with_frozen_gates():
    """f(X_i)[t] = sum_p 1[(C_p X_i g_p)[t] >= 0] sum_j (a_tpj^T X_i u_tpj) w_tpj, sample by sample."""
    theorem = _fc()
    B, U, W = theorem.unpack(np.random.default_rng(1).standard_normal(theorem.n_params(3)), 3)
    A = _rows(B)
    expected = np.zeros(theorem.Y.shape)
    for i, X in enumerate(theorem.X):
        for t in range(X.shape[0]):
            for p, (C, g) in enumerate(zip(theorem.C, theorem.G)):
                if C[t] @ X @ g >= 0:
                    for j in range(3):
                        expected[i, t] += (A[t, p, j] @ X @ U[t, p, j]) * W[t, p, j]
    np.testing.assert_allclose(theorem.forward([B, U, W]), expected, rtol=0, atol=ROUND_OFF * np.abs(expected).max())


def test_forward_of_the_relu_block_is_its_definition():
    rng = np.random.default_rng(2)
    theorem = ReLUAttentionFC(rng.standard_normal((3, 2, 2)), rng.standard_normal((3, 2, 2)), 0.1)
    B, V, W = theorem.unpack(rng.standard_normal(theorem.n_params(3)), 3)
    A = _rows(B)
    expected = np.zeros(theorem.Y.shape)
    for i, X in enumerate(theorem.X):
        for t in range(2):
            for j in range(3):
                expected[i, t] += max(A[t, j] @ X @ V[t, j], 0.0) * W[t, j]
    np.testing.assert_allclose(theorem.forward([B, V, W]), expected, rtol=0, atol=ROUND_OFF * np.abs(expected).max())


def test_an_always_on_gate_is_convex_attention():
    """One gate with g = 0 is on everywhere (0 >= 0): the network and the program are those of convex-attention."""
    plain = _fc(seed=3, gates=1)
    always_on = ConvexAttentionFC(plain.X, plain.Y, plain.beta, plain.C, np.zeros_like(plain.G))
    reference = ConvexAttention(plain.X, plain.Y, plain.beta)
    theta = np.random.default_rng(4).standard_normal(reference.n_params(2))
    B, V, W = reference.unpack(theta, 2)
    F = reference.forward([B, V, W])
    np.testing.assert_allclose(always_on.forward([B[:, None], V[:, None], W[:, None]]), F, rtol=0,
                               atol=ROUND_OFF * np.abs(F).max())
    for ours, theirs in zip(always_on.program.blocks, reference.program.blocks):
        assert np.array_equal(ours.matrix, theirs.matrix)


def test_a_unit_whose_gate_is_its_own_copy_is_a_relu_unit():
    """The gate of a gated-ReLU unit is a frozen copy of its pre-activation: with C_p[t] = a_t and g_p = u_t the
    gated unit computes relu(a_t^T X u_t) w_t, the unit of relu-attention-fc."""
    rng = np.random.default_rng(5)
    X, Y = rng.standard_normal((5, 2, 3)), rng.standard_normal((5, 2, 2))
    relu = ReLUAttentionFC(X, Y, 0.1)
    B, V, W = relu.unpack(rng.standard_normal(relu.n_params(1)), 1)
    F = relu.forward([B, V, W])
    for t in range(2):  # one gate per row: C_t has row t equal to a_t, g_t = u_t
        C = np.tile(_rows(B)[t], (1, 2, 1))
        gated = ConvexAttentionFC(X, Y, 0.1, C, V[t])
        out = gated.forward([B[:, None], V[:, None], W[:, None]])[:, t]
        np.testing.assert_allclose(out, F[:, t], rtol=0, atol=ROUND_OFF * np.abs(F).max())


def test_gates_make_the_output_depend_on_pairs_of_tokens():
    """Convex attention's output row is additive over tokens, so its mixed second difference in two tokens is
    zero (float64 round-off); with frozen gates it is not, which is what modular division needs (docs/theory.md
    §8.7).  Four samples: token 0 in {x, x'} times token 1 in {y, y'}."""
    rng = np.random.default_rng(6)
    x, x2, y, y2 = rng.standard_normal((4, 3))
    X = np.array([[x, y], [x2, y], [x, y2], [x2, y2]])
    Y = np.zeros((4, 2, 2))
    C, G = draw_fc_gates(8, 2, 3, seed=0)
    theorems = {"convex-attention": ConvexAttention(X, Y, 1.0),
                "convex-attention-fc": ConvexAttentionFC(X, Y, 1.0, C, G)}
    second = {}
    for name, theorem in theorems.items():
        F = theorem.forward(theorem.unpack(rng.standard_normal(theorem.n_params(4)), 4))
        second[name] = np.abs(F[0] - F[1] - F[2] + F[3]).max() / np.abs(F).max()
    assert second["convex-attention"] <= ROUND_OFF
    assert second["convex-attention-fc"] > 1e-3  # a gate that flips between the samples changes F by O(|F|)


def test_gates_are_drawn_from_the_seed_or_read_from_the_data():
    assert np.array_equal(_fc(seed=3).C, _fc(seed=3).C) and not np.array_equal(_fc(seed=3).G, _fc(seed=4).G)
    C, G = _fc().C, _fc().G
    assert np.allclose(C.sum(axis=-1), 1.0) and np.all(C >= 0)
    X, Y = _fc().X, _fc().Y
    assert np.array_equal(ConvexAttentionFC.from_arrays({"X": X, "Y": Y, "C": C, "G": G}, 0.1, 9).G, G)
    with pytest.raises(InputError, match="both C"):
        ConvexAttentionFC.from_arrays({"X": X, "Y": Y, "C": C}, 0.1, 0)
    with pytest.raises(InputError, match="disagrees"):
        ConvexAttentionFC.from_arrays({"X": X, "Y": Y, "C": C, "G": G}, 0.1, 0, gates=5)
    with pytest.raises(InputError, match="gates must be"):
        ConvexAttentionFC.from_arrays({"X": X, "Y": Y, "C": C, "G": G[:, :1]}, 0.1, 0)
    with pytest.raises(InputError, match="no option"):
        ConvexAttentionFC.from_arrays({"X": X, "Y": Y}, 0.1, 0, heads=3)
    with pytest.raises(InputError, match="2\\^N - 1"):
        ReLUAttentionFC(np.ones((7, 2, 2)), np.ones((7, 2, 1)), 0.1)


def test_default_instance_is_exact():
    """The claimed witnesses on the default instance: zero gap, recovery, certificate, structure."""
    result = verify(theory.get("convex-attention-fc").default_instance(0), restarts=4, seed=0)
    assert result.passed and {c.name for c in result.checks if c.claim and c.passed} >= {
        "weak_duality", "zero_gap", "recovery", "dual_certificate", "structure"}


def test_cli_reports_the_relaxation_gap(cli):
    """relu-attention-fc: the gated program over all sample patterns is a lower bound (weak duality claimed and
    passed), and the gap to the best ReLU restart and to the recovered network is reported, not claimed."""
    rng = np.random.default_rng(7)
    data = cli.npz("relu_fc.npz", X=rng.standard_normal((3, 2, 2)), Y=rng.standard_normal((3, 2, 1)))
    result = cli.run("verify", "relu-attention-fc", "--data", data, "--restarts", "3", json=True)
    assert result.code == 0
    report = result.json
    assert report["patterns"] == 7 and "lower bound" in report["program"]
    claims = report["checks"]
    assert not claims["zero_gap"]["claim"] and not claims["recovery"]["claim"]
    assert claims["weak_duality"]["passed"] and report["best_primal"] >= report["lower_bound"]
    assert report["recovered_objective"] >= report["lower_bound"]
    inside, units = map(int, report["heads_in_cone"].split("/"))  # "k/n": k of the n recovered units in their cones
    assert units == sum(block["rank"] for block in report["active_blocks"]) and 0 <= inside <= units
