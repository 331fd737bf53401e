"""Report files: ``proofs-check run --report [DIR]`` writes DIR/report.md, DIR/report.json and PNG plots.

Default directory: ``reports/`` (relative to the working directory; created if missing, files overwritten).

Contents, per verified theorem: the final objective of every restart per width against the convex optimum C*
(``<theorem>_restarts.png``) and the singular values of the rank-reduced solution blocks
(``<theorem>_singular_values.png``).  Then token clustering by latent similarity (proofs_check.studies.clustering): the
headline cell of the map for linear, gated-ReLU and convex attention, with Gaussian and with decoy nuisance, each
read-out against its baselines and the shuffled control, the attention maps of one sample, and the measured map
(table and heat maps).  The regularisation path of convex-attention on its default
instance (``convex-attention_path.png``, proofs_check.studies.path).  Last, the experiments, each read from the JSON
that ``proofs-check experiment NAME --report DIR`` left in DIR (they take minutes, so ``run`` does not re-run them; a
section says how to produce its file when it is missing): the transfer experiment's accuracies
(``experiment_accuracy.png`` from experiment.json), the grokking learning curves (``grokking_<run>.png`` from
grokking.json) and the student-teacher errors and times (``student_teacher.png`` from student_teacher.json).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from proofs_check.environment import environment
from proofs_check.harness import Verification
from proofs_check.presentation import plots
from proofs_check.presentation.plots import plot_attention, plot_map, plot_path
from proofs_check.presentation.text import (cluster_lines, format_comparison, format_experiment, format_grokking,
                                            format_path, format_student_teacher, format_table, map_table,
                                            verification_lines)
from proofs_check.studies.clustering.atlas import COMPARED, MAP_JSON, MAP_SIZES, MARGIN, STORED_MAP
from proofs_check.studies.clustering.data import NUISANCES
from proofs_check.studies.clustering.readouts import THEOREMS
from proofs_check.studies.clustering.user import HEADLINE, cluster_arrays, cluster_json, headline_arrays
from proofs_check.studies.compare import compare, default_arrays, rows_json
from proofs_check.studies.digits import ExperimentResult
from proofs_check.studies.grokking import GrokkingResult
from proofs_check.studies.path import path_json, regularisation_path
from proofs_check.studies.student_teacher import StudentTeacherResult
import theory

DEFAULT_DIR = Path("reports")
EXPERIMENT_JSON = "experiment.json"
GROKKING_JSON = "grokking.json"
STUDENT_TEACHER_JSON = "student_teacher.json"
RELU_EXACT_JSON = "relu_exact.json"


def _theorem_section(result: Verification, directory: Path) -> tuple[list[str], dict[str, str]]:
    name = result.theorem
    sv = result.structure["singular_values"]
    files = {"singular_values": plots.plot_singular_values(name, sv, [f"block {p}" for p in range(len(sv))],
                                                           directory / f"{name}_singular_values.png").name}
    if result.restart_values is not None:
        files["restarts"] = plots.plot_restarts(name, result.restart_values, result.convex_optimum, result.scale,
                                                directory / f"{name}_restarts.png").name
    lines = [f"## {name}", "", "```", verification_lines(result), "```", ""]
    lines += [f"![{key} of {name}]({file})" for key, file in files.items()] + [""]
    return lines, files


def path_report(directory: Path, seed: int, name: str = "convex-attention") -> tuple[list[str], dict | None, dict[str, str]]:
    """The regularisation path (proofs_check.studies.path) of ``name`` on its default instance: table and plot."""
    if name not in theory.REGISTRY:
        return [], None, {}
    theorem = theory.get(name).default_instance(seed)
    path = regularisation_path(theorem)
    files = {"path": plot_path(theorem, path, directory / f"{name}_path.png").name}
    lines = [f"## Regularisation path ({name}, default instance, seed {seed})", "", "```", format_path(theorem, path),
             "```", "", f"![path]({files['path']})", ""]
    return lines, {"theorem": name, "seed": seed, "points": path_json(path)}, files


def experiment_report(directory: Path) -> tuple[list[str], dict[str, object] | None, dict[str, str]]:
    """The experiment section from DIR/experiment.json, or a note saying how to produce it."""
    path = directory / EXPERIMENT_JSON
    header = ["## Transfer experiment (digits, docs/theory.md §7)", ""]
    if not path.is_file():
        return header + [f"Not run: `proofs-check experiment --report {directory}` writes {EXPERIMENT_JSON}.", ""], None, {}
    fields = json.loads(path.read_text())
    files = {"accuracy": experiment_plot(ExperimentResult.from_json(fields), directory).name}
    lines = header + ["```", format_experiment(ExperimentResult.from_json(fields)), "```", ""]
    return lines + [f"![accuracy]({files['accuracy']})", ""], fields, files


def experiment_plot(result: ExperimentResult, directory: Path) -> Path:
    heads = result.heads
    title = f"digits transfer, seed {result.config.seed}: accuracy per head"
    return plots.plot_accuracies([f"{h.head} ({h.loss})" for h in heads], [h.train_accuracy for h in heads],
                                 [h.test_accuracy for h in heads], title, directory / "experiment_accuracy.png")


def grokking_plots(results: list[GrokkingResult], directory: Path) -> dict[str, str]:
    """One learning-curve plot per run (both models side by side), keyed by run."""
    files = {}
    for result in results:
        c = result.config
        key = f"P{c.modulus}_f{c.train_fraction:g}_s{c.seed}"
        title = (f"a / b mod {c.modulus}, train fraction {c.train_fraction:g}, seed {c.seed}: transformer (AdamW) vs "
                 f"convex-attention-fc (FISTA iterates), {c.loss} loss on one-hot targets")
        panels = {run.model: asdict(run.curve) for run in result.runs}
        units = {run.model: run.unit for run in result.runs}
        files[key] = plots.plot_learning_curves(panels, units, title, directory / f"grokking_{key}.png").name
    return files


def grokking_report(directory: Path) -> tuple[list[str], dict[str, object] | None, dict[str, str]]:
    """The grokking section from DIR/grokking.json, or a note saying how to produce it."""
    path = directory / GROKKING_JSON
    header = ["## Modular division (grokking, [E22]; docs/theory.md §8.8)", ""]
    if not path.is_file():
        return header + [f"Not run: `proofs-check experiment grokking --report {directory}` writes {GROKKING_JSON}.",
                         ""], None, {}
    fields = json.loads(path.read_text())
    results = [GrokkingResult.from_json(run) for run in fields["runs"]]
    files = grokking_plots(results, directory)
    lines = header + ["```", format_grokking(results), "```", ""]
    return lines + [f"![{key}]({file})" for key, file in files.items()] + [""], fields, files


def student_teacher_plot(result: StudentTeacherResult, directory: Path) -> Path:
    students = result.students
    title = f"student-teacher, seed {result.config.seed}: error against the frozen teacher and training time"
    return plots.plot_student_errors([s.student for s in students], [s.train_error for s in students],
                                     [s.test_error for s in students], [s.seconds for s in students], title,
                                     directory / "student_teacher.png")


def student_teacher_report(directory: Path) -> tuple[list[str], dict[str, object] | None, dict[str, str]]:
    """The student-teacher section from DIR/student_teacher.json, or a note saying how to produce it."""
    path = directory / STUDENT_TEACHER_JSON
    header = ["## Student-teacher ([E22]; docs/theory.md §8.8)", ""]
    if not path.is_file():
        return header + [f"Not run: `proofs-check experiment student-teacher --report {directory}` writes "
                         f"{STUDENT_TEACHER_JSON}.", ""], None, {}
    fields = json.loads(path.read_text())
    result = StudentTeacherResult.from_json(fields)
    files = {"errors": student_teacher_plot(result, directory).name}
    curves = student_teacher_curves(result, directory)
    if curves is not None:
        files["curves"] = curves.name
    lines = header + ["```", format_student_teacher(result), "```", ""]
    return lines + [f"![{key}]({file})" for key, file in files.items()] + [""], fields, files


def student_teacher_curves(result: StudentTeacherResult, directory: Path) -> Path | None:
    """Objective against passes and time for the arms that carry a curve (None for a result without curves)."""
    curves = {s.student: (s.curve.passes, s.curve.seconds, s.curve.objective) for s in result.students if s.curve}
    optimum = next((s.objective for s in result.students if s.student == "convex-attention"), None)
    if not curves or optimum is None:
        return None
    title = (f"student-teacher, seed {result.config.seed}: softmax attention and the simplex-row model by L-BFGS "
             "restarts, the convex program by FISTA")
    return plots.plot_student_curves(curves, optimum, title, directory / "student_teacher_curves.png")


def comparison_report(directory: Path, seed: int) -> tuple[list[str], list[dict], dict[str, str]]:
    """Attention, MLP-Mixer and FNO on the default data of linear-attention (proofs_check.studies.compare)."""
    arrays, beta = default_arrays(seed)
    comparison = compare(arrays, beta, seed)
    N, s, d = arrays["X"].shape
    lines = ["## Attention, MLP-Mixer and FNO on the same data (docs/theory.md §5, §6)", "", "```",
             format_comparison(comparison, {"N": N, "s": s, "d": d, "c": arrays["Y"].shape[2]}, beta, seed), "```", ""]
    return lines, rows_json(comparison), {}


#: The read-outs whose heat maps the report draws (the finding of docs/experiments.md is about these two); the benchmark
#: draws all.
REPORTED = ("heads", "logits")


def map_plots(rows: list[dict[str, object]], directory: Path, readouts=COMPARED) -> dict[str, str]:
    """One heat map per (target, nuisance) family and read-out of ``readouts`` that exists for some theorem in
    ``rows``."""
    files = {}
    for family in dict.fromkeys((r["target"], r["nuisance"]) for r in rows):
        for readout in readouts:
            if any((r["target"], r["nuisance"]) == family and np.isfinite(r["scores"][readout]) for r in rows):
                path = directory / f"clustering_map_{family[0]}_{family[1]}_{readout}.png"
                files[f"{family[0]}/{family[1]}:{readout}"] = plot_map(rows, readout, family, path).name
    return files


def clustering_report(directory: Path, seed: int) -> tuple[list[str], dict[str, object], dict[str, str]]:
    """The report section: the HEADLINE cell, with Gaussian and with decoy nuisance, for every theorem of THEOREMS
    (read-outs, baselines, control and its permutation nulls), the attention maps of one sample, and
    :func:`map_section`.  Returns the markdown lines, the JSON fields and the plot files (role -> file name in
    ``directory``)."""
    cells = [(nuisance, name) for nuisance in NUISANCES for name in THEOREMS]
    arrays = {nuisance: headline_arrays(seed, nuisance=nuisance) for nuisance in NUISANCES}
    runs = [cluster_arrays(arrays[nuisance], name, seed) for nuisance, name in cells]
    files = {}
    for (nuisance, name), run in zip(cells, runs):
        title = f"{name}, {nuisance} nuisance, seed {seed}: affinities of sample 0, tokens sorted by group"
        written = plot_attention(run.reading, arrays[nuisance]["groups"], 0, title,
                                 directory / f"clustering_{nuisance}_{name}_attention.png")
        if written is not None:
            files[f"{nuisance}:{name}:attention"] = written.name
    lines = ["## Token clustering by latent similarity (docs/theory.md §12)", "",
             f"Headline cell: {HEADLINE} and the same with decoy nuisance, sizes {MAP_SIZES}, seed {seed}; the "
             f"shuffled control moves the targets to other samples; a read-out wins when it beats every baseline "
             f"and the control by {MARGIN:g}.", ""]
    for (nuisance, _), run in zip(cells, runs):
        lines += [f"{nuisance} nuisance:", "", "```", *cluster_lines(run), "```", ""]
    lines += [f"![{role}]({file})" for role, file in files.items()] + [""]
    fields = {"headline": HEADLINE, "sizes": MAP_SIZES, "seed": seed, "margin": MARGIN,
              "runs": [{"nuisance": nuisance, **cluster_json(run)} for (nuisance, _), run in zip(cells, runs)]}
    map_lines, fields["map"], map_files = map_section(directory)
    return lines + map_lines, fields, {**files, **map_files}


def map_section(directory: Path) -> tuple[list[str], dict[str, object] | None, dict[str, str]]:
    """The map stored in DIR/MAP_JSON by benchmarks/clustering_map.py, else the measured one of the repository
    (STORED_MAP): its table and heat maps (markdown lines, JSON fields, plot files), or a note on how to produce
    it."""
    import json

    stored = next((path for path in (directory / MAP_JSON, STORED_MAP) if path.is_file()), None)
    if stored is None:
        return [f"Map not run: `python -m benchmarks.clustering_map --report {directory}` writes {MAP_JSON} and the "
                "heat maps.", ""], None, {}
    saved = json.loads(stored.read_text())
    rows = saved["summary"]
    maps = {f"map:{role}": file for role, file in map_plots(rows, directory, REPORTED).items()}
    source = "this directory" if stored.parent == directory else "the measurement shipped in proofs_check/measurements"
    lines = [f"### The map (seeds {saved['seeds']}, solver {saved['solver']}, grid {saved['grid']}; from {source})", "",
             *map_table(rows), "", *(f"![{role}]({file})" for role, file in maps.items()), ""]
    fields = {key: saved[key] for key in ("sizes", "grid", "families", "seeds", "margin", "solver", "summary")}
    return lines, {**fields, "source": str(stored)}, maps


#: The studies a full report adds after the verified theorems: JSON key, plot prefix and the section builder
#: (directory, seed) -> (markdown lines, JSON fields, plot files).
STUDIES = (("clustering", "clustering", clustering_report),
           ("comparison", "comparison", comparison_report),
           ("path", "path", path_report),
           ("experiment", "experiment", lambda directory, seed: experiment_report(directory)),
           ("grokking", "grokking", lambda directory, seed: grokking_report(directory)),
           ("student_teacher", "student-teacher", lambda directory, seed: student_teacher_report(directory)))


def write_report(results: list[Verification], directory: Path, seed: int, studies: bool = True) -> dict[str, Path]:
    """Write report.md, report.json and the plots into ``directory``: the verified theorems and, with ``studies``
    (``run``; not ``verify``, whose data is the user's), the STUDIES sections.  Returns the written files by role."""
    directory.mkdir(parents=True, exist_ok=True)
    markdown = ["# proofs-check report", "", f"Seed {seed}.", "", "```", format_table(results), "```", ""]
    plot_files: dict[str, str] = {}
    for result in results:
        lines, files = _theorem_section(result, directory)
        markdown += lines
        plot_files.update({f"{result.theorem}:{key}": file for key, file in files.items()})
    payload: dict[str, object] = {"seed": seed, "environment": environment(),
                                  "theorems": [r.to_json() for r in results]}
    for key, prefix, build in STUDIES if studies else ():
        lines, payload[key], files = build(directory, seed)
        markdown += lines
        plot_files.update({f"{prefix}:{role}": file for role, file in files.items()})
    markdown += ["## Plots", "", *(f"- `{file}`: {key}" for key, file in plot_files.items()), ""]
    payload["plots"] = plot_files
    written = {"markdown": directory / "report.md", "json": directory / "report.json"}
    written["markdown"].write_text("\n".join(markdown))
    written["json"].write_text(json.dumps(payload, indent=2, allow_nan=True) + "\n")
    return written
