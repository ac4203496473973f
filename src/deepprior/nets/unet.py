"""A U-Net generator (the paper's ablation: concatenating skip connections at every scale)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..errors import InputError
from ..registry import GENERATORS
from .base import Generator, conv_bn_act, reflect_conv


@GENERATORS.register("unet")
class UNet(Generator):
    """Encoder-decoder with a double conv block per scale and concatenated encoder features.

    Parameters
    ----------
    channels
        Feature channels per scale, shallow to deep; the network has ``len(channels) - 1`` downsamplings.
    upsample_mode
        Interpolation of the decoder (``"bilinear"`` or ``"nearest"``).
    """

    def __init__(
        self,
        in_channels: int = 32,
        out_channels: int = 3,
        channels: Sequence[int] = (32, 64, 128, 256, 512),
        upsample_mode: str = "bilinear",
        sigmoid: bool = True,
    ) -> None:
        super().__init__()
        channels = [int(c) for c in channels]
        if len(channels) < 2 or min(channels) < 1:
            raise InputError(f"unet needs at least two positive channel counts, got {channels}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.size_multiple = 2 ** (len(channels) - 1)
        self.encoders = nn.ModuleList()
        previous = in_channels
        for i, c in enumerate(channels):
            stride = 1 if i == 0 else 2
            self.encoders.append(nn.Sequential(conv_bn_act(previous, c, 3, stride), conv_bn_act(c, c, 3)))
            previous = c
        align = False if upsample_mode == "bilinear" else None
        self.upsample = nn.Upsample(scale_factor=2, mode=upsample_mode, align_corners=align)
        self.decoders = nn.ModuleList()
        for c_skip, c_deep in zip(reversed(channels[:-1]), reversed(channels[1:])):
            self.decoders.append(nn.Sequential(conv_bn_act(c_skip + c_deep, c_skip, 3), conv_bn_act(c_skip, c_skip, 3)))
        head: list[nn.Module] = [reflect_conv(channels[0], out_channels, 1)]
        if sigmoid:
            head.append(nn.Sigmoid())
        self.head = nn.Sequential(*head)

    @classmethod
    def width_options(cls, width: int) -> dict[str, Any]:
        return {"channels": [width * 2**i for i in range(5)]}

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        features = []
        x = z
        for encoder in self.encoders:
            x = encoder(x)
            features.append(x)
        x = features.pop()
        for decoder in self.decoders:
            x = decoder(torch.cat([features.pop(), self.upsample(x)], dim=1))
        return self.head(x)
