"""The Deep Decoder (Heckel & Hand 2019): 1×1 convolutions and upsampling only, z at low resolution."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import InputError
from ..registry import GENERATORS
from .base import Generator


@GENERATORS.register("decoder")
class DeepDecoder(Generator):
    """``layers`` × (1×1 conv → upsample ×2 → ReLU → BatchNorm), then 1×1 conv → sigmoid.

    z has ``in_channels`` channels at 1/2^layers of the output size: the network is under-parameterised, so it
    needs no early stopping.
    """

    def __init__(
        self,
        in_channels: int = 64,
        out_channels: int = 3,
        channels: int = 64,
        layers: int = 5,
        upsample_mode: str = "bilinear",
        sigmoid: bool = True,
    ) -> None:
        super().__init__()
        if channels < 1 or layers < 1:
            raise InputError(f"decoder needs positive channels and layers, got {channels} and {layers}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.size_multiple = 2**layers
        self.layers = layers
        align = False if upsample_mode == "bilinear" else None
        blocks: list[nn.Module] = []
        previous = in_channels
        for _ in range(layers):
            blocks += [
                nn.Conv2d(previous, channels, 1),
                nn.Upsample(scale_factor=2, mode=upsample_mode, align_corners=align),
                nn.ReLU(inplace=True),
                nn.BatchNorm2d(channels),
            ]
            previous = channels
        blocks.append(nn.Conv2d(channels, out_channels, 1))
        if sigmoid:
            blocks.append(nn.Sigmoid())
        self.body = nn.Sequential(*blocks)

    def input_shape(self, height: int, width: int) -> tuple[int, int]:
        return height // 2**self.layers, width // 2**self.layers

    @classmethod
    def width_options(cls, width: int) -> dict[str, Any]:
        return {"channels": width}

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z)
