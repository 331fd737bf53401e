"""The [S22] transfer experiment in small: frozen backbone, trained heads, on scikit-learn's 8x8 digits.

docs/theory.md §7: [S22] freezes a pre-trained transformer backbone and fits "a variety of convex attention heads"
on its token features for CIFAR-100, against linear and MLP heads, and reports that the attention heads are
better.  No accuracy table of the paper was retrievable, so this module re-measures the claim at a scale where
every convex head is solved to global optimality with a certificate.

Pipeline (every random draw from ``ExperimentConfig.seed``):

1. Data: ``sklearn.datasets.load_digits`` (1797 images, 8x8 pixels, 10 classes; shipped inside scikit-learn, no
   download), pixels scaled to [0, 1]; a seeded split into ``n_train`` training and ``n_test`` test images.
2. Tokens: each image is cut into non-overlapping ``patch`` x ``patch`` patches (s = (8 / patch)^2 tokens); a
   token is its flattened pixels followed by the one-hot code of its position (a ViT needs a position code for
   the same reason: the heads below are permutation-invariant over tokens).
3. Frozen backbone (a seeded random projection, not PCA): token -> R token with R a Gaussian
   (features - 1) x (patch^2 + s) matrix drawn from the seed, each coordinate standardised with the training
   tokens' mean and standard deviation, and a constant coordinate 1 appended (it lets every head fit a bias;
   for the attention heads it adds all lower-degree terms to the cubic features).  Nothing in it is trained on
   labels: the analogue of the paper's frozen backbone, at the size a cvxpy-solved head affords.
4. Heads, all with the pooled output of docs/theory.md §1, y_hat_i = (1/s) sum_t f(X_i)[t, :] in R^10, the weight
   decay beta, and each loss of ``ExperimentConfig.losses``: the squared loss on one-hot labels and the softmax
   cross-entropy, which the paper uses (theory.losses):
   - ``linear``: the two-layer linear network of `linear-mlp` (<=> nuclear-norm regularised linear model);
   - ``mlp``: a two-layer ReLU network per token, (1/s) sum_t relu(x_t W1) W2 with ``mlp_width`` hidden units,
     non-convex: best of ``mlp_restarts`` seeded L-BFGS runs (its objective is an upper bound on its optimum);
   - the registered convex attention theorems (``linear-attention``, ``gated-relu-attention``,
     ``convex-attention`` when present), bound to the pooled targets: their lifted program has the rows of every
     block averaged over tokens (the pooled output is linear in the lifted blocks, so the program stays convex),
     solved by theory.solvers.solve (``ExperimentConfig.solver``); the certified relative gap (C - LB) / C of the
     dual certificate (docs/theory.md §2) shows the solution is globally optimal.
   Prediction: the argmax of y_hat; test predictions of a convex head are the pooled lifted map of the test
   tokens applied to the training solution Z* (same seed, so the same gates).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from proofs_check import api
from proofs_check.harness import Progress
from proofs_check.restarts import run_restarts
import theory
from theory.data import check_positive_int
from theory.errors import InputError
from theory.losses import Loss, get_loss
from theory.solvers import SOLVERS, solve

IMAGE_SIDE = 8
CLASSES = 10
#: Heads the experiment knows besides the registered convex ones; convex heads are run only if registered.
BASELINE_HEADS = ("linear", "mlp")
ATTENTION_HEADS = ("linear-attention", "gated-relu-attention", "convex-attention")


@dataclass(frozen=True)
class ExperimentConfig:
    """Sizes of the experiment; the defaults finish in a few minutes on 2 cores (docs/experiments.md)."""

    n_train: int = 300
    n_test: int = 600
    patch: int = 4
    features: int = 4
    beta: float = 0.1
    mlp_width: int = 32
    mlp_restarts: int = 3
    seed: int = 0
    heads: tuple[str, ...] = BASELINE_HEADS + ATTENTION_HEADS
    losses: tuple[str, ...] = ("squared", "cross-entropy")
    solver: str = "auto"

    def __post_init__(self) -> None:
        for name in ("n_train", "n_test", "features", "mlp_width", "mlp_restarts"):
            check_positive_int(getattr(self, name), name)
        if self.patch not in (1, 2, 4, 8):
            raise InputError(f"patch must divide the image side 8 (1, 2, 4 or 8), got {self.patch!r}")
        if self.features < 2:
            raise InputError(f"features must be >= 2 (one projected coordinate and the constant), got {self.features}")
        if not np.isfinite(self.beta) or self.beta <= 0:
            raise InputError(f"beta must be finite and > 0, got {self.beta}")
        for name in self.losses:
            get_loss(name)
        if self.solver not in SOLVERS:
            raise InputError(f"unknown solver {self.solver!r}; choose {', '.join(SOLVERS)}")
        unknown = set(self.heads) - set(BASELINE_HEADS + ATTENTION_HEADS)
        if unknown:
            raise InputError(f"unknown heads {sorted(unknown)}; known: {', '.join(BASELINE_HEADS + ATTENTION_HEADS)}")


@dataclass(frozen=True)
class HeadResult:
    """One head: training objective, certified gap (convex heads) and accuracies."""

    head: str
    loss: str
    kind: str  # "convex (certified)" or "non-convex (best of k restarts)"
    objective: float
    certified_gap: float | None  # (C(Z) - LB) / C(Z) from the dual certificate; None for non-convex heads
    train_accuracy: float
    test_accuracy: float
    seconds: float


@dataclass
class ExperimentResult:
    config: ExperimentConfig
    dims: dict[str, int]
    heads: list[HeadResult] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {"config": asdict(self.config), "dims": self.dims, "heads": [asdict(h) for h in self.heads],
                "skipped": self.skipped}

    @classmethod
    def from_json(cls, fields: dict) -> "ExperimentResult":
        """Inverse of to_json (the report reads the experiment back from experiment.json)."""
        config = ExperimentConfig(**{**fields["config"], "heads": tuple(fields["config"]["heads"]),
                                     "losses": tuple(fields["config"]["losses"])})
        return cls(config, dict(fields["dims"]), [HeadResult(**h) for h in fields["heads"]], dict(fields["skipped"]))


# ---- data and backbone ---------------------------------------------------------------------------------------
def digit_tokens(images: np.ndarray, patch: int) -> np.ndarray:
    """Images (n, 8, 8) -> tokens (n, s, patch^2 + s): flattened patch pixels, then the one-hot position."""
    n, side = images.shape[0], IMAGE_SIDE // patch
    patches = images.reshape(n, side, patch, side, patch).transpose(0, 1, 3, 2, 4).reshape(n, side * side, -1)
    positions = np.broadcast_to(np.eye(side * side), (n, side * side, side * side))
    return np.concatenate([patches, positions], axis=2)


def load_split(config: ExperimentConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Seeded split of the digits: (train tokens, train labels, test tokens, test labels)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    n = len(digits.target)
    if config.n_train + config.n_test > n:
        raise InputError(f"n_train + n_test = {config.n_train + config.n_test} exceeds the {n} digit images")
    order = np.random.default_rng([config.seed, 0]).permutation(n)
    train, test = order[:config.n_train], order[config.n_train:config.n_train + config.n_test]
    tokens = digit_tokens(digits.images / 16.0, config.patch)
    return tokens[train], digits.target[train], tokens[test], digits.target[test]


@dataclass(frozen=True)
class Backbone:
    """The frozen feature map: seeded Gaussian projection, standardised on the training tokens, plus a 1."""

    projection: np.ndarray  # (features - 1, token size)
    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, tokens: np.ndarray, features: int, seed: int) -> "Backbone":
        R = np.random.default_rng([seed, 1]).standard_normal((features - 1, tokens.shape[2]))
        projected = tokens @ R.T
        return cls(R, projected.mean(axis=(0, 1)), projected.std(axis=(0, 1)))

    def __call__(self, tokens: np.ndarray) -> np.ndarray:
        projected = (tokens @ self.projection.T - self.mean) / self.scale
        return np.concatenate([projected, np.ones(projected.shape[:2] + (1,))], axis=2)


def one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(CLASSES)[labels]


# ---- convex heads: the theorems bound to pooled targets ------------------------------------------------------
def convex_head(head: str, name: str, data: tuple[np.ndarray, ...], config: ExperimentConfig,
                loss: Loss) -> HeadResult:
    """Solve the pooled program of theorem ``name`` with ``loss`` to global optimality and score it as ``head``."""
    Xtr, ytr, Xte, yte = data
    start = time.perf_counter()
    program = api.theorem(name, {"X": Xtr, "Y": one_hot(ytr)}, beta=config.beta, seed=config.seed,
                          loss=loss.name).program
    solution = solve(program, config.solver)
    test_program = api.theorem(name, {"X": Xte, "Y": one_hot(yte)}, beta=config.beta, seed=config.seed,
                               loss=loss.name).program
    train_scores = program.predict(solution.blocks).reshape(len(ytr), CLASSES)
    test_scores = test_program.predict(solution.blocks).reshape(len(yte), CLASSES)
    return HeadResult(head, loss.name, "convex (certified)", solution.optimum, solution.certified_gap,
                      accuracy(train_scores, ytr), accuracy(test_scores, yte), time.perf_counter() - start)


def accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(scores, axis=1) == labels))


# ---- the non-convex MLP head ----------------------------------------------------------------------------------
#: L-BFGS budget per MLP restart: enough to flatten the objective to ~1e-4 relative on the defaults; the MLP head is
#: non-convex, so its reported objective is what this budget reaches, not a certified optimum.
MLP_LBFGS = {"maxiter": 1000, "ftol": 1e-10, "gtol": 1e-8}
#: The restart stream of the MLP head (restart k starts from default_rng([seed, 2, k])).
MLP_STREAM = (2,)


class PooledMLP:
    """Pooled two-layer ReLU head (1/s) sum_t relu(x_t W1) W2 with weight decay, as an objective of the restart
    engine: l(pooled output, Y) + beta/2 (|W1|^2 + |W2|^2) for a loss of theory.losses."""

    def __init__(self, X: np.ndarray, Y: np.ndarray, width: int, beta: float, loss: Loss) -> None:
        self.X, self.Y, self.width, self.beta, self.loss = X, Y, width, beta, loss

    def split(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = self.X.shape[2]
        return theta[:d * self.width].reshape(d, self.width), theta[d * self.width:].reshape(self.width, -1)

    def init(self, rng: np.random.Generator) -> np.ndarray:
        """He-normal W1, normal W2 of scale 1/sqrt(width)."""
        d = self.X.shape[2]
        return np.concatenate([rng.standard_normal(d * self.width) * np.sqrt(2 / d),
                               rng.standard_normal(self.width * self.Y.shape[1]) * np.sqrt(1 / self.width)])

    def scores(self, X: np.ndarray, theta: np.ndarray) -> np.ndarray:
        W1, W2 = self.split(theta)
        return np.maximum(X @ W1, 0).mean(axis=1) @ W2

    def value_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        W1, W2 = self.split(theta)
        pre = self.X @ W1
        hidden = np.maximum(pre, 0).mean(axis=1)
        scores = hidden @ W2
        G = self.loss.gradient(scores, self.Y)
        dpre = (G @ W2.T)[:, None, :] * (pre > 0) / self.X.shape[1]
        grad = np.concatenate([np.einsum("ntd,ntm->dm", self.X, dpre).ravel(), (hidden.T @ G).ravel()])
        value = self.loss.value(scores, self.Y) + 0.5 * self.beta * float(theta @ theta)
        return value, grad + self.beta * theta


def mlp_head(data: tuple[np.ndarray, ...], config: ExperimentConfig, loss: Loss) -> HeadResult:
    """Best of ``mlp_restarts`` budgeted L-BFGS runs (proofs_check.restarts)."""
    Xtr, ytr, Xte, yte = data
    start = time.perf_counter()
    head = PooledMLP(Xtr, one_hot(ytr), config.mlp_width, config.beta, loss)
    run = run_restarts(head, config.mlp_restarts, config.seed, MLP_STREAM, options=MLP_LBFGS)
    return HeadResult("mlp", loss.name, f"non-convex (best of {config.mlp_restarts} restarts)", run.best, None,
                      accuracy(head.scores(Xtr, run.best_theta), ytr), accuracy(head.scores(Xte, run.best_theta), yte),
                      time.perf_counter() - start)


# ---- the experiment ---------------------------------------------------------------------------------------------
THEOREM_OF_HEAD = {"linear": "linear-mlp"}


def run_experiment(config: ExperimentConfig = ExperimentConfig(), progress: Progress | None = None) -> ExperimentResult:
    """Fit every head of ``config.heads`` on the seeded split; heads whose theorem is not registered are skipped.
    ``progress(phase, done, total)`` hears of each head before it is fitted."""
    say = progress or (lambda phase, done, total: None)
    steps = len(config.losses) * len(config.heads)
    tokens_tr, ytr, tokens_te, yte = load_split(config)
    backbone = Backbone.fit(tokens_tr, config.features, config.seed)
    data = (backbone(tokens_tr), ytr, backbone(tokens_te), yte)
    N, s, d = data[0].shape
    result = ExperimentResult(config, {"n_train": N, "n_test": len(yte), "s": s, "d": d, "c": CLASSES})
    for loss in map(get_loss, config.losses):
        for head in config.heads:
            name = THEOREM_OF_HEAD.get(head, head)
            if head != "mlp" and name not in theory.REGISTRY:
                result.skipped[head] = f"theorem {name} is not registered"
                continue
            say(f"{head}, {loss.name}", len(result.heads) + len(result.skipped), steps)
            result.heads.append(mlp_head(data, config, loss) if head == "mlp" else
                                convex_head(head, name, data, config, loss))
    return result


