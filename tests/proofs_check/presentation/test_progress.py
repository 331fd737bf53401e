"""Progress on stderr (proofs_check.presentation.progress): a bar on a terminal, one line per phase elsewhere."""

from __future__ import annotations

import io

from proofs_check.presentation.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_one_line_per_phase_with_its_place(monkeypatch):
    """Not a terminal: a phase that counts up (restarts) is announced once with its size, a sequence of steps with
    each step's place; no carriage returns."""
    monkeypatch.delenv("CI", raising=False)
    log = io.StringIO()
    with Progress("job", log) as progress:
        for k in range(4):
            progress("restarts at m=2", k, 4)
        for k, name in enumerate(("first", "second")):
            progress(name, k, 2)
    assert log.getvalue().splitlines() == ["[job] restarts at m=2 (4 steps)", "[job] first (2 steps)",
                                          "[job] second (2/2)"]
    assert "\r" not in log.getvalue()


def test_a_terminal_gets_a_bar_that_is_cleared(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    terminal = Terminal()
    with Progress("job", terminal) as progress:
        progress("restarts at m=2", 0, 5)
        progress("restarts at m=2", 3, 5)
        assert progress.bar is not None and progress.bar.n == 3
    text = terminal.getvalue()
    assert "[job] restarts at m=2" in text and "3/5" in text and progress.bar is None


def test_ci_is_a_log_even_on_a_terminal(monkeypatch):
    monkeypatch.setenv("CI", "true")
    terminal = Terminal()
    with Progress("job", terminal) as progress:
        progress("convex solve", 0, 1)
    assert terminal.getvalue() == "[job] convex solve\n"
