"""Explicit regularisers R(g_θ(z)) added to DIP's data term, chosen by name from
:data:`deepprior.registry.REGULARIZERS` (``tv``, ``two-stage-tv``, ``l0``).

A new regulariser is one module in this folder with ``@REGULARIZERS.register("name")`` on a :class:`Regularizer`
subclass. The classical ℓ0 solvers are in :mod:`deepprior.regularizers.l0` (numba; loaded on first use).
"""

from __future__ import annotations

from typing import Any

from ..errors import InputError
from ..registry import REGULARIZERS
from .base import BuildContext, Regularizer
from .tv import TotalVariation, TwoStageTV, total_variation


def build_regularizer(name: str, context: BuildContext, **options: Any) -> Regularizer:
    """Instantiate the regulariser registered as ``name`` for the run described by ``context``.

    Raises
    ------
    InputError
        Unknown name, or an option it does not take or accept.
    """
    cls = REGULARIZERS.get(name)
    try:
        return cls.build(context, **options)
    except TypeError as exc:
        raise InputError(f"regulariser {name!r}: {exc}") from None


def __getattr__(name: str) -> Any:
    if name == "L0ADMM":  # keeps numba-free imports light: admm imports the solvers only when it runs
        from .admm import L0ADMM

        return L0ADMM
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
