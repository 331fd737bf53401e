"""The pytest plugin (proofs_check.pytest_plugin), run by pytest's own pytester (in a subprocess: numpy cannot be
imported twice in one process, and hypothesis's profile is global) on a small external test file that
certifies its own instances: the plugin is found through the pytest11 entry point (no -p option), its fixture and
helpers pass on optimal weights and a zero gap, fail with their message on weights far from the optimum, the
profiles it registers are chosen by --hypothesis-profile, and it changes nothing in this project's own run."""

from __future__ import annotations

import importlib.metadata

from hypothesis import settings

from proofs_check.hypothesis_profiles import PROFILES, chosen

pytest_plugins = ["pytester"]

EXTERNAL = '''
import numpy as np
from scipy.optimize import minimize
from hypothesis import given, settings, strategies as st

from proofs_check.pytest_plugin import assert_certified

BETA = 0.5


def data():
    rng = np.random.default_rng(0)
    return {"X": rng.standard_normal((6, 2, 3)), "Y": rng.standard_normal((6, 2, 2))}


def my_training(arrays, iterations):
    """A two-layer linear network F = X W1 W2 with weight decay, trained by scipy's L-BFGS, written here."""
    X, Y = arrays["X"].reshape(-1, 3), arrays["Y"].reshape(-1, 2)

    def objective(theta):
        W1, W2 = theta[:9].reshape(3, 3), theta[9:].reshape(3, 2)
        R = X @ W1 @ W2 - Y
        value = 0.5 * np.sum(R * R) + 0.5 * BETA * theta @ theta
        return value, np.concatenate([(X.T @ R @ W2.T).ravel(), ((X @ W1).T @ R).ravel()]) + BETA * theta

    start = np.random.default_rng(1).standard_normal(15)
    theta = minimize(objective, start, jac=True, method="L-BFGS-B",
                     options={"maxiter": iterations, "ftol": 1e-15, "gtol": 1e-12}).x
    return {"W1": theta[:9].reshape(3, 3), "W2": theta[9:].reshape(3, 2)}


def test_zero_gap_on_my_data(proofs_check):
    result = proofs_check.verify("linear-mlp", data(), beta=BETA, restarts=3)
    proofs_check.assert_zero_gap(result, tol=1e-6)
    proofs_check.assert_zero_gap(result.to_json(), tol=1e-6)


def test_my_trained_weights_are_optimal(proofs_check):
    certified = proofs_check.assert_certified("linear-mlp", data(), my_training(data(), 2000), beta=BETA, tol=1e-6)
    assert certified.heads == 3


def test_my_undertrained_weights_are_not():
    assert_certified("linear-mlp", data(), my_training(data(), 2), beta=BETA, tol=1e-6)


@given(st.integers())
def test_the_profile(n):
    assert settings().max_examples == MAX_EXAMPLES and settings().derandomize
'''


def _external(pytester) -> None:
    pytester.makepyfile(test_external=EXTERNAL.replace("MAX_EXAMPLES", str(PROFILES["ci"]["max_examples"])))


def test_plugin_is_registered_by_entry_point():
    plugins = {entry.name: entry.value for entry in importlib.metadata.entry_points(group="pytest11")}
    assert plugins.get("proofs-check") == "proofs_check.pytest_plugin", "install the package: pip install -e ."


def test_external_tests_certify_their_own_instances(pytester):
    _external(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--hypothesis-profile=proofs-check-ci")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: linear-mlp: * relative suboptimality * > 1e-06",
                                 "FAILED test_external.py::test_my_undertrained_weights_are_not*"])


def test_without_the_option_no_profile_of_the_plugin_is_loaded(pytester):
    """The external profile test fails under hypothesis's default settings (100 examples, random): the plugin
    registered its profiles but loaded none."""
    _external(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "test_the_profile")
    result.assert_outcomes(failed=1)


def test_this_projects_profile_is_its_own():
    """conftest.py loaded the profile HYPOTHESIS_PROFILE names; the plugin's prefixed copies exist beside it."""
    current, expected = settings.default, settings.get_profile(chosen())
    assert (current.max_examples, current.derandomize) == (expected.max_examples, expected.derandomize)
    assert settings.get_profile("proofs-check-thorough").max_examples == PROFILES["thorough"]["max_examples"]
