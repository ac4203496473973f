"""Exceptions that the command line turns into one clear line and a non-zero exit, and the package's warnings."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterable

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


class DeepPriorError(Exception):
    """Base class of every error that is the user's to fix (bad file, bad parameter, bad device)."""


class InputError(DeepPriorError, ValueError):
    """An input file, array or parameter cannot be used as given."""


class DeviceError(DeepPriorError, RuntimeError):
    """The requested compute device does not exist or ran out of memory."""


def did_you_mean(name: object, choices: Iterable[str]) -> str:
    """`` (did you mean X?)`` for the choice nearest to a name that is not one of them, else ``""``."""
    from difflib import get_close_matches

    near = get_close_matches(str(name), sorted(choices), n=1)
    return f" (did you mean {near[0]}?)" if near else ""


#: A warning raised where the user cannot see it (a worker process, a Ray node): its message and category, to be
#: raised again with :func:`warn` where the user can.
Warned = tuple[str, type[Warning]]


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """Warn at the first line outside this package on the way up the stack: the user's call, where Python shows
    the warning and its default filter counts it once, not a line of ours."""
    frame = sys._getframe(1)
    level = 2  # warnings.warn's count: 1 is this function, 2 its caller
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
