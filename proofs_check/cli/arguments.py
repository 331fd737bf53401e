"""What the subcommands share: the parser that turns argparse's complaints into one-line errors, the common options,
the theorem options read from them."""

from __future__ import annotations

import argparse

from theory.losses import LOSSES, get_loss
from theory.solvers import SOLVERS

DEFAULT_SEED = 0


class UsageError(Exception):
    """argparse's complaint, turned into our one-line error."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def count(name: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer >= 1, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name} must be an integer >= 1, got {value}")
        return value
    parse.__name__ = name
    return parse


def parallel_arguments(sub: argparse.ArgumentParser, what: str) -> None:
    sub.add_argument("--workers", type=count("workers"), default=1,
                     help=f"run the {what} on N local worker processes (default 1: serially; same values)")
    sub.add_argument("--dask-scheduler", default=None, metavar="ADDRESS",
                     help=f"run the {what} on the Dask cluster of this scheduler (e.g. tcp://host:8786; needs "
                          "proofs-check[dask]); with --workers N, N at a time, else all of its threads")


def loss_argument(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--loss", default="squared", help=f"one of {', '.join(LOSSES)} (default squared); cross-entropy "
                                                        "takes integer labels Y, (N,) pooled or (N, s) token-wise")


def solver_argument(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--solver", default="auto", help=f"one of {', '.join(SOLVERS)} (default auto: prox, on the "
                                                      "Gram form where it is smaller, for large programs, cvxpy "
                                                      "below; theory.solvers)")


def theorem_options(args: argparse.Namespace) -> dict[str, object]:
    """The loss (where the subcommand takes one), and the theorem options given on the command line (a theorem that
    takes none rejects them with exit 2)."""
    options = {} if args.gates is None else {"gates": args.gates}
    return {**options, "loss": get_loss(args.loss)} if "loss" in args else options
