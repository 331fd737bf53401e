"""The restart engine's saddle escape (proofs_check.restarts): L-BFGS stopped at a stationary point with an unused
head is moved below it by the dual's atom and continued, and a global minimum is left alone."""

from __future__ import annotations

import numpy as np
import pytest

from proofs_check import tolerances as tol
from proofs_check.optimum import find_optimum
from proofs_check.restarts import TheoremAtWidth, escaping_minimum, local_minimum, run_restarts
import theory

#: Fast exact theorems, one per kind of block: one nuclear block, one per gate, Frobenius groups over tokens.
ESCAPING = ("linear-mlp", "linear-attention", "gated-relu-mixer", "convex-attention-scalar")


def _zero_network(theorem: theory.Theorem, m: int) -> np.ndarray:
    """The network recovered from Z = 0 (every head unused; uniform rows for the simplex theorems)."""
    return theorem.pack(theorem.weights_from_factors([[] for _ in theorem.block_shapes()], m))


@pytest.mark.parametrize("name", ESCAPING)
def test_the_zero_network_is_a_saddle_that_the_engine_escapes(name):
    """Known answer: from the zero network, a stationary point (every head is zero, so the gradient of the
    factorised objective vanishes), plain L-BFGS stays at l(0); with the escape it reaches the certified optimum C*
    (zero gap at the zero-gap width), after at least one escape."""
    theorem = theory.get(name).default_instance(0)
    m = theorem.heads_for_zero_gap()
    objective, start = TheoremAtWidth(theorem, m), _zero_network(theorem, m)
    zero = theorem.objective(start, m)
    stuck, _ = local_minimum(objective, start)
    assert stuck == pytest.approx(zero, rel=1e-12)
    value, _, escapes = escaping_minimum(objective, start)
    optimum = find_optimum(theorem)
    assert escapes >= 1
    assert abs(value - optimum.convex_optimum) <= tol.GAP * optimum.scale
    assert value >= optimum.lower_bound - tol.ROUNDOFF * optimum.scale  # weak duality still holds


def test_a_global_minimum_is_not_escaped():
    """At beta >= beta_max, Z = 0 solves the program and the zero network is the global minimum: no escape."""
    theorem = theory.get("linear-mlp").default_instance(0)
    above = theorem.rebind(fraction=1.5)
    m = above.heads_for_zero_gap()
    start = _zero_network(above, m)
    assert TheoremAtWidth(above, m).escape(start, above.objective(start, m)) is None
    value, _, escapes = escaping_minimum(TheoremAtWidth(above, m), start)
    assert escapes == 0 and value == pytest.approx(above.objective(start, m), rel=1e-12)


def test_restarts_count_their_escapes():
    """A run records per restart how often it escaped; random starts on the default instance need none."""
    theorem = theory.get("linear-attention").default_instance(0)
    m = theorem.heads_for_zero_gap()
    run = run_restarts(TheoremAtWidth(theorem, m), 3, 0, (m,))
    assert run.escapes.shape == (3,) and run.escapes.dtype.kind == "i"
    assert run.escapes.sum() == 0
