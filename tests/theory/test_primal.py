"""The primal of every theorem: analytic gradient vs finite differences, and the lifting identity A(Z) = f(X).

These run over every registered theorem and every loss (theory.losses), with token-wise and pooled targets, so a
new theorem module is checked as soon as it is registered.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import bind, loss_instances
import theory
from theory.lifted import certificate
from theory.losses import LOSSES

THEOREMS = sorted(theory.REGISTRY)
#: Every (theorem, loss) pair the theorem is stated for (Theorem.losses).
CASES = [(name, loss) for name in THEOREMS for loss in LOSSES.values() if loss.name in theory.get(name).losses]
IDS = [f"{name}-{loss.name}" for name, loss in CASES]


@pytest.mark.parametrize(("name", "loss"), CASES, ids=IDS)
@given(data=st.data(), m=st.integers(1, 4))
def test_gradient_matches_central_differences(name, loss, data, m):
    """Directional derivative along a random direction: central differences with h = 1e-6 have truncation error
    O(h^2 |f'''|) and round-off O(eps |f| / h) ~ 1e-10 |f|, so they agree with the analytic gradient to 1e-6."""
    X, Y, beta, seed = data.draw(loss_instances(name, loss))
    problem = bind(name, X, Y, beta, seed, loss)
    rng = np.random.default_rng(seed)
    theta = problem.init(m, rng)
    direction = rng.standard_normal(theta.size)
    direction /= np.linalg.norm(direction)
    value, grad = problem.objective_and_gradient(theta, m)
    h = 1e-6 * max(1.0, float(np.linalg.norm(theta)))
    numeric = (problem.objective(theta + h * direction, m) - problem.objective(theta - h * direction, m)) / (2 * h)
    assert numeric == pytest.approx(grad @ direction, rel=1e-5, abs=1e-6 * max(1.0, abs(value)))


@pytest.mark.parametrize(("name", "loss"), CASES, ids=IDS)
@given(data=st.data(), m=st.integers(1, 4))
def test_lifted_map_equals_forward_pass(name, loss, data, m):
    """A(Z) with Z = lift(weights) reproduces the network output (averaged over tokens for pooled targets) to float64
    round-off, and the lifted norm is at most the weight decay (lemma L1: sum_p R(Z_p) <= 1/2 |theta|^2), with equality for the recovered weights."""
    X, Y, beta, seed = data.draw(loss_instances(name, loss))
    problem = bind(name, X, Y, beta, seed, loss)
    theta = problem.init(m, np.random.default_rng(seed))
    weights = problem.unpack(theta, m)
    blocks = problem.lift_weights(weights)
    F = problem.output(problem.forward(weights)).reshape(-1)
    assert np.allclose(problem.program.predict(blocks), F, rtol=1e-10, atol=1e-10 * np.abs(F).max())
    assert problem.program.regulariser(blocks) <= problem.weight_decay(theta, m) * (1 + 1e-12)


@pytest.mark.parametrize(("name", "loss"), CASES, ids=IDS)
@given(data=st.data(), m=st.integers(1, 4))
def test_every_network_lies_above_the_certified_lower_bound(name, loss, data, m):
    """Weak duality at random weights: any dual-feasible point bounds every network's objective from below.
    The residual of random weights, rescaled into the dual feasible set, is such a point."""
    X, Y, beta, seed = data.draw(loss_instances(name, loss))
    problem = bind(name, X, Y, beta, seed, loss)
    theta = problem.init(m, np.random.default_rng(seed))
    bound = certificate(problem.program, problem.lift_weights(problem.unpack(theta, m))).lower_bound
    assert problem.objective(theta, m) >= bound - 1e-12 * abs(bound)
