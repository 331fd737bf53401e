"""The mathematics: one module per theorem, and the registry the harness and the CLI walk.

Each registered class implements :class:`theory.base.Theorem`.  ``REGISTRY`` maps the theorem's name (as
docs/theory.md writes it) to the class; :func:`get` turns an unknown name into an InputError.
"""

from __future__ import annotations

from theory.afno import AFNO
from theory.base import Theorem
from theory.convex_attention import ConvexAttention
from theory.convex_attention_fc import ConvexAttentionFC
from theory.convex_attention_scalar import ConvexAttentionScalar
from theory.convex_attention_vector import ConvexAttentionVector
from theory.errors import InputError, SolverFailure
from theory.fno import FNO
from theory.fno_modes import FNOModes
from theory.gated_relu_attention import GatedReLUAttention
from theory.gated_relu_mixer import GatedReLUMixer
from theory.linear_attention import LinearAttention
from theory.linear_mlp import LinearMLP
from theory.mlp_mixer import MLPMixer
from theory.relu_attention import ReLUAttention
from theory.relu_attention_fc import ReLUAttentionFC
from theory.relu_mixer import ReLUMixer

REGISTRY: dict[str, type[Theorem]] = {cls.name: cls for cls in (LinearMLP, LinearAttention, GatedReLUAttention, ReLUAttention, ConvexAttention, ConvexAttentionScalar, ConvexAttentionVector, ConvexAttentionFC, ReLUAttentionFC, MLPMixer, GatedReLUMixer, ReLUMixer, FNO, FNOModes, AFNO)}


def get(name: str) -> type[Theorem]:
    """The theorem class registered under ``name``."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise InputError(f"unknown theorem {name!r}; known: {', '.join(REGISTRY)}") from None


__all__ = ["REGISTRY", "InputError", "SolverFailure", "Theorem", "get"]
