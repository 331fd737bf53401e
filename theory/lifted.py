"""The lifted convex program shared by every theorem, its dual certificate and the SVD recovery.

docs/theory.md §2 ("Generic dual and certificate"): every network in this package computes its output as a linear
map of lifted matrices,

    F = sum_p A_p(Z_p),     Z_p = sum_{j in heads(p)} u_j v_j^T,

so that, by lemma L1, weight decay beta/2 sum_j (|u_j|^2 + |v_j|^2) becomes beta sum_p R(Z_p) and training is
equivalent to

    C* = min_{Z_p}  l(sum_p A_p(Z_p)) + beta sum_p R(Z_p)                                    (C)

with R the nuclear norm |.|_* (block nuclear norm) or, for scalar-gain parametrisations, the Frobenius norm
(group lasso); each is an object of theory.regularisers.  Its dual is

    D* = max_V  -l*(-V)   s.t.  R°(A_p^T V) <= beta  for all p,                             (D)

with R° the dual norm (spectral norm |.|_2 for the nuclear norm, Frobenius for Frobenius).  For the squared
loss l(F) = 1/2 |F - y|^2 the dual objective is <V, y> - 1/2 |V|^2 and the residual V* = y - F(Z*) is dual
optimal.

Conventions: A_p is a linear map of theory.operators (structured contractions, or a dense matrix acting on
vec_r(Z_p) = Z_p.reshape(-1), row-major, built on demand as ``Block.matrix``), and the output F is the network output
of shape (N, s, c) flattened row-major.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.linalg
import scipy.sparse

from theory.losses import SQUARED, Loss
from theory.operators import DenseMap, LinearMap
from theory.regularisers import NUCLEAR, Regulariser

#: A component of the solution (a singular triple of a nuclear block, a whole Frobenius block) counts as zero when
#: dropping it, together with all smaller ones, changes the objective by at most this fraction: the solvers'
#: certified accuracy, 100 times below the recovery tolerance.  A threshold on sigma / sigma_max alone is unsafe
#: (benchmarks/README.md, "What counts as zero").
TRUNCATION_TOL = 1e-8


@dataclass(frozen=True)
class Block:
    """One lifted matrix Z_p: its shape, its regulariser and the linear map A_p (theory.operators; a matrix
    (n_outputs, rows * cols) acting on Z_p.reshape(-1) is held as a DenseMap)."""

    operator: LinearMap
    shape: tuple[int, int]
    norm: Regulariser = NUCLEAR
    label: str = ""
    #: Orthogonal (J_row, J_col) with A_p(J_row Z J_col^T) = A_p(Z) for every Z, or None: a symmetry of the lifting
    #: (fno-modes: a complex channel times i on one side and -i on the other), under which the singular pairs of
    #: A_p^T V come in twins (u, w), (J_row u, J_col w) and no optimum Z_p is unique (theory.known_answers).
    twin: tuple[np.ndarray, np.ndarray] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.operator, np.ndarray):
            object.__setattr__(self, "operator", DenseMap(self.operator, self.shape))

    @property
    def matrix(self) -> np.ndarray:
        """The dense matrix of A_p (n_outputs, rows * cols), built on demand (theory.memory checks that it fits)."""
        return self.operator.dense()


@dataclass(frozen=True)
class LiftedProgram:
    """Program (C): blocks A_p, the flattened target rows y (rows of ``classes`` entries: one per output token, or
    one per sample for pooled targets), the weight decay beta and the loss (theory.losses), applied row by row."""

    blocks: tuple[Block, ...]
    target: np.ndarray
    beta: float
    loss: Loss = SQUARED
    classes: int = 1

    def _rows(self, F: np.ndarray) -> np.ndarray:
        return F.reshape(-1, self.classes)

    def loss_value(self, F: np.ndarray) -> float:
        """l(F) for a flat prediction F."""
        return self.loss.value(self._rows(F), self._rows(self.target))

    def dual_point(self, F: np.ndarray) -> np.ndarray:
        """V = -grad l(F), flat: the dual point of a prediction (the residual y - F for the squared loss)."""
        return -self.loss.gradient(self._rows(F), self._rows(self.target)).reshape(-1)

    def dual_value(self, V: np.ndarray) -> float:
        """-l*(-V), the objective of (D) (-inf outside the loss's domain)."""
        return self.loss.dual_value(self._rows(V), self._rows(self.target))

    def predict(self, Zs: list[np.ndarray]) -> np.ndarray:
        """F = sum_p A_p vec_r(Z_p), flattened."""
        return sum((b.operator.apply(Z) for b, Z in zip(self.blocks, Zs)), np.zeros_like(self.target))

    def adjoint(self, V: np.ndarray) -> list[np.ndarray]:
        """A_p^T V for every block, in the block's shape."""
        return [b.operator.adjoint(V) for b in self.blocks]

    def regulariser(self, Zs: list[np.ndarray]) -> float:
        """sum_p R(Z_p) (without beta)."""
        return float(sum(b.norm.value(Z) for b, Z in zip(self.blocks, Zs)))

    def objective(self, Zs: list[np.ndarray]) -> float:
        """The objective of (C) evaluated in float64 at the given blocks."""
        return self.loss_value(self.predict(Zs)) + self.beta * self.regulariser(Zs)

    def zeros(self) -> list[np.ndarray]:
        return [np.zeros(b.shape) for b in self.blocks]


@dataclass(frozen=True)
class DualCertificate:
    """The residual as a dual point of (D), and what it certifies about a candidate solution of (C).

    ``lower_bound`` is the dual objective at V* scaled into the feasible set (V* min(1, beta / max_p R°)), so it is
    a rigorous lower bound on C* (weak duality) and hence on the objective of every network of this theorem.
    """

    dual_objective: float  # -l*(-V*) at the unscaled residual
    lower_bound: float  # dual objective at the feasible, rescaled residual
    max_dual_norm_ratio: float  # max_p R°(A_p^T V*) / beta; <= 1 means V* is dual feasible
    complementarity: float  # |sum_p <A_p^T V*, Z_p> - beta sum_p R(Z_p)| / max(beta sum_p R(Z_p), tiny)
    dual_norms: tuple[float, ...]  # R°(A_p^T V*) / beta per block


def certificate(program: LiftedProgram, Zs: list[np.ndarray], dual: np.ndarray | None = None) -> DualCertificate:
    """Build the dual certificate of docs/theory.md §2 from a candidate solution Zs of (C): from its residual, or from
    the solver's own dual point ``dual`` (a V of (D), flat) when that certifies more (a higher lower bound).

    The residual certifies to about u |A| |Z| / |y - A(Z)| relative (u the unit round-off): near interpolation (a
    normalised beta' of 1e-8) that is above ACCEPT_GAP however exact Z is, while an interior-point dual point solved
    at its own scale is not (docs/theory.md §9.11).  Any V gives a rigorous lower bound once rescaled into the
    feasible set, so taking the better of the two is sound."""
    residual = _certificate_at(program, Zs, program.dual_point(program.predict(Zs)))
    if dual is None:
        return residual
    solver = _certificate_at(program, Zs, np.asarray(dual, dtype=np.float64).reshape(program.target.shape))
    return solver if solver.lower_bound > residual.lower_bound else residual


def _certificate_at(program: LiftedProgram, Zs: list[np.ndarray], V: np.ndarray) -> DualCertificate:
    """The certificate of Zs with the dual point V rescaled into the feasible set of (D)."""
    adjoints = program.adjoint(V)
    ratios = tuple(b.norm.dual(M) / program.beta for b, M in zip(program.blocks, adjoints))
    worst = max(ratios)
    scale = min(1.0, 1.0 / worst) if worst > 0 else 1.0
    penalty = program.beta * program.regulariser(Zs)
    inner = float(sum(np.vdot(M, Z) for M, Z in zip(adjoints, Zs)))
    return DualCertificate(
        dual_objective=program.dual_value(V),
        lower_bound=program.dual_value(scale * V),
        max_dual_norm_ratio=worst,
        complementarity=abs(inner - penalty) / max(penalty, np.finfo(float).tiny),
        dual_norms=ratios,
    )


def certified_gap(program: LiftedProgram, Zs: list[np.ndarray], dual: np.ndarray | None = None) -> tuple[float, float]:
    """The objective C(Z) and the certified relative gap (C(Z) - lower_bound) / objective_scale(C(Z)), the one
    denominator of every relative gap (the lower bound of :func:`certificate`, with the solver's ``dual`` if any)."""
    value = program.objective(Zs)
    return value, (value - certificate(program, Zs, dual).lower_bound) / objective_scale(program, value)


Components = list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # per block: P (rows, r), sigma (r,), Qt (r, cols)


def _all_components(program: LiftedProgram, Zs: list[np.ndarray]) -> Components:
    """The components of every block (theory.regularisers: the SVD, or one component for a Frobenius block)."""
    return [block.norm.components(Z) for Z, block in zip(Zs, program.blocks)]


def compose(program: LiftedProgram, parts: Components) -> list[np.ndarray]:
    """The blocks sum_r sigma_r p_r q_r^T of per-block components, in the blocks' shapes."""
    return [((P * sigma) @ Qt).reshape(b.shape) for (P, sigma, Qt), b in zip(parts, program.blocks)]


def component_outputs(block: Block, P: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """A_p(p_i q_j^T) for every pair of components' columns P (., p), Q (., q): (n, p, q).  The components of a
    Frobenius block are laid out as vec Z_p (theory.regularisers), so their products are reshaped to the block."""
    if (P.shape[0], Q.shape[0]) == block.shape:
        return block.operator.outer(P, Q)
    if not P.shape[1] * Q.shape[1]:  # a block whose components were all dropped: no atoms to reshape
        return np.zeros((block.operator.outputs, P.shape[1], Q.shape[1]))
    atoms = np.einsum("ai,bj->ijab", P, Q).reshape(P.shape[1], Q.shape[1], *block.shape)
    return np.moveaxis(block.operator.apply(atoms), -1, 0)


def beta_max(program: LiftedProgram) -> float:
    """The smallest beta at which Z = 0 solves (C): max_p R°(A_p^T V0), V0 = -grad l(0) (= y for the squared loss);
    it does not depend on the program's own beta."""
    V0 = program.dual_point(np.zeros_like(program.target))
    return max(b.norm.dual(M) for b, M in zip(program.blocks, program.adjoint(V0)))


def zero_is_optimal(program: LiftedProgram) -> bool:
    """Z = 0 solves (C) iff V0 = -grad l(0) is dual feasible, max_p R°(A_p^T V0) <= beta (the optimality
    condition of (C) at Z = 0; for the squared loss V0 = y)."""
    return beta_max(program) <= program.beta


def objective_scale(program: LiftedProgram, value: float) -> float:
    """max(|value|, 1e-12 l(0), tiny): the denominator of a relative change of the objective near ``value``, scale
    free (an absolute floor would call every component of a program with objective 1e-58 zero)."""
    return max(abs(value), 1e-12 * abs(program.loss_value(np.zeros_like(program.target))), np.finfo(float).tiny)


def significant_components(program: LiftedProgram, Zs: list[np.ndarray]) -> Components:
    """The components of Zs that are not zero (TRUNCATION_TOL); none at all when Z = 0 is optimal.

    Components are dropped smallest first, over all blocks, while the objective of what remains stays within
    TRUNCATION_TOL of the objective at Zs.  The objective of what remains is updated per dropped component
    sigma p q^T of block p: the prediction loses sigma A_p(p q^T) and the regulariser sigma (R(sigma p q^T) = sigma for
    the unit components of theory.regularisers), so a trial costs one product, not the whole program.
    """
    parts = _all_components(program, Zs)
    keep = [0 if zero_is_optimal(program) else sigma.size for _, sigma, _ in parts]
    reference = program.objective(Zs)
    kept = [(P[:, :k], sigma[:k], Qt[:k]) for (P, sigma, Qt), k in zip(parts, keep)]
    prediction = program.predict(compose(program, kept))
    penalty = float(sum(sigma[:k].sum() for (_, sigma, _), k in zip(parts, keep)))
    for sigma_value, p in sorted((float(s), p) for p, (_, sigma, _) in enumerate(parts) for s in sigma[:keep[p]]):
        P, sigma, Qt = parts[p]
        k = keep[p] - 1
        trial = prediction - sigma[k] * component_outputs(program.blocks[p], P[:, k:k + 1], Qt[k:k + 1].T)[:, 0, 0]
        value = program.loss_value(trial) + program.beta * (penalty - sigma[k])
        if abs(value - reference) > TRUNCATION_TOL * objective_scale(program, reference):
            break
        keep[p], prediction, penalty = k, trial, penalty - sigma[k]
    return [(P[:, :k], sigma[:k], Qt[:k]) for (P, sigma, Qt), k in zip(parts, keep)]


def pooled(program: LiftedProgram, tokens: int) -> LiftedProgram:
    """The program whose rows are the means over the ``tokens`` output tokens of each sample's rows: the pooled
    output (1/s) sum_t f(X_i)[t, :] is linear in the lifted blocks too (docs/theory.md §1).  The target must already
    be pooled (one row per sample)."""
    samples = program.blocks[0].operator.outputs // (tokens * program.classes)
    token_mean = scipy.sparse.kron(np.full((1, tokens), 1.0 / tokens), scipy.sparse.identity(program.classes))
    mean = scipy.sparse.kron(scipy.sparse.identity(samples), token_mean)
    return replace(program, blocks=tuple(replace(b, operator=b.operator.mapped(mean)) for b in program.blocks))


def block_factors(program: LiftedProgram, Zs: list[np.ndarray]) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """Split each block into balanced factor pairs (u, v) with sum_r u_r v_r^T = Z_p (lemma L1; per regulariser,
    theory.regularisers ``pairs``), keeping only the significant components (:func:`significant_components`)."""
    return [block.norm.pairs(P, sigma, Qt, block.shape)
            for (P, sigma, Qt), block in zip(significant_components(program, Zs), program.blocks)]


def target_scale(program: LiftedProgram) -> float:
    """eta of :func:`normalised`: |y| for the squared loss, whose objective scales by eta^2, and 1 for the others,
    which are not homogeneous (BLAS nrm2, which does not overflow)."""
    return float(scipy.linalg.norm(program.target)) if program.loss == SQUARED else 1.0


def normalised(program: LiftedProgram) -> tuple[LiftedProgram, float]:
    """The program with max_p |A_p|_2 = 1 (and |y| = 1 for the squared loss), and the factor that maps its Z back.

    A' = A / kappa, y' = y / eta, beta' = beta / (kappa eta) (kappa the largest spectral norm of the blocks; eta = |y|
    for the squared loss, whose objective then scales by eta^2, and 1 for the others, which are not homogeneous): a
    solution Z' of the normalised program maps back exactly to Z = Z' eta / kappa.  The solvers run on it so that
    their tolerances are scale free (docs/theory.md §9).
    """
    kappa = max(b.operator.spectral_norm() for b in program.blocks)
    eta = target_scale(program)
    if kappa == 0 or eta == 0:
        return program, 1.0
    blocks = tuple(replace(b, operator=b.operator.scaled(1.0 / kappa)) for b in program.blocks)
    return replace(program, blocks=blocks, target=program.target / eta, beta=program.beta / (kappa * eta)), eta / kappa
