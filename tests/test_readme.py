"""The README's Python examples run: every ```python block of README.md is executed, in order, in one fresh
namespace per block, from a temporary working directory (so files it writes land there).  With no such block there
is nothing to run; the extraction itself is tested on a text with known blocks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[str]:
    """The bodies of the ```python fenced blocks of a markdown text, in order."""
    return [match.group(1) for match in FENCE.finditer(text)]


def test_extraction_finds_only_python_blocks():
    text = "a\n```python\nx = 1\n```\n```bash\nls\n```\n```python\ny = 2\nz = 3\n```\n  ```python\nno\n```\n"
    assert python_blocks(text) == ["x = 1\n", "y = 2\nz = 3\n"]


@pytest.mark.parametrize("number, block", list(enumerate(python_blocks(README.read_text()), 1)))
def test_readme_python_block_runs(number, block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(block, f"README.md python block {number}", "exec"), {"__name__": f"readme_block_{number}"})
