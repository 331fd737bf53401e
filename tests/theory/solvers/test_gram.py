"""The Gram form of a squared-loss program (theory.solvers.gram, docs/theory.md §9.10) and the solves on it.

Tolerances: the Gram form has the objective and the certificate of the program in exact arithmetic; in float64 they
agree to ROUND_OFF relative (sums of a few hundred terms, and orthogonal transformations of a few hundred rows, each
with relative round-off ~1e-16).  A solve on the Gram form is certified on the program itself, so it is held to the
same agreement with cvxpy as the output form (tests/theory/solvers/test_prox.py: WITNESS, 30 times the sum of both accuracies).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.strategies import mixed_program
from tests.tolerances import ROUND_OFF, WITNESS
import theory
from theory.pattern_relaxation import PatternRelaxation
from theory import solvers
from theory.lifted import LiftedProgram, certificate, certified_gap
from theory.losses import CROSS_ENTROPY
from theory.solvers import gram as gram_module, solve

NAMES = sorted(theory.REGISTRY)


def _attention_program(name: str, pooled_targets: bool, seed: int = 0) -> LiftedProgram:
    """An attention theorem on more samples than its lifted entries (the sizes where the Gram form pays)."""
    rng = np.random.default_rng(seed)
    N, s, d, c = 40, 3, 2, 3
    Y = rng.standard_normal((N, c) if pooled_targets else (N, s, c))
    return theory.get(name).from_arrays({"X": rng.standard_normal((N, s, d)), "Y": Y}, 0.05, seed).program


PROGRAMS = {"mixed dense blocks": lambda: mixed_program(1, rows=40, frobenius=1),
            "linear-attention": lambda: _attention_program("linear-attention", False),
            "linear-attention pooled": lambda: _attention_program("linear-attention", True),
            "gated-relu-attention": lambda: _attention_program("gated-relu-attention", False),
            **{f"{name} default": (lambda name=name: theory.get(name).default_instance(0).program) for name in NAMES}}


@pytest.mark.parametrize("name", PROGRAMS)
def test_the_gram_form_has_the_objective_and_the_certificate_of_the_program(name: str) -> None:
    program = PROGRAMS[name]()
    form = gram_module.gram_form(program).program
    rng = np.random.default_rng(7)
    for Zs in (program.zeros(), [rng.standard_normal(b.shape) for b in program.blocks]):
        exact, compressed = certificate(program, Zs), certificate(form, Zs)
        scale = abs(program.objective(Zs))
        assert abs(form.objective(Zs) - program.objective(Zs)) <= ROUND_OFF * scale
        assert abs(compressed.lower_bound - exact.lower_bound) <= ROUND_OFF * scale
        np.testing.assert_allclose(compressed.dual_norms, exact.dual_norms, rtol=ROUND_OFF)


def test_the_attention_maps_are_class_separable_and_the_mixed_blocks_are_not() -> None:
    """A = B (x) I_c for the attention maps, also pooled; the Gram form then has dim + c^2 outputs."""
    for name in ("linear-attention", "linear-attention pooled", "gated-relu-attention"):
        program = PROGRAMS[name]()
        dim = sum(b.shape[0] * b.shape[1] for b in program.blocks)
        assert gram_module.class_factor(program) == 3
        assert gram_module.gram_form(program).program.target.size == gram_module.gram_outputs(program) == dim + 9
    assert gram_module.class_factor(mixed_program(1, rows=40, frobenius=1)) == 1


def test_factor_rows_in_chunks_are_the_rows_of_the_map(monkeypatch) -> None:
    """Chunks smaller than the augmented matrix is wide give the same Gram form (folded QR) as one chunk."""
    program = PROGRAMS["linear-attention pooled"]()
    whole = gram_module.gram_form(program).program
    monkeypatch.setattr(gram_module, "CHUNK_BYTES", 1)
    folded = gram_module.gram_form(program).program
    Zs = [np.random.default_rng(3).standard_normal(b.shape) for b in program.blocks]
    assert abs(folded.objective(Zs) - whole.objective(Zs)) <= ROUND_OFF * whole.objective(Zs)
    B = gram_module.factor_rows(program.blocks[0].operator, 1, 0, program.target.size)
    np.testing.assert_allclose(B, program.blocks[0].matrix, rtol=0, atol=ROUND_OFF * np.abs(B).max())


#: The pattern relaxations have one small block per activation pattern: relu-attention's default program has 390
#: blocks of 48 entries, so its Gram form has 3121 outputs against the program's 6, and SSNAL's per-block Newton terms
#: on it would take 28 GiB; relu-mixer's 144 blocks of 8 give 1153 against 6, and solve keeps the program itself.
#: Every other default program is forced.
FORCED = ["mixed dense blocks", "linear-attention", "linear-attention pooled", "gated-relu-attention",
          *(f"{name} default" for name in NAMES if not issubclass(theory.get(name), PatternRelaxation))]


@pytest.mark.parametrize("name", FORCED)
def test_prox_on_the_gram_form_matches_cvxpy(name: str, monkeypatch) -> None:
    """Forced onto the Gram form (GRAM_RATIO = 0), prox certifies on the program itself the optimum cvxpy finds."""
    program = PROGRAMS[name]()
    reference = solve(program, "cvxpy")
    monkeypatch.setattr(solvers, "GRAM_RATIO", 0)
    solution = solve(program, "prox", max_seconds=120)
    assert solution.options["form"].startswith("Gram form")
    assert (solution.optimum, solution.certified_gap) == certified_gap(program, solution.blocks)
    assert solution.certified_gap <= 1e-8
    assert abs(solution.optimum - reference.optimum) <= WITNESS * abs(reference.optimum)


def test_proximal_newton_on_gram_form_models_matches_cvxpy(monkeypatch) -> None:
    program = theory.get("linear-attention").default_instance(0, loss=CROSS_ENTROPY).program
    reference = solve(program, "cvxpy")
    monkeypatch.setattr(solvers, "GRAM_RATIO", 0)
    solution = solve(program, "prox")
    assert solution.solver == "PROX-NEWTON" and solution.options["form"] == "gram"
    assert abs(solution.optimum - reference.optimum) <= WITNESS * abs(reference.optimum)


def test_auto_picks_the_form_by_sizes_and_says_why() -> None:
    """Above AUTO_PROX_OUTPUTS outputs, where the Gram form has fewer: auto iterates on it and says so; the default
    instance (48 outputs, 54 lifted entries) goes to cvxpy."""
    rng = np.random.default_rng(5)
    N, s, d, c = 120, 3, 2, 3  # 1080 outputs; the Gram form has 24 + 9
    arrays = {"X": rng.standard_normal((N, s, d)), "Y": rng.standard_normal((N, s, c))}
    many = theory.get("linear-attention").from_arrays(arrays, 0.05, 5).program
    assert many.target.size > solvers.AUTO_PROX_OUTPUTS
    solution = solve(many)
    assert solution.solver.startswith("PROX") and "gram form" in solution.options["choice"]
    assert solvers.resolve(many, "auto") == "prox"
    few = theory.get("linear-attention").default_instance(0).program
    assert solvers.resolve(few, "auto") == "clarabel" and "AUTO_PROX_ENTRIES" in solve(few).options["choice"]


def test_the_gram_form_is_that_of_the_squared_loss() -> None:
    program = theory.get("linear-attention").default_instance(0, loss=CROSS_ENTROPY).program
    with pytest.raises(ValueError, match="squared loss"):
        gram_module.gram_form(program)
