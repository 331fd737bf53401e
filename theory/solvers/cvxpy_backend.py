"""Program (C) in cvxpy, solved by Clarabel, ECOS or SCS on its normalised form (docs/theory.md §9).

The model is loss(sum_p A_p vec_r(Z_p)) + beta sum_p R(Z_p) with R's cvxpy expression (theory.regularisers), built
on the normalised program of theory.lifted.normalised so that the solver's tolerances are scale free.  Each solver
has a ladder of settings tried in turn (SOLVER_ATTEMPTS); an attempt ends the ladder when the solver reports
``optimal`` or when its point is certified to ``eps`` by theory.lifted.certificate.  Otherwise the attempt with the
smallest certified gap is kept, and theory.solvers.solve decides by that gap, not by the status.
"""

from __future__ import annotations

import time
import warnings

import cvxpy as cp
import numpy as np

from theory.errors import SolverFailure
from theory.lifted import LiftedProgram, certified_gap, normalised, target_scale
from theory.solvers.result import DEFAULT_EPS, Solution


def _clarabel(tolerance: float) -> dict[str, object]:
    return {"tol_gap_abs": tolerance * 1e-2, "tol_gap_rel": tolerance, "tol_feas": tolerance,
            "tol_ktratio": tolerance * 1e2, "max_iter": 500}


#: Per solver, the settings tried in order.  Clarabel starts at 1e-12 because near-interpolation instances need it
#: for a 1e-6 certificate, and steps down because on others it answers "almost solved" at 1e-12 (docs/theory.md §9).
#: SCS at 1e-9 because its default 1e-4 is far too coarse for the witnesses.
SOLVER_ATTEMPTS: dict[str, list[dict[str, object]]] = {
    "CLARABEL": [_clarabel(1e-12), _clarabel(1e-11), _clarabel(1e-10)],
    "ECOS": [{"abstol": 1e-10, "reltol": 1e-10, "feastol": 1e-10, "max_iters": 500}],
    "SCS": [{"eps_abs": 1e-9, "eps_rel": 1e-9, "max_iters": 200_000}],
}
#: The statuses whose point is worth certifying.
USABLE = (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)


def _parts(program: LiftedProgram) -> tuple[list[cp.Variable], cp.Expression, cp.Expression]:
    """The blocks' variables Z_p, the prediction sum_p A_p vec_r(Z_p) and the penalty sum_p R(Z_p) of (C)."""
    variables = [cp.Variable(b.shape) for b in program.blocks]
    prediction = sum(b.matrix @ cp.vec(Z, order="C") for b, Z in zip(program.blocks, variables))
    penalty = sum(b.norm.cvxpy(Z) for b, Z in zip(program.blocks, variables))
    return variables, prediction, penalty


def _loss(program: LiftedProgram, prediction: cp.Expression) -> cp.Expression:
    """The loss on the rows of the prediction (cross-entropy takes the exponential cone, which Clarabel, ECOS and SCS
    all support)."""
    rows = (program.target.size // program.classes, program.classes)
    return program.loss.cvxpy(cp.reshape(prediction, rows, order="C"), program.target.reshape(rows))


def build_problem(program: LiftedProgram) -> tuple[cp.Problem, list[cp.Variable]]:
    """The cvxpy model of (C): loss(sum_p A_p vec_r(Z_p)) + beta sum_p R(Z_p)."""
    variables, prediction, penalty = _parts(program)
    return cp.Problem(cp.Minimize(_loss(program, prediction) + program.beta * penalty)), variables


def build_dual_scaled_problem(program: LiftedProgram) -> tuple[cp.Problem, list[cp.Variable], cp.Constraint]:
    """(C) as loss(F) / beta + sum_p R(Z_p) s.t. F = sum_p A_p vec_r(Z_p): the same minimisers, with the multiplier
    of the constraint W = V / beta of order one, so that V = beta W is as accurate as the solver's tolerance
    relative to beta, not to |y| (docs/theory.md §9.11)."""
    variables, prediction, penalty = _parts(program)
    F = cp.Variable(program.target.size)
    link = F == prediction
    return cp.Problem(cp.Minimize(_loss(program, F) / program.beta + penalty), [link]), variables, link


def _run(problem: cp.Problem, name: str, options: dict[str, object]) -> None:
    """One solve; SolverFailure when the solver raises (an error, or one of Clarabel's Rust panics)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # cvxpy's "may be inaccurate": the certificate decides
            problem.solve(solver=name, **options)
    except cp.error.SolverError as exc:
        raise SolverFailure(f"solver {name} failed: {exc}") from None
    except BaseException as exc:  # Clarabel's Rust panics (pyo3's PanicException is no Exception)
        if type(exc).__name__ != "PanicException":
            raise
        raise SolverFailure(f"solver {name} failed: {exc}") from None


def solve_cvxpy(program: LiftedProgram, name: str, eps: float = DEFAULT_EPS) -> Solution:
    """Run the ladder of SOLVER_ATTEMPTS[name] on the normalised program; SolverFailure if no attempt gives a
    usable point.  When no attempt is certified to ``eps`` by its residual, one more solve of the dual-scaled model
    (:func:`build_dual_scaled_problem`, with the ladder's first settings) gives a dual point of its own, kept in
    Solution.dual when it certifies more.  Which solver may take which program (installed, ECOS without semidefinite
    cones, Clarabel's memory estimate of theory.memory) and the acceptance by certified gap are theory.solvers'
    registry's."""
    scaled, back = normalised(program)
    problem, variables = build_problem(scaled)
    start, best = time.perf_counter(), None
    for options in SOLVER_ATTEMPTS[name]:
        best = _better(best, _attempt(program, problem, variables, back, name, options))
        if problem.status == cp.OPTIMAL or (best is not None and best[2] <= eps):
            break
    if (best is None or best[2] > eps) and scaled.beta > 0:
        best = _dual_scaled(program, scaled, back, name, best, eps)
    if best is None:
        raise SolverFailure(f"solver {name} returned status {problem.status!r}, not optimal")
    blocks, value, gap, status, options, dual = best
    return Solution(blocks, value, gap, name, status, time.perf_counter() - start, options, dual)


def _attempt(program: LiftedProgram, problem: cp.Problem, variables: list[cp.Variable], back: float, name: str,
             options: dict[str, object], dual_of=None, model: str | None = None) -> tuple | None:
    """One rung of the ladder: solve, map Z back by ``back``, certify (with the dual point ``dual_of()`` if given);
    None when the status is not worth certifying.  ``model`` names a model other than (C) in the kept options."""
    _run(problem, name, options)
    if problem.status not in USABLE:
        return None
    dual = None if dual_of is None else dual_of()
    if dual_of is not None and dual is None:
        return None
    blocks = [back * np.asarray(Z.value, dtype=np.float64) for Z in variables]
    value, gap = certified_gap(program, blocks, dual)
    return blocks, value, gap, problem.status, options if model is None else {**options, "model": model}, dual


def _better(best: tuple | None, found: tuple | None) -> tuple | None:
    """The attempt with the smaller certified gap (the earlier one on a tie)."""
    return found if found is not None and (best is None or found[2] < best[2]) else best


def _dual_scaled(program: LiftedProgram, scaled: LiftedProgram, back: float, name: str, best: tuple | None,
                 eps: float) -> tuple | None:
    """``best`` or the dual-scaled model's solution with its multiplier as the dual point, whichever certifies more
    (the ladder of settings again, until one certifies ``eps``).
    The multiplier W of the normalised program maps back as V = eta beta' W (theory.lifted.normalised: eta =
    target_scale, and 1 when normalised left the program as it was)."""
    problem, variables, link = build_dual_scaled_problem(scaled)
    eta = 1.0 if scaled is program else target_scale(program)

    def dual_of() -> np.ndarray | None:
        if link.dual_value is None:
            return None
        return eta * scaled.beta * np.asarray(link.dual_value, dtype=np.float64).reshape(-1)

    for options in SOLVER_ATTEMPTS[name]:
        try:
            found = _attempt(program, problem, variables, back, name, options, dual_of, "dual-scaled")
        except SolverFailure:
            if best is None:
                raise
            return best
        best = _better(best, found)
        if best is not None and best[2] <= eps:
            break
    return best
