"""One entry point for program (C) of theory.lifted: :func:`solve`, over a registry of methods (docs/theory.md §9).

    solve(program, solver="auto")  ->  Solution (blocks Z_p, C(Z), certified relative gap, solver, seconds, options)

A *method* (:class:`Method`, registered in METHODS by name) is one way to solve (C): its name, its family
(``cvxpy``: an interior-point or splitting solver on cvxpy's model, independent of this package's own prox code;
``prox``: this package's methods), the reason it refuses a program (None when it takes it) and ``run``.  A *choice*
stands for methods picked per program, each pick with the reason it was made (:class:`Pick`):

- ``auto`` (docs/theory.md §9.4), an ordered choice tried until one method is accepted: for the squared loss
  ``cvxpy`` up to AUTO_PROX_ENTRIES lifted entries and AUTO_PROX_OUTPUTS outputs, so the small programs of the
  default examples and tests are solved independently of the prox code, with ``prox`` as fallback; ``prox`` first
  above (cvxpy cannot hold programs of more entries, and is slower than the Gram form on more outputs); for the other
  losses ``prox-newton``, then ``cvxpy`` (``fista`` above AUTO_PROX_ENTRIES);
- ``cvxpy``: Clarabel when a block needs a semidefinite cone, ECOS for pure group norms (theory.solvers.cvxpy_backend);
- ``prox``: SSNAL with a FISTA finish from SSNAL's best iterate when it stalls (theory.solvers.ssnal, .fista) for the
  squared loss, on which SSNAL is built; proximal Newton (theory.solvers.prox_newton) for the others.  Both iterate
  on the Gram form (theory.solvers.gram; for proximal Newton, that of its models) when the program has at least
  GRAM_RATIO times its dim + c^2 outputs: products by the blocks then cost O(dim^2), not a pass over the data, and
  the output form is the squared loss's fallback.

The methods by name: ``clarabel``, ``ecos``, ``scs`` (cvxpy), ``ssnal``, ``fista``, ``prox-newton`` (one prox method
alone; theory.solvers.fista is the simple reference method).  A refused or unknown name is an InputError, a cvxpy
solver that is not installed a SolverFailure, both raised by :func:`resolve` before any work.

Every solution, whichever method found it and on whichever form, is judged in one place (:func:`_accepted`): certified
by theory.lifted's certificate on the program itself (the residual y - A(Z) of one pass over the data), polished once when that certified gap exceeds ``eps`` (theory.solvers.polishing.polish_step), and
refused with SolverFailure when the gap still exceeds ``max_gap`` (ACCEPT_GAP by default), whatever the method's
status said.  The solve runs with BLAS limited to theory.threads' thread count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Callable

import cvxpy as cp
import numpy as np

from theory.errors import InputError, SolverFailure
from theory.lifted import LiftedProgram, certified_gap
from theory.losses import SQUARED
from theory.memory import check_interior_point
from theory.solvers.cvxpy_backend import SOLVER_ATTEMPTS, solve_cvxpy
from theory.solvers.fista import Callback, solve_fista
from theory.solvers.gram import gram_form, gram_outputs
from theory.solvers.polishing import polish_step
from theory.solvers.prox_newton import solve_prox_newton
from theory.solvers.result import ACCEPT_GAP, DEFAULT_EPS, Solution, check_eps, squared_only
from theory.solvers.ssnal import Stalled, solve_ssnal
from theory.threads import limited_blas

#: ``auto`` uses ``prox`` above this many lifted entries sum_p rows_p cols_p: linear attention at d = 8, c = 2 has
#: 1024 (Clarabel 19 s, SSNAL 0.1 s), at d = 16 it has 8192, where Clarabel runs out of memory (benchmarks/).
AUTO_PROX_ENTRIES = 4096

#: The prox methods iterate on the Gram form of a squared-loss program (theory.solvers.gram) when the program has at
#: least this many times its n' = dim + c^2 outputs (N s c, or N c pooled): the two forms took equally long at about
#: n = n' (linear and gated-ReLU attention, benchmarks/README.md "Gram form").
GRAM_RATIO = 1
#: Where the Gram form pays, ``auto`` prefers prox on it to cvxpy above this many outputs: Clarabel's time grows with
#: them (linear attention d = 4: 1.7 s at 512 outputs, 6.4 s at 2048) while SSNAL on the Gram form took 0.2 s.
AUTO_PROX_OUTPUTS = 1024

#: The prox solvers certify eps = 1e-8 reliably when the normalised weight decay beta' = beta / (max_p |A_p|_2 |y|)
#: is at least this; below it the certificate needs the residual near float64 round-off and they may raise
#: SolverFailure (never return an uncertified number; measured in benchmarks/README.md).
PROX_MIN_BETA = 1e-6


@dataclass(frozen=True)
class Budget:
    """What bounds a method's run: the certified gap at which it stops, seconds, iterations (None: the method's own
    default) and FISTA's callback."""

    eps: float
    max_seconds: float
    max_iterations: int | None
    callback: Callback | None

    @property
    def iterations(self) -> dict[str, int]:
        return {} if self.max_iterations is None else {"max_iterations": self.max_iterations}


class Method:
    """A registered way to solve (C) (module docstring); ``gram``: it can iterate on the Gram form of a squared-loss
    program (theory.solvers.gram; for proximal Newton, on the Gram form of its squared-loss models)."""

    name: str
    family: str
    gram: bool = False

    def refuses(self, program: LiftedProgram) -> str | None:
        """Why this method cannot take ``program`` (an InputError when it is asked for by name), or None."""
        return None

    def missing(self) -> str | None:
        """Why this method cannot run here at all (a SolverFailure), or None."""
        return None

    def run(self, program: LiftedProgram, budget: Budget, form: str = "outputs") -> Solution:
        """The method's solution of ``program``, iterated on ``program`` itself (``outputs``) or on its Gram form
        (``gram``, theory.solvers.gram); theory.solvers certifies it on ``program``."""
        if form != "gram":
            return self.iterate(program, budget)
        if not self.gram:
            raise ValueError(f"{self.name} does not iterate on the Gram form")
        compressed = gram_form(program)
        solution = self.iterate(compressed.program, budget)
        return replace(solution, seconds=solution.seconds + compressed.seconds,
                       options={**solution.options, "form": compressed.describe(program)})

    def iterate(self, program: LiftedProgram, budget: Budget) -> Solution:
        raise NotImplementedError


@dataclass(frozen=True)
class CvxpyMethod(Method):
    """cvxpy with one of its solvers (theory.solvers.cvxpy_backend: the ladder of settings SOLVER_ATTEMPTS)."""

    name: str
    family: str = "cvxpy"

    def missing(self) -> str | None:
        installed = cp.installed_solvers()
        if self.name.upper() not in installed:
            return f"solver {self.name.upper()} is not installed (installed: {', '.join(installed)})"
        return None

    def refuses(self, program: LiftedProgram) -> str | None:
        sdp = [b.shape for b in program.blocks if b.norm.needs_sdp]
        if self.name == "ecos" and sdp:
            return "solver ECOS cannot handle the semidefinite cone of a nuclear norm; use clarabel or scs"
        if self.name == "clarabel":
            try:
                check_interior_point(program.target.size, sdp, "CLARABEL")
            except InputError as refusal:
                return str(refusal)
        return None

    def iterate(self, program: LiftedProgram, budget: Budget) -> Solution:
        return solve_cvxpy(program, self.name.upper(), budget.eps)


@dataclass(frozen=True)
class SSNALMethod(Method):
    """SSNAL alone (theory.solvers.ssnal): SolverFailure (Stalled) when it stalls."""

    name: str = "ssnal"
    family: str = "prox"
    gram: bool = True

    def refuses(self, program: LiftedProgram) -> str | None:
        return squared_only(program, "SSNAL")

    def iterate(self, program: LiftedProgram, budget: Budget) -> Solution:
        return solve_ssnal(program, eps=budget.eps, max_seconds=budget.max_seconds, **budget.iterations)


@dataclass(frozen=True)
class FISTAMethod(Method):
    """FISTA (theory.solvers.fista), any loss; the callback sees its iterates."""

    name: str = "fista"
    family: str = "prox"
    gram: bool = True

    def iterate(self, program: LiftedProgram, budget: Budget) -> Solution:
        return solve_fista(program, eps=budget.eps, max_seconds=budget.max_seconds, callback=budget.callback,
                           **budget.iterations)


@dataclass(frozen=True)
class SSNALThenFISTA(Method):
    """SSNAL; when it stalls, FISTA warm-started from its best iterate for the rest of the time."""

    name: str = "prox"
    family: str = "prox"
    gram: bool = True

    def refuses(self, program: LiftedProgram) -> str | None:
        return squared_only(program, "SSNAL")

    def iterate(self, program: LiftedProgram, budget: Budget) -> Solution:
        start = time.perf_counter()
        try:
            return solve_ssnal(program, eps=budget.eps, max_seconds=budget.max_seconds, **budget.iterations)
        except Stalled as stalled:
            spent = time.perf_counter() - start
            finish = solve_fista(program, eps=budget.eps, max_seconds=max(budget.max_seconds - spent, 0.0),
                                 start=stalled.blocks, callback=budget.callback, **budget.iterations)
            return replace(finish, solver="PROX-SSNAL+FISTA", seconds=spent + finish.seconds,
                           options={**finish.options, "ssnal": str(stalled)})


@dataclass(frozen=True)
class ProxNewtonMethod(Method):
    """Proximal Newton (theory.solvers.prox_newton), any smooth loss."""

    name: str = "prox-newton"
    family: str = "prox"
    gram: bool = True

    def run(self, program: LiftedProgram, budget: Budget, form: str = "outputs") -> Solution:
        solution = solve_prox_newton(program, eps=budget.eps, max_seconds=budget.max_seconds, gram=form == "gram",
                                     **budget.iterations)
        return replace(solution, options={**solution.options, "form": form})


#: The registry: every method by name.
METHODS: dict[str, Method] = {method.name: method for method in (
    *(CvxpyMethod(name.lower()) for name in SOLVER_ATTEMPTS), SSNALThenFISTA(), SSNALMethod(), FISTAMethod(),
    ProxNewtonMethod())}
PROX_METHODS = tuple(name for name, method in METHODS.items() if method.family == "prox")


@dataclass(frozen=True)
class Pick:
    """A method picked for a program, the form it iterates on (``outputs``: the program itself; ``gram``: its Gram
    form, theory.solvers.gram) and the reason (empty when the method was named)."""

    method: Method
    reason: str = ""
    form: str = "outputs"

    def because(self, more: str) -> Pick:
        return replace(self, reason=f"{self.reason}; {more}")


def _entries(program: LiftedProgram) -> int:
    return sum(b.shape[0] * b.shape[1] for b in program.blocks)


def _gram_size(program: LiftedProgram) -> tuple[bool, str]:
    """Whether the prox methods iterate on the Gram form (GRAM_RATIO), and the sizes that decide it.  The models of
    proximal Newton mix the classes (their row Hessians), so their Gram form has dim + 1 outputs."""
    n = program.target.size
    n_gram = gram_outputs(program) if program.loss == SQUARED else _entries(program) + 1
    pays = n >= GRAM_RATIO * n_gram
    return pays, f"{n} outputs {'>=' if pays else '<'} GRAM_RATIO = {GRAM_RATIO} x the {n_gram} of the Gram form"


def _cvxpy_choice(program: LiftedProgram) -> list[Pick]:
    if not any(b.norm.needs_sdp for b in program.blocks) and "ECOS" in cp.installed_solvers():
        return [Pick(METHODS["ecos"], "cvxpy: ECOS, every block a group norm (second-order cones only)")]
    return [Pick(METHODS["clarabel"], "cvxpy: Clarabel, for the semidefinite cone of a nuclear norm")]


def _prox_choice(program: LiftedProgram) -> list[Pick]:
    """SSNAL with a FISTA finish for the squared loss, proximal Newton for the others; on the Gram form when it has
    GRAM_RATIO times fewer outputs (then, for the squared loss, the output form as fallback)."""
    gram, size = _gram_size(program)
    form = "gram" if gram else "outputs"
    if program.loss != SQUARED:
        return [Pick(METHODS["prox-newton"], f"prox: proximal Newton for the {program.loss.name} loss, its models in "
                                              f"the {form} form ({size})", form)]
    first = Pick(METHODS["prox"], f"prox: SSNAL with a FISTA finish, in the {form} form ({size})", form)
    return [first, Pick(METHODS["prox"], "prox in the output form")] if gram else [first]


def _auto_choice(program: LiftedProgram) -> list[Pick]:
    """The ordered choice of ``auto`` (module docstring), each pick with why it is there."""
    entries = _entries(program)
    large = entries > AUTO_PROX_ENTRIES
    size = f"{entries} lifted entries {'>' if large else '<='} AUTO_PROX_ENTRIES = {AUTO_PROX_ENTRIES}"
    prox = _prox_choice(program)
    cvxpy = [] if large else [pick.because(f"{size}: an interior-point method independent of the prox code")
                              for pick in _cvxpy_choice(program)]
    if program.loss != SQUARED:
        if large:
            return [prox[0].because(size), Pick(METHODS["fista"], f"fista: fallback; {size}, where cvxpy cannot hold "
                                                                  "the program")]
        return [prox[0].because(size)] + [pick.because("fallback of the other family") for pick in cvxpy]
    if large:
        return [prox[0].because(f"{size}, where cvxpy cannot hold the program")] + \
            [pick.because("fallback") for pick in prox[1:]]
    outputs = program.target.size
    if prox[0].form == "gram" and outputs > AUTO_PROX_OUTPUTS:
        return [prox[0].because(f"{size} but {outputs} outputs > AUTO_PROX_OUTPUTS = {AUTO_PROX_OUTPUTS}: the Gram "
                                f"form's iterations do not grow with the outputs, cvxpy's do")] + \
            [pick.because("fallback") for pick in cvxpy + prox[1:]]
    return cvxpy + [pick.because("fallback of the other family") for pick in prox]


#: The choices: names that stand for methods picked per program.
CHOICES: dict[str, Callable[[LiftedProgram], list[Pick]]] = {"auto": _auto_choice, "cvxpy": _cvxpy_choice,
                                                              "prox": _prox_choice}
#: Every name :func:`solve` takes: the choices auto and cvxpy, the cvxpy methods, then prox (a choice, and the name of
#: the method it picks for the squared loss) and the other prox methods.
SOLVERS = tuple(dict.fromkeys(["auto", "cvxpy", *(n for n, m in METHODS.items() if m.family == "cvxpy"), "prox",
                               *PROX_METHODS]))


def _picks(program: LiftedProgram, solver: str) -> tuple[list[Pick], list[str]]:
    """The methods :func:`solve` tries for ``solver``, in order, and the reasons others of its choice were skipped;
    InputError for an unknown name or a refused one, SolverFailure for a missing one (or when every pick of a
    choice is refused or missing)."""
    name = solver.lower()
    if name not in SOLVERS:
        raise InputError(f"unknown solver {solver!r}; choose {', '.join(SOLVERS)}")
    picks = CHOICES[name](program) if name in CHOICES else [Pick(METHODS[name])]
    usable, skipped, errors = [], [], []
    for pick in picks:
        missing, refusal = pick.method.missing(), pick.method.refuses(program)
        if missing is None and refusal is None:
            usable.append(pick)
            continue
        skipped.append(f"{pick.method.name}: {missing or refusal}")
        errors.append(SolverFailure(missing) if missing is not None else InputError(refusal))
    if not usable:
        raise errors[0] if len(errors) == 1 else type(errors[0])("; ".join(skipped))
    return usable, skipped


def resolve(program: LiftedProgram, solver: str) -> str:
    """The method a name stands for (for a choice, its first usable pick): a prox method or a cvxpy solver's name.
    Raises as :func:`solve` would before any work (unknown, refused or missing solver)."""
    return _picks(program, solver)[0][0].method.name


def solve(program: LiftedProgram, solver: str = "auto", *, eps: float = DEFAULT_EPS, max_gap: float = ACCEPT_GAP,
          max_seconds: float = 600.0, max_iterations: int | None = None,
          callback: Callback | None = None) -> Solution:
    """Solve (C) with ``solver`` (module docstring) to a certified relative gap <= eps for the prox methods (the
    target of the cvxpy ladder), and refuse any result above ``max_gap``.  A choice tries its picks in order until
    one is accepted; the solution's options say why it was picked (``choice``), which picks were skipped and which
    failed first (``fallback after``).  ``max_seconds`` and ``max_iterations`` bound the prox methods; ``callback``
    sees FISTA's iterates."""
    picks, skipped = _picks(program, solver)
    budget = Budget(eps, max_seconds, max_iterations, callback)
    failures = []
    for pick in picks:
        try:
            solution = _accepted(program, pick, budget, max_gap)
        except SolverFailure as failure:
            failures.append(str(failure))
            continue
        notes = {"choice": pick.reason} if pick.reason else {}
        notes.update({"skipped": "; ".join(skipped)} if skipped else {})
        notes.update({"fallback after": failures[0]} if failures else {})
        return replace(solution, options={**solution.options, **notes}) if notes else solution
    raise SolverFailure("; then ".join(failures))


def _accepted(program: LiftedProgram, pick: Pick, budget: Budget, max_gap: float) -> Solution:
    """One method's solution, certified on ``program`` (for the Gram form: from the exact residual y - A(Z), one
    pass over the data), polished once if above eps, or SolverFailure: also when its arithmetic broke down (an SVD
    that did not converge, non-finite iterates), which is the method failing, not a result."""
    method = pick.method
    if method.family == "prox":
        check_eps(budget.eps)
    try:
        with limited_blas(), np.errstate(over="ignore", invalid="ignore"):
            solution = method.run(program, budget, pick.form)
            value, gap = certified_gap(program, solution.blocks, solution.dual)
            solution = replace(solution, optimum=value, certified_gap=gap)
            if gap > budget.eps:
                solution = _polished(program, solution)
    except np.linalg.LinAlgError as exc:
        raise SolverFailure(f"solver {method.name} failed numerically: {exc}") from None
    if not (solution.certified_gap <= max_gap and all(np.all(np.isfinite(Z)) for Z in solution.blocks)):
        raise SolverFailure(f"solver {solution.solver} (status {solution.status}) reached only a certified relative "
                            f"gap of {solution.certified_gap:.1e} > {max_gap:.0e}; try another --solver")
    return solution


def _polished(program: LiftedProgram, solution: Solution) -> Solution:
    """The solution after the one polishing step (theory.solvers.polishing.polish_step) when that certifies a smaller
    gap; the solution itself otherwise."""
    better = polish_step(program, solution.blocks, solution.certified_gap)
    if better is None:
        return solution
    blocks, value, gap = better
    return replace(solution, blocks=blocks, optimum=value, certified_gap=gap,
                   options={**solution.options, "polished": f"certified gap {solution.certified_gap:.1e} -> {gap:.1e}"})


__all__ = ["ACCEPT_GAP", "AUTO_PROX_ENTRIES", "AUTO_PROX_OUTPUTS", "DEFAULT_EPS", "GRAM_RATIO", "METHODS", "PROX_METHODS", "PROX_MIN_BETA", "SOLVERS",
           "Method", "Solution", "resolve", "solve"]
