"""The token-clustering witness (proofs_check.clustering, docs/theory.md §4): planted groups are recovered from the convex
solution's heads at low noise, the score falls at high noise, and a control without planted groups is at chance.

Tolerances: ARI_CLOSE (0.9) and the permutation-null quantile NULL_QUANTILE (level 1e-3) are documented in
proofs_check.clustering.  The high-noise case uses noise 3 (three times the smallest centre distance), where the groups
overlap almost completely, so its ARI must lie below the low-noise one.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import theory
from proofs_check.clustering import (ARI_CLOSE, adjusted_rand, clustering_on, head_projections, mask_block_constancy,
                               null_ari_quantile, planted_tokens)
from theory.errors import InputError

ATTENTION = [name for name in ("linear-attention", "gated-relu-attention") if name in theory.REGISTRY]
LOW, HIGH = 0.02, 3.0


@st.composite
def planted_sizes(draw):
    """k groups, N samples, s tokens, d features and a seed; at least 12 tokens so that groups repeat."""
    return {"groups": draw(st.integers(2, 4)), "samples": draw(st.integers(3, 6)), "tokens": draw(st.integers(4, 6)),
            "dim": draw(st.integers(2, 3)), "seed": draw(st.integers(0, 2**32 - 1))}


def _witness(name: str, sizes: dict, noise: float, planted: bool = True):
    seed = sizes["seed"]
    data = planted_tokens(np.random.default_rng(seed), noise=noise, planted=planted,
                          **{k: v for k, v in sizes.items() if k != "seed"})
    return clustering_on(name, data, 0.1, seed)


@pytest.mark.parametrize("name", ATTENTION)
@given(sizes=planted_sizes())
def test_low_noise_partition_recovers_planted_groups_and_degrades_with_noise(name, sizes):
    low = _witness(name, sizes, LOW)
    high = _witness(name, sizes, HIGH)
    assert low.heads >= 1
    assert low.ari >= ARI_CLOSE, (low.ari, low.heads)
    assert high.ari < low.ari


@pytest.mark.parametrize("name", ATTENTION)
@given(sizes=planted_sizes())
def test_control_without_planted_groups_is_at_chance(name, sizes):
    control = _witness(name, sizes, LOW, planted=False)
    assert control.ari <= null_ari_quantile(control.partition, control.groups, sizes["seed"])


def test_generator_is_seeded_and_centres_are_unit_separated():
    a = planted_tokens(np.random.default_rng(5), samples=3, tokens=4, dim=2, groups=3, noise=0.1)
    b = planted_tokens(np.random.default_rng(5), samples=3, tokens=4, dim=2, groups=3, noise=0.1)
    assert np.array_equal(a.X, b.X) and np.array_equal(a.groups, b.groups)
    gaps = np.linalg.norm(a.centres[:, None] - a.centres[None], axis=2)[np.triu_indices(3, 1)]
    assert gaps.min() == pytest.approx(1.0, rel=1e-12)
    assert a.X.shape == (3, 4, 2) and a.Y.shape == (3, 4, 1) and a.groups.shape == (3, 4)


def test_zero_noise_tokens_sit_on_their_centres():
    data = planted_tokens(np.random.default_rng(2), samples=2, tokens=5, dim=3, groups=2, noise=0.0)
    assert np.array_equal(data.X, data.centres[data.groups])


@pytest.mark.parametrize("bad", [{"groups": 1}, {"noise": -0.1}, {"noise": float("nan")}, {"samples": 0}])
def test_bad_generator_input_is_an_input_error(bad):
    args = {"samples": 2, "tokens": 3, "dim": 2, "groups": 2, "noise": 0.1, **bad}
    with pytest.raises(InputError):
        planted_tokens(np.random.default_rng(0), **args)


def test_bad_beta_fraction_is_an_input_error():
    data = planted_tokens(np.random.default_rng(0), samples=2, tokens=3, dim=2, groups=2, noise=0.1)
    with pytest.raises(InputError):
        clustering_on("linear-attention", data, 1.5, 0)


def test_head_projections_are_the_query_and_key_vectors():
    rng = np.random.default_rng(1)
    W, X = rng.standard_normal((2, 3, 3)), rng.standard_normal((1, 4, 3))
    phi = head_projections(W, X)
    assert phi.shape == (4, 12)
    assert np.allclose(phi[1, :3], W[0].T @ X[0, 1]) and np.allclose(phi[1, 9:], W[1] @ X[0, 1])


def test_ari_is_one_for_a_relabelled_partition_and_block_constancy_of_a_block_mask():
    groups = np.array([0, 0, 1, 1, 2])
    assert adjusted_rand(np.array([2, 2, 0, 0, 1]), groups) == 1.0
    mask = (groups[:, None] == groups[None]).astype(int)
    assert mask_block_constancy(mask, groups) == 1.0
    mask[0, 0] = 0  # one entry of the (0, 0) block of size 4 flips: 24/25 agree with their block's majority
    assert mask_block_constancy(mask, groups) == pytest.approx(24 / 25)
