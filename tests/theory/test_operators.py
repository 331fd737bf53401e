"""The structured lifted maps of theory.operators against the dense matrix and the slow reference lifting, the
matrix-free memory check, and SSNAL's two Newton solves (formed matrix, conjugate gradients).

Tolerances: ROUND_OFF (tests/tolerances.py) relative to the largest entry for two evaluations of the same sums in
another order; the SSNAL optima of the two Newton solves are each certified to eps = 1e-8 (C(Z) - C* <= 1e-8 C(Z)),
so they agree to 2e-8 relative.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
from hypothesis import given
from hypothesis import strategies as st

from tests import reference
from tests.strategies import bind, instances_for, mixed_program
from tests.tolerances import ROUND_OFF, TWO_CERTIFIED
import theory
from theory.errors import InputError
from theory.lifted import certified_gap
from theory.memory import MEMORY_ENV, USABLE, dense_map_bytes, matrix_free_bytes
from theory.operators import AttentionMap, ComposedMap, DenseMap, LinearMap, Stack
from theory.regularisers import FROBENIUS, NUCLEAR
from theory.solvers import solve, ssnal

MATRIX_FREE = sorted(name for name, cls in theory.REGISTRY.items() if cls.matrix_free)
#: Two certified solutions of one program: each within eps = 1e-8 of C*.


def _close(actual: np.ndarray, expected: np.ndarray, what: str) -> None:
    assert actual.shape == expected.shape, what
    scale = max(float(np.abs(expected).max()), np.finfo(float).tiny)
    error = float(np.abs(actual - expected).max())
    assert error <= ROUND_OFF * scale, f"{what}: max error {error:.3e} vs largest entry {scale:.3e}"


def _products(A: LinearMap, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Every product of the interface on fixed random arguments (batched where the interface is)."""
    rows, cols = A.shape
    Z, V = rng.standard_normal((2, rows, cols)), rng.standard_normal((3, A.outputs))
    L, R, g = rng.standard_normal((rows, 3)), rng.standard_normal((cols, 2)), rng.random(2)
    return {"apply": A.apply(Z), "adjoint": A.adjoint(V), "outer": A.outer(L, R), "right_gram": A.right_gram(R, g),
            "left_gram": A.left_gram(L[:, :2], g), "gram": A.gram(), "dense": A.dense()}


@given(N=st.integers(1, 3), s=st.integers(1, 4), d=st.integers(1, 4), c=st.integers(1, 3),
       shared=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_attention_map_products_equal_the_dense_matrix(N, s, d, c, shared, seed):
    """AttentionMap's structured products against the same products of its dense matrix (one Gram per sample or one
    per query), and its pooled and scaled compositions against the composed dense matrices."""
    rng = np.random.default_rng(seed)
    A = AttentionMap(rng.standard_normal((N, s, d)), rng.standard_normal((N, 1 if shared else s, d, d)), c)
    dense = DenseMap(A.dense(), A.shape)
    structured, expected = _products(A, np.random.default_rng(1)), _products(dense, np.random.default_rng(1))
    for name in structured:
        _close(structured[name], expected[name], name)
    mean = scipy.sparse.kron(scipy.sparse.identity(N), scipy.sparse.kron(np.full((1, s), 1 / s),
                                                                         scipy.sparse.identity(c)))
    pooled = mean @ dense.matrix
    for composed, matrix in ((A.mapped(mean), pooled), (A.scaled(0.3).mapped(mean), 0.3 * pooled)):
        assert isinstance(composed, ComposedMap)
        got = _products(composed, np.random.default_rng(2))
        want = _products(DenseMap(matrix, A.shape), np.random.default_rng(2))
        for name in got:
            _close(got[name], want[name], f"composed {name}")
    _close(np.array(A.spectral_norm()), np.array(np.linalg.norm(dense.matrix, 2)), "spectral norm")


@pytest.mark.parametrize("norm", [NUCLEAR, FROBENIUS], ids=["nuclear", "frobenius"])
@given(n=st.integers(2, 8), reached=st.integers(1, 8), shape=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       seed=st.integers(0, 2**32 - 1))
def test_maps_on_some_output_rows_equal_their_full_matrices(norm, n, reached, shape, seed):
    """Dense maps that hold only the output rows they reach (convex attention's key blocks): every product, a stack
    of three of them in SSNAL's orientation (adjoint, sum of outputs, Newton term), and their compositions, against
    the same with the full matrices."""
    rng = np.random.default_rng(seed)
    m = min(reached, n)
    maps = [DenseMap(rng.standard_normal((m, shape[0] * shape[1])), shape, n, rng.choice(n, m, replace=False))
            for _ in range(3)]
    full = [DenseMap(A.dense(), shape) for A in maps]
    for A, F in zip(maps, full):
        got, want = _products(A, np.random.default_rng(1)), _products(F, np.random.default_rng(1))
        for name in got:
            _close(got[name], want[name], name)
    L = scipy.sparse.random(3, n, density=0.5, random_state=seed % 2**31) + scipy.sparse.eye(3, n)
    for composed, expected in ((maps[0].mapped(L), L @ full[0].matrix), (maps[0].scaled(0.7), 0.7 * full[0].matrix)):
        _close(composed.dense(), np.asarray(expected), "composition")
    transposed = norm.needs_sdp and shape[0] < shape[1]
    stacks = Stack(maps, transposed), Stack(full, transposed)
    assert stacks[0].rows is not None and stacks[1].rows is None
    X, V = rng.standard_normal((3, *stacks[0].shape)), rng.standard_normal(n)
    threshold = float(np.median([norm.dual(Xp) for Xp in X]))
    data = norm.prox(X, threshold)[1]
    for what, (got, want) in {"adjoint": [S.adjoint(V) for S in stacks], "apply": [S.apply(X) for S in stacks],
                              "Newton term": [norm.jacobian_gram(S, data, threshold) for S in stacks]}.items():
        _close(got, want, what)


@pytest.mark.parametrize("name", MATRIX_FREE)
@given(data=st.data())
def test_matrix_free_blocks_apply_the_reference_lifting(name, data):
    """A_p(Z) and A_p^T V of every matrix-free block against the lifting written entry by entry in
    tests/reference.py (not through the block's own dense matrix)."""
    theorem = bind(name, *data.draw(instances_for(name)))
    rng = np.random.default_rng(0)
    blocks = theorem.program.blocks
    for block, matrix in zip(blocks, reference.lifted_matrices(name, theorem), strict=True):
        assert not isinstance(block.operator, DenseMap)
        Z, V = rng.standard_normal(block.shape), rng.standard_normal(matrix.shape[0])
        _close(block.operator.apply(Z), matrix @ Z.reshape(-1), f"{block.label} apply")
        _close(block.operator.adjoint(V), (matrix.T @ V).reshape(block.shape), f"{block.label} adjoint")


def test_newton_matrix_of_the_structured_map_equals_the_dense_one():
    """SSNAL's Newton term sum_p A_p J_p A_p^T from the structured products equals the one from the dense tensor,
    with some singular values of the prox argument above the threshold and some below."""
    rng = np.random.default_rng(4)
    A = AttentionMap(rng.standard_normal((3, 4, 3)), rng.standard_normal((3, 4, 3, 3)), 2)
    X = rng.standard_normal((1, *A.shape))
    threshold = float(np.median(np.linalg.svd(X[0], compute_uv=False)))
    data = NUCLEAR.prox(X, threshold)[1]
    structured = NUCLEAR.jacobian_gram(Stack([A]), data, threshold)
    _close(structured, NUCLEAR.jacobian_gram(Stack([DenseMap(A.dense(), A.shape)]), data, threshold), "Newton term")


def test_matrix_free_program_is_solved_where_its_dense_map_would_be_refused(monkeypatch):
    """With memory between the two estimates (theory.memory), linear attention builds and certifies its program
    matrix-free, and refuses the dense map only when something asks for it (Block.matrix, cvxpy)."""
    rng = np.random.default_rng(5)
    N, s, d, c = 16, 8, 32, 2
    n, shapes = N * s * c, [(d * d, d * c)]
    assert matrix_free_bytes(n, shapes) < dense_map_bytes(n, shapes)
    available = (matrix_free_bytes(n, shapes) + dense_map_bytes(n, shapes)) / 2 / USABLE
    monkeypatch.setenv(MEMORY_ENV, str(int(available)))
    theorem = theory.get("linear-attention").from_arrays({"X": rng.standard_normal((N, s, d)),
                                                          "Y": rng.standard_normal((N, s, c))}, 0.1, 5)
    solution = solve(theorem.program, "prox")
    assert certified_gap(theorem.program, solution.blocks)[1] <= 1e-8
    with pytest.raises(InputError, match="dense lifted map"):
        theorem.program.blocks[0].matrix
    with pytest.raises(InputError, match="dense lifted map|cvxpy"):
        solve(theorem.program, "cvxpy")


def test_key_blocks_are_checked_for_the_rows_they_hold(monkeypatch):
    """Convex attention's blocks hold the N c rows of their query: its program is built with memory for those rows
    although the blocks' full dense maps (N s c rows each) would not fit."""
    N, s, d, c = 6, 5, 4, 2
    shapes = [(d, c)] * s**2
    held, full = dense_map_bytes(N * c, shapes), dense_map_bytes(N * s * c, shapes)
    monkeypatch.setenv(MEMORY_ENV, str(int((held + full) / 2 / USABLE)))
    rng = np.random.default_rng(6)
    arrays = {"X": rng.standard_normal((N, s, d)), "Y": rng.standard_normal((N, s, c))}
    blocks = theory.get("convex-attention").from_arrays(arrays, 0.5, 6).program.blocks
    assert {len(block.operator.rows) for block in blocks} == {N * c}
    monkeypatch.setenv(MEMORY_ENV, str(int(held / 2 / USABLE)))
    with pytest.raises(InputError, match="dense lifted map"):
        theory.get("convex-attention").from_arrays(arrays, 0.5, 6).program


PROGRAMS = {"linear-attention": lambda: theory.get("linear-attention").default_instance(0).program,
            "gated-relu-attention": lambda: theory.get("gated-relu-attention").default_instance(1).program,
            "mixed blocks": lambda: mixed_program(0)}


@pytest.mark.parametrize("name", PROGRAMS)
def test_conjugate_gradient_newton_solve_agrees_with_the_formed_matrix(name, monkeypatch):
    """SSNAL with the Newton system solved by conjugate gradients (forced: DENSE_NEWTON_MAX = 0) certifies the
    same optimum as with the formed matrix."""
    program = PROGRAMS[name]()
    formed = ssnal.solve_ssnal(program)
    monkeypatch.setattr(ssnal, "DENSE_NEWTON_MAX", 0)
    iterative = ssnal.solve_ssnal(program)
    assert max(formed.certified_gap, iterative.certified_gap) <= 1e-8
    assert abs(formed.optimum - iterative.optimum) <= TWO_CERTIFIED * abs(formed.optimum)
