"""The ends of the accepted data range (theory.data.SCALE_RANGE): data scaled so that its largest entry sits at
1e-29 or 1e29 gives the witnesses of the unscaled problem, and the optimum they certify is the unscaled one.

Scaling X by a and Y by b scales every lifted map A_p by a^k (k = 1 or 3: the features are homogeneous in X, the
gates' masks invariant under a > 0), so Z -> Z b / a^k maps the optima of (C) with beta -> beta a^k b onto each
other and C* -> b^2 C* (docs/theory.md §1).  beta_max scales by the same a^k b, which gives the matching beta without
knowing k.  Found by this test: the truncation's absolute floor of 1e-12 called every component of an optimum of
size 1e-58 zero, and recovery failed at the lower end."""

from __future__ import annotations

import numpy as np
import pytest

from proofs_check.harness import verify
from tests.tolerances import TWO_ACCEPTED
import theory
from theory.data import SCALE_RANGE
from theory.lifted import beta_max

THEOREMS = ["linear-mlp", "linear-attention", "gated-relu-attention", "convex-attention", "mlp-mixer", "fno"]


def _scaled(theorem: theory.Theorem, end: float) -> tuple[theory.Theorem, float]:
    """The theorem on its data scaled to a largest entry of ``end`` (X and Y alike), and b^2, the factor of C*."""
    a, b = end / np.abs(theorem.X).max(), end / np.abs(theorem.Y).max()
    X, Y = a * theorem.X, b * theorem.Y
    probe = type(theorem).from_arrays({"X": X, "Y": Y}, 1.0, 0)  # seed 0: the gates of default_instance(0)
    beta = theorem.beta * beta_max(probe.program) / beta_max(theorem.program)
    return probe.rebind(beta), b * b


@pytest.mark.parametrize("end", [SCALE_RANGE[0] * 10, SCALE_RANGE[1] / 10])
@pytest.mark.parametrize("name", THEOREMS)
def test_witnesses_at_the_ends_of_the_scale_range(name, end):
    theorem = theory.get(name).default_instance(0)
    scaled, factor = _scaled(theorem, end)
    reference = verify(theorem, convex_only=True)
    result = verify(scaled, convex_only=True)
    assert result.passed, [(c.name, c.value) for c in result.checks if c.passed is False]
    assert result.convex_optimum / factor == pytest.approx(reference.convex_optimum, rel=TWO_ACCEPTED)
    assert result.rank == reference.rank
