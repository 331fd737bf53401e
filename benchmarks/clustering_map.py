"""The token-clustering map (not a test): read-outs of the certified solution against the baselines over nuisance
scale x samples x beta, for linear, gated-ReLU and convex attention (proofs_check.studies.clustering,
docs/theory.md §12).

    python -m benchmarks.clustering_map [--theorems NAME ...] [--families TARGET/NUISANCE ...] [--seeds S ...]
                                        [--solver NAME] [--report DIR] [--json OUT] [--cells FILE ...]
                                        [--workers N] [--dask-scheduler ADDRESS]   (from the repository root)

Every cell draws its data from numpy.random.default_rng(seed) with the sizes of MAP_SIZES, the families
MAP_FAMILIES and the grid MAP_GRID; the seeds are printed with every row.  Prints one line per cell as it finishes
(on stderr) and the summary table (markdown) at the end.  ``--report DIR`` writes DIR/clustering_map.json (the
cells, the summary, the settings) and one heat map per family and compared read-out
(DIR/clustering_map_<target>_<nuisance>_<readout>.png), which the report's clustering section shows; ``--json OUT``
writes the same JSON elsewhere; ``--cells FILE ...`` summarises the cells of earlier JSON outputs (e.g. one run per
family, in parallel) instead of computing them.  ``--solver`` (default auto: Clarabel at these sizes, SSNAL when
Clarabel fails) is recorded per cell with the certified gap of its solution.  ``--workers N`` computes the cells on N
local processes, ``--dask-scheduler ADDRESS`` on a Dask cluster (proofs_check.parallel); the cells are the same.

Measured on this 2-core machine while other jobs ran (so noisy): 22-26 minutes per family of 432 cells, the three
families in parallel.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from proofs_check.parallel import backend
from proofs_check.studies.clustering.atlas import MAP_FAMILIES, MAP_GRID, MAP_JSON, MAP_SEEDS, MAP_SIZES, MARGIN, Cell, clustering_map, summarise
from proofs_check.studies.clustering.readouts import THEOREMS
from proofs_check.presentation.report import map_plots
from proofs_check.presentation.text import map_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--theorems", nargs="+", default=list(THEOREMS))
    parser.add_argument("--families", nargs="+", default=["/".join(f) for f in MAP_FAMILIES],
                        help="TARGET/NUISANCE pairs (default: MAP_FAMILIES)")
    parser.add_argument("--seeds", nargs="+", type=int, default=list(MAP_SEEDS))
    parser.add_argument("--solver", default="auto")
    parser.add_argument("--report", type=Path, default=None, help=f"write {MAP_JSON} and the heat maps here")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--cells", type=Path, nargs="+", default=None,
                        help="summarise the cells stored in these JSON outputs instead of computing them")
    parser.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    parser.add_argument("--dask-scheduler", default=None, metavar="ADDRESS", help="compute on this Dask cluster")
    args = parser.parse_args(argv)
    began = time.perf_counter()

    def progress(cell) -> None:
        margins = " ".join(f"{k} {v:+.2f}" for k, v in cell.result["margins"].items() if v == v)
        print(f"[{time.perf_counter() - began:7.1f} s] {cell.theorem} {cell.target}/{cell.nuisance} "
              f"scale {cell.nuisance_scale:g} "
              f"N {cell.samples} beta {cell.beta_fraction:g} seed {cell.seed}: {margins} "
              f"({cell.result['solver']}, gap {cell.result['certified_gap']:.0e})", file=sys.stderr, flush=True)

    if args.cells is None:
        families = [tuple(family.split("/")) for family in args.families]
        with backend(args.workers, args.dask_scheduler) as workers:
            cells = clustering_map(args.theorems, families, MAP_GRID, tuple(args.seeds), MAP_SIZES, args.solver,
                                   progress, workers)
    else:
        cells = [Cell(**cell) for path in args.cells for cell in json.loads(path.read_text())["cells"]]
    rows = summarise(cells)
    print("\n".join(map_table(rows)))
    payload = {"sizes": MAP_SIZES, "grid": MAP_GRID, "families": args.families, "seeds": args.seeds, "margin": MARGIN,
               "solver": args.solver,
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
