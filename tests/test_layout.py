"""The layout rules of the repository: theory/ is the mathematics and never imports the harness."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    return names | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}


def test_theory_never_imports_the_harness():
    offenders = {str(path.relative_to(ROOT)): sorted(name for name in _imported_modules(path)
                                                     if name.split(".")[0] == "proofs_check")
                 for path in (ROOT / "theory").rglob("*.py")}
    assert not {path: names for path, names in offenders.items() if names}
