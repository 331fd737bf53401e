"""The layout rules of the repository: theory/ is the mathematics and never imports the harness."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    return names | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}


def test_theory_never_imports_the_harness():
    offenders = {str(path.relative_to(ROOT)): sorted(name for name in _imported_modules(path)
                                                     if name.split(".")[0] == "proofs_check")
                 for path in (ROOT / "theory").rglob("*.py")}
    assert not {path: names for path, names in offenders.items() if names}


#: Directories that are not the artifact's own text (build products, caches, the git store, written reports; and
#: any virtual environment inside the checkout, found by its pyvenv.cfg).
NOT_SOURCE = {".git", "__pycache__", ".hypothesis", ".pytest_cache", "build", "dist", "reports"}
#: What would point a reader outside the repository: the source notes and the machine's work directories.
OUTSIDE = ("../shared", "THEORY.md", "/work/")


def _text_files():
    venvs = [cfg.parent for cfg in ROOT.rglob("pyvenv.cfg")]  # a virtual environment made inside the checkout
    for path in ROOT.rglob("*"):
        parts = set(path.relative_to(ROOT).parts)
        if any(venv in path.parents for venv in venvs):
            continue
        if path.is_file() and not parts & NOT_SOURCE and not any(p.endswith(".egg-info") for p in parts):
            try:
                yield path, path.read_text()
            except UnicodeDecodeError:  # binary files (plots, archives) carry no references
                continue


def test_no_file_points_outside_the_repository():
    found = [f"{path.relative_to(ROOT)}: {needle}" for path, text in _text_files() for needle in OUTSIDE
             if needle in text and path != Path(__file__).resolve()]
    assert not found


def test_no_theorem_module_imports_another():
    """A theorem module imports only shared infrastructure (gates, attention heads, simplex rows, the lifted program),
    never another theorem's module: one home per concept, and theorem modules are not libraries for each other."""
    import theory

    theorem_modules = {cls.__module__ for cls in theory.REGISTRY.values()}
    offenders = {module: sorted(theorem_modules & _imported_modules(ROOT / (module.replace(".", "/") + ".py")))
                 for module in theorem_modules}
    assert not {module: names for module, names in offenders.items() if names}, offenders
