"""The exact programs of relu-attention and relu-mixer (docs/theory.md §4.4, §5.3): the oracle's responses against
the forward pass, the oracle against brute force, a weakened oracle caught, and the certified ReLU optimum on the
default instances and on drawn tiny instances."""

from __future__ import annotations

import numpy as np
import pytest

from proofs_check import api
from proofs_check.optimum import find_optimum
from proofs_check.restarts import TheoremAtWidth, run_restarts
from proofs_check.studies.relu_exact import THEOREMS, solve_instance
from theory.cone_oracle import ConeOracle, sampled_maximum

#: What the witness of verify asserts (proofs_check.tolerances.EXACT_GAP).
EXACT_GAP = 1e-6


@pytest.fixture(scope="module", params=THEOREMS)
def default(request):
    return api.theorem(request.param, seed=0)


def test_the_oracles_responses_are_the_forward_pass(default):
    """B^T relu(A u) is <f(u, E_k), G> for every unit output map E_k, by the theorem's own forward pass: the normals
    and responses the theorem hands the oracle describe its network (6 seeded u and G)."""
    d, c = default.dims["d"], default.dims["c"]
    E = np.eye(d * c).reshape(d * c, 1, d, c)
    for k in range(6):
        rng = np.random.default_rng([40, k])
        u, G = rng.standard_normal(int(np.prod(default.unit_shape()))), rng.standard_normal(default.Y.shape)
        direct = [np.sum(default.forward([u.reshape(1, *default.unit_shape()), E[q]]) * G) for q in range(d * c)]
        np.testing.assert_allclose(default.cone_oracle.head_inner(u, G), direct, rtol=0,
                                   atol=1e-12 * np.abs(direct).max())


def test_oracle_is_attained_and_never_beaten_by_sampling(default):
    """rho(G) is attained by an actual unit head (a lower bound) and no sampled unit head beats it (brute force
    from below): 2e5 uniform directions with ascent, 6 seeded directions G."""
    oracle = default.cone_oracle
    for k in range(6):
        G = np.random.default_rng([41, k]).standard_normal(default.Y.shape)
        value = oracle(G)
        sampled = sampled_maximum(oracle, G, 200_000, np.random.default_rng([42, k]))
        assert abs(value.attained - value.value) <= 1e-12 * value.value
        assert sampled <= value.value * (1 + 1e-12)
        assert sampled >= value.value * (1 - 5e-3)  # brute force comes close: the oracle is not an overestimate
        relaxed = max(np.linalg.svd(M, compute_uv=False)[0] for M in default.program.adjoint(G.reshape(-1)))
        assert value.value <= relaxed * (1 + 1e-12)  # the relaxation drops the cone constraints


@pytest.mark.parametrize("weakening", ["no cells", "cells only"])
def test_a_weakened_oracle_is_caught_by_sampling(default, weakening):
    """Dropping the open cells, or every lower-dimensional face, makes the oracle miss the maximum on some of 20
    seeded directions, and brute force or the full oracle shows it: the comparison above has that power."""
    full = default.cone_oracle
    groups = full.groups
    groups = groups[:-1] if weakening == "no cells" else groups[-1:]  # the groups are ordered by dimension
    weak = ConeOracle(default.oracle_normals(), default.oracle_responses, groups=groups)
    beaten = 0
    for k in range(20):
        G = np.random.default_rng([43, k]).standard_normal(default.Y.shape)
        exact = full(G).value
        beaten += sampled_maximum(full, G, 20_000, np.random.default_rng([44, k])) > weak(G).value * (1 + 1e-9) \
            or weak(G).value < exact * (1 - 1e-9)
    assert beaten >= 1


def test_default_instance_exact_optimum(default):
    """The ReLU network and the certified lower bound agree; the relaxation lies below; no restart below."""
    x = default.solve_exact()
    assert x.gap <= EXACT_GAP
    assert abs(default.objective(default.pack([x.W1, x.W2]), x.heads) - x.upper_bound) <= 1e-12 * x.upper_bound
    assert find_optimum(default, "auto").convex_optimum <= x.lower_bound * (1 + EXACT_GAP)
    run = run_restarts(TheoremAtWidth(default, max(x.heads, 3)), 10, 0, (max(x.heads, 3),))
    assert np.min(run.values) >= x.lower_bound * (1 - 1e-9)


CASES = ([("gaussian", b, q) for q in range(3) for b in (1e-3, 1e-2, 1e-1, 1.0)]
         + [("planted", b, q) for q in range(3) for b in (1e-3, 1e-1)] + [("gaussian-c2", 0.1, q) for q in range(3)]
         + [("gaussian-c2", 1e-3, 2)])  # Clarabel fails on a master of this one: the next solver takes over


@pytest.mark.parametrize("target,beta,seed", CASES)
def test_drawn_tiny_instances_close(target, beta, seed):
    """22 drawn instances of `proofs-check experiment relu-exact` (N 2, s 2, d 2; beta over four decades; planted
    ReLU targets; c = 2): the exact gap closes, the relaxation lies below the exact optimum, and 5 restarts at the
    exact network's width never end below the certified lower bound."""
    r = solve_instance(target, beta, seed, restarts=5)
    assert r.exact["exact_gap"] <= EXACT_GAP and r.closed
    assert r.exact["relaxation_gap"] >= -EXACT_GAP
    assert not r.below_bound and r.best_restart >= r.exact["lower_bound"] - 1e-9 * abs(r.exact["lower_bound"])


#: relu-mixer's drawn instances (`proofs-check experiment relu-exact --theorem relu-mixer`): each target kind, beta over
#: four decades, and one where Clarabel fails on a master (c = 2, beta = 1e-4, seed 3: SCS takes over).
MIXER_CASES = ([("gaussian", b, 0) for b in (1e-3, 1e-2, 1e-1, 1.0)] + [("planted", b, 1) for b in (1e-3, 1e-1)]
               + [("gaussian-c2", 0.1, 2), ("gaussian-c2", 1e-4, 3)])


@pytest.mark.parametrize("target,beta,seed", MIXER_CASES)
def test_drawn_mixer_instances_close(target, beta, seed):
    """8 drawn relu-mixer instances: the exact gap closes, the relaxation lies below, no restart below the bound."""
    r = solve_instance(target, beta, seed, restarts=5, name="relu-mixer")
    assert r.closed and r.exact["relaxation_gap"] >= -EXACT_GAP
    assert not r.below_bound


def test_the_mixer_instance_that_stays_open_keeps_valid_bounds():
    """relu-mixer, Gaussian c = 2, beta = 1, seed 3 (docs/theory.md §5.3): column generation stops short of the
    tolerance, and what it reports is still a valid certificate: lower <= upper, the relaxation below the lower
    bound, no restart below it, and the gap it reports is the one of its bounds."""
    r = solve_instance("gaussian-c2", 1.0, 3, restarts=5, name="relu-mixer")
    e = r.exact
    assert e["lower_bound"] <= e["upper_bound"] and e["relaxation_bound"] <= e["lower_bound"] * (1 + 1e-12)
    assert not r.below_bound
    assert e["exact_gap"] == pytest.approx((e["upper_bound"] - e["lower_bound"]) / e["upper_bound"], rel=1e-12)
