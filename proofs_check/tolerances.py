"""Every tolerance the witnesses use, each with the reason for its size (all relative to |C*|).

The convex optimum is known to the accuracy that the solver's own certificate proves: theory.lifted.certificate
gives a rigorous lower bound LB <= C* (weak duality at a feasible, rescaled residual) and the solution's
objective C(Z) >= C*.  theory.solvers accepts a solution only when (C(Z) - LB)/C(Z) <= 1e-7 (ACCEPT_GAP); the
tolerances below sit at least ten times above that and several orders below every effect they are meant to detect
(a gap at too small a width is ~1e-4 or more).
"""

#: Weak duality: a restart may lie below the certified lower bound LB only by float64 round-off in evaluating
#: the two objectives (sums of at most ~1e5 terms of size ~|C*|: < 1e-11 relative); 1e-9 leaves margin.
ROUNDOFF = 1e-9

#: Zero gap: best restart <= C(Z*) + GAP |C*|.  C(Z*) is within ~1e-9 of C* (certificate) and L-BFGS, stopped
#: at ftol = 1e-14 / gtol = 1e-10, ends within ~1e-11 of a minimum (measured); 1e-6 sits ten times above the
#: solvers' acceptance gap (theory.solvers.ACCEPT_GAP = 1e-7) and far above both of those errors.
GAP = 1e-6

#: Recovery: the recovered heads reproduce Z* up to the dropped components, which by construction change the
#: objective by at most theory.lifted.TRUNCATION_TOL = 1e-8 relative; the rank reduction keeps it to 1e-9.
RECOVERY = 1e-6

#: Dual certificate: the dual objective LB of the rescaled (feasible) residual equals C(Z*) within this, in absolute
#: value: ten times the accepted certified gap, and an LB above C(Z*) (a wrong dual) fails as well.  The unscaled
#: residual is only reported: its distance to the dual optimum is O(sqrt(gap)) (docs/theory.md §10.2).
DUAL = 1e-6

#: Width necessity: with m* - 1 heads the best restart must stay at least this far above C*: ten times GAP, so
#: that "above" is never confused with the zero gap that the witness (b) accepts.
NARROW = 10 * GAP

#: Exact program of a relaxation (relu-attention, docs/theory.md §4.4): the ReLU network found by column generation
#: and the oracle's certified lower bound agree within this.  Column generation stops at 1e-8
#: (theory.relu_exact.EXACT_TOL) and reached at most 3.5e-7 on the drawn instances of docs/theory.md §4.4
#: when it ran out of rounds; the gaps it is meant to tell apart (relaxation, restarts) are above 1e-3.
EXACT_GAP = 1e-6
