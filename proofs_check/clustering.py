"""Token clustering made measurable: planted groups, the partition read off a convex solution, and its ARI.

docs/theory.md §4 ("Token clustering"): in gated-ReLU self-attention the output of token t depends on the other tokens
only through the second-moment matrix of the set of tokens its mask groups with it, and that set is decided by
the latent projections of x_t; [S22] reads this as "self-attention clusters tokens by latent similarity".  This
module turns the reading into a number.

Planted data (:func:`planted_tokens`): k latent centres mu_1..mu_k in R^d, drawn Gaussian from the seed and
rescaled so that the closest two are at distance 1; every token is x = mu_g + noise * e with a uniformly drawn
group g and e standard normal, so ``noise`` is in units of the smallest centre separation.  Targets are token-wise,
y_t = a_{g(t)} with a_1..a_k in R^c drawn from the seed (the group is what there is to learn).  The control
(``planted=False``) draws the tokens i.i.d. Gaussian with the same overall scale, independent of the groups, and
keeps the group-driven targets: no partition computed from X can then agree with the groups beyond chance.

The partition (:func:`head_partition`).  docs/theory.md §4.3 (ii) leaves a choice between grouping tokens by the rows of
the active masks and k-means on the recovered heads' projections.  We use k-means (k = the planted number of
groups, scikit-learn, seeded) on the tokens' query and key projections by the recovered heads,

    phi(x) = [ W1_j^T x , W1_j x ]_{j = recovered heads}   (logit of query t, key t': x_t^T W1_j x_t'),

because (1) it reads the partition off the convex solution itself (the heads are the SVD factors of the non-zero
blocks Z_p*, docs/theory.md §4 "Recovery"; blocks that are zero contribute no head), whereas the masks of a gate are
fixed before training and only the choice of active gates comes from the solution; (2) phi is a function of the
token alone, so one partition covers the tokens of all samples, whereas mask rows are indexed by the other tokens
of the same sample and do not compare across samples; (3) heads are weighted by their singular values
(W1 = sqrt(sigma) p), so strong heads dominate and numerically-zero ones do not.  When Z* = 0 there is no head and
the partition is a single cluster (ARI 0).  The score is the adjusted Rand index of scikit-learn
(``sklearn.metrics.adjusted_rand_score``: 1 for identical partitions, expectation 0 for independent ones).

Mask structure (docs/theory.md §4.3 (iii), reported by :func:`mask_block_constancy`): for gated attention, the masks of
the active gates, with tokens sorted by planted group, should be near block-constant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import theory
from theory.base import Theorem
from theory.data import check_positive_int
from theory.errors import InputError
from theory.lifted import beta_max, block_factors
from theory.rank_reduction import reduce_rank
from theory.solvers import solve


@dataclass(frozen=True)
class PlantedTokens:
    """Tokens X (N, s, d), token-wise targets Y (N, s, c), planted groups (N, s) and the centres (k, d)."""

    X: np.ndarray
    Y: np.ndarray
    groups: np.ndarray
    centres: np.ndarray
    noise: float
    planted: bool


def planted_tokens(rng: np.random.Generator, *, samples: int, tokens: int, dim: int, groups: int,
                   noise: float, outputs: int = 1, planted: bool = True) -> PlantedTokens:
    """Tokens around ``groups`` latent centres (see the module docstring); ``planted=False`` is the control."""
    samples, tokens, dim, outputs = (check_positive_int(v, n) for v, n in
                                     ((samples, "samples"), (tokens, "tokens"), (dim, "dim"), (outputs, "outputs")))
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 2:
        raise InputError(f"groups must be an integer >= 2, got {groups!r}")
    if not np.isfinite(noise) or noise < 0:
        raise InputError(f"noise must be finite and >= 0, got {noise!r}")
    centres = rng.standard_normal((groups, dim))
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=2)[np.triu_indices(groups, 1)]
    centres /= gaps.min()
    labels = rng.integers(0, groups, size=(samples, tokens))
    values = rng.standard_normal((groups, outputs))
    jitter = rng.standard_normal((samples, tokens, dim))
    X = centres[labels] + noise * jitter
    if not planted:
        X = jitter * float(X.std())
    return PlantedTokens(X, values[labels], labels, centres, float(noise), planted)


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


def head_partition(query_keys: np.ndarray, X: np.ndarray, groups: int, seed: int) -> np.ndarray:
    """k-means labels (N, s) of the tokens' head projections; one cluster when there is no head."""
    if len(query_keys) == 0:
        return np.zeros(X.shape[:2], dtype=int)
    return kmeans_labels(head_projections(query_keys, X), groups, seed).reshape(X.shape[:2])


def adjusted_rand(labels: np.ndarray, truth: np.ndarray) -> float:
    """The adjusted Rand index of scikit-learn over all tokens of all samples."""
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(truth.reshape(-1), labels.reshape(-1)))


@dataclass(frozen=True)
class ClusteringResult:
    """The partition read off a convex solution and its agreement with the planted groups."""

    ari: float  # adjusted Rand index of the head partition vs the planted groups
    raw_ari: float  # reference: k-means on the raw tokens (what the data alone gives)
    heads: int  # recovered heads (m*)
    active_blocks: list[int]  # indices p with Z_p* != 0
    partition: np.ndarray  # (N, s) labels
    groups: np.ndarray  # (N, s) planted groups
    query_keys: np.ndarray  # (m*, d, d) recovered W1 of the heads
    weights: list[np.ndarray]  # recovered primal weights (m* heads)
    theorem: Theorem  # the bound theorem (data, beta, gates) the solution belongs to
    solver: str


def cluster_witness(theorem: Theorem, groups: np.ndarray, k: int, seed: int, solver: str = "auto") -> ClusteringResult:
    """Solve the theorem's convex program with ``solver`` (theory.solvers), recover the heads and score their token
    partition against ``groups``.

    The recovered weights' first array must hold the query-key matrices W1 of shape (m, d, d), as in
    `linear-attention` and `gated-relu-attention`.
    """
    program = theorem.program
    solution = solve(program, solver)
    reduced = reduce_rank(program, solution.blocks)
    factors = block_factors(program, reduced)
    m = theorem.heads_needed(factors)
    weights = theorem.weights_from_factors(factors, m)
    query_keys = weights[0].reshape((-1,) + weights[0].shape[-2:])  # gated: (P, m, d, d) -> (P m, d, d)
    if query_keys.shape[1:] != (theorem.dims["d"],) * 2:
        raise InputError(f"{theorem.name}: recovered weights carry no query-key matrices W1 of shape (m, d, d)")
    partition = head_partition(query_keys, theorem.X, k, seed)
    raw = kmeans_labels(theorem.X.reshape(-1, theorem.X.shape[2]), k, seed)
    return ClusteringResult(
        ari=adjusted_rand(partition, groups), raw_ari=adjusted_rand(raw, groups), heads=m,
        active_blocks=[p for p, pairs in enumerate(factors) if pairs], partition=partition, groups=groups,
        query_keys=query_keys, weights=weights, theorem=theorem, solver=solution.solver)


def clustering_on(name: str, data: PlantedTokens, beta_fraction: float, seed: int, solver: str = "auto",
                  **options: object) -> ClusteringResult:
    """The witness for registered theorem ``name`` on planted data, at beta = beta_fraction * beta_max.

    beta is set relative to beta_max (above it Z* = 0 and there is nothing to read), so the same fraction means
    the same amount of regularisation whatever the scale of the drawn data.
    """
    if not 0 < beta_fraction < 1:
        raise InputError(f"beta_fraction must lie in (0, 1), got {beta_fraction!r}")
    cls = theory.get(name)
    arrays = {"X": data.X, "Y": data.Y}
    beta = beta_fraction * beta_max(cls.from_arrays(arrays, 1.0, seed, **options).program)
    present = len(np.unique(data.groups))  # k-means asks for the groups the sample contains, not all k centres
    return cluster_witness(cls.from_arrays(arrays, beta, seed, **options), data.groups, present, seed, solver)


def mask_block_constancy(mask: np.ndarray, groups: np.ndarray) -> float:
    """Fraction of entries of an (s, s) mask equal to the majority value of their (group, group) block."""
    agree = 0
    for g in np.unique(groups):
        for h in np.unique(groups):
            block = mask[np.ix_(groups == g, groups == h)]
            agree += max(int(block.sum()), block.size - int(block.sum()))
    return agree / mask.size


#: "ARI close to 1": the planted, low-noise witness passes at or above this.  At noise 0.02 (a fiftieth of the
#: smallest centre distance) the groups are separated by ~35 noise standard deviations, so any projection that
#: keeps the centres apart clusters them exactly (ARI = 1, measured); 0.9 allows one token in ~20 to be misplaced.
ARI_CLOSE = 0.9

#: The control passes when its ARI lies below this quantile of the permutation null (ARI of the same partition
#: against randomly permuted groups): a one-sided test at level 1e-3.
NULL_QUANTILE = 0.999
NULL_PERMUTATIONS = 1000


def null_ari_quantile(partition: np.ndarray, groups: np.ndarray, seed: int,
                      quantile: float = NULL_QUANTILE, count: int = NULL_PERMUTATIONS) -> float:
    """The ``quantile`` of the ARI of ``partition`` against ``count`` seeded random permutations of ``groups``."""
    rng = np.random.default_rng([seed, 3])
    flat = groups.reshape(-1)
    null = [adjusted_rand(partition, rng.permutation(flat)) for _ in range(count)]
    return float(np.quantile(null, quantile))


@dataclass(frozen=True)
class SweepRow:
    noise: float
    planted: bool
    ari: float
    raw_ari: float
    heads: int
    active_blocks: int


def noise_sweep(name: str, noises: list[float], *, seed: int, samples: int, tokens: int, dim: int, groups: int,
                beta_fraction: float, solver: str = "auto", **options: object
                ) -> tuple[list[SweepRow], float, ClusteringResult]:
    """The witness at each noise level (same seed: same centres, groups and noise directions, only the noise
    scale changes) and on the control; returns the rows (control last), the control's null quantile and the
    result at the smallest noise (for the attention-map plot)."""
    rows, first = [], None
    for noise, planted in [(n, True) for n in noises] + [(min(noises), False)]:
        data = planted_tokens(np.random.default_rng(seed), samples=samples, tokens=tokens, dim=dim,
                              groups=groups, noise=noise, planted=planted)
        result = clustering_on(name, data, beta_fraction, seed, solver, **options)
        rows.append(SweepRow(noise, planted, result.ari, result.raw_ari, result.heads, len(result.active_blocks)))
        first = first or result
    return rows, null_ari_quantile(result.partition, data.groups, seed), first


def attention_maps(theorem: Theorem, query_keys: np.ndarray, sample: int) -> np.ndarray:
    """The recovered heads' attention logits X_i W1_j X_i^T of one sample, shape (m, s, s).

    For gated attention the maps are masked by the gate of each head (theorem.head_masks, when it exists).
    """
    X = theorem.X[sample]
    logits = np.einsum("ta,jab,ub->jtu", X, query_keys, X)
    masks = getattr(theorem, "head_masks", None)
    return logits if masks is None else masks(sample, len(query_keys)) * logits
