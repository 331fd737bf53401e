"""`proofs-check`: verify the convex-duality theorems from the command line.

    proofs-check list [--weights]                   the theorems (--weights: each one's weight arrays and axes)
    proofs-check certify THEOREM --data FILE.npz --weights W.npz [--beta B] [--seed S] [--solver NAME] [--loss L]
                         [--json OUT] [--save-optimum OUT.npz]
                                            your weights' objective against the certified lower bound (exit 1 if
                                            the objective lies below it, which weak duality forbids)
    proofs-check run [THEOREM ...] [--restarts K] [--seed S] [--solver NAME] [--loss L] [--convex-only] [--json OUT]
                     [--workers N] [--dask-scheduler ADDRESS]
                     [--report [DIR] | --no-report]     also writes DIR/report.md, report.json and PNG plots
                                            (DIR: reports/ unless given; --no-report writes nothing)
    proofs-check verify THEOREM --data FILE.npz [--beta B] [--heads M] [--restarts K] [--seed S]
                        [--solver NAME] [--loss L] [--convex-only] [--json OUT] [--report [DIR] | --no-report]
                        [--workers N] [--dask-scheduler ADDRESS]
                                            (a report of the verification only, and only when --report is given)
    proofs-check reproduce [--quick] [--claim PREFIX ...] [--json OUT]
                                            every number the README and docs/ quote, re-measured against
                                            proofs_check/measurements/claims.toml (exit 1 on a mismatch)
    proofs-check experiment [digits] [--n-train N] [--n-test N] [--features D] [--beta B] [--loss L ...]
                        [--seed S] [--solver NAME] [--report [DIR]] [--json OUT]
                                            the digits transfer experiment (proofs_check.studies.digits)
    proofs-check experiment grokking [--modulus P] [--train-fraction F ...] [--seed S ...] [--steps K] [--loss L]
                        [--report [DIR]] [--json OUT]   modular division (proofs_check.studies.grokking)
    proofs-check experiment student-teacher [--seed S] [--restarts K] [--solver NAME] [--report [DIR]] [--json OUT]
                                            a frozen random teacher layer (proofs_check.studies.student_teacher)
    proofs-check experiment relu-exact [--theorem relu-attention|relu-mixer] [--seed S ...] [--beta B ...]
                        [--target T ...] [--restarts K] [--report [DIR]] [--json OUT]
                                            the exact ReLU program on drawn tiny instances
                                            (proofs_check.studies.relu_exact)
    proofs-check path [THEOREM] [--data FILE.npz] [--points K] [--seed S] [--solver NAME] [--plot PNG] [--json OUT]
                      [--workers N] [--dask-scheduler ADDRESS]
                                            the regularisation path (proofs_check.studies.path; default
                                            convex-attention)
    --workers N runs the restarts (the path's points) on N local processes, --dask-scheduler ADDRESS on a Dask
    cluster (proofs_check.parallel); the values are those of the serial run.
    proofs-check compare [--data FILE.npz] [--beta B] [--seed S] [--solver NAME] [--json OUT]
                                            attention, MLP-Mixer and FNO optima on one data set
                                            (proofs_check.studies.compare)
    proofs-check errata [--restarts K] [--seed S] [--json OUT]
                                            every printed statement of [E22] the suite checks, on an instance, with
                                            its verdict (proofs_check.studies.errata; exit 1 if a verdict is not
                                            the expected)
    proofs-check cluster [--data FILE.npz] [--theorem NAME] [--beta B | --beta-fraction F] [--clusters K]
                         [--seed S] [--solver NAME] [--gates P] [--json OUT] [--plot PNG]
                                            token clusters read off the certified solution, against baselines
                                            (proofs_check.studies.clustering)

Exit codes: 0 every witness passed, 1 a witness failed, 2 bad input (one line on stderr, no traceback).
"""

from __future__ import annotations

import sys
from typing import Sequence

from proofs_check.cli import studies, verification
from proofs_check.cli.arguments import Parser, UsageError
from theory.errors import InputError, SolverFailure
from theory.threads import blas_thread_limit

#: Every subcommand: name -> (help, add its arguments to its parser, run it on the parsed arguments -> exit code).
COMMANDS = {**verification.COMMANDS, **studies.COMMANDS}


def parser() -> Parser:
    """The command line of COMMANDS."""
    root = Parser(prog="proofs-check", description="Verify convex-duality theorems for attention networks.")
    commands = root.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name, (help_text, add_arguments, _) in COMMANDS.items():
        add_arguments(commands.add_parser(name, help=help_text))
    return root


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
        blas_thread_limit()  # a bad PROOFS_CHECK_BLAS_THREADS is refused before any work
        return COMMANDS[args.command][2](args)
    except (UsageError, InputError, SolverFailure) as exc:
        print(f"proofs-check: error: {exc}", file=sys.stderr)
        return 2
