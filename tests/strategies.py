"""Hypothesis strategies for the instances the theorems are checked on.

An instance is (X, Y, beta, seed): shapes small enough for cvxpy and restarts, beta log-uniform over four
decades, the data scaled by a factor drawn over two decades (the targets scale with it), and a seed that drives
both the data and the theorem's own random choices (gates, restarts).
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import theory


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
#: exactly (theory.arrangements; N = 2, s = 2, d = 2 gives up to 108 patterns, each a block of the program),
#: relu-attention-fc has 2^N - 1 sample patterns with s^2 blocks each and restarts of width N c + 1 per row (N = 6
#: took 50 s for the witnesses alone), and the gated theorems train P = 3 gates x (zero-gap width) heads in every
#: restart.
LIMITS: dict[str, dict[str, int]] = {"relu-attention": {"max_N": 2, "max_s": 2, "max_d": 2},
                                     "relu-attention-fc": {"max_N": 3, "max_s": 2, "max_d": 2},
                                     "gated-relu-attention": {"max_N": 4, "max_s": 3},
                                     "gated-relu-mixer": {"max_N": 4, "max_s": 3}}


def instances_for(name: str):
    """:func:`instances` within the theorem's LIMITS."""
    return instances(**LIMITS.get(name, {}))


def bind(name: str, X: np.ndarray, Y: np.ndarray, beta: float, seed: int) -> theory.Theorem:
    """The theorem ``name`` bound to the instance, as the CLI binds it to a data file."""
    return theory.get(name).from_arrays({"X": X, "Y": Y}, beta, seed)
