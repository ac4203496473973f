"""A = Lanczos-2 antialiasing then subsampling: the super-resolution forward model of DIP."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from ..registry import OPERATORS
from .base import Operator


def lanczos2_kernel(factor: int) -> np.ndarray:
    """1-D Lanczos-2 taps of DIP's downsampler: 4·factor taps, phase 0.5, normalised to sum 1.

    Tap i = 1..4f sits at distance d = |i + 0.5 − (4f + 2)/2| / f from the centre and weighs
    2·sin(πd)·sin(πd/2) / (π²d²) (1 at d = 0).
    """
    if int(factor) != factor or factor < 2:
        raise InputError(f"the scale factor must be an integer >= 2, got {factor}")
    factor = int(factor)
    size = 4 * factor
    centre = (size + 2) / 2  # DIP builds a (4f+1)-wide kernel and drops one tap for phase 0.5
    taps = np.empty(size)
    for i in range(1, size + 1):
        d = abs(i + 0.5 - centre) / factor
        taps[i - 1] = 1.0 if d == 0 else 2 * math.sin(math.pi * d) * math.sin(math.pi * d / 2) / (math.pi**2 * d**2)
    return taps / taps.sum()


@OPERATORS.register("lanczos")
class LanczosDownsampler(Operator):
    """A = Lanczos-2 antialiasing filter then subsampling by ``factor`` (the SR forward model of DIP).

    Separable, applied depth-wise with stride ``factor`` after replication padding of (4f − f)/2 on each side, so
    an x of (H, W) maps to (H / f, W / f). H and W must be multiples of ``factor``.
    """

    kernel: torch.Tensor

    def __init__(self, factor: int) -> None:
        super().__init__()
        taps = torch.as_tensor(lanczos2_kernel(factor), dtype=torch.float32)
        self.factor = int(factor)
        self.pad = (taps.numel() - self.factor) // 2
        self.register_buffer("kernel", torch.outer(taps, taps)[None, None])

    @property
    def scale(self) -> int:  # type: ignore[override]
        return self.factor

    @property
    def reach(self) -> int:  # type: ignore[override]
        return self.pad

    def observation_shape(self, height: int, width: int) -> tuple[int, int]:
        return height // self.factor, width // self.factor

    def image_shape(self, height: int, width: int) -> tuple[int, int]:
        return height * self.factor, width * self.factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] % self.factor or x.shape[-1] % self.factor:
            raise InputError(f"image size {tuple(x.shape[-2:])} is not a multiple of the factor {self.factor}")
        channels = x.shape[1]
        x = F.pad(x, (self.pad,) * 4, mode="replicate")
        weight = self.kernel.to(dtype=x.dtype).expand(channels, 1, -1, -1)
        return F.conv2d(x, weight, stride=self.factor, groups=channels)


def lanczos_downsampler(factor: int) -> LanczosDownsampler:
    """The SR forward model for an integer ``factor`` >= 2."""
    return LanczosDownsampler(factor)
