"""The subcommands on theorems: list them, verify them (run: default instances; verify: a data file) and certify
weights trained elsewhere, each over proofs_check.api."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from proofs_check import api
from proofs_check.cli.arguments import DEFAULT_SEED, count, loss_argument, parallel_arguments, solver_argument
from proofs_check.harness import Verification, verify
from proofs_check.parallel import backend
from proofs_check.presentation.progress import Progress
from proofs_check.presentation.report import DEFAULT_DIR as DEFAULT_REPORT_DIR, write_report
from proofs_check.presentation.text import certification_lines, format_table, verification_lines
from proofs_check.weights import layout, save_weights
from theory.errors import InputError
import theory


#: The axis letters of the weight arrays (theory.base.Theorem.weight_axes), for `list --weights`.
AXES = ("m: heads or units (gated theorems: per gate; convex-attention, convex-attention-fc and relu-attention-fc: "
        "per query row, and per gate for convex-attention-fc; the read-out theorems convex-attention-scalar and "
        "-vector: in all; fno-modes, afno: channels), P: gates, s: tokens, d: features, c: outputs, k: kept Fourier "
        "modes, b: channel blocks with D inputs and C outputs each (afno); _re and _im: the real and imaginary parts "
        "of complex weights; 'no decay': no weight decay "
        "on that array; "
        "convex-attention-vector's p: the output map w = p o |p|, decayed by |w|_1^2")


def _list_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--weights", action="store_true",
                     help="list each theorem's weight arrays and their axes (the format of certify's files)")


def _command_list(args: argparse.Namespace) -> int:
    for cls in theory.REGISTRY.values():
        if args.weights:
            print(f"{cls.name:<22} {layout(cls)}")
        else:
            print(f"{cls.name:<22} {cls.statement}\n{'':<22} paper: {cls.paper}\n{'':<22} equation: {cls.equation}")
    if args.weights:
        print(f"axes: {AXES}")
    return 0


def _verification_arguments(name: str):
    """The options of ``run`` (its theorems) or ``verify`` (one theorem on a data file)."""
    def add(sub: argparse.ArgumentParser) -> None:
        default = DEFAULT_REPORT_DIR if name == "run" else None
        sub.add_argument("--report", type=Path, nargs="?", const=DEFAULT_REPORT_DIR, default=default, metavar="DIR",
                         help=f"write report.md, report.json and PNG plots into DIR (DIR default "
                              f"{DEFAULT_REPORT_DIR}; "
                              f"{'written unless --no-report' if default else 'not written unless given'})")
        sub.add_argument("--no-report", dest="report", action="store_const", const=None,
                         help="print only; write no report files")
        if name == "run":
            sub.add_argument("theorems", nargs="*", metavar="THEOREM")
        else:
            sub.add_argument("theorem", metavar="THEOREM")
            sub.add_argument("--data", required=True, type=Path, help=".npz with X (N, s, d) and Y (N, s, c)")
            sub.add_argument("--beta", type=float, default=None, help="weight decay (default: the theorem's)")
            sub.add_argument("--heads", type=count("heads"), default=None, help="width for the zero-gap witness")
            sub.add_argument("--exact", action="store_true",
                             help="relu-attention, relu-mixer: also solve the exact program and certify the ReLU "
                                  "network itself (docs/theory.md §4.4, §5.3; run does this on the default "
                                  "instance)")
            sub.add_argument("--save-optimum", type=Path, default=None, metavar="OUT.npz",
                             help="write the globally optimal network: the recovered one of an exact theorem, the "
                                  "exact program's for relu-attention or relu-mixer --exact (W1, W2 as list "
                                  "--weights says)")
        sub.add_argument("--restarts", type=count("restarts"), default=20, help="restarts per width (default 20)")
        sub.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of data and restarts (default 0)")
        solver_argument(sub)
        loss_argument(sub)
        sub.add_argument("--gates", type=count("gates"), default=None,
                         help="gated theorems: number of gates drawn from the seed (ignored if the data holds H)")
        sub.add_argument("--modes", type=count("modes"), default=None,
                         help="fno-modes, afno: the lowest K Fourier modes kept (default all floor(s/2) + 1)")
        sub.add_argument("--channel-blocks", type=count("channel blocks"), default=None,
                         help="afno: B equal channel blocks, B dividing d and c (default 2 when both are even)")
        sub.add_argument("--batched", action="store_true", help="batched restarts (vectorised phase + L-BFGS polish)")
        sub.add_argument("--convex-only", action="store_true",
                         help="no restarts: the certified optimum, certificate, structure and recovery only")
        sub.add_argument("--json", type=Path, default=None, help="write the results as JSON here")
        parallel_arguments(sub, "restarts")
    return add


def _verify_and_show(theorem: theory.Theorem, args: argparse.Namespace, workers: int,
                     heads: int | None = None, exact: bool = False) -> Verification:
    with Progress(theorem.name) as progress:
        return verify(theorem, heads=heads, restarts=args.restarts, seed=args.seed, solver=args.solver,
                      progress=progress, batched=args.batched, convex_only=args.convex_only, workers=workers,
                      exact=exact)


def _command_run(args: argparse.Namespace, workers: int) -> list[Verification]:
    classes = [theory.get(name) for name in args.theorems or theory.REGISTRY]
    if not args.theorems:  # every theorem stated for the loss (a named theorem that is not stated for it exits 2)
        skipped = [cls.name for cls in classes if args.loss not in cls.losses]
        classes = [cls for cls in classes if cls.name not in skipped]
        if skipped:
            print(f"not stated for the {args.loss} loss, skipped: {', '.join(skipped)}")
    results = []
    for cls in classes:
        bound = api.theorem(cls.name, seed=args.seed, loss=args.loss, gates=args.gates, modes=args.modes,
                            channel_blocks=args.channel_blocks)
        # a relaxation with an exact program is judged by it on its default instance (it fits the oracle)
        results.append(_verify_and_show(bound, args, workers, exact=cls.exact_program is not None))
        print(verification_lines(results[-1]))
    print(format_table(results))
    return results


def _command_verify(args: argparse.Namespace, workers: int) -> list[Verification]:
    theorem = api.theorem(args.theorem, args.data, beta=args.beta, seed=args.seed, loss=args.loss, gates=args.gates,
                          modes=args.modes, channel_blocks=args.channel_blocks)
    if args.save_optimum is not None and not (theorem.exact or args.exact):
        raise InputError(f"--save-optimum: {theorem.name}'s program is a relaxation, its recovered network is not an "
                         f"optimum; add --exact")
    result = _verify_and_show(theorem, args, workers, heads=args.heads, exact=args.exact)
    print(verification_lines(result))
    print(format_table([result]))
    if args.save_optimum is not None:
        written = save_weights(dict(zip(theorem.weight_axes, result.optimal_weights)), args.save_optimum)
        print(f"optimum written: {written}")
    return [result]


def _verification(command):
    """``run`` or ``verify``: the verifications (on the restarts' backend), then the report and the JSON; exit 1 when
    a claimed witness fails."""
    def run(args: argparse.Namespace) -> int:
        with backend(args.workers, args.dask_scheduler) as workers:
            results = command(args, workers)
        if args.report is not None:
            written = write_report(results, args.report, args.seed, studies=args.command == "run")
            print(f"report written: {', '.join(str(path) for path in written.values())}")
        if args.json is not None:
            payload = results[0].to_json() if args.command == "verify" else [r.to_json() for r in results]
            args.json.write_text(json.dumps(payload, indent=2, allow_nan=True) + "\n")
        return 0 if all(r.passed for r in results) else 1
    return run


def _certify_arguments(sub: argparse.ArgumentParser) -> None:
    """`proofs-check certify`: weights trained elsewhere against the certified lower bound (proofs_check.api)."""
    sub.add_argument("theorem", metavar="THEOREM")
    sub.add_argument("--data", required=True, type=Path, help=".npz with X (N, s, d), Y and the gates if any")
    sub.add_argument("--weights", required=True, type=Path,
                     help="the network's weights as .npz, one array per name of `proofs-check list --weights`")
    sub.add_argument("--beta", type=float, default=None, help="weight decay (default: the theorem's)")
    sub.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of gates not held by the data (default 0)")
    sub.add_argument("--gates", type=count("gates"), default=None, help="gated theorems: number of gates drawn")
    sub.add_argument("--modes", type=count("modes"), default=None, help="fno-modes, afno: the lowest K modes kept")
    sub.add_argument("--channel-blocks", type=count("channel blocks"), default=None, help="afno: B channel blocks")
    solver_argument(sub)
    loss_argument(sub)
    sub.add_argument("--json", type=Path, default=None, help="write the certification as JSON here")
    sub.add_argument("--save-optimum", type=Path, default=None, metavar="OUT.npz",
                     help="write the globally optimal weights recovered from the convex solution here")


def _command_certify(args: argparse.Namespace) -> int:
    result = api.certify(args.theorem, args.data, args.weights, beta=args.beta, seed=args.seed, loss=args.loss,
                         gates=args.gates, modes=args.modes, channel_blocks=args.channel_blocks, solver=args.solver,
                         save_optimum=args.save_optimum)
    print(certification_lines(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result.to_json(), indent=2, allow_nan=True) + "\n")
    return 0 if result.consistent else 1


#: name -> (help, add the arguments, run): the table proofs_check.cli builds its parser from.
COMMANDS = {
    "list": ("list the theorems", _list_arguments, _command_list),
    "run": ("verify theorems on their default instances", _verification_arguments("run"), _verification(_command_run)),
    "verify": ("verify on your data", _verification_arguments("verify"), _verification(_command_verify)),
    "certify": ("how far your weights are from the global optimum (certified)", _certify_arguments, _command_certify),
}
