"""`proofs-check cluster`: the clustering read-outs on a user's data, with or without known groups."""

from __future__ import annotations
from dataclasses import dataclass

import numpy as np

from proofs_check.optimum import Optimum, find_optimum
from proofs_check.studies.clustering.atlas import MAP_SIZES
from proofs_check.studies.clustering.data import latent_tokens
from proofs_check.studies.clustering.evaluation import Evaluation, bind, evaluate
from proofs_check.studies.clustering.readouts import Reading, THEOREMS, principal_basis, read_solution
from proofs_check.studies.clustering.scores import alignment, null_quantiles
from theory.errors import InputError


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
