"""`gated-relu-attention` beyond the generic tests (gradients, lifted map, witnesses run for every theorem):
the network against its definition written with explicit masks, the gate = query-key case that turns a gated head
into a ReLU head, gates from the data file, and the CLI's `--gates`, `patterns` and `blocks`.

Tolerances: two float64 evaluations of the same sums in a different order agree to 1e-12 relative.
"""

from __future__ import annotations

import numpy as np
import pytest

from proofs_check.optimum import find_optimum
from tests.tolerances import ROUND_OFF, WITNESS
import theory
from theory.errors import InputError
from theory.gated_relu_attention import GatedReLUAttention



def _bound(seed: int = 0, gates: int = 3) -> GatedReLUAttention:
    rng = np.random.default_rng(seed)
    return GatedReLUAttention.from_arrays({"X": rng.standard_normal((4, 3, 2)), "Y": rng.standard_normal((4, 3, 2))},
                                          0.1, seed, gates=gates)


def _definition(theorem: GatedReLUAttention, W1: np.ndarray, W2: np.ndarray) -> np.ndarray:
    """f(X_i) = sum_p sum_j (1[X_i H_p X_i^T >= 0] o (X_i W1_pj X_i^T)) X_i W2_pj, sample by sample."""
    out = np.zeros(theorem.Y.shape)
    for i, X in enumerate(theorem.X):
        for p, H in enumerate(theorem.H):
            mask = X @ H @ X.T >= 0
            for j in range(W1.shape[1]):
                out[i] += (mask * (X @ W1[p, j] @ X.T)) @ X @ W2[p, j]
    return out


def test_forward_is_the_masked_attention_of_the_definition():
    theorem = _bound()
    W1, W2 = theorem.unpack(np.random.default_rng(1).standard_normal(theorem.n_params(2)), 2)
    expected = _definition(theorem, W1, W2)
    np.testing.assert_allclose(theorem.forward([W1, W2]), expected, rtol=0, atol=ROUND_OFF * np.abs(expected).max())


def test_a_head_whose_weights_are_its_gate_is_a_relu_head():
    """With W1 = H_p the mask 1[X H_p X^T >= 0] is the ReLU's own pattern: D o (X W1 X^T) = relu(X W1 X^T)."""
    theorem = _bound(gates=1)
    W1 = theorem.H[:, None].copy()
    W2 = np.random.default_rng(2).standard_normal((1, 1) + theorem.param_shapes(1)[1][2:])
    relu = np.stack([np.maximum(X @ W1[0, 0] @ X.T, 0) @ X @ W2[0, 0] for X in theorem.X])
    np.testing.assert_allclose(theorem.forward([W1, W2]), relu, rtol=0, atol=ROUND_OFF * np.abs(relu).max())


def test_gates_are_drawn_from_the_seed_or_read_from_the_data():
    assert np.array_equal(_bound(seed=3).H, _bound(seed=3).H)
    assert not np.array_equal(_bound(seed=3).H, _bound(seed=4).H)
    X, Y = _bound().X, _bound().Y
    H = np.random.default_rng(5).standard_normal((2, 2, 2))
    assert np.array_equal(GatedReLUAttention.from_arrays({"X": X, "Y": Y, "H": H}, 0.1, 0).H, H)
    with pytest.raises(InputError, match="shape"):
        GatedReLUAttention.from_arrays({"X": X, "Y": Y, "H": H[:, :1]}, 0.1, 0)
    with pytest.raises(InputError, match="disagrees"):
        GatedReLUAttention.from_arrays({"X": X, "Y": Y, "H": H}, 0.1, 0, gates=3)
    with pytest.raises(InputError, match="no option"):
        theory.get("linear-attention").from_arrays({"X": X, "Y": Y}, 0.1, 0, gates=3)


def test_recovered_heads_keep_the_gate_of_their_block():
    """Head (p, r) recovered from Z_p* sits on gate p: lifting the recovered weights gate by gate gives back each
    block, so every block's heads carry that block's activation pattern."""
    theorem = _bound(seed=6)
    optimum = find_optimum(theorem)
    for p, (Z, lifted) in enumerate(zip(optimum.blocks, theorem.lift_weights(optimum.weight_list))):
        assert np.abs(Z - lifted).max() <= ROUND_OFF * max(np.abs(Z).max(), 1.0), f"gate {p}"
    assert optimum.heads == max(len(pairs) for pairs in optimum.factors)


def test_cli_verify_reports_patterns_and_blocks(cli):
    rng = np.random.default_rng(8)
    H = rng.standard_normal((2, 2, 2))
    data = cli.npz("gated.npz", X=rng.standard_normal((5, 3, 2)), Y=rng.standard_normal((5, 3, 2)), H=H)
    result = cli.run("verify", "gated-relu-attention", "--data", data, "--restarts", "3", json=True)
    assert result.code == 0
    report = result.json
    assert report["patterns"] == 2 and report["passed"]
    assert report["relative_gap"] <= WITNESS
    assert abs(report["recovered_objective"] - report["convex_optimum"]) <= WITNESS * report["convex_optimum"]
    ranks = {b["pattern"]: b["rank"] for b in report["blocks"]}
    theorem = GatedReLUAttention.from_arrays(dict(np.load(data)), 0.1, 0)  # the CLI's default beta of the theorem
    expected = {p: len(pairs) for p, pairs in enumerate(find_optimum(theorem, "cvxpy").factors) if pairs}
    assert ranks == expected and report["rank"] == max(expected.values())  # per gate, as an independent solve says
    refused = cli.run("verify", "gated-relu-attention", "--data", data, "--gates", "3")
    assert refused.code == 2
    assert "disagrees" in refused.err
