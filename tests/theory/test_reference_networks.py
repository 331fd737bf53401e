"""Every network, its lifted program and its weight decay against the slow second transcription of tests/reference.py,
for every registered theorem on hypothesis-drawn instances (plain Gaussian and the structured ones of
tests/strategies.py: planted targets, duplicate tokens, rank-deficient X, scales 1e-3 .. 1e3).

These catch a transcription error made consistently in a network and its program (which the lifting identity
A(lift(w)) = forward(w) of tests/theory/test_primal.py cannot see): the vectorised forward, program.predict(lift_weights(w)),
the objective and the blocks' matrices must each equal the reference.

Tolerance: ROUND_OFF = 1e-12 relative to the largest entry compared: the same float64 sums in another order
(at most a few hundred terms of size <= that entry, so ~1e-14), with margin.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests import reference
from tests.strategies import bind, instances_for, structured_instances
from tests.tolerances import ROUND_OFF
import theory

NAMES = sorted(theory.REGISTRY)


def _close(actual: np.ndarray, expected: np.ndarray, what: str, scale: float | None = None) -> None:
    assert actual.shape == expected.shape, what
    scale = max(float(np.abs(expected).max()) if scale is None else scale, np.finfo(float).tiny)
    error = float(np.abs(actual - expected).max())
    assert error <= ROUND_OFF * scale, f"{what}: max error {error:.3e} vs largest entry {scale:.3e}"


def _theorem_and_weights(name: str, data, structured: bool):
    draw = structured_instances(name) if structured else instances_for(name)
    X, Y, beta, seed = data.draw(draw)
    theorem = bind(name, X, Y, beta, seed)
    m = data.draw(st.integers(1, 3))
    weights = theorem.unpack(np.random.default_rng(seed).standard_normal(theorem.n_params(m)), m)
    return theorem, weights, m


@pytest.mark.parametrize("structured", [False, True], ids=["gaussian", "structured"])
@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_network_program_and_decay_equal_the_reference(name, structured, data):
    """forward(w), program.predict(lift_weights(w)), weight_decay and objective against tests/reference.py."""
    theorem, weights, m = _theorem_and_weights(name, data, structured)
    expected = reference.FORWARD[name](theorem, weights)
    _close(theorem.forward(weights), expected, "forward")
    _close(theorem.program.predict(theorem.lift_weights(weights)), expected.reshape(-1), "predict(lift_weights(w))")
    theta = theorem.pack(weights)
    decay = reference.weight_decay(name, weights)
    assert abs(theorem.weight_decay(theta, m) - decay) <= ROUND_OFF * max(decay, np.finfo(float).tiny)
    value = reference.objective(name, theorem, weights)
    assert abs(theorem.objective(theta, m) - value) <= ROUND_OFF * value


@pytest.mark.parametrize("structured", [False, True], ids=["gaussian", "structured"])
@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_program_blocks_equal_the_reference_lifting(name, structured, data):
    """Each block A_p of the program against the lifting written entry by entry from its formula, and the
    reference lifting of the theorem's own lift_weights(w) reproduces the reference network."""
    theorem, weights, _ = _theorem_and_weights(name, data, structured)
    matrices = reference.lifted_matrices(name, theorem)
    blocks = theorem.program.blocks
    assert len(blocks) == len(matrices)
    # round-off relative to the whole map: a block can be round-off only (an rfft mode that a structured X lacks)
    largest = max(float(np.abs(A).max()) for A in matrices)
    for p, (block, A) in enumerate(zip(blocks, matrices)):
        assert block.shape[0] * block.shape[1] == A.shape[1]
        _close(block.matrix, A, f"block {p}", largest)
    lifted = theorem.lift_weights(weights)
    prediction = sum(A @ Z.reshape(-1) for A, Z in zip(matrices, lifted))
    _close(prediction, reference.FORWARD[name](theorem, weights).reshape(-1), "reference A(lift_weights(w))")
