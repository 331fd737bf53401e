"""Standard (softmax) self-attention, the non-convex baseline [E22] compares its convex alternative with (THEORY.md
§8, eq. (3)).  No convex program exists for it; it is trained by seeded restarts and reported next to the
certified optima (proofs_check.compare).

m heads, query/key maps W_Qk, W_Kk in R^{d x d}, value/output of head dimension one v_k in R^d, w_k in R^c (as in
`convex-attention`), weight decay on everything:
    f(X) = sum_k softmax(X W_Qk W_Kk^T X^T) X v_k w_k^T       (softmax over keys, row by row)
    objective = 1/2 sum_i |f(X_i) - Y_i|_F^2 + beta/2 sum_k (|W_Qk|^2 + |W_Kk|^2 + |v_k|^2 + |w_k|^2).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from theory.data import check_beta, check_data, check_positive_int


def _split(theta: np.ndarray, m: int, d: int, c: int) -> tuple[np.ndarray, ...]:
    sizes = np.cumsum([m * d * d, m * d * d, m * d])
    Wq, Wk, v, w = np.split(theta, sizes)
    return Wq.reshape(m, d, d), Wk.reshape(m, d, d), v.reshape(m, d), w.reshape(m, c)


def objective_and_gradient(theta: np.ndarray, X: np.ndarray, Y: np.ndarray, beta: float,
                           m: int) -> tuple[float, np.ndarray]:
    """The regularised loss above and its analytic gradient with respect to theta."""
    d, c = X.shape[2], Y.shape[2]
    Wq, Wk, v, w = _split(theta, m, d, c)
    A = np.einsum("kab,kcb->kac", Wq, Wk)  # W_Q W_K^T
    logits = np.einsum("ita,kab,iub->iktu", X, A, X)
    P = np.exp(logits - logits.max(axis=3, keepdims=True))
    P /= P.sum(axis=3, keepdims=True)
    values = np.einsum("iua,ka->iku", X, v)
    mixed = np.einsum("iktu,iku->ikt", P, values)
    residual = np.einsum("ikt,kc->itc", mixed, w) - Y
    dmixed = np.einsum("itc,kc->ikt", residual, w)
    dP = np.einsum("ikt,iku->iktu", dmixed, values)
    dlogits = P * (dP - (dP * P).sum(axis=3, keepdims=True))
    dA = np.einsum("ita,iktu,iub->kab", X, dlogits, X)
    grads = [np.einsum("kac,kcb->kab", dA, Wk), np.einsum("kac,kab->kcb", dA, Wq),  # dA W_K, dA^T W_Q
             np.einsum("iktu,ikt,iua->ka", P, dmixed, X), np.einsum("ikt,itc->kc", mixed, residual)]
    value = 0.5 * float(np.vdot(residual, residual)) + 0.5 * beta * float(theta @ theta)
    return value, np.concatenate([g.reshape(-1) for g in grads]) + beta * theta


def best_of_restarts(X: np.ndarray, Y: np.ndarray, beta: float, heads: int, restarts: int,
                     seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``restarts`` L-BFGS runs from numpy.random.default_rng([seed, 11, k]) normal starts of scale 1/sqrt(d);
    returns the weights theta of the lowest objective and the final objective of every restart."""
    X, Y = check_data(X, Y)
    beta = check_beta(beta)
    heads, restarts = check_positive_int(heads, "heads"), check_positive_int(restarts, "restarts")
    d, c = X.shape[2], Y.shape[2]
    size = heads * (2 * d * d + d + c)
    runs = [minimize(objective_and_gradient, np.random.default_rng([seed, 11, k]).standard_normal(size) / np.sqrt(d),
                     args=(X, Y, beta, heads), jac=True, method="L-BFGS-B",
                     options={"maxiter": 5000, "ftol": 1e-13, "gtol": 1e-9}) for k in range(restarts)]
    finals = np.array([float(run.fun) for run in runs])
    return runs[int(np.argmin(finals))].x, finals
