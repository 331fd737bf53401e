"""Token clustering by *latent* similarity: data where latent and raw similarity disagree, four read-outs of the
certified convex solution, the baselines they must beat, and the map over nuisance scale x samples x beta.

docs/theory.md §12 (the claim of [S22], docs/theory.md §4.3 "Token clustering", made falsifiable).  In linear attention
the logit of query t and key u is x_t^T W1_j x_u; in gated-ReLU attention it is masked by D_p[t, u] =
1[x_t^T H_p x_u >= 0], so token t sees the others only through G_{p,t} = sum_{u in S_p(t)} x_u x_u^T.  A target
that sums a value over a token's group-mates is what a bilinear logit that is large within a group and small
across groups produces; that is where a learned W1 should read the latent subspace and ignore the nuisance.

Data (:func:`latent_tokens`).  d = latent_dim + nuisance_dim; a seeded rotation splits R^d into the latent
subspace L and the nuisance subspace.  The k centres are k orthonormal directions of L scaled by 1/sqrt(2), so
every two are at distance 1 (k <= latent_dim): then K = 2 P_L gives mu_g^T K mu_h = 1[g = h] exactly, so the
family is one that linear attention can represent, and a failure cannot be blamed on the family
(``centres="antipodal"``: two groups at +-mu/2 instead, the same distance and the same second moment, outside what
linear attention can separate: docs/theory.md §12.8).  Token
x = L (mu_g + noise e) + (nuisance part), independent of the group, of one of two kinds:
- ``gaussian``: nuisance_scale times standard normal coordinates (per-direction standard deviation
  ``nuisance_scale``, against 1/2 for the centres along their difference);
- ``decoy``: a second, independent grouping built like the latent one in the nuisance subspace, scaled by
  ``nuisance_scale`` and DECOY_SPREAD times tighter, so raw, principal and whitened similarity all prefer it.
Targets (c = 1):
- ``token``:     y_t = a_{g(t)}, a_g standard normal (token-wise);
- ``group-sum``: y_t = sum_{u : g(u) = g(t)} v^T x_u, v a unit direction of the nuisance subspace (context-
  dependent: which tokens are summed is the group, what is summed is group-independent, so the targets of one
  group differ from sample to sample and carry no group label across samples).
At noise 0 the planted heads W1 = 2 P_L, W2 = v fit ``group-sum`` exactly (tested).

Read-outs of the certified solution (:func:`read_solution`; heads recovered by the theorem's
weights_from_factors from the rank-reduced optimum), each scored against the planted groups (:func:`score`):
- ``heads``: k-means on all heads' query and key projections [W1_j^T x, W1_j x]_j (:func:`head_projections`);
- ``head``: the same per head, ARI averaged with the head's singular value as weight;
- ``logits``: the recovered attention logits x_t^T W1_j x_u (gated: times the head's mask 1[x_t^T H_p x_u >= 0])
  over all pairs of tokens of the data set, same- against different-group pairs, as |2 AUC - 1| (0: no
  separation, 1: a threshold separates them; sign-free because (W1, W2) -> (-W1, -W2) is the same network),
  averaged with the singular values as weights;
- ``masks`` (gated only): the same separation for the masks D_p of the active gates, weighted by |Z_p|_*;
- ``query_key``: alignment of the heads' query/key subspace (top left singular vectors of [W1_j, W1_j^T]_j) with
  the latent subspace: the mean cos^2 of the principal angles (1: inside L; a random subspace scores dim L / d);
- ``value``: the same for the value subspace (W2_j); reported, not compared (it should read v for group-sum).
Convex attention ([E22]) has no token-dependent logits: its heads are value maps v_tk of rows fixed by position,
so ``heads``/``head`` use x^T v_tk, ``logits`` the position map |Z_tu|_*, and ``query_key``/``masks`` do not exist.

Baselines (:func:`baseline_scores`), in the same units: k-means ARI / distance separation on the raw tokens, on
their top principal components (as many as the latent dimension), on the whitened tokens and on the targets; the
principal subspace and the chance value dim L / d for the alignment; and the shuffled control: the same read-outs
of the solution on the same tokens with the targets moved to other samples (a derangement), which no longer
depend on the tokens' groups.  A read-out wins a map cell when it beats all of them by MARGIN in every seed.
"""
