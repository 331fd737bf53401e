"""Planted data for the clustering study: tokens whose groups live in a latent subspace, nuisance that raw
similarity prefers, and the shuffled control (proofs_check.studies.clustering, docs/theory.md §12)."""

from __future__ import annotations
from dataclasses import dataclass

import numpy as np

from theory.data import check_positive_int
from theory.errors import InputError


TARGETS = ("token", "group-sum")


NUISANCES = ("gaussian", "decoy")


#: The decoy clusters' spread relative to the latent groups' (both in units of their own centre distance): tighter,
#: so that every similarity computed from the tokens alone, whitened included, prefers the decoy (measured: k-means
#: on whitened tokens recovers the latent groups with ARI 1 on Gaussian nuisance, any scale, seeds 0-4).
DECOY_SPREAD = 0.5


#: The second entry of the control's seed sequence [seed, CONTROL_STREAM], apart from data and gate streams.
CONTROL_STREAM = 11


@dataclass(frozen=True)
class LatentTokens:
    """Tokens X (N, s, d), targets Y (N, s, 1), planted groups (N, s), the latent basis (d, latent_dim), the
    nuisance basis (d, nuisance_dim) and the value direction v (d,)."""

    X: np.ndarray
    Y: np.ndarray
    groups: np.ndarray
    latent: np.ndarray
    nuisance: np.ndarray
    value: np.ndarray
    target: str


def _check_scale(value: float, name: str, positive: bool) -> float:
    if not np.isfinite(value) or value < 0 or (positive and value == 0):
        raise InputError(f"{name} must be finite and {'> 0' if positive else '>= 0'}, got {value!r}")
    return float(value)


#: The geometry of the latent centres: ``orthogonal`` (k orthonormal directions / sqrt 2, the default) or
#: ``antipodal`` (two groups at +-mu/2, |mu| = 1: the same distance 1, but x x^T is the same for both centres,
#: which linear attention cannot tell apart, docs/theory.md §12.8).
CENTRES = ("orthogonal", "antipodal")


def latent_tokens(rng: np.random.Generator, *, samples: int, tokens: int, groups: int, latent_dim: int,
                  nuisance_dim: int, nuisance_scale: float, noise: float, target: str = "group-sum",
                  nuisance: str = "gaussian", centres: str = "orthogonal") -> LatentTokens:
    """Tokens with groups in a latent subspace and group-independent nuisance (see the module docstring).

    Every draw is made whatever the target, the nuisance kind and the centres, in the same order, so the variants of
    one seed share the groups, the bases and the latent coordinates.
    """
    if centres not in CENTRES:
        raise InputError(f"unknown centres {centres!r}; choose {' or '.join(CENTRES)}")
    if centres == "antipodal" and groups != 2:
        raise InputError(f"antipodal centres make two groups, got groups = {groups!r}")
    samples, tokens, latent_dim, nuisance_dim = (check_positive_int(v, n) for v, n in (
        (samples, "samples"), (tokens, "tokens"), (latent_dim, "latent_dim"), (nuisance_dim, "nuisance_dim")))
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or not 2 <= groups <= latent_dim:
        raise InputError(f"groups must be an integer in [2, latent_dim = {latent_dim}] (the centres are orthogonal "
                         f"latent directions), got {groups!r}")
    nuisance_scale = _check_scale(nuisance_scale, "nuisance_scale", positive=True)
    noise = _check_scale(noise, "noise", positive=False)
    if target not in TARGETS:
        raise InputError(f"unknown target {target!r}; choose {' or '.join(TARGETS)}")
    if nuisance not in NUISANCES:
        raise InputError(f"unknown nuisance {nuisance!r}; choose {' or '.join(NUISANCES)}")
    if nuisance == "decoy" and groups > nuisance_dim:
        raise InputError(f"decoy nuisance needs groups <= nuisance_dim = {nuisance_dim}, got {groups}")
    d = latent_dim + nuisance_dim
    basis = np.linalg.qr(rng.standard_normal((d, d)))[0]
    latent, nuisance_basis = basis[:, :latent_dim], basis[:, latent_dim:]
    directions = np.linalg.qr(rng.standard_normal((latent_dim, latent_dim)))[0][:groups] / np.sqrt(2)
    if centres == "antipodal":  # +-mu/2 with mu the unit difference of the two orthogonal centres: distance 1
        half = (directions[0] - directions[1]) / 2
        directions = np.stack([half, -half])
    labels = rng.integers(0, groups, size=(samples, tokens))
    codes = directions[labels] + noise * rng.standard_normal((samples, tokens, latent_dim))
    gaussian = rng.standard_normal((samples, tokens, nuisance_dim))
    direction = rng.standard_normal(nuisance_dim)
    group_values = rng.standard_normal(groups)
    decoys = rng.integers(0, groups, size=(samples, tokens))
    decoy_centres = np.linalg.qr(rng.standard_normal((nuisance_dim, nuisance_dim)))[0][:groups] / np.sqrt(2)
    if nuisance == "gaussian":
        part = nuisance_scale * gaussian
    else:  # the latent construction with independent labels, scaled by nuisance_scale, half the relative spread
        part = nuisance_scale * (decoy_centres[decoys] + DECOY_SPREAD * noise * gaussian)
    X = codes @ latent.T + part @ nuisance_basis.T
    value = nuisance_basis @ (direction / np.linalg.norm(direction))
    if target == "token":
        Y = group_values[labels][..., None]
    else:
        Y = np.einsum("itu,iu->it", same_group(labels), X @ value)[..., None]
    return LatentTokens(X, Y, labels, latent, nuisance_basis, value, target)


def same_group(groups: np.ndarray) -> np.ndarray:
    """S[i, t, u] = 1[g(i, t) = g(i, u)], shape (N, s, s)."""
    return (groups[:, :, None] == groups[:, None, :]).astype(float)


def shuffled(Y: np.ndarray, seed: int) -> np.ndarray:
    """The control's targets: sample i gets the targets of sample order[k + 1] where i = order[k] (a seeded
    derangement), so no sample keeps targets computed from its own groups."""
    if len(Y) < 2:
        raise InputError("the shuffled control needs at least 2 samples")
    order = np.random.default_rng([seed, CONTROL_STREAM]).permutation(len(Y))
    moved = np.empty_like(Y)
    moved[order] = Y[np.roll(order, -1)]
    return moved
