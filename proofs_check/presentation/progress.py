"""Progress of long commands on stderr: what is running and how far it is.

Every long job reports through one callback, ``progress(phase, done, total)`` (proofs_check.harness.Progress): the
verification per phase (the convex solve, the restarts at each width), `reproduce` per measurement, the errata per
study, the experiments per model or head, the clustering map per cell.  :class:`Progress` shows it

- on a terminal: a tqdm bar per phase, or one bar for a job whose steps share a total, cleared when done;
- elsewhere (CI, a log file, a pipe behind ``--json``): one line per new phase, so the log says what ran without
  the carriage returns of a bar.  ``CI=true`` counts as "elsewhere" even on a pseudo-terminal.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from tqdm import tqdm


class Progress:
    """The ``progress(phase, done, total)`` callback of one command, labelled ``label``; a context manager that
    clears its bar on exit."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.live = self.stream.isatty() and os.environ.get("CI", "").lower() != "true"
        self.phase: str | None = None
        self.bar: tqdm | None = None

    def __call__(self, phase: str, done: int, total: int) -> None:
        text = f"[{self.label}] {phase}"
        if not self.live:
            if phase != self.phase:  # a new phase: its size at its start, its place in a sequence of steps after
                counted = "" if total <= 1 else f" ({total} steps)" if done == 0 else f" ({done + 1}/{total})"
                print(text + counted, file=self.stream, flush=True)
            self.phase = phase
            return
        if self.bar is None or done == 0 or total != self.bar.total:
            self.close()
            self.bar = tqdm(total=total, desc=text, file=self.stream, leave=False, dynamic_ncols=True)
        self.phase = phase
        self.bar.set_description_str(text, refresh=False)
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
