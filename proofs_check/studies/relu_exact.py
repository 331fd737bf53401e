"""The exact program of relu-attention or relu-mixer on drawn tiny instances (docs/theory.md §4.4, §5.3): how often
the certified gap closes, how tight the relaxation is, how many units the optimum needs and how long the oracle
takes.

An instance of the theorem (:data:`THEOREMS`; relu-attention by default) is N 2, s 2, d 2 (the oracle enumerates its
faces in a fraction of a second), X standard normal from numpy.random.default_rng([seed, 31]), and targets of one of
three kinds (:data:`TARGETS`): ``gaussian`` (Y standard normal, c 1), ``planted`` (Y the output of one ReLU unit
with standard normal W1, W2 from the same generator, c 1),
``gaussian-c2`` (Y standard normal, c 2).  For every (target, beta, seed) the study solves the exact program
(theory.relu_exact.solve_exact), the relaxation (its certified C*), and runs ``restarts`` seeded L-BFGS
restarts at the exact network's width (at least 1); it records the numbers of proofs_check.harness.exact_summary and
whether any restart ended below the certified lower bound (weak duality says none may).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from proofs_check import tolerances as tol
from proofs_check.harness import Progress, exact_summary
from proofs_check.optimum import find_optimum
from proofs_check.restarts import TheoremAtWidth, run_restarts
import theory
from theory.data import check_beta, check_positive_int
from theory.errors import InputError

#: target kind -> (outputs c, planted): the three families of the study.
TARGETS = {"gaussian": (1, False), "planted": (1, True), "gaussian-c2": (2, False)}
#: The theorems with an exact program (theory.relu_exact.ExactProgram).
THEOREMS = tuple(name for name, cls in theory.REGISTRY.items() if cls.exact_program is not None)
#: A restart "below" the lower bound by more than this relative margin would contradict weak duality (the restarts'
#: objective and the bound are both evaluated in float64 on O(1) numbers).
BELOW = 1e-9


def tiny_instance(seed: int, beta: float, target: str = "gaussian", name: str = "relu-attention") -> theory.Theorem:
    """The drawn instance of the module docstring."""
    if target not in TARGETS:
        raise InputError(f"unknown target {target!r}; known: {', '.join(TARGETS)}")
    if name not in THEOREMS:
        raise InputError(f"no exact program for {name!r}; the study takes {', '.join(THEOREMS)}")
    cls = theory.get(name)
    c, planted = TARGETS[target]
    rng = np.random.default_rng([seed, 31])
    X = rng.standard_normal((2, 2, 2))
    if planted:  # the output of one ReLU unit with standard normal weights, W1 drawn before W2
        unit = cls(X, np.zeros((2, 2, c)), beta)
        Y = unit.forward([rng.standard_normal((1, *shape[1:])) for shape in unit.param_shapes(1)])
    else:
        Y = rng.standard_normal((2, 2, c))
    return cls(X, Y, beta)


@dataclass(frozen=True)
class ReluExactConfig:
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    betas: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
    targets: tuple[str, ...] = tuple(TARGETS)
    restarts: int = 5
    theorem: str = "relu-attention"

    def __post_init__(self) -> None:
        if self.theorem not in THEOREMS:
            raise InputError(f"no exact program for {self.theorem!r}; the study takes {', '.join(THEOREMS)}")
        for beta in self.betas:
            check_beta(beta)
        check_positive_int(self.restarts, "restarts")
        for target in self.targets:
            if target not in TARGETS:
                raise InputError(f"unknown target {target!r}; known: {', '.join(TARGETS)}")
        if not self.seeds or not self.betas or not self.targets:
            raise InputError("the study needs at least one seed, one beta and one target")


@dataclass(frozen=True)
class InstanceResult:
    target: str
    beta: float
    seed: int
    exact: dict  # proofs_check.harness.exact_summary
    best_restart: float
    restart_width: int
    below_bound: bool  # some restart ended below the certified lower bound (a contradiction of weak duality)
    seconds: float  # the whole instance: exact program, relaxation and restarts

    @property
    def closed(self) -> bool:
        return self.exact["exact_gap"] <= tol.EXACT_GAP


@dataclass
class ReluExactResult:
    config: ReluExactConfig
    instances: list[InstanceResult] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        """Counts and ranges over the instances; per target kind too."""
        return {"all": _summary(self.instances),
                **{t: _summary([r for r in self.instances if r.target == t]) for t in self.config.targets}}

    def to_json(self) -> dict[str, object]:
        return {"config": asdict(self.config), "summary": self.summary(),
                "instances": [{**asdict(r), "closed": r.closed} for r in self.instances]}


def _summary(rows: list[InstanceResult]) -> dict[str, object]:
    def span(values: list[float]) -> list[float]:
        return [float(min(values)), float(max(values))]

    exact = [r.exact for r in rows]
    return {"instances": len(rows), "closed": sum(r.closed for r in rows),
            "largest_gap": float(max(e["exact_gap"] for e in exact)),
            "heads": span([e["heads"] for e in exact]), "rounds": span([e["rounds"] for e in exact]),
            "relaxation_gap": span([e["relaxation_gap"] for e in exact]),
            "restart_gap": span([e["restart_gap"] for e in exact]),
            "below_bound": sum(r.below_bound for r in rows),
            "restarts_reached": sum(e["restart_gap"] <= tol.GAP for e in exact),  # the best restart within GAP
            "exact_seconds": span([e["seconds"]["total"] for e in exact]),
            "oracle_seconds_per_round": span([e["seconds"]["oracle"] / max(e["rounds"], 1) for e in exact])}


def solve_instance(target: str, beta: float, seed: int, restarts: int, name: str = "relu-attention") -> InstanceResult:
    """One instance of the study, measured."""
    start = time.perf_counter()
    theorem = tiny_instance(seed, beta, target, name)
    x = theorem.solve_exact()
    relaxation = find_optimum(theorem, "auto").convex_optimum
    width = max(x.heads, 1)
    run = run_restarts(TheoremAtWidth(theorem, width), restarts, seed, (width,))
    best = float(np.min(run.values))
    below = bool(best < x.lower_bound - BELOW * max(abs(x.lower_bound), 1.0))
    return InstanceResult(target, beta, seed, exact_summary(x, relaxation, best), best, width, below,
                          time.perf_counter() - start)


def run_relu_exact(config: ReluExactConfig = ReluExactConfig(), progress: Progress | None = None) -> ReluExactResult:
    say = progress or (lambda phase, done, total: None)
    cases = [(t, b, q) for t in config.targets for b in config.betas for q in config.seeds]
    result = ReluExactResult(config)
    for k, (target, beta, seed) in enumerate(cases):
        say(f"relu-exact {config.theorem} {target} beta={beta:g} seed={seed}", k, len(cases))
        result.instances.append(solve_instance(target, beta, seed, config.restarts, config.theorem))
    say("relu-exact", len(cases), len(cases))
    return result
