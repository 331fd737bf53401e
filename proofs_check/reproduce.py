"""`proofs-check reproduce [--quick]`: re-derive every number that README.md and the documents of docs/ quote, and
compare it with its recorded expected value.

The claims live in proofs_check/measurements/claims.toml (shipped with the package), the single source the quoted
numbers are checked against (tests/proofs_check/test_reproduce.py, through :func:`unquoted`: every claim's ``quoted`` text is in
its ``document``).  A claim is

    [[claim]]
    id = "run.linear-attention.convex_optimum"     # unique
    measure = "verification"                        # a function of MEASURES, called with ``args``
    args = { theorem = "linear-attention", convex_only = true }
    quantity = "convex_optimum"                     # a dotted path into the measurement's record
    expected = 7.054973301                          # what the document quotes (or the number behind a rounded quote)
    tolerance = { relative = 2e-7 }                 # one of relative, absolute, exact, at_least, at_most
    reason = "..."                                  # why that tolerance (one line)
    quoted = "7.054973301"                          # the text of the document the claim stands for
    quick = true                                    # part of --quick (CI)
    source = "stored"                               # optional: read from a stored measurement, not re-run
    document = "README.md"                          # optional: the file that quotes it, relative to the repository
                                                    # root (README.md when absent; e.g. "docs/experiments.md")

Tolerances: ``relative = r``: |measured - expected| <= r |expected|; ``absolute = a``: |measured - expected| <= a;
``exact = true``: equal (counts, lists, names); ``at_least = x`` / ``at_most = x``: the claim is a bound, not the
pasted number (timing ratios, margins), and ``expected`` is only shown.  Each measurement runs once per distinct
(measure, args) and is shared by the claims that read it; every random draw is seeded by the args.

The documents are not shipped with the package: `proofs-check reproduce` re-measures every claim whichever document
quotes it (its ``--json`` names the document), and the quotes themselves are checked against a source tree
(:func:`unquoted`, which the tests run on the repository).
"""

from __future__ import annotations

import math
import time
import tomllib
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from theory.errors import InputError

if TYPE_CHECKING:  # the harness loads the solvers; reproduce loads them only when it measures
    from proofs_check.harness import Progress

CLAIMS = Path(__file__).resolve().parent / "measurements" / "claims.toml"
KINDS = ("relative", "absolute", "exact", "at_least", "at_most")
FIELDS = {"id", "measure", "args", "quantity", "expected", "tolerance", "reason", "quoted", "quick", "source",
          "document"}
#: Where a claim is quoted when it names no ``document``.
DOCUMENT = "README.md"


@dataclass(frozen=True)
class Claim:
    id: str
    measure: str
    args: dict[str, Any]
    quantity: str
    expected: Any
    kind: str
    bound: Any  # the tolerance's value (True for exact)
    reason: str
    quoted: str
    quick: bool
    source: str = "re-run"
    document: str = DOCUMENT  # the file that quotes it, relative to the repository root

    def holds(self, measured: Any) -> bool:
        if self.kind == "exact":
            return measured == self.expected
        if not isinstance(measured, (int, float)) or not math.isfinite(measured):
            return False
        if self.kind == "at_least":
            return measured >= self.bound
        if self.kind == "at_most":
            return measured <= self.bound
        allowed = self.bound * abs(self.expected) if self.kind == "relative" else self.bound
        return abs(measured - self.expected) <= allowed

    def tolerance_text(self) -> str:
        return {"relative": f"rel {self.bound:g}", "absolute": f"abs {self.bound:g}", "exact": "exact",
                "at_least": f">= {self.bound:g}", "at_most": f"<= {self.bound:g}"}[self.kind]


def _claim(entry: dict[str, Any], path: Path) -> Claim:
    where = f"{path}: claim {entry.get('id', '?')!r}"
    missing = sorted({"id", "measure", "quantity", "expected", "tolerance", "reason", "quoted", "quick"} - set(entry))
    unknown = sorted(set(entry) - FIELDS)
    if missing or unknown:
        raise InputError(f"{where}: missing {', '.join(missing) or 'nothing'}, unknown {', '.join(unknown) or 'none'}")
    tolerance = entry["tolerance"]
    if not isinstance(tolerance, dict) or len(tolerance) != 1 or next(iter(tolerance)) not in KINDS:
        raise InputError(f"{where}: tolerance must be one of {', '.join(KINDS)}, got {tolerance!r}")
    if entry["measure"] not in MEASURES:
        raise InputError(f"{where}: unknown measure {entry['measure']!r}; known: {', '.join(MEASURES)}")
    document = entry.get("document", DOCUMENT)
    if (not isinstance(document, str) or not document.endswith(".md") or Path(document).is_absolute()
            or ".." in Path(document).parts or "\\" in document):
        raise InputError(f"{where}: document must be a markdown file relative to the repository root "
                         f"(e.g. docs/experiments.md), got {document!r}")
    (kind, bound), = tolerance.items()
    return Claim(entry["id"], entry["measure"], dict(entry.get("args", {})), entry["quantity"], entry["expected"], kind,
                 bound, entry["reason"], entry["quoted"], bool(entry["quick"]), entry.get("source", "re-run"), document)


def load_claims(path: Path = CLAIMS) -> list[Claim]:
    """The claims of a claims file, checked (unique ids, known measures, one tolerance each); InputError otherwise."""
    try:
        entries = tomllib.loads(Path(path).read_text())["claim"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"cannot read claims from {path}: {exc}") from None
    claims = [_claim(entry, Path(path)) for entry in entries]
    ids = [claim.id for claim in claims]
    if len(set(ids)) != len(ids):
        raise InputError(f"{path}: duplicate claim ids {sorted({i for i in ids if ids.count(i) > 1})}")
    return claims


def unquoted(claims: list[Claim], root: Path) -> list[Claim]:
    """The claims whose ``quoted`` text is not in their ``document`` under ``root`` (a source tree: the documents are
    not part of the installed package); a claim whose document does not exist is unquoted."""
    texts: dict[str, str | None] = {}
    for claim in claims:
        if claim.document not in texts:
            path = Path(root) / claim.document
            texts[claim.document] = path.read_text() if path.is_file() else None
    return [c for c in claims if texts[c.document] is None or c.quoted not in texts[c.document]]


def select(claims: list[Claim], quick: bool, only: list[str] | None = None) -> list[Claim]:
    """The quick claims (or all), restricted to ids that start with one of ``only``."""
    chosen = [c for c in claims if (c.quick or not quick) and (not only or any(c.id.startswith(p) for p in only))]
    if not chosen:
        raise InputError(f"no claim matches {', '.join(only or [])}")
    return chosen


# ---- measurements: each returns a JSON-like record; a claim's quantity is a dotted path into it ------------------

def _verification(theorem: str, seed: int = 0, beta: float | None = None, convex_only: bool = False,
                  restarts: int = 20, loss: str | None = None, exact: bool = False) -> dict:
    """`proofs-check verify [--exact]` on the default instance (its JSON), and how many restarts at the zero-gap
    width end within proofs_check.tolerances.GAP of C*; with ``exact``, per width the best restart and its relative
    excess over the certified ReLU optimum (upper bound)."""
    from proofs_check import api
    from proofs_check import tolerances as tol

    record = api.verify(theorem, seed=seed, beta=beta, convex_only=convex_only, restarts=restarts, loss=loss,
                        exact=exact).to_json()
    values = (record["restart_values"] or {}).get(str(record["heads"]), [])
    reached = sum((v - record["convex_optimum"]) / record["scale"] <= tol.GAP for v in values)
    derived: dict[str, Any] = {"restarts_reaching_optimum": reached}
    if exact:
        upper = record["exact"]["upper_bound"]
        best = {m: min(v) for m, v in (record["restart_values"] or {}).items()}
        derived |= {"best_restart": best, "restart_over_exact": {m: (v - upper) / upper for m, v in best.items()}}
    return {**record, **derived}


def _restart_fraction(theorem: str, seeds: list[int], betas: list[float], restarts: int = 8) -> dict:
    """On the theorem's default instance drawn from each seed, at each beta: the fraction of ``restarts`` seeded
    restarts at the zero-gap width (the width `proofs-check run` uses) that end within proofs_check.tolerances.GAP
    of the certified C*; the smallest and the mean fraction over the draws."""
    from proofs_check import api
    from proofs_check import tolerances as tol
    from proofs_check.optimum import find_optimum
    from proofs_check.restarts import TheoremAtWidth, run_restarts

    fractions = {}
    for seed in seeds:
        for beta in betas:
            bound = api.theorem(theorem, seed=seed, beta=beta)
            optimum, width = find_optimum(bound, "auto"), bound.heads_for_zero_gap()
            run = run_restarts(TheoremAtWidth(bound, width), restarts, seed, (width,))
            reached = (np.asarray(run.values) - optimum.convex_optimum) / optimum.scale <= tol.GAP
            fractions[f"seed {seed}, beta {beta:g}"] = float(np.mean(reached))
    return {"fractions": fractions, "smallest": min(fractions.values()),
            "mean": float(np.mean(list(fractions.values()))), "width": width}


def _relu_exact(seeds: list[int] | None = None, betas: list[float] | None = None, targets: list[str] | None = None,
                restarts: int | None = None, theorem: str | None = None) -> dict:
    """`proofs-check experiment relu-exact [--theorem T]` (proofs_check.studies.relu_exact): its summary, overall and
    per target."""
    from proofs_check.studies.relu_exact import ReluExactConfig, run_relu_exact

    given = {"seeds": seeds, "betas": betas, "targets": targets, "restarts": restarts, "theorem": theorem}
    config = ReluExactConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in given.items() if v is not None})
    return run_relu_exact(config).summary()


def _path(theorem: str, seed: int = 0, points: int = 10) -> dict:
    import theory
    from proofs_check.studies.path import regularisation_path

    path = regularisation_path(theory.get(theorem).default_instance(seed), points)
    return {"active_blocks": [p.active_blocks for p in path], "beta_fractions": [p.beta / path[-1].beta for p in path]}


def _path_monotone(shape: list[int], seeds: list[int], beta: float = 1.0, points: int = 10) -> dict:
    """Active-pair counts along the path of convex-attention on instances X, Y ~ N(0, 1) of ``shape`` (N, s, d, c)
    drawn from default_rng(seed), one per seed: how many are non-increasing in beta, and every count."""
    from proofs_check.studies.path import regularisation_path
    from theory.convex_attention import ConvexAttention

    N, s, d, c = shape
    counts = {}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        theorem = ConvexAttention(rng.standard_normal((N, s, d)), rng.standard_normal((N, s, c)), beta)
        counts[str(seed)] = [p.active_blocks for p in regularisation_path(theorem, points)]
    monotone = [seed for seed, row in counts.items() if all(a >= b for a, b in zip(row, row[1:]))]
    return {"monotone": len(monotone), "counts": counts}


def _clustering_cell(theorem: str, target: str, nuisance: str, nuisance_scale: float, samples: int,
                     beta_fraction: float, seeds: list[int]) -> dict:
    """One cell of the clustering map (proofs_check.studies.clustering.atlas.map_cell, summarised over ``seeds``), with
    the best token-distance separation and k-means ARI of the raw, PCA and whitened tokens, and per read-out the
    number of seeds in which it wins (margin >= MARGIN)."""
    from proofs_check.studies.clustering.atlas import COMPARED, MARGIN, map_cell, summarise

    cells = [map_cell(theorem, target, nuisance, nuisance_scale, samples, beta_fraction, seed) for seed in seeds]
    row = summarise(cells)[0]
    views = ("raw", "pca", "whitened")
    return {**row, "best_token_separation": max(row["baselines"][f"{v}_separation"] for v in views),
            "best_token_ari": max(row["baselines"][f"{v}_ari"] for v in views),
            "seeds_won": {r: sum(cell.result["margins"][r] >= MARGIN for cell in cells) for r in COMPARED}}


def _stored_clustering_map(theorem: str, target: str, nuisance: str) -> dict:
    """Wins per read-out over the cells of one family in the map shipped with the package (not re-run:
    ``python -m benchmarks.clustering_map`` re-runs it)."""
    import json

    from proofs_check.studies.clustering.atlas import COMPARED, STORED_MAP

    rows = [r for r in json.loads(STORED_MAP.read_text())["summary"]
            if (r["theorem"], r["target"], r["nuisance"]) == (theorem, target, nuisance)]
    return {"cells": len(rows), "wins": {r: sum(r in row["wins"] for row in rows) for r in COMPARED}}


def _comparison(seed: int = 0, beta: float | None = None) -> dict:
    from proofs_check.studies.compare import compare, default_arrays

    arrays, default_beta = default_arrays(seed)
    rows = compare(arrays, default_beta if beta is None else beta, seed)
    return {row.theorem.split(" ")[0]: {"optimum": row.optimum, "relative_fit": row.relative_fit, "heads": row.heads,
                                        "structure": row.structure} for row in rows} | \
        {"half_target_norm": 0.5 * float(np.sum(arrays["Y"] ** 2))}


def _digits(seed: int = 0, losses: list[str] = ("squared",)) -> dict:
    """The digits transfer experiment (proofs_check.studies.digits) with its default sizes and the given losses."""
    from proofs_check.studies.digits import ExperimentConfig, run_experiment

    result = run_experiment(ExperimentConfig(seed=seed, losses=tuple(losses)))
    return {f"{h.head}/{h.loss}": {"objective": h.objective, "certified_gap": h.certified_gap,
                                   "train_accuracy": h.train_accuracy, "test_accuracy": h.test_accuracy}
            for h in result.heads}


def _bench_theorem(size: list[int], seed: int, beta: float):
    """linear-attention on X, Y ~ N(0, 1) of ``size`` (N, s, d, c) from default_rng(seed), as benchmarks/ binds it."""
    import theory

    N, s, d, c = size
    rng = np.random.default_rng(seed)
    return theory.get("linear-attention").from_arrays(
        {"X": rng.standard_normal((N, s, d)), "Y": rng.standard_normal((N, s, c))}, beta, seed)


def _solver_speed(size: list[int], seed: int = 0, beta: float = 0.1, repeats: int = 1) -> dict:
    """Clarabel (cvxpy) against SSNAL (prox) on one linear-attention program: the ratio of the fastest of
    ``repeats`` solve times, and the relative difference of their optima."""
    from theory.solvers import solve

    program = _bench_theorem(size, seed, beta).program
    runs = {name: [solve(program, name) for _ in range(repeats)] for name in ("clarabel", "prox")}
    fastest = {name: min(s.seconds for s in solutions) for name, solutions in runs.items()}
    optima = {name: solutions[0].optimum for name, solutions in runs.items()}
    return {"clarabel_over_ssnal": fastest["clarabel"] / fastest["prox"],
            "optimum_difference": abs(optima["prox"] - optima["clarabel"]) / abs(optima["clarabel"]),
            "seconds": fastest}


def _restart_speed(size: list[int], seed: int = 0, beta: float = 0.1, serial: int = 2, batched: int = 64) -> dict:
    """Restarts per second at the zero-gap width, batched against serial (proofs_check.restarts), and the relative
    difference of their best values."""
    from proofs_check.restarts import TheoremAtWidth, run_restarts

    theorem = _bench_theorem(size, seed, beta)
    m = theorem.heads_for_zero_gap()
    one = run_restarts(TheoremAtWidth(theorem, m), serial, seed, (m,))
    many = run_restarts(TheoremAtWidth(theorem, m), batched, seed, (m,), batched=True)
    return {"batched_over_serial": (batched / many.seconds) / (serial / one.seconds),
            "best_difference": abs(many.best - one.best) / abs(one.best)}


def _matrix_free_solve(size: list[int], seed: int = 0, beta: float = 0.1) -> dict:
    """The prox solver on a linear-attention program of ``size`` (N, s, d, c) built from its structured maps, as
    benchmarks/bench_scale.py runs it (without the child process and its memory measurement)."""
    import time

    from theory.solvers import solve

    start = time.perf_counter()
    solution = solve(_bench_theorem(size, seed, beta).program, "prox")
    return {"seconds": time.perf_counter() - start, "certified_gap": solution.certified_gap}


def _parallel_restarts(restarts: int = 16, workers: int = 2, seed: int = 0) -> dict:
    """Restarts of the default linear-attention instance at its zero-gap width, serially and on ``workers`` local
    processes (after a warm-up that starts the pool): the speed-up and whether the values are identical."""
    import theory
    from proofs_check.restarts import TheoremAtWidth, run_restarts

    theorem = theory.get("linear-attention").default_instance(seed)
    task = TheoremAtWidth(theorem, theorem.heads_for_zero_gap())
    run_restarts(task, workers, seed, (task.m,), workers=workers)
    serial, parallel = (run_restarts(task, restarts, seed, (task.m,), workers=w) for w in (1, workers))
    return {"speed_up": serial.seconds / parallel.seconds,
            "identical": bool(np.array_equal(serial.values, parallel.values))}


def _grokking(train_fraction: float, seed: int = 0, steps: int = 5000) -> dict:
    """One run of the modular-division experiment (proofs_check.studies.grokking), per model its steps to 99 % train and
    test accuracy and its final accuracies."""
    from proofs_check.studies.grokking import GrokkingConfig, run_grokking

    result = run_grokking(GrokkingConfig(train_fraction=train_fraction, seed=seed, steps=steps))
    return {run.model: {"steps_to_train_99": run.train_step, "steps_to_test_99": run.test_step,
                        "test_accuracy": run.curve.test_accuracy[-1], **run.details} for run in result.runs}


def _student_teacher(seed: int = 0) -> dict:
    """The student-teacher experiment (proofs_check.studies.student_teacher) with its default sizes."""
    from proofs_check.studies.student_teacher import StudentTeacherConfig, run_student_teacher

    result = run_student_teacher(StudentTeacherConfig(seed=seed))
    return {s.student: {"objective": s.objective, "certified_gap": s.certified_gap, "train_error": s.train_error,
                        "test_error": s.test_error} for s in result.students}


def _errata(seed: int = 0, restarts: int = 10) -> dict:
    """`proofs-check errata` (proofs_check.studies.errata): per record its verdict and numbers, and whether every
    verdict is the expected one."""
    from proofs_check.studies.errata import Settings, errata

    records = errata(Settings(restarts, seed))
    return {"all_expected": all(r.agrees for r in records),
            **{r.id: {"verdict": r.verdict, "network": r.network, "printed": r.printed, "corrected": r.corrected}
               for r in records}}


MEASURES: dict[str, Callable[..., dict]] = {
    "verification": _verification, "path": _path, "path_monotone": _path_monotone,
    "clustering_cell": _clustering_cell, "stored_clustering_map": _stored_clustering_map, "comparison": _comparison,
    "digits": _digits, "solver_speed": _solver_speed, "restart_speed": _restart_speed,
    "matrix_free_solve": _matrix_free_solve, "parallel_restarts": _parallel_restarts, "grokking": _grokking,
    "student_teacher": _student_teacher, "errata": _errata, "relu_exact": _relu_exact,
    "restart_fraction": _restart_fraction,
}


def quantity(record: dict, path: str) -> Any:
    """The value at a dotted path of a record, a number indexing a list (lists and tuples become lists, so TOML arrays
    compare equal)."""
    def step(part: Any, key: str) -> Any:
        return part[int(key)] if isinstance(part, (list, tuple)) and key.isdigit() else part[key]

    try:
        value = reduce(step, path.split("."), record)
    except (KeyError, TypeError, IndexError):
        raise InputError(f"the measurement has no quantity {path!r}") from None
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True)
class Outcome:
    claim: Claim
    measured: Any
    passed: bool
    seconds: float  # time of the measurement when this claim ran it, 0 when it reused an earlier one


def reproduce(claims: list[Claim], progress: Progress | None = None) -> list[Outcome]:
    """Measure every claim (each distinct measurement once) and judge it; ``progress(phase, done, total)`` hears of
    each measurement before it runs."""
    cache: dict[str, dict] = {}
    outcomes = []
    measurements = len({f"{claim.measure}{sorted(claim.args.items())}" for claim in claims})
    for claim in claims:
        key = f"{claim.measure}{sorted(claim.args.items())}"
        seconds = 0.0
        if key not in cache:
            if progress is not None:
                progress(f"{claim.measure} {claim.args}", len(cache), measurements)
            start = time.perf_counter()
            cache[key] = MEASURES[claim.measure](**claim.args)
            seconds = time.perf_counter() - start
        measured = quantity(cache[key], claim.quantity)
        outcomes.append(Outcome(claim, measured, claim.holds(measured), seconds))
    return outcomes


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def format_outcomes(outcomes: list[Outcome]) -> str:
    from proofs_check.presentation.text import text_table

    header = ("claim", "expected", "measured", "tolerance", "verdict", "seconds")
    rows = [(o.claim.id + (" (stored)" if o.claim.source == "stored" else ""), _shown(o.claim.expected),
             _shown(o.measured), o.claim.tolerance_text(), "ok" if o.passed else "MISMATCH", f"{o.seconds:.1f}")
            for o in outcomes]
    failed = sum(not o.passed for o in outcomes)
    total = sum(o.seconds for o in outcomes)
    return text_table(header, rows) + f"\n{len(outcomes) - failed} passed, {failed} failed ({total:.0f} s of measurement)"


def outcomes_json(outcomes: list[Outcome]) -> list[dict]:
    return [{"id": o.claim.id, "expected": o.claim.expected, "measured": o.measured,
             "tolerance": {o.claim.kind: o.claim.bound}, "reason": o.claim.reason, "passed": o.passed,
             "seconds": o.seconds, "source": o.claim.source, "document": o.claim.document} for o in outcomes]
