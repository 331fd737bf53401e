"""Scores of the read-outs against planted groups, the baselines they must beat and the permutation nulls
(proofs_check.studies.clustering, docs/theory.md §12.3)."""

from __future__ import annotations
import numpy as np
from scipy.linalg import subspace_angles
from scipy.stats import rankdata

from proofs_check.studies.clustering.data import CONTROL_STREAM
from proofs_check.studies.clustering.readouts import Reading, kmeans_labels


def adjusted_rand(labels: np.ndarray, truth: np.ndarray) -> float:
    """The adjusted Rand index of scikit-learn over all tokens of all samples."""
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(truth.reshape(-1), labels.reshape(-1)))


#: A score is at chance when it lies below this quantile of its permutation null (the same partition or affinities
#: against randomly permuted groups): a one-sided test at level 1e-3; the ARI null uses NULL_PERMUTATIONS draws.
NULL_QUANTILE = 0.999


NULL_PERMUTATIONS = 1000


def null_ari_quantile(partition: np.ndarray, groups: np.ndarray, seed: int,
                      quantile: float = NULL_QUANTILE, count: int = NULL_PERMUTATIONS) -> float:
    """The ``quantile`` of the ARI of ``partition`` against ``count`` seeded random permutations of ``groups``."""
    rng = np.random.default_rng([seed, 3])
    flat = groups.reshape(-1)
    null = [adjusted_rand(partition, rng.permutation(flat)) for _ in range(count)]
    return float(np.quantile(null, quantile))


def _off_diagonal(affinity: np.ndarray) -> np.ndarray:
    return affinity[~np.eye(len(affinity), dtype=bool)]


def _same_pairs(groups: np.ndarray) -> np.ndarray:
    """1[g(t) = g(u)] over the off-diagonal pairs (t, u) of all n = N s tokens, in _off_diagonal's order."""
    flat = groups.reshape(-1)
    return _off_diagonal(flat[:, None] == flat[None])


def _rank_separation(ranks: np.ndarray, same: np.ndarray) -> float:
    """|2 AUC - 1| from the ranks of the affinities (Mann-Whitney: AUC = (R_same - n1 (n1 + 1) / 2) / (n1 n0))."""
    n1 = int(same.sum())
    n0 = same.size - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    return abs(2 * (ranks[same].sum() - n1 * (n1 + 1) / 2) / (n1 * n0) - 1)


def separation(affinity: np.ndarray, groups: np.ndarray) -> float:
    """|2 AUC - 1| of ``affinity`` (n, n) over all n = N s tokens for same- against different-group pairs t != u
    (pooled over samples, as the ARI is; ties count one half): 0 when the affinity does not tell them apart, 1 when
    a threshold does; NaN when one kind of pair is missing."""
    return _rank_separation(rankdata(_off_diagonal(affinity)), _same_pairs(groups))


def _weighted(items: list[tuple[float, np.ndarray]], score) -> float:
    """The weighted mean of score(item) over (weight, item) pairs; NaN when there is none."""
    weights = np.array([w for w, _ in items], dtype=float)
    if not items or weights.sum() <= 0:
        return float("nan")
    return float(np.dot(weights, [score(item) for _, item in items]) / weights.sum())


def alignment(basis: np.ndarray | None, reference: np.ndarray) -> float:
    """Mean cos^2 of the principal angles (scipy.linalg.subspace_angles) between span(basis) and span(reference):
    1 when one lies in the other; a uniformly random subspace scores dim(reference) / d on average."""
    if basis is None or basis.shape[1] == 0:
        return float("nan")
    return float(np.mean(np.cos(subspace_angles(basis, reference)) ** 2))


def score(reading: Reading, groups: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """The read-outs' scores against the planted groups and the latent (reference) subspace."""
    return {
        "heads": adjusted_rand(reading.partition, groups),
        "head": _weighted(reading.head_partitions, lambda labels: adjusted_rand(labels, groups)),
        "logits": _weighted(reading.logits, lambda affinity: separation(affinity, groups)),
        "masks": _weighted(reading.masks, lambda mask: separation(mask, groups)),
        "query_key": alignment(reading.query_key, reference),
        "value": alignment(reading.value, reference),
    }


def _distances(points: np.ndarray) -> np.ndarray:
    """Squared distances (n, n) between all n = N s tokens' points (N, s, f)."""
    flat = points.reshape(-1, points.shape[-1])
    return np.square(flat[:, None] - flat[None]).sum(axis=2)


def baseline_scores(X: np.ndarray, Y: np.ndarray, groups: np.ndarray, reference: np.ndarray, k: int,
                    seed: int) -> dict[str, float]:
    """The baselines in the read-outs' units: k-means ARI and distance separation on the raw tokens, on their top
    dim(reference) principal components, on the whitened tokens (all principal components scaled to unit variance)
    and on the targets; alignment of that principal subspace, and chance."""
    from sklearn.decomposition import PCA

    N, s, d = X.shape
    dim = reference.shape[1]
    pca = PCA(n_components=dim).fit(X.reshape(-1, d))
    whitened = PCA(whiten=True).fit_transform(X.reshape(-1, d)).reshape(N, s, -1)
    views = {"raw": X, "pca": pca.transform(X.reshape(-1, d)).reshape(N, s, dim), "whitened": whitened,
             "targets": Y}
    scores = {f"{name}_ari": adjusted_rand(kmeans_labels(view.reshape(N * s, -1), k, seed), groups)
              for name, view in views.items()}
    scores.update({f"{name}_separation": separation(_distances(view), groups) for name, view in views.items()})
    scores["pca_alignment"] = alignment(pca.components_.T, reference)
    scores["chance_alignment"] = dim / d
    return scores


#: Which baselines each compared read-out must beat: its own kind of score, plus the control's same read-out.
BASELINES = {
    "heads": ("raw_ari", "pca_ari", "whitened_ari", "targets_ari"),
    "head": ("raw_ari", "pca_ari", "whitened_ari", "targets_ari"),
    "logits": ("raw_separation", "pca_separation", "whitened_separation", "targets_separation"),
    "masks": ("raw_separation", "pca_separation", "whitened_separation", "targets_separation"),
    "query_key": ("pca_alignment", "chance_alignment"),
}


def margins(scores: dict[str, float], baselines: dict[str, float], control: dict[str, float]) -> dict[str, float]:
    """Per compared read-out: its score minus the best of its baselines and of the control's same read-out
    (NaN when the read-out does not exist for the theorem)."""
    def best(values: list[float]) -> float:
        finite = [v for v in values if np.isfinite(v)]
        return max(finite) if finite else float("nan")
    return {name: scores[name] - best([baselines[b] for b in names] + [control[name]])
            for name, names in BASELINES.items()}


#: Permutations for the separation null (each an AUC over the n (n - 1) token pairs per head); the 0.999 quantile
#: of 400 draws lies between their two largest values.
SEPARATION_PERMUTATIONS = 400


def separation_null_quantile(reading: Reading, groups: np.ndarray, seed: int) -> float:
    """The NULL_QUANTILE quantile of the ``logits`` separation of ``reading`` when the groups are permuted over all
    tokens (SEPARATION_PERMUTATIONS draws; the ranks of the affinities are computed once)."""
    if not reading.logits:
        return float("nan")
    rng = np.random.default_rng([seed, CONTROL_STREAM, 1])
    weights = np.array([w for w, _ in reading.logits])
    ranks = [rankdata(_off_diagonal(affinity)) for _, affinity in reading.logits]
    null = []
    for _ in range(SEPARATION_PERMUTATIONS):
        same = _same_pairs(rng.permutation(groups.reshape(-1)))
        null.append(np.dot(weights, [_rank_separation(r, same) for r in ranks]) / weights.sum())
    return float(np.quantile(null, NULL_QUANTILE))


def null_quantiles(reading: Reading, groups: np.ndarray, seed: int) -> dict[str, float]:
    """NULL_QUANTILE quantiles of the ``heads`` ARI (:func:`null_ari_quantile`) and of the ``logits``
    separation (:func:`separation_null_quantile`) of ``reading`` when the groups are permuted over all tokens."""
    return {"heads": null_ari_quantile(reading.partition, groups, seed, quantile=NULL_QUANTILE),
            "logits": separation_null_quantile(reading, groups, seed)}
