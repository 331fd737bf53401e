"""Restarts and sweeps on joblib workers (proofs_check.parallel): local processes and a dask.distributed
LocalCluster give exactly the values of the serial run (every task carries its own seed and runs the same float64
operations), and bad worker counts or scheduler addresses are one-line input errors."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict

import numpy as np
import pytest

from proofs_check import parallel
from proofs_check.restarts import TheoremAtWidth, run_restarts
from proofs_check.studies.clustering.atlas import MAP_SIZES, clustering_map
from proofs_check.studies.path import regularisation_path
import theory
from theory.errors import InputError

RESTARTS = 4


def _objective() -> TheoremAtWidth:
    return TheoremAtWidth(theory.get("linear-attention").default_instance(0), 2)


def _assert_same_run(serial, parallel_run) -> None:
    assert np.array_equal(serial.values, parallel_run.values)
    assert np.array_equal(serial.best_theta, parallel_run.best_theta)


def test_a_restart_worker_does_not_import_cvxpy():
    """What a worker unpickles for a restart (every theorem and the restart engine) loads no cvxpy: its import took
    0.4-0.7 s of every worker's start, and a worker needs no solver."""
    code = ("import sys, pickle, theory, proofs_check.restarts; "
            "pickle.loads(pickle.dumps(theory.get('relu-mixer').default_instance(0))); print('cvxpy' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("batched", [False, True], ids=["serial path", "batched path"])
def test_restarts_on_two_local_workers_equal_the_serial_run(batched):
    serial = run_restarts(_objective(), RESTARTS, 3, (2,), batched=batched, polish=2)
    _assert_same_run(serial, run_restarts(_objective(), RESTARTS, 3, (2,), batched=batched, polish=2, workers=2))


def test_restarts_and_a_path_on_a_dask_local_cluster_equal_the_serial_run():
    distributed = pytest.importorskip("distributed")
    theorem = theory.get("convex-attention").default_instance(0)
    serial_run = run_restarts(_objective(), RESTARTS, 3, (2,))
    serial_path = regularisation_path(theorem, points=2, solver="clarabel")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address="127.0.0.1:0") as cluster:
        with parallel.backend(1, cluster.scheduler_address) as workers:
            assert workers == 2
            _assert_same_run(serial_run, run_restarts(_objective(), RESTARTS, 3, (2,), workers=workers))
            assert regularisation_path(theorem, points=2, solver="clarabel", workers=workers) == serial_path


def test_clustering_map_on_two_local_workers_equals_the_serial_map():
    """A small grid of the clustering map (proofs_check.studies.clustering), cells in the same order with the same scores
    (compared as JSON text: an undefined read-out is NaN, which equals nothing)."""
    grid = {"nuisance_scale": (1.0,), "samples": (4,), "beta_fraction": (1e-2, 1e-1)}
    arguments = (["linear-attention"], [("group-sum", "gaussian")], grid, (0,), MAP_SIZES, "clarabel")
    maps = [clustering_map(*arguments, workers=workers) for workers in (1, 2)]
    assert len(maps[0]) == 2
    assert json.dumps([asdict(cell) for cell in maps[0]]) == json.dumps([asdict(cell) for cell in maps[1]])


def test_verify_with_workers_writes_the_serial_restart_values(cli):
    """`verify --workers 2` and the serial `verify` write the same restart values and verdicts."""
    rng = np.random.default_rng(0)
    data = cli.npz("d.npz", X=rng.standard_normal((5, 3, 2)), Y=rng.standard_normal((5, 3, 2)))
    reports = []
    for extra in ([], ["--workers", "2"]):
        result = cli.run("verify", "linear-attention", "--data", data, "--restarts", "3", *extra, json=True)
        assert result.code == 0
        reports.append(result.json)
    assert reports[0]["restart_values"] == reports[1]["restart_values"]
    assert reports[0]["checks"] == reports[1]["checks"]


@pytest.mark.parametrize("workers", [0, -2, 1.5, True])
def test_bad_worker_counts_are_input_errors(workers):
    with pytest.raises(InputError, match="workers"):
        parallel.check_workers(workers)


def test_bad_cli_workers_and_unreachable_scheduler_exit_2(cli, monkeypatch):
    monkeypatch.setattr(parallel, "CONNECT_SECONDS", 1)
    data = cli.npz("d.npz", X=np.ones((4, 3, 2)) + np.arange(24).reshape(4, 3, 2), Y=np.ones((4, 3, 2)))
    result = cli.run("verify", "linear-attention", "--data", data, "--workers", "0")
    assert result.code == 2 and "workers" in result.err
    result = cli.run("path", "fno", "--points", "2", "--dask-scheduler", "tcp://127.0.0.1:9")
    assert result.code == 2
    lines = result.err_lines
    assert len(lines) == 1 and "cannot reach the Dask scheduler" in lines[0]
