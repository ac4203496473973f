"""Generators g_θ, chosen by name from :data:`deepprior.registry.GENERATORS`.

A new generator is one module in this folder whose :class:`Generator` subclass carries
``@GENERATORS.register("name")``; the registry finds it without any list to edit.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

import torch

from ..errors import InputError
from ..registry import GENERATORS, check_options
from ..seeding import seed_for
from .base import Generator


def build_generator(
    name: str, in_channels: int, out_channels: int, *, seed: int = 0, width: int | None = None, **options: Any
) -> Generator:
    """Instantiate the generator registered as ``name`` with weights drawn from ``seed``.

    Parameters
    ----------
    name
        A name of :data:`deepprior.registry.GENERATORS` (``"skip"``, ``"unet"``, ``"resnet"``, ``"decoder"``...).
    in_channels, out_channels
        Channels of z and of the image.
    seed
        Seeds the initial weights (torch's global random state is left as it was).
    width
        Feature channels, through the generator's :meth:`Generator.width_options` (overrides ``options``).
    **options
        The generator's own constructor options.

    Returns
    -------
    Generator
        A freshly initialised network on the CPU.

    Raises
    ------
    InputError
        Unknown name, an option the generator does not take, or a bad value (channels or a width below 1).

    Examples
    --------
    >>> net = build_generator("skip", 32, 3, width=16)
    >>> net.size_multiple
    32
    """
    cls = GENERATORS.get(name)
    for what, value in (("in_channels", in_channels), ("out_channels", out_channels), ("width", width)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, Integral) or value < 1):
            raise InputError(f"generator {name!r}: {what} must be a whole number >= 1, got {value!r}")
    check_options(f"the generator {name!r}", options, cls, given=("in_channels", "out_channels"))
    if width is not None:
        options = {**options, **cls.width_options(int(width))}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed_for(seed, "weights"))
        try:
            return cls(in_channels, out_channels, **options)
        except TypeError as exc:  # an option the generator does not take
            raise InputError(f"generator {name!r}: {exc}") from None


__all__ = ["GENERATORS", "Generator", "build_generator"]
