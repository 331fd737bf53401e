"""`afno`: AFNO's token mixing, linear -- one block-diagonal complex channel map shared by the kept Fourier modes
(docs/theory.md §6.3; the model after Guibas et al. 2022 without its non-linearity and soft-thresholding, the program
derived here).

Primal: the channels split into b equal blocks (d = b D inputs, c = b C outputs); block b has m channels with complex
weights u~_{j,b} = U_re + i U_im in C^D and v~_{j,b} = V_re + i V_im in C^C, the same at every kept mode:

    f(X) = irfft_s( [ x_hat_omega^T R ]_{omega < k} ),   R = blockdiag_b( sum_j u~_{j,b} v~_{j,b} ),
    weight decay beta/2 sum_{j, b} (|u~_{j,b}|^2 + |v~_{j,b}|^2).

Lifting (theory.spectral's real form, summed over the modes because the weights are shared): one real block per
channel block, W_b = sum_j [Re u~; Im u~][Re v~; Im v~]^T in R^{2D x 2C}, A_b(W) = sum_omega A_omega(W) on the
block's input and output channels.  Program min l(sum_b A_b(W_b)) + beta sum_b |W_b|_*, i.e. the block nuclear norm
over channel blocks sum_b |Z_b|_* of the complex diagonal blocks Z_b = Z(W_b); m* = max_b rank(W_b).
"""

from __future__ import annotations

from functools import cached_property
from typing import Mapping

import numpy as np

from theory.base import Factors, Theorem
from theory.errors import InputError
from theory.lifted import Block
from theory.losses import SQUARED, Loss
from theory.spectral import (check_modes, complex_rows, complex_weights, mode_features, phase_twin,
                             real_form_matrix)


def check_blocks(blocks: object, d: int, c: int) -> int:
    """The number b of channel blocks: an integer >= 1 dividing both d and c; InputError otherwise."""
    if isinstance(blocks, bool) or not isinstance(blocks, (int, np.integer)) or blocks < 1 or d % blocks or c % blocks:
        raise InputError(f"channel blocks must be an integer >= 1 dividing d = {d} and c = {c}, got {blocks!r}")
    return int(blocks)


class AFNO(Theorem):
    name = "afno"
    paper = ("ours, after AFNO (Guibas et al. 2022: block-diagonal channel mixing shared across modes; as commonly "
             "described, the paper not read here), linear; program derived here")
    equation = ("docs/theory.md §6.3: min l(sum_b A_b(W_b)) + beta sum_b |W_b|_*, W_b in R^{2D x 2C} = the complex "
                "block nuclear norm sum_b |Z_b|_* over channel blocks")
    statement = ("linear AFNO (a block-diagonal complex channel map shared by the lowest k modes) with weight decay "
                 "<=> block nuclear norm over channel blocks")
    weight_axes = {"U_re": ("m", "b", "D"), "U_im": ("m", "b", "D"), "V_re": ("m", "b", "C"), "V_im": ("m", "b", "C")}

    default_shapes = ((6, 4, 4), (6, 4, 4))  # X, Y of the default instance, standard normal: 2 blocks of 2 x 2
    default_beta = 0.1

    def __init__(self, X: np.ndarray, Y: np.ndarray, beta: float, modes: int | None = None,
                 blocks: int | None = None, loss: Loss = SQUARED) -> None:
        super().__init__(X, Y, beta, loss)
        s, d, c = self.X.shape[1], self.dims["d"], self.dims["c"]
        self.modes = check_modes(s // 2 + 1 if modes is None else modes, s)
        self.channel_blocks = check_blocks((2 if d % 2 == 0 and c % 2 == 0 else 1) if blocks is None else blocks, d, c)

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], beta: float, seed: int, loss: Loss = SQUARED,
                    **options: object) -> "AFNO":
        """Options ``modes`` (default all floor(s/2) + 1) and ``channel_blocks`` (default 2 when d and c are even,
        else 1)."""
        unknown = sorted(set(options) - {"modes", "channel_blocks"})
        if unknown:
            raise InputError(f"theorem {cls.name} takes no option {', '.join(unknown)}")
        return cls(arrays["X"], arrays["Y"], beta, options.get("modes"), options.get("channel_blocks"), loss)

    @property
    def block_dims(self) -> tuple[int, int]:
        """D, C: the input and output channels of one block."""
        return self.dims["d"] // self.channel_blocks, self.dims["c"] // self.channel_blocks

    def axis_sizes(self, m: int) -> dict[str, int]:
        D, C = self.block_dims
        return {**super().axis_sizes(m), "b": self.channel_blocks, "D": D, "C": C}

    @cached_property
    def features(self) -> tuple[np.ndarray, np.ndarray]:
        """L, M (N, s, b, 2D): theory.spectral's features summed over the kept modes, per channel block."""
        L, M = (F.sum(axis=2) for F in mode_features(self.X, self.modes))  # (N, s, 2d)
        d, (D, _) = self.dims["d"], self.block_dims
        rows = [np.r_[b * D:(b + 1) * D, d + b * D:d + (b + 1) * D] for b in range(self.channel_blocks)]
        return np.stack([L[..., r] for r in rows], axis=2), np.stack([M[..., r] for r in rows], axis=2)

    def _unblocked(self, F: np.ndarray) -> np.ndarray:
        """Outputs per block (..., b, C) laid out as the c output channels (block b holds channels b C .. b C + C - 1)."""
        return F.reshape(*F.shape[:-2], -1)

    def forward(self, weights: list[np.ndarray]) -> np.ndarray:
        U_re, U_im, V_re, V_im = weights
        L, M = self.features
        u = np.concatenate([U_re, U_im], axis=-1)  # (m, b, 2D)
        F = (np.einsum("itbr,jbr,jbe->itbe", L, u, V_re, optimize=True)
             + np.einsum("itbr,jbr,jbe->itbe", M, u, V_im, optimize=True))
        return self._unblocked(F)

    def forward_fft(self, weights: list[np.ndarray]) -> np.ndarray:
        """The same network by numpy's rfft / irfft with the block-diagonal R (module docstring)."""
        u, v = complex_weights(weights)
        s, d, c = self.X.shape[1], self.dims["d"], self.dims["c"]
        D, C = self.block_dims
        R = np.zeros((d, c), dtype=complex)
        for b in range(self.channel_blocks):
            R[b * D:(b + 1) * D, b * C:(b + 1) * C] = np.einsum("ja,je->ae", u[:, b], v[:, b])
        y_hat = np.zeros((len(self.X), s // 2 + 1, c), dtype=complex)
        y_hat[:, :self.modes] = np.fft.rfft(self.X, axis=1, norm="ortho")[:, :self.modes] @ R
        return np.fft.irfft(y_hat, n=s, axis=1, norm="ortho")

    def backward(self, weights: list[np.ndarray], dF: np.ndarray) -> list[np.ndarray]:
        U_re, U_im, V_re, V_im = weights
        L, M = self.features
        D = U_re.shape[-1]
        u = np.concatenate([U_re, U_im], axis=-1)
        dG = dF.reshape(*dF.shape[:-1], self.channel_blocks, -1)  # (N, s, b, C)
        a = np.einsum("itbr,jbr->itbj", L, u, optimize=True)
        g = np.einsum("itbr,jbr->itbj", M, u, optimize=True)
        du = (np.einsum("itbr,itbe,jbe->jbr", L, dG, V_re, optimize=True)
              + np.einsum("itbr,itbe,jbe->jbr", M, dG, V_im, optimize=True))
        return [du[..., :D], du[..., D:], np.einsum("itbj,itbe->jbe", a, dG), np.einsum("itbj,itbe->jbe", g, dG)]

    def block_shapes(self) -> list[tuple[int, int]]:
        D, C = self.block_dims
        return [(2 * D, 2 * C)] * self.channel_blocks

    def build_blocks(self) -> tuple[Block, ...]:
        L, M = self.features
        N, s, c = self.X.shape[0], self.X.shape[1], self.dims["c"]
        D, C = self.block_dims
        twin = phase_twin(D, C)
        built = []
        for b in range(self.channel_blocks):
            A = np.zeros((N, s, c, 4 * D * C))
            A[:, :, b * C:(b + 1) * C] = real_form_matrix(L[:, :, b], M[:, :, b], C).reshape(N, s, C, -1)
            built.append(Block(A.reshape(N * s * c, -1), (2 * D, 2 * C), label=f"channel block {b}", twin=twin))
        return tuple(built)

    def lift_weights(self, weights: list[np.ndarray]) -> list[np.ndarray]:
        U_re, U_im, V_re, V_im = weights
        u, v = np.concatenate([U_re, U_im], axis=-1), np.concatenate([V_re, V_im], axis=-1)
        return [u[:, b].T @ v[:, b] for b in range(self.channel_blocks)]

    def weights_from_factors(self, factors: Factors, m: int) -> list[np.ndarray]:
        D, C = self.block_dims
        u, v = np.zeros((m, self.channel_blocks, 2 * D)), np.zeros((m, self.channel_blocks, 2 * C))
        for b, pairs in enumerate(factors):
            for r, (left, right) in enumerate(pairs):
                u[r, b], v[r, b] = left, right
        return [u[..., :D], u[..., D:], v[..., :C], v[..., C:]]

    def heads_needed(self, factors: Factors) -> int:
        """Channels per block: the largest block rank (every block carries the same number m of channels)."""
        return max((len(pairs) for pairs in factors), default=0)

    def report_fields(self, blocks: list[np.ndarray], factors: Factors) -> dict[str, object]:
        """``channel_blocks``: per block its complex and real nuclear norms and complex rank; ``kept_modes``."""
        return {"kept_modes": self.modes, "channel_blocks": complex_rows(blocks, "block")}
