"""The harness: random restarts, the convex solve, the witnesses, their tolerances, reports and the CLI.

``import proofs_check as pc`` is also the Python API (proofs_check.api): ``pc.verify``, ``pc.solve``,
``pc.certify``, ``pc.theorem``, ``pc.theorems``, ``pc.weight_layout``, ``pc.load_npz``, ``pc.load_weights`` and
``pc.save_weights``.  They are imported on first use, so that importing a submodule (or the pytest plugin,
proofs_check.pytest_plugin, which pytest loads in every run) does not load the solvers.
"""

from __future__ import annotations

API = ("Certification", "Optimum", "certify", "load_npz", "load_weights", "save_weights", "solve", "theorem",
       "theorems", "verify", "weight_layout")


def __getattr__(name: str) -> object:
    if name in API:
        from proofs_check import api

        return getattr(api, name)
    raise AttributeError(f"module 'proofs_check' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(API))


__all__ = list(API)
