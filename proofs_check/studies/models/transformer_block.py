"""A standard one-layer softmax-attention transformer block in numpy, with analytic gradients and AdamW: the
non-convex baseline of the grokking experiment (proofs_check.studies.grokking; [E22] compares its convex block with it).

Only the last position (the "=" token of a sequence (a, b, =)) is read out, so only its query is computed:

    h_t   = E[token_t] + P_t                                   (token and position embeddings, width D)
    q     = h_last Wq,  k_t = h_t Wk,  v_t = h_t Wv            (H heads of width D / H)
    att_h = softmax_t(q_h . k_{t,h} / sqrt(D / H))
    r     = h_last + (sum_t att_h[t] v_{t,h})_h Wo              (attention with a residual connection)
    o     = r + relu(r W1 + b1) W2 + b2                         (MLP with a residual connection; no layer norm)
    logits = o Wu,  loss = (1/n) sum_i l(logits_i, onehot(y_i))   (l a loss of theory.losses: the softmax
                                                                  cross-entropy of the grokking papers, or squared)

The softmax Jacobian-vector product is that of proofs_check.studies.models.softmax_attention: dlogits = P (dP - <dP,
P>). AdamW (Loshchilov & Hutter 2019): Adam on the loss's gradient plus decoupled weight decay
theta <- theta - lr wd theta on every weight, as in the grokking papers (Power et al. 2022).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theory.losses import CROSS_ENTROPY, Loss

NAMES = ("E", "P", "Wq", "Wk", "Wv", "Wo", "W1", "b1", "W2", "b2", "Wu")


@dataclass(frozen=True)
class BlockShape:
    vocabulary: int  # token ids 0 .. vocabulary - 1
    length: int  # tokens per sequence
    width: int  # D
    heads: int  # H, dividing D
    hidden: int  # MLP width
    outputs: int  # logits

    def shapes(self) -> dict[str, tuple[int, ...]]:
        D = self.width
        return {"E": (self.vocabulary, D), "P": (self.length, D), "Wq": (D, D), "Wk": (D, D), "Wv": (D, D),
                "Wo": (D, D), "W1": (D, self.hidden), "b1": (self.hidden,), "W2": (self.hidden, D), "b2": (D,),
                "Wu": (D, self.outputs)}


def init_params(shape: BlockShape, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Normal weights of variance 1 / fan-in (embeddings: 1 / D), zero biases."""
    params = {}
    for name, size in shape.shapes().items():
        fan_in = size[1] if name in ("E", "P") else size[0]
        params[name] = np.zeros(size) if name.startswith("b") else rng.standard_normal(size) / np.sqrt(fan_in)
    return params


def _forward(params: dict[str, np.ndarray], tokens: np.ndarray, heads: int) -> tuple[np.ndarray, dict]:
    """Logits (n, outputs) and the intermediate values the backward pass needs."""
    h = params["E"][tokens] + params["P"]  # (n, s, D)
    n, s, D = h.shape
    width = D // heads
    q = (h[:, -1] @ params["Wq"]).reshape(n, heads, width)
    k = (h @ params["Wk"]).reshape(n, s, heads, width)
    v = (h @ params["Wv"]).reshape(n, s, heads, width)
    scores = np.einsum("nhe,nshe->nhs", q, k) / np.sqrt(width)
    att = np.exp(scores - scores.max(axis=2, keepdims=True))
    att /= att.sum(axis=2, keepdims=True)
    context = np.einsum("nhs,nshe->nhe", att, v).reshape(n, D)
    r = h[:, -1] + context @ params["Wo"]
    pre = r @ params["W1"] + params["b1"]
    out = r + np.maximum(pre, 0.0) @ params["W2"] + params["b2"]
    cache = {"h": h, "q": q, "k": k, "v": v, "att": att, "context": context, "r": r, "pre": pre, "out": out}
    return out @ params["Wu"], cache


def logits(params: dict[str, np.ndarray], tokens: np.ndarray, heads: int) -> np.ndarray:
    """The block's output (n, outputs) for token sequences (n, s)."""
    return _forward(params, tokens, heads)[0]


def loss_and_gradient(params: dict[str, np.ndarray], tokens: np.ndarray, targets: np.ndarray, heads: int,
                      loss: Loss = CROSS_ENTROPY) -> tuple[float, dict[str, np.ndarray]]:
    """(1/n) sum_i l(logits_i, targets_i) and its gradient with respect to every parameter."""
    out_logits, c = _forward(params, tokens, heads)
    n = len(tokens)
    d_logits = loss.gradient(out_logits, targets) / n
    grads = {"Wu": c["out"].T @ d_logits}
    d_out = d_logits @ params["Wu"].T
    act = np.maximum(c["pre"], 0.0)
    grads["W2"], grads["b2"] = act.T @ d_out, d_out.sum(axis=0)
    d_pre = (d_out @ params["W2"].T) * (c["pre"] > 0)
    grads["W1"], grads["b1"] = c["r"].T @ d_pre, d_pre.sum(axis=0)
    d_r = d_out + d_pre @ params["W1"].T
    grads["Wo"] = c["context"].T @ d_r
    h, q, k, v, att = c["h"], c["q"], c["k"], c["v"], c["att"]
    width = q.shape[2]
    d_context = (d_r @ params["Wo"].T).reshape(q.shape)
    d_att = np.einsum("nhe,nshe->nhs", d_context, v)
    d_v = np.einsum("nhs,nhe->nshe", att, d_context).reshape(h.shape)
    d_scores = att * (d_att - (d_att * att).sum(axis=2, keepdims=True)) / np.sqrt(width)
    d_q = np.einsum("nhs,nshe->nhe", d_scores, k).reshape(n, -1)
    d_k = np.einsum("nhs,nhe->nshe", d_scores, q).reshape(h.shape)
    grads["Wq"] = h[:, -1].T @ d_q
    tokens_flat = h.reshape(-1, h.shape[2]).T
    grads["Wk"], grads["Wv"] = tokens_flat @ d_k.reshape(-1, h.shape[2]), tokens_flat @ d_v.reshape(-1, h.shape[2])
    d_h = d_k @ params["Wk"].T + d_v @ params["Wv"].T
    d_h[:, -1] += d_r + d_q @ params["Wq"].T
    grads["P"] = d_h.sum(axis=0)
    grads["E"] = np.zeros_like(params["E"])
    np.add.at(grads["E"], tokens, d_h)
    return loss.value(out_logits, targets) / n, grads


@dataclass
class AdamW:
    """AdamW state for a parameter dictionary; :meth:`step` updates the parameters in place."""

    learning_rate: float
    weight_decay: float
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-8

    def __post_init__(self) -> None:
        self.moments: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.steps = 0

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        self.steps += 1
        b1, b2 = self.betas
        for name, g in grads.items():
            m, v = self.moments.get(name, (np.zeros_like(g), np.zeros_like(g)))
            m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
            self.moments[name] = (m, v)
            update = (m / (1 - b1**self.steps)) / (np.sqrt(v / (1 - b2**self.steps)) + self.eps)
            params[name] -= self.learning_rate * (update + self.weight_decay * params[name])
