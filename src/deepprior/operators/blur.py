"""A = convolution with a known point spread function: deblurring."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ..errors import InputError
from ..registry import OPERATORS
from .base import Operator


@OPERATORS.register("blur")
class Blur(Operator):
    r"""A = k ∗ x: each channel convolved with the PSF k, the image mirrored at its borders.

    :math:`(Ax)(i, j) = \sum_{u,v} k(u, v)\, x(i - u + c_h, j - v + c_w)` with :math:`(c_h, c_w)` = ((h − 1) // 2,
    (w − 1) // 2) the PSF's centre; x is extended beyond its borders by reflection (``torch`` "reflect",
    scipy's "mirror"), which a photograph's blur, mixing in the scene outside the frame, resembles more than
    zeros or a periodic image do. The observation has the image's size.

    Parameters
    ----------
    psf
        The PSF as an array (h, w) or (h, w, C), an image of it, or a spec ``"gaussian:SIGMA"`` / ``"disk:RADIUS"``;
        checked and normalised by :func:`deepprior.psf.as_psf` (each channel sums to 1).
    channels
        The image's channels, which a PSF with more than one must match (None: 1 or 3).
    """

    kernel: torch.Tensor

    def __init__(self, psf: Any, channels: int | None = None) -> None:
        super().__init__()
        from ..psf import as_psf

        kernel = torch.as_tensor(as_psf(psf, channels))
        # conv2d correlates: the flipped PSF makes it the convolution above
        self.register_buffer("kernel", kernel.flip(-2, -1)[:, None].float())
        height, width = kernel.shape[-2:]
        self.padding = (width // 2, (width - 1) // 2, height // 2, (height - 1) // 2)

    @property
    def reach(self) -> int:  # type: ignore[override]
        """The PSF's larger half-side."""
        return max(self.padding)

    @property
    def size(self) -> tuple[int, int]:
        """The PSF's (height, width)."""
        return self.kernel.shape[-2], self.kernel.shape[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        if self.kernel.shape[0] not in (1, channels):
            raise InputError(f"the PSF has {self.kernel.shape[0]} channels but the image {channels}")
        if min(x.shape[-2:]) <= self.reach:
            raise InputError(
                f"the image ({x.shape[-1]}×{x.shape[-2]}) must be larger than the PSF's reach of {self.reach} pixels"
            )
        weight = self.kernel.to(dtype=x.dtype).expand(channels, 1, -1, -1)
        return F.conv2d(F.pad(x, self.padding, mode="reflect"), weight, groups=channels)
