"""The environment of a run, recorded beside its numbers (report.json, `proofs-check reproduce --json`): the
versions of Python, the platform, the package and its numerical dependencies, the BLAS libraries with their thread
counts (threadpoolctl) and the CPU count."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys

#: The distributions whose versions can change a number: the package itself, the array and solver stack.
PACKAGES = ("proofs-check", "numpy", "scipy", "cvxpy", "clarabel", "scs", "ecos", "scikit-learn", "threadpoolctl",
            "matplotlib")


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment() -> dict[str, object]:
    """Versions, BLAS and CPUs of this process (BLAS as loaded now: numpy and scipy are imported first)."""
    import numpy  # noqa: F401  (load the BLAS libraries threadpoolctl reports)
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_info

    blas = [{key: pool.get(key) for key in ("user_api", "internal_api", "version", "num_threads", "prefix",
                                            "threading_layer", "architecture")} for pool in threadpool_info()]
    packages = {name: _version(name) for name in PACKAGES}
    summary = (f"Python {platform.python_version()}, " + ", ".join(f"{k} {v}" for k, v in packages.items() if v)
               + f"; {os.cpu_count()} CPUs; BLAS " + ", ".join(f"{b['internal_api']} {b['version']} "
                                                               f"({b['num_threads']} threads)" for b in blas))
    return {"python": sys.version, "platform": platform.platform(), "machine": platform.machine(),
            "cpu_count": os.cpu_count(), "packages": packages, "blas": blas,
            "blas_thread_limit": os.environ.get("PROOFS_CHECK_BLAS_THREADS"), "summary": summary}
