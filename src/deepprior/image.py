"""The project's one image type, :class:`Image`, and its one boundary convertor, :func:`as_image`.

Every public function that takes an image from outside the package (an array
from the caller, samples decoded from a file) passes it through
:func:`as_image`, which checks it and scales it to float32 in ``[0, 1]``:

==================  ================================  =========
Input dtype         Conversion                        bit_depth
==================  ================================  =========
bool                False -> 0, True -> 1             8
uint8, int8         divided by the dtype's maximum    8
wider integers      divided by the dtype's maximum    16
floating point      cast to float32, clipped          32
==================  ================================  =========

Integer values are clipped to ``[0, 1]`` after scaling too (negative values of
signed types become 0).  Two channels are gray + alpha and four RGBA: the last
channel is split off as :attr:`Image.alpha`.

This module needs numpy only (no torch, scipy or scikit-image), so that
reading and writing files stays light.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError

__all__ = ["Image", "ImageLike", "as_image"]


@dataclass
class Image:
    """An image as floating point pixels in ``[0, 1]`` plus an optional alpha channel.

    Attributes
    ----------
    pixels : np.ndarray
        ``float32`` array of shape ``(H, W, C)`` with ``C`` 1 (gray) or 3 (RGB),
        values in ``[0, 1]``.
    alpha : np.ndarray or None
        ``float32`` array of shape ``(H, W)`` in ``[0, 1]``, or ``None`` when there
        is no alpha channel.  It is kept apart so that restoration never touches
        it; :func:`deepprior.io.write_image` writes it back.
    bit_depth : int
        Bits per sample of the source: 8, 16, or 32 (floating point).
        :func:`deepprior.io.write_image` uses it to keep a 16-bit input 16-bit.
    path : Path or None
        The file the image was read from.
    value_range : (float, float) or None
        For floating point files whose samples leave ``[0, 1]`` (scientific
        TIFF): the original (min, max), mapped linearly onto ``[0, 1]`` on read
        and back on a floating point write, so nothing is clipped.
    missing : np.ndarray or None
        ``bool`` ``(H, W)``, True where the file has no value (NaN or blank
        pixels of a FITS image); the restoration fits the other pixels only
        and fills these in.
    icc_profile : bytes or None
        The file's embedded ICC colour profile (Display P3, Adobe RGB, a
        camera's), which says what colours the samples mean: the restoration
        works on the samples as they are, and :func:`deepprior.io.write_image`
        embeds the profile in the output, so that colour-managed viewers show
        it in the input's colours. None: no profile (sRGB is assumed).
    exif : bytes or None
        The file's EXIF metadata that describes the photograph (camera, lens,
        exposure, date, artist, copyright, GPS), an EXIF block without its
        orientation (applied on read), maker note or thumbnail;
        :func:`deepprior.io.write_image` writes it back with the output's
        size. None: the file had none.
    """

    pixels: np.ndarray
    alpha: np.ndarray | None
    bit_depth: int
    path: Path | None = None
    value_range: tuple[float, float] | None = None
    missing: np.ndarray | None = None
    icc_profile: bytes | None = None
    exif: bytes | None = None

    @property
    def height(self) -> int:
        """Number of rows."""
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        """Number of columns."""
        return int(self.pixels.shape[1])

    @property
    def channels(self) -> int:
        """Number of colour channels (1 or 3), alpha not counted."""
        return int(self.pixels.shape[2])

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)``."""
        return self.height, self.width

    @property
    def gray(self) -> bool:
        """True for a single-channel image."""
        return self.channels == 1

    @property
    def has_alpha(self) -> bool:
        """True when there is an alpha channel."""
        return self.alpha is not None

    def with_pixels(self, pixels: Any) -> Image:
        """A new image with other pixels and the same alpha, bit depth, path, colour profile and EXIF metadata.

        Parameters
        ----------
        pixels : array-like
            Float ``(H, W)`` or ``(H, W, C)`` pixels in ``[0, 1]`` (for example
            the restored colour channels); ``(H, W)`` becomes ``(H, W, 1)``.
            They are stored as float32; nothing is clipped or rescaled.

        Returns
        -------
        Image
            The pixels with this image's other attributes.

        Raises
        ------
        InputError
            If ``pixels`` is not ``(H, W)`` or ``(H, W, C)`` with ``C`` 1 or 3, or
            its ``(H, W)`` differs from the alpha channel's.

        Examples
        --------
        >>> img = as_image(np.zeros((2, 3), np.uint8))
        >>> img.with_pixels(np.ones((2, 3))).pixels.shape
        (2, 3, 1)
        """
        px = np.asarray(pixels, dtype=np.float32)
        if px.ndim == 2:
            px = px[:, :, None]
        if px.ndim != 3 or px.shape[2] not in (1, 3):
            raise InputError(f"pixels must be (H, W) or (H, W, C) with C 1 or 3, got shape {px.shape}")
        if self.alpha is not None and px.shape[:2] != self.alpha.shape:
            raise InputError(f"pixels are {px.shape[:2]} but the alpha channel is {self.alpha.shape}")
        return Image(
            pixels=px,
            alpha=self.alpha,
            bit_depth=self.bit_depth,
            path=self.path,
            value_range=self.value_range,
            missing=self.missing,
            icc_profile=self.icc_profile,
            exif=self.exif,
        )


#: What :func:`as_image` accepts: an :class:`Image` or an array of samples.
ImageLike = Image | np.ndarray


def _unit_float(a: np.ndarray) -> np.ndarray:
    """Scale numeric samples to float32 in ``[0, 1]`` (integers by their dtype maximum)."""
    if a.dtype == np.bool_:
        return a.astype(np.float32)
    if a.dtype.kind in "ui":
        f = a.astype(np.float64) / float(np.iinfo(a.dtype).max)
        if a.dtype.kind == "i":
            np.clip(f, 0.0, 1.0, out=f)
        return f.astype(np.float32)
    return np.clip(a.astype(np.float32), 0.0, 1.0)


def as_image(data: ImageLike, what: str = "image") -> Image:
    """Check an image given from outside and convert it to an :class:`Image`.

    Parameters
    ----------
    data : Image or array-like
        An :class:`Image` (returned as is) or samples of shape ``(H, W)`` or
        ``(H, W, C)`` with ``C`` 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA).
        Booleans become 0/1, integers are divided by their dtype's maximum
        (``uint8`` by 255, ``uint16`` by 65535), floats are clipped to ``[0, 1]``.
    what : str
        What the data is, for the error message (e.g. ``"pixels"``).

    Returns
    -------
    Image
        float32 ``pixels`` ``(H, W, 1)`` or ``(H, W, 3)``, the last channel of
        2- and 4-channel data as ``alpha`` (else None), ``bit_depth`` 8 for
        bool/uint8/int8, 16 for wider integers, 32 for floats, ``path`` None.

    Raises
    ------
    InputError
        With one line naming ``what`` if the dtype is not numeric, the shape is
        not ``(H, W)`` or ``(H, W, C)`` with ``C`` in 1..4, the image is empty,
        or a float sample is NaN or infinite.

    Examples
    --------
    >>> as_image(np.zeros((4, 4), np.uint8)).bit_depth
    8
    >>> as_image(np.ones((2, 2, 4))).alpha.shape
    (2, 2)
    """
    if isinstance(data, Image):
        return data
    if isinstance(data, (str, os.PathLike)):
        raise InputError(
            f"{what} must be an array or an Image, not the path {str(data)!r}: read it with deepprior.io.read_image"
        )
    try:
        a = np.asarray(data)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be a numeric array ({exc})") from None
    if a.dtype == np.bool_ or a.dtype.kind in "ui":
        bit_depth = 8 if a.dtype.itemsize == 1 else 16
    elif a.dtype.kind == "f":
        bit_depth = 32
    else:
        raise InputError(f"{what} must be a numeric array, not {a.dtype}")
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
        raise InputError(f"{what} must be (H, W) or (H, W, C) with C in 1..4, got shape {np.shape(data)}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise InputError(f"{what} is empty ({a.shape[1]}×{a.shape[0]} pixels, width×height)")
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise InputError(f"{what} contains NaN or infinite values")
    f = _unit_float(a)
    if f.shape[2] in (2, 4):
        return Image(
            pixels=np.ascontiguousarray(f[:, :, :-1]), alpha=np.ascontiguousarray(f[:, :, -1]), bit_depth=bit_depth
        )
    return Image(pixels=f, alpha=None, bit_depth=bit_depth)
