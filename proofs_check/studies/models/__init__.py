"""Baseline models the studies train beside the convex programs: softmax attention and a small transformer block
(no certificate: non-convex, trained by restarts or AdamW)."""
