"""The restart engine: seeded random restarts of a smooth non-convex objective, serial or batched (one engine for
the witnesses' networks, the softmax-attention baseline and the experiment's MLP head).

An objective is any object with ``init(rng) -> theta`` and ``value_and_gradient(theta) -> (value, gradient)``; it
may add ``batch_value_and_gradient(Theta) -> (values (R,), gradients (R, n))`` for R weight vectors at once.  A
theorem at width m is adapted by :class:`TheoremAtWidth`.

Restart k of a run starts from ``init(numpy.random.default_rng([seed, *stream, k]))``, so every restart is
reproducible from (seed, stream, k) alone and independent of the others (the witnesses use stream (m,)).

- serial: :func:`local_minimum` from every start (L-BFGS, then L-BFGS on the objective divided by the value reached);
- batched: monotone Barzilai-Borwein gradient descent on all restarts at once for PHASE_ONE_ITERATIONS vectorised
  steps (:func:`phase_one`), then :func:`local_minimum` from the ``polish`` lowest.  The others keep their phase-1
  values, upper bounds on what L-BFGS would reach from there; the best value is always a polished one.  A serial
  restart is a full L-BFGS run, a batched one costs a few vectorised evaluations (benchmarks/README.md).

Saddle escape.  L-BFGS can stop at a stationary point that is no local minimum: for the factorised theorems theta = 0
(the zero network) is a strict saddle whenever beta < beta_max (the Hessian there has the eigenvalues
beta -+ sigma of the dual matrix A_p^T(-grad l(0)), one negative; docs/theory.md §10.1), and so is every point with an
unused (zero) head whose lifted Z does not solve the convex program.  An objective may offer
``escape(theta, value) -> theta' | None``: a point of lower objective when theta is such a saddle.
:class:`TheoremAtWidth` gives one from the dual (a conditional-gradient step of program (C) read back as a network);
after every local minimum the engine escapes and continues, at most MAX_ESCAPES times, and counts the escapes per
restart (``RestartRun.escapes``).

Every run holds BLAS to theory.threads' thread count.  With ``workers`` > 1 the L-BFGS runs go to joblib workers
(local processes, or a Dask cluster: proofs_check.parallel); each starts from the same theta0 as in the serial
run, so the values are the same.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np
from scipy.optimize import minimize

from proofs_check.parallel import check_workers, run_tasks
from theory.base import Theorem
from theory.lifted import block_factors
from theory.threads import limited_blas

#: L-BFGS-B settings: the factorised problems are degenerate (rotations of the heads leave the objective
#: unchanged) and need ~1e3 iterations; ftol/gtol this small make the final value accurate to ~1e-11.
LBFGS_OPTIONS = {"maxiter": 50_000, "maxfun": 100_000, "ftol": 1e-14, "gtol": 1e-10, "maxcor": 30}
#: Batched path: phase-1 iterations, and the number of restarts then polished by L-BFGS.
PHASE_ONE_ITERATIONS = 300
POLISH = 3
#: Escapes per restart: each adds one head's atom, so from theta = 0 a network of r heads needs r of them.
MAX_ESCAPES = 32
#: A head is unused when its norm is below this fraction of the largest head's (L-BFGS drives an unused head to
#: ~1e-12 of the others, not to 0).
UNUSED_HEAD = 1e-8
#: Escape only when the dual norm exceeds beta by this much: a local minimum certified to 1e-6 (the witnesses'
#: tolerance) has a dual norm within ~1e-6 of beta, and escaping it would chase round-off.
ESCAPE_MARGIN = 1e-4

Progress = Callable[[int, int], None]  # (restarts done, restarts in all)


class Objective(Protocol):
    def init(self, rng: np.random.Generator) -> np.ndarray: ...

    def value_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]: ...


@dataclass(frozen=True)
class TheoremAtWidth:
    """The training objective of a theorem's network with m heads, as an objective of the engine."""

    theorem: Theorem
    m: int

    def init(self, rng: np.random.Generator) -> np.ndarray:
        return self.theorem.init(self.m, rng)

    def value_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        return self.theorem.objective_and_gradient(theta, self.m)

    def batch_value_and_gradient(self, Theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.theorem.batch_objective_and_gradient(Theta, self.m)

    def escape(self, theta: np.ndarray, value: float) -> np.ndarray | None:
        """A point below ``value`` when theta is a stationary point with an unused head that is not a global minimum,
        else None (module docstring).  With Z = lift(theta), V = -grad l(A(Z)) and sigma_p = R°(A_p^T V): when
        sigma = max_p sigma_p > beta, Z is not optimal for (C), and adding the atom t P1 Q1^T (the top component of
        A_p^T V) lowers C by t (sigma - beta) + O(t^2).  The escape point is the network recovered
        (weights_from_factors) from the balanced factors of Z plus that atom, t halved from value / sigma until the
        objective drops; None when that network needs more than m heads."""
        theorem, m = self.theorem, self.m
        weights = theorem.unpack(theta, m)
        if not np.isfinite(value) or not _has_unused_head(theorem, weights):
            return None  # every head in use: the saddles this escapes (a zero head) are not here
        program = theorem.program
        Z = theorem.lift_weights(weights)
        duals = program.adjoint(program.dual_point(program.predict(Z)))
        sizes = [block.norm.dual(M) for block, M in zip(program.blocks, duals)]
        p = int(np.argmax(sizes))
        if not sizes[p] > program.beta * (1 + ESCAPE_MARGIN):
            return None  # dual feasible: Z solves (C), theta is a global minimum
        block = program.blocks[p]
        P, _, Qt = block.norm.components(duals[p])
        factors = block_factors(program, Z)
        step = abs(value) / sizes[p]
        for _ in range(60):  # 2^-60 of value / sigma: below any drop float64 can resolve
            trial = [list(pairs) for pairs in factors]
            trial[p] += block.norm.pairs(P[:, :1], np.array([step]), Qt[:1], block.shape)
            if theorem.heads_needed(trial) > m:
                return None
            start = theorem.pack(theorem.weights_from_factors(trial, m))
            if theorem.objective(start, m) < value:
                return start
            step /= 2
        return None


def _has_unused_head(theorem: Theorem, weights: list[np.ndarray]) -> bool:
    """Some head (index j of the axis m of weight_axes) is zero in every decayed array."""
    norms = None
    for (name, axes), array in zip(theorem.weight_axes.items(), weights):
        if name in theorem.undecayed:
            continue
        axis = axes.index("m")
        head = np.sqrt(np.sum(np.moveaxis(array, axis, -1) ** 2, axis=tuple(range(array.ndim - 1))))
        norms = head if norms is None else norms + head
    return norms is not None and bool(np.any(norms <= UNUSED_HEAD * max(float(norms.max()), np.finfo(float).tiny)))


@dataclass(frozen=True)
class RestartRun:
    """Final objectives of independent restarts of one objective, and the weights of the best."""

    seed: int
    stream: tuple[int, ...]
    values: np.ndarray
    best_theta: np.ndarray
    seconds: float
    escapes: np.ndarray  # per restart, the saddles escaped (module docstring); 0 for restarts not run by L-BFGS

    @property
    def best(self) -> float:
        return float(self.values.min())


def restart_rng(seed: int, stream: tuple[int, ...], k: int) -> np.random.Generator:
    """The generator of restart k."""
    return np.random.default_rng([seed, *stream, k])


def _lbfgs(objective: Objective, theta0: np.ndarray, value_scale: float, theta_scale: float,
           options: dict) -> tuple[float, np.ndarray]:
    """L-BFGS-B on phi -> f(theta_scale phi) / value_scale from theta0 / theta_scale: scale-free in both."""
    def scaled(phi: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = objective.value_and_gradient(theta_scale * phi)
        return value / value_scale, grad * (theta_scale / value_scale)
    result = minimize(scaled, theta0 / theta_scale, jac=True, method="L-BFGS-B", options=options)
    return float(result.fun) * value_scale, result.x * theta_scale


def local_minimum(objective: Objective, theta0: np.ndarray, options: dict = LBFGS_OPTIONS) -> tuple[float, np.ndarray]:
    """L-BFGS from theta0, then again on the objective divided by the value reached; returns value and weights.

    Both runs see the weights divided by |theta0| and the objective divided by its size, so that L-BFGS-B's
    absolute tests (gtol, and ftol, which divides by max(|f|, 1)) mean the same at every scale of the data: data
    scaled by 1e20 left the restarts 1e-5 above C* without this (docs/theory.md §10.1).  The second run, on f / f_1,
    makes the ftol test relative where the first ended well below the start.
    """
    theta_scale = float(np.linalg.norm(theta0)) or 1.0
    start = abs(objective.value_and_gradient(theta0)[0]) or 1.0
    value, theta = _lbfgs(objective, theta0, start, theta_scale, options)
    return _lbfgs(objective, theta, abs(value), theta_scale, options) if value != 0 else (value, theta)


def escaping_minimum(objective: Objective, theta0: np.ndarray, options: dict = LBFGS_OPTIONS
                     ) -> tuple[float, np.ndarray, int]:
    """:func:`local_minimum`, continued from the objective's ``escape`` point while it offers one (at most
    MAX_ESCAPES times); returns value, weights and the number of escapes."""
    value, theta = local_minimum(objective, theta0, options)
    escape = getattr(objective, "escape", None)
    escapes = 0
    while escape is not None and escapes < MAX_ESCAPES:
        start = escape(theta, value)
        if start is None:
            break
        escapes += 1
        value, theta = local_minimum(objective, start, options)
    return value, theta, escapes


def batch_value_and_gradient(objective: Objective, Theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The objective's vectorised evaluation, or a loop over its serial one."""
    if hasattr(objective, "batch_value_and_gradient"):
        return objective.batch_value_and_gradient(Theta)
    pairs = [objective.value_and_gradient(theta) for theta in Theta]
    return np.array([v for v, _ in pairs]), np.array([g for _, g in pairs]).reshape(Theta.shape)


def phase_one(objective: Objective, Theta: np.ndarray, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """Barzilai-Borwein gradient descent on every row of Theta at once; a step that raises a row's value is rejected
    and that row's step halved, so every value decreases monotonically.  Returns values and weights."""
    values, grads = batch_value_and_gradient(objective, Theta)
    steps = 1e-3 * np.linalg.norm(Theta, axis=1) / np.maximum(np.linalg.norm(grads, axis=1), 1e-300)
    for _ in range(iterations):
        trial = Theta - steps[:, None] * grads
        new_values, new_grads = batch_value_and_gradient(objective, trial)
        accept = new_values <= values
        s, dg = trial - Theta, new_grads - grads
        curvature = np.einsum("rn,rn->r", s, dg)
        bb = np.where(curvature > 0, np.einsum("rn,rn->r", s, s) / np.where(curvature > 0, curvature, 1.0), steps)
        steps = np.where(accept, bb, 0.5 * steps)
        Theta = np.where(accept[:, None], trial, Theta)
        values, grads = np.where(accept, new_values, values), np.where(accept[:, None], new_grads, grads)
    return values, Theta


def run_restarts(objective: Objective, count: int, seed: int, stream: tuple[int, ...] = (), *, batched: bool = False,
                 options: dict = LBFGS_OPTIONS, iterations: int = PHASE_ONE_ITERATIONS, polish: int = POLISH,
                 progress: Progress | None = None, workers: int = 1) -> RestartRun:
    """``count`` restarts (module docstring), their L-BFGS runs on ``workers`` joblib workers (proofs_check.parallel);
    ``progress(done, count)`` is called before the first and after each."""
    workers = check_workers(workers)
    say = progress or (lambda done, total: None)
    say(0, count)
    start = time.perf_counter()
    starts = np.array([objective.init(restart_rng(seed, stream, k)) for k in range(count)])
    with limited_blas():
        if batched:
            values, Theta = phase_one(objective, starts, iterations)
            chosen = np.argsort(values)[:max(polish, 1)]
        else:
            values, Theta, chosen = np.full(count, np.inf), starts, np.arange(count)
        best_value, best_theta, escapes = np.inf, None, np.zeros(count, dtype=int)
        minima = run_tasks(escaping_minimum, ((objective, Theta[k], options) for k in chosen), workers)
        for k, (value, theta, escaped) in zip(chosen, minima):
            values[k], escapes[k] = value, escaped
            if value <= best_value:
                best_value, best_theta = value, theta
            say(int(k) + 1 if not batched else count, count)
    return RestartRun(seed, stream, values, best_theta, time.perf_counter() - start, escapes)
