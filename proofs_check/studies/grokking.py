"""The algorithmic experiment of [E22] in small: modular division a / b mod P, softmax transformer against the convex
block (docs/theory.md §8.0, §8.7, §8.8).

[E22] reports that on modular division ("grokking" data, Power et al. 2022) its convex model converges faster,
reaches a lower training loss and "mitigates grokking"; no numbers were retrievable.  This module re-measures that
at a size that runs in minutes on 2 cores.

Data.  Every pair (a, b) with a in [0, P), b in [1, P) and P prime, written as the sequence (a, b, =) of token ids
(a, b, P), with target a b^{-1} mod P.  A seeded split puts ``train_fraction`` of the P (P - 1) pairs in training.

Models, both read out at the "=" position and trained with the same loss (``loss``: the softmax cross-entropy of the
grokking papers by default, or the squared loss on one-hot targets):
- ``transformer``: proofs_check.studies.models.transformer_block (token + position embeddings, one softmax attention
  layer and a ReLU MLP with residual connections, unembedding), trained by full-batch AdamW with decoupled weight decay.
  Its curve is logged every ``log_every`` steps.
- ``convex-attention-fc``: the convex block of theory.convex_attention_fc on one-hot tokens (d = P + 1), with
  ``gates`` frozen gate units drawn from the seed and the "=" row as its only output row.  The program is solved
  by FISTA (theory.solvers.solve(..., "fista")) to a certified relative gap of 1e-8.  Its curve is that of the
  FISTA iterates at every certificate check (theory.solvers.fista.CHECK_EVERY iterations).  The weight decay is beta =
  ``beta_fraction`` x beta_max (Z* = 0 from beta_max on), on the loss summed over the training pairs.
Steps are AdamW steps for the transformer and FISTA iterations for the convex block: both are one pass over the
full training set.

Reported per model: the step at which train accuracy first reaches 99 %, the step at which test accuracy first
reaches 99 %, and the delay between them (the grokking gap); None when not reached within the budget.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from proofs_check.harness import Progress
from proofs_check.studies.models.transformer_block import AdamW, BlockShape, init_params, logits, loss_and_gradient
from theory.convex_attention_fc import draw_fc_gates, gate_masks
from theory.errors import InputError
from theory.lifted import LiftedProgram, beta_max
from theory.losses import Loss, get_loss
from theory.simplex_heads import key_blocks
from theory.solvers import solve

THRESHOLD = 0.99
LENGTH = 3  # (a, b, =)


@dataclass(frozen=True)
class GrokkingConfig:
    """One run; the defaults finish in a few minutes on 2 cores (docs/experiments.md).

    P = 11 because the convex block's program is a dense matrix of (train pairs x P) rows and
    gates x 3 x (P + 1) x P columns: 605 x 6336 (31 MB) at P = 11 with half the pairs and 16 gates, and
    5819 x 26496 (1.2 GB) at P = 23, beyond what FISTA on 2 shared cores finishes in minutes.
    """

    modulus: int = 11
    train_fraction: float = 0.5
    seed: int = 0
    steps: int = 5000
    log_every: int = 50
    width: int = 32
    heads: int = 4
    hidden: int = 128
    learning_rate: float = 1e-3
    weight_decay: float = 1.0
    gates: int = 16
    beta_fraction: float = 0.01
    max_seconds: float = 600.0
    loss: str = "cross-entropy"

    def __post_init__(self) -> None:
        prime = isinstance(self.modulus, int) and self.modulus >= 3 and all(self.modulus % k for k in range(2, self.modulus))
        if not prime:
            raise InputError(f"modulus must be a prime >= 3 (division needs inverses), got {self.modulus!r}")
        if not 0 < self.train_fraction < 1:
            raise InputError(f"train fraction must be in (0, 1), got {self.train_fraction}")
        for name in ("steps", "log_every", "width", "heads", "hidden", "gates"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise InputError(f"{name} must be an integer >= 1, got {getattr(self, name)!r}")
        if self.width % self.heads:
            raise InputError(f"heads ({self.heads}) must divide width ({self.width})")
        if not 0 < self.beta_fraction < 1:
            raise InputError(f"beta fraction must be in (0, 1), got {self.beta_fraction}")
        get_loss(self.loss)


def division_table(P: int) -> tuple[np.ndarray, np.ndarray]:
    """Token sequences (a, b, =) of shape (P (P - 1), 3), "=" being token P, and the targets a b^{-1} mod P."""
    pairs = np.array([(a, b) for a in range(P) for b in range(1, P)])
    inverse = np.array([pow(int(b), -1, P) for b in range(P)[1:]])
    return np.column_stack([pairs, np.full(len(pairs), P)]), pairs[:, 0] * inverse[pairs[:, 1] - 1] % P


def split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train / test indices; each side keeps at least one pair."""
    order = np.random.default_rng([seed, 0]).permutation(n)
    cut = min(max(int(round(fraction * n)), 1), n - 1)
    return order[:cut], order[cut:]


@dataclass
class Curve:
    """Train and test loss (per sample, the run's loss) and accuracy at logged steps."""

    step: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)

    def log(self, step: int, train: tuple[float, float], test: tuple[float, float]) -> None:
        self.step.append(step)
        self.train_loss.append(train[0])
        self.train_accuracy.append(train[1])
        self.test_loss.append(test[0])
        self.test_accuracy.append(test[1])

    def first_step(self, accuracies: list[float]) -> int | None:
        return next((s for s, a in zip(self.step, accuracies) if a >= THRESHOLD), None)


def scores(outputs: np.ndarray, labels: np.ndarray, loss: Loss) -> tuple[float, float]:
    """Per-sample loss (1/n) sum_i l(F_i, onehot(y_i)) and argmax accuracy."""
    targets = np.eye(outputs.shape[1])[labels]
    return loss.value(outputs, targets) / len(labels), float(np.mean(outputs.argmax(axis=1) == labels))


@dataclass
class ModelRun:
    model: str
    unit: str  # what a step is
    curve: Curve
    seconds: float
    details: dict[str, object]

    @property
    def train_step(self) -> int | None:
        return self.curve.first_step(self.curve.train_accuracy)

    @property
    def test_step(self) -> int | None:
        return self.curve.first_step(self.curve.test_accuracy)

    @property
    def grokking_gap(self) -> int | None:
        return None if self.train_step is None or self.test_step is None else self.test_step - self.train_step

    def to_json(self) -> dict[str, object]:
        return {"model": self.model, "unit": self.unit, "curve": asdict(self.curve), "seconds": self.seconds,
                "details": self.details, "steps_to_train_99": self.train_step, "steps_to_test_99": self.test_step,
                "grokking_gap": self.grokking_gap}

    @classmethod
    def from_json(cls, fields: dict) -> "ModelRun":
        return cls(fields["model"], fields["unit"], Curve(**fields["curve"]), fields["seconds"], fields["details"])


@dataclass
class GrokkingResult:
    config: GrokkingConfig
    dims: dict[str, int]
    runs: list[ModelRun]

    def to_json(self) -> dict[str, object]:
        return {"config": asdict(self.config), "dims": self.dims, "loss": f"{self.config.loss} loss on one-hot targets",
                "runs": [run.to_json() for run in self.runs]}

    @classmethod
    def from_json(cls, fields: dict) -> "GrokkingResult":
        runs = [ModelRun.from_json(run) for run in fields["runs"]]
        return cls(GrokkingConfig(**fields["config"]), dict(fields["dims"]), runs)


def train_transformer(config: GrokkingConfig, tokens: np.ndarray, labels: np.ndarray, train: np.ndarray,
                      test: np.ndarray) -> ModelRun:
    """Full-batch AdamW from a seeded initialisation (numpy.random.default_rng([seed, 1]))."""
    P = config.modulus
    shape = BlockShape(P + 1, LENGTH, config.width, config.heads, config.hidden, P)
    params = init_params(shape, np.random.default_rng([config.seed, 1]))
    optimiser, targets, curve = AdamW(config.learning_rate, config.weight_decay), np.eye(P)[labels[train]], Curve()
    start = time.perf_counter()
    loss = get_loss(config.loss)
    for step in range(1, config.steps + 1):
        optimiser.step(params, loss_and_gradient(params, tokens[train], targets, config.heads, loss)[1])
        if step % config.log_every == 0 or step == config.steps:
            curve.log(step, scores(logits(params, tokens[train], config.heads), labels[train], loss),
                      scores(logits(params, tokens[test], config.heads), labels[test], loss))
    details = {"parameters": int(sum(np.prod(s) for s in shape.shapes().values())), "optimiser": "AdamW",
               "learning_rate": config.learning_rate, "weight_decay": config.weight_decay}
    return ModelRun("transformer", "AdamW steps", curve, time.perf_counter() - start, details)


def convex_program(config: GrokkingConfig, tokens: np.ndarray, labels: np.ndarray, beta: float) -> LiftedProgram:
    """The program of convex-attention-fc on one-hot tokens, read out at the "=" row only."""
    X = np.eye(config.modulus + 1)[tokens]
    C, G = draw_fc_gates(config.gates, LENGTH, X.shape[2], config.seed)
    blocks = key_blocks(X, config.modulus, gate_masks(X, C, G), queries=[LENGTH - 1])
    return LiftedProgram(blocks, np.eye(config.modulus)[labels].reshape(-1), beta, get_loss(config.loss),
                         config.modulus)


def solve_convex_block(config: GrokkingConfig, tokens: np.ndarray, labels: np.ndarray, train: np.ndarray,
                       test: np.ndarray) -> ModelRun:
    """FISTA on the convex block's program to a certified gap of 1e-8; the curve of its iterates."""
    start = time.perf_counter()
    largest = beta_max(convex_program(config, tokens[train], labels[train], 1.0))
    program = convex_program(config, tokens[train], labels[train], config.beta_fraction * largest)
    test_program = convex_program(config, tokens[test], labels[test], program.beta)
    curve, P = Curve(), config.modulus

    def record(iteration: int, blocks: list[np.ndarray], gap: float) -> None:
        curve.log(iteration, scores(program.predict(blocks).reshape(-1, P), labels[train], program.loss),
                  scores(test_program.predict(blocks).reshape(-1, P), labels[test], program.loss))

    solution = solve(program, "fista", max_seconds=config.max_seconds, callback=record)
    active = sum(bool(np.any(Z)) for Z in solution.blocks)
    details = {"beta": program.beta, "beta_max": largest, "objective": solution.optimum,
               "certified_gap": solution.certified_gap, "gates": config.gates,
               "blocks": len(solution.blocks), "active_blocks": active, "solver": solution.solver}
    return ModelRun("convex-attention-fc", "FISTA iterations", curve, time.perf_counter() - start, details)


def run_grokking(config: GrokkingConfig = GrokkingConfig(), progress: Progress | None = None) -> GrokkingResult:
    """Both models on the seeded split of a / b mod P (``progress(phase, done, total)`` hears of each)."""
    say = progress or (lambda phase, done, total: None)
    tokens, labels = division_table(config.modulus)
    train, test = split(len(labels), config.train_fraction, config.seed)
    say(f"transformer, P = {config.modulus}, fraction {config.train_fraction}, seed {config.seed}", 0, 2)
    runs = [train_transformer(config, tokens, labels, train, test)]
    say("convex-attention-fc", 1, 2)
    runs.append(solve_convex_block(config, tokens, labels, train, test))
    return GrokkingResult(config, {"pairs": len(labels), "train": len(train), "test": len(test)}, runs)


def _step(value: int | None) -> str:
    return "not reached" if value is None else str(value)


