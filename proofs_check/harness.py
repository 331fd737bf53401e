"""The verification of one theorem on one data set: convex solve, restarts and the five witnesses.

Witnesses (each a :class:`Check` with its value, tolerance and verdict; tolerances in proofs_check.tolerances):

(a) ``weak_duality``  every restart, at every width tried, ends at or above the certified lower bound LB <= C*;
(b) ``zero_gap``      with ``heads`` (default: theorem.heads_for_zero_gap(), where every local minimum of the
                      factorised problem is global) the best restart reaches C* within GAP; skipped when the user
                      asks for fewer heads than m* (the theorem claims nothing there);
(c) ``recovery``      the network built from Z* with m* heads (SVD, lemma L1) has objective C* within RECOVERY;
(d) ``dual_certificate`` the residual V* is dual feasible (max_p R°(A_p^T V*) <= beta (1 + DUAL)) and its dual
                      objective equals C* within DUAL;
(e) ``structure``     the structure of Z* (after rank reduction, theory.rank_reduction) obeys THEORY.md §3's bound
                      for an optimum at an extreme point of the optimal face: sum_p r_p (r_p + 1) / 2 <= n + 1 with
                      r_p = rank(Z_p*) and n = N s c outputs (also r_p <= min(rows, cols), reported); m* (the
                      heads needed) is derived from these ranks and the recovery (c) shows m* heads reach C*.
                      The fraction of restarts at m = m* that reach C* is reported: below the zero-gap width the
                      factorised problem can have spurious local minima (measured: 1 head, 3 restarts, all 16%
                      above C* on a drawn instance), so that fraction measures L-BFGS, not the theorem.

For a relaxation (``theorem.exact`` False: the convex optimum is only a lower bound, relu-attention), (b) and (c)
are measured but not claimed: (c) then says whether the bound is attained by the recovered network (tightness),
(b) whether a restart attains it; (a), (d) and (e) stay claims.

Observation (reported, not a claim of the theorem, so it does not decide ``passed``):
    ``width_necessity`` with m* - 1 heads the best restart stays at least NARROW above C*.  It holds when Z* is
                      the lowest-rank optimum; it fails legitimately when the optimum is not unique or when Z*
                      carries components the solver cannot resolve (directions in which the objective is flat
                      to first order are fixed only to ~sqrt(solver tolerance)): m* is then an upper bound on
                      the heads needed, which is all the theorem uses.

Relative quantities are divided by max(|C*|, 1e-12) (C* = 0 only when Y = 0).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from proofs_check import tolerances as tol
from proofs_check.batched import run_batched_restarts
from proofs_check.restarts import RestartRun, run_restarts
from theory.base import Theorem
from theory.prox import resolve_solver, solve_program
from theory.data import check_positive_int
from theory.lifted import block_factors, certificate
from theory.rank_reduction import reduce_rank

Progress = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass(frozen=True)
class Check:
    name: str
    value: float
    tolerance: float
    relation: str  # "<=" or ">=": value relation tolerance passes
    passed: bool | None  # None: not applicable (skipped)
    detail: str
    claim: bool = True  # False: an observation, reported but not part of the verdict


def _check(name: str, value: float, relation: str, tolerance: float, detail: str, claim: bool = True) -> Check:
    passed = value <= tolerance if relation == "<=" else value >= tolerance
    return Check(name, float(value), tolerance, relation, bool(passed), detail, claim)


def _skipped(name: str, detail: str, claim: bool = True) -> Check:
    return Check(name, float("nan"), float("nan"), "", None, detail, claim)


@dataclass
class Verification:
    """Everything one verification measured; ``to_json`` is the machine-readable report."""

    theorem: str
    dims: dict[str, int]
    beta: float
    heads: int
    restarts: int
    seed: int
    solver: str
    convex_optimum: float
    lower_bound: float
    certified_gap: float  # (C(Z) - lower_bound) / |C(Z)| at the convex solution: its certified accuracy
    best_primal: float
    relative_gap: float
    recovered_objective: float
    dual_objective: float
    rank: int
    fraction_at_rank: float | None
    narrow_best: float | None
    structure: dict[str, object]
    restart_values: dict[int, list[float]]
    seconds: dict[str, float]
    checks: list[Check] = field(default_factory=list)
    extras: dict[str, object] = field(default_factory=dict)  # theorem.report_fields, merged into the JSON

    @property
    def passed(self) -> bool:
        return all(c.passed is not False for c in self.checks if c.claim)

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["restart_values"] = {str(m): v for m, v in self.restart_values.items()}
        data["checks"] = {c.name: {k: v for k, v in asdict(c).items() if k != "name"} for c in self.checks}
        data.update(data.pop("extras"))
        data["passed"] = self.passed
        return data


def verify(theorem: Theorem, *, heads: int | None = None, restarts: int = 20, seed: int = 0,
           solver: str = "auto", progress: Progress | None = None, batched: bool = False) -> Verification:
    """Solve the convex program, run the restarts and evaluate the witnesses (a)-(e).

    ``solver``: auto | prox | cvxpy | clarabel | scs | ecos (theory.prox.solve_program).  ``batched``: run the
    restarts by proofs_check.batched (vectorised first phase, L-BFGS on the best few; the unpolished restarts'
    values are upper bounds, so fraction_at_rank counts only polished ones) instead of the serial path."""
    restarts = check_positive_int(restarts, "restarts")
    heads = theorem.heads_for_zero_gap() if heads is None else check_positive_int(heads, "heads")
    say = progress or (lambda phase, done, total: None)
    program = theorem.program
    solver = resolve_solver(program, solver)  # fail on a bad or missing solver before any work is shown

    say("convex solve", 0, 1)
    solution = solve_program(program, solver)
    cert = certificate(program, solution.blocks)
    reduced = reduce_rank(program, solution.blocks)
    factors = block_factors(program, reduced)
    structure = theorem.structure(reduced)
    m_star = theorem.heads_needed(factors)
    recovered = theorem.objective(theorem.recover(factors)[0], m_star)
    C = solution.optimum
    scale = max(abs(C), 1e-12)

    def restarts_at(m: int) -> RestartRun:
        run = run_batched_restarts if batched else run_restarts
        return run(theorem, m, restarts, seed, lambda k, n: say(f"restarts at m={m}", k, n))

    runs = {heads: restarts_at(heads)}
    if 1 <= m_star and m_star not in runs:
        runs[m_star] = restarts_at(m_star)
    if m_star >= 2 and m_star - 1 not in runs:
        runs[m_star - 1] = restarts_at(m_star - 1)
    narrow = _narrow_best(theorem, runs, m_star)
    at_rank = runs.get(m_star)

    lowest = min(float(run.values.min()) for run in runs.values())
    checks = [
        _check("weak_duality", (lowest - cert.lower_bound) / scale, ">=", -tol.ROUNDOFF,
               f"lowest restart over widths {sorted(runs)} minus certified lower bound LB"),
        _zero_gap_check(runs[heads], heads, m_star, C, scale, claim=theorem.exact),
        _check("recovery", abs(recovered - C) / scale, "<=", tol.RECOVERY,
               f"objective of the network recovered with m*={m_star} heads vs C*"
               + ("" if theorem.exact else " (a relaxation: equality means the lower bound is attained)"),
               claim=theorem.exact),
        _check("dual_certificate", max(abs(cert.dual_objective - C) / scale, cert.max_dual_norm_ratio - 1), "<=",
               tol.DUAL, f"max(|D(V*) - C*|/C*, max_p dual norm/beta - 1); dual norm/beta = {cert.max_dual_norm_ratio:.12g}"),
        _structure_check(structure, theorem.program.target.size),
        _skipped("width_necessity", "Z* = 0: no narrower network", claim=False) if narrow is None else
        _check("width_necessity", (narrow - C) / scale, ">=", tol.NARROW,
               f"best objective with m*-1={m_star - 1} heads above C*", claim=False),
    ]
    return Verification(
        theorem=theorem.name, dims=theorem.dims, beta=theorem.beta, heads=heads, restarts=restarts, seed=seed,
        solver=solution.solver, convex_optimum=C, lower_bound=cert.lower_bound,
        certified_gap=(C - cert.lower_bound) / scale, best_primal=runs[heads].best,
        relative_gap=(runs[heads].best - C) / scale, recovered_objective=recovered,
        dual_objective=cert.dual_objective, rank=m_star,
        fraction_at_rank=None if at_rank is None else float(np.mean((at_rank.values - C) / scale <= tol.GAP)),
        narrow_best=narrow, structure=structure,
        restart_values={m: run.values.tolist() for m, run in sorted(runs.items())},
        seconds={"convex": solution.seconds, **{f"restarts_m{m}": run.seconds for m, run in runs.items()}},
        checks=checks, extras=theorem.report_fields(reduced, factors),
    )


def _structure_check(structure: dict[str, object], outputs: int) -> Check:
    """Ranks against both bounds; value = max(sum_p r_p (r_p + 1) / 2 / (n + 1), max_p r_p / min(rows, cols))."""
    ranks, limits = structure["ranks"], structure["max_rank"]
    dof = sum(r * (r + 1) // 2 for r in ranks)
    value = max([dof / (outputs + 1)] + [r / limit for r, limit in zip(ranks, limits)])
    shown = f"ranks {ranks} <= {limits}" if len(ranks) <= 8 else \
        f"non-zero ranks {{block: rank}} = {({p: r for p, r in enumerate(ranks) if r})} of {len(ranks)} blocks, <= {max(limits)}"
    return _check("structure", value, "<=", 1.0, f"{shown}; sum r(r+1)/2 = {dof} <= n+1 = {outputs + 1}")


def _narrow_best(theorem: Theorem, runs: dict[int, RestartRun], m_star: int) -> float | None:
    """Best objective with m* - 1 heads (the zero network when m* = 1; None when m* = 0)."""
    if m_star == 0:
        return None
    if m_star == 1:
        return theorem.objective(np.zeros(theorem.n_params(0)), 0)
    return runs[m_star - 1].best


def _zero_gap_check(run: RestartRun, heads: int, m_star: int, C: float, scale: float, claim: bool) -> Check:
    """Claimed for exact theorems; for a relaxation (claim=False) it measures whether a restart attains the bound."""
    if heads < m_star and claim:
        return _skipped("zero_gap", f"heads={heads} < m*={m_star}: the theorem claims no zero gap")
    return _check("zero_gap", (run.best - C) / scale, "<=", tol.GAP, f"best of {run.values.size} restarts at m={heads}",
                  claim=claim)

