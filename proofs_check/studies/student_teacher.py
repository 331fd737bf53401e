"""The student-teacher experiment of [E22] in small: a frozen random transformer layer as the teacher, attention
students fitted to its outputs (docs/theory.md §8.0, §8.7, §8.8).

[E22] freezes the earlier layers of a pretrained BERT, replaces its last attention layer by the convex attention
and trains it on the frozen features to reproduce the layer's outputs.  It reports faster convergence and a lower
test error than standard attention; no numbers were retrievable.  No pretrained weights can be downloaded here, so
the teacher is a seeded random layer, and the "frozen features" are standard normal tokens.

Teacher (numpy.random.default_rng([seed, 1]), never trained): softmax attention with ``teacher_heads`` heads
(W_Q, W_K, W_V in R^{d x d}, entries N(0, 1/d)), its heads concatenated and fed to a ReLU FC layer of width
``teacher_hidden`` with output c, token-wise:
    Y = relu(concat_h softmax(X W_Qh W_Kh^T X^T) X W_Vh  W1) W2.
Data: X standard normal (numpy.random.default_rng([seed, 0])), ``n_train`` training and ``n_test`` test samples.

Students, each with weight decay ``beta`` on the summed squared loss 1/2 sum_i |F_i - Y_i|^2:
- ``softmax-attention``: standard attention ([E22] eq. (3); proofs_check.studies.models.softmax_attention, s min(d, c) +
  1 heads shared by all rows), best of ``restarts`` L-BFGS runs: non-convex, no certificate;
- ``simplex-attention``: the non-convex simplex-row model that [E22] convexifies (convex-attention's network, heads
  with rows in the simplex, theory.convex_attention), trained the way [E22]'s baseline is, by a local method: best of
  ``restarts`` L-BFGS runs from rows near the vertices at the restarts' width; no certificate of its own, but its
  objective is held against the certified optimum of its program (the next student), which bounds it from below;
- ``convex-attention`` and ``convex-attention-fc`` (``gates`` frozen gate units from the seed): their lifted
  programs solved by theory.solvers.solve (``StudentTeacherConfig.solver``); the certified gap shows the global optimum
was reached. Reported: the relative test error |F - Y|^2 / |Y|^2 on the test samples, the same on the training samples,
the training time (wall clock, noisy on a shared machine), and for the three attention arms of [E22]'s comparison the
objective against time and against passes over the training data (:class:`Curve`): one pass is one evaluation of
the objective and its gradient over all training samples (an L-BFGS function evaluation, summed over the restarts
in order), or one FISTA iteration on the convex program (one product with A and one with A^T); FISTA runs for the
curve only (the reported convex numbers come from ``solver``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from proofs_check import api
from proofs_check.harness import Progress
from proofs_check.restarts import TheoremAtWidth, run_restarts
from proofs_check.studies.models.softmax_attention import LBFGS_BUDGET, STREAM, SoftmaxAttention
from theory.base import Theorem
from theory.data import check_beta, check_positive_int
from theory.errors import InputError
from theory.solvers import SOLVERS, solve

CONVEX_STUDENTS = ("convex-attention", "convex-attention-fc")
#: At most this many points of a curve are kept (log-spaced in the evaluations, so the first passes keep their
#: detail; the last point always), so the JSON stays small.
CURVE_POINTS = 200


@dataclass
class Curve:
    """The best objective so far against passes over the training data and seconds since the arm started."""

    passes: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    objective: list[float] = field(default_factory=list)

    def log(self, passes: int, seconds: float, value: float) -> None:
        best = min(value, self.objective[-1]) if self.objective else value
        self.passes.append(int(passes))
        self.seconds.append(float(seconds))
        self.objective.append(float(best))

    def thinned(self) -> "Curve":
        keep = sorted(set(np.geomspace(1, len(self.passes), min(CURVE_POINTS, len(self.passes))).astype(int) - 1)
                      | {len(self.passes) - 1})
        return Curve([self.passes[k] for k in keep], [self.seconds[k] for k in keep], [self.objective[k] for k in keep])


class Traced:
    """An objective of proofs_check.restarts whose every evaluation (one pass over the data) is logged to a Curve."""

    def __init__(self, objective) -> None:
        self.objective, self.curve, self.calls, self.start = objective, Curve(), 0, time.perf_counter()

    def init(self, rng: np.random.Generator) -> np.ndarray:
        return self.objective.init(rng)

    def value_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = self.objective.value_and_gradient(theta)
        self.calls += 1
        self.curve.log(self.calls, time.perf_counter() - self.start, value)
        return value, gradient


@dataclass(frozen=True)
class StudentTeacherConfig:
    """Sizes of the experiment; the defaults finish in a few minutes on 2 cores (docs/experiments.md)."""

    seed: int = 0
    n_train: int = 200
    n_test: int = 500
    tokens: int = 4
    features: int = 3
    outputs: int = 2
    teacher_heads: int = 2
    teacher_hidden: int = 8
    beta: float = 1.0
    gates: int = 4
    restarts: int = 5
    solver: str = "auto"

    def __post_init__(self) -> None:
        for name in ("n_train", "n_test", "tokens", "features", "outputs", "teacher_heads", "teacher_hidden", "gates",
                     "restarts"):
            check_positive_int(getattr(self, name), name)
        check_beta(self.beta)
        if self.solver not in SOLVERS:
            raise InputError(f"unknown solver {self.solver!r}; choose {', '.join(SOLVERS)}")


def teacher_outputs(X: np.ndarray, config: StudentTeacherConfig) -> np.ndarray:
    """The frozen teacher layer (module docstring) applied to X (N, s, d): Y (N, s, c)."""
    rng = np.random.default_rng([config.seed, 1])
    d, H = X.shape[2], config.teacher_heads
    Wq, Wk, Wv = (rng.standard_normal((3, H, d, d)) / np.sqrt(d))
    W1 = rng.standard_normal((H * d, config.teacher_hidden)) / np.sqrt(H * d)
    W2 = rng.standard_normal((config.teacher_hidden, config.outputs)) / np.sqrt(config.teacher_hidden)
    logits = np.einsum("ita,hab,hcb,iuc->ihtu", X, Wq, Wk, X)
    attention = np.exp(logits - logits.max(axis=3, keepdims=True))
    attention /= attention.sum(axis=3, keepdims=True)
    heads = np.einsum("ihtu,iua,hab->ithb", attention, X, Wv).reshape(X.shape[0], X.shape[1], H * d)
    return np.maximum(heads @ W1, 0.0) @ W2


@dataclass(frozen=True)
class StudentResult:
    student: str
    kind: str
    objective: float  # training objective (summed squared loss + weight decay)
    certified_gap: float | None  # convex students: (C(Z) - LB) / C(Z); None for the non-convex one
    train_error: float  # |F - Y|^2 / |Y|^2 on the training samples
    test_error: float
    seconds: float
    curve: Curve | None = None  # objective against passes and seconds (the arms of [E22]'s comparison)


@dataclass
class StudentTeacherResult:
    config: StudentTeacherConfig
    students: list[StudentResult] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"config": asdict(self.config), "loss": "squared loss", "students": [asdict(s) for s in self.students]}

    @classmethod
    def from_json(cls, fields: dict) -> "StudentTeacherResult":
        students = [StudentResult(**{**s, "curve": None if s.get("curve") is None else Curve(**s["curve"])})
                    for s in fields["students"]]
        return cls(StudentTeacherConfig(**fields["config"]), students)


def _relative(residual_squares: float, Y: np.ndarray) -> float:
    return residual_squares / float(np.vdot(Y, Y))


def convex_student(name: str, data: tuple[np.ndarray, ...], config: StudentTeacherConfig) -> StudentResult:
    """Solve the student's program on the training samples; predict the test samples with the same Z* (the gates
    of convex-attention-fc depend on the seed, s and d only, so both sets see the same gates)."""
    Xtr, Ytr, Xte, Yte = data
    start = time.perf_counter()
    program = _bind(name, Xtr, Ytr, config).program
    solution = solve(program, config.solver)
    seconds = time.perf_counter() - start
    test = _bind(name, Xte, Yte, config).program
    train_residual = program.predict(solution.blocks) - program.target
    test_residual = test.predict(solution.blocks) - test.target
    return StudentResult(name, f"convex ({solution.solver.lower()}, certified)", solution.optimum,
                         solution.certified_gap,
                         _relative(float(train_residual @ train_residual), Ytr),
                         _relative(float(test_residual @ test_residual), Yte), seconds,
                         fista_curve(program) if name == "convex-attention" else None)


def fista_curve(program) -> Curve:
    """FISTA's iterates on the program, one pass per iteration (module docstring), to its certified gap of 1e-8."""
    curve, start = Curve(), time.perf_counter()
    solve(program, "fista", callback=lambda iteration, blocks, gap: curve.log(
        iteration, time.perf_counter() - start, program.objective(blocks)))
    return curve.thinned()


def simplex_student(data: tuple[np.ndarray, ...], config: StudentTeacherConfig) -> StudentResult:
    """Best of ``restarts`` L-BFGS runs of convex-attention's non-convex network (module docstring)."""
    Xtr, Ytr, Xte, Yte = data
    train = _bind("convex-attention", Xtr, Ytr, config)
    heads = train.heads_for_zero_gap()
    start = time.perf_counter()
    traced = Traced(TheoremAtWidth(train, heads))
    run = run_restarts(traced, config.restarts, config.seed, (heads,))
    seconds = time.perf_counter() - start
    weights = train.unpack(run.best_theta, heads)
    test = _bind("convex-attention", Xte, Yte, config)
    train_error = float(np.sum((train.forward(weights) - train.Y) ** 2))
    test_error = float(np.sum((test.forward(weights) - test.Y) ** 2))
    return StudentResult("simplex-attention", f"non-convex (best of {config.restarts} L-BFGS restarts, {heads} heads "
                         "per row)", run.best, None, _relative(train_error, Ytr), _relative(test_error, Yte), seconds,
                         traced.curve.thinned())


def _bind(name: str, X: np.ndarray, Y: np.ndarray, config: StudentTeacherConfig) -> Theorem:
    """The student ``name`` on (X, Y) at the config's beta and seed (convex-attention-fc with its gates)."""
    gates = {"gates": config.gates} if name == "convex-attention-fc" else {}
    return api.theorem(name, {"X": X, "Y": Y}, beta=config.beta, seed=config.seed, **gates)


def softmax_student(data: tuple[np.ndarray, ...], config: StudentTeacherConfig) -> StudentResult:
    """Best of ``restarts`` L-BFGS runs of standard attention; errors from its objective minus its weight decay."""
    Xtr, Ytr, Xte, Yte = data
    heads = Xtr.shape[1] * min(Xtr.shape[2], Ytr.shape[2]) + 1
    start = time.perf_counter()
    traced = Traced(SoftmaxAttention(Xtr, Ytr, config.beta, heads))
    run = run_restarts(traced, config.restarts, config.seed, STREAM, options=LBFGS_BUDGET)
    seconds = time.perf_counter() - start
    theta = run.best_theta
    decay = 0.5 * config.beta * float(theta @ theta)
    train_loss = run.best - decay
    test_loss = SoftmaxAttention(Xte, Yte, config.beta, heads).value_and_gradient(theta)[0] - decay
    return StudentResult("softmax-attention", f"non-convex (best of {config.restarts} L-BFGS restarts, {heads} heads)",
                         run.best, None, _relative(2 * train_loss, Ytr), _relative(2 * test_loss, Yte), seconds,
                         traced.curve.thinned())


def run_student_teacher(config: StudentTeacherConfig = StudentTeacherConfig(),
                        progress: Progress | None = None) -> StudentTeacherResult:
    """Every student on the seeded teacher's data (``progress(phase, done, total)`` hears of each)."""
    say = progress or (lambda phase, done, total: None)
    names = ("softmax-attention", "simplex-attention", *CONVEX_STUDENTS)
    rng = np.random.default_rng([config.seed, 0])
    X = rng.standard_normal((config.n_train + config.n_test, config.tokens, config.features))
    Y = teacher_outputs(X, config)
    data = (X[:config.n_train], Y[:config.n_train], X[config.n_train:], Y[config.n_train:])
    result = StudentTeacherResult(config)
    for k, name in enumerate(names):
        say(name, k, len(names))
        if name == "softmax-attention":
            result.students.append(softmax_student(data, config))
        elif name == "simplex-attention":
            result.students.append(simplex_student(data, config))
        else:
            result.students.append(convex_student(name, data, config))
    return result


#: "Reached the certified optimum" on a curve: within these relative distances of convex-attention's C* (the
#: second is the zero-gap tolerance of proofs_check.tolerances.GAP).
REACHED = (1e-3, 1e-6)


