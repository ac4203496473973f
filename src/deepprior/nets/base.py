"""What every generator g_θ promises the fit loop, and the layers the DIP generators share."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import InputError


class Generator(nn.Module):
    """A network g_θ mapping an input tensor z to an image.

    The contract, checked for every registered generator by the test suite:

    - the constructor is ``cls(in_channels, out_channels, **options)``;
    - ``size_multiple``: the output height and width must be multiples of it (the fit pads the image up and crops
      back); ``min_size``: the smallest working height/width;
    - :meth:`input_shape`: the size of z for a given output size (override when z is not at the output size);
    - :meth:`width_options`: the options that set the network's width (``--channels`` on the command line).

    A new generator is one module in ``deepprior/nets/`` with ``@GENERATORS.register("name")`` on its class.
    """

    size_multiple: int = 1
    in_channels: int
    out_channels: int

    @classmethod
    def width_options(cls, width: int) -> dict[str, Any]:
        """Constructor options that give the network ``width`` feature channels (per scale)."""
        raise InputError(f"the {cls.__name__} generator has no width option")

    @property
    def min_size(self) -> int:
        """Smallest working height/width: BatchNorm in train mode needs more than one value per channel at the
        deepest scale, so at least two multiples."""
        return 2 * self.size_multiple

    def input_shape(self, height: int, width: int) -> tuple[int, int]:
        """Spatial size of z that produces an output of ``height`` × ``width``."""
        return height, width


def reflect_conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Sequential:
    """Convolution with reflection padding and a bias, as in the DIP code (zero padding darkens borders)."""
    pad = (kernel_size - 1) // 2
    layers: list[nn.Module] = []
    if pad > 0:
        layers.append(nn.ReflectionPad2d(pad))
    layers.append(nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, bias=True))
    return nn.Sequential(*layers)


def conv_bn_act(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Sequential:
    """reflect_conv → BatchNorm → LeakyReLU(0.2): the unit block of the DIP generators."""
    return nn.Sequential(
        reflect_conv(in_channels, out_channels, kernel_size, stride),
        nn.BatchNorm2d(out_channels),
        nn.LeakyReLU(0.2, inplace=True),
    )


def centre_crop(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Crop the centre ``height`` × ``width`` of an NCHW tensor (no-op when already that size)."""
    dh = (x.shape[-2] - height) // 2
    dw = (x.shape[-1] - width) // 2
    if dh == 0 and dw == 0 and x.shape[-2] == height and x.shape[-1] == width:
        return x
    return x[..., dh : dh + height, dw : dw + width]
