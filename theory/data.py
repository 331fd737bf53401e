"""Validation of the data every theorem is stated on (docs/theory.md §1, "Conventions").

Sample i is a token matrix X_i in R^{s x d}; the arrays are stacked as X of shape (N, s, d).  Targets are
token-wise, one row per token (N, s, c), or pooled, one row per sample (N, c), the network output then being
averaged over tokens.  For the cross-entropy loss the targets are integer labels, (N, s) token-wise or (N,) pooled,
turned into one-hot rows over c = (largest label + 1) classes, or rows of probabilities (library use).

Everything that reaches a theorem passes through :func:`check_data` and :func:`check_beta`, so bad input is an
:class:`InputError` with a one-line message, never a silent wrong number (no silent cast of complex values, no
float labels rounded to classes).
"""

from __future__ import annotations

import numpy as np

from theory.errors import InputError
from theory.losses import CROSS_ENTROPY, SQUARED, Loss

#: Probability rows of cross-entropy targets must sum to 1 within this (float64 round-off of a sum of c terms).
SIMPLEX_TOL = 1e-9
#: The largest entry of X, and of non-zero targets Y, must lie in this range.  The solvers and the restarts are scale
#: free inside it (the lifted features of attention are cubic in X, up to 1e90 here, and squared norms 1e180 stay in
#: float64); every witness was checked at its ends against the unscaled problem (tests/theory/test_data.py).
SCALE_RANGE = (1e-30, 1e30)


def numeric_array(value: object, name: str) -> np.ndarray:
    """``value`` as an array of real numbers (integers or floats), or an InputError naming what it is instead."""
    array = np.asarray(value)
    if array.dtype.kind == "c":
        raise InputError(f"{name} is complex ({array.dtype}); only real data is accepted")
    if array.dtype.kind not in "iuf":
        raise InputError(f"{name} is not a numeric array (dtype {array.dtype})")
    return array


def _finite_float(array: np.ndarray, name: str, axes: tuple[str, ...]) -> np.ndarray:
    if array.ndim != len(axes):
        raise InputError(f"{name} must have {len(axes)} axes ({', '.join(axes)}), got shape {array.shape}")
    if 0 in array.shape:
        raise InputError(f"{name} has an empty axis: shape {array.shape}")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise InputError(f"{name} contains non-finite values (NaN or inf)")
    largest = float(np.abs(array).max())
    if (largest > 0 or name == "X") and not SCALE_RANGE[0] <= largest <= SCALE_RANGE[1]:
        raise InputError(f"the largest entry of {name}, {largest:.3g}, is outside [{SCALE_RANGE[0]:g}, "
                         f"{SCALE_RANGE[1]:g}]: rescale the data (C* scales exactly with it, docs/theory.md §1)")
    return array


def _labels(Y: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Integer labels of the given shape -> one-hot rows (shape + (c,)), c = largest label + 1, every class present."""
    if Y.shape != shape:
        raise InputError(f"cross-entropy labels Y must have shape {shape} (pooled: (N,), token-wise: (N, s)), "
                         f"got {Y.shape}")
    if Y.min() < 0:
        raise InputError(f"labels must be >= 0, found {Y.min()}")
    classes = int(Y.max()) + 1
    missing = sorted(set(range(classes)) - set(np.unique(Y).tolist()))
    if classes < 2 or missing:
        raise InputError(f"labels must be 0..c-1 with every class present and c >= 2; "
                         f"{'only one class' if classes < 2 else f'class {missing[0]} never appears'}")
    return np.eye(classes)[Y]


def _probabilities(T: np.ndarray) -> np.ndarray:
    if T.min() < 0 or np.abs(T.sum(axis=-1) - 1).max() > SIMPLEX_TOL:
        raise InputError("cross-entropy targets must be integer labels or rows of probabilities (>= 0, summing to 1)")
    return T


def check_tokens(X: object) -> np.ndarray:
    """Return the token matrices X (N, s, d) as a float64 array, or raise InputError."""
    return _finite_float(numeric_array(X, "X"), "X", ("N", "s", "d"))


def check_data(X: object, Y: object, loss: Loss = SQUARED) -> tuple[np.ndarray, np.ndarray]:
    """Return X (N, s, d) and the target rows T, (N, s, c) or (N, c), as float64 arrays, or raise InputError."""
    X = check_tokens(X)
    N, s = X.shape[:2]
    Y = numeric_array(Y, "Y")
    if loss == CROSS_ENTROPY and Y.dtype.kind in "iu":
        return X, _labels(Y, (N, s) if Y.ndim == 2 else (N,))
    if Y.ndim == 1:
        raise InputError(f"cross-entropy labels must be integers, got dtype {Y.dtype}" if loss == CROSS_ENTROPY else
                         f"Y of shape {Y.shape} holds one number per sample: labels need the cross-entropy loss")
    T = _finite_float(Y, "Y", ("N", "s", "c") if Y.ndim == 3 else ("N", "c"))
    if T.shape[0] != N:
        raise InputError(f"X and Y disagree on the number of samples N: {N} != {T.shape[0]}")
    if T.ndim == 3 and T.shape[1] != s:
        raise InputError(f"X and Y disagree on the number of tokens s: {s} != {T.shape[1]}")
    return X, _probabilities(T) if loss == CROSS_ENTROPY else T


def check_beta(beta: object) -> float:
    """Return the weight-decay strength as a float; it must be finite and > 0."""
    try:
        value = float(beta)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"beta must be a number, got {beta!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise InputError(f"beta must be finite and > 0, got {value}")
    return value


def check_positive_int(value: object, name: str) -> int:
    """Return value as an int >= 1, or raise InputError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)
