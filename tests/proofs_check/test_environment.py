"""The environment recorded with every run (proofs_check.environment, report.json) and the lock file of exact
versions beside pyproject.toml's ranges."""

from __future__ import annotations

import tomllib
from pathlib import Path

import clarabel
import cvxpy
import ecos
import matplotlib
import numpy
import scipy
import scs
import sklearn
import threadpoolctl
from packaging.requirements import Requirement
from threadpoolctl import threadpool_limits

from proofs_check.environment import environment

ROOT = Path(__file__).resolve().parents[2]


def test_environment_records_versions_blas_and_cpus():
    """Every recorded version is the one the imported module reports of itself (not the installed metadata the
    record reads); numpy's own BLAS (its build configuration) is among the libraries recorded; the thread counts
    are those in force when the record is taken; the CPU count is the number of processors Linux lists."""
    env = environment()
    modules = {"numpy": numpy, "scipy": scipy, "cvxpy": cvxpy, "clarabel": clarabel, "scs": scs, "ecos": ecos,
               "scikit-learn": sklearn, "threadpoolctl": threadpoolctl, "matplotlib": matplotlib}
    assert {name: env["packages"][name] for name in modules} == {name: m.__version__ for name, m in modules.items()}
    assert env["packages"]["proofs-check"]
    assert numpy.__version__ in env["summary"]
    built_with = numpy.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"]  # e.g. "scipy-openblas"
    assert any(b["internal_api"] in built_with for b in env["blas"]), (built_with, env["blas"])
    with threadpool_limits(limits=1):
        limited = environment()
    assert limited["blas"] and all(b["num_threads"] == 1 for b in limited["blas"]), limited["blas"]
    assert "(1 threads)" in limited["summary"]
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        processors = sum(line.split(":")[0].strip() == "processor" for line in cpuinfo.read_text().splitlines())
        assert env["cpu_count"] == processors and f"; {processors} CPUs;" in env["summary"]


def _locked() -> dict[str, str]:
    lines = [line for line in (ROOT / "requirements-lock.txt").read_text().splitlines() if line and line[0] != "#"]
    pins = dict(line.split("==") for line in lines)
    assert len(pins) == len(lines), "every line pins one exact version (name==version)"
    return {name.lower().replace("_", "-"): version for name, version in pins.items()}


def test_lock_file_pins_every_dependency_within_pyproject_ranges():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _locked()
    assert "proofs-check" not in pins
    for text in project["dependencies"] + project["optional-dependencies"]["test"]:
        requirement = Requirement(text)
        name = requirement.name.lower()
        assert name in pins, f"{name} is not locked"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} outside {requirement.specifier}"
