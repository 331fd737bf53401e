"""The README and the documents of docs/ hold what they promise.

- Their Python examples run: every ```python block of README.md and of each docs/*.md is executed, in order, in one
  fresh namespace per block, from a temporary working directory (so files it writes land there).  With no such block
  there is nothing to run; the extraction itself is tested on a text with known blocks.
- The README keeps the commands that .ci/run runs, each in a ```bash block of the section .ci/run names.
- The README links every document of docs/, and every relative link of these files leads to a file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCUMENTS = [README, *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)\s]*)?\)")


def python_blocks(text: str) -> list[str]:
    """The bodies of the ```python fenced blocks of a markdown text, in order."""
    return [match.group(1) for match in FENCE.finditer(text)]


def test_extraction_finds_only_python_blocks():
    text = "a\n```python\nx = 1\n```\n```bash\nls\n```\n```python\ny = 2\nz = 3\n```\n  ```python\nno\n```\n"
    assert python_blocks(text) == ["x = 1\n", "y = 2\nz = 3\n"]


BLOCKS = [(path.relative_to(ROOT).as_posix(), number, block)
          for path in DOCUMENTS for number, block in enumerate(python_blocks(path.read_text()), 1)]


@pytest.mark.parametrize("document, number, block", BLOCKS, ids=[f"{d}-{n}" for d, n, _ in BLOCKS])
def test_python_block_runs(document, number, block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(block, f"{document} python block {number}", "exec"), {"__name__": f"doc_block_{number}"})


def ci_commands() -> list[tuple[str, str]]:
    """(README section, command) for every command of .ci/run, from its `# README, "SECTION"...` comments."""
    pairs, section = [], None
    for line in (ROOT / ".ci" / "run").read_text().splitlines():
        named = re.match(r'#\s*README,\s*"([^"]+)"', line)
        if named:
            section = named.group(1)
        elif section and line.strip() and not line.startswith("#"):
            pairs.append((section, line.strip()))
            section = None
    return pairs


def test_ci_runs_the_readme_commands():
    pairs = ci_commands()
    assert len(pairs) == 3, pairs
    text = README.read_text()
    for section, command in pairs:
        heading = re.search(rf"^## {re.escape(section)}.*$", text, re.MULTILINE)
        assert heading, f"README has no section {section!r}"
        body = text[heading.end():].split("\n## ", 1)[0]
        assert f"```bash\n{command}\n```" in body, f"README section {section!r} lacks `{command}`"


def test_readme_links_every_document_and_links_resolve():
    readme = README.read_text()
    unlinked = [p.relative_to(ROOT).as_posix() for p in DOCUMENTS[1:]
                if f"]({p.relative_to(ROOT).as_posix()}" not in readme]
    assert not unlinked, f"docs not linked from README.md: {unlinked}"
    broken = [f"{path.relative_to(ROOT)}: {target}" for path in DOCUMENTS for target in LINK.findall(path.read_text())
              if "://" not in target and not (path.parent / target).exists()]
    assert not broken, broken
