"""Hypothesis profiles, chosen by the environment variable HYPOTHESIS_PROFILE: ``dev`` (default on a workstation),
``ci`` (default when CI=true) and ``thorough``, defined in proofs_check/hypothesis_profiles.py."""

from hypothesis import settings

from proofs_check.hypothesis_profiles import chosen, register

register()
settings.load_profile(chosen())
