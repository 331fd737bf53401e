"""The command line: every bad input is a one-line error with exit code 2, and `verify` on a user's data file
writes the JSON fields of docs/cli.md with the accuracy the witnesses need."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tests.tolerances import WITNESS
from theory.solvers import DEFAULT_EPS

JSON_FIELDS = {"theorem", "convex_optimum", "best_primal", "relative_gap", "recovered_objective", "dual_objective",
               "rank", "heads", "restarts", "seed", "solver", "checks", "passed"}


def _data(cli, name="d.npz", X=None, Y=None, **extra):
    """A data file in the test's directory: drawn X and Y unless given; False drops an array."""
    rng = np.random.default_rng(7)
    arrays = {"X": rng.standard_normal((5, 3, 2)) if X is None else X,
              "Y": rng.standard_normal((5, 3, 2)) if Y is None else Y, **extra}
    return cli.npz(name, **{k: v for k, v in arrays.items() if v is not False})


@pytest.mark.parametrize("argv, needle", [
    (["verify", "linear-attention", "--data", "missing.npz"], "not found"),
    (["verify", "no-such-theorem", "--data", "x.npz"], "unknown theorem"),
    (["run", "no-such-theorem"], "unknown theorem"),
    (["verify", "linear-attention"], "--data"),
    (["run", "--restarts", "0"], "restarts"),
    (["run", "--restarts", "two"], "restarts"),
    (["bogus"], "invalid choice"),
])
def test_bad_arguments(cli, argv, needle):
    assert needle in cli.error(*argv)


@pytest.mark.parametrize("arrays, options, needle", [
    ({"Y": False}, [], "no array Y"),
    ({"X": np.ones((5, 3))}, [], "3 axes"),
    ({"X": np.ones((4, 3, 2))}, [], "number of samples N"),
    ({"X": np.ones((5, 2, 2))}, [], "number of tokens s"),
    ({"X": np.full((5, 3, 2), np.nan)}, [], "non-finite"),
    ({"Y": np.full((5, 3, 2), np.inf)}, [], "non-finite"),
    ({}, ["--beta", "0"], "beta"),
    ({}, ["--beta", "-1"], "beta"),
    ({}, ["--beta", "nan"], "beta"),
    ({}, ["--heads", "0"], "heads"),
    ({}, ["--restarts", "0"], "restarts"),
    ({}, ["--solver", "gurobi"], "unknown solver"),
    ({}, ["--solver", "ecos"], "ECOS cannot"),
])
def test_bad_data_and_options(cli, arrays, options, needle):
    assert needle in cli.error("verify", "linear-attention", "--data", _data(cli, **arrays), *options)


@pytest.mark.parametrize("Y, options, needle", [
    (np.array([0.0, 1.0, 0.0, 1.0, 1.0]), ["--loss", "cross-entropy"], "must be integers"),
    (np.array([0, 1, -1, 1, 0]), ["--loss", "cross-entropy"], ">= 0"),
    (np.array([0, 2, 0, 2, 0]), ["--loss", "cross-entropy"], "class 1 never appears"),
    (np.zeros(5, dtype=int), ["--loss", "cross-entropy"], "only one class"),
    (np.zeros((5, 4), dtype=int), ["--loss", "cross-entropy"], "(N, s)"),
    (np.zeros((5, 3, 2), dtype=int), ["--loss", "cross-entropy"], "labels Y must have shape"),
    (np.array([0, 1, 0, 1, 1]), [], "cross-entropy loss"),
    (None, ["--loss", "hinge"], "unknown loss"),
])
def test_bad_labels_and_losses(cli, Y, options, needle):
    assert needle in cli.error("verify", "linear-attention", "--data", _data(cli, Y=Y), *options)


def test_cross_entropy_verification_names_its_loss(cli):
    """Integer labels (N, s) with --loss cross-entropy: every claimed witness passes and the JSON says the loss."""
    labels = np.array([[0, 1, 2], [2, 1, 0], [1, 0, 2], [0, 0, 1], [2, 2, 1]])
    result = cli.run("verify", "linear-attention", "--data", _data(cli, Y=labels), "--loss", "cross-entropy",
                     "--restarts", "3", json=True)
    assert result.code == 0
    report = result.json
    assert report["loss"] == "cross-entropy" and report["dims"]["c"] == 3 and report["passed"]


def test_files_that_are_not_data(cli, tmp_path):
    """A text file, a truncated archive, object arrays and a directory: each one line, naming what is wrong."""
    (tmp_path / "text.npz").write_text("not a zip archive")
    good = _data(cli, "good.npz")
    (tmp_path / "cut.npz").write_bytes(good.read_bytes()[:200])
    cli.npz("objects.npz", X=np.array([{"a": 1}], dtype=object), Y=np.ones(2))
    for name, needle in (("text.npz", "not an .npz archive"), ("cut.npz", "not an .npz archive"),
                         ("objects.npz", "Python objects"), (".", "is a directory")):
        assert needle in cli.error("verify", "linear-attention", "--data", tmp_path / name)


@pytest.mark.parametrize("X, needle", [
    (np.ones((5, 3, 2)) * 1e200, "outside [1e-30, 1e+30]"),
    (np.ones((5, 3, 2)) * 1e-200, "outside [1e-30, 1e+30]"),
    (np.zeros((5, 3, 2)), "outside"),
    (np.ones((5, 3, 2)) * (1 + 1j), "complex"),
    (np.full((5, 3, 2), "a"), "not a numeric array"),
])
def test_data_that_cannot_be_verified(cli, X, needle):
    assert needle in cli.error("verify", "linear-attention", "--data", _data(cli, X=X))


@pytest.mark.parametrize("name, needle", [("mlp-mixer", "the dense lifted map needs about"),
                                          ("linear-attention", "the prox solvers' working set needs about")])
def test_a_program_that_does_not_fit_in_memory_is_refused(cli, monkeypatch, name, needle):
    """With 1 MB of memory (theory.memory's override), a program is refused before it is built, with its size: the
    dense map of a dense theorem, the solvers' working set of a matrix-free one."""
    monkeypatch.setenv("PROOFS_CHECK_MEMORY_BYTES", str(10**6))
    big = np.random.default_rng(0).standard_normal((40, 6, 6))
    line = cli.error("verify", name, "--data", _data(cli, X=big, Y=big[..., :2]))
    assert needle in line


def test_solver_not_installed(cli, monkeypatch):
    monkeypatch.setattr("cvxpy.installed_solvers", lambda: ["SCS"])
    assert "not installed" in cli.error("verify", "linear-attention", "--data", _data(cli), "--solver", "clarabel")


def test_verify_writes_the_report(cli):
    """With enough heads, the relative gap and the recovered objective are within the witnesses' 1e-6 of C*."""
    result = cli.run("verify", "linear-attention", "--data", _data(cli), "--beta", "0.05", "--restarts", "3",
                     "--seed", "3", json=True)
    report = result.json
    assert result.code == 0 and report["passed"]
    assert JSON_FIELDS <= set(report)
    assert abs(report["relative_gap"]) <= WITNESS
    assert abs(report["recovered_objective"] - report["convex_optimum"]) <= WITNESS * report["convex_optimum"]
    assert report["seed"] == 3 and report["restarts"] == 3 and report["solver"] == "CLARABEL"
    for check in ("weak_duality", "zero_gap", "recovery", "dual_certificate", "structure"):
        assert report["checks"][check]["passed"] is True


def test_console_entry_point_lists_theorems():
    """`python -m proofs_check list` runs as a process and names the first two theorems."""
    done = subprocess.run([sys.executable, "-m", "proofs_check", "list"], capture_output=True, text=True, check=True)
    assert "linear-mlp" in done.stdout and "linear-attention" in done.stdout


def test_convex_only_runs_no_restart(cli):
    """--convex-only: certificate, structure and recovery are checked; every restart field of the JSON is null."""
    result = cli.run("verify", "linear-attention", "--data", _data(cli), "--convex-only", json=True)
    assert result.code == 0
    report = result.json
    for key in ("restarts", "best_primal", "relative_gap", "restart_values", "fraction_at_rank", "narrow_best"):
        assert report[key] is None, key
    checks = report["checks"]
    assert checks["zero_gap"]["passed"] is None and checks["width_necessity"]["passed"] is None
    assert all(checks[name]["passed"] for name in ("weak_duality", "recovery", "dual_certificate", "structure"))
    assert report["seconds"].keys() == {"convex"}


@pytest.mark.parametrize("command", [["path", "convex-attention", "--points", "3"], ["compare"]])
def test_path_and_compare_take_the_prox_solver(cli, command):
    """Every point is certified to the prox solver's relative gap (the path stores the absolute gap C - LB)."""
    result = cli.run(*command, "--solver", "prox", json=True)
    assert result.code == 0
    rows = result.json
    convex = [row for row in rows if not row["theorem"].startswith("softmax") and not row["refused"]] \
        if command[0] == "compare" else rows
    gaps = [row["absolute_gap"] / (row["loss"] + row["beta"] * row["regulariser"]) for row in rows] \
        if command[0] == "path" else [row["certified_gap"] for row in convex]
    assert len(gaps) >= 3 and all(gap <= DEFAULT_EPS for gap in gaps)
    assert all(row["solver"].startswith("PROX") for row in convex)


def test_bad_blas_thread_setting_is_one_line(cli, monkeypatch):
    monkeypatch.setenv("PROOFS_CHECK_BLAS_THREADS", "many")
    line = cli.error("verify", "linear-mlp", "--data", _data(cli), "--convex-only")
    assert "PROOFS_CHECK_BLAS_THREADS" in line


def test_exact_program_from_the_command_line(cli):
    """verify relu-attention --exact judges the exact program and writes its network; --exact on a theorem without
    an exact program, and --save-optimum of a relaxation without --exact, are one-line errors (exit 2)."""
    rng = np.random.default_rng([3, 31])
    data = cli.npz(X=rng.standard_normal((2, 2, 2)), Y=rng.standard_normal((2, 2, 1)))
    saved = cli.path("optimum.npz")
    result = cli.run("verify", "relu-attention", "--data", data, "--exact", "--restarts", "2", "--no-report",
                     "--save-optimum", saved, json=True)
    assert result.code == 0 and result.json["checks"]["exact_gap"]["passed"]
    assert result.json["exact"]["exact_gap"] <= 1e-6
    with np.load(saved) as arrays:
        assert arrays["W1"].shape == (result.json["exact"]["heads"], 2, 2)
    assert "no separate exact program" in cli.error("verify", "linear-attention", "--data", data, "--exact")
    assert "add --exact" in cli.error("verify", "relu-attention", "--data", data, "--save-optimum", saved)
