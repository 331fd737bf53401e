"""What every solver of program (C) returns, and the accuracy constants they share (docs/theory.md §9)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theory.errors import InputError
from theory.lifted import LiftedProgram
from theory.losses import SQUARED

#: Certified relative gap at which the iterative solvers stop, and the target of the cvxpy tolerance ladder.
DEFAULT_EPS = 1e-8
#: A solution is accepted only with a certified relative gap at most this: ten times below the witnesses' 1e-6
#: tolerances (proofs_check.tolerances), whatever status the solver reported.
ACCEPT_GAP = 1e-7


@dataclass(frozen=True)
class Solution:
    """A solution of (C): the blocks Z_p, the objective C(Z) in float64 and the certified relative gap
    (C(Z) - LB) / objective_scale(C(Z)) of theory.lifted.certified_gap, with how it was found."""

    blocks: list[np.ndarray]
    optimum: float
    certified_gap: float
    solver: str
    status: str  # the solver's own status; the certified gap is what decides acceptance
    seconds: float
    options: dict[str, object]
    dual: np.ndarray | None = None  # the solver's own dual point V of (D), flat, when it certifies more than the residual


def check_eps(eps: float) -> None:
    """InputError unless the iterative methods' stopping gap eps is positive."""
    if not eps > 0:
        raise InputError(f"eps must be positive, got {eps}")


def squared_only(program: LiftedProgram, method: str) -> str | None:
    """Why a method built on the squared loss (SSNAL) refuses ``program``, or None: the one statement of the rule,
    used by the registry of theory.solvers and by the method itself."""
    if program.loss != SQUARED:
        return f"{method} supports the squared loss only, not {program.loss.name!r}; use fista or cvxpy"
    return None
