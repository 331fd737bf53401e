"""`fno`: token mixing by a learned circular convolution (FNO / circulant), [S22] abstract (docs/theory.md §6; the model is ours).

Primal, m hidden channels with filters K_j in R^{s x d} (K_j[tau, a]: tap tau of input channel a) and output
weights w_j in R^c, linear activation:
    h_j(X) = sum_a circ(K_j[:, a]) X[:, a] = C(X) vec_r(K_j),   C(X)[t, tau d + a] = X[(t - tau) mod s, a],
    f(X) = sum_j h_j(X) w_j^T,   weight decay beta/2 sum_j (|K_j|_F^2 + |w_j|^2).
Lifting Z = sum_j vec_r(K_j) w_j^T in R^{sd x c}: f(X) = C(X) Z; convex program min_Z l(C(X_i) Z) + beta |Z|_*,
m* = rank(Z*) <= min(sd, c).  Recovery: K_r = sqrt(sigma_r) p_r.reshape(s, d), w_r = sqrt(sigma_r) q_r.

Fourier form (our convention, checked in tests): numpy.fft with norm="ortho" along the token axis (the unitary DFT
F_s), Z_hat = per-frequency blocks Z_hat_omega in C^{d x c} of fft(Z.reshape(s, d, c), axis=0, norm="ortho").  Then
|Z_hat|_* = |Z|_* (stacked as an sd x c matrix: unitary invariance), and the prediction diagonalises,
    fft(f(X), axis=0, norm="ortho")[omega] = sqrt(s) x_hat_omega^T Z_hat_omega,   x_hat = fft(X, axis=0, norm="ortho"),
as docs/theory.md §6 states.  So the program is a nuclear norm of the stacked Fourier-domain weights (the channel
factor w is shared across frequencies); the structure measure reports which frequencies carry the solution.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from theory.base import Factors, Theorem
from theory.lifted import Block

#: A frequency counts as used when |Z_hat_omega|_F exceeds this fraction of max_omega |Z_hat_omega|_F, and its rank
#: counts singular values above this fraction of its largest (Z* is already truncated by theory.lifted).
FREQUENCY_TOL = 1e-8


def circulant_unfolding(X: np.ndarray) -> np.ndarray:
    """C(X)[i, t, tau d + a] = X[i, (t - tau) mod s, a], shape (N, s, s d)."""
    N, s, d = X.shape
    t, tau = np.meshgrid(np.arange(s), np.arange(s), indexing="ij")
    return X[:, (t - tau) % s, :].reshape(N, s, s * d)


def fourier_blocks(Z: np.ndarray, s: int) -> np.ndarray:
    """Z_hat_omega, shape (s, d, c) complex: the unitary DFT of Z.reshape(s, d, c) along the tap axis."""
    return np.fft.fft(Z.reshape(s, -1, Z.shape[1]), axis=0, norm="ortho")


class FNO(Theorem):
    name = "fno"
    paper = "[S22] (abstract: FNO token mixing); the linear circulant model and its program derived here"
    equation = "docs/theory.md §6: min_Z l(C(X) Z) + beta |Z|_*, Z in R^{sd x c}; |Z|_* = |F Z|_* (Fourier blocks)"
    statement = "linear FNO (circular convolution over tokens) with weight decay <=> nuclear-norm program on R^{sd x c}"
    weight_axes = {"K": ("m", "s", "d"), "w": ("m", "c")}

    default_shapes = ((6, 4, 3), (6, 4, 2))  # X, Y of the default instance, standard normal
    default_beta = 0.1

    @cached_property
    def unfolded(self) -> np.ndarray:
        return circulant_unfolding(self.X)

    def forward(self, weights: list[np.ndarray]) -> np.ndarray:
        K, w = weights
        return np.einsum("itk,jk,jc->itc", self.unfolded, K.reshape(len(K), K.shape[1] * K.shape[2]), w, optimize=True)

    def forward_fft(self, weights: list[np.ndarray]) -> np.ndarray:
        """The same network by FFT: h_j = sum_a ifft(fft(K_j[:, a]) fft(X[:, a])) (circular convolution)."""
        K, w = weights
        spectrum = np.einsum("iwa,jwa->ijw", np.fft.fft(self.X, axis=1), np.fft.fft(K, axis=1))
        return np.einsum("ijt,jc->itc", np.fft.ifft(spectrum, axis=2).real, w)

    def backward(self, weights: list[np.ndarray], dF: np.ndarray) -> list[np.ndarray]:
        K, w = weights
        hidden = np.einsum("itk,jk->itj", self.unfolded, K.reshape(len(K), K.shape[1] * K.shape[2]))
        dhidden = np.einsum("itc,jc->itj", dF, w)
        return [np.einsum("itk,itj->jk", self.unfolded, dhidden).reshape(K.shape), np.einsum("itj,itc->jc", hidden, dF)]

    def build_blocks(self) -> tuple[Block, ...]:
        """A[(i, t, e), (k, e')] = C(X_i)[t, k] 1[e = e']."""
        N, s, d = self.X.shape
        c = self.dims["c"]
        A = np.einsum("itk,ef->itekf", self.unfolded, np.eye(c))
        return (Block(A.reshape(N * s * c, s * d * c), (s * d, c)),)

    def lift_weights(self, weights: list[np.ndarray]) -> list[np.ndarray]:
        K, w = weights
        return [K.reshape(len(K), K.shape[1] * K.shape[2]).T @ w]

    def weights_from_factors(self, factors: Factors, m: int) -> list[np.ndarray]:
        s, d, c = self.dims["s"], self.dims["d"], self.dims["c"]
        K, w = np.zeros((m, s, d)), np.zeros((m, c))
        for r, (u, v) in enumerate(factors[0]):
            K[r], w[r] = u.reshape(s, d), v
        return [K, w]

    def block_shapes(self) -> list[tuple[int, int]]:
        s, d, c = self.dims["s"], self.dims["d"], self.dims["c"]
        return [(s * d, c)]

    def report_fields(self, blocks: list[np.ndarray], factors: Factors) -> dict[str, object]:
        """``frequencies``: per frequency omega, |Z_hat_omega|_F and its rank (FREQUENCY_TOL); ``used_frequencies``."""
        hat = fourier_blocks(blocks[0], self.dims["s"])
        energy = np.linalg.norm(hat, axis=(1, 2))
        top = float(energy.max())
        rows = []
        for omega, block in enumerate(hat):
            sv = np.linalg.svd(block, compute_uv=False)
            rank = int(np.sum(sv > FREQUENCY_TOL * sv[0])) if top > 0 and energy[omega] > FREQUENCY_TOL * top else 0
            rows.append({"omega": omega, "norm": float(energy[omega]), "rank": rank})
        return {"frequencies": rows, "used_frequencies": [row["omega"] for row in rows if row["rank"] > 0]}
