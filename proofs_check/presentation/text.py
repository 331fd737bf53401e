"""Everything the commands print: the verifications' witness lines and summary table, the certification of given
weights, and the text of each study (comparison, path, errata, clustering, experiments); the studies return
records, this module renders them."""

from __future__ import annotations

import numpy as np

from proofs_check import api
from proofs_check import tolerances as tol
from proofs_check.harness import Verification
from proofs_check.studies.clustering.atlas import COMPARED, MARGIN
from proofs_check.studies.clustering.scores import NULL_QUANTILE
from proofs_check.studies.clustering.user import ClusterRun
from proofs_check.studies.compare import Row
from proofs_check.studies.digits import ExperimentResult
from proofs_check.studies.errata import Erratum
from proofs_check.studies.grokking import GrokkingResult, _step
from proofs_check.studies.path import PathPoint
from proofs_check.studies.relu_exact import ReluExactResult
from proofs_check.studies.student_teacher import REACHED, StudentTeacherResult
from theory.base import Theorem

COLUMNS = ("theorem", "N", "s", "d", "c", "beta", "m", "restarts", "convex optimum", "best primal", "rel. gap",
           "witnesses")


def _row(result: Verification) -> tuple[str, ...]:
    decided = [c for c in result.checks if c.passed is not None and c.claim]
    restarted = result.restarts is not None
    return (result.theorem, *(str(result.dims[k]) for k in "Nsdc"), f"{result.beta:g}", str(result.heads),
            str(result.restarts) if restarted else "-", f"{result.convex_optimum:.10g}",
            f"{result.best_primal:.10g}" if restarted else "-", f"{result.relative_gap:.2e}" if restarted else "-",
            f"{sum(bool(c.passed) for c in decided)}/{len(decided)}")


def format_table(results: list[Verification]) -> str:
    """A plain-text table, one row per verification (COLUMNS)."""
    return text_table(COLUMNS, [_row(r) for r in results])


def text_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Left-aligned columns separated by two spaces, with a dashed rule under the header."""
    rows = [header] + rows
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def verification_lines(result: Verification) -> str:
    """One line per witness, with the headline numbers of the verification."""
    lines = [
        f"{result.theorem}: solver {result.solver}, seed {result.seed}, C* = {result.convex_optimum:.12g}, "
        f"certified lower bound {result.lower_bound:.12g} (gap {result.certified_gap:.1e}), m* = rank = {result.rank}, heads = {result.heads}",
    ]
    if result.fraction_at_rank is not None:
        lines.append(f"  restarts reaching C* at m = m* = {result.rank}: {result.fraction_at_rank:.0%}")
    lines += [f"  {key}: {value}" for key, value in result.extras.items()]
    for check in result.checks:
        verdict = {True: "PASS", False: "FAIL", None: "skip"}[check.passed] if check.claim else \
            {True: "seen", False: "not seen", None: "skip"}[check.passed]
        bound = f"{check.value:.3e} {check.relation} {check.tolerance:.0e}" if check.passed is not None else ""
        lines.append(f"  [{verdict}] {check.name:<17} {bound:<26} {check.detail}")
    return "\n".join(lines)


def _number(value: float) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.2f}"


def _joined(values) -> str:
    return r" \| ".join(_number(v) for v in values)


VIEWS = ("raw", "pca", "whitened", "targets")


def map_table(rows: list[dict[str, object]]) -> list[str]:
    """The map as a markdown table: per setting the read-outs' mean scores, the baselines, the control and which
    read-outs win (margin >= MARGIN in every seed, with the smallest margin)."""
    header = ["theorem", "target", "nuisance", "scale", "N", "β/β_max", "seeds", "heads ARI", "head ARI",
              "logit sep.", "mask sep.", "q/k align.", "raw | PCA | whitened | targets ARI",
              "raw | PCA | whitened | targets sep.", "PCA align.", "control heads | logits | q/k",
              f"wins (margin ≥ {MARGIN:g} in every seed)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        s, b, c = row["scores"], row["baselines"], row["control"]
        cells = [row["theorem"], row["target"], row["nuisance"], f"{row['nuisance_scale']:g}", str(row["samples"]),
                 f"{row['beta_fraction']:g}", ",".join(map(str, row["seeds"])), *(_number(s[r]) for r in COMPARED),
                 _joined(b[f"{v}_ari"] for v in VIEWS), _joined(b[f"{v}_separation"] for v in VIEWS),
                 _number(b["pca_alignment"]), _joined(c[r] for r in ("heads", "logits", "query_key")),
                 ", ".join(f"{r} (+{row['smallest_margin'][r]:.2f})" for r in row["wins"]) or "none"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


READOUT_NAMES = {"heads": "heads' projections, k-means (ARI)", "head": "each head's projections (ARI, weighted)",
                 "logits": "attention logits, same vs other group (separation)",
                 "masks": "active gates' masks (separation)", "query_key": "query/key subspace (alignment)",
                 "value": "value subspace (alignment, not compared)"}


def cluster_lines(run: ClusterRun) -> list[str]:
    """The text `proofs-check cluster` prints."""
    lines = [f"{run.theorem}: seed {run.seed}, beta {run.beta:.4g} = {run.beta_fraction:.3g} beta_max, solver "
             f"{run.solution.solver} (certified gap {run.solution.certified_gap:.1e}), {run.reading.heads} heads, "
             f"{run.k} clusters; alignment against the {run.reference}"]
    if run.evaluation is None:
        sizes = np.bincount(run.reading.partition.reshape(-1), minlength=run.k)
        lines.append(f"  partition by the heads' projections: cluster sizes {sizes.tolist()} (labels in --json)")
        lines += [f"  {READOUT_NAMES[r]:<52} {_number(v)}" for r, v in run.alignment.items()]
        return lines
    ev = run.evaluation
    lines.append(f"  {'read-out':<52} {'score':>6} {'control':>8} {'best baseline':>14} {'margin':>7}")
    for r, text in READOUT_NAMES.items():
        best = ev.scores[r] - ev.margins[r] if r in ev.margins else float("nan")
        margin = ev.margins.get(r, float("nan"))
        lines.append(f"  {text:<52} {_number(ev.scores[r]):>6} {_number(ev.control[r]):>8} {_number(best):>14} "
                     f"{_number(margin):>7}")
    lines.append("  baselines: " + ", ".join(f"{b} {_number(v)}" for b, v in ev.baselines.items()))
    verdicts = [f"{text} {_number(ev.control[r])} ({'at' if ev.control[r] <= run.nulls[r] else 'above'} chance: "
                f"{NULL_QUANTILE} permutation quantile {_number(run.nulls[r])})"
                for r, text in (("heads", "heads ARI"), ("logits", "logit separation")) if np.isfinite(ev.control[r])]
    lines.append("  shuffled control: " + ", ".join(verdicts))
    return lines


def format_comparison(rows: list[Row], dims: dict[str, int], beta: float, seed: int) -> str:
    header = ("theorem", "C*", "loss", "beta R(Z*)", "|F-Y|/|Y|", "certified gap", "heads m*", "structure", "solver",
              "seconds")
    body = [(r.theorem, f"{r.optimum:.6g}", f"{r.loss:.6g}", f"{r.penalty:.6g}", f"{r.relative_fit:.4f}",
             f"{r.certified_gap:.1e}", str(r.heads), r.structure, r.solver, f"{r.seconds:.2f}")
            for r in rows if r.refused is None]
    shape = ", ".join(f"{k} = {v}" for k, v in dims.items())
    refused = [f"not compared: {r.theorem}: {r.refused}" for r in rows if r.refused is not None]
    return (f"same data for every architecture: {shape}, beta = {beta:g}, seed {seed}\n" + text_table(header, body)
            + "".join("\n" + line for line in refused))


def format_path(theorem: Theorem, path: list[PathPoint]) -> str:
    header = ("beta", "beta/beta_max", "loss", "regulariser", "active blocks", "heads m*", "active tokens")
    top = path[-1].beta
    rows = [(f"{p.beta:.4g}", f"{p.beta / top:.3g}", f"{p.loss:.6g}", f"{p.regulariser:.6g}", str(p.active_blocks),
             str(p.heads), str(p.fields.get("active_tokens", "-"))) for p in path]
    solvers = ", ".join(dict.fromkeys(p.solver for p in path))
    return f"{theorem.name}: regularisation path over {len(path)} betas (solver {solvers})\n" + text_table(header, rows)


def format_errata(records: list[Erratum]) -> str:
    """The records as a table: id, verdict (and whether it is the expected one), the numbers, the statement."""
    number = lambda value: "-" if value is None else f"{value:.10g}"
    lines = [f"{'id':<36} {'verdict':<9} {'expected':<9} {'network':<14} {'printed':<14} {'corrected':<14} statement"]
    for r in records:
        mark = "" if r.agrees else "  << differs from the expected verdict"
        lines.append(f"{r.id:<36} {r.verdict:<9} {r.expected:<9} {number(r.network):<14} {number(r.printed):<14} "
                     f"{number(r.corrected):<14} {r.statement}{mark}")
    seeds = sorted({r.seed for r in records if r.seed is not None})
    lines.append(f"{sum(r.agrees for r in records)}/{len(records)} verdicts as expected; restarts "
                 f"{records[0].restarts} per width, seeds {seeds}; units and sources in --json")
    return "\n".join(lines)


def format_experiment(result: ExperimentResult) -> str:
    """The accuracy table, with the configuration it was measured on."""
    c, dims = result.config, result.dims
    lines = [f"digits transfer experiment: seed {c.seed}, {dims['n_train']} train / {dims['n_test']} test images, "
             f"s = {dims['s']} tokens ({c.patch}x{c.patch} patches), d = {dims['d']} backbone features "
             f"(seeded random projection + constant), beta = {c.beta:g}, pooled output, solver {c.solver}"]
    header = ("head", "loss", "kind", "train objective", "certified gap", "train acc", "test acc", "seconds")
    rows = [(h.head, h.loss, h.kind, f"{h.objective:.6g}", "-" if h.certified_gap is None else f"{h.certified_gap:.1e}",
             f"{h.train_accuracy:.3f}", f"{h.test_accuracy:.3f}", f"{h.seconds:.1f}") for h in result.heads]
    skipped = [f"skipped {head}: {why}" for head, why in result.skipped.items()]
    return "\n".join(lines + [text_table(header, rows)] + skipped)


def format_grokking(results: list[GrokkingResult]) -> str:
    """One row per (run, model): the milestones, the final accuracies and losses, the time."""
    header = ("P", "fraction", "seed", "model", "steps are", "train 99 %", "test 99 %", "grokking gap",
              "train acc", "test acc", "train loss", "test loss", "seconds")
    rows = []
    for result in results:
        c = result.config
        for run in result.runs:
            k = run.curve
            rows.append((str(c.modulus), f"{c.train_fraction:g}", str(c.seed), run.model, run.unit,
                         _step(run.train_step), _step(run.test_step), _step(run.grokking_gap),
                         f"{k.train_accuracy[-1]:.3f}", f"{k.test_accuracy[-1]:.3f}", f"{k.train_loss[-1]:.4g}",
                         f"{k.test_loss[-1]:.4g}", f"{run.seconds:.1f}"))
    first = results[0].config
    lines = [f"modular division a / b mod P on (a, b, =): {first.loss} loss on one-hot targets, "
             f"transformer: width {first.width}, {first.heads} heads, MLP {first.hidden}, AdamW lr "
             f"{first.learning_rate:g}, weight decay {first.weight_decay:g}, {first.steps} steps; convex block: "
             f"{first.gates} gates, beta = {first.beta_fraction:g} beta_max, FISTA to a certified gap of 1e-8",
             text_table(header, rows)]
    for result in results:
        convex = next(run for run in result.runs if run.model == "convex-attention-fc").details
        lines.append(f"P {result.config.modulus}, fraction {result.config.train_fraction:g}, seed "
                     f"{result.config.seed}: {result.dims['train']} train / {result.dims['test']} test pairs; convex "
                     f"block beta {convex['beta']:.4g} (beta_max {convex['beta_max']:.4g}), objective "
                     f"{convex['objective']:.6g}, certified gap {convex['certified_gap']:.1e}, active blocks "
                     f"{convex['active_blocks']}/{convex['blocks']}")
    return "\n".join(lines)


def convergence_lines(result: StudentTeacherResult) -> list[str]:
    """Per arm with a curve: its final objective, passes and seconds, and the first kept point of its curve (200
    log-spaced points: the pass count is that point's) within each REACHED of the certified optimum of the
    simplex-row model (convex-attention's C*), or "never"."""
    optimum = next((s.objective for s in result.students if s.student == "convex-attention"), None)
    lines = []
    for s in result.students:
        if s.curve is None or optimum is None or not s.curve.passes:
            continue
        reach = []
        for tolerance in REACHED:
            hit = next((k for k, value in enumerate(s.curve.objective) if value <= optimum * (1 + tolerance)), None)
            reach.append(f"{tolerance:g}: " + ("never" if hit is None else
                                               f"{s.curve.passes[hit]} passes, {s.curve.seconds[hit]:.2f} s"))
        lines.append(f"  {s.student:<18} final {s.curve.objective[-1]:.6g} after {s.curve.passes[-1]} passes, "
                     f"{s.curve.seconds[-1]:.2f} s; at or below C*(convex-attention) (1 + tol), tol {'; '.join(reach)}")
    return lines


def format_student_teacher(result: StudentTeacherResult) -> str:
    c = result.config
    header = ("student", "kind", "train objective", "certified gap", "train error", "test error", "seconds")
    rows = [(s.student, s.kind, f"{s.objective:.6g}", "-" if s.certified_gap is None else f"{s.certified_gap:.1e}",
             f"{s.train_error:.4f}", f"{s.test_error:.4f}", f"{s.seconds:.2f}") for s in result.students]
    caption = (f"student-teacher: seed {c.seed}, teacher = frozen random softmax attention ({c.teacher_heads} heads) + "
               f"ReLU FC ({c.teacher_hidden}); {c.n_train} train / {c.n_test} test samples, s = {c.tokens}, "
               f"d = {c.features}, c = {c.outputs}; beta = {c.beta:g}, squared loss; errors are |F - Y|^2 / |Y|^2")
    curves = convergence_lines(result)
    table = caption + "\n" + text_table(header, rows)
    return table + ("\nobjective against passes over the data (one pass: one objective and gradient evaluation, or one "
                    "FISTA iteration):\n" + "\n".join(curves) if curves else "")


def format_relu_exact(result: ReluExactResult) -> str:
    """One row per (target, beta), aggregated over the seeds; ranges are min-max over the seeds."""
    c = result.config

    def span(values: list[float], fmt: str) -> str:
        lo, hi = min(values), max(values)
        return format(lo, fmt) if lo == hi else f"{lo:{fmt}}-{hi:{fmt}}"

    header = ("target", "beta", "closed", "largest gap", "heads", "relaxation gap", "restart gap", "below LB",
              "seconds")
    rows = []
    for target in c.targets:
        for beta in c.betas:
            group = [r for r in result.instances if r.target == target and r.beta == beta]
            if not group:
                continue
            exact = [r.exact for r in group]
            rows.append((target, f"{beta:g}", f"{sum(r.closed for r in group)}/{len(group)}",
                         f"{max(e['exact_gap'] for e in exact):.1e}", span([e["heads"] for e in exact], "d"),
                         span([e["relaxation_gap"] for e in exact], ".3f"),
                         f"{max(e['restart_gap'] for e in exact):.1e}", str(sum(r.below_bound for r in group)),
                         f"{sum(r.seconds for r in group):.1f}"))
    total = result.summary()["all"]
    caption = (f"{c.theorem}, exact program on drawn tiny instances (N 2, s 2, d 2): seeds "
               f"{', '.join(map(str, c.seeds))}; {c.restarts} restarts at the exact width; gaps relative")
    footer = (f"closed {total['closed']}/{total['instances']} (exact gap <= {tol.EXACT_GAP:g}), largest gap "
              f"{total['largest_gap']:.1e}, restarts below the certified lower bound: {total['below_bound']}")
    return caption + "\n" + text_table(header, rows) + "\n" + footer


def certification_lines(result: api.Certification) -> str:
    """What `proofs-check certify` prints."""
    opt = result.optimum
    dims = ", ".join(f"{key} = {value}" for key, value in result.dims.items())
    rows = [("training objective of your weights", f"{result.objective:.10g}", ""),
            ("certified lower bound LB (every network)", f"{result.lower_bound:.10g}",
             f"dual certificate at the convex solution, solver {opt.solver}"),
            ("convex optimum C*", f"{opt.convex_optimum:.10g}", f"certified relative gap {opt.certified_gap:.1e}"),
            ("certified relative suboptimality", f"{result.relative_suboptimality:.3e}",
             "(objective - LB) / |objective|")]
    lines = [f"{result.theorem} ({dims}), beta = {result.beta:g}, loss {result.loss}, seed {result.seed}; "
             f"your weights: m = {result.heads}"]
    lines += [f"  {label:<42} {value:<14} {note}".rstrip() for label, value, note in rows]
    if not opt.exact:
        lines.append("  a relaxation: LB bounds every network from below, but need not be attained")
    if not result.consistent:
        lines.append("  INCONSISTENT: the objective lies below the certified lower bound (weak duality violated)")
    if result.optimum_file is not None:
        reach = "reaches C*" if opt.reaches_optimum else "does NOT reach C* (a relaxation's heads outside their cones)"
        lines.append(f"  optimal weights written: {result.optimum_file} (m* = {opt.heads}, objective "
                     f"{opt.recovered_objective:.10g}, {reach})")
    return "\n".join(lines)
