"""Validation of the data every theorem is stated on (THEORY.md §1, "Conventions").

Sample i is a token matrix X_i in R^{s x d} with a token-wise target Y_i in R^{s x c}; the arrays are stacked
as X of shape (N, s, d) and Y of shape (N, s, c).  Everything that reaches a theorem passes through
:func:`check_data` and :func:`check_beta`, so bad input is an :class:`InputError` with a one-line message,
never a silent wrong number.
"""

from __future__ import annotations

import numpy as np

from theory.errors import InputError


def _as_float_array(value: object, name: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} is not a numeric array ({exc})") from None
    if array.ndim != 3:
        raise InputError(f"{name} must have 3 axes (N, s, {'d' if name == 'X' else 'c'}), got shape {array.shape}")
    if 0 in array.shape:
        raise InputError(f"{name} has an empty axis: shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise InputError(f"{name} contains non-finite values (NaN or inf)")
    return array


def check_data(X: object, Y: object) -> tuple[np.ndarray, np.ndarray]:
    """Return X (N, s, d) and Y (N, s, c) as float64 arrays, or raise InputError naming the problem."""
    X = _as_float_array(X, "X")
    Y = _as_float_array(Y, "Y")
    if X.shape[0] != Y.shape[0]:
        raise InputError(f"X and Y disagree on the number of samples N: {X.shape[0]} != {Y.shape[0]}")
    if X.shape[1] != Y.shape[1]:
        raise InputError(f"X and Y disagree on the number of tokens s: {X.shape[1]} != {Y.shape[1]}")
    return X, Y


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
