"""Reading a user's data file: an .npz archive (numpy.savez) holding at least X and Y, checked before it is opened.

Everything that can be wrong with the file itself becomes one InputError line: a missing path, a directory, a file
that is not a zip archive (numpy's .npz format), a truncated or corrupt archive, arrays of Python objects (they
would need pickle, which is never enabled), missing keys.  Extra keys are kept (theorem options such as gates ``H``);
the arrays' contents are checked where they are used (theory.data).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from theory.errors import InputError


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def load_npz(path: Path, required: tuple[str, ...] = ("X", "Y"), what: str = "data file") -> dict[str, np.ndarray]:
    """The arrays of the .npz file at ``path``, with the ``required`` keys present (InputError otherwise); ``what``
    names the file in the messages."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a directory, not an .npz {what}")
    if not path.is_file():
        raise InputError(f"{what} not found: {path}")
    if not zipfile.is_zipfile(path):
        raise InputError(f"{path} is not an .npz archive (write it with numpy.savez)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except ValueError as exc:
        if "pickle" in str(exc):
            raise InputError(f"{path} holds arrays of Python objects; only numeric arrays are read") from None
        raise InputError(f"cannot read {path} as .npz: {_one_line(exc)}") from None
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, RuntimeError) as exc:
        raise InputError(f"cannot read {path} as .npz: {_one_line(exc)}") from None
    missing = [key for key in required if key not in arrays]
    if missing:
        raise InputError(f"{path} has no array {' or '.join(missing)} (found: {', '.join(arrays) or 'none'})")
    return arrays
