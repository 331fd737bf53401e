"""The token-clustering map (not a test): read-outs of the certified solution against the baselines over nuisance
scale x samples x beta, for linear, gated-ReLU and convex attention (proofs_check.latent_clustering,
docs/theory.md §12).

    python -m benchmarks.clustering_map [--theorems NAME ...] [--targets token group-sum] [--seeds S ...]
                                        [--solver NAME] [--report DIR] [--json OUT]   (from the repository root)

Every cell draws its data from numpy.random.default_rng(seed) with the sizes of MAP_SIZES and the grid MAP_GRID;
the seeds are printed with every row.  Prints one line per cell as it finishes (on stderr) and the summary table
(markdown) at the end.  ``--report DIR`` writes DIR/clustering_map.json (the cells, the summary, the settings)
and one heat map per target and compared read-out (DIR/clustering_map_<target>_<readout>.png), which the report's
clustering section shows; ``--json OUT`` writes the same JSON elsewhere; ``--cells FILE ...`` summarises the cells
of earlier JSON outputs (e.g. one run per target, in parallel) instead of computing them.  ``--solver prox`` (SSNAL, certified
relative gap 1e-8) is the default here because it is 5-10 times faster than Clarabel at these sizes
(0.1-0.7 s against 0.6-1.9 s per solve at N = 32-64, measured, the same optimum); every cell records the solver
and the certified gap.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from proofs_check.latent_clustering import (COMPARED, Cell, MAP_GRID, MAP_SEEDS, MAP_SIZES, MARGIN, TARGETS, THEOREMS,
                                            clustering_map, map_table, plot_map, summarise)

MAP_JSON = "clustering_map.json"


def map_plots(rows: list[dict[str, object]], directory: Path) -> dict[str, str]:
    """One heat map per target and compared read-out that exists for some theorem in ``rows``."""
    files = {}
    for target in dict.fromkeys(r["target"] for r in rows):
        for readout in COMPARED:
            if any(r["target"] == target and r["scores"][readout] == r["scores"][readout] for r in rows):
                path = directory / f"clustering_map_{target}_{readout}.png"
                files[f"{target}:{readout}"] = plot_map(rows, readout, target, path).name
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--theorems", nargs="+", default=list(THEOREMS))
    parser.add_argument("--targets", nargs="+", default=list(TARGETS), choices=TARGETS)
    parser.add_argument("--seeds", nargs="+", type=int, default=list(MAP_SEEDS))
    parser.add_argument("--solver", default="prox")
    parser.add_argument("--report", type=Path, default=None, help=f"write {MAP_JSON} and the heat maps here")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--cells", type=Path, nargs="+", default=None,
                        help="summarise the cells stored in these JSON outputs instead of computing them")
    args = parser.parse_args(argv)
    began = time.perf_counter()

    def progress(cell) -> None:
        margins = " ".join(f"{k} {v:+.2f}" for k, v in cell.result["margins"].items() if v == v)
        print(f"[{time.perf_counter() - began:7.1f} s] {cell.theorem} {cell.target} nuisance {cell.nuisance_scale:g} "
              f"N {cell.samples} beta {cell.beta_fraction:g} seed {cell.seed}: {margins} "
              f"({cell.result['solver']}, gap {cell.result['certified_gap']:.0e})", file=sys.stderr, flush=True)

    if args.cells is None:
        cells = clustering_map(args.theorems, args.targets, MAP_GRID, tuple(args.seeds), MAP_SIZES, args.solver,
                               progress)
    else:
        cells = [Cell(**cell) for path in args.cells for cell in json.loads(path.read_text())["cells"]]
    rows = summarise(cells)
    print("\n".join(map_table(rows)))
    payload = {"sizes": MAP_SIZES, "grid": MAP_GRID, "seeds": args.seeds, "margin": MARGIN, "solver": args.solver,
               "seconds": time.perf_counter() - began, "summary": rows, "cells": [asdict(c) for c in cells]}
    text = json.dumps(payload, indent=1, allow_nan=True) + "\n"
    if args.json is not None:
        args.json.write_text(text)
    if args.report is not None:
        args.report.mkdir(parents=True, exist_ok=True)
        (args.report / MAP_JSON).write_text(text)
        written = map_plots(rows, args.report)
        print(f"written: {args.report / MAP_JSON}, {', '.join(written.values())}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
