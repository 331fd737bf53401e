"""Hypothesis profiles, chosen by the environment variable HYPOTHESIS_PROFILE.

- ``dev`` (default on a workstation): few examples, random, for quick edits.
- ``ci`` (default when CI=true): derandomized, so CI cannot flake; sized so the whole suite stays well within
  10 minutes on 2 cores.
- ``thorough``: many examples; may run for an hour; not CI's.
"""

import os

from hypothesis import HealthCheck, settings

_common = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
settings.register_profile("dev", max_examples=4, **_common)
settings.register_profile("ci", max_examples=6, derandomize=True, print_blob=True, **_common)
settings.register_profile("thorough", max_examples=200, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") == "true" else "dev"))
