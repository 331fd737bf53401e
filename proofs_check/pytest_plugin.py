"""The pytest plugin of proofs-check, registered through the ``pytest11`` entry point (pyproject.toml), so that
another project's tests can certify its own networks:

    def test_my_attention_is_optimal(proofs_check):
        proofs_check.assert_certified("linear-attention", "data.npz", "weights.npz", tol=1e-6)

    def test_zero_gap_on_my_data(proofs_check):
        proofs_check.assert_zero_gap(proofs_check.verify("linear-attention", "data.npz", restarts=5), tol=1e-6)

The fixture ``proofs_check`` gives the Python API (proofs_check.api: ``theorem``, ``verify``, ``solve``,
``certify``) and the assertion helpers, which are also importable from this module: :func:`assert_zero_gap` (the best
restart of a verification reaches C*) and :func:`assert_certified` (given weights lie within a relative
suboptimality ``tol`` of the certified lower bound).  The hypothesis profiles of the project are registered as
``proofs-check-dev``, ``proofs-check-ci`` and ``proofs-check-thorough`` (proofs_check.hypothesis_profiles) and
chosen with hypothesis's own option ``--hypothesis-profile``; the plugin loads none and changes no setting.

Importing this module imports neither numpy nor the solvers (pytest loads it in every run of an environment where
proofs-check is installed); the API is imported when a test first uses it.
"""

from __future__ import annotations

from typing import Any

import pytest

from proofs_check.hypothesis_profiles import PLUGIN_PREFIX, register


@pytest.hookimpl(tryfirst=True)  # before hypothesis's own pytest_configure loads --hypothesis-profile
def pytest_configure(config: pytest.Config) -> None:
    try:
        import hypothesis  # noqa: F401  (the profiles need it; a project without hypothesis gets none)
    except ImportError:
        return
    register(PLUGIN_PREFIX)


def _field(result: Any, name: str) -> Any:
    return result[name] if isinstance(result, dict) else getattr(result, name)


def assert_zero_gap(result: Any, tol: float = 1e-6) -> None:
    """The verification ``result`` (a Verification or its to_json dict) ran restarts, its best restart lies at most
    ``tol`` (relative) above the certified optimum C*, and no restart ended below the certified lower bound."""
    name, gap = _field(result, "theorem"), _field(result, "relative_gap")
    if gap is None:
        raise AssertionError(f"{name}: a convex-only verification has no restarts to compare with C*")
    checks = _field(result, "checks")
    weak = checks["weak_duality"]["passed"] if isinstance(checks, dict) else \
        next(check.passed for check in checks if check.name == "weak_duality")
    if weak is False:
        raise AssertionError(f"{name}: a restart ended below the certified lower bound (weak duality failed)")
    if not gap <= tol:
        raise AssertionError(f"{name}: best of {_field(result, 'restarts')} restarts at m = {_field(result, 'heads')} "
                             f"lies {gap:.3e} above C* = {_field(result, 'convex_optimum'):.10g} (relative; "
                             f"tolerance {tol:g})")


def assert_certified(theorem: Any, data: Any, weights: Any, *, tol: float, **options: Any):
    """Certify ``weights`` of ``theorem`` on ``data`` (proofs_check.api.certify, same arguments and options) and
    assert that their relative suboptimality is at most ``tol``; returns the Certification."""
    from proofs_check import api

    result = api.certify(theorem, data, weights, **options)
    if not result.consistent:
        raise AssertionError(f"{result.theorem}: objective {result.objective:.10g} below the certified lower bound "
                             f"{result.lower_bound:.10g} (weak duality violated: a bug, or weights of another network)")
    if not result.relative_suboptimality <= tol:
        raise AssertionError(f"{result.theorem}: objective {result.objective:.10g} of your weights (m = "
                             f"{result.heads}) against the certified lower bound {result.lower_bound:.10g}: relative "
                             f"suboptimality {result.relative_suboptimality:.3e} > {tol:g}")
    return result


class ProofsCheck:
    """What the fixture gives: the API's calls and the assertion helpers."""

    assert_zero_gap = staticmethod(assert_zero_gap)
    assert_certified = staticmethod(assert_certified)

    def __getattr__(self, name: str) -> Any:
        import proofs_check

        return getattr(proofs_check, name)


@pytest.fixture
def proofs_check() -> ProofsCheck:
    """The proofs-check API (``verify``, ``solve``, ``certify``, ``theorem``, ...) and ``assert_zero_gap``,
    ``assert_certified``."""
    return ProofsCheck()
