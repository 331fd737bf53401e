"""One entry point for program (C) of theory.lifted: :func:`solve` (docs/theory.md §9).

    solve(program, solver="auto")  ->  Solution (blocks Z_p, C(Z), certified relative gap, solver, seconds)

Solvers (``SOLVERS``):
- ``auto``, for the squared loss: ``cvxpy`` for programs up to AUTO_PROX_ENTRIES lifted entries, so the small
  programs of the default examples and tests are solved by an interior-point method independent of this package's
  own prox code, with ``prox`` as fallback; ``prox`` alone above (cvxpy cannot hold such programs in memory).  For
  the other losses: ``prox-newton`` first, then ``cvxpy`` (``fista`` above AUTO_PROX_ENTRIES);
- ``cvxpy``: Clarabel when a block needs a semidefinite cone, ECOS for pure group norms; ``clarabel``, ``scs``,
  ``ecos`` by name (theory.solvers.cvxpy_backend);
- ``prox``: SSNAL (theory.solvers.ssnal), and FISTA warm-started from SSNAL's best iterate when SSNAL stalls; for a
  loss other than the squared one, on which SSNAL is built, proximal Newton (theory.solvers.prox_newton: SSNAL on
  the squared-loss model of the loss at each iterate);
- ``ssnal``, ``fista``, ``prox-newton``: one method alone (theory.solvers.fista is the simple reference method).

Every solution is judged by the same certificate (theory.lifted.certificate).  A solution certified only above
``eps`` is polished in the subspaces of its significant components (theory.solvers.polishing) and the better of the
two kept; :func:`solve` raises SolverFailure when the certified relative gap still exceeds ``max_gap``
(ACCEPT_GAP by default), whatever the solver's status said.
The solve runs with BLAS limited to theory.threads' thread count.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from theory.errors import InputError, SolverFailure
from theory.lifted import LiftedProgram, certified_gap, significant_components
from theory.losses import SQUARED
from theory.solvers.cvxpy_backend import SOLVER_ATTEMPTS, choose_solver, solve_cvxpy
from theory.solvers.fista import Callback, solve_fista
from theory.solvers.polishing import polish
from theory.solvers.prox_newton import solve_prox_newton
from theory.solvers.result import ACCEPT_GAP, DEFAULT_EPS, Solution
from theory.solvers.ssnal import Stalled, solve_ssnal
from theory.threads import limited_blas

PROX_METHODS = ("prox", "ssnal", "fista", "prox-newton")
SOLVERS = ("auto", "cvxpy", *(name.lower() for name in SOLVER_ATTEMPTS), *PROX_METHODS)

#: ``auto`` uses ``prox`` above this many lifted entries sum_p rows_p cols_p: linear attention at d = 8, c = 2 has
#: 1024 (Clarabel 19 s, SSNAL 0.1 s), at d = 16 it has 8192, where Clarabel runs out of memory (benchmarks/).
AUTO_PROX_ENTRIES = 4096

#: The prox solvers certify eps = 1e-8 reliably when the normalised weight decay beta' = beta / (max_p |A_p|_2 |y|)
#: is at least this; below it the certificate needs the residual near float64 round-off and they may raise
#: SolverFailure (never return an uncertified number; measured in benchmarks/README.md).
PROX_MIN_BETA = 1e-6


def candidates(program: LiftedProgram, solver: str = "auto") -> list[str]:
    """The solvers :func:`solve` runs, in order, until one is accepted: the named one alone, or for ``auto`` (module
    docstring) a first choice and a fallback of the other family (none for large squared-loss programs, which
    cvxpy cannot hold in memory).  InputError/SolverFailure when a name is unknown, a solver is not installed or it
    cannot take the program."""
    name = solver.lower()
    if name not in SOLVERS:
        raise InputError(f"unknown solver {solver!r}; choose {', '.join(SOLVERS)}")
    if name == "auto":
        large = sum(b.shape[0] * b.shape[1] for b in program.blocks) > AUTO_PROX_ENTRIES
        if program.loss == SQUARED:
            return ["prox"] if large else [resolve(program, "cvxpy"), "prox"]
        return ["prox-newton", "fista" if large else resolve(program, "cvxpy")]
    return [resolve(program, name)]


def resolve(program: LiftedProgram, solver: str) -> str:
    """The one solver a name stands for (auto: its first choice): a prox method, or a cvxpy solver name."""
    name = solver.lower()
    if name == "auto":
        return candidates(program, name)[0]
    if name not in SOLVERS:
        raise InputError(f"unknown solver {solver!r}; choose {', '.join(SOLVERS)}")
    if name == "prox" and program.loss != SQUARED:
        return "prox-newton"
    if name == "ssnal" and program.loss != SQUARED:
        raise InputError(f"SSNAL supports the squared loss only, not {program.loss.name!r}; use fista or cvxpy")
    if name in PROX_METHODS:
        return name
    return choose_solver(program, "auto" if name == "cvxpy" else name).lower()


def solve(program: LiftedProgram, solver: str = "auto", *, eps: float = DEFAULT_EPS, max_gap: float = ACCEPT_GAP,
          max_seconds: float = 600.0, max_iterations: int | None = None,
          callback: Callback | None = None) -> Solution:
    """Solve (C) with ``solver`` (module docstring) to a certified relative gap <= eps for the prox methods (the
    target of the cvxpy ladder), and refuse any result above ``max_gap``; ``auto`` falls back to its second
    candidate when the first fails (the solution's options say why).  ``max_seconds`` and ``max_iterations`` bound
    the prox methods; ``callback`` sees FISTA's iterates."""
    failures = []
    for name in candidates(program, solver):
        try:
            solution = _accepted(program, name, eps, max_gap, max_seconds, max_iterations, callback)
        except SolverFailure as failure:
            failures.append(str(failure))
            continue
        return replace(solution, options={**solution.options, "fallback after": failures[0]}) if failures else solution
    raise SolverFailure("; then ".join(failures))


def _accepted(program: LiftedProgram, name: str, eps: float, max_gap: float, max_seconds: float,
              max_iterations: int | None, callback: Callback | None) -> Solution:
    """One solver's solution, polished if needed, or SolverFailure: also when its arithmetic broke down (an SVD that
    did not converge, non-finite iterates), which is the solver failing, not a result."""
    try:
        with limited_blas(), np.errstate(over="ignore", invalid="ignore"):
            solution = _run(program, name, eps, max_seconds, max_iterations, callback)
            if solution.certified_gap > eps:
                solution = _polished(program, solution)
    except np.linalg.LinAlgError as exc:
        raise SolverFailure(f"solver {name} failed numerically: {exc}") from None
    if not (solution.certified_gap <= max_gap and all(np.all(np.isfinite(Z)) for Z in solution.blocks)):
        raise SolverFailure(f"solver {solution.solver} (status {solution.status}) reached only a certified relative "
                            f"gap of {solution.certified_gap:.1e} > {max_gap:.0e}; try another --solver")
    return solution


def _run(program: LiftedProgram, name: str, eps: float, max_seconds: float, max_iterations: int | None,
         callback: Callback | None) -> Solution:
    budget = {} if max_iterations is None else {"max_iterations": max_iterations}
    if name == "fista":
        return solve_fista(program, eps=eps, max_seconds=max_seconds, callback=callback, **budget)
    if name == "ssnal":
        return solve_ssnal(program, eps=eps, max_seconds=max_seconds, **budget)
    if name == "prox-newton":
        return solve_prox_newton(program, eps=eps, max_seconds=max_seconds, **budget)
    if name == "prox":
        return _ssnal_then_fista(program, eps, max_seconds, budget, callback)
    return solve_cvxpy(program, name.upper(), eps)


def _polished(program: LiftedProgram, solution: Solution) -> Solution:
    """The solution polished in the subspaces of its significant components (theory.solvers.polishing), when that
    certifies a smaller gap; the solution itself otherwise."""
    blocks = polish(program, significant_components(program, solution.blocks))
    value, gap = certified_gap(program, blocks)
    if not gap < solution.certified_gap:
        return solution
    return replace(solution, blocks=blocks, optimum=value, certified_gap=gap,
                   options={**solution.options, "polished": f"certified gap {solution.certified_gap:.1e} -> {gap:.1e}"})


def _ssnal_then_fista(program: LiftedProgram, eps: float, max_seconds: float, budget: dict,
                      callback: Callback | None) -> Solution:
    """SSNAL; when it stalls, FISTA warm-started from its best iterate for the rest of the time."""
    start = time.perf_counter()
    try:
        return solve_ssnal(program, eps=eps, max_seconds=max_seconds, **budget)
    except Stalled as stalled:
        spent = time.perf_counter() - start
        finish = solve_fista(program, eps=eps, max_seconds=max(max_seconds - spent, 0.0), start=stalled.blocks,
                             callback=callback, **budget)
        return replace(finish, solver="PROX-SSNAL+FISTA", seconds=spent + finish.seconds,
                       options={**finish.options, "ssnal": str(stalled)})


__all__ = ["ACCEPT_GAP", "AUTO_PROX_ENTRIES", "DEFAULT_EPS", "PROX_MIN_BETA", "SOLVERS", "Solution", "resolve", "solve"]
