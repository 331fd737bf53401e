"""The witnesses on data that is not only Gaussian (tests/strategies.structured_instances): realisable targets from
a planted network of the theorem's own family plus noise, duplicate tokens, rank-deficient X, and scales over six
decades (1e-3 .. 1e3), for every registered theorem.  Each drawn instance runs the full verification with 3 restarts;
every claimed witness must pass.

No draw is discarded because restarts stopped at the strict saddle theta = 0: the restart engine escapes it
(proofs_check.restarts), and the test asserts that it did.  Two kinds of draw give no verdict and are left out with hypothesis.assume, so they are counted as invalid examples
(labelled with hypothesis.event; see --hypothesis-show-statistics), never silently passed: draws outside the prox
solvers' certified range (theory.solvers.PROX_MIN_BETA on the normalised program) when the harness would pick the prox
solver, and draws on which no solver certifies its solution (SolverFailure; before the certificate decided acceptance,
Clarabel answered 'optimal_inaccurate' once in 30 structured relu-attention draws, N = 2, s = 1, beta = 1e-3 beta_max).

Known finding (not hidden here): convex-attention claims its zero gap at s min(d, c) + 1 heads per row, where the
simplex parametrisation still has spurious local minima, so "best of 3 restarts reaches C*" fails on some draws:
1 of 100 random structured draws and 9 of 100 plain Gaussian draws (tests/strategies.instances_for), with 10 % to
50 % of 20 further restarts reaching C* on those instances; the ci profile's derandomized draws pass.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, event, given
from hypothesis import strategies as st

from proofs_check.harness import verify
from tests.strategies import bind, structured_instances
from tests.tolerances import ROUND_OFF
import theory
from theory.errors import SolverFailure
from theory.lifted import beta_max, normalised
from theory.solvers import PROX_METHODS, PROX_MIN_BETA, resolve

NAMES = sorted(theory.REGISTRY)


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_all_witnesses_hold_on_structured_data(name, data):
    X, Y, beta, seed = data.draw(structured_instances(name))
    theorem = bind(name, X, Y, beta, seed)
    if resolve(theorem.program, "auto") in PROX_METHODS:
        assume(normalised(theorem.program)[0].beta >= PROX_MIN_BETA)
    try:
        result = verify(theorem, restarts=3, seed=seed)
    except SolverFailure as failure:
        event(f"no verdict: {failure}")
        assume(False)
    assert not stopped_at_the_saddle(theorem, result), "the restart engine left every restart at theta = 0"
    failed = [f"{c.name}={c.value:.3e} (tol {c.relation} {c.tolerance:.0e}): {c.detail}"
              for c in result.checks if c.claim and c.passed is False]
    assert not failed, (failed, f"seed {seed}, shape {X.shape}, beta {beta!r}")


def stopped_at_the_saddle(theorem: theory.Theorem, result) -> bool:
    """Every restart at the zero-gap width ended at the objective of theta = 0, and beta < beta_max, where theta = 0 is
    a strict saddle of the factorised problem (its Hessian has the eigenvalues beta -+ sigma(A^T grad l(0)), one
    negative; docs/theory.md §10.1).  The theorems exclude spurious local minima, not an optimiser stopping at a
    saddle (measured before the engine escaped saddles: L-BFGS stopped there from 9 of 20 random starts on a draw
    with beta near beta_max and X of rank one); the engine now escapes it (proofs_check.restarts), so no draw may end
    there."""
    zero_loss = theorem.program.loss_value(np.zeros_like(theorem.program.target))
    values = np.asarray(result.restart_values[result.heads])
    at_zero = np.all(np.abs(values - zero_loss) <= ROUND_OFF * zero_loss)
    return bool(at_zero) and theorem.beta < beta_max(theorem.program)
