"""One evaluation of the clustering study: bind, solve, read, score, and the shuffled control."""

from __future__ import annotations
from dataclasses import dataclass

import numpy as np

from proofs_check.optimum import Optimum, find_optimum
from proofs_check.studies.clustering.data import shuffled
from proofs_check.studies.clustering.readouts import Reading, read_solution
from proofs_check.studies.clustering.scores import baseline_scores, margins, score
from theory.base import Theorem
from theory.errors import InputError




@dataclass(frozen=True)
class Evaluation:
    """A theorem's read-outs on one data set against the baselines and the shuffled control."""

    theorem: str
    beta: float
    beta_fraction: float
    scores: dict[str, float]
    control: dict[str, float]
    baselines: dict[str, float]
    margins: dict[str, float]
    reading: Reading
    control_reading: Reading
    solution: Optimum
    control_solution: Optimum

    def to_json(self) -> dict[str, object]:
        return {"theorem": self.theorem, "beta": self.beta, "beta_fraction": self.beta_fraction,
                "scores": self.scores, "control": self.control, "baselines": self.baselines,
                "margins": self.margins, "heads": self.reading.heads, "control_heads": self.control_reading.heads,
                "active_blocks": self.reading.active_blocks, "solver": self.solution.solver,
                "certified_gap": self.solution.certified_gap, "control_certified_gap": self.control_solution.certified_gap}


def bind(name: str, arrays: dict[str, np.ndarray], seed: int, beta: float | None = None,
         beta_fraction: float | None = None, **options: object) -> tuple[Theorem, float]:
    """The registered theorem on the arrays at beta, or at beta_fraction * beta_max (exactly one of the two), and
    the fraction of beta_max that beta is."""
    import theory

    if (beta is None) == (beta_fraction is None):
        raise InputError("give exactly one of beta and beta_fraction")
    if beta_fraction is not None and not 0 < beta_fraction < 1:
        raise InputError(f"beta_fraction must lie in (0, 1), got {beta_fraction!r}")
    cls = theory.get(name)
    bound = cls.from_arrays(arrays, cls.default_beta, seed, **options)
    largest = bound.beta_max
    if largest <= 0:
        raise InputError("Y = 0: every beta gives Z* = 0, there is nothing to read")
    beta = beta_fraction * largest if beta is None else beta
    if beta >= largest:
        raise InputError(f"beta {beta:g} >= beta_max {largest:g}: Z* = 0, there is nothing to read")
    return bound.rebind(beta), beta / largest


def evaluate(name: str, X: np.ndarray, Y: np.ndarray, groups: np.ndarray, reference: np.ndarray, seed: int, *,
             beta: float | None = None, beta_fraction: float | None = None, solver: str = "auto",
             gates: np.ndarray | None = None, **options: object) -> Evaluation:
    """Solve, read and score ``name`` on (X, Y) and on the shuffled control (same X, same gates, the same fraction
    of its own beta_max), against the baselines; k-means asks for as many clusters as ``groups`` holds.  ``gates``:
    the gated theorems' H from a data file (otherwise drawn from the seed)."""
    k, dim = len(np.unique(groups)), reference.shape[1]
    fixed = {} if gates is None else {"H": gates}
    theorem, fraction = bind(name, {"X": X, "Y": Y, **fixed}, seed, beta, beta_fraction, **options)
    control_theorem = theorem.rebind(Y=shuffled(Y, seed), fraction=fraction)  # same X, gates and blocks
    solution, control_solution = find_optimum(theorem, solver), find_optimum(control_theorem, solver)
    reading = read_solution(solution, k, dim, seed)
    control_reading = read_solution(control_solution, k, dim, seed)
    scores, control = score(reading, groups, reference), score(control_reading, groups, reference)
    baselines = baseline_scores(X, Y, groups, reference, k, seed)
    return Evaluation(name, theorem.beta, fraction, scores, control, baselines, margins(scores, baselines, control),
                      reading, control_reading, solution, control_solution)
