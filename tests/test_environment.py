"""The environment recorded with every run (proofs_check.environment, report.json) and the lock file of exact
versions beside pyproject.toml's ranges."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import numpy
import scipy
from packaging.requirements import Requirement
from threadpoolctl import threadpool_info

from proofs_check.environment import PACKAGES, environment

ROOT = Path(__file__).resolve().parents[1]


def test_environment_records_versions_blas_and_cpus():
    env = environment()
    assert env["packages"]["numpy"] == numpy.__version__ and env["packages"]["scipy"] == scipy.__version__
    assert set(env["packages"]) == set(PACKAGES) and all(env["packages"].values())
    assert env["cpu_count"] == os.cpu_count()
    pools = threadpool_info()
    assert [b["internal_api"] for b in env["blas"]] == [p["internal_api"] for p in pools] and env["blas"]
    assert all(isinstance(b["num_threads"], int) for b in env["blas"])
    assert numpy.__version__ in env["summary"]


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
