"""The network input z of Deep Image Prior."""

from __future__ import annotations

from typing import Literal

import torch

from .errors import InputError
from .seeding import torch_generator

INPUT_KINDS = ("noise", "normal", "meshgrid", "image")


def make_input(
    kind: Literal["noise", "normal", "meshgrid"],
    channels: int,
    height: int,
    width: int,
    *,
    seed: int = 0,
    scale: float = 0.1,
) -> torch.Tensor:
    """The fixed network input z, (1, channels, height, width), drawn from the run's input stream.

    Parameters
    ----------
    kind
        ``"noise"``: U[0, 1)·scale (DIP's default); ``"normal"``: N(0, 1)·scale; ``"meshgrid"``: two channels
        holding the x and y coordinates in [0, 1] (DIP's large-hole inpainting). (``"image"`` inputs, as in
        flash/no-flash, are the image itself and are not made here.)
    channels, height, width
        Shape of z.
    seed
        The run's seed (see :mod:`deepprior.seeding`).
    scale
        Amplitude of the noise inputs (0.1 in the paper).

    Returns
    -------
    torch.Tensor
        float32 on the CPU.

    Raises
    ------
    InputError
        Unknown kind, a size below 1, or a meshgrid of other than 2 channels.

    Examples
    --------
    >>> make_input("meshgrid", 2, 3, 3)[0, 0]
    tensor([[0.0000, 0.5000, 1.0000],
            [0.0000, 0.5000, 1.0000],
            [0.0000, 0.5000, 1.0000]])
    """
    if min(channels, height, width) < 1:
        raise InputError(f"z must have at least 1 channel, row and column, got {(channels, height, width)}")
    generator = torch_generator(seed, "input")
    if kind == "noise":
        return torch.rand((1, channels, height, width), generator=generator) * scale
    if kind == "normal":
        return torch.randn((1, channels, height, width), generator=generator) * scale
    if kind == "meshgrid":
        if channels != 2:
            raise InputError(f"a meshgrid input has 2 channels, not {channels}")
        ys = torch.linspace(0, 1, height).view(height, 1).expand(height, width)
        xs = torch.linspace(0, 1, width).view(1, width).expand(height, width)
        return torch.stack([xs, ys])[None].clone()
    raise InputError(f"unknown input kind {kind!r}; choose noise, normal or meshgrid")


__all__ = ["INPUT_KINDS", "make_input"]
