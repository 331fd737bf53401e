"""Benchmark (not a test): the digits the Gram form of a squared-loss program loses, and what the QR form keeps.

    python -m benchmarks.bench_cancellation [--seed S] [--noise 1 1e-2 ...]   (from the repository root)

One linear-attention program (N = 200, s = 4, d = 4, c = 2; X standard normal from numpy.random.default_rng(seed))
per noise level: the targets are A(Z0) + noise * E for a planted rank-2 Z0 and standard normal E, and beta is
0.1 noise beta_max, so C* / |y|^2 falls with the noise.  The program is solved by theory.solvers.solve(program, "prox") on its
Gram form (theory.solvers.gram, forced), and at the solution Z the objective C(Z) and the certified relative gap are
evaluated four ways (docs/theory.md §9.10):

- ``reference``: the residual y - A z in extended precision (numpy.longdouble, 64-bit mantissa) on the dense map;
- ``residual``: float64, y - A(Z) by the operator (what theory.solvers certifies and reports);
- ``qr``: float64 on the QR factorised Gram form, 1/2 |R z - u|^2 + 1/2 t^2 (what the solver iterates on);
- ``gram``: float64 on the Gram matrix, 1/2 (z^T G z - 2 z^T A^T y + |y|^2) with G = A^T A formed in float64, and
  its certificate from A^T V = A^T y - G z and |V|^2 = the same sum.

Printed per level: the normalised weight decay beta' (docs/theory.md §9.2), C* / |y|^2, the relative error of C(Z) each way against the reference, the prediction
u |y|^2 / C* of the Gram form's cancellation (u = 1.1e-16), the certified relative gap from the residual, and how
far the QR form's and the Gram form's certified gaps lie from it.
"""

from __future__ import annotations

import argparse

import numpy as np

import theory
from theory.lifted import beta_max, certified_gap, normalised
from theory.solvers import solve
from theory.solvers.gram import gram_form

UNIT_ROUNDOFF = np.finfo(float).eps / 2


def program_at(noise: float, seed: int):
    rng = np.random.default_rng(seed)
    N, s, d, c = 200, 4, 4, 2
    X = rng.standard_normal((N, s, d))
    theorem = theory.get("linear-attention").from_arrays({"X": X, "Y": np.zeros((N, s, c))}, 1.0, seed)
    Z0 = rng.standard_normal((d * d, 2)) @ rng.standard_normal((2, d * c))
    target = theorem.program.predict([Z0]) + noise * rng.standard_normal(N * s * c)
    program = theory.get("linear-attention").from_arrays({"X": X, "Y": target.reshape(N, s, c)}, 1.0, seed).program
    return type(program)(program.blocks, program.target, 0.1 * noise * beta_max(program), program.loss, program.classes)


def gram_values(program, Zs) -> tuple[float, float]:
    """C(Z) and the certified relative gap from G = A^T A, A^T y and |y|^2 only (float64)."""
    A, y, z = program.blocks[0].matrix, program.target, Zs[0].reshape(-1)
    G, b, yy = A.T @ A, A.T @ y, float(y @ y)
    penalty = program.beta * program.regulariser(Zs)
    loss = 0.5 * (z @ G @ z - 2 * z @ b + yy)
    dual = (b - G @ z).reshape(program.blocks[0].shape)
    alpha = min(1.0, program.beta / program.blocks[0].norm.dual(dual))
    inner, square = yy - z @ b, 2 * loss  # <V, y> and |V|^2 for V = y - A z
    lower = alpha * inner - 0.5 * alpha**2 * square
    value = loss + penalty
    return value, (value - lower) / value


def reference_value(program, Zs) -> float:
    A = program.blocks[0].matrix.astype(np.longdouble)
    residual = program.target.astype(np.longdouble) - A @ Zs[0].reshape(-1).astype(np.longdouble)
    return float(0.5 * np.sum(residual * residual)) + program.beta * program.regulariser(Zs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise", type=float, nargs="*", default=[1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7])
    args = parser.parse_args()
    print(f"seed {args.seed}; linear attention N 200, s 4, d 4, c 2, beta 0.1 noise beta_max; relative errors of C(Z)")
    print(f"{'noise':>7} {'beta_n':>8} {'C*/|y|^2':>9} {'residual':>9} {'qr':>9} {'gram':>9} {'u|y|^2/C*':>10} "
          f"{'gap residual':>12} {'qr - it':>9} {'gram - it':>9}")
    for noise in args.noise:
        program = program_at(noise, args.seed)
        solution = solve(program, "clarabel", max_gap=np.inf)
        Zs = solution.blocks
        reference = reference_value(program, Zs)
        exact_value, exact_gap = certified_gap(program, Zs)
        qr_value, qr_gap = certified_gap(gram_form(program).program, Zs)
        gram_value, gram_gap = gram_values(program, Zs)
        yy = float(program.target @ program.target)
        errors = [abs(value - reference) / reference for value in (exact_value, qr_value, gram_value)]
        print(f"{noise:7.0e} {normalised(program)[0].beta:8.1e} {reference / yy:9.1e} " + " ".join(f"{e:9.1e}" for e in errors)
              + f" {UNIT_ROUNDOFF * yy / reference:10.1e} {exact_gap:12.1e} {qr_gap - exact_gap:9.1e} "
              f"{gram_gap - exact_gap:9.1e}")


if __name__ == "__main__":
    main()
