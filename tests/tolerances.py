"""The tolerances of the tests themselves, defined once (the witnesses' own are in proofs_check/tolerances.py)."""

#: Two float64 evaluations of the same sums (in another order, by loops or by FFT) agree to this relative to the
#: largest entry: sums of at most a few thousand terms, each with relative round-off ~1e-16.
ROUND_OFF = 1e-12

#: Two solutions of one program that each certify a relative gap of at most theory.solvers.ACCEPT_GAP = 1e-7 lie
#: within 2 ACCEPT_GAP of each other (both within ACCEPT_GAP above C*).
TWO_ACCEPTED = 2e-7

#: Two prox solutions, each stopped on a certified relative gap of 1e-8 (theory.solvers), agree within 2e-8.
TWO_CERTIFIED = 2e-8

#: A witness's value read from a report: the tolerance of that witness in proofs_check.tolerances (GAP, RECOVERY:
#: 1e-6), so a report that passed its witnesses passes these asserts too.
WITNESS = 1e-6
