"""The Gram form of a squared-loss program (C): the same objective on dim + c^2 outputs (docs/theory.md §9.10).

With the squared loss, (C) sees the data only through G = A^T A, A^T y and |y|^2 (A = [A_1 ... A_P], n x dim):

    1/2 |A z - y|^2 = 1/2 (z^T G z - 2 z^T A^T y + |y|^2).

This module factorises that form instead of forming it.  Householder QR of the augmented matrix [A y] = Q R+,

    R+ = [[R, u], [0, t]]   (R dim x dim upper triangular, u = Q^T y, t = |y - Q Q^T y|),

gives |A z - y|^2 = |R z - u|^2 + t^2 for every z (Q has orthonormal columns), with R^T R = G, R^T u = A^T y and
|u|^2 + t^2 = |y|^2.  So (C) is the program with blocks R_p (the columns of R of block p, and a zero row) and target
(u, t): the same variables, the same objective, and, since A^T (y - A z) = R^T (u - R z), the same dual norms and the
same certificate, in exact arithmetic.  Its n' = dim + 1 outputs replace the n of (C), so a product by the blocks
costs O(dim^2) instead of a pass over the data, and SSNAL's Newton matrix is n' x n'.

Why factorise (docs/theory.md §9.10): the Gram objective adds three terms of size |y|^2 into C* and loses
log10(|y|^2 / C*) digits to cancellation; R+ is computed from the data by orthogonal transformations, and t, the part
of the objective no z can remove, comes out of the factorisation instead of the difference |y|^2 - |u|^2.

*One pass.*  The rows of [A y] are produced in chunks of at most CHUNK_BYTES (dense rows of the maps of
theory.operators) and folded in: R+ <- R of [R+; next rows].  Memory O(dim^2 + chunk).

*Class-separable maps.*  The attention maps act on every class alike: A = B (x) I_c (theory.operators.AttentionMap,
A[(i, t, e), (j, e')] = B[(i, t), j] 1[e = e'], and so do its pooled and rescaled forms).  Then the QR of [B Y]
(Y = y as rows of c) gives R_B, U (m x c) and T (c x c), m = dim / c, and

    |A z - y|^2 = |R_B Z - U|_F^2 + |T|_F^2,     Z = z as an m x c matrix,

so the Gram form has the blocks R_B,p (x) I_c and the target vec_r([U; T]): n' = dim + c^2 outputs, formed with c^3
fewer flops (n/c rows of m + c columns).

The caller (theory.solvers) iterates on the Gram form and certifies the result on the original program, from the
exact residual y - A(Z) of one pass over the data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse

from theory.lifted import Block, LiftedProgram
from theory.losses import SQUARED
from theory.operators import AttentionMap, ComposedMap, DenseMap, LinearMap

#: Bytes of one chunk of rows of [A y] (or [B Y]); chunks are at least as tall as the augmented matrix is wide, so
#: that each fold costs about as much as its rows (the QR of [R+; rows] is (rows + width) width^2).
CHUNK_BYTES = 64 * 2**20


class ClassKronMap(DenseMap):
    """The dense map R (x) I_c of a block of the class-separable Gram form, with R kept for its spectral norm
    (|R (x) I_c|_2 = |R|_2: an SVD c^3 times smaller)."""

    def __init__(self, factor: np.ndarray, classes: int, shape: tuple[int, int]) -> None:
        super().__init__(np.kron(factor, np.eye(classes)), shape)
        self.factor = factor

    def spectral_norm(self) -> float:
        return float(np.linalg.norm(self.factor, 2))


def separable(operator: LinearMap, classes: int) -> bool:
    """Whether the map is B (x) I_classes for a B that :func:`factor_rows` produces (module docstring)."""
    if classes == 1:
        return True
    if isinstance(operator, AttentionMap):
        return operator.c == classes
    if isinstance(operator, ComposedMap):
        outer = operator.L[::classes, ::classes]
        kron = scipy.sparse.kron(outer, scipy.sparse.identity(classes), format="csr")
        return kron.shape == operator.L.shape and (operator.L - kron).count_nonzero() == 0 and \
            separable(operator.inner, classes)
    return False


def factor_rows(operator: LinearMap, classes: int, start: int, stop: int) -> np.ndarray:
    """Rows start .. stop - 1 of B, dense, for a map A = B (x) I_classes (:func:`separable`; classes = 1: A itself)."""
    if isinstance(operator, AttentionMap):
        if classes != operator.c:  # classes = 1: the rows (i, t, e) of A = B (x) I_c
            c = operator.c
            low = start // c
            return np.kron(factor_rows(operator, c, low, -(-stop // c)), np.eye(c))[start - low * c:stop - low * c]
        _, s, d = operator.X.shape
        first, last = start // s, -(-stop // s)  # the samples that hold these token rows (i, t)
        grams = np.broadcast_to(operator.grams[first:last], (last - first, s, d, d))
        rows = np.einsum("ita,itkl->itkal", operator.X[first:last], grams).reshape((last - first) * s, d ** 3)
        return rows[start - first * s:stop - first * s]
    if isinstance(operator, ComposedMap):
        L = operator.L[::classes, ::classes] if classes > 1 else operator.L
        chunk = L[start:stop]
        columns = chunk.indices
        if columns.size == 0:
            width = operator.inner.shape[0] * operator.inner.shape[1] // classes
            return np.zeros((stop - start, width))
        low, high = int(columns.min()), int(columns.max()) + 1
        return np.asarray(chunk[:, low:high] @ factor_rows(operator.inner, classes, low, high))
    if isinstance(operator, DenseMap) and operator.rows is not None:  # a block that holds only some output rows
        out = np.zeros((stop - start, operator.matrix.shape[1]))
        held = (operator.rows >= start) & (operator.rows < stop)
        out[operator.rows[held] - start] = operator.matrix[held]
        return out
    return operator.dense()[start:stop]


@dataclass(frozen=True)
class GramForm:
    """The Gram form of a program (module docstring) and how it was formed."""

    program: LiftedProgram
    classes: int  # the class factor c of A = B (x) I_c (1: none)
    seconds: float

    def describe(self, original: LiftedProgram) -> str:
        return (f"Gram form: {self.program.target.size} outputs for {original.target.size} (class factor "
                f"{self.classes}), formed in {self.seconds:.2f} s")


def class_factor(program: LiftedProgram) -> int:
    """The c of A = B (x) I_c shared by every block (program.classes when all are separable, else 1)."""
    c = program.classes
    if c > 1 and program.target.size % c == 0 and all(separable(b.operator, c) for b in program.blocks):
        return c
    return 1


def gram_outputs(program: LiftedProgram) -> int:
    """n' = dim + c^2, the outputs of the Gram form (without forming it)."""
    c = class_factor(program)
    return sum(b.shape[0] * b.shape[1] for b in program.blocks) + c * c


def gram_form(program: LiftedProgram) -> GramForm:
    """The Gram form of a squared-loss program (module docstring), by one pass of QR folds over its rows."""
    if program.loss != SQUARED:
        raise ValueError(f"the Gram form is that of the squared loss, not {program.loss.name!r}")
    start = time.perf_counter()
    c = class_factor(program)
    widths = [b.shape[0] * b.shape[1] // c for b in program.blocks]
    m = sum(widths)
    rows = program.target.size // c
    targets = program.target.reshape(rows, c)
    width = m + c
    step = max(width, CHUNK_BYTES // (8 * width))
    R = np.zeros((0, width))
    for first in range(0, rows, step):
        last = min(first + step, rows)
        chunk = np.hstack([factor_rows(b.operator, c, first, last) for b in program.blocks] + [targets[first:last]])
        R = np.linalg.qr(np.vstack([R, chunk]), mode="r")
    R = np.vstack([R, np.zeros((width - len(R), width))])  # fewer rows than columns: the rest of R+ is zero
    blocks, offset = [], 0
    for block, w in zip(program.blocks, widths):
        factor = R[:, offset:offset + w]
        offset += w
        operator = ClassKronMap(factor, c, block.shape) if c > 1 else DenseMap(factor, block.shape)
        blocks.append(Block(operator, block.shape, block.norm, block.label))
    form = LiftedProgram(tuple(blocks), R[:, m:].reshape(-1), program.beta, SQUARED, c)
    return GramForm(form, c, time.perf_counter() - start)
