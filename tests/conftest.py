"""Fixtures shared by the test files (the Hypothesis profiles are loaded by the repository's root conftest.py).

``cli`` runs `proofs-check` in-process on files in the test's tmp_path:

- ``cli.npz(name="data.npz", **arrays)`` writes the arrays to tmp_path/name (numpy.savez) and returns its path;
- ``cli.run(*args, json=False)`` calls proofs_check.cli.main with ``str()`` of every argument (paths and numbers
  may be passed as they are) and returns a :class:`CLIResult`: the exit code, what was printed on stdout and on
  stderr, and, with ``json=True`` (or a file name), the JSON that the appended ``--json FILE`` wrote (None when the
  command wrote none);
- ``cli.error(*args)`` asserts that the command fails with exit code 2 and one line on stderr starting
  "proofs-check: error: " (the command line's contract for bad input) and returns that line;
- ``cli.path(name)`` is tmp_path/name.

``make_cli(directory)`` builds the same helper on another directory, for module-scoped fixtures.
"""

from __future__ import annotations

import contextlib
import io
import json as jsonlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from proofs_check.cli import main

ERROR_PREFIX = "proofs-check: error: "


@dataclass(frozen=True)
class CLIResult:
    code: int
    out: str
    err: str
    json: Any = None  # the parsed --json file of run(json=...); None otherwise

    @property
    def err_lines(self) -> list[str]:
        return self.err.strip().splitlines()


class CLI:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._json_files = 0

    def path(self, name: str) -> Path:
        return self.directory / name

    def npz(self, name: str = "data.npz", /, **arrays: Any) -> Path:
        path = self.path(name)
        np.savez(path, **arrays)
        return path

    def run(self, *args: Any, json: bool | str = False) -> CLIResult:
        argv = [str(arg) for arg in args]
        written = None
        if json:
            self._json_files += 1
            written = self.path(json if isinstance(json, str) else f"out-{self._json_files}.json")
            argv += ["--json", str(written)]
        stdout, stderr = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                code = main(argv)
        finally:  # echoed, so that pytest shows the command's output with a failure
            sys.stdout.write(stdout.getvalue())
            sys.stderr.write(stderr.getvalue())
        payload = jsonlib.loads(written.read_text()) if written is not None and written.exists() else None
        return CLIResult(code, stdout.getvalue(), stderr.getvalue(), payload)

    def error(self, *args: Any) -> str:
        result = self.run(*args)
        assert result.code == 2, (result.code, result.err)
        lines = result.err_lines
        assert len(lines) == 1 and lines[0].startswith(ERROR_PREFIX), lines
        return lines[0]


@pytest.fixture(scope="session")
def make_cli():
    return CLI


@pytest.fixture
def cli(tmp_path) -> CLI:
    return CLI(tmp_path)
