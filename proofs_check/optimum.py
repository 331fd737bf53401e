"""The certified optimum of a bound theorem: the one place where a program is solved, certified, moved to an extreme
point and read as a network (docs/theory.md §9, lemma L1 of §1).

    find_optimum(theorem, solver)  ->  Optimum
        solve (theory.solvers)  ->  certificate at the solver's blocks (theory.lifted.certificate)
        ->  rank reduction to an extreme point (theory.rank_reduction)  ->  balanced factors
        (theory.lifted.block_factors) ->  the network of m* heads (Theorem.weights_from_factors) and its objective.

Every relative gap here and in the reports has one denominator, the objective scale max(|C|, 1e-12 l(0), tiny) of
theory.lifted.objective_scale: ``certified_gap`` = (C(Z) - LB) / scale.  The certificate is taken at the solver's
blocks, not at the reduced ones: the reduction keeps the objective to 1e-8 (theory.lifted.TRUNCATION_TOL), but the
residual certificate of the reduced point can be far weaker (docs/theory.md §9).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from proofs_check import tolerances as tol
from theory.base import Factors, Theorem
from theory.lifted import DualCertificate, block_factors, certificate, objective_scale
from theory.rank_reduction import reduce_rank
from theory.solvers import Solution, solve


@dataclass(frozen=True)
class Optimum:
    """A theorem's certified convex optimum and the network recovered from it.

    ``lower_bound`` <= C* <= ``convex_optimum`` (the dual certificate), so it bounds the objective of every network
    of the theorem from below, exact theorem or relaxation.  ``weights`` is the recovered network of ``heads`` = m*
    heads; its objective ``recovered_objective`` equals C* for an exact theorem, and ``reaches_optimum`` says
    whether it does within proofs_check.tolerances.RECOVERY."""

    theorem: Theorem
    solution: Solution  # the solver's blocks, C(Z) and how they were found
    certificate: DualCertificate  # at the solver's blocks
    blocks: list[np.ndarray]  # the extreme point: the solver's blocks after rank reduction
    factors: Factors  # balanced factor pairs of the significant components of ``blocks``
    heads: int  # m*
    weight_list: list[np.ndarray]  # the recovered network's arrays, in the order of Theorem.weight_axes
    recovered_objective: float

    @property
    def exact(self) -> bool:
        """The theorem's program is equivalent to the network (False: a relaxation, LB need not be attained)."""
        return self.theorem.exact

    @property
    def convex_optimum(self) -> float:
        return self.solution.optimum

    @property
    def lower_bound(self) -> float:
        return self.certificate.lower_bound

    @property
    def scale(self) -> float:
        """The denominator of every relative quantity (theory.lifted.objective_scale at C(Z))."""
        return objective_scale(self.theorem.program, self.convex_optimum)

    @property
    def certified_gap(self) -> float:
        """(C(Z) - LB) / scale."""
        return (self.convex_optimum - self.lower_bound) / self.scale

    @property
    def absolute_gap(self) -> float:
        """C(Z) - LB."""
        return self.convex_optimum - self.lower_bound

    @property
    def solver(self) -> str:
        return self.solution.solver

    @property
    def seconds(self) -> float:
        return self.solution.seconds

    @property
    def theta(self) -> np.ndarray:
        """The recovered weights, packed (Theorem.pack)."""
        return self.theorem.pack(self.weight_list)

    @property
    def weights(self) -> dict[str, np.ndarray]:
        """The recovered weights by name (Theorem.weight_axes), as a weights file holds them."""
        return dict(zip(self.theorem.weight_axes, self.weight_list))

    @property
    def reaches_optimum(self) -> bool:
        return abs(self.recovered_objective - self.convex_optimum) / self.scale <= tol.RECOVERY

    @cached_property
    def prediction(self) -> np.ndarray:
        """A(Z) at the extreme point: the recovered network's outputs, as the program's rows."""
        return self.theorem.program.predict(self.blocks)

    @property
    def loss(self) -> float:
        return self.theorem.program.loss_value(self.prediction)

    @property
    def regulariser(self) -> float:
        return self.theorem.program.regulariser(self.blocks)

    @property
    def extreme_objective(self) -> float:
        """C at the extreme point (within theory.lifted.TRUNCATION_TOL of C(Z))."""
        return self.loss + self.theorem.program.beta * self.regulariser

    def report_fields(self) -> dict:
        """The theorem's own structure fields at the extreme point (Theorem.report_fields)."""
        return self.theorem.report_fields(self.blocks, self.factors)

    def to_json(self) -> dict[str, object]:
        return {"theorem": self.theorem.name, "exact": self.exact, "convex_optimum": self.convex_optimum,
                "lower_bound": self.lower_bound, "certified_gap": self.certified_gap, "solver": self.solver,
                "seconds": self.seconds, "heads": self.heads, "recovered_objective": self.recovered_objective,
                "reaches_optimum": self.reaches_optimum,
                "weight_shapes": {name: list(array.shape) for name, array in self.weights.items()}}


def find_optimum(theorem: Theorem, solver: str = "auto") -> Optimum:
    """Solve the theorem's program with ``solver`` (theory.solvers), certify it, reduce it to an extreme point and
    recover the network of m* heads from its factors (module docstring)."""
    program = theorem.program
    solution = solve(program, solver)
    blocks = reduce_rank(program, solution.blocks)
    factors = block_factors(program, blocks)
    heads = theorem.heads_needed(factors)
    weights = theorem.weights_from_factors(factors, heads)
    return Optimum(theorem, solution, certificate(program, solution.blocks, solution.dual), blocks, factors, heads, weights,
                   theorem.objective(theorem.pack(weights), heads))
