"""`proofs-check compare` and the ReLU networks' exact programs (proofs_check.studies.compare): on tiny data the row
is the certified ReLU optimum, above its relaxation; on the default data the row is refused, saying why, and is
printed as a note, not as numbers."""

from __future__ import annotations

import numpy as np

from proofs_check import tolerances as tol
from proofs_check.presentation.text import format_comparison
from proofs_check.studies.compare import default_arrays, exact_row


def test_the_exact_row_is_the_certified_relu_optimum_on_tiny_data():
    rng = np.random.default_rng(0)
    arrays = {"X": rng.standard_normal((3, 2, 2)), "Y": rng.standard_normal((3, 2, 1))}
    row = exact_row("relu-mixer", arrays, 0.1, 0)
    assert row.refused is None and row.theorem == "relu-mixer (exact)"
    assert row.certified_gap <= tol.EXACT_GAP
    relaxation = float(row.structure.rsplit(" ", 1)[1])
    assert relaxation <= row.optimum and abs(row.loss + row.penalty - row.optimum) <= 1e-12 * row.optimum


def test_on_the_default_data_the_exact_rows_are_refused_with_the_reason():
    arrays, beta = default_arrays(0)
    rows = [exact_row(name, arrays, beta, 0) for name in ("relu-attention", "relu-mixer")]
    assert all(row.refused and "refused" in row.refused and np.isnan(row.optimum) for row in rows)
    text = format_comparison(rows, {"N": 6}, beta, 0)
    assert text.count("not compared: ") == 2 and "nan" not in text
