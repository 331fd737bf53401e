"""The exact program of the pattern relaxations `relu-attention` and `relu-mixer` (docs/theory.md §4.4, §5.3): units
as atoms on the unit sphere, solved by column generation with the exact dual-norm oracle of theory.cone_oracle,
certified for the ReLU network itself.

A ReLU unit (a head of ReLU attention, a mixing unit of the ReLU mixer) with first layer u = vec_r(W1) / |W1|
computes h_u(w) for W2 = |W1| w, linear in w (relu(X U X^T) X w for attention, relu(U X) w for the mixer; U the
matrix of u), at weight decay beta/2 (|W1|^2 + |W2|^2) >= beta |W1| |W2| = beta |w| (equality when balanced).  So
with enough units the ReLU problem is

    p* = min over finitely many atoms (u_k, w_k)   l(sum_k h_{u_k}(w_k)) + beta sum_k |w_k|_F,              (E)

a group lasso over a continuum of columns (one group of d c entries per unit u).  Its dual is
max_V -l*(-V) s.t. rho(V) <= beta, rho the oracle (O) of theory.cone_oracle, so for any residual V the rescaled
V min(1, beta / rho(V)) gives a lower bound on the objective of EVERY ReLU network of any width (weak duality), and
any finite set of atoms gives an actual ReLU network, hence an upper bound.

Column generation: solve (E) restricted to the atoms found so far (a group lasso: theory.lifted with one Frobenius
block per atom, solved by theory.solvers), read its residual, ask the oracle for the units u whose dual value
exceeds beta, add them; and between rounds let L-BFGS move the heads of the current network (any unit direction is
an atom, so its heads join the atoms).  Stop when the certified relative gap (upper - lower) / objective_scale is at
most ``tol``.  The result is the ReLU network, its objective by the ordinary forward pass, and the certificate.

A theorem takes part through :class:`ExactProgram`: the normals a_j and responses b_j(G) of its oracle, the shape
of W1, the gated block of a mask, and the coordinates of its lifting (vec_c of W1 for attention, vec_r for the
mixer); everything else here is the same for both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar

import numpy as np
from scipy.optimize import minimize

from theory.cone_oracle import MEMBERSHIP_TOL, ConeOracle, OracleValue
from theory.errors import InputError, SolverFailure
from theory.lifted import Block, LiftedProgram, block_factors, objective_scale, pooled
from theory.rank_reduction import reduce_rank
from theory.regularisers import FROBENIUS

#: Certified relative gap at which column generation stops.
EXACT_TOL = 1e-8
#: Rounds of column generation before giving up (the result then reports the gap it reached).
MAX_ROUNDS = 60
#: The master (a group lasso over the units found: second-order cones only) is solved by Clarabel through cvxpy:
#: ECOS stalled at 1e-5 and SSNAL at 1e-8 on masters of 60 units at beta = 1e-3, Clarabel certified 1e-10.  When
#: Clarabel fails (it did on a drawn c = 2 instance of relu-attention at beta = 1e-3, where SSNAL certified 9e-11 and
#: SCS 9e-13), the next is tried: the master only proposes heads, the oracle certifies whatever comes out.  SCS comes
#: before SSNAL: on relu-mixer's c = 2 instances at beta = 1e-4 SSNAL handed over to FISTA, which spent its 60 s and
#: stopped at 2.4e-9, where SCS certified 1.4e-9 in 0.8 s.
MASTER_SOLVERS = ("clarabel", "scs", "prox")
#: Units added per round: the oracle's best distinct maximisers above beta.
PER_ROUND = 4
#: A logit counts as 0 on a head's face when |a_j^T u| / |a_j| <= FACE_TOL (|u| = 1).
FACE_TOL = 1e-6
#: The face program has nuclear-norm blocks (a semidefinite cone): Clarabel.
FACE_SOLVER = "clarabel"
#: The face program runs once the certified gap is below this (the heads' faces are then settled).
FACE_START = 1e-3
#: Two unit directions are the same when their cosine exceeds 1 - SAME, and near when it exceeds 1 - NEAR.  NEAR was
#: 1e-6 (an angle of 1.4e-3): on 3 of 75 drawn instances at beta <= 1e-3 column generation then stalled for 60 rounds
#: at gaps of 2e-5 to 4e-4, each new maximiser replacing a unit that the optimum needs beside it (two heads on either
#: side of a logit hyperplane); at 1e-12 all 3 close (1e-9 to 1e-8).
SAME, NEAR = 1e-13, 1e-12
#: The oracle enumerates faces of the arrangement of the normals (N s^2 logit hyperplanes in R^{d^2} for attention);
#: beyond this many candidate faces (37 554 on relu-attention's default instance, 0.07 s a call; 329 000 at N 2, s 3,
#: d 2, 1 s a call) it refuses.
MAX_FACES = 400_000


class ExactProgram:
    """Mixin of a pattern relaxation whose ReLU unit has an exact program here (module docstring)."""

    #: Where the exact program is stated (theory.base.Theorem.exact_program).
    exact_program: ClassVar[str]
    #: Sizes at which the oracle's faces fit, for the refusal.
    exact_fits: ClassVar[str]

    def unit_shape(self) -> tuple[int, int]:
        """The shape of W1."""
        raise NotImplementedError

    def oracle_normals(self) -> np.ndarray:
        """a_j (n, D), D = size of W1: the pre-activations of the unit u = vec_r(W1) are a_j^T u, in the order of
        the theorem's patterns."""
        raise NotImplementedError

    def oracle_responses(self, G: np.ndarray) -> np.ndarray:
        """b_j(G) (n, dc): <f, G> = sum_j relu(a_j^T u) <W2, b_j(G)> for the unit (u, W2)."""
        raise NotImplementedError

    def gated_block(self, mask: np.ndarray) -> Block:
        """The gated program's block for the mask (n,) over the pre-activations."""
        raise NotImplementedError

    def lifted_rows(self, Q: np.ndarray) -> np.ndarray:
        """For a basis Q (D, k) of W1's in vec_r, the lifted program's row coordinates of each basis matrix
        (rows, k)."""
        raise NotImplementedError

    @cached_property
    def cone_oracle(self) -> ConeOracle:
        """The exact dual norm of the exact program (theory.cone_oracle), on this theorem's patterns."""
        return ConeOracle(self.oracle_normals(), self.oracle_responses, self.patterns)

    def __getstate__(self) -> dict:
        """Without the oracle's faces either (rebuilt on demand, like the program)."""
        state = super().__getstate__()
        state.pop("cone_oracle", None)
        return state

    def solve_exact(self) -> "ExactOptimum":
        """The certified ReLU optimum of the exact program (module docstring)."""
        return solve_exact(self)


@dataclass(frozen=True)
class ExactOptimum:
    """The certified ReLU optimum: the network, its objective, the oracle's lower bound and how they were found."""

    W1: np.ndarray  # (m, *theorem.unit_shape())
    W2: np.ndarray  # (m, d, c)
    upper_bound: float  # the network's objective, by the forward pass
    lower_bound: float  # -l*(-a V) at the rescaled residual: <= the objective of every ReLU network
    gap: float  # (upper - lower) / objective_scale(upper)
    dual_norm_ratio: float  # rho(V) / beta at the final residual
    rounds: int
    atoms: int  # units generated in all
    faces: int  # candidate faces of the oracle
    seconds: dict[str, float]
    history: list[tuple[float, float]] = field(default_factory=list)  # (upper, lower) after each round

    @property
    def heads(self) -> int:
        return len(self.W1)


def atom_outputs(theorem, U: np.ndarray) -> np.ndarray:
    """The outputs (rows of the theorem's program, n) of the head (U, E_ae) for every unit W2 = E_ae: (n, d c),
    by the ReLU forward pass of the theorem (pooled over tokens when its targets are)."""
    d, c = theorem.dims["d"], theorem.dims["c"]
    E = np.eye(d * c).reshape(d * c, d, c)
    outputs = [theorem.output(theorem.forward([U[None], E[k][None]])).reshape(-1) for k in range(d * c)]
    return np.array(outputs).T


def _master(theorem, units: list[np.ndarray]) -> LiftedProgram:
    d, c = theorem.dims["d"], theorem.dims["c"]
    blocks = tuple(Block(atom_outputs(theorem, U.reshape(theorem.unit_shape())), (d, c), FROBENIUS, label=f"unit {k}")
                   for k, U in enumerate(units))
    program = theorem.program
    return LiftedProgram(blocks, program.target, program.beta, program.loss, program.classes)


def _network(units: list[np.ndarray], Ws: list[np.ndarray], shape: tuple[int, int], d: int,
             c: int) -> tuple[np.ndarray, np.ndarray]:
    """Balanced units W1 = sqrt|w| U (of ``shape``), W2 = w / sqrt|w| of the atoms (units U with weights w != 0)."""
    kept = list(zip(units, Ws))
    if not kept:
        return np.zeros((0, *shape)), np.zeros((0, d, c))
    root = np.sqrt([np.linalg.norm(W) for _, W in kept])
    W1 = np.array([r * U.reshape(shape) for (U, _), r in zip(kept, root)])
    W2 = np.array([W / r for (_, W), r in zip(kept, root)])
    return W1, W2


def face_of(oracle: ConeOracle, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The face of the arrangement that holds the unit direction u: its index set T (logits within FACE_TOL of 0,
    closed under span) and the mask 1[logit > 0] off T, over the n logits."""
    margins = oracle.unit_normals @ u
    T = np.abs(margins) <= FACE_TOL
    if T.any():
        _, sv, Vt = np.linalg.svd(oracle.unit_normals[T])
        span = Vt[:int(np.sum(sv > 1e-10 * sv[0]))]
        T = np.linalg.norm(oracle.unit_normals - oracle.unit_normals @ span.T @ span, axis=1) <= 1e-8
    return T, (margins > 0) & ~T


def _face_program(theorem, oracle: ConeOracle, W1: np.ndarray, W2: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray] | None:
    """The network's heads grouped by their faces, each face's heads re-solved as a nuclear-norm block on the span
    of the face with the face's mask (docs/theory.md §4.4, "the face program"): where the optimum's heads lie in
    the relative interiors of their faces, the cone constraints are inactive there, and this convex program is the
    exact one locally, solved to the solvers' accuracy instead of by L-BFGS on a function with kinks at the
    optimum.  None when a recovered head leaves the closure of its face (the program was not the exact one)."""
    d, c, s = theorem.dims["d"], theorem.dims["c"], theorem.dims["s"]
    shape = theorem.unit_shape()
    faces: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
    for W in W1:
        T, mask = face_of(oracle, W.reshape(-1) / np.linalg.norm(W))
        faces.setdefault(T.tobytes() + mask.tobytes(), (T, mask))
    blocks, bases = [], []
    for T, mask in faces.values():
        if T.any():
            _, sv, Vt = np.linalg.svd(oracle.normals[T])
            Q = Vt[int(np.sum(sv > 1e-10 * sv[0])):].T  # (D, k) in vec_r(W1)
        else:
            Q = np.eye(oracle.normals.shape[1])
        dense = theorem.gated_block(mask.astype(float)).matrix @ np.kron(theorem.lifted_rows(Q), np.eye(d * c))
        blocks.append(Block(dense, (Q.shape[1], d * c), label="face"))
        bases.append((Q, T, mask))
    program = LiftedProgram(tuple(blocks), theorem.Y.reshape(-1), theorem.beta, theorem.loss, c)
    program = pooled(program, s) if theorem.pooled else program
    from theory.solvers import solve  # on use: importing a theorem (a restart worker does) loads no solver
    solution = solve(program, FACE_SOLVER, eps=1e-10, max_gap=1e-6, max_seconds=60.0)
    heads1, heads2 = [], []
    for (Q, T, mask), pairs in zip(bases, block_factors(program, solution.blocks)):
        signs = np.where(mask, 1.0, -1.0) * ~T
        for y, w in pairs:  # balanced factors of the significant components (theory.lifted)
            u = Q @ y
            for sign in (1.0, -1.0):
                if np.min(signs * (oracle.unit_normals @ (sign * u))) >= -MEMBERSHIP_TOL * np.linalg.norm(u):
                    break
            else:
                return None
            heads1.append(sign * u.reshape(shape))
            heads2.append(sign * w.reshape(d, c))
    if not heads1:
        return None
    return np.array(heads1), np.array(heads2)


def certify_network(theorem, oracle: ConeOracle, W1: np.ndarray, W2: np.ndarray) -> tuple[float, float, float, OracleValue]:
    """(objective, certified lower bound, rho / beta, the oracle's answer) of a ReLU network: the lower bound holds
    for every ReLU network on this data (any width), from the oracle at the network's residual."""
    m = len(W1)
    objective = theorem.objective(theorem.pack([W1, W2]), m)
    program = theorem.program
    V = program.dual_point(theorem.output(theorem.forward([W1, W2])).reshape(-1))
    found = oracle(theorem.output_adjoint(V.reshape(theorem.Y.shape)), keep=PER_ROUND)
    ratio = found.value / theorem.beta
    return float(objective), float(program.dual_value(V / max(1.0, ratio))), float(ratio), found


def solve_exact(theorem, *, tol: float = EXACT_TOL, max_rounds: int = MAX_ROUNDS,
                oracle: ConeOracle | None = None) -> ExactOptimum:
    """Column generation for (E) (module docstring) on an :class:`ExactProgram` theorem; InputError when the
    oracle's faces exceed MAX_FACES (the sizes that fit are said).

    A round: certify the current network (oracle at its residual); stop when the certified gap is at most ``tol``
    or when nothing is left to add; else add the oracle's maximisers above beta, solve the master over the units,
    reduce it to an extreme point (theory.rank_reduction: at most n + 1 units carry weight), let L-BFGS move its
    heads, and keep the units that carry weight, the new ones and the moved heads' directions."""
    started = time.perf_counter()
    oracle = oracle or theorem.cone_oracle
    count = oracle.face_count
    if count > MAX_FACES:
        raise InputError(f"{theorem.name} --exact: {count} candidate faces > {MAX_FACES}; the exact oracle fits "
                         f"e.g. {theorem.exact_fits}")
    seconds = {"faces": time.perf_counter() - started, "oracle": 0.0, "master": 0.0, "polish": 0.0, "face": 0.0}
    d, c = theorem.dims["d"], theorem.dims["c"]
    scale = lambda value: objective_scale(theorem.program, value)  # noqa: E731 (the one relative denominator)
    units: list[np.ndarray] = []
    shape = theorem.unit_shape()
    networks = [(np.zeros((0, *shape)), np.zeros((0, d, c)))]  # to certify this round
    best, upper, lower, ratio = networks[0], np.inf, -np.inf, np.nan
    history: list[tuple[float, float]] = []
    while True:
        clock = time.perf_counter()
        fresh, previous = [], upper
        for network in networks:  # every residual gives a valid lower bound: keep the best of each side
            value, bound, network_ratio, found = certify_network(theorem, oracle, *network)
            if value < upper:
                best, upper, ratio = network, value, network_ratio
            lower = max(lower, bound)
            fresh.extend(u for v, u in found.candidates if v > theorem.beta and _new(u, units + fresh))
        seconds["oracle"] += time.perf_counter() - clock
        history.append((upper, lower))
        stalled = not fresh and len(history) > 1 and previous - upper <= tol * scale(upper)
        if (upper - lower) / scale(upper) <= tol or len(history) > max_rounds or stalled:
            break
        units = _merged(units, fresh)
        clock = time.perf_counter()
        master = _master(theorem, units)
        Ws = reduce_rank(master, _solve_master(master))
        seconds["master"] += time.perf_counter() - clock
        units = [u for u, W in zip(units, Ws) if np.linalg.norm(W) > 0]  # the oracle re-adds a dropped unit
        candidate = _network(units, [W for W in Ws if np.linalg.norm(W) > 0], shape, d, c)
        clock = time.perf_counter()
        moved = _polish(theorem, *candidate)
        seconds["polish"] += time.perf_counter() - clock
        units.extend(u for u in (W.reshape(-1) / np.linalg.norm(W) for W in moved[0] if np.linalg.norm(W) > 0)
                     if _new(u, units))
        networks = [candidate, moved]
        if (upper - lower) / scale(upper) <= FACE_START:
            clock = time.perf_counter()
            refined = _face_program(theorem, oracle, *min(networks, key=lambda net: _value(theorem, net)))
            seconds["face"] += time.perf_counter() - clock
            networks += [] if refined is None else [refined]
    seconds["total"] = time.perf_counter() - started
    W1, W2 = best
    return ExactOptimum(W1, W2, upper, lower, (upper - lower) / scale(upper), ratio, len(history), len(units), count,
                        seconds, history)


def _solve_master(master: LiftedProgram) -> list[np.ndarray]:
    """The master's blocks from the first of MASTER_SOLVERS that certifies it to 1e-6."""
    from theory.solvers import solve  # on use, as in _face_program
    failures = []
    for name in MASTER_SOLVERS:
        try:
            return solve(master, name, eps=1e-10, max_gap=1e-6, max_seconds=60.0).blocks
        except SolverFailure as failure:
            failures.append(str(failure))
    raise SolverFailure("the exact program's master: " + "; then ".join(failures))


def _value(theorem, network: tuple[np.ndarray, np.ndarray]) -> float:
    return theorem.objective(theorem.pack(list(network)), len(network[0]))


def _new(u: np.ndarray, units: list[np.ndarray]) -> bool:
    """Whether the unit direction u differs from every unit held beyond round-off (the oracle finds the same u on
    several candidate faces)."""
    return all(float(u @ w) < 1 - SAME for w in units)


def _merged(units: list[np.ndarray], fresh: list[np.ndarray]) -> list[np.ndarray]:
    """The units with the oracle's new maximisers: one within NEAR of a unit replaces it (the oracle's u is the
    exact maximiser of the dual constraint where L-BFGS left a head slightly off it; two nearly parallel columns
    would make the master ill-conditioned), the others are added."""
    units = list(units)
    for u in fresh:
        close = [k for k, w in enumerate(units) if float(u @ w) > 1 - NEAR]
        if close:
            units[close[0]] = u
        else:
            units.append(u)
    return units


def _polish(theorem, W1: np.ndarray, W2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """L-BFGS on the ReLU network from these heads (its objective by the forward pass; the ReLU's subgradient
    1[logit > 0] at a kink)."""
    m = len(W1)
    if not m:
        return W1, W2
    result = minimize(theorem.objective_and_gradient, theorem.pack([W1, W2]), args=(m,), jac=True,
                      method="L-BFGS-B", options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-12})
    P1, P2 = theorem.unpack(result.x, m)
    return P1, P2
