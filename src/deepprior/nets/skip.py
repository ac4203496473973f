"""The "skip" encoder-decoder hourglass of Deep Image Prior (Ulyanov et al. 2018, supplementary Fig. 1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..errors import InputError
from ..registry import GENERATORS
from .base import Generator, centre_crop, conv_bn_act, reflect_conv


class _Level(nn.Module):
    """One scale: an optional 1×1-ish skip branch beside a strided-down, deeper, upsampled branch."""

    def __init__(
        self,
        in_channels: int,
        down: int,
        up: int,
        skip: int,
        deeper: nn.Module | None,
        deeper_channels: int,
        kernel_down: int,
        kernel_up: int,
        kernel_skip: int,
        upsample_mode: str,
        need_1x1_up: bool,
    ) -> None:
        super().__init__()
        self.skip = conv_bn_act(in_channels, skip, kernel_skip) if skip > 0 else None
        self.down = nn.Sequential(
            conv_bn_act(in_channels, down, kernel_down, stride=2),
            conv_bn_act(down, down, kernel_down),
        )
        self.deeper = deeper
        align = False if upsample_mode in ("bilinear", "bicubic") else None
        self.upsample = nn.Upsample(scale_factor=2, mode=upsample_mode, align_corners=align)
        merged = skip + deeper_channels
        up_layers: list[nn.Module] = [nn.BatchNorm2d(merged), conv_bn_act(merged, up, kernel_up)]
        if need_1x1_up:
            up_layers.append(conv_bn_act(up, up, 1))
        self.up = nn.Sequential(*up_layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        deep = self.down(x)
        if self.deeper is not None:
            deep = self.deeper(deep)
        deep = self.upsample(deep)
        if self.skip is None:
            return self.up(deep)
        shortcut = self.skip(x)
        # Odd sizes make the two branches differ by a pixel: crop both to the smaller, centred.
        h = min(shortcut.shape[-2], deep.shape[-2])
        w = min(shortcut.shape[-1], deep.shape[-1])
        merged = torch.cat([centre_crop(shortcut, h, w), centre_crop(deep, h, w)], dim=1)
        return self.up(merged)


def _per_scale(value: int | Sequence[int], scales: int, name: str, minimum: int = 1) -> list[int]:
    values = [int(value)] * scales if isinstance(value, int) else [int(v) for v in value]
    if len(values) != scales:
        raise InputError(f"{name} has {len(values)} entries but the network has {scales} scales")
    if any(v < minimum for v in values):
        raise InputError(f"{name} must be at least {minimum} at every scale, got {values}")
    return values


@GENERATORS.register("skip")
class SkipNet(Generator):
    """DIP's hourglass with additive skip branches.

    Parameters
    ----------
    in_channels, out_channels
        Channels of z and of the image.
    channels_down, channels_up, channels_skip
        d[i], u[i], s[i] per scale (an int repeats over ``scales``); s[i] = 0 drops that skip branch.
    kernel_down, kernel_up, kernel_skip
        Filter sizes kd, ku, ks (3, 3, 1 in the paper).
    upsample_mode
        ``"bilinear"`` (denoising, SR) or ``"nearest"`` (inpainting).
    need_1x1_up
        Append the 1×1 conv after each up block (dropped by the paper's region-inpainting net).
    sigmoid
        Squash the head to [0, 1].
    """

    def __init__(
        self,
        in_channels: int = 32,
        out_channels: int = 3,
        channels_down: int | Sequence[int] = 128,
        channels_up: int | Sequence[int] = 128,
        channels_skip: int | Sequence[int] = 4,
        scales: int | None = None,
        kernel_down: int = 3,
        kernel_up: int = 3,
        kernel_skip: int = 1,
        upsample_mode: str = "bilinear",
        need_1x1_up: bool = True,
        sigmoid: bool = True,
    ) -> None:
        super().__init__()
        if scales is None:
            lengths = [len(c) for c in (channels_down, channels_up, channels_skip) if not isinstance(c, int)]
            scales = lengths[0] if lengths else 5
        if scales < 1:
            raise InputError(f"scales must be at least 1, got {scales}")
        if upsample_mode not in ("bilinear", "nearest", "bicubic"):
            raise InputError(f"upsample_mode must be bilinear, nearest or bicubic, got {upsample_mode!r}")
        down = _per_scale(channels_down, scales, "channels_down")
        up = _per_scale(channels_up, scales, "channels_up")
        skip = _per_scale(channels_skip, scales, "channels_skip", minimum=0)  # 0: no skip branch there
        self.in_channels, self.out_channels = in_channels, out_channels
        self.size_multiple = 2**scales
        # The deepest maps must be larger than the reflection padding of the kd×kd convolutions.
        self._min_size = self.size_multiple * max(2, kernel_down // 2 + 1)

        # Build from the deepest scale outwards so each level owns the next one.
        deeper: nn.Module | None = None
        deeper_channels = 0
        for i in reversed(range(scales)):
            c_in = in_channels if i == 0 else down[i - 1]
            k = up[i + 1] if i + 1 < scales else down[i]
            deeper = _Level(
                c_in,
                down[i],
                up[i],
                skip[i],
                deeper,
                k,
                kernel_down,
                kernel_up,
                kernel_skip,
                upsample_mode,
                need_1x1_up,
            )
            deeper_channels = up[i]
        assert deeper is not None
        head: list[nn.Module] = [reflect_conv(deeper_channels, out_channels, 1)]
        if sigmoid:
            head.append(nn.Sigmoid())
        self.body = deeper
        self.head = nn.Sequential(*head)

    @classmethod
    def width_options(cls, width: int) -> dict[str, Any]:
        return {"channels_down": width, "channels_up": width}

    @property
    def min_size(self) -> int:
        return self._min_size

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(z))
