"""A = convolution with a known point spread function: deblurring."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ..errors import InputError
from ..registry import OPERATORS
from .base import Operator

#: A PSF with more taps than this is applied through FFTs (cost independent of its size) rather than as a
#: convolution (cost in proportion to its taps): where the two crossed, forward and backward on 2 CPU threads
#: (``python -m benchmarks.bench_blur``; benchmarks/results/blur_cpu.md).
FFT_TAPS = 100


@OPERATORS.register("blur")
class Blur(Operator):
    r"""A = k ∗ x: each channel convolved with the PSF k, the image mirrored at its borders.

    :math:`(Ax)(i, j) = \sum_{u,v} k(u, v)\, x(i - u + c_h, j - v + c_w)` with :math:`(c_h, c_w)` = ((h − 1) // 2,
    (w − 1) // 2) the PSF's centre; x is extended beyond its borders by reflection (``torch`` "reflect",
    scipy's "mirror"), which a photograph's blur, mixing in the scene outside the frame, resembles more than
    zeros or a periodic image do. The observation has the image's size.

    A PSF larger than :data:`FFT_TAPS` taps is applied as a product of Fourier transforms of the mirrored image
    (zero-padded to a fast length, so the circular wrap falls outside the part kept): the same A, in float32, at a
    cost that no longer grows with the PSF.

    Parameters
    ----------
    psf
        The PSF as an array (h, w) or (h, w, C), an image of it, or a spec ``"gaussian:SIGMA"`` / ``"disk:RADIUS"``;
        checked and normalised by :func:`deepprior.psf.as_psf` (each channel sums to 1).
    channels
        The image's channels, which a PSF with more than one must match (None: 1 or 3).
    fft
        Apply the PSF through FFTs (True) or as a convolution (False); None: FFTs when it has more than
        :data:`FFT_TAPS` taps.
    """

    kernel: torch.Tensor

    def __init__(self, psf: Any, channels: int | None = None, fft: bool | None = None) -> None:
        super().__init__()
        from ..psf import as_psf

        kernel = torch.as_tensor(as_psf(psf, channels))
        # conv2d correlates: the flipped PSF makes it the convolution above
        self.register_buffer("kernel", kernel.flip(-2, -1)[:, None].float())
        height, width = kernel.shape[-2:]
        self.padding = (width // 2, (width - 1) // 2, height // 2, (height - 1) // 2)
        self.fft = height * width > FFT_TAPS if fft is None else bool(fft)

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
        padded = F.pad(x, self.padding, mode="reflect")
        if self.fft:
            return self._through_fft(padded).to(x.dtype)
        weight = self.kernel.to(dtype=x.dtype).expand(channels, 1, -1, -1)
        return F.conv2d(padded, weight, groups=channels)

    def _through_fft(self, padded: torch.Tensor) -> torch.Tensor:
        """The padded image's valid part of its convolution with the PSF: the circular convolution of a size at
        least the padded image's, whose wrap-around reaches only the first h − 1 rows and w − 1 columns."""
        from scipy.fft import next_fast_len

        height, width = self.size
        rows, columns = padded.shape[-2:]
        size = (next_fast_len(rows, real=True), next_fast_len(columns, real=True))
        psf = self.kernel.flip(-2, -1)[:, 0].float()  # the buffer holds it flipped, for conv2d
        product = torch.fft.rfft2(padded.float(), s=size) * torch.fft.rfft2(psf, s=size)
        return torch.fft.irfft2(product, s=size)[..., height - 1 : rows, width - 1 : columns]
