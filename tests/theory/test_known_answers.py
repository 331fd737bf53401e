"""Known answers (theory.known_answers, docs/theory.md §11): solvers, restarts, recovery and the harness held against
an optimum C* fixed by construction, for every registered theorem.

Instances: per theorem and seed, data X of the shape in SHAPES drawn from numpy.random.default_rng([seed, k]) (k
counts redraws when a construction refuses), beta = 10^u with u uniform in [-2, 1] and signal |A(Z*)| / |V| = 10^w,
w uniform in [-0.5, 0.5], both from the same generator.  SEEDS grows with the hypothesis profile (ci: 2, thorough: 66).

Tolerances:
- ROUND_OFF = 1e-12 relative: float64 evaluation of C(Z), of the certificate and of C* = 1/2|V|^2 + beta tr Sigma,
  sums of at most a few thousand terms each of size <= C* (measured <= 1e-15 on these instances).
- A solver is held to its own certified accuracy: the prox solvers stop at a certified relative gap <= DEFAULT_EPS
  = 1e-8 (their claim), Clarabel's solution must certify to ACCEPT_GAP = 1e-7 (what theory.solvers accepts); then |C(Z) - C*| <= (certified gap) C(Z) must hold against the true C*, which fails if the certificate's lower
  bound ever exceeds the true optimum.  Clarabel failing to certify (theory.solvers raises SolverFailure; 5 of 990
  solves under the thorough profile) gives no verdict: the test is skipped, counted, with the seed.
- Restarts: tolerances.GAP (1e-6) for reaching C*, tolerances.ROUNDOFF (1e-9) below C* for weak duality.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
from hypothesis import settings

from proofs_check import tolerances as tol
from proofs_check.harness import verify
from proofs_check.restarts import TheoremAtWidth, run_restarts
from tests.strategies import sample_targets
from tests.tolerances import ROUND_OFF
import theory
from theory import known_answers as ka
from theory.base import default_labels
from theory.errors import InputError, SolverFailure
from theory.lifted import certificate, certified_gap, normalised
from theory.losses import CROSS_ENTROPY
from theory.solvers import ACCEPT_GAP, DEFAULT_EPS, PROX_MIN_BETA, solve

NAMES = sorted(theory.REGISTRY)
#: (N, s, d, c) per theorem: small enough for Clarabel in well under a second.  relu-attention enumerates every
#: logit pattern (N = 2, s = 2, d = 2: up to 108 blocks), relu-mixer every pre-activation pattern (up to 64
#: there); the gated theorems carry 3 blocks of d^2 x dc.
SHAPES = {"relu-attention": (2, 2, 2, 1), "relu-mixer": (2, 2, 2, 1), "gated-relu-attention": (4, 3, 2, 2),
          "gated-relu-mixer": (4, 3, 2, 2), "convex-attention-scalar": (5, 3, 3, 1)}
DEFAULT_SHAPE = (5, 3, 3, 2)
#: Rank of the planted block: 1 everywhere; 2 where the rank-r construction (b) exists at these shapes.  For
#: relu-attention it needs N s c >= dim T = 2 (d^2 + dc - 2) = 10 outputs, but N s c = 4 at the shape enumeration
#: affords in CI, so only the in-cone rank-one construction (d) is used there.
#: Not where a block has a symmetry (theory.lifted.Block.twin: fno-modes), which moves every optimum along a circle of
#: optima, so A_p is never injective on the tangent space and (b) refuses; its rank-one answers are built.
CASES = [(name, 1) for name in NAMES] + [
    (name, 2) for name in NAMES if theory.get(name).exact and not theory.get(name).sample_targets  # d x 1: rank <= 1
    and all(block.twin is None for block in theory.get(name).default_instance(0).blocks)]
SEEDS = range(max(1, settings.default.max_examples // 3))
#: Data redraws per seed before a construction is given up (the in-cone construction (d) succeeds on about a third
#: of the relu-attention data draws: 7 of 20 measured, 20 dual draws each; under the thorough profile 1 of 66 seeds
#: found none in 10 data draws).
DATA_ATTEMPTS = 10
#: Programs with more blocks than this are not given to FISTA (test_every_solver_reaches_the_known_optimum).
MANY_BLOCKS = 100
#: The certified gap each solver claims.  Clarabel's, ACCEPT_GAP, is the gap above which theory.solvers.solve refuses a
#: solution, so once _solve has returned it holds by construction; the prox solvers stop at DEFAULT_EPS, ten times
#: below what solve accepts, a claim that can fail.
CLAIMED = {"clarabel": ACCEPT_GAP, "ssnal": DEFAULT_EPS, "fista": DEFAULT_EPS}


@lru_cache(maxsize=None)
def known(name: str, rank: int, seed: int) -> ka.KnownAnswer:
    """The known answer of ``name`` with a planted block of ``rank`` for ``seed`` (a relaxation: in its cone)."""
    N, s, d, c = SHAPES.get(name, DEFAULT_SHAPE)
    for k in range(DATA_ATTEMPTS):
        rng = np.random.default_rng([seed, k])
        X = rng.standard_normal((N, s, d))
        beta, signal = 10.0 ** rng.uniform(-2, 1), 10.0 ** rng.uniform(-0.5, 0.5)
        theorem = theory.get(name).from_arrays({"X": X, "Y": sample_targets(name, np.zeros((N, s, c)))}, 1.0, seed)
        try:
            if not theorem.exact:
                return ka.in_cone(theorem, rng, beta, signal)
            return ka.rank_one(theorem, rng, beta, signal) if rank == 1 else ka.planted_rank(theorem, rank, rng, beta, signal)
        except InputError:
            continue
    pytest.skip(f"no known answer for {name} rank {rank} in {DATA_ATTEMPTS} data draws of seed {seed}")


def _solve(program, solver: str, seed: int):
    """Solve by ``solver``; Clarabel failing to certify (SolverFailure) skips: no verdict from it."""
    try:
        return solve(program, solver, max_seconds=60)
    except SolverFailure as failure:
        if solver not in ("clarabel", "cvxpy"):  # in PROX_MIN_BETA's range the prox solvers claim to certify: a failure is a finding
            raise
        pytest.skip(f"no verdict from a solver that reports inaccurate (seed {seed}): {failure}")


def _relative(value: float, optimum: float) -> float:
    return (value - optimum) / abs(optimum)


def _restarts(theorem, m: int, count: int, seed: int):
    return run_restarts(TheoremAtWidth(theorem, m), count, seed, (m,))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name, rank", CASES)
def test_the_known_solution_is_certified_by_its_own_dual_point(name, rank, seed):
    """(i) The construction, not a solver: the certificate of theory.lifted at Z* gives lower bound = C* = C(Z*),
    V* = y - A(Z*) is dual feasible, and the planted rank is what the heads count says."""
    answer = known(name, rank, seed)
    program = answer.theorem.program
    cert = certificate(program, answer.blocks)
    assert abs(_relative(cert.lower_bound, answer.optimum)) <= ROUND_OFF, f"seed {seed}"
    assert abs(_relative(program.objective(answer.blocks), answer.optimum)) <= ROUND_OFF
    assert cert.max_dual_norm_ratio <= 1 + ROUND_OFF and answer.margin < 1 - ka.STRICT
    assert answer.heads == rank and sum(np.linalg.matrix_rank(Z) for Z in answer.blocks) == rank


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("solver", sorted(CLAIMED))
@pytest.mark.parametrize("name, rank", CASES)
def test_every_solver_reaches_the_known_optimum(name, rank, solver, seed):
    """(ii) Clarabel, SSNAL and FISTA reach C* within their own certified accuracy.  FISTA is not run on programs of
    more than MANY_BLOCKS blocks (the relaxations: one small block per activation pattern, 108 for relu-attention
    here), on which FISTA reached only a certified gap of 1.1e-2 in 120 s on relu-attention's default instance;
    SSNAL and Clarabel cover those programs."""
    answer = known(name, rank, seed)
    program = answer.theorem.program
    if solver == "fista" and len(program.blocks) > MANY_BLOCKS:
        pytest.skip(f"FISTA on a program of {len(program.blocks)} blocks: see the docstring")
    if solver != "clarabel" and normalised(program)[0].beta < PROX_MIN_BETA:
        pytest.skip(f"normalised beta below theory.solvers.PROX_MIN_BETA (seed {seed})")
    solution = _solve(program, solver, seed)
    value, gap = certified_gap(program, solution.blocks)
    if CLAIMED[solver] < ACCEPT_GAP:  # the prox solvers' stopping rule (Clarabel's claim is what _solve accepted)
        assert gap <= CLAIMED[solver], f"{solver} certified only {gap:.2e}, seed {seed}"
    assert _relative(value, answer.optimum) >= -ROUND_OFF, "a solver below the known optimum"
    assert value - answer.optimum <= gap * value + ROUND_OFF * answer.optimum, \
        f"{solver}: C(Z) - C* = {_relative(value, answer.optimum):.2e} C* exceeds its certified gap {gap:.2e}"


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name, rank", CASES)
def test_restarts_reach_the_known_optimum_and_no_lower(name, rank, seed):
    """(iii) At the zero-gap width, the best of 2 restarts reaches C* (claimed for exact theorems) and no restart
    ends below it (weak duality; for a relaxation the in-cone construction makes C* the ReLU optimum itself).
    With m* - 1 heads every restart stays at least the rigorous narrow gap g above C* (theory.known_answers)."""
    answer = known(name, rank, seed)
    theorem = answer.theorem
    run = _restarts(theorem, theorem.heads_for_zero_gap(), 2, seed)
    assert _relative(run.values.min(), answer.optimum) >= -tol.ROUNDOFF, f"below C*: seed {seed}"
    if theorem.exact:
        assert _relative(run.best, answer.optimum) <= tol.GAP, f"best restart {run.best!r} vs C* {answer.optimum!r}"
    if answer.heads >= 2 and answer.unique:
        narrow = _restarts(theorem, answer.heads - 1, 2, seed)
        assert narrow.values.min() - answer.optimum >= answer.narrow_gap - tol.ROUNDOFF * answer.optimum


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name, rank", CASES)
def test_the_network_of_the_known_factors_attains_the_optimum(name, rank, seed):
    """(iv), (vi) The network recovered from the KNOWN factors (theorem.recover) has objective C* to round-off and
    lifts back to Z*; for a relaxation its heads lie in their patterns' cones, so the ReLU network attains the
    relaxation's bound."""
    answer = known(name, rank, seed)
    theorem = answer.theorem
    theta, m = theorem.recover(answer.factors)
    assert m == answer.heads
    assert abs(_relative(theorem.objective(theta, m), answer.optimum)) <= ROUND_OFF, f"seed {seed}"
    lifted = theorem.lift_weights(theorem.unpack(theta, m))
    scale = max(np.abs(Z).max() for Z in answer.blocks)
    assert max(np.abs(Z - L).max() for Z, L in zip(answer.blocks, lifted)) <= ROUND_OFF * scale
    if not theorem.exact:
        assert theorem.recovered_in_cones(answer.factors)


@pytest.mark.parametrize("name", [name for name, rank in CASES if rank == 2])
def test_the_harness_finds_the_known_rank_and_width(name):
    """The harness on a unique rank-2 known answer: every claimed witness passes, its optimum is C* within its
    certified gap, its rank reduction finds m* = 2, and the width observation passes whenever the rigorous narrow
    gap g exceeds tolerances.NARROW (then no network with one head can come closer)."""
    answer = known(name, 2, 0)
    result = verify(answer.theorem, restarts=2, seed=0)
    assert result.passed and answer.unique
    assert abs(result.convex_optimum - answer.optimum) <= result.certified_gap * abs(result.convex_optimum) + \
        ROUND_OFF * answer.optimum
    assert result.rank == 2
    if answer.narrow_gap >= tol.NARROW * answer.optimum:
        assert next(c for c in result.checks if c.name == "width_necessity").passed


@pytest.mark.parametrize("seed", SEEDS)
def test_linear_mlp_closed_form_against_every_solver_and_the_restarts(seed):
    """(v) Orthonormal design: C* by singular value thresholding (no KKT construction, no solver) against the
    program's own objective at Z*, Clarabel, SSNAL, FISTA and the restarts."""
    rng = np.random.default_rng(seed)
    N, s, d, c = 4, 3, 3, 2
    X, Y = ka.orthonormal_design(N, s, d, rng), 10.0 ** rng.uniform(-1, 1) * rng.standard_normal((N, s, c))
    beta = float(np.linalg.svd(X.reshape(-1, d).T @ Y.reshape(-1, c), compute_uv=False)[0]) * rng.uniform(0.1, 0.9)
    answer = ka.linear_mlp_closed_form(theory.get("linear-mlp")(X, Y, beta))
    program = answer.theorem.program
    assert abs(_relative(program.objective(answer.blocks), answer.optimum)) <= ROUND_OFF
    assert abs(_relative(certificate(program, answer.blocks).lower_bound, answer.optimum)) <= ROUND_OFF
    for solver in ("clarabel", "ssnal", "fista"):
        value, gap = certified_gap(program, _solve(program, solver, seed).blocks)
        assert gap <= CLAIMED[solver] and -ROUND_OFF <= _relative(value, answer.optimum) <= gap + ROUND_OFF, solver
    run = _restarts(answer.theorem, answer.theorem.heads_for_zero_gap(), 2, seed)
    assert -tol.ROUNDOFF <= _relative(run.best, answer.optimum) <= tol.GAP
    theta, m = answer.theorem.recover(answer.factors)
    assert abs(_relative(answer.theorem.objective(theta, m), answer.optimum)) <= ROUND_OFF


def test_constructions_refuse_what_they_cannot_build():
    rng = np.random.default_rng(0)
    mlp = theory.get("linear-mlp")(rng.standard_normal((3, 2, 2)), rng.standard_normal((3, 2, 1)), 0.1)
    with pytest.raises(InputError, match="orthonormal"):
        ka.linear_mlp_closed_form(mlp)
    with pytest.raises(InputError, match="no block has rank 2"):
        ka.planted_rank(mlp, 2, rng)  # Z is 2 x 1
    with pytest.raises(InputError, match="relaxations"):
        ka.in_cone(mlp, rng)
    X = rng.standard_normal((4, 3, 2))
    H = np.repeat(rng.standard_normal((1, 2, 2)), 2, axis=0)  # two equal gates: every block attains the max twice
    twins = theory.get("gated-relu-attention").from_arrays({"X": X, "Y": np.zeros((4, 3, 2)), "H": H}, 1.0, 0)
    with pytest.raises(InputError, match="no strict rank-one"):
        ka.rank_one(twins, rng)


#: The exact theorems, on which cross-entropy known answers (theory.known_answers.cross_entropy_rank_one) are built.
EXACT = [name for name in NAMES if theory.get(name).exact and "cross-entropy" in theory.get(name).losses]
CROSS_ENTROPY_SOLVERS = {"cvxpy": ACCEPT_GAP, "prox-newton": DEFAULT_EPS, "fista": DEFAULT_EPS}


@lru_cache(maxsize=None)
def known_cross_entropy(name: str, seed: int) -> ka.KnownAnswer:
    """A cross-entropy known answer of ``name`` for ``seed`` (data of SHAPES, 3 classes, soft targets)."""
    N, s, d, _ = SHAPES.get(name, DEFAULT_SHAPE)
    rng = np.random.default_rng([seed, 7])
    X = rng.standard_normal((N, s, d))
    labels = default_labels((N,) if theory.get(name).sample_targets else (N, s), 3, seed)
    theorem = theory.get(name).from_arrays({"X": X, "Y": labels}, 1.0, seed, loss=CROSS_ENTROPY)
    return ka.cross_entropy_rank_one(theorem, rng, logit_scale=10.0 ** rng.uniform(-0.5, 0.5))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", EXACT)
def test_cross_entropy_known_answers_hold_every_solver_restarts_and_recovery(name, seed):
    """(e) The construction certifies itself (lower bound = C* to round-off); Clarabel, proximal Newton and FISTA
    reach C* within their certified gaps; the best of 2 restarts at the zero-gap width reaches it within GAP; the
    network of the known factors has objective C* to round-off."""
    answer = known_cross_entropy(name, seed)
    theorem, program = answer.theorem, answer.theorem.program
    assert abs(_relative(certificate(program, answer.blocks).lower_bound, answer.optimum)) <= ROUND_OFF
    for solver, claimed in CROSS_ENTROPY_SOLVERS.items():
        solution = _solve(program, solver, seed)
        if claimed < ACCEPT_GAP:  # the prox solvers' stopping rule (cvxpy's claim is what _solve accepted)
            assert solution.certified_gap <= claimed, (solver, solution.certified_gap)
        # the optimum it reports is the objective of the blocks it returns (a network is recovered from the blocks,
        # the verdicts are drawn from the reported optimum)
        assert abs(_relative(program.objective(solution.blocks), solution.optimum)) <= ROUND_OFF, solver
        assert -ROUND_OFF <= _relative(solution.optimum, answer.optimum) <= solution.certified_gap + ROUND_OFF, solver
    run = _restarts(theorem, theorem.heads_for_zero_gap(), 2, seed)
    assert -tol.ROUNDOFF <= _relative(run.best, answer.optimum) <= tol.GAP, f"seed {seed}"
    theta, m = theorem.recover(answer.factors)
    assert abs(_relative(theorem.objective(theta, m), answer.optimum)) <= ROUND_OFF
