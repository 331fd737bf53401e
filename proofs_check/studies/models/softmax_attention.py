"""Standard (softmax) self-attention, the non-convex baseline [E22] compares its convex alternative with
(docs/theory.md §8, eq. (3)).  No convex program exists for it: it is trained by the restart engine
(proofs_check.restarts) and reported next to the certified optima (proofs_check.studies.compare).

m heads, query/key maps W_Qk, W_Kk in R^{d x d}, value/output of head dimension one v_k in R^d, w_k in R^c (as in
`convex-attention`), weight decay on everything:
    f(X) = sum_k softmax(X W_Qk W_Kk^T X^T) X v_k w_k^T       (softmax over keys, row by row)
    objective = 1/2 sum_i |f(X_i) - Y_i|_F^2 + beta/2 sum_k (|W_Qk|^2 + |W_Kk|^2 + |v_k|^2 + |w_k|^2).
"""

from __future__ import annotations

import numpy as np

from theory.data import check_beta, check_data, check_positive_int

#: The restart stream of the baseline (restart k starts from default_rng([seed, 11, k])), and its L-BFGS budget:
#: a baseline without a certificate, trained until the objective is flat to 1e-13, not to the witnesses' 1e-14.
STREAM = (11,)
LBFGS_BUDGET = {"maxiter": 5000, "ftol": 1e-13, "gtol": 1e-9}


class SoftmaxAttention:
    """The objective above on data X (N, s, d), Y (N, s, c) with ``heads`` heads shared by all query rows."""

    def __init__(self, X: np.ndarray, Y: np.ndarray, beta: float, heads: int) -> None:
        self.X, self.Y = check_data(X, Y)
        self.beta = check_beta(beta)
        self.heads = check_positive_int(heads, "heads")

    @property
    def n_params(self) -> int:
        d, c = self.X.shape[2], self.Y.shape[2]
        return self.heads * (2 * d * d + d + c)

    def init(self, rng: np.random.Generator) -> np.ndarray:
        """Standard normal weights of scale 1/sqrt(d)."""
        return rng.standard_normal(self.n_params) / np.sqrt(self.X.shape[2])

    def split(self, theta: np.ndarray) -> tuple[np.ndarray, ...]:
        """W_Q (m, d, d), W_K (m, d, d), v (m, d), w (m, c)."""
        m, d, c = self.heads, self.X.shape[2], self.Y.shape[2]
        Wq, Wk, v, w = np.split(theta, np.cumsum([m * d * d, m * d * d, m * d]))
        return Wq.reshape(m, d, d), Wk.reshape(m, d, d), v.reshape(m, d), w.reshape(m, c)

    def value_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """The regularised loss and its analytic gradient with respect to theta."""
        X = self.X
        Wq, Wk, v, w = self.split(theta)
        A = np.einsum("kab,kcb->kac", Wq, Wk)  # W_Q W_K^T
        logits = np.einsum("ita,kab,iub->iktu", X, A, X)
        P = np.exp(logits - logits.max(axis=3, keepdims=True))
        P /= P.sum(axis=3, keepdims=True)
        values = np.einsum("iua,ka->iku", X, v)
        mixed = np.einsum("iktu,iku->ikt", P, values)
        residual = np.einsum("ikt,kc->itc", mixed, w) - self.Y
        dmixed = np.einsum("itc,kc->ikt", residual, w)
        dP = np.einsum("ikt,iku->iktu", dmixed, values)
        dlogits = P * (dP - (dP * P).sum(axis=3, keepdims=True))
        dA = np.einsum("ita,iktu,iub->kab", X, dlogits, X)
        grads = [np.einsum("kac,kcb->kab", dA, Wk), np.einsum("kac,kab->kcb", dA, Wq),  # dA W_K, dA^T W_Q
                 np.einsum("iktu,ikt,iua->ka", P, dmixed, X), np.einsum("ikt,itc->kc", mixed, residual)]
        value = 0.5 * float(np.vdot(residual, residual)) + 0.5 * self.beta * float(theta @ theta)
        return value, np.concatenate([g.reshape(-1) for g in grads]) + self.beta * theta
