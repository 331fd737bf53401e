"""Per-mode channel mixing of real signals in the Fourier domain, and its real form (docs/theory.md §6.2).

Shared by `fno-modes` and `afno`.  Convention: numpy.fft along the token axis with norm="ortho" (as theory/fno.py),
real signals through rfft / irfft, the lowest k modes omega = 0 .. k-1 kept (1 <= k <= floor(s/2) + 1).  A complex
channel map Z_omega in C^{d x c} acts on x_hat_omega = rfft(X)[omega] as y_hat_omega = x_hat_omega^T Z_omega, and
the output is irfft(y_hat), which drops the imaginary part at the self-conjugate modes (omega = 0, and s/2 for even
s).  Written out,

    f[t, e] = sum_omega kappa_omega Re( (x_hat_omega e^{2 pi i omega t / s})^T Z_omega[:, e] ),
    kappa_omega = 1 / sqrt(s) at a self-conjugate mode, 2 / sqrt(s) otherwise (the mode and its conjugate).

*Real form.*  A complex channel with input weights u~ = a + i b in C^d and output weights v~ = e' + i f' in C^c
contributes u~ v~ (an outer product, not conjugated).  With the real vectors u = [a; b] in R^{2d}, v = [e'; f'] in
R^{2c}, that contribution is the complex reading of the real rank-one matrix W = u v^T in R^{2d x 2c},

    Z(W) = (W11 - W22) + i (W12 + W21)        (W split into d x c quarters),

which is linear in W; so the output is a linear map A(W) of the real lifted matrix W = sum_j u_j v_j^T, with
g = x_hat_omega e^{2 pi i omega t / s}:

    A(W)[t, e] = kappa ( [Re g; -Im g]^T W[:, e] - [Im g; Re g]^T W[:, c + e] ).

Weight decay beta/2 (|u~|^2 + |v~|^2) = beta/2 (|u|^2 + |v|^2), so by lemma L1 (docs/theory.md §2) the regulariser of
W is the real nuclear norm |W|_*.  The complex program is its reduction: min{|W|_* : Z(W) = Z} = |Z|_* (complex
nuclear norm), since a real SVD W = sum sigma_r u_r v_r^T gives Z(W) = sum sigma_r u~_r v~_r with unit u~_r, v~_r
(so |Z(W)|_* <= |W|_*), and a complex SVD of Z read back as real pairs attains it.  At a self-conjugate mode only
Re Z = W11 - W22 acts, and min over Im Z of |Re Z + i Im Z|_* = |Re Z|_* (Re Z is the mean of Z and conj Z).
"""

from __future__ import annotations

import numpy as np

from theory.errors import InputError


def check_modes(modes: object, s: int) -> int:
    """The number k of kept modes, 1 <= k <= floor(s/2) + 1 (the rfft modes of s tokens); InputError otherwise."""
    top = s // 2 + 1
    if isinstance(modes, bool) or not isinstance(modes, (int, np.integer)) or not 1 <= int(modes) <= top:
        raise InputError(f"modes must be an integer from 1 to floor(s/2) + 1 = {top} for s = {s} tokens, got {modes!r}")
    return int(modes)


def self_conjugate(omega: np.ndarray, s: int) -> np.ndarray:
    """Whether each rfft mode is its own conjugate (omega = 0, or s/2 for even s): real there, counted once."""
    return (omega == 0) | (2 * omega == s)


def mode_features(X: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """L, M (N, s, k, 2d): A(W)[i, t, e] = sum over the mode omega of L[i, t, omega] . W[:, e] + M[i, t, omega] .
    W[:, c + e] (module docstring), L = kappa [Re g; -Im g], M = -kappa [Im g; Re g]."""
    N, s, d = X.shape
    omega = np.arange(k)
    kappa = np.where(self_conjugate(omega, s), 1.0, 2.0) / np.sqrt(s)
    x_hat = np.fft.rfft(X, axis=1, norm="ortho")[:, :k]  # (N, k, d)
    phase = np.exp(2j * np.pi * np.outer(np.arange(s), omega) / s)  # (s, k)
    g = kappa[None, None, :, None] * x_hat[:, None, :, :] * phase[None, :, :, None]  # (N, s, k, d)
    return np.concatenate([g.real, -g.imag], axis=-1), -np.concatenate([g.imag, g.real], axis=-1)


def real_form_matrix(L: np.ndarray, M: np.ndarray, c: int) -> np.ndarray:
    """The dense map of one real block W (2d', 2c) onto outputs (N, s, c): A[(i, t, e), (r, q)] = L[i, t, r] 1[q = e]
    + M[i, t, r] 1[q = c + e], for features L, M (N, s, 2d') of the block's input channels."""
    N, s, rows = L.shape
    eye = np.eye(c)
    A = np.zeros((N, s, c, rows, 2 * c))
    A[..., :c] = np.einsum("itr,ef->iterf", L, eye)
    A[..., c:] = np.einsum("itr,ef->iterf", M, eye)
    return A.reshape(N * s * c, rows * 2 * c)


def complex_reading(W: np.ndarray) -> np.ndarray:
    """Z(W) = (W11 - W22) + i (W12 + W21) of a real (2d, 2c) block (module docstring)."""
    d, c = W.shape[0] // 2, W.shape[1] // 2
    return (W[:d, :c] - W[d:, c:]) + 1j * (W[:d, c:] + W[d:, :c])


def phase_twin(d: int, c: int) -> tuple[np.ndarray, np.ndarray]:
    """(J_row, J_col): u~ -> i u~ on the input weights, v~ -> -i v~ on the output weights, as orthogonal maps of
    [Re; Im]; the channel's product u~ v~, hence Z(W) and A(W), is unchanged (theory.lifted.Block.twin)."""
    def rotation(n: int, sign: float) -> np.ndarray:
        J = np.zeros((2 * n, 2 * n))
        J[n:, :n], J[:n, n:] = sign * np.eye(n), -sign * np.eye(n)  # [a; b] -> sign [-b; a]
        return J
    return rotation(d, 1.0), rotation(c, -1.0)


#: A block counts as used when |Z(W)|_* exceeds this fraction of the largest block's; its complex rank counts singular
#: values above this fraction of its largest (the blocks are already truncated by theory.lifted).
USED_TOL = 1e-8


def complex_weights(weights: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """u~ and v~ of the real weight arrays U_re, U_im, V_re, V_im (real and imaginary parts)."""
    U_re, U_im, V_re, V_im = weights
    return U_re + 1j * U_im, V_re + 1j * V_im


def complex_rows(blocks: list[np.ndarray], key: str, tol: float = USED_TOL) -> list[dict[str, object]]:
    """Per real block W (numbered under ``key``): the complex nuclear norm |Z(W)|_*, the real nuclear norm |W|_*
    (equal at an optimum: module docstring) and the complex rank of Z(W) (0 for a block that is not used)."""
    values = [np.linalg.svd(complex_reading(W), compute_uv=False) for W in blocks]
    top = max((float(sv.sum()) for sv in values), default=0.0)
    rows = []
    for index, (W, sv) in enumerate(zip(blocks, values)):
        used = top > 0 and sv.sum() > tol * top
        rows.append({key: index, "complex_nuclear": float(sv.sum()),
                     "real_nuclear": float(np.linalg.svd(W, compute_uv=False).sum()),
                     "rank": int(np.sum(sv > tol * sv[0])) if used else 0})
    return rows
