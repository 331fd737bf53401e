"""A second transcription of every network and every lifting, written the slow obvious way from the formulas of
docs/theory.md §2-§8, for tests/theory/test_reference_networks.py.

Each theorem's network is transcribed here with explicit Python loops over samples i, heads j (and gates p) and
tokens t, u, straight from its definition; the lifted map A_p is built entry by entry, A_p[(i, t, e), (row, col)],
from the formula of the lifting with the block layout the module docstrings state; the weight decay names the
weight arrays it decays.  Nothing here imports a theorem module's helpers: only the theorem's data X, its gates (H;
C and G of convex-attention-fc), the activation patterns of the relaxations (the programs' index sets) and the shapes
are read.  A transcription error made
the same way in a network and its program (e.g. a Gram matrix scaled in both) is caught by comparing against this
file, which the agreement of the two with each other cannot do.

Conventions (docs/theory.md §1): weights are the arrays of Theorem.param_shapes in that order; outputs F[i, t, e]
are flattened row-major, row (i s + t) c + e of A_p; vec_r(W) = W.reshape(-1), vec_c(W) = W.T.reshape(-1).
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def relu(z: float) -> float:
    return z if z > 0 else 0.0


def bilinear(x: np.ndarray, W: np.ndarray, z: np.ndarray) -> float:
    """x^T W z as the double sum over its entries."""
    return sum(x[a] * W[a, b] * z[b] for a in range(len(x)) for b in range(len(z)))


# ---- networks ------------------------------------------------------------------------------------------------

def linear_mlp(theorem, weights):
    """F[i, t, e] = sum_j (x_t^T W1[:, j]) W2[j, e]."""
    W1, W2 = weights
    X = theorem.X
    N, s, d = X.shape
    F = np.zeros((N, s, W2.shape[1]))
    for i in range(N):
        for t in range(s):
            for j in range(W1.shape[1]):
                hidden = sum(X[i, t, a] * W1[a, j] for a in range(d))
                F[i, t] += hidden * W2[j]
    return F


def _attention(theorem, W1, W2, gate: Callable[[int, int, int, int], float]):
    """F[i, t, :] = sum_j sum_u gate(j, i, t, u) (x_t^T W1_j x_u) x_u^T W2_j, with gate giving the mask factor."""
    X = theorem.X
    N, s, d = X.shape
    F = np.zeros((N, s, W2.shape[-1]))
    for i in range(N):
        for t in range(s):
            for j in range(len(W1)):
                for u in range(s):
                    F[i, t] += gate(j, i, t, u) * bilinear(X[i, t], W1[j], X[i, u]) * (X[i, u] @ W2[j])
    return F


def linear_attention(theorem, weights):
    """f(X)[t, :] = sum_j sum_u (x_t^T W1_j x_u) x_u^T W2_j (docs/theory.md §3), not via the Gram identity."""
    W1, W2 = weights
    return _attention(theorem, W1, W2, lambda j, i, t, u: 1.0)


def relu_attention(theorem, weights):
    """f(X)[t, :] = sum_j sum_u relu(x_t^T W1_j x_u) x_u^T W2_j (docs/theory.md §4)."""
    W1, W2 = weights
    X = theorem.X
    N, s, d = X.shape
    F = np.zeros((N, s, W2.shape[-1]))
    for i in range(N):
        for t in range(s):
            for j in range(len(W1)):
                for u in range(s):
                    F[i, t] += relu(bilinear(X[i, t], W1[j], X[i, u])) * (X[i, u] @ W2[j])
    return F


def gated_relu_attention(theorem, weights):
    """f(X)[t, :] = sum_p sum_j sum_u 1[x_t^T H_p x_u >= 0] (x_t^T W1_pj x_u) x_u^T W2_pj (docs/theory.md §4)."""
    W1, W2 = weights
    X, H = theorem.X, theorem.H
    F = np.zeros((X.shape[0], X.shape[1], W2.shape[-1]))
    for p in range(len(H)):
        mask = lambda j, i, t, u, p=p: 1.0 if bilinear(X[i, t], H[p], X[i, u]) >= 0 else 0.0
        F += _attention(theorem, W1[p], W2[p], mask)
    return F


def convex_attention(theorem, weights):
    """f(X)[t, :] = sum_k (sum_u a_tk[u] x_u^T v_tk) w_tk^T with a_tk = b_tk^2 / sum_u b_tk[u]^2 (docs/theory.md §8)."""
    B, V, W = weights
    X = theorem.X
    N, s, d = X.shape
    F = np.zeros((N, s, W.shape[-1]))
    for i in range(N):
        for t in range(s):
            for k in range(B.shape[1]):
                total = sum(B[t, k, u] ** 2 for u in range(s))
                value = sum(B[t, k, u] ** 2 / total * sum(X[i, u, a] * V[t, k, a] for a in range(d)) for u in range(s))
                F[i, t] += value * W[t, k]
    return F


def convex_attention_fc(theorem, weights):
    """f(X)[t, :] = sum_p M_p[t] sum_j (sum_u a_tpj[u] x_u^T u_tpj) w_tpj^T, M_p[t] = 1[sum_u C_p[t, u] x_u^T g_p >= 0],
    a = b^2 / sum b^2 (docs/theory.md §8.7)."""
    B, U, W = weights
    X, C, G = theorem.X, theorem.C, theorem.G
    N, s, d = X.shape
    F = np.zeros((N, s, W.shape[-1]))
    for i in range(N):
        for t in range(s):
            for p in range(len(C)):
                if sum(C[p, t, u] * sum(X[i, u, a] * G[p, a] for a in range(d)) for u in range(s)) < 0:
                    continue
                for j in range(B.shape[2]):
                    total = sum(B[t, p, j, u] ** 2 for u in range(s))
                    value = sum(B[t, p, j, u] ** 2 / total * sum(X[i, u, a] * U[t, p, j, a] for a in range(d))
                                for u in range(s))
                    F[i, t] += value * W[t, p, j]
    return F


def relu_attention_fc(theorem, weights):
    """f(X)[t, :] = sum_k relu(sum_u a_tk[u] x_u^T v_tk) w_tk^T, a = b^2 / sum b^2 (docs/theory.md §8.7)."""
    B, V, W = weights
    X = theorem.X
    N, s, d = X.shape
    F = np.zeros((N, s, W.shape[-1]))
    for i in range(N):
        for t in range(s):
            for k in range(B.shape[1]):
                total = sum(B[t, k, u] ** 2 for u in range(s))
                value = sum(B[t, k, u] ** 2 / total * sum(X[i, u, a] * V[t, k, a] for a in range(d)) for u in range(s))
                F[i, t] += relu(value) * W[t, k]
    return F


def mlp_mixer(theorem, weights, activation=lambda z: z):
    """f(X)[t, e] = sum_j sum_a activation(sum_u W1_j[t, u] X[u, a]) W2_j[a, e]: the linear mixer (docs/theory.md
    §5.1), and with the ReLU the ReLU mixer (§5.3)."""
    W1, W2 = weights
    X = theorem.X
    N, s, d = X.shape
    F = np.zeros((N, s, W2.shape[-1]))
    for i in range(N):
        for t in range(s):
            for j in range(len(W1)):
                for a in range(d):
                    mixed = sum(W1[j, t, u] * X[i, u, a] for u in range(s))
                    F[i, t] += activation(mixed) * W2[j, a]
    return F


def relu_mixer(theorem, weights):
    return mlp_mixer(theorem, weights, activation=relu)


def gated_relu_mixer(theorem, weights):
    """f(X)[t, e] = sum_p sum_j sum_a 1[(H_p X)[t, a] >= 0] (W1_pj X)[t, a] W2_pj[a, e] (docs/theory.md §5)."""
    W1, W2 = weights
    X, H = theorem.X, theorem.H
    N, s, d = X.shape
    F = np.zeros((N, s, W2.shape[-1]))
    for i in range(N):
        for p in range(len(H)):
            for t in range(s):
                for a in range(d):
                    if sum(H[p, t, u] * X[i, u, a] for u in range(s)) < 0:
                        continue
                    for j in range(W1.shape[1]):
                        mixed = sum(W1[p, j, t, u] * X[i, u, a] for u in range(s))
                        F[i, t] += mixed * W2[p, j, a]
    return F


def fno(theorem, weights):
    """h_j[t] = sum_tau sum_a K_j[tau, a] X[(t - tau) mod s, a] (circular convolution), f = sum_j h_j w_j^T (§6)."""
    K, w = weights
    X = theorem.X
    N, s, d = X.shape
    F = np.zeros((N, s, w.shape[1]))
    for i in range(N):
        for t in range(s):
            for j in range(len(K)):
                h = sum(K[j, tau, a] * X[i, (t - tau) % s, a] for tau in range(s) for a in range(d))
                F[i, t] += h * w[j]
    return F


def _spectral_network(X, R):
    """The inverse DFT of the completed spectrum (§6.2): x_hat_w = s^{-1/2} sum_t x_t e^{-2 pi i w t / s};
    Y_hat_w = x_hat_w^T R[w] for the kept rfft modes w < len(R) (real part only at a self-conjugate mode, w = 0 or
    2w = s), Y_hat_{s-w} = conj(Y_hat_w), zero elsewhere; f_t = s^{-1/2} sum_{w=0}^{s-1} Y_hat_w e^{2 pi i w t / s}."""
    N, s, d = X.shape
    c = R[0].shape[1]
    F = np.zeros((N, s, c))
    for i in range(N):
        spectrum = [np.zeros(c, dtype=complex) for _ in range(s)]
        for w in range(len(R)):
            x_hat = [sum(X[i, t, a] * np.exp(-2j * np.pi * w * t / s) for t in range(s)) / np.sqrt(s) for a in range(d)]
            y = np.array([sum(x_hat[a] * R[w][a, e] for a in range(d)) for e in range(c)])
            if w == 0 or 2 * w == s:
                spectrum[w] = spectrum[w] + y.real
            else:
                spectrum[w] = spectrum[w] + y
                spectrum[s - w] = spectrum[s - w] + np.conj(y)
        for t in range(s):
            F[i, t] = (sum(spectrum[w] * np.exp(2j * np.pi * w * t / s) for w in range(s)) / np.sqrt(s)).real
    return F


def fno_modes(theorem, weights):
    """R_w = sum_j u~_jw v~_jw (u~ = U_re + i U_im, v~ = V_re + i V_im), one per kept mode (§6.2)."""
    U_re, U_im, V_re, V_im = weights
    m, k, c = V_re.shape
    d = U_re.shape[2]
    R = []
    for w in range(k):
        R.append(np.array([[sum((U_re[j, w, a] + 1j * U_im[j, w, a]) * (V_re[j, w, e] + 1j * V_im[j, w, e])
                                for j in range(m)) for e in range(c)] for a in range(d)]))
    return _spectral_network(theorem.X, R)


def afno(theorem, weights):
    """One block-diagonal R for every kept mode (§6.3): R[b D + a, b C + e] = sum_j u~_jb[a] v~_jb[e]."""
    U_re, U_im, V_re, V_im = weights
    m, blocks, D = U_re.shape
    C = V_re.shape[2]
    R = np.zeros((blocks * D, blocks * C), dtype=complex)
    for b in range(blocks):
        for a in range(D):
            for e in range(C):
                R[b * D + a, b * C + e] = sum((U_re[j, b, a] + 1j * U_im[j, b, a]) * (V_re[j, b, e] + 1j * V_im[j, b, e])
                                              for j in range(m))
    return _spectral_network(theorem.X, [R] * theorem.modes)

FORWARD = {"linear-mlp": linear_mlp, "linear-attention": linear_attention,
           "gated-relu-attention": gated_relu_attention, "relu-attention": relu_attention,
           "convex-attention": convex_attention, "mlp-mixer": mlp_mixer, "gated-relu-mixer": gated_relu_mixer,
           "relu-mixer": relu_mixer, "fno": fno,
           "fno-modes": fno_modes, "afno": afno,
           "convex-attention-fc": convex_attention_fc, "relu-attention-fc": relu_attention_fc}

#: Which weight arrays (in param_shapes order) carry weight decay beta/2 |W|_F^2: all of them, except the attention
#: rows b of the convex-attention family ([E22]: no weight decay on the row-stochastic attention matrix, docs/theory.md
#: §8, §8.7).
DECAYED = {"convex-attention": (False, True, True), "convex-attention-fc": (False, True, True),
           "relu-attention-fc": (False, True, True)}


def readout_outputs(name: str, W: np.ndarray) -> np.ndarray:
    """The output weights w (m, c) of the read-out theorems: w itself (scalar, stored (m,)), or w[j, l] =
    p[j, l] |p[j, l]| (convex-attention-vector's chart, docs/theory.md §8.10)."""
    m = W.shape[0]
    w = np.zeros((m, W.size // m))
    for j in range(m):
        for l in range(w.shape[1]):
            value = float(W.reshape(m, -1)[j, l])
            w[j, l] = value * abs(value) if name == "convex-attention-vector" else value
    return w


def convex_attention_readout(theorem, weights, name):
    """f(X_i)[0, l] = sum_j (sum_k a_j[k] x_{i,k}^T v_j) w_j[l], a_j = b_j^2 / sum_k b_j[k]^2 ([E22] eqs. (8), (11)
    as the formalization transcribes them; one output row per sample, docs/theory.md §8.10)."""
    B, V, W = weights
    w = readout_outputs(name, W)
    X = theorem.X
    N, s, d = X.shape
    F = np.zeros((N, 1, w.shape[1]))
    for i in range(N):
        for j in range(len(B)):
            total = sum(B[j, k] ** 2 for k in range(s))
            value = sum(B[j, k] ** 2 / total * sum(X[i, k, a] * V[j, a] for a in range(d)) for k in range(s))
            for l in range(w.shape[1]):
                F[i, 0, l] += value * w[j, l]
    return F


FORWARD["convex-attention-scalar"] = lambda theorem, weights: convex_attention_readout(
    theorem, weights, "convex-attention-scalar")
FORWARD["convex-attention-vector"] = lambda theorem, weights: convex_attention_readout(
    theorem, weights, "convex-attention-vector")


def weight_decay(name: str, weights: list[np.ndarray]) -> float:
    """1/2 sum of |W|_F^2 over the decayed weight arrays, entry by entry; for the read-out theorems
    1/2 sum_j (|v_j|^2 + (sum_l |w_j[l]|)^2) ([E22] eqs. (8), (11))."""
    if name in ("convex-attention-scalar", "convex-attention-vector"):
        _, V, W = weights
        w = readout_outputs(name, W)
        return 0.5 * sum(sum(float(x) ** 2 for x in V[j]) + sum(abs(float(x)) for x in w[j]) ** 2
                         for j in range(len(V)))
    decayed = DECAYED.get(name, (True,) * len(weights))
    return 0.5 * sum(float(value) ** 2 for W, keep in zip(weights, decayed) if keep for value in W.reshape(-1))


def objective(name: str, theorem, weights: list[np.ndarray]) -> float:
    """1/2 sum_{i,t,e} (F - Y)^2 + beta weight_decay."""
    F = FORWARD[name](theorem, weights)
    loss = 0.5 * sum(float(r) ** 2 for r in (F - theorem.Y).reshape(-1))
    return loss + theorem.beta * weight_decay(name, weights)


# ---- lifted maps ---------------------------------------------------------------------------------------------
# A coefficient function gives A_p[(i, t, e), (row, col)] from the formula of the lifting; `lifted_matrices`
# evaluates it at every entry.

def _attention_coefficient(X: np.ndarray, c: int, mask: Callable[[int, int, int], float]):
    """Z in R^{d^2 x dc}, row k d + a, column l c + e' (Z = sum_j vec_c(W1_j) vec_r(W2_j)^T, so Z[k d + a, l c + e']
    = sum_j W1_j[a, k] W2_j[l, e']): f[t, e] = sum_{a,k,l} x_t[a] G_t[k, l] Z[k d + a, l c + e], with
    G_t[k, l] = sum_u mask(i, t, u) x_u[k] x_u[l] (docs/theory.md §3, §4)."""
    N, s, d = X.shape

    def coefficient(i, t, e, row, col):
        k, a = divmod(row, d)
        l, e_col = divmod(col, c)
        if e_col != e:
            return 0.0
        gram = sum(mask(i, t, u) * X[i, u, k] * X[i, u, l] for u in range(s))
        return X[i, t, a] * gram
    return coefficient


def _coefficients(name: str, theorem) -> list[tuple[Callable, tuple[int, int]]]:
    """Per block: the coefficient function and the block shape."""
    X, c = theorem.X, theorem.Y.shape[2]
    N, s, d = X.shape
    if name == "linear-mlp":  # Z = W1 W2 in R^{d x c}: f[t, e] = sum_a x_t[a] Z[a, e]
        return [(lambda i, t, e, row, col: X[i, t, row] * (col == e), (d, c))]
    if name == "linear-attention":
        return [(_attention_coefficient(X, c, lambda i, t, u: 1.0), (d * d, d * c))]
    if name == "gated-relu-attention":
        H = theorem.H
        return [(_attention_coefficient(X, c, lambda i, t, u, p=p: float(bilinear(X[i, t], H[p], X[i, u]) >= 0)),
                 (d * d, d * c)) for p in range(len(H))]
    if name == "relu-attention":  # one block per realisable logit pattern D_p (index (i, t, u) row-major)
        masks = theorem.patterns.reshape(-1, N, s, s)
        return [(_attention_coefficient(X, c, lambda i, t, u, D=D: float(D[i, t, u])), (d * d, d * c)) for D in masks]
    if name == "convex-attention":  # block (query q, key k) at index q s + k: f[q, e] += sum_a x_k[a] Z_qk[a, e]
        return [(lambda i, t, e, row, col, q=q, key=key: X[i, key, row] * (col == e) * (t == q), (d, c))
                for q in range(s) for key in range(s)]
    if name == "convex-attention-fc":  # block (query q, gate p, key k): f[q, e] += M_p[q] sum_a x_k[a] Z_qpk[a, e]
        C, G = theorem.C, theorem.G
        gate = [[[float(sum(C[p, t, u] * sum(X[i, u, a] * G[p, a] for a in range(d)) for u in range(s)) >= 0)
                  for t in range(s)] for i in range(N)] for p in range(len(C))]
        return [(lambda i, t, e, row, col, q=q, p=p, key=key: X[i, key, row] * (col == e) * (t == q) * gate[p][i][q],
                 (d, c)) for q in range(s) for p in range(len(C)) for key in range(s)]
    if name == "relu-attention-fc":  # block (query q, sample pattern D, key k): mask D[i] on every query row
        patterns = theorem.patterns
        return [(lambda i, t, e, row, col, q=q, D=D, key=key: X[i, key, row] * (col == e) * (t == q) * float(D[i]),
                 (d, c)) for q in range(s) for D in patterns for key in range(s)]
    if name in ("convex-attention-scalar", "convex-attention-vector"):  # group (l, k) at l s + k: f[0, e] +=
        return [(lambda i, t, e, row, col, l=l, key=key: X[i, key, row] * (e == l), (d, 1))  # x_k^T z_lk [e = l]
                for l in range(c) for key in range(s)]
    if name == "mlp-mixer":  # Z[t s + u, a c + e] = sum_j W1_j[t, u] W2_j[a, e]
        def mixer(i, t, e, row, col):
            t_row, u = divmod(row, s)
            a, e_col = divmod(col, c)
            return X[i, u, a] * (t_row == t) * (e_col == e)
        return [(mixer, (s * s, d * c))]
    if name == "gated-relu-mixer":  # mixer layout, entry (t, a) gated by 1[(H_p X)[t, a] >= 0]
        H = theorem.H

        def gated(i, t, e, row, col, p):
            t_row, u = divmod(row, s)
            a, e_col = divmod(col, c)
            gate = sum(H[p, t, v] * X[i, v, a] for v in range(s)) >= 0
            return X[i, u, a] * (t_row == t) * (e_col == e) * gate
        return [(lambda i, t, e, row, col, p=p: gated(i, t, e, row, col, p), (s * s, d * c)) for p in range(len(H))]
    if name == "relu-mixer":  # mixer layout, entry (t, a) gated by the pattern D_p[i, t, a] (index (i, t, a))
        def patterned(i, t, e, row, col, D):
            t_row, u = divmod(row, s)
            a, e_col = divmod(col, c)
            return X[i, u, a] * (t_row == t) * (e_col == e) * float(D[i, t, a])
        return [(lambda i, t, e, row, col, D=D: patterned(i, t, e, row, col, D), (s * s, d * c))
                for D in theorem.patterns.reshape(-1, N, s, d)]
    if name == "fno":  # Z[tau d + a, e] = sum_j K_j[tau, a] w_j[e]: f[t, e] = sum_{tau,a} X[(t - tau) mod s, a] Z
        def circulant(i, t, e, row, col):
            tau, a = divmod(row, d)
            return X[i, (t - tau) % s, a] * (col == e)
        return [(circulant, (s * d, c))]
    if name in ("fno-modes", "afno"):  # block p: W = sum_j [Re u~; Im u~][Re v~; Im v~]^T; the entry (row, col) is
        # one channel with u = e_row, v = e_col in block p only (a mode of fno-modes, a channel block of afno),
        # evaluated by the reference network
        shape = [array.shape[1:] for array in theorem.unpack(np.zeros(theorem.n_params(1)), 1)]
        count, (rows, cols) = shape[0][0], (2 * shape[0][1], 2 * shape[2][1])
        outputs = {}
        for p in range(count):
            for row in range(rows):
                for col in range(cols):
                    unit = [np.zeros((1, *part)) for part in shape]
                    unit[row // (rows // 2)][0, p, row % (rows // 2)] = 1.0
                    unit[2 + col // (cols // 2)][0, p, col % (cols // 2)] = 1.0
                    outputs[p, row, col] = FORWARD[name](theorem, unit)
        return [(lambda i, t, e, row, col, p=p: outputs[p, row, col][i, t, e], (rows, cols)) for p in range(count)]
    raise KeyError(f"no reference lifting for {name}")


def lifted_matrices(name: str, theorem) -> list[np.ndarray]:
    """A_p as (N s c, rows cols) matrices, entry by entry from the coefficient formulas (N c rows for the read-out
    theorems, whose output has one row per sample)."""
    N = theorem.X.shape[0]
    out, c = theorem.Y.shape[1:]  # output rows per sample (s, or 1 for the read-out theorems) and outputs per row
    matrices = []
    for coefficient, (rows, cols) in _coefficients(name, theorem):
        A = np.zeros((N * out * c, rows * cols))
        for i in range(N):
            for t in range(out):
                for e in range(c):
                    for row in range(rows):
                        for col in range(cols):
                            A[(i * out + t) * c + e, row * cols + col] = coefficient(i, t, e, row, col)
        matrices.append(A)
    return matrices
