"""Atomic file creation and JSON reports.

Every output of the package (images, JSON reports, plots) is written through
:func:`atomic_write`: the data goes to a hidden temporary file in the output
folder, is flushed to disk, and is renamed onto the final name with
:func:`os.replace`, so that a crash or Ctrl-C never leaves a partial file and an
existing file is replaced only by a complete one.

==========================  ==================================================
Function                    Writes
==========================  ==================================================
:func:`atomic_write`        whatever ``writer(tmp_path)`` writes
:func:`write_json`          indented JSON; numpy scalars/arrays and paths
                            converted
==========================  ==================================================
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

__all__ = ["atomic_write", "check_writable", "json_default", "write_json"]


def _q(path: str | os.PathLike[str] | Path) -> str:
    """The path quoted as the user typed it, for error messages."""
    return f"'{os.fspath(path)}'"


def check_writable(path: str | os.PathLike[str]) -> None:
    """Check, before any work, that ``path`` can be created: its folder exists and accepts a new file.

    A hidden probe file is created in the folder and removed at once, so a read-only file system, a missing
    permission or a full disk is reported before a long fit rather than after it.

    Raises
    ------
    InputError
        The folder does not exist or is not a folder, ``path`` is a folder, or the probe cannot be written.
    """
    target = Path(path)
    parent = target.parent
    if not parent.is_dir():
        raise InputError(f"output folder {_q(parent)} does not exist")
    if target.is_dir():
        raise InputError(f"cannot write {_q(path)}: is a folder")
    probe = parent / f".{target.name}.{secrets.token_hex(4)}.probe"
    try:
        with open(probe, "xb") as handle:
            handle.write(b"\0" * 4096)  # a full disk refuses data, not always an empty file
            handle.flush()
            os.fsync(handle.fileno())
    except PermissionError:
        raise InputError(f"cannot write {_q(path)}: permission denied") from None
    except OSError as exc:
        raise InputError(f"cannot write {_q(path)}: {exc.strerror or exc}") from None
    finally:
        try:
            probe.unlink()
        except OSError:
            pass


def atomic_write(path: str | os.PathLike[str], writer: Callable[[Path], None]) -> Path:
    """Create ``path`` atomically.

    ``writer`` is called with a temporary path in the same folder (hidden name,
    same suffix as ``path``); once it returns, the data is flushed to disk and
    the temporary file is renamed onto ``path`` with :func:`os.replace`.  On any
    failure (including KeyboardInterrupt) the temporary file is removed, so no
    partial output is ever left behind and an existing ``path`` is untouched.

    Parameters
    ----------
    path : str or path-like
        Final file name.
    writer : callable
        ``writer(tmp_path)`` writes the whole file to ``tmp_path``.

    Returns
    -------
    Path
        ``path`` as a Path.

    Raises
    ------
    InputError
        If the output folder does not exist or is not a folder, ``path`` is a
        folder, or the file system refuses the write (``OSError`` from the
        writer, e.g. permission denied or disk full).  Other exceptions from
        ``writer`` propagate unchanged.
    """
    target = Path(path)
    parent = target.parent
    if not parent.exists():
        raise InputError(f"output folder {_q(parent)} does not exist")
    if not parent.is_dir():
        raise InputError(f"output folder {_q(parent)} is not a folder")
    if target.is_dir():
        raise InputError(f"cannot write {_q(path)}: is a folder")
    tmp: Path | None = None
    try:
        for _ in range(100):
            candidate = parent / f".{target.name}.{secrets.token_hex(4)}.tmp{target.suffix}"
            try:
                # created with the default permissions (umask), unlike mkstemp's 0600
                with open(candidate, "xb"):
                    pass
            except FileExistsError:
                continue
            tmp = candidate
            break
        if tmp is None:
            raise InputError(f"cannot write {_q(path)}: no free temporary file name")
        writer(tmp)
        try:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            pass  # fsync is best effort (some file systems do not support it)
        os.replace(tmp, target)
        tmp = None
    except InputError:
        raise
    except PermissionError:
        raise InputError(f"cannot write {_q(path)}: permission denied") from None
    except OSError as exc:
        raise InputError(f"cannot write {_q(path)}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            try:
                tmp.unlink()
            except OSError:
                pass
    return target


def json_default(obj: Any) -> Any:
    """Make a value that :mod:`json` cannot serialise serialisable (the ``default=`` hook).

    Parameters
    ----------
    obj : object
        A value :func:`json.dumps` does not know.

    Returns
    -------
    object
        ``obj.item()`` for numpy scalars, ``obj.tolist()`` for numpy arrays,
        ``os.fspath(obj)`` for paths, a sorted list for sets, ``str(obj)`` for anything else.
    """
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=str)
    return str(obj)


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON (``indent=2``, trailing newline), atomically.

    Parameters
    ----------
    path : str or path-like
        Output file.
    obj : object
        Anything :func:`json.dumps` accepts; paths become strings, numpy scalars
        and arrays plain numbers and lists, anything else unknown ``str(obj)``.

    Returns
    -------
    Path
        ``path`` as a Path.

    Raises
    ------
    InputError
        As :func:`atomic_write`.
    """
    text = json.dumps(obj, indent=2, default=json_default) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
