"""The witnesses themselves shown failing (proofs_check.harness.witnesses): each is handed evidence in which it must
fail, and a verification whose restarts end below the certified bound exits with code 1.

The evidence is the real evidence of the default linear-attention instance (its certificate, ranks and restarts),
with one number changed by far more than any tolerance, so each test isolates one witness.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from proofs_check import tolerances as tol
from proofs_check.cli import main
from proofs_check.harness import Evidence, witnesses
from proofs_check.restarts import RestartRun
import theory
from theory.lifted import block_factors, certificate
from theory.rank_reduction import reduce_rank
from theory.solvers import solve


@pytest.fixture(scope="module")
def evidence() -> Evidence:
    """The evidence of the default linear-attention instance, every restart set to reach C* exactly."""
    theorem = theory.get("linear-attention").default_instance(0)
    program = theorem.program
    solution = solve(program)
    reduced = reduce_rank(program, solution.blocks)
    structure = theorem.structure(reduced)
    m_star = theorem.heads_needed(block_factors(program, reduced))
    C = solution.optimum
    return Evidence(C, C, certificate(program, solution.blocks), C, structure["ranks"], structure["max_rank"],
                    program.target.size, m_star, theorem.heads_for_zero_gap(), True,
                    {theorem.heads_for_zero_gap(): np.full(3, C), m_star: np.full(3, C),
                     m_star - 1: np.full(3, 1.1 * C)}, 1.1 * C)


def _verdicts(evidence: Evidence) -> dict[str, bool | None]:
    return {check.name: check.passed for check in witnesses(evidence)}


def test_the_true_evidence_passes_every_witness(evidence):
    assert all(passed is not False for passed in _verdicts(evidence).values())


def test_a_restart_below_the_certified_bound_fails_weak_duality(evidence):
    below = evidence.certificate.lower_bound - 1e-6 * evidence.optimum  # 1000 times ROUNDOFF below LB
    restarts = {**evidence.restarts, evidence.m_star - 1: np.array([below])}
    assert _verdicts(replace(evidence, restarts=restarts))["weak_duality"] is False


def test_a_best_restart_above_the_optimum_fails_the_zero_gap(evidence):
    restarts = {**evidence.restarts, evidence.heads: np.full(3, evidence.optimum * (1 + 100 * tol.GAP))}
    assert _verdicts(replace(evidence, restarts=restarts))["zero_gap"] is False


def test_a_recovered_network_off_the_optimum_fails_recovery(evidence):
    assert _verdicts(replace(evidence, recovered=evidence.optimum * (1 + 100 * tol.RECOVERY)))["recovery"] is False


def test_a_dual_point_far_from_the_optimum_fails_the_certificate(evidence):
    """A lower bound 100 times DUAL below C*, and one above C* (a dual objective above the primal: a wrong dual)."""
    for factor in (1 - 100 * tol.DUAL, 1 + 100 * tol.DUAL):
        cert = replace(evidence.certificate, lower_bound=factor * evidence.optimum)
        assert _verdicts(replace(evidence, certificate=cert))["dual_certificate"] is False


def test_ranks_over_the_extreme_point_bound_fail_the_structure(evidence):
    too_many = [evidence.outputs] * len(evidence.ranks)  # r (r + 1) / 2 far above n + 1
    assert _verdicts(replace(evidence, ranks=too_many))["structure"] is False
    over_shape = [limit + 1 for limit in evidence.max_ranks]
    assert _verdicts(replace(evidence, ranks=over_shape))["structure"] is False


def test_a_narrow_network_at_the_optimum_is_not_seen_as_necessary(evidence):
    assert _verdicts(replace(evidence, narrow=evidence.optimum))["width_necessity"] is False


def test_a_failed_witness_exits_with_code_1(tmp_path, monkeypatch):
    """Restarts that report values below the certified lower bound: the verification fails, exit code 1, and the
    JSON says which witness failed."""
    import proofs_check.harness as harness

    def too_low(objective, count, seed, stream, **kwargs):
        return RestartRun(seed, stream, np.zeros(count), objective.init(np.random.default_rng(0)), 0.0)
    monkeypatch.setattr(harness, "run_restarts", too_low)
    rng = np.random.default_rng(1)
    data = tmp_path / "d.npz"
    np.savez(data, X=rng.standard_normal((5, 3, 2)), Y=rng.standard_normal((5, 3, 2)))
    out = tmp_path / "out.json"
    assert main(["verify", "linear-attention", "--data", str(data), "--restarts", "2", "--json", str(out)]) == 1
    report = json.loads(out.read_text())
    assert report["passed"] is False and report["checks"]["weak_duality"]["passed"] is False
