"""The hypothesis profiles of the test suite, defined once, for the project's conftest.py and for the pytest plugin.

- ``dev`` (default on a workstation): few examples, random, for quick edits;
- ``ci`` (default when CI=true): derandomized, so CI cannot flake; sized so the whole suite stays well within
  10 minutes on 2 cores;
- ``thorough``: many examples; may run for an hour; not CI's.

The project's conftest.py registers them under these names and loads the one :func:`chosen` names.  The pytest
plugin (proofs_check.pytest_plugin) registers the same settings as ``proofs-check-dev``, ``proofs-check-ci`` and
``proofs-check-thorough`` and loads none, so another project's own profiles (and this project's run) are left
as they are: ``pytest --hypothesis-profile=proofs-check-ci`` picks one.
"""

from __future__ import annotations

import os
from typing import Mapping

PROFILES: dict[str, dict[str, object]] = {
    "dev": {"max_examples": 4},
    "ci": {"max_examples": 6, "derandomize": True, "print_blob": True},
    "thorough": {"max_examples": 200},
}

#: The prefix of the plugin's profile names.
PLUGIN_PREFIX = "proofs-check-"


def register(prefix: str = "") -> list[str]:
    """Register every profile under ``prefix + name``; returns the registered names."""
    from hypothesis import HealthCheck, settings

    common = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
    for name, options in PROFILES.items():
        settings.register_profile(prefix + name, **common, **options)
    return [prefix + name for name in PROFILES]


def chosen(environ: Mapping[str, str] = os.environ) -> str:
    """The profile HYPOTHESIS_PROFILE names; ``ci`` when CI=true and it is unset, else ``dev``."""
    return environ.get("HYPOTHESIS_PROFILE", "ci" if environ.get("CI") == "true" else "dev")
