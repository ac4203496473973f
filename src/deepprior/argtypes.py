"""argparse ``type=`` converters and registry ``choices`` shared by the command lines: each rejects nonsense with one
clear message."""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .registry import Registry


def whole_number(minimum: int):
    """A converter for integers >= ``minimum``."""

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a number >= {minimum}, got {value}")
        return value

    return convert


positive_int = whole_number(1)
non_negative_int = whole_number(0)


def non_negative(text: str) -> float:
    """A finite float >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value


def positive(text: str) -> float:
    """A finite float > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


_DURATION_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def duration(text: str) -> float:
    """A positive duration in seconds: ``90``, ``90s``, ``5m`` (or ``5min``), ``1.5h``."""
    number = text.strip().lower()
    unit = next(u for u in sorted(_DURATION_UNITS, key=len, reverse=True) if number.endswith(u))
    try:
        value = float(number[: len(number) - len(unit)]) * _DURATION_UNITS[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a duration such as 90, 90s, 5m or 1.5h, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a duration > 0, got {text}")
    return value


def tile_side(text: str) -> int | str | None:
    """``auto``, ``none`` (None) or a tile side in pixels (its minimum is the tiling's to check)."""
    if text.lower() in ("auto", "none"):
        return None if text.lower() == "none" else "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a tile side in pixels, auto or none, got {text!r}") from None


def scale_factor(text: str) -> int:
    """An integer scale >= 2 (``4`` and ``4.0`` are accepted, ``1.5`` is not)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"the scale must be an integer >= 2, got {text!r}") from None
    if not math.isfinite(value) or value != int(value) or value < 2:
        raise argparse.ArgumentTypeError(f"the scale must be an integer >= 2, got {text}")
    return int(value)


def numbers(text: str) -> tuple[float, ...]:
    """Finite floats separated by commas (``0.004,1e-5``)."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None
    if not all(math.isfinite(value) for value in values):
        raise argparse.ArgumentTypeError(f"expected finite numbers, got {text!r}")
    return values


class RegistryChoices:
    """A registry's names as an option's ``choices``: a value is checked by the registry (importing its modules,
    and with most of them torch, which a classical method's run never needs), the list (``--help``, an invalid
    value's message) is read from their source (:meth:`~deepprior.registry.Registry.declared_names`), which
    imports nothing. ``extra`` names come first (e.g. "none")."""

    def __init__(self, registry: Registry, *extra: str) -> None:
        self.registry = registry
        self.extra = extra

    def __contains__(self, name: object) -> bool:
        return name in self.extra or name in self.registry

    def __iter__(self) -> Iterator[str]:
        return iter([*self.extra, *self.registry.declared_names()])
