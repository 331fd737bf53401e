"""Hypothesis strategies for the instances the theorems are checked on.

An instance is (X, Y, beta, seed): shapes small enough for cvxpy and restarts, beta log-uniform over four
decades, the data scaled by a factor drawn over two decades (the targets scale with it), and a seed that drives
both the data and the theorem's own random choices (gates, restarts).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

import theory
from theory.lifted import Block, LiftedProgram, beta_max
from theory.losses import CROSS_ENTROPY, Loss, SQUARED
from theory.regularisers import FROBENIUS, NUCLEAR


@st.composite
def instances(draw, max_N: int = 6, max_s: int = 4, max_d: int = 3, max_c: int = 2, beta_decades=(-3, 1)):
    N = draw(st.integers(2, max_N))
    s = draw(st.integers(1, max_s))
    d = draw(st.integers(1, max_d))
    c = draw(st.integers(1, max_c))
    seed = draw(st.integers(0, 2**32 - 1))
    log_beta = draw(st.floats(*beta_decades))
    log_scale = draw(st.floats(-1, 1))
    rng = np.random.default_rng(seed)
    scale = 10.0**log_scale
    X = scale * rng.standard_normal((N, s, d))
    Y = scale * rng.standard_normal((N, s, c))
    return X, Y, float(10.0**log_beta), seed


#: Smaller shapes where the default ones cost too much for CI: relu-attention enumerates every logit pattern
#: exactly (theory.arrangements; N = 2, s = 2, d = 2 gives up to 108 patterns, each a block of the program), and
#: relu-mixer the product of its rows' cells (N = 2, s = 2, d = 2: up to 8 cells per row, 64 patterns; s = 3 is
#: refused),
#: relu-attention-fc has 2^N - 1 sample patterns with s^2 blocks each and restarts of width N c + 1 per row (N = 6
#: took 50 s for the witnesses alone), and the gated theorems train P = 3 gates x (zero-gap width) heads in every
#: restart.
LIMITS: dict[str, dict[str, int]] = {"relu-attention": {"max_N": 2, "max_s": 2, "max_d": 2},
                                     "relu-attention-fc": {"max_N": 3, "max_s": 2, "max_d": 2},
                                     "relu-mixer": {"max_N": 2, "max_s": 2, "max_d": 2},
                                     "gated-relu-attention": {"max_N": 4, "max_s": 3},
                                     "gated-relu-mixer": {"max_N": 4, "max_s": 3},
                                     "convex-attention-scalar": {"max_c": 1}}


def sample_targets(name: str, Y: np.ndarray) -> np.ndarray:
    """Token-wise targets (N, s, c) as the theorem takes them: unchanged, or the first token's row (N, c) for the
    read-out theorems of one target per sample (Theorem.sample_targets)."""
    return Y[:, 0, :] if theory.get(name).sample_targets else Y


def instances_for(name: str):
    """:func:`instances` within the theorem's LIMITS, with targets of the shape the theorem takes."""
    return instances(**LIMITS.get(name, {})).map(lambda case: (case[0], sample_targets(name, case[1]), *case[2:]))


@st.composite
def loss_instances(draw, name: str, loss: Loss):
    """An instance of :func:`instances_for` whose targets suit ``loss``, pooled (one row per sample) or token-wise:
    for the cross-entropy loss integer labels over 2 or 3 classes, every class present (a seeded permutation of
    0, 1, .., c - 1 repeated); for the others the drawn targets, averaged over tokens when pooled."""
    X, Y, beta, seed = draw(instances_for(name))
    pooled = theory.get(name).sample_targets or draw(st.booleans())
    if loss != CROSS_ENTROPY:
        return X, Y.mean(axis=1) if pooled and Y.ndim == 3 else Y, beta, seed
    shape = X.shape[:1] if pooled else X.shape[:2]
    classes = draw(st.integers(2, 3))
    assume(int(np.prod(shape)) >= classes)
    labels = np.random.default_rng([seed, 1]).permutation(np.arange(int(np.prod(shape))) % classes)
    return X, labels.reshape(shape), beta, seed


def bind(name: str, X: np.ndarray, Y: np.ndarray, beta: float, seed: int, loss: Loss = SQUARED) -> theory.Theorem:
    """The theorem ``name`` bound to the instance, as the CLI binds it to a data file."""
    return theory.get(name).from_arrays({"X": X, "Y": Y}, beta, seed, loss=loss)


@st.composite
def structured_instances(draw, name: str):
    """Instances that are not only Gaussian, within the theorem's LIMITS: (X, Y, beta, seed) with

    - X scaled by 10^u, u uniform in [-3, 3] (six decades), possibly with duplicate tokens (the last token of every
      sample a copy of the first) and possibly rank-deficient (stacked X = G B^T of rank k < d);
    - a realisable target: Y = f(X) of a planted network of the theorem's own family (1 or 2 heads, standard
      normal weights from the seed, gates from the same seed) plus Gaussian noise of relative size 0 or 10^v,
      v uniform in [-3, 0];
    - beta = 10^w beta_max, w uniform in [-3, -0.3], beta_max the smallest beta at which Z* = 0 (theory.lifted),
      so that the optimum is never trivially zero whatever the scale.
    """
    limits = {"max_N": 6, "max_s": 4, "max_d": 3, "max_c": 2, **LIMITS.get(name, {})}
    N, s = draw(st.integers(2, limits["max_N"])), draw(st.integers(1, limits["max_s"]))
    d, c = draw(st.integers(1, limits["max_d"])), draw(st.integers(1, limits["max_c"]))
    seed = draw(st.integers(0, 2**32 - 1))
    duplicate = s >= 2 and draw(st.booleans())
    rank = draw(st.integers(1, d - 1)) if d >= 2 and draw(st.booleans()) else d
    log_scale, heads = draw(st.floats(-3, 3)), draw(st.integers(1, 2))
    noise = draw(st.one_of(st.just(0.0), st.floats(-3, 0).map(lambda v: 10.0**v)))
    log_beta = draw(st.floats(-3, -0.3))
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N * s, rank)) @ rng.standard_normal((rank, d))
    X = 10.0**log_scale * X.reshape(N, s, d)
    if duplicate:
        X[:, -1] = X[:, 0]
    planted = bind(name, X, sample_targets(name, np.zeros((N, s, c))), 1.0, seed)
    F = planted.forward(planted.unpack(rng.standard_normal(planted.n_params(heads)), heads))
    Y = F + noise * float(np.sqrt(np.mean(F * F))) * rng.standard_normal(F.shape)
    largest = beta_max(replace(planted.program, target=Y.reshape(-1)))
    assume(largest > 0)  # a planted network whose output is 0 (every ReLU or gate off): no target to fit
    return X, Y, float(10.0**log_beta * largest), seed


def mixed_program(seed: int, rows: int = 20, frobenius: int = 2) -> LiftedProgram:
    """A dense program with blocks of every kind the solvers treat differently: tall and wide nuclear blocks and
    ``frobenius`` Frobenius blocks of one shape (no class structure), standard normal maps and targets, beta 0.5."""
    rng = np.random.default_rng(seed)
    shapes = [((5, 3), NUCLEAR), ((2, 6), NUCLEAR)] + [((3, 2), FROBENIUS)] * frobenius
    blocks = tuple(Block(rng.standard_normal((rows, r * c)), (r, c), norm) for (r, c), norm in shapes)
    return LiftedProgram(blocks, rng.standard_normal(rows), 0.5)
