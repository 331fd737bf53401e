"""The two kinds of failure the suite reports instead of a number."""


class InputError(ValueError):
    """Bad input: wrong shapes, non-finite values, beta <= 0, unknown names, bad options."""


class SolverFailure(RuntimeError):
    """A convex solver that is not installed, or that did not report an optimal solution."""
