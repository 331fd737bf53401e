"""The verification of one theorem on one data set: convex solve, restarts and the five witnesses.

Witnesses (each a :class:`Check` with its value, tolerance and verdict; tolerances in proofs_check.tolerances):

(a) ``weak_duality``  every restart, at every width tried, and the recovered network end at or above the certified
                      lower bound LB <= C*;
(b) ``zero_gap``      with ``heads`` (default: theorem.heads_for_zero_gap(), where every local minimum of the
                      factorised problem is global) the best restart reaches C* within GAP; skipped when the user
                      asks for fewer heads than m* (the theorem claims nothing there);
(c) ``recovery``      the network built from Z* with m* heads (SVD, lemma L1) has objective C* within RECOVERY;
(d) ``dual_certificate`` strong duality: the residual V*, rescaled into the dual feasible set (theory.lifted
                      .certificate), has a dual objective LB equal to C* within DUAL (|C* - LB|, so a dual above the
                      primal fails too);
(e) ``structure``     the structure of Z* (after rank reduction, theory.rank_reduction) obeys docs/theory.md §10.4's bound
                      for an optimum at an extreme point of the optimal face: sum_p r_p (r_p + 1) / 2 <= n + 1 with
                      r_p = rank(Z_p*) and n = N s c outputs (also r_p <= min(rows, cols), reported); m* (the
                      heads needed) is derived from these ranks and the recovery (c) shows m* heads reach C*.
                      The fraction of restarts at m = m* that reach C* is reported: below the zero-gap width the
                      factorised problem can have spurious local minima (measured: 1 head, 3 restarts, all 16%
                      above C* on a drawn instance), so that fraction measures L-BFGS, not the theorem.

For a relaxation (``theorem.exact`` False: the convex optimum is only a lower bound; relu-attention, relu-mixer,
relu-attention-fc), (b) and (c) are measured but not claimed: (c) then says whether the bound is attained by the
recovered network (tightness), (b) whether a restart attains it; (a), (d) and (e) stay claims.

Observation (reported, not a claim of the theorem, so it does not decide ``passed``):
    ``width_necessity`` with m* - 1 heads the best restart stays at least NARROW above C*.  It holds when Z* is
                      the lowest-rank optimum; it fails legitimately when the optimum is not unique or when Z*
                      carries components the solver cannot resolve (directions in which the objective is flat
                      to first order are fixed only to ~sqrt(solver tolerance)): m* is then an upper bound on
                      the heads needed, which is all the theorem uses.

With ``convex_only`` no restart runs: (a) then covers the recovered network alone, (b) and ``width_necessity`` are
skipped, and the restart fields of the report are null.

The checks are computed from the measured :class:`Evidence` by :func:`witnesses` alone, so a test can hand it a
case in which a witness must fail.  Relative quantities are divided by the objective scale max(|C*|, 1e-12 l(0))
(theory.lifted.objective_scale): 0 <= C* <= l(0), the objective at Z = 0, so the floor scales with the data (C* = 0
only when l(0) = 0, e.g. Y = 0).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from proofs_check import tolerances as tol
from proofs_check.optimum import find_optimum
from proofs_check.restarts import RestartRun, TheoremAtWidth, run_restarts
from theory.base import Theorem
from theory.data import check_positive_int
from theory.lifted import DualCertificate
from theory.relu_exact import ExactOptimum
from theory.solvers import resolve

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


@dataclass(frozen=True)
class Evidence:
    """What the witnesses judge: the convex solution's objective and certificate, the recovered network, the
    structure, and the restarts' final values per width (None without restarts)."""

    optimum: float  # C(Z*) at the convex solution
    scale: float  # what relative quantities are divided by (module docstring)
    certificate: DualCertificate
    recovered: float  # objective of the network recovered with m* heads
    ranks: list[int]
    max_ranks: list[int]
    outputs: int  # n = N s c
    m_star: int
    heads: int  # the width of the zero-gap witness
    exact: bool  # theorem.exact: zero gap and recovery are claims, not observations
    restarts: dict[int, np.ndarray] | None = None
    narrow: float | None = None  # best objective with m* - 1 heads (None: m* = 0 or no restarts)
    exact_program: ExactOptimum | None = None  # a relaxation's exact program, solved (verify(exact=True))


def witnesses(e: Evidence) -> list[Check]:
    """The checks (a)-(e) and the width observation of the module docstring, from the evidence alone."""
    C, scale = e.optimum, e.scale
    cert = e.certificate
    tried = [] if e.restarts is None else sorted(e.restarts)
    lowest = min([e.recovered] + [float(np.min(e.restarts[m])) for m in tried])
    return [
        _check("weak_duality", (lowest - cert.lower_bound) / scale, ">=", -tol.ROUNDOFF,
               f"lowest of the recovered network and the restarts over widths {tried} minus certified lower bound LB"),
        _zero_gap_check(e, scale),
        _check("recovery", abs(e.recovered - C) / scale, "<=", tol.RECOVERY,
               f"objective of the network recovered with m*={e.m_star} heads vs C*"
               + ("" if e.exact else " (a relaxation: equality means the lower bound is attained)"), claim=e.exact),
        _check("dual_certificate", abs(C - cert.lower_bound) / scale, "<=", tol.DUAL,
               f"|C* - D(a V*)|/C* with a V* dual feasible; unscaled residual V*: dual norm/beta = "
               f"{cert.max_dual_norm_ratio:.10g}, (D(V*) - C*)/C* = {(cert.dual_objective - C) / scale:.1e}"),
        _structure_check(e.ranks, e.max_ranks, e.outputs),
        _width_check(e, scale),
    ] + ([] if e.exact_program is None else _exact_checks(e, lowest))


def _exact_checks(e: Evidence, lowest: float) -> list[Check]:
    """The witnesses of a relaxation's exact program (docs/theory.md §4.4), relative to its scale: the recovered
    ReLU network and the oracle's lower bound agree (zero gap for the network itself), no network found (restart or
    the relaxation's recovered one) lies below that bound, and the relaxation's bound C* lies below it."""
    x = e.exact_program
    scale = max(abs(x.upper_bound), e.scale)
    best = None if e.restarts is None else float(np.min(e.restarts[e.heads]))
    return [
        _check("exact_gap", x.gap, "<=", tol.EXACT_GAP,
               f"ReLU network of {x.heads} heads {x.upper_bound:.12g} vs certified lower bound {x.lower_bound:.12g} "
               f"(column generation, {x.rounds} rounds)"),
        _check("exact_weak_duality", (lowest - x.lower_bound) / scale, ">=", -tol.ROUNDOFF,
               "lowest of the restarts and the relaxation's recovered network minus the exact lower bound"),
        _check("relaxation_below", (e.optimum - x.lower_bound) / scale, "<=", tol.EXACT_GAP,
               "the relaxation's C* minus the exact lower bound (the relaxation drops the cone constraints)"),
        _skipped("restarts_reach_exact", "convex only: no restarts", claim=False) if best is None else
        _check("restarts_reach_exact", (best - x.upper_bound) / scale, "<=", tol.GAP,
               f"best of {len(e.restarts[e.heads])} restarts at m={e.heads} minus the exact optimum", claim=False),
    ]


def _zero_gap_check(e: Evidence, scale: float) -> Check:
    """Claimed for exact theorems; for a relaxation it measures whether a restart attains the bound."""
    if e.restarts is None:
        return _skipped("zero_gap", "convex only: no restarts", claim=e.exact)
    if e.heads < e.m_star and e.exact:
        return _skipped("zero_gap", f"heads={e.heads} < m*={e.m_star}: the theorem claims no zero gap")
    values = e.restarts[e.heads]
    return _check("zero_gap", (float(np.min(values)) - e.optimum) / scale, "<=", tol.GAP,
                  f"best of {len(values)} restarts at m={e.heads}", claim=e.exact)


def _structure_check(ranks: list[int], limits: list[int], outputs: int) -> Check:
    """Ranks against both bounds; value = max(sum_p r_p (r_p + 1) / 2 / (n + 1), max_p r_p / max rank_p)."""
    dof = sum(r * (r + 1) // 2 for r in ranks)
    value = max([dof / (outputs + 1)] + [r / limit for r, limit in zip(ranks, limits)])
    shown = f"ranks {ranks} <= {limits}" if len(ranks) <= 8 else \
        f"non-zero ranks {{block: rank}} = {({p: r for p, r in enumerate(ranks) if r})} of {len(ranks)} blocks, <= {max(limits)}"
    return _check("structure", value, "<=", 1.0, f"{shown}; sum r(r+1)/2 = {dof} <= n+1 = {outputs + 1}")


def _width_check(e: Evidence, scale: float) -> Check:
    if e.restarts is None:
        return _skipped("width_necessity", "convex only: no restarts", claim=False)
    if e.narrow is None:
        return _skipped("width_necessity", "Z* = 0: no narrower network", claim=False)
    return _check("width_necessity", (e.narrow - e.optimum) / scale, ">=", tol.NARROW,
                  f"best objective with m*-1={e.m_star - 1} heads above C*", claim=False)


@dataclass
class Verification:
    """Everything one verification measured; ``to_json`` is the machine-readable report."""

    theorem: str
    loss: str
    dims: dict[str, int]
    beta: float
    heads: int
    restarts: int | None
    seed: int
    solver: str
    convex_optimum: float
    scale: float  # the denominator of every relative quantity: max(|C*|, 1e-12 l(0))
    lower_bound: float
    certified_gap: float  # (C(Z) - lower_bound) / scale at the convex solution: its certified accuracy
    best_primal: float | None
    relative_gap: float | None
    recovered_objective: float
    dual_objective: float
    rank: int
    fraction_at_rank: float | None
    narrow_best: float | None
    structure: dict[str, object]
    restart_values: dict[int, list[float]] | None
    seconds: dict[str, float]
    saddle_escapes: dict[int, int] | None = None  # per width, the restarts' escapes from the strict saddle theta = 0
    checks: list[Check] = field(default_factory=list)
    extras: dict[str, object] = field(default_factory=dict)  # theorem.report_fields, merged into the JSON
    #: The globally optimal network (not in the JSON): the exact program's ReLU network, or the network recovered from
    #: Z* of an exact theorem; None for a relaxation judged without its exact program.
    optimal_weights: list[np.ndarray] | None = None

    @property
    def passed(self) -> bool:
        return all(c.passed is not False for c in self.checks if c.claim)

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data.pop("optimal_weights")
        if self.restart_values is not None:
            data["restart_values"] = {str(m): v for m, v in self.restart_values.items()}
            data["saddle_escapes"] = {str(m): n for m, n in self.saddle_escapes.items()}
        data["checks"] = {c.name: {k: v for k, v in asdict(c).items() if k != "name"} for c in self.checks}
        data.update(data.pop("extras"))
        data["passed"] = self.passed
        return data


def verify(theorem: Theorem, *, heads: int | None = None, restarts: int = 20, seed: int = 0,
           solver: str = "auto", progress: Progress | None = None, batched: bool = False,
           convex_only: bool = False, workers: int = 1, exact: bool = False) -> Verification:
    """Solve the convex program, run the restarts and evaluate the witnesses (a)-(e).

    ``solver``: any name of theory.solvers.SOLVERS.  ``batched``: the restart engine's batched path (vectorised
    first phase, L-BFGS on the best few; the unpolished restarts' values are upper bounds, so fraction_at_rank
    counts only polished ones).  ``convex_only``: no restarts (module docstring).  ``workers``: the restarts' L-BFGS
    runs on that many joblib workers (proofs_check.parallel; the same values as serially).  ``exact``: also solve the theorem's exact program
    (theory.base.Theorem.solve_exact; an InputError for a theorem without one) and judge it (:func:`_exact_checks`)."""
    restarts = check_positive_int(restarts, "restarts")
    asked = None if heads is None else check_positive_int(heads, "heads")
    say = progress or (lambda phase, done, total: None)
    program = theorem.program
    resolve(program, solver)  # fail on a bad or missing solver before any work is shown

    if exact and theorem.exact_program is None:
        theorem.solve_exact()  # raises the InputError that says why
    say("convex solve", 0, 1)
    optimum = find_optimum(theorem, solver)
    cert, reduced, factors = optimum.certificate, optimum.blocks, optimum.factors
    structure = theorem.structure(reduced)
    m_star, recovered, C, scale = optimum.heads, optimum.recovered_objective, optimum.convex_optimum, optimum.scale
    if exact:
        say("exact program", 0, 1)
    exact_program = theorem.solve_exact() if exact else None
    # the restarts get at least the heads of the exact program's network, so that they can reach its optimum
    heads = asked or max(theorem.heads_for_zero_gap(), exact_program.heads if exact_program else 0)

    runs = {} if convex_only else _restart_runs(theorem, heads, m_star, restarts, seed, batched, say, workers)
    values = None if convex_only else {m: run.values for m, run in runs.items()}
    narrow = None if convex_only else _narrow_best(theorem, runs, m_star)
    evidence = Evidence(C, scale, cert, recovered, structure["ranks"], structure["max_rank"], program.target.size, m_star,
                        heads, theorem.exact, values, narrow, exact_program)
    at_rank = runs.get(m_star)
    best = runs[heads].best if runs else None
    return Verification(
        theorem=theorem.name, loss=theorem.loss.name, dims=theorem.dims, beta=theorem.beta, heads=heads,
        restarts=None if convex_only else restarts, seed=seed, solver=optimum.solver, convex_optimum=C, scale=scale,
        lower_bound=cert.lower_bound, certified_gap=optimum.certified_gap, best_primal=best,
        relative_gap=None if best is None else (best - C) / scale, recovered_objective=recovered,
        dual_objective=cert.dual_objective, rank=m_star,
        fraction_at_rank=None if at_rank is None else float(np.mean((at_rank.values - C) / scale <= tol.GAP)),
        narrow_best=narrow, structure=structure,
        restart_values=None if convex_only else {m: run.values.tolist() for m, run in sorted(runs.items())},
        seconds={"convex": optimum.seconds, **{f"restarts_m{m}": run.seconds for m, run in runs.items()}},
        saddle_escapes=None if convex_only else {m: int(run.escapes.sum()) for m, run in sorted(runs.items())},
        checks=witnesses(evidence),
        extras={**theorem.report_fields(reduced, factors),
                **({} if exact_program is None else {"exact": exact_summary(exact_program, C, best)})},
        optimal_weights=[exact_program.W1, exact_program.W2] if exact_program is not None else
        optimum.weight_list if theorem.exact else None,
    )


def exact_summary(x: ExactOptimum, relaxation: float, best_restart: float | None) -> dict[str, object]:
    """The exact program's numbers for the report: the bounds, the gap, and where the relaxation's distance to the
    restarts goes: relaxation gap (exact optimum - relaxation C*) and restart gap (best restart - exact optimum),
    both relative to the exact optimum."""
    scale = max(abs(x.upper_bound), np.finfo(float).tiny)
    return {"lower_bound": x.lower_bound, "upper_bound": x.upper_bound, "exact_gap": x.gap,
            "relaxation_bound": relaxation, "relaxation_gap": (x.upper_bound - relaxation) / scale,
            "restart_gap": None if best_restart is None else (best_restart - x.upper_bound) / scale,
            "heads": x.heads, "rounds": x.rounds, "units": x.atoms, "faces": x.faces,
            "dual_norm_ratio": x.dual_norm_ratio, "seconds": {k: round(v, 3) for k, v in x.seconds.items()}}


def _restart_runs(theorem: Theorem, heads: int, m_star: int, restarts: int, seed: int, batched: bool,
                  say: Progress, workers: int) -> dict[int, RestartRun]:
    """Restarts at the zero-gap width ``heads``, at m* and at m* - 1 (each once)."""
    widths = [heads] + [m for m in (m_star, m_star - 1) if m >= 1 and m != heads]
    return {m: run_restarts(TheoremAtWidth(theorem, m), restarts, seed, (m,), batched=batched,
                            progress=lambda k, n, m=m: say(f"restarts at m={m}", k, n), workers=workers)
            for m in dict.fromkeys(widths)}


def _narrow_best(theorem: Theorem, runs: dict[int, RestartRun], m_star: int) -> float | None:
    """Best objective with m* - 1 heads (the zero network when m* = 1; None when m* = 0)."""
    if m_star == 0:
        return None
    if m_star == 1:
        return theorem.objective(np.zeros(theorem.n_params(0)), 0)
    return runs[m_star - 1].best
