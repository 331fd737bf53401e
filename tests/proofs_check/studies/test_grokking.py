"""The grokking experiment (proofs_check.studies.grokking) and its transformer block
(proofs_check.studies.models.transformer_block), on tiny configurations: gradients against central differences,
AdamW's first step against its closed form, the division table against its definition, the convex block against the
theorem it comes from, and the CLI.

Tolerances: central differences with h = 1e-6 err by O(h^2) truncation plus O(1e-16 / h) round-off relative to the
loss, so they agree with the analytic gradient to 1e-6 relative; float64 round-off of the same sums in another
order is below 1e-12 relative.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from proofs_check.studies.grokking import (Curve, GrokkingConfig, GrokkingResult, ModelRun, convex_program,
                                           division_table, run_grokking, split)
from proofs_check.studies.models.transformer_block import AdamW, BlockShape, init_params, loss_and_gradient
from tests.tolerances import ROUND_OFF
from theory.convex_attention_fc import ConvexAttentionFC, draw_fc_gates
from theory.errors import InputError
from theory.losses import CROSS_ENTROPY, SQUARED

TINY = GrokkingConfig(modulus=5, train_fraction=0.6, steps=60, log_every=20, width=8, heads=2, hidden=8, gates=3,
                      beta_fraction=0.1)


@pytest.fixture(scope="module")
def tiny_result() -> GrokkingResult:
    return run_grokking(TINY)


@pytest.mark.parametrize("loss", [CROSS_ENTROPY, SQUARED], ids=["cross-entropy", "squared"])
@pytest.mark.parametrize("name", ["E", "P", "Wq", "Wk", "Wv", "Wo", "W1", "b1", "W2", "b2", "Wu"])
def test_block_gradient_matches_central_differences(name, loss):
    rng = np.random.default_rng(0)
    params = init_params(BlockShape(6, 3, 8, 2, 12, 5), rng)
    params = {k: v + 0.3 * rng.standard_normal(v.shape) for k, v in params.items()}  # non-zero biases too
    tokens, targets = rng.integers(0, 6, (7, 3)), rng.standard_normal((7, 5))
    value, grads = loss_and_gradient(params, tokens, targets, 2, loss)
    direction, h = rng.standard_normal(params[name].shape), 1e-6
    shifted = [loss_and_gradient({**params, name: params[name] + sign * h * direction}, tokens, targets, 2, loss)[0]
               for sign in (1, -1)]
    assert (shifted[0] - shifted[1]) / (2 * h) == pytest.approx(np.vdot(grads[name], direction), rel=1e-6,
                                                                abs=1e-8 * value)


def test_adamw_first_step_is_lr_times_sign_plus_decay():
    """After one step m / sqrt(v) = g / |g| (bias-corrected), so theta moves by -lr (sign(g) + wd theta)."""
    theta, grad = np.array([1.0, -2.0, 0.5]), np.array([0.3, -4.0, 2e-3])
    params = {"w": theta.copy()}
    AdamW(learning_rate=0.1, weight_decay=0.5, eps=0.0).step(params, {"w": grad})
    np.testing.assert_allclose(params["w"], theta - 0.1 * (np.sign(grad) + 0.5 * theta), rtol=ROUND_OFF)


def test_division_table_is_a_times_the_inverse_of_b():
    tokens, labels = division_table(7)
    assert tokens.shape == (42, 3) and np.all(tokens[:, 2] == 7)
    assert np.all(labels * tokens[:, 1] % 7 == tokens[:, 0])  # c b = a (mod P)
    assert labels[(tokens[:, 0] == 3) & (tokens[:, 1] == 5)][0] == 2  # 5^-1 = 3 mod 7, 3 * 3 = 9 = 2


def test_split_is_a_seeded_partition():
    train, test = split(42, 0.3, seed=4)
    assert len(train) == 13 and sorted(np.concatenate([train, test])) == list(range(42))
    assert np.array_equal(split(42, 0.3, seed=4)[0], train) and not np.array_equal(split(42, 0.3, seed=5)[0], train)


def test_convex_block_is_the_read_out_row_of_the_theorem():
    """The grokking program is convex-attention-fc on one-hot tokens with the rows of the '=' position only."""
    tokens, labels = division_table(5)
    X, Y = np.eye(6)[tokens], np.eye(5)[labels][:, None].repeat(3, axis=1)
    theorem = ConvexAttentionFC(X, Y, 0.1, *draw_fc_gates(TINY.gates, 3, 6, TINY.seed))
    rows = np.arange(len(labels) * 3 * 5).reshape(len(labels), 3, 5)[:, 2].reshape(-1)
    full = theorem.program.blocks[2 * TINY.gates * 3:]  # query 2: blocks (2, p, t'), after queries 0 and 1
    for ours, theirs in zip(convex_program(TINY, tokens, labels, 0.1).blocks, full, strict=True):
        assert np.array_equal(ours.matrix, theirs.matrix[rows])


def test_tiny_run_logs_both_curves_and_their_milestones(tiny_result):
    transformer, convex = tiny_result.runs
    assert transformer.curve.step == [20, 40, 60]
    assert convex.curve.step[0] == 25 and convex.details["certified_gap"] <= 1e-8
    again = GrokkingResult.from_json(json.loads(json.dumps(tiny_result.to_json())))
    assert again.to_json() == tiny_result.to_json()


def test_first_step_at_the_threshold():
    curve = Curve([10, 20, 30], [0, 0, 0], [0.5, 0.99, 1.0], [0, 0, 0], [0.1, 0.2, 0.3])
    assert curve.first_step(curve.train_accuracy) == 20 and curve.first_step(curve.test_accuracy) is None


def test_milestones_of_a_logged_run_are_known():
    """A run logged by hand: 99 % train accuracy first at step 30 (0.95 at step 20 is not enough), 99 % test
    accuracy first at step 50, so the grokking gap is 20 steps; a run whose test accuracy never gets there has no
    gap.  The JSON carries the same milestones."""
    steps, zeros = [10, 20, 30, 40, 50], [0.0] * 5
    run = ModelRun("m", "steps", Curve(steps, zeros, [0.5, 0.95, 0.99, 1.0, 1.0], zeros, [0.1, 0.2, 0.5, 0.98, 0.995]),
                   1.0, {})
    assert (run.train_step, run.test_step, run.grokking_gap) == (30, 50, 20)
    fields = run.to_json()
    assert (fields["steps_to_train_99"], fields["steps_to_test_99"], fields["grokking_gap"]) == (30, 50, 20)
    late = ModelRun("m", "steps", Curve(steps, zeros, [0.5, 0.95, 0.99, 1.0, 1.0], zeros, [0.1] * 5), 1.0, {})
    assert (late.train_step, late.test_step, late.grokking_gap) == (30, None, None)


@pytest.mark.parametrize("bad", [{"modulus": 9}, {"modulus": 2}, {"train_fraction": 1.0}, {"heads": 3},
                                 {"beta_fraction": 0.0}, {"steps": 0}])
def test_bad_configuration_is_an_input_error(bad):
    with pytest.raises(InputError):
        GrokkingConfig(**bad)


def test_cli_runs_grokking_and_refuses_foreign_options(cli, tmp_path):
    result = cli.run("experiment", "grokking", "--modulus", "3", "--steps", "20", "--seed", "0", "1",
                     "--report", tmp_path)
    assert result.code == 0
    assert "cross-entropy loss on one-hot" in result.out
    stored = json.loads((tmp_path / "grokking.json").read_text())
    assert [run["config"]["seed"] for run in stored["runs"]] == [0, 1]
    assert {"steps_to_train_99", "steps_to_test_99", "grokking_gap"} <= set(stored["runs"][0]["runs"][0])
    assert (tmp_path / "grokking_P3_f0.5_s1.png").read_bytes()[:4] == b"\x89PNG"
    for argv, needle in ((["experiment", "grokking", "--n-train", "5"], "takes no option --n-train"),
                         (["experiment", "--modulus", "5"], "takes no option --modulus"),
                         (["experiment", "--seed", "0", "1"], "takes one --seed"),
                         (["experiment", "grokking", "--modulus", "8"], "prime")):
        result = cli.run(*argv)
        assert result.code == 2
        assert needle in result.err
