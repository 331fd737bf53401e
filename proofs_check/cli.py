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
    proofs-check path [THEOREM] [--data FILE.npz] [--points K] [--seed S] [--solver NAME] [--plot PNG] [--json OUT]
                      [--workers N] [--dask-scheduler ADDRESS]
                                            the regularisation path (proofs_check.studies.path; default convex-attention)
    --workers N runs the restarts (the path's points) on N local processes, --dask-scheduler ADDRESS on a Dask
    cluster (proofs_check.parallel); the values are those of the serial run.
    proofs-check compare [--data FILE.npz] [--beta B] [--seed S] [--solver NAME] [--json OUT]
                                            attention, MLP-Mixer and FNO optima on one data set (proofs_check.studies.compare)
    proofs-check errata [--restarts K] [--seed S] [--json OUT]
                                            every printed statement of [E22] the suite checks, on an instance, with
                                            its verdict (proofs_check.studies.errata; exit 1 if a verdict is not the expected)
    proofs-check cluster [--data FILE.npz] [--theorem NAME] [--beta B | --beta-fraction F] [--clusters K]
                         [--seed S] [--solver NAME] [--gates P] [--json OUT] [--plot PNG]
                                            token clusters read off the certified solution, against baselines
                                            (proofs_check.studies.clustering)

Exit codes: 0 every witness passed, 1 a witness failed, 2 bad input (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from proofs_check import api
from proofs_check.datafile import load_npz
from proofs_check.harness import Verification, verify
from proofs_check.parallel import backend
from proofs_check.presentation.plots import plot_path
from proofs_check.presentation.report import (DEFAULT_DIR as DEFAULT_REPORT_DIR, EXPERIMENT_JSON, GROKKING_JSON,
                                              STUDENT_TEACHER_JSON, experiment_plot, grokking_plots,
                                              student_teacher_curves, student_teacher_plot, write_report)
from proofs_check.presentation.text import (certification_lines, format_comparison, format_experiment, format_grokking,
                                            format_path, format_student_teacher, format_table, verification_lines)
from proofs_check.studies.compare import compare, default_arrays, rows_json
from proofs_check.studies.digits import ExperimentConfig, run_experiment
from proofs_check.studies.grokking import GrokkingConfig, run_grokking
from proofs_check.studies.path import POINTS, path_json, regularisation_path
from proofs_check.studies.student_teacher import StudentTeacherConfig, run_student_teacher
from proofs_check.weights import layout
import theory
from theory.errors import InputError, SolverFailure
from theory.losses import LOSSES, get_loss
from theory.solvers import SOLVERS
from theory.threads import blas_thread_limit

DEFAULT_SEED = 0


class UsageError(Exception):
    """argparse's complaint, turned into our one-line error."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _count(name: str):
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


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="proofs-check", description="Verify convex-duality theorems for attention networks.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    listing = commands.add_parser("list", help="list the theorems")
    listing.add_argument("--weights", action="store_true",
                         help="list each theorem's weight arrays and their axes (the format of certify's files)")
    for name, text in (("run", "verify theorems on their default instances"), ("verify", "verify on your data")):
        sub = commands.add_parser(name, help=text)
        default = DEFAULT_REPORT_DIR if name == "run" else None
        sub.add_argument("--report", type=Path, nargs="?", const=DEFAULT_REPORT_DIR, default=default, metavar="DIR",
                         help=f"write report.md, report.json and PNG plots into DIR (DIR default "
                              f"{DEFAULT_REPORT_DIR}; {'written unless --no-report' if default else 'not written unless given'})")
        sub.add_argument("--no-report", dest="report", action="store_const", const=None,
                         help="print only; write no report files")
        if name == "run":
            sub.add_argument("theorems", nargs="*", metavar="THEOREM")
        else:
            sub.add_argument("theorem", metavar="THEOREM")
            sub.add_argument("--data", required=True, type=Path, help=".npz with X (N, s, d) and Y (N, s, c)")
            sub.add_argument("--beta", type=float, default=None, help="weight decay (default: the theorem's)")
            sub.add_argument("--heads", type=_count("heads"), default=None, help="width for the zero-gap witness")
        sub.add_argument("--restarts", type=_count("restarts"), default=20, help="restarts per width (default 20)")
        sub.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of data and restarts (default 0)")
        _solver_argument(sub)
        _loss_argument(sub)
        sub.add_argument("--gates", type=_count("gates"), default=None,
                         help="gated theorems: number of gates drawn from the seed (ignored if the data holds H)")
        sub.add_argument("--batched", action="store_true", help="batched restarts (vectorised phase + L-BFGS polish)")
        sub.add_argument("--convex-only", action="store_true",
                         help="no restarts: the certified optimum, certificate, structure and recovery only")
        sub.add_argument("--json", type=Path, default=None, help="write the results as JSON here")
        _parallel_arguments(sub, "restarts")
    _certify_parser(commands)
    _reproduce_parser(commands)
    _experiment_parser(commands)
    _path_parser(commands)
    _cluster_parser(commands)
    _errata_parser(commands)
    sub = commands.add_parser("compare", help="attention, MLP-Mixer and FNO convex optima side by side on one data set")
    sub.add_argument("--data", type=Path, default=None, help=".npz with X and Y (default: linear-attention's default)")
    sub.add_argument("--beta", type=float, default=None, help="weight decay (default: that of the default instance)")
    sub.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the default data and of gates")
    _solver_argument(sub)
    sub.add_argument("--json", type=Path, default=None, help="write the table as JSON here")
    return parser


def _parallel_arguments(sub: argparse.ArgumentParser, what: str) -> None:
    sub.add_argument("--workers", type=_count("workers"), default=1,
                     help=f"run the {what} on N local worker processes (default 1: serially; same values)")
    sub.add_argument("--dask-scheduler", default=None, metavar="ADDRESS",
                     help=f"run the {what} on the Dask cluster of this scheduler (e.g. tcp://host:8786; needs "
                          "proofs-check[dask]); with --workers N, N at a time, else all of its threads")


def _loss_argument(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--loss", default="squared", help=f"one of {', '.join(LOSSES)} (default squared); cross-entropy "
                                                        "takes integer labels Y, (N,) pooled or (N, s) token-wise")


def _solver_argument(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--solver", default="auto", help=f"one of {', '.join(SOLVERS)} (default auto: prox for large "
                                                      "programs, cvxpy below; theory.solvers)")


def _command_compare(args: argparse.Namespace) -> int:
    arrays, beta = default_arrays(args.seed)
    if args.data is not None:
        arrays = load_npz(args.data)
    beta = beta if args.beta is None else args.beta
    rows = compare(arrays, beta, args.seed, solver=args.solver)
    N, s, d = arrays["X"].shape
    print(format_comparison(rows, {"N": N, "s": s, "d": d, "c": arrays["Y"].shape[2]}, beta, args.seed))
    if args.json is not None:
        args.json.write_text(json.dumps(rows_json(rows), indent=2) + "\n")
    return 0


#: The axis letters of the weight arrays (theory.base.Theorem.weight_axes), for `list --weights`.
AXES = ("m: heads or units (gated theorems: per gate; convex-attention, convex-attention-fc and relu-attention-fc: "
        "per query row, and per gate for convex-attention-fc; the read-out theorems convex-attention-scalar and "
        "-vector: in all), P: gates, s: tokens, d: features, c: outputs; 'no decay': no weight decay on that array; "
        "convex-attention-vector's p: the output map w = p o |p|, decayed by |w|_1^2")


def _command_list(args: argparse.Namespace) -> int:
    for cls in theory.REGISTRY.values():
        if args.weights:
            print(f"{cls.name:<22} {layout(cls)}")
        else:
            print(f"{cls.name:<22} {cls.statement}\n{'':<22} paper: {cls.paper}\n{'':<22} equation: {cls.equation}")
    if args.weights:
        print(f"axes: {AXES}")
    return 0


def _certify_parser(commands) -> None:
    """`proofs-check certify`: weights trained elsewhere against the certified lower bound (proofs_check.api)."""
    sub = commands.add_parser("certify", help="how far your weights are from the global optimum (certified)")
    sub.add_argument("theorem", metavar="THEOREM")
    sub.add_argument("--data", required=True, type=Path, help=".npz with X (N, s, d), Y and the gates if any")
    sub.add_argument("--weights", required=True, type=Path,
                     help="the network's weights as .npz, one array per name of `proofs-check list --weights`")
    sub.add_argument("--beta", type=float, default=None, help="weight decay (default: the theorem's)")
    sub.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of gates not held by the data (default 0)")
    sub.add_argument("--gates", type=_count("gates"), default=None, help="gated theorems: number of gates drawn")
    _solver_argument(sub)
    _loss_argument(sub)
    sub.add_argument("--json", type=Path, default=None, help="write the certification as JSON here")
    sub.add_argument("--save-optimum", type=Path, default=None, metavar="OUT.npz",
                     help="write the globally optimal weights recovered from the convex solution here")


def _command_certify(args: argparse.Namespace) -> int:
    result = api.certify(args.theorem, args.data, args.weights, beta=args.beta, seed=args.seed, loss=args.loss,
                         gates=args.gates, solver=args.solver, save_optimum=args.save_optimum)
    print(certification_lines(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result.to_json(), indent=2, allow_nan=True) + "\n")
    return 0 if result.consistent else 1


def _errata_parser(commands) -> None:
    """`proofs-check errata`: the printed statements of [E22] with their verdicts (proofs_check.studies.errata)."""
    sub = commands.add_parser("errata", help="the printed statements of [E22], each on an instance, with a verdict")
    sub.add_argument("--restarts", type=_count("restarts"), default=10, help="restarts per width (default 10)")
    sub.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of drawn instances and restarts (default 0)")
    sub.add_argument("--json", type=Path, default=None, help="write the records as JSON here")


def _command_errata(args: argparse.Namespace) -> int:
    from proofs_check.studies import errata

    records = errata.errata(errata.Settings(args.restarts, args.seed),
                            progress=lambda name: print(f"[errata] {name}", file=sys.stderr, flush=True))
    print(errata.format_errata(records))
    if args.json is not None:
        args.json.write_text(json.dumps([r.to_json() for r in records], indent=2, allow_nan=True) + "\n")
    return 0 if all(r.agrees for r in records) else 1


def _reproduce_parser(commands) -> None:
    """`proofs-check reproduce`: every number the README and docs/ quote, re-derived (proofs_check.reproduce)."""
    sub = commands.add_parser("reproduce", help="re-derive every number the README and docs/ quote and compare")
    sub.add_argument("--quick", action="store_true", help="only the claims marked quick (about a minute; CI's)")
    sub.add_argument("--claim", action="append", default=None, metavar="PREFIX",
                     help="only the claims whose id starts with PREFIX (repeatable)")
    sub.add_argument("--claims", type=Path, default=None, help="another claims file (default: the package's)")
    sub.add_argument("--json", type=Path, default=None, help="write every claim's outcome as JSON here")


def _command_reproduce(args: argparse.Namespace) -> int:
    from proofs_check import reproduce
    from proofs_check.environment import environment

    claims = reproduce.select(reproduce.load_claims(args.claims or reproduce.CLAIMS), args.quick, args.claim)
    print(f"{len(claims)} claims{' (--quick)' if args.quick else ''}; environment: {environment()['summary']}")
    outcomes = reproduce.reproduce(claims, progress=lambda claim: print(f"[reproduce] {claim.measure} "
                                                                        f"{claim.args}", file=sys.stderr, flush=True))
    print(reproduce.format_outcomes(outcomes))
    if args.json is not None:
        payload = {"environment": environment(), "claims": reproduce.outcomes_json(outcomes)}
        args.json.write_text(json.dumps(payload, indent=2, allow_nan=True) + "\n")
    return 0 if all(outcome.passed for outcome in outcomes) else 1


def _path_parser(commands) -> None:
    """`proofs-check path`: the regularisation path of one theorem (proofs_check.studies.path)."""
    sub = commands.add_parser("path", help="the convex program over a log grid of beta: what is active, the fit")
    sub.add_argument("theorem", metavar="THEOREM", nargs="?", default="convex-attention")
    sub.add_argument("--data", type=Path, default=None, help=".npz with X and Y (default: the theorem's default data)")
    sub.add_argument("--points", type=_count("points"), default=POINTS, help=f"betas on the grid (default {POINTS})")
    sub.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the default data and of gates")
    sub.add_argument("--gates", type=_count("gates"), default=None, help="gated theorems: number of gates")
    _solver_argument(sub)
    _loss_argument(sub)
    sub.add_argument("--plot", type=Path, default=None, help="write the path plot (PNG) here")
    sub.add_argument("--json", type=Path, default=None, help="write the path as JSON here")
    _parallel_arguments(sub, "points of the path")


def _command_path(args: argparse.Namespace) -> int:
    theorem = api.theorem(args.theorem, args.data, seed=args.seed, loss=args.loss, gates=args.gates)
    with backend(args.workers, args.dask_scheduler) as workers:
        path = regularisation_path(theorem, args.points, solver=args.solver, workers=workers)
    print(format_path(theorem, path))
    if args.plot is not None:
        print(f"plot written: {plot_path(theorem, path, args.plot)}")
    if args.json is not None:
        args.json.write_text(json.dumps(path_json(path), indent=2) + "\n")
    return 0


def _cluster_parser(commands) -> None:
    """`proofs-check cluster`: token clustering by latent similarity (proofs_check.studies.clustering)."""
    from proofs_check.studies.clustering.user import HEADLINE
    from proofs_check.studies.clustering.readouts import THEOREMS

    sub = commands.add_parser("cluster", help="token clusters read off the certified solution, against baselines")
    sub.add_argument("--data", type=Path, default=None,
                     help=".npz with X (N, s, d), Y (N, s, c) and optionally groups (N, s), latent (d, r), H "
                          "(default: planted data drawn from the seed)")
    sub.add_argument("--theorem", default=THEOREMS[0], help=f"one of {', '.join(THEOREMS)} (default {THEOREMS[0]})")
    beta = sub.add_mutually_exclusive_group()
    beta.add_argument("--beta", type=float, default=None, help="weight decay")
    beta.add_argument("--beta-fraction", type=float, default=None,
                      help=f"weight decay as a fraction of beta_max (default {HEADLINE['beta_fraction']:g})")
    sub.add_argument("--clusters", type=_count("clusters"), default=None,
                     help="k-means clusters when the data hold no groups (default 2)")
    sub.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the planted data, gates and k-means")
    _solver_argument(sub)
    sub.add_argument("--gates", type=_count("gates"), default=None, help="gated theorems: number of gates")
    sub.add_argument("--json", type=Path, default=None, help="write the scores (or the partition) as JSON here")
    sub.add_argument("--plot", type=Path, default=None, help="write the attention maps of sample 0 (PNG) here")


def _command_cluster(args: argparse.Namespace) -> int:
    from proofs_check.studies.clustering.user import cluster_arrays, cluster_json, headline_arrays
    from proofs_check.presentation.text import cluster_lines
    from proofs_check.presentation.plots import plot_attention

    arrays = headline_arrays(args.seed) if args.data is None else load_npz(args.data)
    run = cluster_arrays(arrays, args.theorem, args.seed, beta=args.beta, beta_fraction=args.beta_fraction,
                         clusters=args.clusters, solver=args.solver, **_options(args))
    print("\n".join(cluster_lines(run)))
    if args.json is not None:
        args.json.write_text(json.dumps(cluster_json(run), indent=2, allow_nan=True) + "\n")
    if args.plot is not None:
        order = np.asarray(arrays["groups"]) if "groups" in arrays else run.reading.partition
        title = f"{run.theorem}, beta = {run.beta_fraction:.3g} beta_max: attention of sample 0, sorted by " + \
            ("group" if "groups" in arrays else "found cluster")
        written = plot_attention(run.reading, order, 0, title, args.plot)
        print(f"plot written: {written}" if written else "no plot: the solution has no heads")
    return 0


#: The experiments, and the options each takes besides --seed, --report and --json (attribute names).
EXPERIMENT_OPTIONS = {"digits": ("n_train", "n_test", "features", "beta", "losses", "solver"),
                      "grokking": ("modulus", "train_fraction", "steps", "losses"),
                      "student-teacher": ("restarts", "solver")}


def _experiment_parser(commands) -> None:
    """`proofs-check experiment [NAME]`: the digits transfer experiment (default), grokking or student-teacher.
    Options default to None so that an option of another experiment can be refused (_command_experiment)."""
    sub = commands.add_parser("experiment", help="an experiment: digits (default), grokking or student-teacher")
    sub.add_argument("name", nargs="?", choices=tuple(EXPERIMENT_OPTIONS), default="digits",
                     help="which experiment (default digits)")
    digits, grokking, teacher = ExperimentConfig(), GrokkingConfig(), StudentTeacherConfig()
    for flag, kind, help_text in (("--n-train", _count("n-train"), "training images"),
                                  ("--n-test", _count("n-test"), "test images"),
                                  ("--features", _count("features"), "backbone features d per token"),
                                  ("--beta", float, "weight decay of every head")):
        dest = flag[2:].replace("-", "_")
        sub.add_argument(flag, type=kind, default=None, help=f"digits: {help_text} (default {getattr(digits, dest)})")
    sub.add_argument("--loss", action="append", default=None, dest="losses",
                     help=f"digits: a loss to fit the heads with (repeatable; default: {' and '.join(digits.losses)}); "
                          f"grokking: the loss of both models (default {grokking.loss})")
    sub.add_argument("--modulus", type=int, default=None, help=f"grokking: the prime P (default {grokking.modulus})")
    sub.add_argument("--train-fraction", type=float, nargs="+", default=None, metavar="F",
                     help=f"grokking: training fractions, one run each (default {grokking.train_fraction})")
    sub.add_argument("--steps", type=_count("steps"), default=None,
                     help=f"grokking: AdamW steps of the transformer (default {grokking.steps})")
    sub.add_argument("--restarts", type=_count("restarts"), default=None,
                     help=f"student-teacher: restarts of softmax attention (default {teacher.restarts})")
    sub.add_argument("--seed", type=int, nargs="+", default=None, metavar="S",
                     help="seed of every random draw (default 0); grokking takes several, one run each")
    sub.add_argument("--solver", default=None, help=f"digits and student-teacher: one of {', '.join(SOLVERS)} "
                                                    "(default auto; grokking records FISTA's iterates)")
    sub.add_argument("--report", type=Path, nargs="?", const=DEFAULT_REPORT_DIR, default=None, metavar="DIR",
                     help=f"write the experiment's JSON and plots into DIR (default {DEFAULT_REPORT_DIR})")
    sub.add_argument("--json", type=Path, default=None, help="write the results as JSON here")


def _progress(label: str):
    """Progress on stderr: rewritten in place on a terminal; elsewhere one line as each phase starts."""
    live = sys.stderr.isatty()

    def show(phase: str, done: int, total: int) -> None:
        if live:
            print(f"\r[{label}] {phase} {done}/{total}    ", end="", file=sys.stderr, flush=True)
        elif done == 0:
            print(f"[{label}] {phase}", file=sys.stderr, flush=True)
    return show


def _verify_and_show(theorem: theory.Theorem, args: argparse.Namespace, workers: int,
                     heads: int | None = None) -> Verification:
    result = verify(theorem, heads=heads, restarts=args.restarts, seed=args.seed, solver=args.solver,
                    progress=_progress(theorem.name), batched=args.batched, convex_only=args.convex_only,
                    workers=workers)
    if sys.stderr.isatty():
        print("\r" + " " * 60 + "\r", end="", file=sys.stderr)
    return result


def _options(args: argparse.Namespace) -> dict[str, object]:
    """The loss (where the subcommand takes one), and the theorem options given on the command line (a theorem that
    takes none rejects them with exit 2)."""
    options = {} if args.gates is None else {"gates": args.gates}
    return {**options, "loss": get_loss(args.loss)} if "loss" in args else options


def _command_run(args: argparse.Namespace, workers: int) -> list[Verification]:
    classes = [theory.get(name) for name in args.theorems or theory.REGISTRY]
    if not args.theorems:  # every theorem stated for the loss (a named theorem that is not stated for it exits 2)
        skipped = [cls.name for cls in classes if args.loss not in cls.losses]
        classes = [cls for cls in classes if cls.name not in skipped]
        if skipped:
            print(f"not stated for the {args.loss} loss, skipped: {', '.join(skipped)}")
    results = []
    for cls in classes:
        bound = api.theorem(cls.name, seed=args.seed, loss=args.loss, gates=args.gates)
        results.append(_verify_and_show(bound, args, workers))
        print(verification_lines(results[-1]))
    print(format_table(results))
    return results


def _command_verify(args: argparse.Namespace, workers: int) -> list[Verification]:
    theorem = api.theorem(args.theorem, args.data, beta=args.beta, seed=args.seed, loss=args.loss, gates=args.gates)
    result = _verify_and_show(theorem, args, workers, heads=args.heads)
    print(verification_lines(result))
    print(format_table([result]))
    return [result]


def _given(args: argparse.Namespace, name: str) -> dict[str, object]:
    """The options of experiment ``name`` that were given on the command line, as config fields."""
    given = {option: getattr(args, option) for option in EXPERIMENT_OPTIONS[name] if getattr(args, option) is not None}
    return {**given, "losses": tuple(given["losses"])} if "losses" in given else given


def _command_experiment(args: argparse.Namespace) -> int:
    foreign = [option for name, options in EXPERIMENT_OPTIONS.items() if name != args.name for option in options
               if getattr(args, option) is not None and option not in EXPERIMENT_OPTIONS[args.name]]
    if foreign:
        flags = ", ".join("--" + option.replace("_", "-") for option in foreign)
        raise UsageError(f"experiment {args.name} takes no option {flags}")
    seeds = args.seed or [DEFAULT_SEED]
    if args.name != "grokking" and len(seeds) > 1:
        raise UsageError(f"experiment {args.name} takes one --seed")
    run = {"digits": _command_digits, "grokking": _command_grokking, "student-teacher": _command_student_teacher}
    return run[args.name](args, seeds)


def _write_experiment(args: argparse.Namespace, payload: dict, file_name: str, plot) -> None:
    """--json and --report DIR: the payload as JSON, and in DIR also the experiment's plots (``plot(DIR)``)."""
    text = json.dumps(payload, indent=2) + "\n"
    if args.json is not None:
        args.json.write_text(text)
    if args.report is not None:
        args.report.mkdir(parents=True, exist_ok=True)
        (args.report / file_name).write_text(text)
        print(f"experiment written: {args.report / file_name}, {plot(args.report)}")


def _command_digits(args: argparse.Namespace, seeds: list[int]) -> int:
    config = ExperimentConfig(**_given(args, "digits"), seed=seeds[0])
    result = run_experiment(config, progress=lambda head: print(f"[experiment] {head}", file=sys.stderr, flush=True))
    print(format_experiment(result))
    _write_experiment(args, result.to_json(), EXPERIMENT_JSON, lambda directory: experiment_plot(result, directory))
    return 0


def _command_grokking(args: argparse.Namespace, seeds: list[int]) -> int:
    given = _given(args, "grokking")
    losses = given.pop("losses", (GrokkingConfig().loss,))
    if len(losses) != 1:
        raise UsageError("experiment grokking takes one --loss")
    given["loss"] = losses[0]
    fractions = given.pop("train_fraction", [GrokkingConfig().train_fraction])
    configs = [GrokkingConfig(**given, train_fraction=fraction, seed=seed) for fraction in fractions for seed in seeds]
    results = [run_grokking(config, progress=lambda text: print(f"[grokking] {text}", file=sys.stderr, flush=True))
               for config in configs]
    print(format_grokking(results))
    _write_experiment(args, {"runs": [result.to_json() for result in results]}, GROKKING_JSON,
                      lambda directory: ", ".join(grokking_plots(results, directory).values()))
    return 0


def _command_student_teacher(args: argparse.Namespace, seeds: list[int]) -> int:
    config = StudentTeacherConfig(**_given(args, "student-teacher"), seed=seeds[0])
    result = run_student_teacher(config, progress=lambda text: print(f"[student-teacher] {text}", file=sys.stderr,
                                                                     flush=True))
    print(format_student_teacher(result))
    _write_experiment(args, result.to_json(), STUDENT_TEACHER_JSON,
                      lambda directory: ", ".join(str(path) for path in (student_teacher_plot(result, directory),
                                                                       student_teacher_curves(result, directory)) if path))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        blas_thread_limit()  # a bad PROOFS_CHECK_BLAS_THREADS is refused before any work
        if args.command == "list":
            return _command_list(args)
        if args.command == "certify":
            return _command_certify(args)
        if args.command == "reproduce":
            return _command_reproduce(args)
        if args.command == "experiment":
            return _command_experiment(args)
        if args.command == "path":
            return _command_path(args)
        if args.command == "compare":
            return _command_compare(args)
        if args.command == "cluster":
            return _command_cluster(args)
        if args.command == "errata":
            return _command_errata(args)
        with backend(args.workers, args.dask_scheduler) as workers:
            results = (_command_run if args.command == "run" else _command_verify)(args, workers)
        if args.report is not None:
            written = write_report(results, args.report, args.seed, studies=args.command == "run")
            print(f"report written: {', '.join(str(path) for path in written.values())}")
        if args.json is not None:
            payload = results[0].to_json() if args.command == "verify" else [r.to_json() for r in results]
            args.json.write_text(json.dumps(payload, indent=2, allow_nan=True) + "\n")
        return 0 if all(r.passed for r in results) else 1
    except (UsageError, InputError, SolverFailure) as exc:
        print(f"proofs-check: error: {exc}", file=sys.stderr)
        return 2
