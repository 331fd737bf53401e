"""`proofs-check reproduce` (proofs_check.reproduce): the claims file is the numbers that README.md and docs/ quote
(every claim's quoted text is in its document, README.md unless the claim names another), each kind of tolerance
passes and fails where it must, and the command prints every claim with its verdict and exits 1 on a mismatch, 2 on
a bad claims file.  The measurements themselves run in CI as
`proofs-check reproduce --quick` (.ci/run), not here (they take about a minute)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from proofs_check import reproduce
from proofs_check.cli import main
from theory.errors import InputError

ROOT = Path(__file__).resolve().parents[2]

#: Claims whose quoted text is not (yet) in their document (none now); an id here must not be quoted there.
PENDING: set[str] = set()


def test_every_claim_is_quoted_in_its_document():
    claims = reproduce.load_claims()
    unquoted = {c.id for c in reproduce.unquoted(claims, ROOT)}
    missing = [f"{c.id} ({c.document})" for c in claims if c.id not in PENDING and c.id in unquoted]
    assert not missing, f"claims whose quoted text is not in their document: {missing}"
    pending = [f"{c.id} ({c.document})" for c in claims if c.id in PENDING and c.id not in unquoted]
    assert not pending, f"now quoted, remove them from PENDING: {pending}"
    assert PENDING <= {c.id for c in claims}


def test_claims_name_existing_documents_the_readme_links():
    claims = reproduce.load_claims()
    documents = {c.document for c in claims}
    assert reproduce.DOCUMENT in documents and len(documents) > 1
    assert all((ROOT / d).is_file() for d in documents), sorted(d for d in documents if not (ROOT / d).is_file())
    readme = (ROOT / "README.md").read_text()
    unlinked = sorted(d for d in documents - {"README.md"} if f"]({d}" not in readme)
    assert not unlinked, f"documents quoted by claims but not linked from README.md: {unlinked}"


def test_unquoted_reads_each_claims_document(tmp_path):
    (tmp_path / "README.md").write_text("the quote is here")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "elsewhere.md").write_text("another text")
    here = _claim("exact", True)
    claims = [replace(here, id="readme", quoted="quote is"), replace(here, id="doc", document="docs/elsewhere.md",
                                                                     quoted="quote is"),
              replace(here, id="doc-ok", document="docs/elsewhere.md", quoted="another"),
              replace(here, id="absent", document="docs/absent.md", quoted="quote")]
    assert [c.id for c in reproduce.unquoted(claims, tmp_path)] == ["doc", "absent"]


def test_quick_claims_cover_every_kind_of_number():
    quick = reproduce.select(reproduce.load_claims(), quick=True)
    assert {c.measure for c in quick} >= {"verification", "path", "clustering_cell", "stored_clustering_map",
                                          "comparison", "solver_speed"}
    assert {c.kind for c in quick} == set(reproduce.KINDS)


def _claim(kind, bound, expected=10.0):
    return reproduce.Claim("c", "path", {}, "q", expected, kind, bound, "why", "quote", True)


@pytest.mark.parametrize("kind, bound, expected, inside, outside", [
    ("relative", 1e-3, 10.0, [10.0, 10.0099, 9.9901], [10.011, 9.989, float("nan"), "10"]),
    ("absolute", 0.5, 10.0, [10.5, 9.5], [10.51, 9.49, float("inf")]),
    ("exact", True, [1, 2], [[1, 2]], [[1, 2, 3], [2, 1], (1, 2)]),
    ("at_least", 2.0, 12.0, [2.0, 100.0], [1.99, float("nan")]),
    ("at_most", 1e-6, 0.0, [-1.0, 1e-6], [1.1e-6, float("nan")]),
])
def test_tolerances(kind, bound, expected, inside, outside):
    claim = _claim(kind, bound, expected)
    assert all(claim.holds(value) for value in inside)
    assert not any(claim.holds(value) for value in outside)


def _claims_file(path: Path, expected: int) -> Path:
    path.write_text(f'''
[[claim]]
id = "map.logit_wins"
measure = "stored_clustering_map"
args = {{ theorem = "linear-attention", target = "group-sum", nuisance = "gaussian" }}
quantity = "wins.logits"
expected = {expected}
tolerance = {{ exact = true }}
reason = "a count"
quoted = "8 of 48"
quick = true
source = "stored"

[[claim]]
id = "map.cells"
measure = "stored_clustering_map"
args = {{ theorem = "linear-attention", target = "group-sum", nuisance = "gaussian" }}
quantity = "cells"
expected = 48
tolerance = {{ exact = true }}
reason = "a count"
quoted = "of 48"
quick = false
source = "stored"
document = "docs/experiments.md"
''')
    return path


def test_reproduce_prints_every_claim_and_passes(tmp_path, capsys):
    claims = _claims_file(tmp_path / "claims.toml", 8)
    assert main(["reproduce", "--claims", str(claims), "--json", str(tmp_path / "out.json")]) == 0
    out = capsys.readouterr().out
    assert "map.logit_wins (stored)" in out and "map.cells (stored)" in out and "2 passed, 0 failed" in out
    record = json.loads((tmp_path / "out.json").read_text())
    assert [c["id"] for c in record["claims"]] == ["map.logit_wins", "map.cells"]
    assert [c["document"] for c in record["claims"]] == ["README.md", "docs/experiments.md"]
    assert record["environment"]["packages"]["numpy"]
    assert main(["reproduce", "--claims", str(claims), "--quick"]) == 0
    assert "1 passed, 0 failed" in capsys.readouterr().out


def test_a_mismatch_exits_1(tmp_path, capsys):
    assert main(["reproduce", "--claims", str(_claims_file(tmp_path / "claims.toml", 9))]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH" in out and "1 passed, 1 failed" in out


@pytest.mark.parametrize("text, needle", [
    ("[[claim]]\nid = 'a'\n", "missing"),
    ("not toml [", "cannot read claims"),
    ("x = 1\n", "cannot read claims"),
])
def test_bad_claims_files_exit_2(tmp_path, capsys, text, needle):
    (tmp_path / "bad.toml").write_text(text)
    assert main(["reproduce", "--claims", str(tmp_path / "bad.toml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err


def test_bad_claims_are_refused(tmp_path):
    good = _claims_file(tmp_path / "claims.toml", 8).read_text()
    for old, new, needle in (('measure = "stored_clustering_map"', 'measure = "nope"', "unknown measure"),
                             ("tolerance = { exact = true }", "tolerance = { roughly = 1 }", "tolerance must be"),
                             ('id = "map.cells"', 'id = "map.logit_wins"', "duplicate claim ids"),
                             ('document = "docs/experiments.md"', 'document = "../outside.md"', "document must be"),
                             ('document = "docs/experiments.md"', 'document = "/abs/README.md"', "document must be"),
                             ('document = "docs/experiments.md"', 'document = "docs/data.json"', "document must be"),
                             ('document = "docs/experiments.md"', 'document = 3', "document must be")):
        (tmp_path / "bad.toml").write_text(good.replace(old, new, 1 if needle != "duplicate claim ids" else -1))
        with pytest.raises(InputError, match=needle):
            reproduce.load_claims(tmp_path / "bad.toml")
    with pytest.raises(InputError, match="no claim matches"):
        reproduce.select(reproduce.load_claims(_claims_file(tmp_path / "claims.toml", 8)), False, ["zzz"])


def test_a_quantity_path_indexes_lists():
    """A number in the path indexes a list (the studies' [min, max] ranges, e.g. all.relaxation_gap.1); a path past
    the end or into a missing key is an InputError, not a traceback."""
    record = {"all": {"gap": [0.1, 0.8], "rows": [{"n": 3}]}}
    assert reproduce.quantity(record, "all.gap.1") == 0.8
    assert reproduce.quantity(record, "all.rows.0.n") == 3
    for missing in ("all.gap.2", "all.gap.x", "all.none"):
        with pytest.raises(InputError, match="no quantity"):
            reproduce.quantity(record, missing)
