"""The digits transfer experiment (proofs_check.studies.digits) on a tiny configuration."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import check_grad

from proofs_check.presentation.text import format_experiment
from proofs_check.studies.digits import (CLASSES, ExperimentConfig, ExperimentResult, PooledMLP, digit_tokens,
                                         run_experiment)
from theory.errors import InputError
from theory.losses import CROSS_ENTROPY, SQUARED
from theory.solvers import ACCEPT_GAP

TINY = ExperimentConfig(n_train=30, n_test=20, features=3, mlp_width=4, mlp_restarts=1,
                        heads=("linear", "mlp", "linear-attention"))


@pytest.fixture(scope="module")
def tiny_result() -> ExperimentResult:
    return run_experiment(TINY)


def test_tiny_experiment_reports_every_head_with_both_losses(tiny_result):
    assert [(h.head, h.loss) for h in tiny_result.heads] == [
        (head, loss) for loss in ("squared", "cross-entropy") for head in ("linear", "mlp", "linear-attention")]
    assert tiny_result.dims == {"n_train": 30, "n_test": 20, "s": 4, "d": 3, "c": CLASSES}
    gaps = [h.certified_gap for h in tiny_result.heads if h.kind.startswith("convex")]
    assert len(gaps) == 4 and max(gaps) <= ACCEPT_GAP  # every convex head certified (theory.solvers)
    table = format_experiment(tiny_result)
    assert "seed 0" in table and "cross-entropy" in table


def test_result_round_trips_through_json(tiny_result):
    again = ExperimentResult.from_json(tiny_result.to_json())
    assert again.to_json() == tiny_result.to_json()


def test_the_experiment_is_reproducible_from_its_seed(tiny_result):
    assert [h.test_accuracy for h in run_experiment(TINY).heads] == [h.test_accuracy for h in tiny_result.heads]


@pytest.mark.parametrize("loss", [SQUARED, CROSS_ENTROPY])
def test_mlp_gradient_matches_finite_differences(loss):
    rng = np.random.default_rng(4)
    X, Y = rng.standard_normal((5, 3, 2)), np.eye(CLASSES)[rng.integers(0, CLASSES, 5)]
    head = PooledMLP(X, Y, 4, 0.1, loss)
    theta = rng.standard_normal(2 * 4 + 4 * CLASSES)
    error = check_grad(lambda t: head.value_and_gradient(t)[0], lambda t: head.value_and_gradient(t)[1], theta)
    assert error <= 1e-5 * np.linalg.norm(head.value_and_gradient(theta)[1])


def test_tokens_are_patches_followed_by_their_position():
    image = np.arange(64.0).reshape(1, 8, 8)
    tokens = digit_tokens(image, 4)
    assert tokens.shape == (1, 4, 16 + 4)
    assert np.array_equal(tokens[0, 1, :16], image[0, :4, 4:].reshape(-1))
    assert np.array_equal(tokens[0, :, 16:], np.eye(4))


@pytest.mark.parametrize("bad", [{"patch": 3}, {"features": 1}, {"beta": 0.0}, {"heads": ("softmax",)},
                                 {"n_train": 0}, {"losses": ("hinge",)}, {"solver": "gurobi"}])
def test_bad_configuration_is_an_input_error(bad):
    with pytest.raises(InputError):
        ExperimentConfig(**bad)


def test_too_many_images_is_an_input_error():
    with pytest.raises(InputError):
        run_experiment(ExperimentConfig(n_train=1500, n_test=400, heads=("linear",)))
