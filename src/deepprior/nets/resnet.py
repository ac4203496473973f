"""A residual generator without downsampling (the paper's ablation: no multi-scale structure)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import InputError
from ..registry import GENERATORS
from .base import Generator, conv_bn_act, reflect_conv


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv_bn_act(channels, channels, 3), reflect_conv(channels, channels, 3), nn.BatchNorm2d(channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@GENERATORS.register("resnet")
class ResNet(Generator):
    """conv → ``blocks`` residual blocks at full resolution → 1×1 head.

    Parameters
    ----------
    channels
        Feature channels of every block.
    blocks
        Number of residual blocks.
    """

    def __init__(
        self, in_channels: int = 32, out_channels: int = 3, channels: int = 64, blocks: int = 8, sigmoid: bool = True
    ) -> None:
        super().__init__()
        if channels < 1 or blocks < 1:
            raise InputError(f"resnet needs positive channels and blocks, got {channels} and {blocks}")
        self.in_channels, self.out_channels = in_channels, out_channels
        layers: list[nn.Module] = [conv_bn_act(in_channels, channels, 3)]
        layers += [_ResidualBlock(channels) for _ in range(blocks)]
        layers.append(reflect_conv(channels, out_channels, 1))
        if sigmoid:
            layers.append(nn.Sigmoid())
        self.body = nn.Sequential(*layers)

    @classmethod
    def width_options(cls, width: int) -> dict[str, Any]:
        return {"channels": width}

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z)
