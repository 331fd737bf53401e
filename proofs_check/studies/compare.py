"""Attention, MLP-Mixer and FNO side by side on one data set (docs/theory.md §5, §6: the inductive-bias comparison).

All theorems are bound to the same X (N, s, d), Y (N, s, c) and beta, drawn from the seed as the default instance of
`linear-attention` (or read from a data file).  Per theorem: the convex optimum C*, the loss and the regulariser term
at the optimum, the relative fit |A(Z*) - Y| / |Y|, the heads m* (after rank reduction), the structure of the
solution (non-zero blocks and their ranks; for FNO the frequencies used, for fno-modes the modes and their complex
ranks, for afno its channel blocks) and the solve time.  Last row: standard softmax self-attention
(proofs_check.studies.models.softmax_attention), the non-convex model [E22] replaces, trained by restarts on the same
data and beta -- a different model, shown for the comparison the paper makes, with no certificate.  Every optimum is
certified by its dual certificate (``certified gap`` column), so the comparison is between global
optima, not between training runs.

The ReLU networks with an exact program (:data:`EXACT_RELU`: relu-attention, relu-mixer) join with their certified
ReLU optimum (theory.relu_exact, column generation; its gap in the ``certified gap`` column, the relaxation's C* in
the structure column) where the data are small enough for the exact enumeration of their patterns and faces; on
larger data they are refused, and the row says why instead of giving numbers (``refused``).  Their relaxations
alone are not compared: a relaxation's C* is not the optimum of its network.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from proofs_check import api
from proofs_check.optimum import find_optimum
from proofs_check.restarts import run_restarts
from proofs_check.studies.models.softmax_attention import LBFGS_BUDGET, STREAM, SoftmaxAttention
from proofs_check.studies.relu_exact import THEOREMS
import theory
from theory.errors import InputError

ARCHITECTURES = ("linear-attention", "gated-relu-attention", "convex-attention", "mlp-mixer", "gated-relu-mixer", "fno",
                 "fno-modes", "afno")
#: The ReLU networks compared by their exact programs where the data are small enough (module docstring): every
#: theorem with an exact program, as the relu-exact study takes them.
EXACT_RELU = THEOREMS
#: Restarts of the non-convex softmax-attention baseline ([E22]'s standard attention;
#: proofs_check.studies.models.softmax_attention).
SOFTMAX_RESTARTS = 10


@dataclass(frozen=True)
class Row:
    theorem: str
    optimum: float
    loss: float
    penalty: float
    relative_fit: float
    certified_gap: float
    heads: int
    structure: str
    seconds: float
    solver: str
    refused: str | None = None  # why the row has no numbers (an exact program too large for the data)


def _structure(theorem: theory.Theorem, factors, fields: dict) -> str:
    if "used_frequencies" in fields:
        return f"frequencies {fields['used_frequencies']} of {theorem.dims['s']}"
    if "used_modes" in fields:  # fno-modes: complex rank per used mode
        ranks = [row["rank"] for row in fields["modes"] if row["rank"]]
        return f"modes {fields['used_modes']} of {fields['kept_modes']}, ranks {ranks}"
    if "channel_blocks" in fields:  # afno: complex rank per channel block
        return f"{len(fields['channel_blocks'])} channel blocks, ranks {[row['rank'] for row in fields['channel_blocks']]}"
    ranks = [len(pairs) for pairs in factors]
    active = {p: r for p, r in enumerate(ranks) if r}
    if len(ranks) == 1:
        return f"rank {ranks[0]}"
    shown = f", ranks {list(active.values())}" if len(active) <= 6 else f", ranks {min(active.values())}..{max(active.values())}"
    return f"{len(active)}/{len(ranks)} blocks" + (shown if active else "")


def compare(arrays: dict[str, np.ndarray], beta: float, seed: int, names=ARCHITECTURES,
            solver: str = "auto", exact=EXACT_RELU) -> list[Row]:
    """Solve every named theorem's program on the same arrays (X, Y and theorem options such as H) with ``solver``
    (theory.solvers), and the exact programs of ``exact`` where they fit (module docstring)."""
    rows = []
    for name in names:
        bound = api.theorem(name, arrays, beta=beta, seed=seed)
        optimum = find_optimum(bound, solver)
        target = bound.program.target
        rows.append(Row(name, optimum.convex_optimum, optimum.loss, bound.beta * optimum.regulariser,
                        float(np.linalg.norm(optimum.prediction - target) / np.linalg.norm(target)),
                        optimum.certified_gap, optimum.heads,
                        _structure(bound, optimum.factors, optimum.report_fields()), optimum.seconds, optimum.solver))
    return rows + [exact_row(name, arrays, beta, seed) for name in exact] + [softmax_row(arrays, beta, seed)]


def exact_row(name: str, arrays: dict[str, np.ndarray], beta: float, seed: int) -> Row:
    """The certified ReLU optimum of ``name``'s exact program on the arrays, or a refused row saying why."""
    start = time.perf_counter()
    try:
        bound = api.theorem(name, arrays, beta=beta, seed=seed)
        x = bound.solve_exact()
        relaxation = find_optimum(bound, "auto").convex_optimum
    except InputError as refusal:
        nan = float("nan")
        return Row(name, nan, nan, nan, nan, nan, 0, "-", time.perf_counter() - start, "-", refused=str(refusal))
    prediction = bound.output(bound.forward([x.W1, x.W2])).reshape(-1)
    target = bound.program.target
    loss = bound.program.loss_value(prediction)
    return Row(f"{name} (exact)", x.upper_bound, loss, x.upper_bound - loss,
               float(np.linalg.norm(prediction - target) / np.linalg.norm(target)), x.gap, x.heads,
               f"ReLU network of {x.heads} units; relaxation C* {relaxation:.6g}", time.perf_counter() - start,
               "column generation")


def softmax_row(arrays: dict[str, np.ndarray], beta: float, seed: int) -> Row:
    """Standard softmax attention on the same data and beta: best of SOFTMAX_RESTARTS L-BFGS runs with as many
    heads as convex-attention's zero-gap width per row (s min(d, c) + 1), shared by all rows.  Non-convex: its
    value is an upper bound on its own optimum and has no certificate."""
    X, Y = np.asarray(arrays["X"], dtype=float), np.asarray(arrays["Y"], dtype=float)
    heads = X.shape[1] * min(X.shape[2], Y.shape[2]) + 1
    start = time.perf_counter()
    run = run_restarts(SoftmaxAttention(X, Y, beta, heads), SOFTMAX_RESTARTS, seed, STREAM, options=LBFGS_BUDGET)
    value = run.best
    penalty = 0.5 * beta * float(run.best_theta @ run.best_theta)
    loss = value - penalty
    return Row(f"softmax-attention (best of {SOFTMAX_RESTARTS})", value, loss, penalty,
               float(np.sqrt(2 * max(loss, 0.0)) / np.linalg.norm(Y)), float("nan"), heads,
               "non-convex baseline, no certificate", time.perf_counter() - start, "L-BFGS restarts")


def default_arrays(seed: int) -> tuple[dict[str, np.ndarray], float]:
    """The default instance of linear-attention, shared by every architecture."""
    X, Y, beta = theory.get("linear-attention").default_data(np.random.default_rng(seed))
    return {"X": X, "Y": Y}, beta


def rows_json(rows: list[Row]) -> list[dict]:
    return [asdict(row) for row in rows]
