"""The tolerances of the tests themselves, defined once (the witnesses' own are in proofs_check/tolerances.py)."""

#: Two float64 evaluations of the same sums (in another order, by loops or by FFT) agree to this relative to the
#: largest entry: sums of at most a few thousand terms, each with relative round-off ~1e-16.
ROUND_OFF = 1e-12
