"""Hostile input, fuzzed: random data files through the command line and the loader never end in a traceback.

Every run of `proofs-check verify` on a drawn file must return 0, 1 or 2; a 2 must come with exactly one line on
stderr, starting "proofs-check: error: "; any other exception escapes main() and fails the test.  Drawn: dtypes
(floats of every width, integers, booleans, complex, strings, objects), shapes (0 to 4 axes, empty axes, mismatched
samples and tokens), scales over 600 decades, NaN and inf placements, missing and extra keys, truncated archives,
plain text and directories, and the loss and solver options.  The number of examples is FUZZ_FACTOR times the
hypothesis profile's (ci: 60, thorough: 2000).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proofs_check.cli import main
from proofs_check.datafile import load_npz
import theory
from theory.data import check_data
from theory.errors import InputError
from theory.losses import LOSSES

FUZZ_FACTOR = 10
DTYPES = ("float64", "float32", "float16", "int64", "int8", "uint8", "bool", "complex128", "str", "object")


@st.composite
def arrays(draw, leading: tuple[int, ...]):
    """An array whose shape starts (usually) with ``leading``, of a drawn dtype, scale and non-finite entries."""
    shape = draw(st.one_of(st.just(leading + (draw(st.integers(0, 3)),)), st.just(leading),
                           st.lists(st.integers(0, 4), min_size=0, max_size=4).map(tuple)))
    dtype = draw(st.sampled_from(DTYPES))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = rng.standard_normal(shape) * 10.0 ** draw(st.floats(-300, 300))
    if values.size and draw(st.booleans()):
        values.reshape(-1)[draw(st.integers(0, values.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    if dtype == "str":
        return values.astype(str)
    if dtype == "object":
        return values.astype(object)
    with np.errstate(all="ignore"):
        return values.astype(dtype) if dtype != "complex128" else values + 1j * values


@st.composite
def data_files(draw, path):
    """Write a drawn data file at ``path`` (or a directory, text, a truncated archive) and return its path."""
    kind = draw(st.sampled_from(["npz", "npz", "npz", "truncated", "text", "directory"]))
    if kind == "directory":
        path.mkdir()
        return path
    if kind == "text":
        path.write_text(draw(st.text(max_size=50)))
        return path
    N, s = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    contents = {"X": draw(arrays((N, s))), "Y": draw(arrays((N, s))), "H": draw(arrays((2,))),
                "extra": draw(arrays(()))}
    kept = draw(st.lists(st.sampled_from(sorted(contents)), unique=True, min_size=0, max_size=4))
    np.savez(path, **{key: contents[key] for key in kept})
    if kind == "truncated":
        raw = path.read_bytes()
        path.write_bytes(raw[:draw(st.integers(0, max(len(raw) - 1, 0)))])
    return path


@settings(max_examples=FUZZ_FACTOR * settings.default.max_examples,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(data=st.data())
def test_the_command_line_never_shows_a_traceback(data, tmp_path_factory, capsys):
    path = data.draw(data_files(tmp_path_factory.mktemp("fuzz") / "data.npz"))
    theorem = data.draw(st.sampled_from(sorted(theory.REGISTRY)))
    options = data.draw(st.lists(st.sampled_from([["--convex-only"], ["--restarts", "1"], ["--beta", "0.3"],
                                                  ["--loss", "cross-entropy"], ["--loss", "huber"],
                                                  ["--solver", "prox"], ["--gates", "2"]]),
                                 max_size=3).map(lambda groups: [item for group in groups for item in group]))
    if "--restarts" not in options:
        options.append("--convex-only")  # restarts are exercised on a third of the draws; the rest stay fast
    capsys.readouterr()
    code = main(["verify", theorem, "--data", str(path), *options])
    err = capsys.readouterr().err.strip().splitlines()
    assert code in (0, 1, 2)
    if code == 2:
        errors = [line for line in err if line.startswith("proofs-check: error: ")]
        assert len(errors) == 1 and err[-1] == errors[0], err


@settings(max_examples=FUZZ_FACTOR * settings.default.max_examples,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(data=st.data())
def test_the_loader_and_the_data_check_raise_only_input_errors(data, tmp_path_factory):
    path = data.draw(data_files(tmp_path_factory.mktemp("fuzz") / "data.npz"))
    loss = LOSSES[data.draw(st.sampled_from(sorted(LOSSES)))]
    try:
        arrays_ = load_npz(path)
        X, Y = check_data(arrays_["X"], arrays_["Y"], loss)
    except InputError as error:
        assert "\n" not in str(error)
        return
    assert np.all(np.isfinite(X)) and np.all(np.isfinite(Y)) and X.dtype == Y.dtype == np.float64


@pytest.mark.parametrize("argv", [["run", "--no-report", "--seed", "x"], ["verify", "fno", "--data", "."],
                                  ["path", "fno", "--data", "/nonexistent.npz"], ["compare", "--beta", "-1"],
                                  ["cluster", "--beta", "0"], ["experiment", "grokking", "--n-train", "3"]])
def test_bad_options_of_every_subcommand_are_one_line(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("proofs-check: error: "), err
