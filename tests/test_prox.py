"""The proximal solver (theory.prox) against cvxpy, and the batched primal against the serial one.

Tolerances: the prox solver stops at a certified relative gap of 1e-8 (C(Z) - C* <= 1e-8 C(Z)), and Clarabel's
solutions certify to 1e-9 .. 3e-8 (theory.lifted.TRUNCATION_TOL), so the two optima must agree to 1e-6 relative
(the issue's requirement), 30 times above the sum of both accuracies.  The batched objective/gradient computes
the same float64 expressions in another order, so it agrees with the serial one to round-off (1e-12 relative).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import theory
from proofs_check.batched import run_batched_restarts
from proofs_check.restarts import run_restarts
from tests.strategies import bind, instances_for
from theory.base import Theorem
from theory.convex import solve
from theory.errors import InputError, SolverFailure
from theory.lifted import certificate
from theory.prox import solve_prox

#: Theorems the prox solver is not tested on, with the reason (measured): relu-attention's program has one small
#: block per logit pattern (390 on its default instance); FISTA reached only a certified gap of 1.1e-2 in 120 s
#: there, while Clarabel solves it in a few seconds.  theory.prox.resolve_solver never picks prox for it (size).
PROX_UNSUITED = {"relu-attention"}
NAMES = sorted(set(theory.REGISTRY) - PROX_UNSUITED)
AGREEMENT = 1e-6
ROUND_OFF = 1e-12


def _agree(program) -> None:
    reference = solve(program)
    solution = solve_prox(program, max_seconds=120)
    assert solution.solver == "PROX" and solution.status == "optimal"
    gap = solution.optimum - certificate(program, solution.blocks).lower_bound
    assert gap <= 1e-8 * abs(solution.optimum) + 1e-300
    assert abs(solution.optimum - reference.optimum) <= AGREEMENT * abs(reference.optimum)


@pytest.mark.parametrize("name", NAMES)
def test_prox_matches_cvxpy_on_default_data(name: str) -> None:
    _agree(theory.get(name).default_instance(0).program)


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_prox_matches_cvxpy_on_drawn_instances(name: str, data) -> None:
    instance = data.draw(instances_for(name))
    _agree(bind(name, *instance).program)


def test_prox_reports_the_gap_when_out_of_budget() -> None:
    cls = theory.get("linear-attention")
    X, Y, beta = cls.default_data(np.random.default_rng(0))
    with pytest.raises(SolverFailure, match="certified relative gap"):
        solve_prox(cls(X, Y, beta).program, max_iterations=30)
    with pytest.raises(InputError):
        solve_prox(cls(X, Y, beta).program, eps=0.0)


@pytest.mark.parametrize("name", NAMES)
def test_batched_objective_and_gradient_equal_serial(name: str) -> None:
    theorem = theory.get(name).default_instance(1)
    m = 3
    Theta = np.random.default_rng(2).standard_normal((4, theorem.n_params(m)))
    values, grads = theorem.batch_objective_and_gradient(Theta, m)
    loop_values, loop_grads = Theorem.batch_objective_and_gradient(theorem, Theta, m)
    assert values.shape == (4,) and grads.shape == Theta.shape
    np.testing.assert_allclose(values, loop_values, rtol=ROUND_OFF)
    np.testing.assert_allclose(grads, loop_grads, rtol=0, atol=ROUND_OFF * np.abs(loop_grads).max())


def test_batched_restarts_reach_the_serial_best() -> None:
    """Both paths end in L-BFGS local minima; at the zero-gap width every local minimum is global, so the
    best values agree to L-BFGS accuracy (1e-9 relative, proofs_check.restarts.LBFGS_OPTIONS)."""
    cls = theory.get("linear-attention")
    theorem = cls(*cls.default_data(np.random.default_rng(0)))
    m = theorem.heads_for_zero_gap()
    serial, batched = run_restarts(theorem, m, 2, seed=0), run_batched_restarts(theorem, m, 6, seed=0, polish=2)
    assert abs(batched.best - serial.best) <= 1e-9 * serial.best
    assert theorem.objective(batched.best_theta, m) == pytest.approx(batched.best, rel=ROUND_OFF)
