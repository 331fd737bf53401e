"""The witnesses themselves shown failing (proofs_check.harness.witnesses): each is handed evidence in which it must
fail, and end to end every failing witness makes `proofs-check verify` print [FAIL] and exit with code 1.

The evidence is the real evidence of the default linear-attention instance (its certificate, ranks and restarts),
with one number changed, so each test isolates one witness.  The changes are fixed sizes, not multiples of the
tolerance under test (a multiple would grow with a loosened tolerance and hide it): EFFECT, the smallest real effect
a witness must see (a restart at too small a width ends 1e-4 or more above C*, proofs_check/tolerances.py), is
rejected, and ACCEPT_GAP, the largest error of an accepted solution, is accepted.  So every tolerance must lie
between the two, and loosening or tightening one past them fails a test.  End to end, each failing witness makes
`proofs-check verify` print [FAIL] and exit with code 1.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from proofs_check.harness import Evidence, witnesses
from proofs_check.optimum import find_optimum
from proofs_check.restarts import RestartRun
import theory
from theory.solvers import ACCEPT_GAP

#: The smallest effect a witness must detect, relative to C* (module docstring).
EFFECT = 1e-4


@pytest.fixture(scope="module")
def evidence() -> Evidence:
    """The evidence of the default linear-attention instance, every restart set to reach C* exactly."""
    theorem = theory.get("linear-attention").default_instance(0)
    program = theorem.program
    optimum = find_optimum(theorem)
    structure = theorem.structure(optimum.blocks)
    m_star = optimum.heads
    C = optimum.convex_optimum
    return Evidence(C, C, optimum.certificate, C, structure["ranks"], structure["max_rank"],
                    program.target.size, m_star, theorem.heads_for_zero_gap(), True,
                    {theorem.heads_for_zero_gap(): np.full(3, C), m_star: np.full(3, C),
                     m_star - 1: np.full(3, 1.1 * C)}, 1.1 * C)


def _verdicts(evidence: Evidence) -> dict[str, bool | None]:
    return {check.name: check.passed for check in witnesses(evidence)}


def test_the_true_evidence_passes_every_witness(evidence):
    assert all(passed is not False for passed in _verdicts(evidence).values())


def test_a_restart_below_the_certified_bound_fails_weak_duality(evidence):
    below = evidence.certificate.lower_bound - 1e-6 * evidence.optimum  # 1000 times float64 round-off below LB
    restarts = {**evidence.restarts, evidence.m_star - 1: np.array([below])}
    assert _verdicts(replace(evidence, restarts=restarts))["weak_duality"] is False


def _best_restart(evidence: Evidence, relative: float) -> Evidence:
    return replace(evidence, restarts={**evidence.restarts, evidence.heads: np.full(3, evidence.optimum * (1 + relative))})


def _recovered(evidence: Evidence, relative: float) -> Evidence:
    return replace(evidence, recovered=evidence.optimum * (1 + relative))


def _lower_bound(evidence: Evidence, relative: float) -> Evidence:
    return replace(evidence, certificate=replace(evidence.certificate, lower_bound=evidence.optimum * (1 + relative)))


@pytest.mark.parametrize("change, witness", [(_best_restart, "zero_gap"), (_recovered, "recovery"),
                                             (_lower_bound, "dual_certificate")])
def test_a_real_effect_fails_and_solver_accuracy_passes(evidence, change, witness):
    """A best restart, a recovered network or a dual bound EFFECT above (or, for the bound, below) C* fails its
    witness; the same ACCEPT_GAP off passes (a dual bound above the primal, a wrong dual, fails at any size)."""
    for sign in (1, -1) if witness == "dual_certificate" else (1,):
        assert _verdicts(change(evidence, sign * EFFECT))[witness] is False
    assert _verdicts(change(evidence, ACCEPT_GAP if witness != "dual_certificate" else -ACCEPT_GAP))[witness] is True


def test_ranks_over_the_extreme_point_bound_fail_the_structure(evidence):
    too_many = [evidence.outputs] * len(evidence.ranks)  # r (r + 1) / 2 far above n + 1
    assert _verdicts(replace(evidence, ranks=too_many))["structure"] is False
    over_shape = [limit + 1 for limit in evidence.max_ranks]
    assert _verdicts(replace(evidence, ranks=over_shape))["structure"] is False


def test_a_narrow_network_at_the_optimum_is_not_seen_as_necessary(evidence):
    assert _verdicts(replace(evidence, narrow=evidence.optimum))["width_necessity"] is False


def _corrupt(monkeypatch, field: str, relative: float) -> None:
    """Make the harness's convex solution report ``field`` off by ``relative`` of C* (a bug's signature)."""
    import proofs_check.harness as harness

    original = harness.find_optimum

    def corrupted(theorem, solver="auto"):
        optimum = original(theorem, solver)
        C = optimum.convex_optimum
        if field == "recovered":
            return replace(optimum, recovered_objective=C * (1 + relative))
        return replace(optimum, certificate=replace(optimum.certificate, lower_bound=C * (1 + relative)))
    monkeypatch.setattr(harness, "find_optimum", corrupted)


def _restarts_below(monkeypatch) -> None:
    """Every restart reports the objective 0, below the certified lower bound (what weak duality forbids)."""
    import proofs_check.harness as harness

    def too_low(objective, count, seed, stream, **kwargs):
        return RestartRun(seed, stream, np.zeros(count), objective.init(np.random.default_rng(0)), 0.0,
                          np.zeros(count, dtype=int))
    monkeypatch.setattr(harness, "run_restarts", too_low)


def _restarts_above(monkeypatch) -> None:
    """Every restart ends EFFECT above where it did (L-BFGS stopping early: the zero gap's signature)."""
    import proofs_check.harness as harness

    original = harness.run_restarts

    def early(*args, **kwargs):
        run = original(*args, **kwargs)
        return replace(run, values=run.values * (1 + EFFECT))
    monkeypatch.setattr(harness, "run_restarts", early)


def _too_many_ranks(monkeypatch) -> None:
    cls = theory.get("linear-attention")
    original = cls.structure
    monkeypatch.setattr(cls, "structure", lambda self, Z: {**original(self, Z),
                                                           "ranks": [r + 1 for r in original(self, Z)["max_rank"]]})


@pytest.mark.parametrize("witness, setup", [
    ("weak_duality", _restarts_below),
    ("zero_gap", _restarts_above),
    ("recovery", lambda mp: _corrupt(mp, "recovered", EFFECT)),
    ("dual_certificate", lambda mp: _corrupt(mp, "lower_bound", -EFFECT)),
    ("structure", _too_many_ranks),
])
def test_every_failing_witness_prints_fail_and_exits_1(witness, setup, cli, monkeypatch):
    setup(monkeypatch)
    rng = np.random.default_rng(1)
    data = cli.npz("d.npz", X=rng.standard_normal((5, 3, 2)), Y=rng.standard_normal((5, 3, 2)))
    result = cli.run("verify", "linear-attention", "--data", data, "--restarts", "3", json=True)
    report = result.json
    assert result.code == 1 and report["passed"] is False and report["checks"][witness]["passed"] is False
    assert any(line.split()[:2] == ["[FAIL]", witness] for line in result.out.splitlines())
