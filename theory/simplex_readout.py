"""The read-out attention model of [E22] §3.2-§3.3 as the formalization transcribes it, docs/theory.md §8.10.

Shared by `convex-attention-scalar` (Theorem 1, eqs. (8)-(9)) and `convex-attention-vector` (Theorem 2, eqs.
(11)-(12)); Theorem 1 is Theorem 2 at c = 1.  One output per sample, no averaging over tokens: h heads, each with
an attention vector a_j in the simplex Delta_s (not decayed), a value v_j in R^d and an output w_j in R^c,

    f(X) = sum_j (a_j^T X v_j) w_j in R^c,    decay  beta/2 sum_j (|v_j|_2^2 + |w_j|_1^2)        (11)

(|w_j|_1^2 = w_j^2 for the scalar output of (8)).  Lifting: one group z_{l,k} = sum_j a_j[k] v_j w_j[l] in R^d per
(output l, token k), f(X)[l] = sum_k x_k^T z_{l,k}.  By the triangle inequality and sum_k a_j[k] = 1,
sum_{l,k} |z_{l,k}|_2 <= sum_j |v_j|_2 |w_j|_1 <= 1/2 sum_j (|v_j|^2 + |w_j|_1^2), and one head per non-zero group
(a = e_k, v = z / sqrt|z|, w = sqrt|z| e_l: [E22] Proposition 1 with the support index e_{k_j}, not e_j) attains it,
so with h >= the number of non-zero groups training is equivalent to

    min_z  l(F(z), Y) + beta sum_{l,k} |z_{l,k}|_2,                                               (12, corrected)

a group lasso over (output, token) pairs: sparse across tokens.  The loss of (11) is applied to the whole output
row, so the equivalence holds for every convex loss (printed (12) sums a scalar loss over outputs, the same only for
separable losses; the formalization adds that hypothesis).  The printed (9) also halves the loss a second time
(docs/theory.md §8.10, `proofs-check errata`).  At an extreme point of the optimal face the number of non-zero
groups is at most N c + 1 (Caratheodory, [E22] Appendix A.4; for c = 1: N + 1), which the structure witness checks
(Frobenius blocks have rank <= 1, so sum_p r_p (r_p + 1) / 2 is the number of non-zero groups).

Attention rows are parametrised as a = b^2 / |b|^2 (theory.simplex_heads).  The decay |w|_1^2 is not differentiable
where an entry of w is 0, so for c >= 2 theta holds p with w = p o |p| (``output_chart``): the same network and the
same decay as functions of w, a smooth objective for L-BFGS.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from theory.base import Factors, Theorem
from theory.data import check_data
from theory.errors import InputError
from theory.lifted import Block
from theory.losses import Loss
from theory.operators import DenseMap
from theory.regularisers import FROBENIUS
from theory.simplex_heads import init_near_vertices, simplex_rows, simplex_rows_vjp


def readout_targets(X: np.ndarray, Y: object, loss: Loss, name: str) -> np.ndarray:
    """One target per sample: Y (N,) or (N, c) (integer labels (N,) for the cross-entropy loss), or the stored
    (N, 1, c), checked by theory.data.check_data and returned as (N, 1, c)."""
    Y = np.asarray(Y)
    if Y.ndim == 3 and Y.shape[1] == 1:
        Y = Y[:, 0, :]
    elif Y.ndim == 3:
        raise InputError(f"{name} takes one target per sample, Y (N,) or (N, c), got token-wise targets {Y.shape}")
    if Y.ndim == 1 and Y.dtype.kind == "f":
        Y = Y[:, None]  # one real number per sample: the scalar output of [E22] eq. (8)
    return check_data(X, Y, loss)[1][:, None, :]


class SimplexReadout(Theorem):
    """The model (11) of the module docstring; subclasses name it and fix the output dimension."""

    sample_targets: ClassVar[bool] = True
    undecayed = ("b",)

    def check_targets(self, Y: np.ndarray) -> np.ndarray:
        return readout_targets(self.X, Y, self.loss, self.name)

    # ---- primal ------------------------------------------------------------------------------------------
    #: How theta holds the output weights w_j: "direct" (w itself; the scalar theorem, w_j^2 is smooth) or
    #: "signed-square" (an array p with w = p o |p| entrywise, a smooth bijection of R^c under which the decay
    #: |w|_1^2 = |p|_2^4 is smooth: plain L-BFGS on the kink of |w|_1^2 stopped 4.5e-4 above C* on the default
    #: instance of convex-attention-vector, docs/theory.md §8.10).
    output_chart: ClassVar[str] = "direct"

    def _outputs(self, W: np.ndarray) -> np.ndarray:
        """The output weights w as (m, c), from the array theta holds (``output_chart``)."""
        W = W.reshape(len(W), self.dims["c"])
        return W * np.abs(W) if self.output_chart == "signed-square" else W

    def _output_vjp(self, W: np.ndarray, dW: np.ndarray) -> np.ndarray:
        """The gradient with respect to theta's output array of <dW, w> (dW (m, c))."""
        P = W.reshape(len(W), self.dims["c"])
        return (2 * np.abs(P) * dW if self.output_chart == "signed-square" else dW).reshape(W.shape)

    def output_array(self, w: np.ndarray) -> np.ndarray:
        """Theta's output array for output weights w (m, c): the inverse of the chart (p = sign(w) sqrt|w|)."""
        return np.sign(w) * np.sqrt(np.abs(w)) if self.output_chart == "signed-square" else w

    def _head_values(self, B: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """a_j (m, s), x_{i,k}^T v_j (N, m, s) and u[i, j] = a_j^T X_i v_j (N, m)."""
        A = simplex_rows(B)
        projected = np.einsum("ika,ja->ijk", self.X, V)
        return A, projected, np.einsum("jk,ijk->ij", A, projected)

    def forward(self, weights: list[np.ndarray]) -> np.ndarray:
        B, V, W = weights
        return (self._head_values(B, V)[2] @ self._outputs(W))[:, None, :]

    def backward(self, weights: list[np.ndarray], dF: np.ndarray) -> list[np.ndarray]:
        B, V, W = weights
        A, projected, values = self._head_values(B, V)
        G = dF[:, 0, :]
        dvalues = G @ self._outputs(W).T  # (N, m)
        dV = np.einsum("ij,jk,ika->ja", dvalues, A, self.X)
        dA = np.einsum("ij,ijk->jk", dvalues, projected)
        return [simplex_rows_vjp(B, dA), dV, self._output_vjp(W, values.T @ G)]

    def weight_decay(self, theta: np.ndarray, m: int) -> float:
        """1/2 sum_j (|v_j|_2^2 + |w_j|_1^2): the decay of (8) and (11), not 1/2 |theta|^2."""
        _, V, W = self.unpack(theta, m)
        return 0.5 * float(np.sum(V * V) + np.sum(np.abs(self._outputs(W)).sum(axis=1) ** 2))

    def objective_and_gradient(self, theta: np.ndarray, m: int) -> tuple[float, np.ndarray]:
        weights = self.unpack(theta, m)
        F = self.forward(weights)
        value = self.loss.value(F, self.Y) + self.beta * self.weight_decay(theta, m)
        dB, dV, dW = self.backward(weights, self.loss.gradient(F, self.Y))
        _, V, W = weights
        w = self._outputs(W)  # d/dw 1/2 |w|_1^2 = |w|_1 sign(w), through the chart
        dW = dW + self.beta * self._output_vjp(W, np.abs(w).sum(axis=1, keepdims=True) * np.sign(w))
        return value, self.pack([dB, dV + self.beta * V, dW])

    def init(self, m: int, rng: np.random.Generator) -> np.ndarray:
        return init_near_vertices(self, m, rng)

    # ---- program, recovery, structure --------------------------------------------------------------------
    def outputs_per_block(self) -> int:
        """N: a group (l, k) reaches output l of every sample."""
        return self.dims["N"]

    def block_shapes(self) -> list[tuple[int, int]]:
        """One d x 1 group per (output l, token k), at index l s + k."""
        return [(self.dims["d"], 1)] * (self.dims["c"] * self.dims["s"])

    def build_blocks(self) -> tuple[Block, ...]:
        """Group (l, k): A[(i, 0, e), a] = x_{i,k}[a] 1[e = l], Frobenius (= Euclidean) norm."""
        N, s, d = self.X.shape
        c = self.dims["c"]
        return tuple(Block(DenseMap(self.X[:, k, :], (d, 1), N * c, np.arange(N) * c + l), (d, 1), FROBENIUS,
                           label=f"output {l}, token {k}") for l in range(c) for k in range(s))

    def lift_weights(self, weights: list[np.ndarray]) -> list[np.ndarray]:
        B, V, W = weights
        Z = np.einsum("jk,ja,jl->lka", simplex_rows(B), V, self._outputs(W))
        return list(Z.reshape(-1, self.dims["d"], 1))

    def weights_from_factors(self, factors: Factors, m: int) -> list[np.ndarray]:
        """One head per non-zero group (l, k): a = e_k, v = z / sqrt|z|, w = sqrt|z| e_l (the factor pairs of a
        Frobenius block, theory.regularisers).  Unused heads get v = w = 0 and a uniform row (b = 1)."""
        B, V, W = (np.zeros(shape) for shape in self.param_shapes(m))
        B[:] = 1.0
        W2 = W.reshape(m, self.dims["c"])
        s = self.dims["s"]
        heads = [(p, G, gain) for p, pairs in enumerate(factors) for G, gain in pairs]
        for j, (p, G, gain) in enumerate(heads):  # G (d, 1) and gain >= 0, or a signed pair (u, [w]) of a d x 1 SVD
            output, token = divmod(p, s)
            B[j] = np.eye(s)[token]
            V[j] = np.reshape(G, -1)
            W2[j, output] = float(np.reshape(gain, -1)[0])
        return [B, V, self.output_array(W2).reshape(W.shape)]

    def heads_for_zero_gap(self) -> int:
        """2 s c: two heads per group with the rows near the vertices (theory.simplex_heads), at least the s c of
        the formalization's corrected theorems (one head per token and output)."""
        return 2 * self.dims["s"] * self.dims["c"]

    def active_groups(self, factors: Factors) -> list[dict[str, int]]:
        """The non-zero groups of a solution's factors: (output l, token k)."""
        s = self.dims["s"]
        return [{"output": p // s, "token": p % s} for p, pairs in enumerate(factors) if pairs]

    def report_fields(self, blocks: list[np.ndarray], factors: Factors) -> dict[str, object]:
        """``active_groups`` (output, token) with z != 0, ``active_tokens``, and the corrected head bound: the
        heads needed (one per active group) against N c + 1 (Caratheodory) and s c (one head per group)."""
        groups = self.active_groups(factors)
        N, s, c = self.dims["N"], self.dims["s"], self.dims["c"]
        return {"active_groups": groups, "active_tokens": sorted({g["token"] for g in groups}),
                "head_bound": {"heads_needed": len(groups), "caratheodory": N * c + 1, "groups": s * c}}
