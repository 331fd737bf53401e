"""Token clustering by *latent* similarity: data where latent and raw similarity disagree, four read-outs of the
certified convex solution, the baselines they must beat, and the map over nuisance scale x samples x beta.

docs/theory.md §12 (the claim of [S22], docs/theory.md §4.3 "Token clustering", made falsifiable).  In linear attention
the logit of query t and key u is x_t^T W1_j x_u; in gated-ReLU attention it is masked by D_p[t, u] =
1[x_t^T H_p x_u >= 0], so token t sees the others only through G_{p,t} = sum_{u in S_p(t)} x_u x_u^T.  A target
that sums a value over a token's group-mates is what a bilinear logit that is large within a group and small
across groups produces; that is where a learned W1 should read the latent subspace and ignore the nuisance.

Data (:func:`latent_tokens`).  d = latent_dim + nuisance_dim; a seeded rotation splits R^d into the latent
subspace L and the nuisance subspace.  The k centres are k orthonormal directions of L scaled by 1/sqrt(2), so
every two are at distance 1 (k <= latent_dim): then K = 2 P_L gives mu_g^T K mu_h = 1[g = h] exactly, so the
family is one that linear attention can represent, and a failure cannot be blamed on the family
(``centres="antipodal"``: two groups at +-mu/2 instead, the same distance and the same second moment, outside what
linear attention can separate: docs/theory.md §12.8).  Token
x = L (mu_g + noise e) + (nuisance part), independent of the group, of one of two kinds:
- ``gaussian``: nuisance_scale times standard normal coordinates (per-direction standard deviation
  ``nuisance_scale``, against 1/2 for the centres along their difference);
- ``decoy``: a second, independent grouping built like the latent one in the nuisance subspace, scaled by
  ``nuisance_scale`` and DECOY_SPREAD times tighter, so raw, principal and whitened similarity all prefer it.
Targets (c = 1):
- ``token``:     y_t = a_{g(t)}, a_g standard normal (token-wise);
- ``group-sum``: y_t = sum_{u : g(u) = g(t)} v^T x_u, v a unit direction of the nuisance subspace (context-
  dependent: which tokens are summed is the group, what is summed is group-independent, so the targets of one
  group differ from sample to sample and carry no group label across samples).
At noise 0 the planted heads W1 = 2 P_L, W2 = v fit ``group-sum`` exactly (tested).

Read-outs of the certified solution (:func:`read_solution`; heads recovered by the theorem's
weights_from_factors from the rank-reduced optimum), each scored against the planted groups (:func:`score`):
- ``heads``: k-means on all heads' query and key projections [W1_j^T x, W1_j x]_j (:func:`head_projections`);
- ``head``: the same per head, ARI averaged with the head's singular value as weight;
- ``logits``: the recovered attention logits x_t^T W1_j x_u (gated: times the head's mask 1[x_t^T H_p x_u >= 0])
  over all pairs of tokens of the data set, same- against different-group pairs, as |2 AUC - 1| (0: no
  separation, 1: a threshold separates them; sign-free because (W1, W2) -> (-W1, -W2) is the same network),
  averaged with the singular values as weights;
- ``masks`` (gated only): the same separation for the masks D_p of the active gates, weighted by |Z_p|_*;
- ``query_key``: alignment of the heads' query/key subspace (top left singular vectors of [W1_j, W1_j^T]_j) with
  the latent subspace: the mean cos^2 of the principal angles (1: inside L; a random subspace scores dim L / d);
- ``value``: the same for the value subspace (W2_j); reported, not compared (it should read v for group-sum).
Convex attention ([E22]) has no token-dependent logits: its heads are value maps v_tk of rows fixed by position,
so ``heads``/``head`` use x^T v_tk, ``logits`` the position map |Z_tu|_*, and ``query_key``/``masks`` do not exist.

Baselines (:func:`baseline_scores`), in the same units: k-means ARI / distance separation on the raw tokens, on
their top principal components (as many as the latent dimension), on the whitened tokens and on the targets; the
principal subspace and the chance value dim L / d for the alignment; and the shuffled control: the same read-outs
of the solution on the same tokens with the targets moved to other samples (a derangement), which no longer
depend on the tokens' groups.  A read-out wins a map cell when it beats all of them by MARGIN in every seed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.linalg import subspace_angles
from scipy.stats import rankdata

from proofs_check.optimum import Optimum, find_optimum
from proofs_check.parallel import run_tasks
from proofs_check.plots import _save, plot_attention_maps, plt
from theory.base import Theorem
from theory.data import check_positive_int
from theory.errors import InputError

TARGETS = ("token", "group-sum")
NUISANCES = ("gaussian", "decoy")
#: The decoy clusters' spread relative to the latent groups' (both in units of their own centre distance): tighter,
#: so that every similarity computed from the tokens alone, whitened included, prefers the decoy (measured: k-means
#: on whitened tokens recovers the latent groups with ARI 1 on Gaussian nuisance, any scale, seeds 0-4).
DECOY_SPREAD = 0.5
THEOREMS = ("linear-attention", "gated-relu-attention", "convex-attention")

#: The second entry of the control's seed sequence [seed, CONTROL_STREAM], apart from data and gate streams.
CONTROL_STREAM = 11

#: Singular values below this fraction of the largest count as zero when a subspace is read off stacked heads:
#: the heads are built from the significant components only (theory.lifted.TRUNCATION_TOL), so anything smaller
#: is float64 round-off of the reshapes.
RANK_TOL = 1e-10


# ---- partitions, their scores and attention maps ----------------------------------------------------------

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


def attention_maps(theorem: Theorem, query_keys: np.ndarray, sample: int) -> np.ndarray:
    """The recovered heads' attention logits X_i W1_j X_i^T of one sample, shape (m, s, s).

    For gated attention the maps are masked by the gate of each head (theorem.head_masks, when it exists).
    """
    X = theorem.X[sample]
    logits = np.einsum("ta,jab,ub->jtu", X, query_keys, X)
    masks = getattr(theorem, "head_masks", None)
    return logits if masks is None else masks(sample, len(query_keys)) * logits


# ---- data ------------------------------------------------------------------------------------------------------

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


# ---- the certified solution and its read-outs -------------------------------------------------------------------

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


# ---- scores ----------------------------------------------------------------------------------------------------

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


# ---- one evaluation: solve, read, score, control -------------------------------------------------------------

@dataclass(frozen=True)
class Evaluation:
    """A theorem's read-outs on one data set against the baselines and the shuffled control."""

    theorem: str
    beta: float
    beta_fraction: float
    scores: dict[str, float]
    control: dict[str, float]
    baselines: dict[str, float]
    margins: dict[str, float]
    reading: Reading
    control_reading: Reading
    solution: Optimum
    control_solution: Optimum

    def to_json(self) -> dict[str, object]:
        return {"theorem": self.theorem, "beta": self.beta, "beta_fraction": self.beta_fraction,
                "scores": self.scores, "control": self.control, "baselines": self.baselines,
                "margins": self.margins, "heads": self.reading.heads, "control_heads": self.control_reading.heads,
                "active_blocks": self.reading.active_blocks, "solver": self.solution.solver,
                "certified_gap": self.solution.certified_gap, "control_certified_gap": self.control_solution.certified_gap}


def bind(name: str, arrays: dict[str, np.ndarray], seed: int, beta: float | None = None,
         beta_fraction: float | None = None, **options: object) -> tuple[Theorem, float]:
    """The registered theorem on the arrays at beta, or at beta_fraction * beta_max (exactly one of the two), and
    the fraction of beta_max that beta is."""
    import theory

    if (beta is None) == (beta_fraction is None):
        raise InputError("give exactly one of beta and beta_fraction")
    if beta_fraction is not None and not 0 < beta_fraction < 1:
        raise InputError(f"beta_fraction must lie in (0, 1), got {beta_fraction!r}")
    cls = theory.get(name)
    bound = cls.from_arrays(arrays, cls.default_beta, seed, **options)
    largest = bound.beta_max
    if largest <= 0:
        raise InputError("Y = 0: every beta gives Z* = 0, there is nothing to read")
    beta = beta_fraction * largest if beta is None else beta
    if beta >= largest:
        raise InputError(f"beta {beta:g} >= beta_max {largest:g}: Z* = 0, there is nothing to read")
    return bound.rebind(beta), beta / largest


def evaluate(name: str, X: np.ndarray, Y: np.ndarray, groups: np.ndarray, reference: np.ndarray, seed: int, *,
             beta: float | None = None, beta_fraction: float | None = None, solver: str = "auto",
             gates: np.ndarray | None = None, **options: object) -> Evaluation:
    """Solve, read and score ``name`` on (X, Y) and on the shuffled control (same X, same gates, the same fraction
    of its own beta_max), against the baselines; k-means asks for as many clusters as ``groups`` holds.  ``gates``:
    the gated theorems' H from a data file (otherwise drawn from the seed)."""
    k, dim = len(np.unique(groups)), reference.shape[1]
    fixed = {} if gates is None else {"H": gates}
    theorem, fraction = bind(name, {"X": X, "Y": Y, **fixed}, seed, beta, beta_fraction, **options)
    control_theorem = theorem.rebind(Y=shuffled(Y, seed), fraction=fraction)  # same X, gates and blocks
    solution, control_solution = find_optimum(theorem, solver), find_optimum(control_theorem, solver)
    reading = read_solution(solution, k, dim, seed)
    control_reading = read_solution(control_solution, k, dim, seed)
    scores, control = score(reading, groups, reference), score(control_reading, groups, reference)
    baselines = baseline_scores(X, Y, groups, reference, k, seed)
    return Evaluation(name, theorem.beta, fraction, scores, control, baselines, margins(scores, baselines, control),
                      reading, control_reading, solution, control_solution)


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


# ---- the map ---------------------------------------------------------------------------------------------------

#: "Beats every baseline by a clear margin": in EVERY seed of a map cell, the read-out's score exceeds the best of
#: its baselines and of the control by at least MARGIN.  Fixed before the final map (seeds 0, 1, 2) was run, from
#: pilot seeds 100-102: the 0.999 quantile of the ARI of a random two-way partition against permuted groups is
#: 0.16 at the smallest map size (N = 8, s = 6: 48 tokens; 0.10 at N = 16, 0.05 at N = 32, measured), so two
#: scores that are each at chance can differ by up to about 0.3; a margin below that could be noise.  The same
#: bound serves the separation (its null quantile is 0.08 at 48 tokens) and the alignment (units of cos^2).
MARGIN = 0.3

#: Fixed sizes of every map cell: two groups in a two-dimensional latent subspace and two nuisance directions (the
#: setting of the issue), six tokens per sample, latent noise a tenth of the centre distance.
MAP_SIZES = {"tokens": 6, "groups": 2, "latent_dim": 2, "nuisance_dim": 2, "noise": 0.1}
MAP_GRID = {"nuisance_scale": (0.5, 1.0, 3.0), "samples": (8, 16, 32, 64), "beta_fraction": (1e-4, 1e-3, 1e-2, 1e-1)}
#: (target, nuisance) pairs of the map: the context-dependent target with Gaussian and with decoy nuisance, and the
#: token-wise target (which the targets' own k-means decides exactly, so no read-out can beat it) as the reference.
MAP_FAMILIES = (("group-sum", "gaussian"), ("group-sum", "decoy"), ("token", "gaussian"))
MAP_SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class Cell:
    """One map cell and seed: its setting and the evaluation's numbers (Evaluation.to_json)."""

    theorem: str
    target: str
    nuisance: str
    nuisance_scale: float
    samples: int
    beta_fraction: float
    seed: int
    result: dict[str, object]


def map_cell(name: str, target: str, nuisance: str, nuisance_scale: float, samples: int, beta_fraction: float,
             seed: int, sizes: dict[str, object] = MAP_SIZES, solver: str = "auto") -> Cell:
    """Draw the data of one cell from numpy.random.default_rng(seed) and evaluate ``name`` on it."""
    data = latent_tokens(np.random.default_rng(seed), samples=samples, nuisance_scale=nuisance_scale, target=target,
                         nuisance=nuisance, **sizes)
    evaluation = evaluate(name, data.X, data.Y, data.groups, data.latent, seed, beta_fraction=beta_fraction,
                          solver=solver)
    return Cell(name, target, nuisance, nuisance_scale, samples, beta_fraction, seed, evaluation.to_json())


def clustering_map(theorems=THEOREMS, families=MAP_FAMILIES, grid=MAP_GRID, seeds=MAP_SEEDS, sizes=MAP_SIZES,
                   solver: str = "auto", progress=None, workers: int = 1) -> list[Cell]:
    """Every theorem x family x nuisance scale x samples x beta fraction x seed (``progress(cell)`` after each), the
    cells on ``workers`` joblib workers (proofs_check.parallel), in this order whatever the workers."""
    settings = itertools.product(theorems, families, grid["nuisance_scale"], grid["samples"], grid["beta_fraction"],
                                 seeds)
    arguments = ((name, target, nuisance, scale, samples, fraction, seed, sizes, solver)
                 for name, (target, nuisance), scale, samples, fraction, seed in settings)
    cells = []
    for cell in run_tasks(map_cell, arguments, workers):
        cells.append(cell)
        if progress is not None:
            progress(cell)
    return cells


COMPARED = tuple(BASELINES)
SETTING = ("theorem", "target", "nuisance", "nuisance_scale", "samples", "beta_fraction")


def summarise(cells: list[Cell]) -> list[dict[str, object]]:
    """Per setting (all but the seed): the seeds, the mean scores, baselines and control, the mean and smallest
    margin per read-out, and ``wins``: the read-outs whose margin is >= MARGIN in every seed."""
    settings: dict[tuple, list[Cell]] = {}
    for cell in cells:
        settings.setdefault(tuple(getattr(cell, key) for key in SETTING), []).append(cell)
    rows = []
    for setting, group in settings.items():
        def mean(part: str, key: str) -> float:
            return float(np.mean([c.result[part][key] for c in group]))
        smallest = {r: float(np.min([c.result["margins"][r] for c in group])) for r in COMPARED}
        rows.append({
            **dict(zip(SETTING, setting)), "seeds": [c.seed for c in group],
            "scores": {r: mean("scores", r) for r in (*COMPARED, "value")},
            "baselines": {b: mean("baselines", b) for b in group[0].result["baselines"]},
            "control": {r: mean("control", r) for r in COMPARED},
            "margin": {r: mean("margins", r) for r in COMPARED}, "smallest_margin": smallest,
            "wins": [r for r in COMPARED if smallest[r] >= MARGIN],
        })
    return rows


def _number(value: float) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.2f}"


def _joined(values) -> str:
    return r" \| ".join(_number(v) for v in values)


VIEWS = ("raw", "pca", "whitened", "targets")


def map_table(rows: list[dict[str, object]]) -> list[str]:
    """The map as a markdown table: per setting the read-outs' mean scores, the baselines, the control and which
    read-outs win (margin >= MARGIN in every seed, with the smallest margin)."""
    header = ["theorem", "target", "nuisance", "scale", "N", "β/β_max", "seeds", "heads ARI", "head ARI",
              "logit sep.", "mask sep.", "q/k align.", "raw | PCA | whitened | targets ARI",
              "raw | PCA | whitened | targets sep.", "PCA align.", "control heads | logits | q/k",
              f"wins (margin ≥ {MARGIN:g} in every seed)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        s, b, c = row["scores"], row["baselines"], row["control"]
        cells = [row["theorem"], row["target"], row["nuisance"], f"{row['nuisance_scale']:g}", str(row["samples"]),
                 f"{row['beta_fraction']:g}", ",".join(map(str, row["seeds"])), *(_number(s[r]) for r in COMPARED),
                 _joined(b[f"{v}_ari"] for v in VIEWS), _joined(b[f"{v}_separation"] for v in VIEWS),
                 _number(b["pca_alignment"]), _joined(c[r] for r in ("heads", "logits", "query_key")),
                 ", ".join(f"{r} (+{row['smallest_margin'][r]:.2f})" for r in row["wins"]) or "none"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


# ---- plots -----------------------------------------------------------------------------------------------------

def plot_map(rows: list[dict[str, object]], readout: str, family: tuple[str, str], path: Path) -> Path:
    """Heat maps of the mean margin of ``readout`` for one (target, nuisance) family: one panel per theorem (rows)
    and beta fraction (columns), nuisance scale against samples inside; cells where it wins in every seed are
    starred."""
    rows = [r for r in rows if (r["target"], r["nuisance"]) == tuple(family)]
    theorems = list(dict.fromkeys(r["theorem"] for r in rows))
    fractions = sorted({r["beta_fraction"] for r in rows})
    scales = sorted({r["nuisance_scale"] for r in rows})
    samples = sorted({r["samples"] for r in rows})
    fig, axes = plt.subplots(len(theorems), len(fractions), figsize=(3.1 * len(fractions) + 1, 2.6 * len(theorems)),
                             squeeze=False)
    for i, name in enumerate(theorems):
        for j, fraction in enumerate(fractions):
            ax = axes[i][j]
            grid = np.full((len(scales), len(samples)), np.nan)
            for r in rows:
                if r["theorem"] == name and r["beta_fraction"] == fraction:
                    a, b = scales.index(r["nuisance_scale"]), samples.index(r["samples"])
                    grid[a, b] = r["margin"][readout]
                    mark = "*" if readout in r["wins"] else ""
                    ax.text(b, a, f"{_number(grid[a, b])}{mark}", ha="center", va="center", fontsize=7)
            image = ax.imshow(grid, cmap="RdBu", vmin=-1, vmax=1, origin="lower", aspect="auto")
            ax.set_xticks(range(len(samples)), samples, fontsize=7)
            ax.set_yticks(range(len(scales)), [f"{v:g}" for v in scales], fontsize=7)
            ax.set_title(f"{name}, beta = {fraction:g} beta_max", fontsize=8)
            ax.set(xlabel="samples N" if i == len(theorems) - 1 else "", ylabel="nuisance scale" if j == 0 else "")
        fig.colorbar(image, ax=axes[i][-1], fraction=0.08, label="score - best baseline")
    fig.suptitle(f"target {family[0]}, {family[1]} nuisance: margin of the '{readout}' read-out over the best "
                 f"baseline (* = >= {MARGIN:g} in every seed)", fontsize=9)
    return _save(fig, path)


def plot_attention(reading: Reading, order_by: np.ndarray, sample: int, title: str, path: Path) -> Path | None:
    """The affinities the ``logits`` read-out scores (heads' logits, gated ones masked; convex attention's position
    map) for the tokens of one sample, sorted by ``order_by`` (N, s) (the groups, or the partition without them),
    tick labels 'order/found' (proofs_check.plots.plot_attention_maps); None when there is no head."""
    if not reading.logits:
        return None
    s = reading.partition.shape[1]
    block = slice(sample * s, (sample + 1) * s)
    maps = np.stack([affinity[block, block] for _, affinity in reading.logits])
    return plot_attention_maps(maps, order_by[sample], reading.partition[sample], title, path)


# ---- a user's data (proofs-check cluster) ------------------------------------------------------------------------

#: The planted instance `proofs-check cluster` uses without --data, and the report's headline cell.
HEADLINE = {"target": "group-sum", "nuisance": "gaussian", "nuisance_scale": 3.0, "samples": 32,
            "beta_fraction": 1e-3}


def headline_arrays(seed: int, **changes: object) -> dict[str, np.ndarray]:
    """The HEADLINE planted data (with ``changes``) drawn from numpy.random.default_rng(seed): X, Y, groups and
    latent."""
    setting = {**HEADLINE, **changes}
    data = latent_tokens(np.random.default_rng(seed), samples=setting["samples"], target=setting["target"],
                         nuisance=setting["nuisance"], nuisance_scale=setting["nuisance_scale"], **MAP_SIZES)
    return {"X": data.X, "Y": data.Y, "groups": data.groups, "latent": data.latent}


def check_groups(groups: object, shape: tuple[int, int]) -> np.ndarray:
    """groups as an integer array of shape (N, s) with at least two distinct groups, or an InputError."""
    array = np.asarray(groups)
    if array.shape != shape:
        raise InputError(f"groups must have shape (N, s) = {shape}, got {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
        raise InputError("groups must hold finite integer labels")
    if len(np.unique(array)) < 2:
        raise InputError(f"groups must contain at least two groups, found {len(np.unique(array))}")
    return array.astype(int)


def check_latent(latent: object, d: int) -> np.ndarray:
    """An orthonormal basis (d, r) of the span of ``latent`` (d, r), 1 <= r < d, full column rank; InputError
    otherwise."""
    array = np.asarray(latent, dtype=float)
    if array.ndim != 2 or array.shape[0] != d or not 1 <= array.shape[1] < d:
        raise InputError(f"latent must have shape (d, r) with d = {d} and 1 <= r < d, got {array.shape}")
    if not np.all(np.isfinite(array)) or np.linalg.matrix_rank(array) < array.shape[1]:
        raise InputError("latent must be finite with linearly independent columns")
    return np.linalg.qr(array)[0]


def reference_subspace(X: np.ndarray, groups: np.ndarray | None, latent: np.ndarray | None,
                       k: int) -> tuple[np.ndarray, str]:
    """The subspace the alignment is measured against, and its name: ``latent`` when given; else the span of the
    centred group means (the directions that separate the groups, k - 1 of them); else the top k - 1 principal
    directions of the tokens (alignment 1 then means the heads read the directions of largest variance)."""
    tokens = X.reshape(-1, X.shape[2])
    if latent is not None:
        return check_latent(latent, X.shape[2]), "given latent subspace"
    if groups is not None:
        flat = groups.reshape(-1)
        means = np.array([tokens[flat == g].mean(axis=0) for g in np.unique(flat)])
        return principal_basis((means - means.mean(axis=0)).T, k - 1), "span of the centred group means"
    centred = tokens - tokens.mean(axis=0)
    return principal_basis(centred.T, k - 1), f"top {k - 1} principal direction(s) of the tokens"


@dataclass(frozen=True)
class ClusterRun:
    """`proofs-check cluster` on one data set: the evaluation (with groups) or the reading alone (without)."""

    theorem: str
    seed: int
    k: int
    reference: str
    reading: Reading
    solution: Optimum
    beta: float
    beta_fraction: float
    evaluation: Evaluation | None
    alignment: dict[str, float]
    nulls: dict[str, float] | None


def cluster_arrays(arrays: dict[str, np.ndarray], name: str, seed: int, *, beta: float | None = None,
                   beta_fraction: float | None = None, clusters: int | None = None, solver: str = "auto",
                   **options: object) -> ClusterRun:
    """Read the clustering off ``name``'s certified solution on the arrays (X, Y; optional groups, latent, H).

    With ``groups``: every read-out, baseline and the shuffled control, as in the map, plus the control's
    permutation-null quantiles.  Without: the heads' partition into ``clusters`` (default 2) and the alignment of
    the query/key and value subspaces with the reference subspace (:func:`reference_subspace`).
    """
    import theory

    theory.get(name)  # an unknown theorem is an InputError before anything is solved
    if name not in THEOREMS:
        raise InputError(f"token clustering reads {', '.join(THEOREMS)}; not {name}")
    X = np.asarray(arrays["X"])
    if X.ndim != 3:
        raise InputError(f"X must have 3 axes (N, s, d), got shape {X.shape}")
    groups = check_groups(arrays["groups"], X.shape[:2]) if "groups" in arrays else None
    if clusters is not None and clusters < 2:
        raise InputError(f"clusters must be >= 2, got {clusters}")
    k = len(np.unique(groups)) if groups is not None else clusters or 2
    reference, label = reference_subspace(X, groups, arrays.get("latent"), k)
    if beta is None and beta_fraction is None:
        beta_fraction = HEADLINE["beta_fraction"]
    extra = {key: arrays[key] for key in ("H",) if key in arrays}
    if groups is not None:
        evaluation = evaluate(name, X, arrays["Y"], groups, reference, seed, beta=beta, beta_fraction=beta_fraction,
                              solver=solver, gates=arrays.get("H"), **options)
        return ClusterRun(name, seed, k, label, evaluation.reading, evaluation.solution, evaluation.beta,
                          evaluation.beta_fraction, evaluation, {},
                          null_quantiles(evaluation.control_reading, groups, seed))
    theorem, fraction = bind(name, {"X": X, "Y": arrays["Y"], **extra}, seed, beta, beta_fraction, **options)
    solution = find_optimum(theorem, solver)
    reading = read_solution(solution, k, reference.shape[1], seed)
    return ClusterRun(name, seed, k, label, reading, solution, theorem.beta, fraction, None,
                      {"query_key": alignment(reading.query_key, reference),
                       "value": alignment(reading.value, reference)}, None)


READOUT_NAMES = {"heads": "heads' projections, k-means (ARI)", "head": "each head's projections (ARI, weighted)",
                 "logits": "attention logits, same vs other group (separation)",
                 "masks": "active gates' masks (separation)", "query_key": "query/key subspace (alignment)",
                 "value": "value subspace (alignment, not compared)"}


def cluster_lines(run: ClusterRun) -> list[str]:
    """The text `proofs-check cluster` prints."""
    lines = [f"{run.theorem}: seed {run.seed}, beta {run.beta:.4g} = {run.beta_fraction:.3g} beta_max, solver "
             f"{run.solution.solver} (certified gap {run.solution.certified_gap:.1e}), {run.reading.heads} heads, "
             f"{run.k} clusters; alignment against the {run.reference}"]
    if run.evaluation is None:
        sizes = np.bincount(run.reading.partition.reshape(-1), minlength=run.k)
        lines.append(f"  partition by the heads' projections: cluster sizes {sizes.tolist()} (labels in --json)")
        lines += [f"  {READOUT_NAMES[r]:<52} {_number(v)}" for r, v in run.alignment.items()]
        return lines
    ev = run.evaluation
    lines.append(f"  {'read-out':<52} {'score':>6} {'control':>8} {'best baseline':>14} {'margin':>7}")
    for r, text in READOUT_NAMES.items():
        best = ev.scores[r] - ev.margins[r] if r in ev.margins else float("nan")
        margin = ev.margins.get(r, float("nan"))
        lines.append(f"  {text:<52} {_number(ev.scores[r]):>6} {_number(ev.control[r]):>8} {_number(best):>14} "
                     f"{_number(margin):>7}")
    lines.append("  baselines: " + ", ".join(f"{b} {_number(v)}" for b, v in ev.baselines.items()))
    verdicts = [f"{text} {_number(ev.control[r])} ({'at' if ev.control[r] <= run.nulls[r] else 'above'} chance: "
                f"{NULL_QUANTILE} permutation quantile {_number(run.nulls[r])})"
                for r, text in (("heads", "heads ARI"), ("logits", "logit separation")) if np.isfinite(ev.control[r])]
    lines.append("  shuffled control: " + ", ".join(verdicts))
    return lines


def cluster_json(run: ClusterRun) -> dict[str, object]:
    """The fields `proofs-check cluster --json` writes."""
    fields = {"theorem": run.theorem, "seed": run.seed, "beta": run.beta, "beta_fraction": run.beta_fraction,
              "clusters": run.k, "reference": run.reference, "solver": run.solution.solver,
              "certified_gap": run.solution.certified_gap, "heads": run.reading.heads,
              "active_blocks": run.reading.active_blocks, "partition": run.reading.partition.tolist()}
    if run.evaluation is None:
        return {**fields, "alignment": run.alignment}
    return {**fields, **{key: value for key, value in run.evaluation.to_json().items() if key not in fields},
            "null_quantiles": run.nulls}


# ---- the map and the headline in the report ------------------------------------------------------------------

#: The file benchmarks/clustering_map.py --report DIR writes and :func:`clustering_report` reads.
MAP_JSON = "clustering_map.json"


#: The read-outs whose heat maps the report draws (the README's finding is about these two); the benchmark draws all.
REPORTED = ("heads", "logits")


def map_plots(rows: list[dict[str, object]], directory: Path, readouts=COMPARED) -> dict[str, str]:
    """One heat map per (target, nuisance) family and read-out of ``readouts`` that exists for some theorem in
    ``rows``."""
    files = {}
    for family in dict.fromkeys((r["target"], r["nuisance"]) for r in rows):
        for readout in readouts:
            if any((r["target"], r["nuisance"]) == family and np.isfinite(r["scores"][readout]) for r in rows):
                path = directory / f"clustering_map_{family[0]}_{family[1]}_{readout}.png"
                files[f"{family[0]}/{family[1]}:{readout}"] = plot_map(rows, readout, family, path).name
    return files


def clustering_report(directory: Path, seed: int) -> tuple[list[str], dict[str, object], dict[str, str]]:
    """The report section: the HEADLINE cell, with Gaussian and with decoy nuisance, for every theorem of THEOREMS
    (read-outs, baselines, control and its permutation nulls), the attention maps of one sample, and
    :func:`map_section`.  Returns the markdown lines, the JSON fields and the plot files (role -> file name in
    ``directory``)."""
    cells = [(nuisance, name) for nuisance in NUISANCES for name in THEOREMS]
    arrays = {nuisance: headline_arrays(seed, nuisance=nuisance) for nuisance in NUISANCES}
    runs = [cluster_arrays(arrays[nuisance], name, seed) for nuisance, name in cells]
    files = {}
    for (nuisance, name), run in zip(cells, runs):
        title = f"{name}, {nuisance} nuisance, seed {seed}: affinities of sample 0, tokens sorted by group"
        written = plot_attention(run.reading, arrays[nuisance]["groups"], 0, title,
                                 directory / f"clustering_{nuisance}_{name}_attention.png")
        if written is not None:
            files[f"{nuisance}:{name}:attention"] = written.name
    lines = ["## Token clustering by latent similarity (docs/theory.md §12)", "",
             f"Headline cell: {HEADLINE} and the same with decoy nuisance, sizes {MAP_SIZES}, seed {seed}; the "
             f"shuffled control moves the targets to other samples; a read-out wins when it beats every baseline "
             f"and the control by {MARGIN:g}.", ""]
    for (nuisance, _), run in zip(cells, runs):
        lines += [f"{nuisance} nuisance:", "", "```", *cluster_lines(run), "```", ""]
    lines += [f"![{role}]({file})" for role, file in files.items()] + [""]
    fields = {"headline": HEADLINE, "sizes": MAP_SIZES, "seed": seed, "margin": MARGIN,
              "runs": [{"nuisance": nuisance, **cluster_json(run)} for (nuisance, _), run in zip(cells, runs)]}
    map_lines, fields["map"], map_files = map_section(directory)
    return lines + map_lines, fields, {**files, **map_files}


#: The measured map of the README (benchmarks/clustering_map.py, seeds 0, 1, 2; its summary rows), shipped with the
#: package, which the report shows when the report directory holds no map of its own.
STORED_MAP = Path(__file__).resolve().parent / "measurements" / MAP_JSON


def map_section(directory: Path) -> tuple[list[str], dict[str, object] | None, dict[str, str]]:
    """The map stored in DIR/MAP_JSON by benchmarks/clustering_map.py, else the measured one of the repository
    (STORED_MAP): its table and heat maps (markdown lines, JSON fields, plot files), or a note on how to produce
    it."""
    import json

    stored = next((path for path in (directory / MAP_JSON, STORED_MAP) if path.is_file()), None)
    if stored is None:
        return [f"Map not run: `python -m benchmarks.clustering_map --report {directory}` writes {MAP_JSON} and the "
                "heat maps.", ""], None, {}
    saved = json.loads(stored.read_text())
    rows = saved["summary"]
    maps = {f"map:{role}": file for role, file in map_plots(rows, directory, REPORTED).items()}
    source = "this directory" if stored.parent == directory else "the measurement shipped in proofs_check/measurements"
    lines = [f"### The map (seeds {saved['seeds']}, solver {saved['solver']}, grid {saved['grid']}; from {source})", "",
             *map_table(rows), "", *(f"![{role}]({file})" for role, file in maps.items()), ""]
    fields = {key: saved[key] for key in ("sizes", "grid", "families", "seeds", "margin", "solver", "summary")}
    return lines, {**fields, "source": str(stored)}, maps
