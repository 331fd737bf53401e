"""The certificate from the solver's own dual point (theory.lifted.certificate with ``dual``; the dual-scaled cvxpy
model of theory.solvers.cvxpy_backend, docs/theory.md §9.11).

Near interpolation the residual y - A(Z) is of the order of the normalised weight decay beta', so its rounding
error u |A| |Z| is a relative error of u / beta' in the dual point: at beta' = 3e-8 the residual certifies only
2.5e-4 from Clarabel's point, while the multiplier of the dual-scaled model certifies 2e-10 (measured).  Whatever
point is passed, the lower bound must stay below the objective of every Z (weak duality): that is what makes taking
the better of the two sound.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import bind, instances_for
from theory.lifted import certificate, certified_gap, normalised
from theory.solvers import ACCEPT_GAP, solve


def _near_interpolation():
    """Linear attention at beta' = 3.1e-8 (N 6, s 3, d 3, c 2): found by the thorough profile, where Clarabel and
    FISTA were refused (certified 2.5e-4 and 2.4e-3) before the dual-scaled model."""
    rng = np.random.default_rng(2764027261)
    scale = 10.0**0.6907464663199601
    X, Y = scale * rng.standard_normal((6, 3, 3)), scale * rng.standard_normal((6, 3, 2))
    return bind("linear-attention", X, Y, float(10.0**-2.2442955747082056), 2764027261).program


def test_near_interpolation_is_certified_by_the_solvers_dual_point():
    program = _near_interpolation()
    assert normalised(program)[0].beta < 1e-7
    solution = solve(program, "clarabel")
    assert solution.options["model"] == "dual-scaled" and solution.dual is not None
    assert solution.certified_gap <= ACCEPT_GAP
    assert certified_gap(program, solution.blocks)[1] > ACCEPT_GAP  # the residual alone cannot certify it (9.7e-7)
    # the dual point is feasible after rescaling by at most 1e-8: it is the multiplier, not a lucky point
    cert = certificate(program, solution.blocks, solution.dual)
    assert cert.max_dual_norm_ratio <= 1 + 1e-8


@given(instance=instances_for("linear-attention"), seed=st.integers(0, 2**32 - 1))
def test_any_dual_point_gives_a_lower_bound_below_every_objective(instance, seed):
    """Weak duality for an arbitrary V (here random, scaled like the target): the certificate rescales it into the
    feasible set, so its lower bound is below C(Z) for any Z, also for the solver's Z and a random one."""
    X, Y, beta, _ = instance
    program = bind("linear-attention", X, Y, beta, 0).program
    rng = np.random.default_rng(seed)
    V = rng.standard_normal(program.target.shape) * np.abs(program.target).max()
    for Zs in (solve(program).blocks, [rng.standard_normal(b.shape) for b in program.blocks]):
        value = program.objective(Zs)
        assert certificate(program, Zs, V).lower_bound <= value + 1e-12 * abs(value)
        assert certificate(program, Zs, V).lower_bound >= certificate(program, Zs).lower_bound
