"""`proofs-check run --report DIR` and `proofs-check experiment --report DIR`: the files exist, the JSON parses and
carries the fields the report promises, and every plot it lists is a PNG on disk."""

from __future__ import annotations

import json

import numpy as np
import pytest

from proofs_check.harness import verify
from proofs_check.presentation.report import EXPERIMENT_JSON, GROKKING_JSON, STUDENT_TEACHER_JSON, write_report
from proofs_check.studies.clustering.user import HEADLINE
from proofs_check.studies.digits import ExperimentConfig, run_experiment
from proofs_check.studies.grokking import GrokkingConfig, run_grokking
from proofs_check.studies.student_teacher import StudentTeacherConfig, run_student_teacher
from theory.linear_mlp import LinearMLP

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def small_clustering(monkeypatch):
    """The report's clustering section at N = 8 samples: its content, not its default size, is under test here."""
    monkeypatch.setitem(HEADLINE, "samples", 8)


@pytest.fixture(scope="module")
def verification():
    X, Y, beta = LinearMLP.default_data(np.random.default_rng(0))
    return verify(LinearMLP(X, Y, beta), restarts=2, seed=0)


def _check_plots(directory, plots):
    for file in plots.values():
        assert (directory / file).read_bytes()[:8] == PNG_SIGNATURE, file


def test_report_files_without_experiment(tmp_path, verification):
    written = write_report([verification], tmp_path, seed=0)
    report = json.loads(written["json"].read_text())
    assert set(report) == {"seed", "environment", "theorems", "clustering", "comparison", "path", "experiment",
                           "grokking", "student_teacher", "plots"}
    assert report["environment"]["packages"]["cvxpy"] and report["environment"]["blas"]
    assert report["experiment"] is None
    assert {row["theorem"] for row in report["comparison"]} >= {"linear-attention", "mlp-mixer", "fno"}
    assert report["path"]["theorem"] == "convex-attention" and report["path"]["points"][-1]["active_blocks"] == 0
    assert report["theorems"][0]["theorem"] == "linear-mlp" and "restart_values" in report["theorems"][0]
    assert len(report["clustering"]["runs"]) == 6 and report["clustering"]["map"]["seeds"] == [0, 1, 2]
    assert {"linear-mlp:restarts", "linear-mlp:singular_values", "clustering:map:group-sum/decoy:heads",
            "path:path"} <= set(report["plots"])
    _check_plots(tmp_path, report["plots"])
    markdown = written["markdown"].read_text()
    assert "## linear-mlp" in markdown and "## Token clustering" in markdown and "Not run" in markdown
    for file in report["plots"].values():
        assert f"`{file}`" in markdown  # the closing list names every plot


def test_report_includes_stored_experiments(tmp_path, verification):
    result = run_experiment(ExperimentConfig(n_train=20, n_test=10, features=2, heads=("linear",)))
    (tmp_path / EXPERIMENT_JSON).write_text(json.dumps(result.to_json()))
    grokking = run_grokking(GrokkingConfig(modulus=3, steps=10, gates=2, beta_fraction=0.1))
    (tmp_path / GROKKING_JSON).write_text(json.dumps({"runs": [grokking.to_json()]}))
    teacher = run_student_teacher(StudentTeacherConfig(n_train=5, n_test=5, tokens=2, features=2, outputs=1,
                                                       restarts=1, gates=1))
    (tmp_path / STUDENT_TEACHER_JSON).write_text(json.dumps(teacher.to_json()))
    written = write_report([verification], tmp_path, seed=0)
    report = json.loads(written["json"].read_text())
    assert report["experiment"]["heads"][0]["head"] == "linear"
    assert report["grokking"]["runs"][0]["config"]["modulus"] == 3
    assert [s["student"] for s in report["student_teacher"]["students"]][0] == "softmax-attention"
    assert {"experiment:accuracy", "grokking:P3_f0.5_s0", "student-teacher:errors"} <= set(report["plots"])
    markdown = written["markdown"].read_text()
    assert "## Modular division" in markdown and "## Student-teacher" in markdown and "Not run" not in markdown
    _check_plots(tmp_path, report["plots"])


def test_cli_experiment_writes_its_json_and_plot(cli, tmp_path):
    result = cli.run("experiment", "--n-train", "20", "--n-test", "10", "--features", "2", "--report", tmp_path)
    assert result.code == 0
    out = result.out
    assert "test acc" in out and "seed 0" in out
    stored = json.loads((tmp_path / EXPERIMENT_JSON).read_text())
    assert stored["config"]["n_train"] == 20 and {h["head"] for h in stored["heads"]} >= {"linear", "mlp"}
    assert (tmp_path / "experiment_accuracy.png").read_bytes()[:8] == PNG_SIGNATURE


def test_run_writes_the_report_unless_told_not_to(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.run("run", "linear-mlp", "--restarts", "2", "--no-report").code == 0
    assert not (tmp_path / "reports").exists()
    assert cli.run("run", "linear-mlp", "--restarts", "2").code == 0
    assert json.loads((tmp_path / "reports" / "report.json").read_text())["theorems"][0]["passed"]


def test_verify_writes_a_report_of_its_own_theorem_only_when_asked(cli, tmp_path, monkeypatch):
    """verify takes --report and --no-report like run; its report holds the verification, not run's studies."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(3)
    data = cli.npz("d.npz", X=rng.standard_normal((4, 3, 2)), Y=rng.standard_normal((4, 3, 1)))
    assert cli.run("verify", "linear-mlp", "--data", data, "--convex-only", "--no-report").code == 0
    assert cli.run("verify", "linear-mlp", "--data", data, "--convex-only").code == 0
    assert not (tmp_path / "reports").exists()
    assert cli.run("verify", "linear-mlp", "--data", data, "--convex-only", "--report", tmp_path / "r").code == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert set(report) == {"seed", "environment", "theorems", "plots"}
    assert report["theorems"][0]["theorem"] == "linear-mlp"
