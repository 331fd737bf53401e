"""The relu-exact study (proofs_check.studies.relu_exact): its drawn instances written out by hand, its summary
against its rows, bad configurations, and the CLI with its JSON and its one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from proofs_check import tolerances as tol
from proofs_check.studies.relu_exact import ReluExactConfig, run_relu_exact, tiny_instance
from theory.errors import InputError


def test_a_planted_instance_is_one_relu_head_on_its_own_draw():
    theorem = tiny_instance(4, 0.1, "planted")
    rng = np.random.default_rng([4, 31])
    X = rng.standard_normal((2, 2, 2))
    W1, W2 = rng.standard_normal((2, 2)), rng.standard_normal((2, 1))
    Y = np.stack([np.maximum(x @ W1 @ x.T, 0) @ x @ W2 for x in X])
    np.testing.assert_array_equal(theorem.X, X)
    np.testing.assert_allclose(theorem.Y, Y, rtol=1e-12, atol=1e-14)
    assert tiny_instance(4, 0.1, "gaussian-c2").Y.shape == (2, 2, 2)


def test_a_planted_mixer_instance_is_one_relu_unit_on_its_own_draw():
    theorem = tiny_instance(4, 0.1, "planted", "relu-mixer")
    rng = np.random.default_rng([4, 31])
    X = rng.standard_normal((2, 2, 2))
    W1, W2 = rng.standard_normal((2, 2)), rng.standard_normal((2, 1))
    Y = np.stack([np.maximum(W1 @ x, 0) @ W2 for x in X])
    np.testing.assert_array_equal(theorem.X, X)
    np.testing.assert_allclose(theorem.Y, Y, rtol=1e-12, atol=1e-14)
    assert theorem.name == "relu-mixer"


@pytest.mark.parametrize("bad", [{"betas": (0.0,)}, {"targets": ("laplace",)}, {"restarts": 0}, {"seeds": ()},
                                 {"theorem": "mlp-mixer"}])
def test_a_bad_configuration_is_an_input_error(bad):
    with pytest.raises(InputError):
        ReluExactConfig(**bad)


def test_the_summary_counts_its_rows():
    result = run_relu_exact(ReluExactConfig(seeds=(0, 1), betas=(0.1,), targets=("planted",), restarts=2))
    rows, total = result.instances, result.summary()
    assert [(r.target, r.beta, r.seed) for r in rows] == [("planted", 0.1, 0), ("planted", 0.1, 1)]
    assert total["all"] == total["planted"] and total["all"]["instances"] == 2
    assert total["all"]["closed"] == sum(r.exact["exact_gap"] <= tol.EXACT_GAP for r in rows)
    assert total["all"]["largest_gap"] == max(r.exact["exact_gap"] for r in rows)
    assert total["all"]["heads"] == [min(r.exact["heads"] for r in rows), max(r.exact["heads"] for r in rows)]
    assert total["all"]["restarts_reached"] == sum(r.exact["restart_gap"] <= tol.GAP for r in rows)


def test_cli_runs_the_study_and_writes_its_json(cli, tmp_path):
    out = tmp_path / "relu.json"
    result = cli.run("experiment", "relu-exact", "--seed", "2", "--beta", "0.01", "--target", "gaussian",
                     "--restarts", "2", "--json", out)
    assert result.code == 0, result.err
    assert "closed 1/1" in result.out and "seeds 2;" in result.out
    stored = json.loads(out.read_text())
    assert stored["config"] == {"seeds": [2], "betas": [0.01], "targets": ["gaussian"], "restarts": 2,
                                "theorem": "relu-attention"}
    (row,) = stored["instances"]
    assert row["closed"] and row["exact"]["exact_gap"] <= tol.EXACT_GAP and not row["below_bound"]
    assert stored["summary"]["all"]["closed"] == 1


def test_cli_runs_the_mixer_study(cli):
    result = cli.run("experiment", "relu-exact", "--theorem", "relu-mixer", "--seed", "1", "--beta", "0.1",
                     "--target", "planted", "--restarts", "2", json=True)
    assert result.code == 0, result.err
    assert result.out.startswith("relu-mixer, exact program") and "closed 1/1" in result.out


@pytest.mark.parametrize("argv", [("relu-exact", "--target", "laplace"), ("relu-exact", "--beta", "-1"),
                                  ("relu-exact", "--steps", "3"), ("digits", "--beta", "0.1", "0.2"),
                                  ("relu-exact", "--theorem", "mlp-mixer"), ("digits", "--theorem", "relu-mixer")])
def test_cli_refuses_bad_options_in_one_line(cli, argv):
    result = cli.run("experiment", *argv)
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err
