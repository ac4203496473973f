"""argparse ``type=`` converters shared by the command lines: each rejects nonsense with one clear message."""

from __future__ import annotations

import argparse
import math


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


def scale_factor(text: str) -> int:
    """An integer scale >= 2 (``4`` and ``4.0`` are accepted, ``1.5`` is not)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"the scale must be an integer >= 2, got {text!r}") from None
    if not math.isfinite(value) or value != int(value) or value < 2:
        raise argparse.ArgumentTypeError(f"the scale must be an integer >= 2, got {text}")
    return int(value)
