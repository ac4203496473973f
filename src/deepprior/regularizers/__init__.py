"""Explicit regularisers R(g_θ(z)) added to DIP's data term, chosen by name from
:data:`deepprior.registry.REGULARIZERS` (``tv``, ``two-stage-tv``, ``l0``).

A new regulariser is one module in this folder with ``@REGULARIZERS.register("name")`` on a :class:`Regularizer`
subclass. The classical ℓ0 solvers are in :mod:`deepprior.regularizers.l0` (numba; loaded on first use).

Importing this package imports no torch: the classes below load on first access, so the classical solvers (and
the commands that run only them) start without it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..registry import REGULARIZERS, check_options

if TYPE_CHECKING:
    from .admm import L0ADMM
    from .base import BuildContext, Regularizer
    from .tv import TotalVariation, TwoStageTV, total_variation

#: Each lazily loaded name → its module.
_LAZY = {
    "BuildContext": ".base",
    "Regularizer": ".base",
    "TotalVariation": ".tv",
    "TwoStageTV": ".tv",
    "total_variation": ".tv",
    "L0ADMM": ".admm",  # admm imports the numba solvers only when it runs
}


def build_regularizer(name: str, context: BuildContext, **options: Any) -> Regularizer:
    """Instantiate the regulariser registered as ``name`` for the run described by ``context``.

    Raises
    ------
    InputError
        Unknown name, or an option it does not take or accept.
    """
    cls = REGULARIZERS.get(name)
    check_options(f"the regulariser {name!r}", options, cls.build, cls, given=("observation", "seed"))
    try:
        return cls.build(context, **options)
    except TypeError as exc:
        raise InputError(f"regulariser {name!r}: {exc}") from None


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "REGULARIZERS",
    "BuildContext",
    "Regularizer",
    "L0ADMM",
    "TotalVariation",
    "TwoStageTV",
    "build_regularizer",
    "total_variation",
]
