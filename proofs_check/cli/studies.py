"""The subcommands on studies: the comparison of architectures, the regularisation path, token clustering, the
errata of [E22], the experiments, and `reproduce` (every quoted number re-measured)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from proofs_check import api
from proofs_check.cli.arguments import (DEFAULT_SEED, UsageError, count, loss_argument, parallel_arguments,
                                        solver_argument, theorem_options)
from proofs_check.datafile import load_npz
from proofs_check.parallel import backend
from proofs_check.presentation.plots import plot_path
from proofs_check.presentation.progress import Progress
from proofs_check.presentation.report import (DEFAULT_DIR as DEFAULT_REPORT_DIR, EXPERIMENT_JSON, GROKKING_JSON,
                                              RELU_EXACT_JSON, STUDENT_TEACHER_JSON, experiment_plot, grokking_plots,
                                              student_teacher_curves, student_teacher_plot)
from proofs_check.presentation.text import (format_comparison, format_errata, format_experiment, format_grokking,
                                            format_path, format_relu_exact, format_student_teacher)
from proofs_check.studies.compare import compare, default_arrays, rows_json
from proofs_check.studies.digits import ExperimentConfig, run_experiment
from proofs_check.studies.grokking import GrokkingConfig, run_grokking
from proofs_check.studies.path import POINTS, path_json, regularisation_path
from proofs_check.studies.relu_exact import TARGETS, THEOREMS, ReluExactConfig, run_relu_exact
from proofs_check.studies.student_teacher import StudentTeacherConfig, run_student_teacher
from theory.solvers import SOLVERS


def _compare_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--data", type=Path, default=None, help=".npz with X and Y (default: linear-attention's default)")
    sub.add_argument("--beta", type=float, default=None, help="weight decay (default: that of the default instance)")
    sub.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the default data and of gates")
    solver_argument(sub)
    sub.add_argument("--json", type=Path, default=None, help="write the table as JSON here")


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


def _path_arguments(sub: argparse.ArgumentParser) -> None:
    """`proofs-check path`: the regularisation path of one theorem (proofs_check.studies.path)."""
    sub.add_argument("theorem", metavar="THEOREM", nargs="?", default="convex-attention")
    sub.add_argument("--data", type=Path, default=None, help=".npz with X and Y (default: the theorem's default data)")
    sub.add_argument("--points", type=count("points"), default=POINTS, help=f"betas on the grid (default {POINTS})")
    sub.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the default data and of gates")
    sub.add_argument("--gates", type=count("gates"), default=None, help="gated theorems: number of gates")
    solver_argument(sub)
    loss_argument(sub)
    sub.add_argument("--plot", type=Path, default=None, help="write the path plot (PNG) here")
    sub.add_argument("--json", type=Path, default=None, help="write the path as JSON here")
    parallel_arguments(sub, "points of the path")


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


def _cluster_arguments(sub: argparse.ArgumentParser) -> None:
    """`proofs-check cluster`: token clustering by latent similarity (proofs_check.studies.clustering)."""
    from proofs_check.studies.clustering.user import HEADLINE
    from proofs_check.studies.clustering.readouts import THEOREMS

    sub.add_argument("--data", type=Path, default=None,
                     help=".npz with X (N, s, d), Y (N, s, c) and optionally groups (N, s), latent (d, r), H "
                          "(default: planted data drawn from the seed)")
    sub.add_argument("--theorem", default=THEOREMS[0], help=f"one of {', '.join(THEOREMS)} (default {THEOREMS[0]})")
    beta = sub.add_mutually_exclusive_group()
    beta.add_argument("--beta", type=float, default=None, help="weight decay")
    beta.add_argument("--beta-fraction", type=float, default=None,
                      help=f"weight decay as a fraction of beta_max (default {HEADLINE['beta_fraction']:g})")
    sub.add_argument("--clusters", type=count("clusters"), default=None,
                     help="k-means clusters when the data hold no groups (default 2)")
    sub.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the planted data, gates and k-means")
    solver_argument(sub)
    sub.add_argument("--gates", type=count("gates"), default=None, help="gated theorems: number of gates")
    sub.add_argument("--json", type=Path, default=None, help="write the scores (or the partition) as JSON here")
    sub.add_argument("--plot", type=Path, default=None, help="write the attention maps of sample 0 (PNG) here")


def _command_cluster(args: argparse.Namespace) -> int:
    from proofs_check.studies.clustering.user import cluster_arrays, cluster_json, headline_arrays
    from proofs_check.presentation.text import cluster_lines
    from proofs_check.presentation.plots import plot_attention

    arrays = headline_arrays(args.seed) if args.data is None else load_npz(args.data)
    run = cluster_arrays(arrays, args.theorem, args.seed, beta=args.beta, beta_fraction=args.beta_fraction,
                         clusters=args.clusters, solver=args.solver, **theorem_options(args))
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


def _errata_arguments(sub: argparse.ArgumentParser) -> None:
    """`proofs-check errata`: the printed statements of [E22] with their verdicts (proofs_check.studies.errata)."""
    sub.add_argument("--restarts", type=count("restarts"), default=10, help="restarts per width (default 10)")
    sub.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of drawn instances and restarts (default 0)")
    sub.add_argument("--json", type=Path, default=None, help="write the records as JSON here")


def _command_errata(args: argparse.Namespace) -> int:
    from proofs_check.studies import errata

    with Progress("errata") as progress:
        records = errata.errata(errata.Settings(args.restarts, args.seed), progress=progress)
    print(format_errata(records))
    if args.json is not None:
        args.json.write_text(json.dumps([r.to_json() for r in records], indent=2, allow_nan=True) + "\n")
    return 0 if all(r.agrees for r in records) else 1


def _reproduce_arguments(sub: argparse.ArgumentParser) -> None:
    """`proofs-check reproduce`: every number the README and docs/ quote, re-derived (proofs_check.reproduce)."""
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
    with Progress("reproduce") as progress:
        outcomes = reproduce.reproduce(claims, progress=progress)
    print(reproduce.format_outcomes(outcomes))
    if args.json is not None:
        payload = {"environment": environment(), "claims": reproduce.outcomes_json(outcomes)}
        args.json.write_text(json.dumps(payload, indent=2, allow_nan=True) + "\n")
    return 0 if all(outcome.passed for outcome in outcomes) else 1


#: The experiments, and the options each takes besides --seed, --report and --json (attribute names).
EXPERIMENT_OPTIONS = {"digits": ("n_train", "n_test", "features", "betas", "losses", "solver"),
                      "grokking": ("modulus", "train_fraction", "steps", "losses"),
                      "student-teacher": ("restarts", "solver"),
                      "relu-exact": ("betas", "targets", "restarts", "theorem")}
#: The experiments that take several seeds (one run, or one instance per target and beta, each).
MANY_SEEDS = ("grokking", "relu-exact")


def _experiment_arguments(sub: argparse.ArgumentParser) -> None:
    """`proofs-check experiment [NAME]`: the digits transfer experiment (default), grokking, student-teacher or
    relu-exact.  Options default to None so that an option of another experiment can be refused
    (_command_experiment)."""
    sub.add_argument("name", nargs="?", choices=tuple(EXPERIMENT_OPTIONS), default="digits",
                     help="which experiment (default digits)")
    digits, grokking, teacher, relu = ExperimentConfig(), GrokkingConfig(), StudentTeacherConfig(), ReluExactConfig()
    for flag, kind, help_text in (("--n-train", count("n-train"), "training images"),
                                  ("--n-test", count("n-test"), "test images"),
                                  ("--features", count("features"), "backbone features d per token")):
        dest = flag[2:].replace("-", "_")
        sub.add_argument(flag, type=kind, default=None, help=f"digits: {help_text} (default {getattr(digits, dest)})")
    sub.add_argument("--beta", type=float, nargs="+", default=None, dest="betas", metavar="B",
                     help=f"digits: the weight decay of every head (one; default {digits.beta}); relu-exact: the "
                          f"betas of the instances (default {' '.join(f'{b:g}' for b in relu.betas)})")
    sub.add_argument("--target", action="append", default=None, dest="targets", choices=tuple(TARGETS),
                     help=f"relu-exact: a kind of targets (repeatable; default all: {', '.join(TARGETS)})")
    sub.add_argument("--theorem", default=None, choices=THEOREMS,
                     help=f"relu-exact: whose exact program (default {relu.theorem})")
    sub.add_argument("--loss", action="append", default=None, dest="losses",
                     help=f"digits: a loss to fit the heads with (repeatable; default: {' and '.join(digits.losses)}); "
                          f"grokking: the loss of both models (default {grokking.loss})")
    sub.add_argument("--modulus", type=int, default=None, help=f"grokking: the prime P (default {grokking.modulus})")
    sub.add_argument("--train-fraction", type=float, nargs="+", default=None, metavar="F",
                     help=f"grokking: training fractions, one run each (default {grokking.train_fraction})")
    sub.add_argument("--steps", type=count("steps"), default=None,
                     help=f"grokking: AdamW steps of the transformer (default {grokking.steps})")
    sub.add_argument("--restarts", type=count("restarts"), default=None,
                     help=f"student-teacher: restarts of softmax attention (default {teacher.restarts}); "
                          f"relu-exact: restarts per instance at the exact network's width (default {relu.restarts})")
    sub.add_argument("--seed", type=int, nargs="+", default=None, metavar="S",
                     help="seed of every random draw (default 0); grokking takes several, one run each; relu-exact "
                          f"several, one instance each (default {' '.join(map(str, relu.seeds))})")
    sub.add_argument("--solver", default=None, help=f"digits and student-teacher: one of {', '.join(SOLVERS)} "
                                                    "(default auto; grokking records FISTA's iterates)")
    sub.add_argument("--report", type=Path, nargs="?", const=DEFAULT_REPORT_DIR, default=None, metavar="DIR",
                     help=f"write the experiment's JSON and plots into DIR (default {DEFAULT_REPORT_DIR})")
    sub.add_argument("--json", type=Path, default=None, help="write the results as JSON here")


def _given(args: argparse.Namespace, name: str) -> dict[str, object]:
    """The options of experiment ``name`` that were given on the command line, as config fields."""
    given = {option: getattr(args, option) for option in EXPERIMENT_OPTIONS[name] if getattr(args, option) is not None}
    return {key: tuple(value) if isinstance(value, list) else value for key, value in given.items()}


def _command_experiment(args: argparse.Namespace) -> int:
    foreign = [option for name, options in EXPERIMENT_OPTIONS.items() if name != args.name for option in options
               if getattr(args, option) is not None and option not in EXPERIMENT_OPTIONS[args.name]]
    if foreign:
        flags = ", ".join("--" + option.replace("_", "-") for option in foreign)
        raise UsageError(f"experiment {args.name} takes no option {flags}")
    seeds = args.seed or ([] if args.name == "relu-exact" else [DEFAULT_SEED])
    if args.name not in MANY_SEEDS and len(seeds) > 1:
        raise UsageError(f"experiment {args.name} takes one --seed")
    run = {"digits": _command_digits, "grokking": _command_grokking, "student-teacher": _command_student_teacher,
           "relu-exact": _command_relu_exact}
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
    given = _given(args, "digits")
    if "betas" in given:
        if len(given["betas"]) != 1:
            raise UsageError("experiment digits takes one --beta")
        given["beta"] = given.pop("betas")[0]
    config = ExperimentConfig(**given, seed=seeds[0])
    with Progress("experiment") as progress:
        result = run_experiment(config, progress=progress)
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
    with Progress("grokking") as progress:
        results = [run_grokking(config, progress=progress) for config in configs]
    print(format_grokking(results))
    _write_experiment(args, {"runs": [result.to_json() for result in results]}, GROKKING_JSON,
                      lambda directory: ", ".join(grokking_plots(results, directory).values()))
    return 0


def _command_student_teacher(args: argparse.Namespace, seeds: list[int]) -> int:
    config = StudentTeacherConfig(**_given(args, "student-teacher"), seed=seeds[0])
    with Progress("student-teacher") as progress:
        result = run_student_teacher(config, progress=progress)
    print(format_student_teacher(result))
    plots = (student_teacher_plot, student_teacher_curves)
    _write_experiment(args, result.to_json(), STUDENT_TEACHER_JSON,
                      lambda directory: ", ".join(str(path) for plot in plots if (path := plot(result, directory))))
    return 0


def _command_relu_exact(args: argparse.Namespace, seeds: list[int]) -> int:
    config = ReluExactConfig(**_given(args, "relu-exact"), **({"seeds": tuple(seeds)} if seeds else {}))
    with Progress("relu-exact") as progress:
        result = run_relu_exact(config, progress=progress)
    print(format_relu_exact(result))
    _write_experiment(args, result.to_json(), RELU_EXACT_JSON, lambda directory: "no plots")
    return 0


#: name -> (help, add the arguments, run): the table proofs_check.cli builds its parser from.
COMMANDS = {
    "reproduce": ("re-derive every number the README and docs/ quote and compare",
                  _reproduce_arguments, _command_reproduce),
    "experiment": ("an experiment: digits (default), grokking, student-teacher or relu-exact",
                   _experiment_arguments, _command_experiment),
    "path": ("the convex program over a log grid of beta: what is active, the fit",
             _path_arguments, _command_path),
    "cluster": ("token clusters read off the certified solution, against baselines",
                _cluster_arguments, _command_cluster),
    "errata": ("the printed statements of [E22], each on an instance, with a verdict",
               _errata_arguments, _command_errata),
    "compare": ("attention, MLP-Mixer and FNO convex optima side by side on one data set",
                _compare_arguments, _command_compare),
}
