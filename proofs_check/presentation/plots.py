"""PNG plots of the report and of the studies (matplotlib, headless Agg backend); every function writes one file and
returns its path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from proofs_check import tolerances as tol  # noqa: E402
from proofs_check.presentation.text import _number  # noqa: E402
from proofs_check.studies.clustering.atlas import MARGIN  # noqa: E402
from proofs_check.studies.clustering.readouts import Reading  # noqa: E402
from proofs_check.studies.path import PathPoint  # noqa: E402
from theory.base import Theorem  # noqa: E402

#: Relative excesses below this are drawn at this floor on the log axis (float64 round-off of the objectives).
EXCESS_FLOOR = 1e-16


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_restarts(theorem: str, restart_values: dict[int, list[float]], optimum: float, scale: float,
                  path: Path) -> Path:
    """Final objective of every restart per width against the convex optimum C* (linear and relative-log; relative
    quantities divided by ``scale``, as the witnesses divide them)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    widths = sorted(restart_values)
    for m in widths:
        values = np.asarray(restart_values[m])
        x = np.full(values.size, m) + np.linspace(-0.15, 0.15, values.size)
        left.plot(x, values, "o", alpha=0.7, label=f"m = {m}")
        right.plot(x, np.maximum((values - optimum) / scale, EXCESS_FLOOR), "o", alpha=0.7)
    left.axhline(optimum, color="k", linestyle="--", label=f"convex optimum C* = {optimum:.6g}")
    left.set(xlabel="heads m", ylabel="final training objective", title=f"{theorem}: restarts vs C*", xticks=widths)
    left.legend(fontsize=8)
    right.axhline(tol.GAP, color="r", linestyle=":", label=f"zero-gap tolerance {tol.GAP:g}")
    right.set(xlabel="heads m", ylabel="(objective - C*) / |C*|", yscale="log", xticks=widths,
              title=f"{theorem}: relative excess over C* (floor {EXCESS_FLOOR:g})")
    right.legend(fontsize=8)
    return _save(fig, path)


def plot_singular_values(theorem: str, singular_values: list[list[float]], labels: list[str], path: Path) -> Path:
    """Singular values of every block of the (rank-reduced) convex solution, log scale, one line per block."""
    fig, ax = plt.subplots(figsize=(6, 4))
    floor = EXCESS_FLOOR * max((max(s) for s in singular_values if s), default=1.0)
    for sv, label in zip(singular_values, labels):
        values = np.maximum(np.asarray(sv), floor)
        ax.semilogy(np.arange(1, values.size + 1), values, "o-", label=label, alpha=0.8)
    ax.set(xlabel="index r", ylabel="singular value sigma_r of Z_p*",
           title=f"{theorem}: singular values of the solution blocks")
    if len(labels) <= 12:
        ax.legend(fontsize=7)
    return _save(fig, path)


def plot_attention_maps(maps: np.ndarray, groups: np.ndarray, partition: np.ndarray, title: str, path: Path) -> Path:
    """Attention maps (heads, s, s) of one sample, tokens sorted by planted group; tick labels 'planted/found'."""
    order = np.argsort(groups, kind="stable")
    heads = len(maps)
    fig, axes = plt.subplots(1, heads, figsize=(3.2 * heads + 0.8, 3.6), squeeze=False)
    ticks = [f"{groups[t]}/{partition[t]}" for t in order]
    for j, ax in enumerate(axes[0]):
        image = ax.imshow(maps[j][np.ix_(order, order)], cmap="RdBu_r")
        ax.set_xticks(range(len(order)), ticks, rotation=90, fontsize=7)
        ax.set_yticks(range(len(order)), ticks, fontsize=7)
        ax.set(xlabel="key token (planted/found group)", ylabel="query token", title=f"head {j}")
        fig.colorbar(image, ax=ax, fraction=0.046)
    fig.suptitle(textwrap.fill(title, width=int(12 * fig.get_figwidth())), fontsize=9)
    return _save(fig, path)


def plot_accuracies(heads: list[str], train: list[float], test: list[float], title: str, path: Path) -> Path:
    """Grouped bars of train and test accuracy per head."""
    fig, ax = plt.subplots(figsize=(7, 4))
    x = np.arange(len(heads))
    for offset, values, label in ((-0.2, train, "train"), (0.2, test, "test")):
        bars = ax.bar(x + offset, values, 0.4, label=label)
        ax.bar_label(bars, fmt="%.3f", fontsize=7)
    ax.set_xticks(x, heads, rotation=15)
    ax.set(ylabel="accuracy", ylim=(0, 1.08), title=title)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_regularisation_path(theorem: str, betas: list[float], counts: dict[str, list[int]], losses: list[float],
                             path: Path) -> Path:
    """Active counts (left axis, steps) and the training loss at the optimum (right axis) against beta."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, values in counts.items():
        ax.plot(betas, values, "o-", drawstyle="steps-mid", label=label)
    ax.set(xscale="log", xlabel="weight decay beta", ylabel="active count at the optimum",
           title=f"{theorem}: regularisation path")
    fit = ax.twinx()
    fit.plot(betas, losses, "k--", label="loss at the optimum")
    fit.set(ylabel="loss l(A(Z*)) at the optimum")
    lines = ax.get_legend_handles_labels()
    more = fit.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8)
    return _save(fig, path)


def plot_learning_curves(panels: dict[str, dict[str, list]], units: dict[str, str], title: str, path: Path) -> Path:
    """Per model (one column): train/test accuracy (top) and per-sample loss (bottom, log) against its steps (log);
    ``panels[model]`` holds the lists step, train_accuracy, test_accuracy, train_loss, test_loss."""
    fig, axes = plt.subplots(2, len(panels), figsize=(5 * len(panels), 6), squeeze=False)
    for column, (model, curve) in enumerate(panels.items()):
        top, bottom = axes[0, column], axes[1, column]
        for split in ("train", "test"):
            top.plot(curve["step"], curve[f"{split}_accuracy"], label=split)
            bottom.plot(curve["step"], curve[f"{split}_loss"], label=split)
        top.axhline(0.99, color="k", linestyle=":", linewidth=0.8, label="99 %")
        top.set(xscale="log", ylim=(-0.02, 1.02), ylabel="accuracy", title=model)
        bottom.set(xscale="log", yscale="log", xlabel=units[model], ylabel="loss 1/2 |F - y|^2 per sample")
        top.legend(fontsize=8)
        bottom.legend(fontsize=8)
    fig.suptitle(textwrap.fill(title, width=int(12 * fig.get_figwidth())), fontsize=9)
    return _save(fig, path)


def plot_student_errors(students: list[str], train: list[float], test: list[float], seconds: list[float], title: str,
                        path: Path) -> Path:
    """Grouped bars of train and test error per student (left) and the training time (right, log)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    x = np.arange(len(students))
    for offset, values, label in ((-0.2, train, "train"), (0.2, test, "test")):
        bars = left.bar(x + offset, values, 0.4, label=label)
        left.bar_label(bars, fmt="%.3f", fontsize=7)
    left.set_xticks(x, students, rotation=10)
    left.set(ylabel="|F - Y|^2 / |Y|^2", title="error against the teacher")
    left.legend(fontsize=8)
    bars = right.bar(x, seconds, 0.5)
    right.bar_label(bars, fmt="%.2f s", fontsize=7)
    right.set_xticks(x, students, rotation=10)
    right.set(yscale="log", ylabel="training time (s, wall clock)", title="training time")
    fig.suptitle(textwrap.fill(title, width=int(12 * fig.get_figwidth())), fontsize=9)
    return _save(fig, path)


def plot_student_curves(curves: dict[str, tuple[list[int], list[float], list[float]]], optimum: float, title: str,
                        path: Path) -> Path:
    """Best objective so far against passes over the data (left) and seconds (right), one line per arm, with the
    certified optimum of the simplex-row model as a horizontal line."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for name, (passes, seconds, objective) in curves.items():
        left.plot(np.maximum(passes, 1), objective, label=name)
        right.plot(np.maximum(seconds, 1e-4), objective, label=name)
    for axis, label in ((left, "passes over the training data"), (right, "seconds (wall clock)")):
        axis.axhline(optimum, color="k", linestyle=":", linewidth=1, label="certified optimum (convex-attention)")
        axis.set(xscale="log", yscale="log", xlabel=label, ylabel="training objective (best so far)")
    left.legend(fontsize=7)
    fig.suptitle(textwrap.fill(title, width=int(12 * fig.get_figwidth())), fontsize=9)
    return _save(fig, path)


def plot_map(rows: list[dict[str, object]], readout: str, family: tuple[str, str], path: Path) -> Path:
    """Heat maps of the mean margin of ``readout`` for one (target, nuisance) family: one panel per theorem (rows)
    and beta fraction (columns), nuisance scale against samples inside; cells where it wins in every seed are
    starred."""
    rows = [r for r in rows if (r["target"], r["nuisance"]) == tuple(family)]
    theorems = list(dict.fromkeys(r["theorem"] for r in rows))
    fractions = sorted({r["beta_fraction"] for r in rows})
    scales = sorted({r["nuisance_scale"] for r in rows})
    samples = sorted({r["samples"] for r in rows})
    fig, axes = plt.subplots(len(theorems), len(fractions), figsize=(3.1 * len(fractions) + 1, 2.6 * len(theorems)),
                             squeeze=False)
    for i, name in enumerate(theorems):
        for j, fraction in enumerate(fractions):
            ax = axes[i][j]
            grid = np.full((len(scales), len(samples)), np.nan)
            for r in rows:
                if r["theorem"] == name and r["beta_fraction"] == fraction:
                    a, b = scales.index(r["nuisance_scale"]), samples.index(r["samples"])
                    grid[a, b] = r["margin"][readout]
                    mark = "*" if readout in r["wins"] else ""
                    ax.text(b, a, f"{_number(grid[a, b])}{mark}", ha="center", va="center", fontsize=7)
            image = ax.imshow(grid, cmap="RdBu", vmin=-1, vmax=1, origin="lower", aspect="auto")
            ax.set_xticks(range(len(samples)), samples, fontsize=7)
            ax.set_yticks(range(len(scales)), [f"{v:g}" for v in scales], fontsize=7)
            ax.set_title(f"{name}, beta = {fraction:g} beta_max", fontsize=8)
            ax.set(xlabel="samples N" if i == len(theorems) - 1 else "", ylabel="nuisance scale" if j == 0 else "")
        fig.colorbar(image, ax=axes[i][-1], fraction=0.08, label="score - best baseline")
    fig.suptitle(f"target {family[0]}, {family[1]} nuisance: margin of the '{readout}' read-out over the best "
                 f"baseline (* = >= {MARGIN:g} in every seed)", fontsize=9)
    return _save(fig, path)


def plot_attention(reading: Reading, order_by: np.ndarray, sample: int, title: str, path: Path) -> Path | None:
    """The affinities the ``logits`` read-out scores (heads' logits, gated ones masked; convex attention's position
    map) for the tokens of one sample, sorted by ``order_by`` (N, s) (the groups, or the partition without them),
    tick labels 'order/found' (proofs_check.presentation.plots.plot_attention_maps); None when there is no head."""
    if not reading.logits:
        return None
    s = reading.partition.shape[1]
    block = slice(sample * s, (sample + 1) * s)
    maps = np.stack([affinity[block, block] for _, affinity in reading.logits])
    return plot_attention_maps(maps, order_by[sample], reading.partition[sample], title, path)


def plot_path(theorem: Theorem, path: list[PathPoint], file: Path) -> Path:
    """Active blocks / tokens and the fit against beta (log axis)."""
    from proofs_check.presentation.plots import plot_regularisation_path

    betas = [p.beta for p in path]
    counts = {"active blocks (token pairs)": [p.active_blocks for p in path]}
    if "active_tokens" in path[0].fields:
        counts["active key tokens"] = [len(p.fields["active_tokens"]) for p in path]
    return plot_regularisation_path(theorem.name, betas, counts, [p.loss for p in path], file)
