"""A = diag(m): inpainting."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError
from ..registry import OPERATORS
from .base import Box, Operator


@OPERATORS.register("mask")
class Mask(Operator):
    """A = diag(m): keeps the known pixels (m = 1), zeroes the missing ones (m = 0).

    Parameters
    ----------
    mask
        Bool or {0, 1} array/tensor of shape (H, W) or (1|C, H, W); True marks a known pixel.
    """

    mask: torch.Tensor

    def __init__(self, mask: np.ndarray | torch.Tensor) -> None:
        super().__init__()
        m = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask).float()
        if m.ndim == 2:
            m = m[None]
        if m.ndim != 3:
            raise InputError(f"mask must be (H, W) or (C, H, W), got shape {tuple(m.shape)}")
        self.register_buffer("mask", m[None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != self.mask.shape[-2:]:
            raise InputError(f"mask is {tuple(self.mask.shape[-2:])} but the image is {tuple(x.shape[-2:])}")
        return x * self.mask

    def crop(self, box: Box) -> tuple[Mask, Box]:
        """The mask of the crop ``box`` = (top, left, height, width), and the same box of y."""
        top, left, height, width = box
        return Mask(self.mask[0, :, top : top + height, left : left + width]), box
