"""Explicit regularisers R(g_θ(z)) added to DIP's data term, chosen by name.

A regulariser is an object with ``penalty(x, step) -> Tensor | None``; it may add ``after_step(step, forward)``
(e.g. ADMM's splitting-variable updates) and ``output()`` (an image that replaces the fit's result).
A new regulariser is one file and one line in ``REGULARIZERS``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import InputError
from .tv import TotalVariation, dip_tv, total_variation, two_stage_tv


def _dip_l0(**kwargs: Any) -> Any:
    from .admm import dip_l0  # numba compiles on first use: import only when asked for

    return dip_l0(**kwargs)


REGULARIZERS: dict[str, Callable[..., Any]] = {
    "tv": dip_tv,
    "two-stage-tv": two_stage_tv,
    "l0": _dip_l0,
}


def build_regularizer(name: str, **kwargs: Any) -> Any:
    """Instantiate the regulariser registered as ``name`` (``tv``, ``two-stage-tv``, ``l0``)."""
    try:
        factory = REGULARIZERS[name]
    except KeyError:
        raise InputError(f"unknown regulariser {name!r}; choose one of {', '.join(REGULARIZERS)}") from None
    try:
        return factory(**kwargs)
    except TypeError as exc:
        raise InputError(f"regulariser {name!r}: {exc}") from None


__all__ = ["REGULARIZERS", "build_regularizer", "TotalVariation", "total_variation", "dip_tv", "two_stage_tv"]
