"""Reading masks of known pixels (inpainting, region-restricted metrics).

A mask is any image file :func:`deepprior.io.read_image` reads; the thresholds
are applied to the stored samples, per channel, after the EXIF orientation:

=========================  =============================================
Stored samples             Known pixel
=========================  =============================================
1-bit / boolean            True
integers, max <= 1         value > 0 (0/1 masks)
other integers             value >= half the type's range (>= 128 for
                           8-bit, >= 32768 for 16-bit)
floats                     value >= 0.5
=========================  =============================================

A colour mask marks a pixel known only where all its colour channels do; an
alpha channel in the mask file is ignored.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ..errors import InputError
from .files import _q
from .images import _read_raw

__all__ = ["read_mask"]


def read_mask(path: str | os.PathLike[str], shape: Sequence[int]) -> np.ndarray:
    """Read a mask of known pixels.

    Parameters
    ----------
    path : str or path-like
        Any image file :func:`~deepprior.io.read_image` accepts.
    shape : sequence of int
        Shape of the image the mask belongs to; only ``shape[:2]`` (H, W) is used.

    Returns
    -------
    np.ndarray
        ``bool`` array ``(H, W)``; True marks a KNOWN (kept) pixel, False a
        missing one that the restoration should fill in.

    Raises
    ------
    InputError
        If the file cannot be read (see :func:`~deepprior.io.read_image`) or its
        size differs from ``shape``.

    Notes
    -----
    Thresholds, per channel, on the stored values (EXIF orientation applied):

    * 1-bit / boolean: True is known.
    * integer samples whose maximum in the file is <= 1 (0/1 masks): known = value > 0.
    * other integer samples: known = value >= half the type's range, i.e.
      >= 128 for 8-bit and >= 32768 for 16-bit (0/255 and 0/65535 masks).
    * float samples: known = value >= 0.5.

    A colour mask marks a pixel known only if all its colour channels do.
    An alpha channel in the mask file is ignored.
    """
    raw, _ = _read_raw(path)
    a = raw.data
    if a.dtype == np.bool_:
        known = a
    elif np.issubdtype(a.dtype, np.integer):
        if int(a.max()) <= 1:
            known = a > 0
        else:
            known = a >= (int(np.iinfo(a.dtype).max) + 1) // 2
    else:
        known = a >= 0.5
    known = np.all(known, axis=2)
    h, w = int(shape[0]), int(shape[1])
    if known.shape != (h, w):
        raise InputError(
            f"mask {_q(path)} is {known.shape[1]}×{known.shape[0]} pixels but the image is {w}×{h} (width×height)"
        )
    return np.ascontiguousarray(known)
