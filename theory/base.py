"""The interface every theorem module implements, and the harness walks.

A :class:`Theorem` is one equivalence "non-convex network with weight decay  <=>  lifted convex program", bound
to one data set (X, Y, beta).  It gives:

- the primal: :meth:`Theorem.forward` (the network), :meth:`Theorem.objective_and_gradient` (regularised loss
  with its analytic gradient) and :meth:`Theorem.init` (a seeded initialisation of m heads);
- the convex program: :meth:`Theorem.build_program` (cached as :attr:`Theorem.program`), the blocks A_p of program (C) in theory.lifted;
- the lifting map :meth:`Theorem.lift_weights` (weights -> Z) and the recovery map
  :meth:`Theorem.weights_from_factors` (convex solution -> primal weights of m heads);
- the structure measure: :meth:`Theorem.structure`.

The dual certificate is generic (theory.lifted.certificate) because it only needs the lifted program.

Weights are passed around as one flat float64 vector ``theta`` (what L-BFGS sees); :attr:`Theorem.weight_axes`
names the weight arrays and their axes, and :meth:`Theorem.param_shapes` says how theta splits into them for m heads.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import cached_property
from typing import ClassVar, Mapping

import numpy as np

from theory.data import check_beta, check_data, check_tokens
from theory.errors import InputError
from theory.lifted import Block, LiftedProgram, beta_max, block_factors, pooled
from theory.memory import check_dense_map, check_matrix_free
from theory.losses import CROSS_ENTROPY, SQUARED, Loss

Factors = list[list[tuple[np.ndarray, np.ndarray]]]

#: The second entry of the default labels' seed sequence [seed, LABEL_STREAM], apart from data and restarts.
LABEL_STREAM = 5


def default_labels(shape: tuple[int, ...], classes: int, seed: int) -> np.ndarray:
    """Labels of the default cross-entropy instances, token-wise (N, s) or one per sample (N,): a seeded permutation
    of 0, 1, ..., c - 1 repeated, so that every class appears whenever there are at least c labels."""
    size = int(np.prod(shape))
    return np.random.default_rng([seed, LABEL_STREAM]).permutation(np.arange(size) % classes).reshape(shape)


class Theorem(ABC):
    """A theorem bound to data X (N, s, d), targets Y (token-wise (N, s, c) or pooled (N, c); theory.data) and
    weight decay beta > 0, for a convex loss (theory.losses; squared by default)."""

    name: ClassVar[str]
    paper: ClassVar[str]
    equation: ClassVar[str]
    statement: ClassVar[str]
    #: True when the convex program is equivalent to the network (zero gap, exact recovery: claimed witnesses).
    #: False for a relaxation whose optimum is only a lower bound (relu-attention): zero gap and recovery are then
    #: measured and reported as observations, and only weak duality, the certificate and structure are claimed.
    exact: ClassVar[bool] = True
    #: For a relaxation with a separate exact program (relu-attention: docs/theory.md §4.4), where it is stated; such a
    #: theorem answers :meth:`solve_exact`.  None for the others (exact theorems need none).
    exact_program: ClassVar[str | None] = None
    #: The trained weight arrays of the network, name -> axes, in the order theta packs them: the one declaration
    #: that param_shapes, decay_mask and the weights files of `proofs-check certify` (proofs_check.weights) read.
    #: Axis letters: m heads (or units), P gates, s tokens, d features, c outputs.
    weight_axes: ClassVar[dict[str, tuple[str, ...]]]
    #: The arrays of weight_axes that carry no weight decay (the attention rows of [E22]); all others are decayed.
    undecayed: ClassVar[tuple[str, ...]] = ()
    #: The losses (theory.losses names) the theorem is stated for; another is an InputError when binding.
    losses: ClassVar[tuple[str, ...]] = ("squared", "cross-entropy", "huber")
    #: True when the network gives one output row per sample, F (N, 1, c), compared with one target per sample
    #: (Y (N,) or (N, c), stored as (N, 1, c)) with no averaging over tokens: the read-out models of [E22] §3.2-§3.3.
    sample_targets: ClassVar[bool] = False
    #: True when build_blocks gives structured maps (theory.operators) whose dense matrix is never built unless asked
    #: for (theory.memory then checks the solvers' iterates instead of the dense map).
    matrix_free: ClassVar[bool] = False
    #: The shapes of X and Y of the default instance (:meth:`default_data`) and its weight decay, which is also the
    #: default beta of data brought without one.
    default_shapes: ClassVar[tuple[tuple[int, ...], tuple[int, ...]]]
    default_beta: ClassVar[float]

    def __init__(self, X: np.ndarray, Y: np.ndarray, beta: float, loss: Loss = SQUARED) -> None:
        if loss.name not in self.losses:
            raise InputError(f"{self.name} is not stated for the {loss.name} loss; it takes {', '.join(self.losses)}")
        self.loss = loss
        self.X = check_tokens(X)
        self.Y = self.check_targets(Y)
        self.beta = check_beta(beta)

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], beta: float, seed: int, loss: Loss = SQUARED,
                    **options: object) -> "Theorem":
        """Bind the theorem to the arrays of a data file (at least X and Y); options are theorem-specific."""
        if options:
            raise InputError(f"theorem {cls.name} takes no option {', '.join(sorted(options))}")
        return cls(arrays["X"], arrays["Y"], beta, loss)

    @classmethod
    def default_instance(cls, seed: int, loss: Loss = SQUARED, **options: object) -> "Theorem":
        """The theorem bound to its default data drawn from numpy.random.default_rng(seed), as a data file with
        that X and Y would bind it (seed also drives the theorem's own choices, e.g. gates).  For the cross-entropy
        loss, Y is replaced by token-wise labels over max(c, 2) classes (:func:`default_labels`)."""
        X, Y, beta = cls.default_data(np.random.default_rng(seed))
        if loss == CROSS_ENTROPY:
            Y = default_labels(X.shape[:1] if cls.sample_targets else X.shape[:2], max(Y.shape[-1], 2), seed)
        return cls.from_arrays({"X": X, "Y": Y}, beta, seed, loss=loss, **options)

    def rebind(self, beta: float | None = None, Y: np.ndarray | None = None, *,
               fraction: float | None = None) -> "Theorem":
        """The same theorem, data X and options (gates, patterns) with another weight decay -- ``beta``, or
        ``fraction`` times :attr:`beta_max` (of the new targets) -- and, if given, other targets Y of the same shape.
        The lifted blocks depend on X only, so the rebound theorem shares them (:attr:`blocks`)."""
        if (beta is None) == (fraction is None):
            raise InputError("give exactly one of beta and fraction (of beta_max)")
        other = object.__new__(type(self))  # not copy.copy: __getstate__ drops the cached blocks, which are kept here
        other.__dict__.update(self.__dict__)
        other.__dict__.pop("program", None)  # the cached program holds beta and the targets
        if Y is not None:
            other.Y = self.check_targets(np.reshape(Y, self.Y.shape))
        other.beta = check_beta(beta if fraction is None else check_beta(fraction) * other.beta_max)
        other.__dict__.pop("program", None)  # beta_max built it at the old beta
        return other

    @property
    def beta_max(self) -> float:
        """The smallest beta at which Z = 0 is optimal (theory.lifted.beta_max): it depends on X, Y and the loss,
        not on beta."""
        return beta_max(self.program)

    def check_targets(self, Y: np.ndarray) -> np.ndarray:
        """Targets Y for this theorem's data X and loss, checked (theory.data.check_data)."""
        return check_data(self.X, Y, self.loss)[1]

    def __getstate__(self) -> dict:
        """The state without the cached lifted program (rebuilt on demand): what is sent to worker processes."""
        state = self.__dict__.copy()
        state.pop("program", None)
        state.pop("blocks", None)
        return state

    @classmethod
    def default_data(cls, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
        """A small default instance (X, Y, beta) drawn from rng, solvable in seconds: X and Y standard normal of
        :attr:`default_shapes`, beta = :attr:`default_beta`."""
        X_shape, Y_shape = cls.default_shapes
        return rng.standard_normal(X_shape), rng.standard_normal(Y_shape), cls.default_beta

    # ---- sizes -------------------------------------------------------------------------------------------
    @property
    def dims(self) -> dict[str, int]:
        N, s, d = self.X.shape
        return {"N": N, "s": s, "d": d, "c": self.Y.shape[-1]}

    @property
    def pooled(self) -> bool:
        """Whether the targets are one row per sample, compared with the network output averaged over tokens."""
        return self.Y.ndim == 2

    def output(self, F: np.ndarray) -> np.ndarray:
        """What the loss sees of network outputs F (..., N, s, c): F itself, or its mean over tokens when pooled."""
        return F.mean(axis=-2) if self.pooled else F

    def output_adjoint(self, G: np.ndarray) -> np.ndarray:
        """The adjoint of :meth:`output`: a gradient with respect to the output, spread back over the tokens."""
        s = self.dims["s"]
        return np.repeat(G[..., None, :], s, axis=-2) / s if self.pooled else G

    # ---- primal ------------------------------------------------------------------------------------------
    def axis_sizes(self, m: int) -> dict[str, int]:
        """The size of every axis letter of :attr:`weight_axes` for a network with m heads (gated theorems add P)."""
        return {**self.dims, "m": m}

    def param_shapes(self, m: int) -> list[tuple[int, ...]]:
        """Shapes of the trained weight arrays of a network with m heads, in the order theta packs them (read off
        :attr:`weight_axes`)."""
        sizes = self.axis_sizes(m)
        return [tuple(sizes[axis] for axis in axes) for axes in self.weight_axes.values()]

    @abstractmethod
    def forward(self, weights: list[np.ndarray]) -> np.ndarray:
        """The network output F of shape (N, s, c)."""

    @abstractmethod
    def backward(self, weights: list[np.ndarray], dF: np.ndarray) -> list[np.ndarray]:
        """Gradient of <dF, forward(weights)> with respect to each weight array (the vector-Jacobian product)."""

    def unpack(self, theta: np.ndarray, m: int) -> list[np.ndarray]:
        shapes = self.param_shapes(m)
        sizes = [int(np.prod(shape)) for shape in shapes]
        if theta.shape != (sum(sizes),):
            raise InputError(f"{self.name}: theta has shape {theta.shape}, expected ({sum(sizes)},) for m={m}")
        parts = np.split(theta, np.cumsum(sizes)[:-1])
        return [part.reshape(shape) for part, shape in zip(parts, shapes)]

    @staticmethod
    def pack(weights: list[np.ndarray]) -> np.ndarray:
        return np.concatenate([w.reshape(-1) for w in weights])

    def n_params(self, m: int) -> int:
        return int(sum(np.prod(shape) for shape in self.param_shapes(m)))

    def objective(self, theta: np.ndarray, m: int) -> float:
        """Regularised training loss l(f(X), Y) + beta/2 |theta|^2 (weight decay on every trained weight)."""
        return self.objective_and_gradient(theta, m)[0]

    def decay_mask(self, m: int) -> np.ndarray:
        """1 for every entry of theta under weight decay, 0 for the entries of the :attr:`undecayed` arrays."""
        return np.concatenate([np.full(int(np.prod(shape)), float(name not in self.undecayed))
                               for name, shape in zip(self.weight_axes, self.param_shapes(m))])

    def weight_decay(self, theta: np.ndarray, m: int) -> float:
        """1/2 |theta|^2 over the decayed entries (the primal regulariser without beta)."""
        return 0.5 * float(theta @ (self.decay_mask(m) * theta))

    def objective_and_gradient(self, theta: np.ndarray, m: int) -> tuple[float, np.ndarray]:
        weights = self.unpack(theta, m)
        out = self.output(self.forward(weights))
        decayed = self.decay_mask(m) * theta
        value = self.loss.value(out, self.Y) + 0.5 * self.beta * float(theta @ decayed)
        dF = self.output_adjoint(self.loss.gradient(out, self.Y))
        return value, self.pack(self.backward(weights, dF)) + self.beta * decayed

    def batch_objective_and_gradient(self, Theta: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
        """Objectives (R,) and gradients (R, n) of R weight vectors Theta (R, n) at once (batched restarts,
        proofs_check.restarts).  This default loops over :meth:`objective_and_gradient`; theorems override it
        with a vectorised version."""
        pairs = [self.objective_and_gradient(theta, m) for theta in Theta]
        return np.array([v for v, _ in pairs]), np.array([g for _, g in pairs]).reshape(Theta.shape)

    def unpack_batch(self, Theta: np.ndarray, m: int) -> list[np.ndarray]:
        """Theta (R, n) split into weight arrays with a leading restart axis, (R, *shape) each."""
        shapes = self.param_shapes(m)
        sizes = [int(np.prod(shape)) for shape in shapes]
        if Theta.ndim != 2 or Theta.shape[1] != sum(sizes):
            raise InputError(f"{self.name}: Theta has shape {Theta.shape}, expected (R, {sum(sizes)}) for m={m}")
        parts = np.split(Theta, np.cumsum(sizes)[:-1], axis=1)
        return [part.reshape((len(Theta),) + shape) for part, shape in zip(parts, shapes)]

    def batch_loss(self, Theta: np.ndarray, F: np.ndarray, backward) -> tuple[np.ndarray, np.ndarray]:
        """Objectives and gradients for vectorised overrides: F (R, N, s, c) the batched outputs, ``backward(dF)``
        the batched vector-Jacobian product returning weight arrays (R, *shape); decay beta/2 |theta|^2 on every
        entry (so only for theorems whose decay_mask is all ones)."""
        out = self.output(F)
        values = self.loss.rows(out, self.Y).reshape(len(Theta), -1).sum(axis=1)
        grads = backward(self.output_adjoint(self.loss.gradient(out, self.Y)))
        decay = 0.5 * self.beta * np.einsum("rn,rn->r", Theta, Theta)
        return values + decay, np.concatenate([g.reshape(len(Theta), -1) for g in grads], axis=1) + self.beta * Theta

    def init(self, m: int, rng: np.random.Generator) -> np.ndarray:
        """Standard normal weights, rescaled by one scalar so that |f(X)|_F = |Y|_F at the start.

        The networks here are homogeneous of degree 2 in their weights (f(a theta) = a^2 f(theta)), so the
        rescaling only fixes the output scale; it keeps L-BFGS well started whatever the scale of X and Y.
        """
        theta = rng.standard_normal(self.n_params(m))
        size = float(np.linalg.norm(self.output(self.forward(self.unpack(theta, m)))))
        target = float(np.linalg.norm(self.Y))
        return theta * np.sqrt(target / size) if size > 0 and target > 0 else theta

    # ---- convex program, recovery, structure -------------------------------------------------------------
    def outputs_per_block(self) -> int:
        """The output rows each block's dense map holds: all N s c by default (theory.memory's estimate)."""
        N, s, _ = self.X.shape
        return N * s * self.dims["c"]

    @abstractmethod
    def block_shapes(self) -> list[tuple[int, int]]:
        """The shape (rows, cols) of every lifted block Z_p, known before the program is built."""

    @abstractmethod
    def build_blocks(self) -> tuple[Block, ...]:
        """The blocks A_p of the lifted program (C), token-wise: rows (i, t, e) in row-major order."""

    @cached_property
    def blocks(self) -> tuple[Block, ...]:
        """The blocks A_p of (C), built once per data X and options (kept by :meth:`rebind`), after checking that
        their dense map (or, for a matrix-free theorem, the solvers' iterates) fits in memory."""
        N, s, _ = self.X.shape
        if self.matrix_free:
            check_matrix_free(N * s * self.dims["c"], self.block_shapes())
        else:
            check_dense_map(self.outputs_per_block(), self.block_shapes())
        blocks = self.build_blocks()
        if [b.shape for b in blocks] != [tuple(shape) for shape in self.block_shapes()]:
            raise RuntimeError(f"{self.name}: built blocks disagree with block_shapes()")
        return blocks

    @cached_property
    def program(self) -> LiftedProgram:
        """The lifted program (C) with this theorem's blocks, loss, targets and beta (rows pooled over tokens when
        the targets are pooled)."""
        program = LiftedProgram(self.blocks, self.Y.reshape(-1), self.beta, self.loss, self.dims["c"])
        return pooled(program, self.dims["s"]) if self.pooled else program

    @abstractmethod
    def lift_weights(self, weights: list[np.ndarray]) -> list[np.ndarray]:
        """The lifted blocks Z_p = sum_{j in heads(p)} u_j v_j^T of a network (so A(Z) = forward(weights))."""

    @abstractmethod
    def weights_from_factors(self, factors: Factors, m: int) -> list[np.ndarray]:
        """Primal weights of m heads whose lifted blocks are sum_r u_r v_r^T (extra heads are zero)."""

    def heads_needed(self, factors: Factors) -> int:
        """m*: the number of heads the recovered network needs (one per factor pair in one-block theorems)."""
        return sum(len(pairs) for pairs in factors)

    def heads_for_zero_gap(self) -> int:
        """A width at which every local minimum of the factorised problem is global: min(rows, cols) + 1 of the
        largest block (docs/theory.md §2.4), one block's heads being all a network needs per gate or pattern."""
        return max(min(shape) for shape in self.block_shapes()) + 1

    def recover(self, factors: Factors, m: int | None = None) -> tuple[np.ndarray, int]:
        """theta and m of the network recovered from a convex solution's factors (m = m* by default)."""
        m = self.heads_needed(factors) if m is None else m
        return self.pack(self.weights_from_factors(factors, m)), m

    def solve_exact(self):
        """The certified optimum of the exact program (:attr:`exact_program`); InputError when there is none."""
        what = "its program is exact already" if self.exact else "no exact program is implemented for it"
        raise InputError(f"{self.name} has no separate exact program ({what}); --exact applies to relu-attention")

    def report_fields(self, blocks: list[np.ndarray], factors: Factors) -> dict[str, object]:
        """Theorem-specific top-level fields of the JSON report (e.g. active tokens, patterns); none by default."""
        return {}

    def structure(self, blocks: list[np.ndarray]) -> dict[str, object]:
        """Per block: rank (number of factor pairs of its significant components, theory.lifted.block_factors),
        the largest possible rank (theory.regularisers ``max_rank``), and singular values."""
        return {
            "ranks": [len(pairs) for pairs in block_factors(self.program, blocks)],
            "max_rank": [b.norm.max_rank(b.shape) for b in self.program.blocks],
            "singular_values": [np.linalg.svd(Z, compute_uv=False).tolist() for Z in blocks],
        }
