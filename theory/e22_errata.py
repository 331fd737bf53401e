"""The instances on which the formalization of [E22] refutes printed statements, and their closed forms
(docs/theory.md §8.12).  No solver here: proofs_check.studies.errata measures the same numbers and compares.

The formalization (a third-party Lean 4 transcription of arXiv:2211.11052v1, a paraphrase of the paper, not the
paper: docs/theory.md §13) states its counterexamples with the loss l(f, y) = (f - y)^2, without the 1/2 of this
suite's squared loss.  Since (f - y)^2 + beta/2 |theta|^2 = 2 (1/2 (f - y)^2 + (beta/2)/2 |theta|^2), every objective
in its convention at beta is twice the suite's at beta / 2, networks and programs alike (:func:`in_formal_units`).

Closed forms [derived here] for the two-sample instance SEPARATING (X_i[k] = 1[i = k], y = (1, -1), d = 1), loss
(f - y)^2, weight decay beta:

- one head: f(X_i) = a[i] t with t = v w, and beta/2 (v^2 + w^2) >= beta |t| with equality when balanced; for t >= 0
  the second sample costs (a[1] t + 1)^2 >= 1, so a = e_0 and min_t (t - 1)^2 + 1 + beta t = 1 + beta - beta^2/4
  (t = 1 - beta/2).  At beta = 1/8: 287/256 (the formalization proves >= 1);
- the corrected program (9) (no 1/2): sum_k min_z (z -+ 1)^2 + beta |z| = 2 beta - beta^2/2; 31/128 at beta = 1/8
  (the formalization exhibits a point of value 1/4);
- the printed program (9) (1/2 on the loss): 1/2 (4 beta - 2 beta^2) = 2 beta - beta^2; 15/64 at beta = 1/8.
- two heads (one per token) attain the corrected value: h >= 2 active tokens suffices.

SECOND_TOKEN (one sample, X = [[0], [1]], y = 1, beta = 1/8): the optimum of either program has z_0 = 0 and
z_1 = 1 - beta/2 (corrected; 15/16) or 1 - beta (printed; 7/8, the formalization's value): its only non-zero row is
token 1, so Proposition 1's printed map, which puts head j on e_j, predicts 0.

ZERO_DATA (X = 0, y = 1, beta = 1): every prediction is 0, so every network costs 1 + decay >= 1 = the corrected
program, and the printed program gives 1/2.  (The data check of theory.data refuses X = 0, so this record is
evaluated in closed form only.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Instance:
    """Data X (N, s, d), targets Y (as the model takes them), weight decay beta in the formalization's units."""

    name: str
    X: np.ndarray
    Y: np.ndarray
    beta: float
    description: str


def in_formal_units(suite_value: float) -> float:
    """An objective of the suite (1/2 (f - y)^2, evaluated at beta / 2) in the formalization's units ((f - y)^2, beta)."""
    return 2.0 * suite_value


SEPARATING_X = np.eye(2).reshape(2, 2, 1)  # X_i[k, 0] = 1[i = k]: sample i shows only token i

SEPARATING = Instance("separating", SEPARATING_X, np.array([1.0, -1.0]), 1 / 8,
                      "N = 2, s = 2, d = 1, X_i[k] = 1[i = k], y = (1, -1), beta = 1/8 (the formalization's "
                      "separatingData)")
SEPARATING_VECTOR = Instance("separating-vector", SEPARATING_X, np.array([[1.0], [-1.0]]), 1 / 8,
                             "the same, as a vector target of c = 1 output (separatingVectorTargets)")
SEPARATING_MATRIX = Instance("separating-matrix", SEPARATING_X, np.array([[[1.0], [0.0]], [[-1.0], [0.0]]]), 1 / 8,
                             "the same X, sequence targets Y_i (2 x 1) with row 0 = +-1 and row 1 = 0, beta = 1/8 "
                             "(separatingMatrixTargets)")
SECOND_TOKEN = Instance("second-token", np.array([[[0.0], [1.0]]]), np.array([1.0]), 1 / 8,
                        "N = 1, s = 2, d = 1, X = [[0], [1]], y = 1, beta = 1/8 (secondTokenData)")
ZERO_DATA = Instance("zero-data", np.zeros((1, 1, 1)), np.array([1.0]), 1.0,
                     "N = 1, s = 1, d = 1, X = 0, y = 1, beta = 1 (zeroData, unitTarget)")


def one_head_separating(beta: float) -> float:
    """The one-head network's optimum on SEPARATING: 1 + beta - beta^2/4 (module docstring)."""
    return 1.0 + beta - beta**2 / 4


def corrected_separating(beta: float) -> float:
    """The corrected program (9) on SEPARATING: 2 beta - beta^2 / 2."""
    return 2 * beta - beta**2 / 2


def printed_separating(beta: float) -> float:
    """The printed program (9), with its 1/2 on the loss, on SEPARATING: 2 beta - beta^2."""
    return 2 * beta - beta**2


def second_token_row(beta: float, printed: bool) -> float:
    """z_1 at the optimum on SECOND_TOKEN: 1 - beta (printed (9)) or 1 - beta / 2 (corrected); z_0 = 0."""
    return 1 - beta if printed else 1 - beta / 2


def printed_from_corrected(corrected_at_double_beta: float) -> float:
    """The printed (9) at beta, 1/2 sum l + beta R = 1/2 (sum l + 2 beta R): half the corrected optimum at 2 beta.
    It is always a lower bound on the corrected optimum at beta (L + 2 beta R <= 2 (L + beta R)), never equal unless
    C* = 0."""
    return 0.5 * corrected_at_double_beta


def shared_softmax_outputs() -> tuple[float, float]:
    """Row 0 of softmax(x x^T) x on the two samples of SEPARATING (scalar query, key and value weights 1): e/(e + 1)
    and 1/2 (the formalization's first_sample_output, second_sample_output)."""
    return float(np.e / (np.e + 1)), 0.5


def shared_matrix_misfit() -> float:
    """min over one row w of the simplex of sum_i (w^T X_i - target_i)^2 for those two targets: w[0] = a and w[1] = 1/2
    would need a + 1/2 = 1, so the least misfit is (a + 1/2 - 1)^2 / 2 > 0 (on the line w[0] + w[1] = 1, inside the
    simplex since both coordinates stay in [0, 1])."""
    a, b = shared_softmax_outputs()
    return (a + b - 1) ** 2 / 2


def one_head_matrix_separating(beta: float) -> float:
    """The one-head network (30) on SEPARATING_MATRIX, loss (f - y)^2 [derived here]: with t = V o, row 0 of A
    costs (A[0, 0] t - 1)^2 + (A[0, 1] t + 1)^2 >= (t - 1)^2 + 1 (a = e_0 for t >= 0), row 1 costs
    (A[1, 0] t)^2 + (A[1, 1] t)^2 >= t^2 / 2 (A[1] uniform), the decay beta |t|: min_t 3/2 t^2 - (2 - beta) t + 2
    = 2 - (2 - beta)^2 / 6 (t = (2 - beta) / 3); 1.4140625 at beta = 1/8 (the formalization proves >= 1)."""
    return 2.0 - (2.0 - beta) ** 2 / 6
