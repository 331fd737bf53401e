"""`fno-modes`: FNO with per-mode channel mixing and mode truncation (docs/theory.md §6.2; the model after Li et al.
2021's Fourier layer, the program derived here).

Primal, m channels, the lowest k rfft modes kept: channel j has complex weights u~_{j,omega} = U_re + i U_im in C^d
and v~_{j,omega} = V_re + i V_im in C^c at every kept mode omega, so the mode's channel map is the product of two
trained factors, R_omega = sum_j u~_{j,omega} v~_{j,omega} (a linear two-layer network in the Fourier domain):

    f(X) = irfft_s( [ x_hat_omega^T R_omega ]_{omega < k} ),    x_hat = rfft(X, axis=tokens, norm="ortho"),
    weight decay beta/2 sum_{j, omega} (|u~_{j,omega}|^2 + |v~_{j,omega}|^2)   (each kept rfft mode once).

Lifting (theory.spectral): one real block per kept mode, W_omega = sum_j [Re u~; Im u~][Re v~; Im v~]^T in
R^{2d x 2c}, with f = sum_omega A_omega(W_omega).  Program min l(sum_omega A_omega(W_omega)) + beta sum_omega
|W_omega|_*, equivalently the block nuclear norm over frequencies beta sum_omega |Z_omega|_* of the complex channel
maps Z_omega = Z(W_omega) (real at the self-conjugate modes).  Every channel carries weights at every mode, so the
width the optimum needs is m* = max_omega rank(W_omega), not the sum.  Recovery: channel r of mode omega is the
r-th balanced pair (u, v) of W_omega, U_re = u[:d], U_im = u[d:], V_re = v[:c], V_im = v[c:].
"""

from __future__ import annotations

from functools import cached_property
from typing import Mapping

import numpy as np

from theory.base import Factors, Theorem
from theory.errors import InputError
from theory.lifted import Block
from theory.losses import SQUARED, Loss
from theory.spectral import check_modes, complex_rows, complex_weights, mode_features, phase_twin, real_form_matrix

class FNOModes(Theorem):
    name = "fno-modes"
    paper = ("ours, after FNO's Fourier layer (Li et al. 2021: per-mode weights, mode truncation; as commonly "
             "described, the paper not read here) and [S22]'s abstract (FNO token mixing); program derived here")
    equation = ("docs/theory.md §6.2: min l(sum_omega A_omega(W_omega)) + beta sum_omega |W_omega|_*, W_omega in "
                "R^{2d x 2c} = the complex block nuclear norm sum_omega |Z_omega|_*")
    statement = ("linear FNO with per-mode channel mixing R_omega = U_omega V_omega^T on the lowest k modes, with "
                 "weight decay <=> block nuclear norm over the kept frequencies")
    weight_axes = {"U_re": ("m", "k", "d"), "U_im": ("m", "k", "d"), "V_re": ("m", "k", "c"), "V_im": ("m", "k", "c")}

    default_shapes = ((6, 4, 3), (6, 4, 2))  # X, Y of the default instance (fno's), standard normal
    default_beta = 0.1

    def __init__(self, X: np.ndarray, Y: np.ndarray, beta: float, modes: int | None = None,
                 loss: Loss = SQUARED) -> None:
        super().__init__(X, Y, beta, loss)
        s = self.X.shape[1]
        self.modes = check_modes(s // 2 + 1 if modes is None else modes, s)

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], beta: float, seed: int, loss: Loss = SQUARED,
                    **options: object) -> "FNOModes":
        """``modes`` (default all floor(s/2) + 1: no truncation) is the only option."""
        unknown = sorted(set(options) - {"modes"})
        if unknown:
            raise InputError(f"theorem {cls.name} takes no option {', '.join(unknown)}")
        return cls(arrays["X"], arrays["Y"], beta, options.get("modes"), loss)

    def axis_sizes(self, m: int) -> dict[str, int]:
        return {**super().axis_sizes(m), "k": self.modes}

    @cached_property
    def features(self) -> tuple[np.ndarray, np.ndarray]:
        return mode_features(self.X, self.modes)

    def forward(self, weights: list[np.ndarray]) -> np.ndarray:
        U_re, U_im, V_re, V_im = weights
        L, M = self.features
        u = np.concatenate([U_re, U_im], axis=-1)  # (m, k, 2d)
        return (np.einsum("itwr,jwr,jwe->ite", L, u, V_re, optimize=True)
                + np.einsum("itwr,jwr,jwe->ite", M, u, V_im, optimize=True))

    def forward_fft(self, weights: list[np.ndarray]) -> np.ndarray:
        """The same network by numpy's rfft / irfft (the definition in the module docstring)."""
        u, v = complex_weights(weights)
        s = self.X.shape[1]
        x_hat = np.fft.rfft(self.X, axis=1, norm="ortho")[:, :self.modes]
        y_hat = np.zeros((len(self.X), s // 2 + 1, v.shape[-1]), dtype=complex)
        y_hat[:, :self.modes] = np.einsum("iwa,jwa,jwe->iwe", x_hat, u, v)
        return np.fft.irfft(y_hat, n=s, axis=1, norm="ortho")

    def backward(self, weights: list[np.ndarray], dF: np.ndarray) -> list[np.ndarray]:
        U_re, U_im, V_re, V_im = weights
        L, M = self.features
        d = U_re.shape[-1]
        u = np.concatenate([U_re, U_im], axis=-1)
        a = np.einsum("itwr,jwr->itwj", L, u, optimize=True)
        b = np.einsum("itwr,jwr->itwj", M, u, optimize=True)
        du = (np.einsum("itwr,ite,jwe->jwr", L, dF, V_re, optimize=True)
              + np.einsum("itwr,ite,jwe->jwr", M, dF, V_im, optimize=True))
        return [du[..., :d], du[..., d:], np.einsum("itwj,ite->jwe", a, dF), np.einsum("itwj,ite->jwe", b, dF)]

    def block_shapes(self) -> list[tuple[int, int]]:
        d, c = self.dims["d"], self.dims["c"]
        return [(2 * d, 2 * c)] * self.modes

    def build_blocks(self) -> tuple[Block, ...]:
        L, M = self.features
        c = self.dims["c"]
        twin = phase_twin(self.dims["d"], c)
        return tuple(Block(real_form_matrix(L[:, :, w], M[:, :, w], c), (L.shape[-1], 2 * c), label=f"mode {w}",
                           twin=twin) for w in range(self.modes))

    def lift_weights(self, weights: list[np.ndarray]) -> list[np.ndarray]:
        U_re, U_im, V_re, V_im = weights
        u, v = np.concatenate([U_re, U_im], axis=-1), np.concatenate([V_re, V_im], axis=-1)
        return [u[:, w].T @ v[:, w] for w in range(self.modes)]

    def weights_from_factors(self, factors: Factors, m: int) -> list[np.ndarray]:
        d, c = self.dims["d"], self.dims["c"]
        u, v = np.zeros((m, self.modes, 2 * d)), np.zeros((m, self.modes, 2 * c))
        for w, pairs in enumerate(factors):
            for r, (left, right) in enumerate(pairs):
                u[r, w], v[r, w] = left, right
        return [u[..., :d], u[..., d:], v[..., :c], v[..., c:]]

    def heads_needed(self, factors: Factors) -> int:
        """Channels: the largest block rank (every channel has weights at every kept mode)."""
        return max((len(pairs) for pairs in factors), default=0)

    def report_fields(self, blocks: list[np.ndarray], factors: Factors) -> dict[str, object]:
        """``modes``: per kept mode its complex and real nuclear norms and complex rank; ``used_modes``."""
        rows = complex_rows(blocks, "omega")
        return {"kept_modes": self.modes, "modes": rows, "used_modes": [row["omega"] for row in rows if row["rank"]]}
