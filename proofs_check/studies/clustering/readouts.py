"""What a certified solution says about the tokens: partitions, logits, masks and subspaces read off the recovered
heads (proofs_check.studies.clustering, docs/theory.md §12.3)."""

from __future__ import annotations
from dataclasses import dataclass

import numpy as np

from proofs_check.optimum import Optimum
from theory.base import Theorem
from theory.errors import InputError


THEOREMS = ("linear-attention", "gated-relu-attention", "convex-attention")

#: Singular values below this fraction of the largest count as zero when a subspace is read off stacked heads:
#: the heads are built from the significant components only (theory.lifted.TRUNCATION_TOL), so anything smaller
#: is float64 round-off of the reshapes.
RANK_TOL = 1e-10


def head_projections(query_keys: np.ndarray, X: np.ndarray) -> np.ndarray:
    """phi(x_t) = [W1_j^T x_t, W1_j x_t]_j for every token: shape (N * s, 2 m d) for W1 of shape (m, d, d)."""
    tokens = X.reshape(-1, X.shape[2])
    queries = np.einsum("jab,na->njb", query_keys, tokens)
    keys = np.einsum("jab,nb->nja", query_keys, tokens)
    return np.concatenate([queries, keys], axis=2).reshape(len(tokens), -1)


def kmeans_labels(features: np.ndarray, groups: int, seed: int) -> np.ndarray:
    """scikit-learn k-means (10 seeded initialisations) on the rows of ``features``."""
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=groups, n_init=10, random_state=seed).fit_predict(features)


def attention_maps(theorem: Theorem, query_keys: np.ndarray, sample: int) -> np.ndarray:
    """The recovered heads' attention logits X_i W1_j X_i^T of one sample, shape (m, s, s).

    For gated attention the maps are masked by the gate of each head (theorem.head_masks, when it exists).
    """
    X = theorem.X[sample]
    logits = np.einsum("ta,jab,ub->jtu", X, query_keys, X)
    masks = getattr(theorem, "head_masks", None)
    return logits if masks is None else masks(sample, len(query_keys)) * logits


@dataclass(frozen=True)
class Reading:
    """What a solution says about the tokens, before any comparison with groups (module docstring)."""

    theorem: str
    heads: int  # non-zero heads
    active_blocks: list[int]
    partition: np.ndarray  # (N, s) k-means on all heads' projections
    head_partitions: list[tuple[float, np.ndarray]]  # (singular value, (N, s) labels) per head
    logits: list[tuple[float, np.ndarray]]  # (weight, (n, n) affinity over all n = N s tokens) per head
    masks: list[tuple[float, np.ndarray]]  # (|Z_p|_*, (n, n) mask) per active gate (gated only)
    query_key: np.ndarray | None  # (d, r) orthonormal basis of the heads' query/key subspace
    value: np.ndarray | None  # (d, r) orthonormal basis of the value subspace


def _singular_values(factors) -> list[list[float]]:
    """sigma of every factor pair, per block (balanced pairs: sigma = |u| |v|)."""
    return [[float(np.linalg.norm(u) * np.linalg.norm(v)) for u, v in pairs] for pairs in factors]


def principal_basis(columns: np.ndarray, dim: int) -> np.ndarray:
    """The top min(dim, rank) left singular vectors of ``columns`` (d, n): the subspace they mostly span."""
    U, sigma, _ = np.linalg.svd(columns, full_matrices=False)
    rank = int(np.sum(sigma > RANK_TOL * sigma[0])) if sigma.size and sigma[0] > 0 else 0
    return U[:, :min(dim, rank)]


def _attention_heads(solution: Optimum) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """W1 (m, d, d), W2 (m, d, c), sigma (m,) and gate (m,) of every head of linear or gated attention, numbered
    gate-major as in theorem.head_masks (gate 0 for linear attention); zero heads have sigma 0."""
    W1, W2 = solution.weight_list
    if W1.ndim == 3:  # linear attention: one block, no gate
        W1, W2 = W1[None], W2[None]
    sigma = np.zeros(W1.shape[:2])
    for p, values in enumerate(_singular_values(solution.factors)):
        sigma[p, :len(values)] = values
    gates = np.repeat(np.arange(W1.shape[0]), W1.shape[1])
    return W1.reshape((-1,) + W1.shape[-2:]), W2.reshape((-1,) + W2.shape[-2:]), sigma.reshape(-1), gates


def _stack(columns: list[np.ndarray], d: int) -> np.ndarray:
    return np.concatenate(columns, axis=1) if columns else np.zeros((d, 0))


def _read_attention(solution: Optimum, k: int, dim: int, seed: int) -> Reading:
    """Read-outs of linear or gated-ReLU attention (module docstring): the logit of two tokens is
    x_t^T W1_j x_u, times the gate's mask 1[x_t^T H_p x_u >= 0] for gated attention."""
    theorem, X = solution.theorem, solution.theorem.X
    N, s, d = X.shape
    tokens = X.reshape(-1, d)
    W1, W2, sigma, gates = _attention_heads(solution)
    live = np.flatnonzero(sigma > 0)
    gated = hasattr(theorem, "H")
    masks = {p: (tokens @ theorem.H[p] @ tokens.T >= 0).astype(float) for p in set(gates[live])} if gated else {}
    logits = [(sigma[j], tokens @ W1[j] @ tokens.T * (masks[gates[j]] if gated else 1.0)) for j in live]
    return Reading(
        theorem=theorem.name, heads=int(live.size),
        active_blocks=[p for p, pairs in enumerate(solution.factors) if pairs],
        partition=_labels(head_projections(W1[live], X), k, seed, (N, s)),
        head_partitions=[(sigma[j], _labels(head_projections(W1[j:j + 1], X), k, seed, (N, s))) for j in live],
        logits=logits, masks=[(float(sigma[gates == p].sum()), mask) for p, mask in sorted(masks.items())],
        query_key=principal_basis(_stack([np.concatenate([W1[j], W1[j].T], axis=1) for j in live], d), dim),
        value=principal_basis(_stack([W2[j] for j in live], d), dim))


def _labels(features: np.ndarray, k: int, seed: int, shape: tuple[int, int]) -> np.ndarray:
    """k-means labels of the token features, shape (N, s); one cluster when there are no features."""
    if features.shape[1] == 0:
        return np.zeros(shape, dtype=int)
    return kmeans_labels(features, k, seed).reshape(shape)


def _read_convex(solution: Optimum, k: int, dim: int, seed: int) -> Reading:
    """Read-outs of convex attention ([E22]): value maps v_tk, and as the affinity of two tokens at positions t and
    u the position map |Z_tu|_* (module docstring)."""
    theorem, X = solution.theorem, solution.theorem.X
    N, s, d = X.shape
    _, V, W = solution.weight_list
    values = V.reshape(-1, d)
    sigma = np.linalg.norm(values, axis=1) * np.linalg.norm(W.reshape(len(values), -1), axis=1)
    live = np.flatnonzero(sigma > 0)
    tokens = X.reshape(-1, d)
    position_map = np.array([sum(values_) for values_ in _singular_values(solution.factors)]).reshape(s, s)
    positions = np.tile(np.arange(s), N)
    return Reading(
        theorem=theorem.name, heads=int(live.size),
        active_blocks=[p for p, pairs in enumerate(solution.factors) if pairs],
        partition=_labels(tokens @ values[live].T, k, seed, (N, s)),
        head_partitions=[(sigma[j], _labels(tokens @ values[j:j + 1].T, k, seed, (N, s))) for j in live],
        logits=[(1.0, position_map[np.ix_(positions, positions)])] if live.size else [], masks=[],
        query_key=None, value=principal_basis(_stack([values[j:j + 1].T for j in live], d), dim))


def read_solution(solution: Optimum, k: int, dim: int, seed: int) -> Reading:
    """The read-outs of a certified solution: partitions into k clusters (k-means seeded by ``seed``), affinities,
    and subspaces of at most ``dim`` dimensions (the dimension of the reference subspace)."""
    name = solution.theorem.name
    if name not in THEOREMS:
        raise InputError(f"token clustering reads {', '.join(THEOREMS)}; not {name}")
    return (_read_convex if name == "convex-attention" else _read_attention)(solution, k, dim, seed)
