"""The five witnesses on hypothesis-drawn instances, for every registered theorem.

Each drawn instance runs the full verification (convex solve, restarts at the zero-gap width, at m* and at
m* - 1, recovery, certificate) with a few restarts; every witness that applies must pass.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from proofs_check import tolerances as tol
from proofs_check.harness import verify
from proofs_check.optimum import find_optimum
from tests.strategies import bind, instances_for, loss_instances
from tests.tolerances import ROUND_OFF
import theory
from theory.losses import CROSS_ENTROPY, SQUARED


THEOREMS = sorted(theory.REGISTRY)
#: Restarts per width in the drawn-instance test.  Convex attention's simplex-row factorisation has spurious local
#: minima (docs/theory.md §8.4): on its default instance 15 % (cross-entropy) of L-BFGS restarts reach C*, so 3
#: restarts miss it with probability 0.85^3 = 0.61 and 30 with 0.85^30 = 0.008.  Elsewhere every local minimum at
#: the zero-gap width is global and 3 restarts suffice.
RESTARTS = {"convex-attention": 30}


def result_is_exact(name: str) -> bool:
    """Whether the theorem claims equivalence (theory.base.Theorem.exact) rather than a lower bound."""
    return theory.get(name).exact


@pytest.mark.parametrize(("name", "loss"), [(name, loss) for name in THEOREMS for loss in (SQUARED, CROSS_ENTROPY)
                                           if loss.name in theory.get(name).losses],
                         ids=lambda value: getattr(value, "name", value))
@given(data=st.data())
def test_all_witnesses_hold(name, loss, data):
    X, Y, beta, seed = data.draw(loss_instances(name, loss) if loss == CROSS_ENTROPY else instances_for(name))
    result = verify(bind(name, X, Y, beta, seed, loss), restarts=RESTARTS.get(name, 3), seed=seed)
    failed = [f"{c.name}={c.value:.3e} (tol {c.relation} {c.tolerance:.0e}): {c.detail}"
              for c in result.checks if c.claim and c.passed is False]
    assert not failed, failed
    # the witnesses the theorem stands on were evaluated and passed: a claimed check the harness skipped (passed None)
    # would otherwise slip through the list of failures above
    claimed = {"weak_duality", "recovery", "dual_certificate"} if result_is_exact(name) else {"weak_duality", "dual_certificate"}
    passed = {c.name for c in result.checks if c.claim and c.passed is True}
    assert passed >= claimed, (claimed - passed, [(c.name, c.passed, c.detail) for c in result.checks])


@pytest.mark.parametrize("name", [name for name in THEOREMS if result_is_exact(name)])
@given(data=st.data())
def test_recovery_inverts_the_lifting(name, data):
    """lift(recover(Z)) = Z for the rank-reduced solution Z (float64 round-off), and the recovered weights pay
    exactly the lifted norm (lemma L1 with the SVD factors).  For a relaxation the lifting puts a head in the block of
    its own activation pattern, so the identity holds only when the recovered heads lie in their cones, which drawn
    instances rarely give (0 of 4 heads on relu-attention's default instance): it is asserted on the in-cone known
    answers instead (tests/theory/test_known_answers.py)."""
    instance = data.draw(instances_for(name))
    X, Y, beta, seed = instance
    problem = bind(name, X, Y, beta, seed)
    optimum = find_optimum(problem)
    reduced, theta, m = optimum.blocks, optimum.theta, optimum.heads
    lifted = problem.lift_weights(optimum.weight_list)
    scale = max(float(np.abs(Z).max()) for Z in reduced) or 1.0
    for Z, L in zip(reduced, lifted):
        assert np.abs(Z - L).max() <= ROUND_OFF * scale
    assert problem.weight_decay(theta, m) == pytest.approx(problem.program.regulariser(lifted), rel=1e-10, abs=1e-14)


def test_default_instances_show_a_gap_below_rank():
    """The failure of small widths on the default linear-attention instance (unique optimum, rank 5): m* - 1
    heads stay far above C* (measured 7.7e-4 relative), so the width observation is seen."""
    cls = theory.get("linear-attention")
    problem = cls(*cls.default_data(np.random.default_rng(0)))
    result = verify(problem, restarts=4, seed=0)
    assert result.rank >= 2
    assert (result.narrow_best - result.convex_optimum) / result.convex_optimum >= tol.NARROW
    assert next(c for c in result.checks if c.name == "width_necessity").passed
