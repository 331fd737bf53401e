"""Weights files: a network's weights as an .npz archive (numpy.savez), one array per name of the theorem's
``weight_axes`` (theory.base.Theorem), in the theorem's documented parametrisation.

The arrays' axes are the letters of that declaration: m heads (or units: per gate for the gated theorems, per query
row for the convex-attention family; channels for fno-modes), P gates, s tokens, d features, c outputs, k kept Fourier
modes (fno-modes, whose complex weights are stored as their real and imaginary parts, U_re and U_im).  The width m is read off the file
(the first array with an m axis) and every shape must then be the declared one on the data the theorem is bound to.
Gates are not weights: the gated theorems read them from the data file (``H``; ``C`` and ``G`` for
convex-attention-fc) or draw them from the seed, as `proofs-check verify` does.

Everything that can be wrong with a weights file is one InputError line: a name the theorem does not have or one it
needs and the file lacks, a wrong shape, a non-numeric, complex or non-finite array.  The file itself is read by
proofs_check.datafile.load_npz (missing, not a zip archive, pickled objects).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from proofs_check.datafile import load_npz
from theory.base import Theorem
from theory.errors import InputError


def axes_text(axes: tuple[str, ...]) -> str:
    return f"({', '.join(axes)})"


def layout(cls: type[Theorem]) -> str:
    """The weight arrays of a theorem as text: ``W1 (m, d, d), W2 (m, d, c)``; undecayed arrays are marked."""
    return ", ".join(f"{name} {axes_text(axes)}" + (" no decay" if name in cls.undecayed else "")
                     for name, axes in cls.weight_axes.items())


def width(theorem: Theorem, arrays: Mapping[str, np.ndarray]) -> int:
    """m, read off the first declared array with an m axis (its shape is checked in full by :func:`check_weights`)."""
    for name, axes in theorem.weight_axes.items():
        if "m" in axes and np.ndim(arrays[name]) == len(axes):
            return int(np.shape(arrays[name])[axes.index("m")])
    name, axes = next(iter(theorem.weight_axes.items()))
    raise InputError(f"weights {name} has {np.ndim(arrays[name])} axes, expected {len(axes)}: {axes_text(axes)}")


def _real(name: str, array: object) -> np.ndarray:
    array = np.asarray(array)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise InputError(f"weights {name} must hold real numbers, got dtype {array.dtype}")
    if not np.all(np.isfinite(array)):
        raise InputError(f"weights {name} contain non-finite values")
    return array.astype(float)


def check_weights(theorem: Theorem, arrays: Mapping[str, object]) -> tuple[list[np.ndarray], int]:
    """The weight arrays in the theorem's order, as float64, and the width m; an InputError for anything else."""
    names = list(theorem.weight_axes)
    unknown = [key for key in arrays if key not in theorem.weight_axes]
    missing = [name for name in names if name not in arrays]
    if unknown or missing:
        found = ", ".join(arrays) or "none"
        raise InputError(f"{theorem.name} weights are {layout(type(theorem))}; found {found}")
    weights = {name: _real(name, arrays[name]) for name in names}
    m = width(theorem, weights)
    sizes = theorem.axis_sizes(m)
    for (name, axes), shape in zip(theorem.weight_axes.items(), theorem.param_shapes(m)):
        if weights[name].shape != shape:
            given = ", ".join(f"{axis}={sizes[axis]}" for axis in dict.fromkeys(axes))
            raise InputError(f"weights {name} has shape {weights[name].shape}, expected {axes_text(axes)} = {shape} "
                             f"({given} from the data and the width of the file)")
    return [weights[name] for name in names], m


def load_weights(theorem: Theorem, path: Path | str) -> tuple[list[np.ndarray], int]:
    """The weights file at ``path`` checked against the bound theorem (:func:`check_weights`)."""
    return check_weights(theorem, load_npz(Path(path), required=(), what="weights file"))


def save_weights(weights: Mapping[str, np.ndarray], path: Path | str) -> Path:
    """Write ``weights`` (name -> array) as a weights file that :func:`load_weights` reads back; returns its path
    (numpy.savez appends .npz when the name lacks it)."""
    path = Path(path)
    np.savez(path, **weights)
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")
