"""Generators g_θ, chosen by name. A new generator is one file and one line in ``GENERATORS``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import InputError
from .base import Generator
from .decoder import DeepDecoder, deep_decoder
from .resnet import ResNet, resnet
from .skip import SkipNet, skip
from .unet import UNet, unet

GENERATORS: dict[str, Callable[..., Generator]] = {
    "skip": skip,
    "unet": unet,
    "resnet": resnet,
    "decoder": deep_decoder,
}


def build_generator(name: str, in_channels: int, out_channels: int, **kwargs: Any) -> Generator:
    """Instantiate the generator registered as ``name`` (see ``GENERATORS``)."""
    try:
        factory = GENERATORS[name]
    except KeyError:
        raise InputError(f"unknown generator {name!r}; choose one of {', '.join(sorted(GENERATORS))}") from None
    try:
        return factory(in_channels, out_channels, **kwargs)
    except TypeError as exc:  # an option the generator does not take
        raise InputError(f"generator {name!r}: {exc}") from None


__all__ = ["GENERATORS", "Generator", "build_generator", "SkipNet", "UNet", "ResNet", "DeepDecoder",
           "skip", "unet", "resnet", "deep_decoder"]
