"""The Python API, re-exported by ``import proofs_check as pc``: one call per job, each returning a record whose
``to_json()`` is the dict that the matching command's ``--json`` writes.

- :func:`theorem` binds a registered theorem to data: a path to an .npz file, a mapping of arrays (X, Y and the
  theorem's options such as gates H), or None for the theorem's default instance drawn from ``seed``;
- :func:`verify` (``proofs-check verify``/``run``): the convex solve, the restarts and the witnesses, a
  proofs_check.harness.Verification;
- :func:`solve`: the certified convex optimum C*, its lower bound and the globally optimal weights recovered from
  it, an :class:`Optimum`;
- :func:`certify` (``proofs-check certify``): your weights' training objective against the certified lower bound on
  every network of the theorem, a :class:`Certification`.

Weights are mappings name -> array in the theorem's parametrisation (``weight_axes``; proofs_check.weights) or
paths to such .npz files.  ``beta`` defaults to the theorem's default weight decay, as on the command line.
Bad input raises theory.errors.InputError (one line), an uncertifiable solve theory.errors.SolverFailure.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Union

import numpy as np

import theory
from proofs_check import tolerances as tol
from proofs_check.datafile import load_npz
from proofs_check.optimum import Optimum, find_optimum
from proofs_check.parallel import check_workers
from proofs_check.harness import Verification
from proofs_check.harness import verify as _verify
from proofs_check.weights import check_weights, load_weights, save_weights
from theory.base import Theorem
from theory.errors import InputError
from theory.lifted import objective_scale
from theory.losses import get_loss

Data = Union[str, os.PathLike, Mapping[str, np.ndarray], None]
Weights = Union[str, os.PathLike, Mapping[str, np.ndarray]]


def theorems() -> list[str]:
    """The names of the registered theorems."""
    return list(theory.REGISTRY)


def weight_layout(name: str) -> dict[str, tuple[str, ...]]:
    """The weight arrays of a theorem and their axes (m heads, P gates, s tokens, d features, c outputs, k modes)."""
    return dict(theory.get(name).weight_axes)


def theorem(name: str, data: Data = None, *, beta: float | None = None, beta_fraction: float | None = None,
            seed: int = 0, loss: str = "squared", gates: int | None = None, modes: int | None = None,
            channel_blocks: int | None = None) -> Theorem:
    """The theorem ``name`` bound to ``data`` (module docstring) with weight decay ``beta`` (default: the theorem's
    default_beta) or ``beta_fraction`` times its beta_max on these data, ``loss`` (theory.losses) and, for gated
    theorems without gates in the data, ``gates`` drawn from ``seed``; for the Fourier theorems ``modes``, the kept
    modes (default all), and for afno ``channel_blocks``.  Every command binds through here."""
    if beta is not None and beta_fraction is not None:
        raise InputError("give beta or beta_fraction, not both")
    cls = theory.get(name)
    given = (("gates", gates), ("modes", modes), ("channel_blocks", channel_blocks))
    options = {"loss": get_loss(loss), **{key: value for key, value in given if value is not None}}
    if data is None:
        bound = cls.default_instance(seed, **options)
    else:
        arrays = load_npz(Path(data)) if isinstance(data, (str, os.PathLike)) else dict(data)
        for key in ("X", "Y"):
            if key not in arrays:
                raise InputError(f"the data hold no array {key} (found: {', '.join(arrays) or 'none'})")
        bound = cls.from_arrays(arrays, cls.default_beta, seed, **options)
    if beta_fraction is not None:
        return bound.rebind(fraction=beta_fraction)
    return bound if beta is None else bound.rebind(beta)


def _bound(name: str | Theorem, data: Data, **binding: object) -> Theorem:
    if isinstance(name, Theorem):
        if data is not None or any(value is not None for key, value in binding.items() if key != "seed"):
            raise InputError("a bound theorem carries its own data, beta, loss, gates and modes")
        return name
    return theorem(name, data, **{key: value for key, value in binding.items() if value is not None})


def verify(name: str | Theorem, data: Data = None, *, beta: float | None = None, seed: int = 0,
           loss: str | None = None, gates: int | None = None, modes: int | None = None,
           channel_blocks: int | None = None, heads: int | None = None, restarts: int = 20,
           solver: str = "auto", batched: bool = False, convex_only: bool = False, workers: int = 1,
           exact: bool = False) -> Verification:
    """Verify a theorem on data (proofs_check.harness.verify): the record of ``proofs-check verify --json``.
    ``workers``: the restarts on that many local processes (proofs_check.parallel; the same values as serially).
    ``exact``: also solve the theorem's exact program and certify its network (``--exact``; relu-attention,
    relu-mixer)."""
    bound = _bound(name, data, beta=beta, seed=seed, loss=loss, gates=gates, modes=modes,
                   channel_blocks=channel_blocks)
    return _verify(bound, heads=heads, restarts=restarts, seed=seed, solver=solver, batched=batched,
                   convex_only=convex_only, workers=check_workers(workers), exact=exact)


def solve(name: str | Theorem, data: Data = None, *, beta: float | None = None, seed: int = 0,
          loss: str | None = None, gates: int | None = None, modes: int | None = None,
          channel_blocks: int | None = None, solver: str = "auto") -> Optimum:
    """The certified convex optimum of a theorem on data, with the recovered globally optimal weights."""
    return find_optimum(_bound(name, data, beta=beta, seed=seed, loss=loss, gates=gates, modes=modes,
                   channel_blocks=channel_blocks), solver)


@dataclass(frozen=True)
class Certification:
    """How far given weights are from the global optimum: their training objective l(f(X), Y) + beta/2 |theta|^2
    (decayed arrays only), the certified lower bound LB on every network of the theorem, and the certified relative
    suboptimality (objective - LB) / |objective| (|objective| floored as in theory.lifted.objective_scale),
    an upper bound on the true relative distance to the global optimum.

    ``consistent`` is False when the objective lies below LB by more than float64 round-off
    (proofs_check.tolerances.ROUNDOFF): impossible by weak duality, so a bug or weights of another network."""

    theorem: str
    loss: str
    dims: dict[str, int]
    beta: float
    seed: int
    heads: int  # the width m of the given weights
    objective: float
    lower_bound: float
    relative_suboptimality: float
    consistent: bool
    optimum: Optimum
    optimum_file: str | None = None

    def to_json(self) -> dict[str, object]:
        fields = {key: value for key, value in self.__dict__.items() if key != "optimum"}
        return {**fields, "optimum": self.optimum.to_json()}


def certify(name: str | Theorem, data: Data, weights: Weights, *, beta: float | None = None, seed: int = 0,
            loss: str | None = None, gates: int | None = None, modes: int | None = None,
            channel_blocks: int | None = None, solver: str = "auto",
            save_optimum: str | os.PathLike | None = None) -> Certification:
    """Certify ``weights`` (a weights file or mapping, proofs_check.weights) of theorem ``name`` on ``data`` against
    the certified lower bound; ``save_optimum`` writes the recovered optimal weights in the same format."""
    bound = _bound(name, data, beta=beta, seed=seed, loss=loss, gates=gates, modes=modes,
                   channel_blocks=channel_blocks)
    arrays, m = (load_weights(bound, weights) if isinstance(weights, (str, os.PathLike))
                 else check_weights(bound, weights))
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused just below, with its reason
        objective = bound.objective(bound.pack(arrays), m)
    if not np.isfinite(objective):
        raise InputError(f"the objective of these weights is not finite ({objective}): their scale overflows float64")
    optimum = solve(bound, solver=solver)
    scale = objective_scale(bound.program, objective)
    written = None if save_optimum is None else str(save_weights(optimum.weights, save_optimum))
    return Certification(bound.name, bound.loss.name, bound.dims, bound.beta, seed, m, objective, optimum.lower_bound,
                         (objective - optimum.lower_bound) / scale,
                         (objective - optimum.lower_bound) / scale >= -tol.ROUNDOFF, optimum, written)


__all__ = ["Certification", "Optimum", "certify", "load_npz", "load_weights", "save_weights", "solve", "theorem",
           "theorems", "verify", "weight_layout"]
