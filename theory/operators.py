"""The linear maps A_p of program (C), applied by structured contractions or by a dense matrix (docs/theory.md §9.9).

A map acts on one block Z_p (rows x cols) and gives the n outputs; it is what theory.lifted.Block carries.  Every
map answers the products the solvers need, each with an optional leading batch axis:

- ``apply(Z)``: (..., rows, cols) -> (..., n), A(Z);
- ``adjoint(V)``: (..., n) -> (..., rows, cols), A^T V;
- ``outer(L, R)``: L (rows, p), R (cols, q) -> (n, p, q), the outputs A(l_i r_j^T) of the rank-one matrices l_i r_j^T
  (coordinates of A^T e_a in a singular-vector basis: SSNAL's Newton matrix, polishing, rank reduction);
- ``right_gram(R, g)`` and ``left_gram(L, g)``: the n x n matrices sum_j g_j <A^T e_a r_j, A^T e_b r_j> and
  sum_j g_j <l_j^T A^T e_a, l_j^T A^T e_b> (g >= 0);
- ``gram()``: A A^T (n x n), and ``spectral_norm()``;
- ``dense()``: the matrix (n, rows cols) acting on vec_r(Z) = Z.reshape(-1), built on demand after the memory check
  of theory.memory: cvxpy, known answers and the tests use it at small sizes;
- ``scaled(f)`` and ``mapped(L)``: f A and L A for an output-side matrix L (n', n) (scipy.sparse), the normalised and
  pooled programs and the proximal Newton model (theory.lifted, theory.solvers.prox_newton).

:class:`DenseMap` holds the matrix.  :class:`AttentionMap` is the attention lifting of docs/theory.md §3-§4,
A(Z)[i, t, e] = sum_{k,a,l} X[i, t, a] G[i, t, k, l] Z[k d + a, l c + e], stored as X and the Grams: it costs
O(N g d^3 c) per product (g = 1 shared Gram per sample, g = s per query) where the dense matrix has N s c d^3 c
entries.  :class:`ComposedMap` is L A (and f A) of any map.  The maps of one shape are stacked by :class:`Stack` for
the solvers, which may see them transposed.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from theory.memory import check_dense_map


def weighted_gram(T: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sum_p <T_pa, weights_p o T_pb> over the trailing axes (n x n), for T (P, n, ...) and weights >= 0 broadcasting
    against T."""
    Tw = (T * np.sqrt(weights)).reshape(T.shape[0], T.shape[1], -1)
    return (Tw @ Tw.transpose(0, 2, 1)).sum(axis=0)


class LinearMap:
    """The interface (module docstring); the generic products go through :meth:`dense`."""

    outputs: int
    shape: tuple[int, int]

    def apply(self, Z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def adjoint(self, V: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def dense(self) -> np.ndarray:
        raise NotImplementedError

    def _stack(self, transposed: bool = False) -> Stack:
        return Stack([DenseMap(self.dense(), self.shape)], transposed)

    def outer(self, L: np.ndarray, R: np.ndarray) -> np.ndarray:
        stack = self._stack()
        return stack.expand(stack.outer(L[None], R[None]))[0]

    def right_gram(self, R: np.ndarray, g: np.ndarray) -> np.ndarray:
        return self._stack().right_gram(R[None], g[None])

    def left_gram(self, L: np.ndarray, g: np.ndarray) -> np.ndarray:
        return self._stack(transposed=True).right_gram(L[None], g[None])

    def gram(self) -> np.ndarray:
        return self._stack().gram_sum(np.ones(1))

    def spectral_norm(self) -> float:
        """|A|_2 = sqrt(lambda_max(A A^T))."""
        return float(np.sqrt(max(np.linalg.eigvalsh(self.gram())[-1], 0.0)))

    def scaled(self, factor: float) -> LinearMap:
        return ComposedMap(self, factor * scipy.sparse.identity(self.outputs, format="csr"))

    def mapped(self, L) -> LinearMap:
        return ComposedMap(self, scipy.sparse.csr_matrix(L))


class DenseMap(LinearMap):
    """A map held as its matrix: (n, rows cols), or only its non-zero output rows ``rows`` (m, rows cols) of n
    ``outputs`` (a block that reaches few outputs, e.g. one query's rows: theory.simplex_heads.key_blocks)."""

    def __init__(self, matrix: np.ndarray, shape: tuple[int, int], outputs: int | None = None,
                 rows: np.ndarray | None = None) -> None:
        self.matrix = np.asarray(matrix, dtype=float)
        self.shape = tuple(shape)
        self.outputs = self.matrix.shape[0] if outputs is None else outputs
        self.rows = None if rows is None else np.asarray(rows, dtype=int)
        if self.matrix.shape[1:] != (shape[0] * shape[1],) or \
                len(self.matrix) != (self.outputs if rows is None else len(self.rows)):
            raise ValueError(f"a matrix of shape {self.matrix.shape} cannot act on blocks of shape {shape}")

    def apply(self, Z: np.ndarray) -> np.ndarray:
        values = Z.reshape(*Z.shape[:-2], -1) @ self.matrix.T
        if self.rows is None:
            return values
        out = np.zeros((*values.shape[:-1], self.outputs))
        out[..., self.rows] = values
        return out

    def adjoint(self, V: np.ndarray) -> np.ndarray:
        V = V if self.rows is None else V[..., self.rows]
        return (V @ self.matrix).reshape(*V.shape[:-1], *self.shape)

    def dense(self) -> np.ndarray:
        if self.rows is None:
            return self.matrix
        out = np.zeros((self.outputs, self.matrix.shape[1]))
        out[self.rows] = self.matrix
        return out

    def _stack(self, transposed: bool = False) -> Stack:
        return Stack([self], transposed)

    def spectral_norm(self) -> float:
        return float(np.linalg.norm(self.matrix, 2))

    def scaled(self, factor: float) -> LinearMap:
        return DenseMap(self.matrix * factor, self.shape, self.outputs, self.rows)

    def mapped(self, L) -> LinearMap:
        """L A, kept on the output rows that L reaches from this map's rows."""
        L = scipy.sparse.csr_matrix(L)
        if self.rows is None:
            return DenseMap(np.asarray(L @ self.matrix), self.shape)
        reach = L[:, self.rows]
        rows = np.unique(reach.tocoo().row)
        return DenseMap(np.asarray(reach[rows] @ self.matrix), self.shape, L.shape[0], rows)


class ComposedMap(LinearMap):
    """L A for a map A and a sparse output-side matrix L (n', n)."""

    def __init__(self, inner: LinearMap, L: scipy.sparse.csr_matrix) -> None:
        if isinstance(inner, ComposedMap):
            inner, L = inner.inner, L @ inner.L
        self.inner, self.L = inner, scipy.sparse.csr_matrix(L)
        self.outputs, self.shape = self.L.shape[0], inner.shape

    def _left(self, F: np.ndarray) -> np.ndarray:
        """L applied along the first axis of F (n, ...)."""
        return (self.L @ F.reshape(F.shape[0], -1)).reshape(self.outputs, *F.shape[1:])

    def apply(self, Z: np.ndarray) -> np.ndarray:
        F = self.inner.apply(Z)
        return np.moveaxis(self._left(np.moveaxis(F, -1, 0)), 0, -1)

    def adjoint(self, V: np.ndarray) -> np.ndarray:
        W = (self.L.T @ V.reshape(-1, self.outputs).T).T
        return self.inner.adjoint(W.reshape(*V.shape[:-1], self.inner.outputs))

    def dense(self) -> np.ndarray:
        return self._left(self.inner.dense())

    def outer(self, L: np.ndarray, R: np.ndarray) -> np.ndarray:
        return self._left(self.inner.outer(L, R))

    def _sandwich(self, M: np.ndarray) -> np.ndarray:
        return self._left(self._left(M).T).T

    def right_gram(self, R: np.ndarray, g: np.ndarray) -> np.ndarray:
        return self._sandwich(self.inner.right_gram(R, g))

    def left_gram(self, L: np.ndarray, g: np.ndarray) -> np.ndarray:
        return self._sandwich(self.inner.left_gram(L, g))

    def gram(self) -> np.ndarray:
        return self._sandwich(self.inner.gram())


class AttentionMap(LinearMap):
    """A(Z)[i, t, e] = sum_{k,a,l} X[i, t, a] G[i, t, k, l] Z[k d + a, l c + e] on Z in R^{d^2 x dc} (docs/theory.md
    §3, §4): X (N, s, d) and the Grams G (N, g, d, d), g = 1 (one Gram per sample, broadcast over the queries) or
    g = s (one per query).  A^T e_(i,t,e) = G[i, t] (x) x_{i,t} e_e^T, a Kronecker product."""

    def __init__(self, X: np.ndarray, grams: np.ndarray, classes: int) -> None:
        self.X, self.grams, self.c = X, grams, classes
        N, s, d = X.shape
        if grams.shape not in ((N, 1, d, d), (N, s, d, d)):
            raise ValueError(f"Grams of shape {grams.shape} for X of shape {X.shape}")
        self.outputs, self.shape = N * s * classes, (d * d, d * classes)

    @property
    def _dims(self) -> tuple[int, int, int, int, int]:
        N, s, d = self.X.shape
        return N, s, d, self.c, self.grams.shape[1]

    def apply(self, Z: np.ndarray) -> np.ndarray:
        """T[i, g] = sum_{k,l} G[i, g, k, l] Z_kl (d x c), then F[i, t] = x_{i,t}^T T[i, t]: O(N g d^3 c)."""
        N, s, d, c, g = self._dims
        batch = Z.shape[:-2]
        Zkl = Z.reshape(*batch, d, d, d, c).swapaxes(-3, -2).reshape(*batch, d * d, d * c)  # rows (k, l), cols (a, e)
        T = (self.grams.reshape(N * g, d * d) @ Zkl).reshape(*batch, N, g, d, c)
        return np.matmul(self.X[:, :, None, :], T)[..., 0, :].reshape(*batch, self.outputs)

    def adjoint(self, V: np.ndarray) -> np.ndarray:
        """A^T V = sum_{i,t} G[i, t] (x) x_{i,t} V[i, t, :]: the token sums X_i^T V_i first when the Gram is shared."""
        N, s, d, c, g = self._dims
        batch = V.shape[:-1]
        V4 = V.reshape(*batch, N, s, c)
        W = np.einsum("ita,...ite->...iae", self.X, V4) if g == 1 else np.einsum("ita,...ite->...itae", self.X, V4)
        M = self.grams.reshape(N * g, d * d).T @ W.reshape(*batch, N * g, d * c)  # rows (k, l), cols (a, e)
        return M.reshape(*batch, d, d, d, c).swapaxes(-3, -2).reshape(*batch, d * d, d * c)

    def dense(self) -> np.ndarray:
        """A[(i, t, e), (k d + a, l c + e')] = X[i, t, a] G[i, t, k, l] 1[e = e'], after the memory check."""
        N, s, d, c, g = self._dims
        check_dense_map(self.outputs, [self.shape])
        grams = np.broadcast_to(self.grams, (N, s, d, d))
        A = np.einsum("ita,itkl,ef->itekalf", self.X, grams, np.eye(c), optimize=True)
        return A.reshape(self.outputs, d * d * d * c)

    def _gram_times(self, R: np.ndarray) -> np.ndarray:
        """C[i, g, k, e, j] = sum_l G[i, g, k, l] R[l c + e, j], so that
        (A^T e_(i,t,e) r_j)[k d + a] = x_{i,t}[a] C[i, t, k, e, j]."""
        N, s, d, c, g = self._dims
        return (self.grams.reshape(N * g * d, d) @ R.reshape(d, c * R.shape[1])).reshape(N, g, d, c, R.shape[1])

    def outer(self, L: np.ndarray, R: np.ndarray) -> np.ndarray:
        """A(l r^T)[i, t, e] = (L^T x_{i,t})^T G[i, t] R[:, e] with l, r reshaped to d x d and d x c: the queries
        against L first, O(N s d^2 p + N g d^2 c q + N s d p c q)."""
        N, s, d, c, g = self._dims
        p, q = L.shape[1], R.shape[1]
        queries = (self.X.reshape(N * s, d) @ L.reshape(d, d, p).transpose(1, 0, 2).reshape(d, d * p))
        queries = queries.reshape(N, s, d, p).transpose(0, 1, 3, 2)  # (L_p^T x_{i,t})[k] at [i, t, p, k]
        C = self._gram_times(R).reshape(N, g, d, c * q)
        F = np.matmul(queries.reshape(N, s * p, d), C[:, 0]) if g == 1 else np.matmul(queries, C)
        return F.reshape(N, s, p, c, q).transpose(0, 1, 3, 2, 4).reshape(self.outputs, p, q)

    def right_gram(self, R: np.ndarray, g: np.ndarray) -> np.ndarray:
        """<A^T e_(i,t,e) r_j, A^T e_(i',t',e') r_j>
        = (x_{i,t} . x_{i',t'}) (C[i, t, :, e, j] . C[i', t', :, e', j])."""
        N, s, d, c, gs = self._dims
        C = self._gram_times(R * np.sqrt(g))  # (N, g, d, c, q), weights folded in
        flat = np.broadcast_to(C, (N, s, d, c, R.shape[1])).transpose(0, 1, 3, 2, 4).reshape(self.outputs, -1)
        tokens = self.X.reshape(N * s, d)
        return np.repeat(np.repeat(tokens @ tokens.T, c, axis=0), c, axis=1) * (flat @ flat.T)

    def gram(self) -> np.ndarray:
        """A A^T[(i, t, e), (i', t', e')] = <G[i, t], G[i', t']> (x_{i,t} . x_{i',t'}) 1[e = e']."""
        N, s, d, c, g = self._dims
        grams = np.broadcast_to(self.grams, (N, s, d, d)).reshape(N * s, d * d)
        tokens = self.X.reshape(N * s, d)
        return np.kron((grams @ grams.T) * (tokens @ tokens.T), np.eye(c))


def tensor_outer(T: np.ndarray, L: np.ndarray, R: np.ndarray) -> np.ndarray:
    """L_p^T T_p[n] R_p for stacked matrices T (P, n, rows, cols): (P, n, p, q)."""
    return np.einsum("pnab,pai,pbj->pnij", T, L, R, optimize=True)


#: Blocks whose dense matrix has at most DENSE_BLOCK_ENTRIES entries are held dense by the solvers whatever their maps,
#: up to DENSE_STACK_ENTRIES (128 MiB) per stack: products vectorised over many small blocks beat per-block structured
#: ones.  Measured (SSNAL, linear and gated attention, benchmarks/README.md): equal at 32768 entries per block, the
#: structured map 1.7 times faster at 262144; relu-attention's default program (390 blocks of 48 entries): 0.59 s held
#: dense, 4.4 s with per-block structured products.
DENSE_BLOCK_ENTRIES, DENSE_STACK_ENTRIES = 2**15, 2**24


def held_dense(maps: list[LinearMap]) -> bool:
    """Whether the solvers hold these maps as dense matrices: all DenseMaps, or all small (DENSE_BLOCK_ENTRIES)."""
    sizes = [A.outputs * A.shape[0] * A.shape[1] for A in maps]
    return all(isinstance(A, DenseMap) for A in maps) or (max(sizes) <= DENSE_BLOCK_ENTRIES
                                                           and sum(sizes) <= DENSE_STACK_ENTRIES)


class Stack:
    """The maps of blocks of one shape, with a leading block axis P, as the solvers see them: transposed when
    ``transposed`` (the nuclear Jacobian takes tall matrices).

    Dense maps, and small maps of any kind (:func:`held_dense`), are stacked into one tensor
    (P, m, rows, cols) over their output rows (P, m) (all n, or the rows each block reaches when every block holds the
    same number m of them), and every product is vectorised over P; other maps are applied one by one, over all n
    outputs.  Per-block outputs (:meth:`outputs_of`, :meth:`outer`) are in
    these m rows; :meth:`combine`, :meth:`right_gram` and :meth:`gram_sum` sum over the blocks into n x n."""

    def __init__(self, maps: list[LinearMap], transposed: bool = False) -> None:
        self.maps, self.transposed = maps, transposed
        self.outputs = maps[0].outputs
        rows, cols = maps[0].shape
        self.shape = (cols, rows) if transposed else (rows, cols)
        self.tensor, self.rows, self._grams = None, None, None
        if held_dense(maps):
            sparse = all(getattr(A, "rows", None) is not None for A in maps) and len({len(A.rows) for A in maps}) == 1
            matrices = [A.matrix if sparse else A.dense() for A in maps]
            tensor = np.stack([M.reshape(len(M), rows, cols) for M in matrices])
            self.tensor = tensor.transpose(0, 1, 3, 2) if transposed else tensor
            self.rows = np.stack([A.rows for A in maps]) if sparse else None

    def _flip(self, M: np.ndarray) -> np.ndarray:
        return M.swapaxes(-1, -2) if self.transposed else M

    def _flat(self) -> np.ndarray:
        return self.tensor.reshape(*self.tensor.shape[:2], -1)

    def expand(self, T: np.ndarray) -> np.ndarray:
        """Per-block outputs (P, m, ...) on all n outputs (P, n, ...)."""
        if self.rows is None:
            return T
        out = np.zeros((T.shape[0], self.outputs, *T.shape[2:]))
        np.put_along_axis(out, self.rows.reshape(*self.rows.shape, *(1,) * (T.ndim - 2)), T, axis=1)
        return out

    def adjoint(self, V: np.ndarray) -> np.ndarray:
        """A_p^T V for every block: (P, rows, cols)."""
        if self.tensor is not None:
            V = np.broadcast_to(V, (len(self.maps), V.size)) if self.rows is None else V[self.rows]
            return (V[:, None, :] @ self._flat())[:, 0].reshape(len(self.maps), *self.shape)
        return np.stack([self._flip(A.adjoint(V)) for A in self.maps])

    def outputs_of(self, Z: np.ndarray) -> np.ndarray:
        """A_p(Z_p) for Z (P, rows, cols), in the stack's output rows: (P, m)."""
        if self.tensor is not None:
            return (self._flat() @ Z.reshape(len(Z), -1, 1))[..., 0]
        return np.stack([A.apply(self._flip(Zp)) for A, Zp in zip(self.maps, Z)])

    def apply(self, Z: np.ndarray) -> np.ndarray:
        """sum_p A_p(Z_p) (n,)."""
        return self.expand(self.outputs_of(Z)).sum(axis=0)

    def outer(self, L: np.ndarray, R: np.ndarray) -> np.ndarray:
        """A_p(l_pi r_pj^T) for L (P, rows, p), R (P, cols, q), in the stack's output rows: (P, m, p, q)."""
        if self.tensor is not None:
            return tensor_outer(self.tensor, L, R)
        if self.transposed:
            return np.stack([A.outer(Rp, Lp).swapaxes(-1, -2) for A, Lp, Rp in zip(self.maps, L, R)])
        return np.stack([A.outer(Lp, Rp) for A, Lp, Rp in zip(self.maps, L, R)])

    def combine(self, T: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """sum_p <T_pa, weights_p o T_pb> (n x n) for per-block outputs T (P, m, ...) and weights >= 0 broadcasting
        against T: each block's m x m Gram placed at its rows."""
        if self.rows is None:
            return weighted_gram(T, weights)
        Tw = (T * np.sqrt(weights)).reshape(T.shape[0], T.shape[1], -1)
        return self._scatter(Tw @ Tw.transpose(0, 2, 1))

    def _scatter(self, grams: np.ndarray) -> np.ndarray:
        """sum_p of the m x m matrices grams[p] at rows[p] x rows[p] (duplicates summed)."""
        P, m = self.rows.shape
        rows = np.broadcast_to(self.rows[:, :, None], (P, m, m)).reshape(-1)
        cols = np.broadcast_to(self.rows[:, None, :], (P, m, m)).reshape(-1)
        return scipy.sparse.coo_matrix((grams.reshape(-1), (rows, cols)), shape=(self.outputs,) * 2).toarray()

    def right_gram(self, R: np.ndarray, g: np.ndarray) -> np.ndarray:
        """sum_p sum_j g_pj <A_p^T e_a r_pj, A_p^T e_b r_pj> (n x n), in the solver's orientation."""
        if self.tensor is not None:
            return self.combine(self.tensor @ R[:, None], g[:, None, None, :])
        side = "left_gram" if self.transposed else "right_gram"
        return sum(getattr(A, side)(Rp, gp) for A, Rp, gp in zip(self.maps, R, g))

    def gram_sum(self, weights: np.ndarray) -> np.ndarray:
        """sum_p weights_p A_p A_p^T (n x n); the blocks' Grams are computed once."""
        if self._grams is None:
            if self.tensor is not None:
                self._grams = self._flat() @ self._flat().transpose(0, 2, 1)
            else:
                self._grams = np.stack([A.gram() for A in self.maps])
        if self.rows is None:
            return np.tensordot(weights, self._grams, axes=1)
        return self._scatter(self._grams * weights[:, None, None])
