"""A = I: denoising, JPEG deblocking, flash/no-flash, smoothing."""

from __future__ import annotations

import torch

from ..registry import OPERATORS
from .base import Operator


@OPERATORS.register("identity")
class Identity(Operator):
    """A = I: the observation is the image itself."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x
