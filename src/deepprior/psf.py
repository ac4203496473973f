"""Point spread functions for deblurring (:func:`deepprior.deblur`): the built-in shapes, a measured one checked
and normalised, and the ``"gaussian:SIGMA"`` / ``"disk:RADIUS"`` specs the command line takes.

A PSF here is a float64 array of shape (C, h, w), C = 1 (one PSF for every channel) or one per channel, with no
negative value and each channel summing to 1 (a blur keeps the mean brightness). Needs numpy only.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from .errors import InputError

#: The shapes a spec may name, each with the meaning of its one number.
SHAPES = {"gaussian": "σ in pixels", "disk": "radius in pixels, a defocused lens"}

#: No PSF's side may pass this (a blur that wide has left little detail to recover).
MAX_SIDE = 255


def gaussian_psf(sigma: float, size: int | None = None) -> np.ndarray:
    r"""An isotropic Gaussian PSF, :math:`k(u, v) \propto \exp(-(u^2 + v^2) / 2\sigma^2)`, normalised to sum 1.

    Parameters
    ----------
    sigma
        Standard deviation in pixels, > 0.
    size
        Side of the (odd) square array; None: :math:`2\lceil 3\sigma \rceil + 1`, which holds all but 0.3 % of
        the weight along each axis.

    Returns
    -------
    np.ndarray
        (1, size, size) float64.

    Raises
    ------
    InputError
        σ not positive and finite, or a size that is not an odd whole number >= 1 (or too large).

    Examples
    --------
    >>> k = gaussian_psf(1.0)
    >>> k.shape, round(float(k.sum()), 6), bool(k[0, 3, 3] == k.max())
    ((1, 7, 7), 1.0, True)
    """
    if not isinstance(sigma, (int, float, np.number)) or not math.isfinite(sigma) or sigma <= 0:
        raise InputError(f"the Gaussian PSF's σ must be a positive number of pixels, got {sigma!r}")
    size = 2 * math.ceil(3 * sigma) + 1 if size is None else size
    _check_side(size, "Gaussian PSF")
    u = np.arange(size) - (size - 1) / 2
    profile = np.exp(-(u**2) / (2 * float(sigma) ** 2))
    return _normalised(np.outer(profile, profile)[None])


def disk_psf(radius: float) -> np.ndarray:
    """A uniform disk of ``radius`` pixels (a defocused lens), each pixel weighed by the part of it the disk
    covers (8 × 8 samples per pixel), normalised to sum 1.

    Parameters
    ----------
    radius
        In pixels, > 0.

    Returns
    -------
    np.ndarray
        (1, n, n) float64 with n = 2·⌈radius⌉ + 1.

    Raises
    ------
    InputError
        A radius that is not positive and finite, or too large.

    Examples
    --------
    >>> k = disk_psf(2)
    >>> k.shape, bool(k[0, 0, 0] == 0), bool(k[0, 2, 2] == k.max())
    ((1, 5, 5), True, True)
    """
    if not isinstance(radius, (int, float, np.number)) or not math.isfinite(radius) or radius <= 0:
        raise InputError(f"the disk PSF's radius must be a positive number of pixels, got {radius!r}")
    size = 2 * math.ceil(radius) + 1
    _check_side(size, "disk PSF")
    samples = 8
    offsets = (np.arange(samples) + 0.5) / samples - 0.5
    u = (np.arange(size) - size // 2)[:, None] + offsets[None, :]  # (pixel, sample) positions along one axis
    inside = u[:, None, :, None] ** 2 + u[None, :, None, :] ** 2 <= radius**2
    return _normalised(inside.mean(axis=(2, 3))[None])


def psf_from_spec(spec: str) -> np.ndarray:
    """The PSF a spec names: ``"gaussian:SIGMA"`` or ``"disk:RADIUS"`` (:data:`SHAPES`).

    Raises
    ------
    InputError
        Not such a spec, or a bad number.

    Examples
    --------
    >>> psf_from_spec("gaussian:1.5").shape
    (1, 11, 11)
    """
    match = re.fullmatch(r"\s*([a-z]+)\s*:\s*([^\s]+)\s*", spec.lower())
    if not match or match[1] not in SHAPES:
        shapes = ", ".join(f"'{name}:N' ({meaning})" for name, meaning in SHAPES.items())
        raise InputError(f"unknown PSF {spec!r}: the shapes are {shapes}")
    try:
        value = float(match[2])
    except ValueError:
        raise InputError(f"PSF {spec!r}: {match[2]!r} is not a number") from None
    return gaussian_psf(value) if match[1] == "gaussian" else disk_psf(value)


def as_psf(psf: Any, channels: int | None = None) -> np.ndarray:
    """A PSF given from outside, checked and normalised for an image of ``channels`` channels (None: 1 or 3).

    Parameters
    ----------
    psf
        An array of shape (h, w) (one PSF for every channel) or (h, w, C) with C = 1 or ``channels`` (one per
        channel); a :class:`deepprior.image.Image` read from a file (its samples back in the file's own range,
        so that a floating point PSF keeps its zero level); or a spec, ``"gaussian:SIGMA"`` / ``"disk:RADIUS"``.
        Any scale: each channel is divided by its sum. Negative values (a measured PSF's background noise) are
        set to 0 first.

    Returns
    -------
    np.ndarray
        (C, h, w) float64, non-negative, each channel summing to 1.

    Raises
    ------
    InputError
        Not an array, image or spec; the wrong shape or channel count; a value that is not finite; nothing
        positive in some channel.

    Examples
    --------
    >>> as_psf(np.ones((3, 3)), 3).sum(axis=(1, 2))
    array([1.])
    """
    from .image import Image

    if isinstance(psf, str):
        if ":" not in psf:  # a path: the API takes arrays and images, as it does for the image itself
            raise InputError(
                f"the PSF must be an array, an Image or a spec like 'gaussian:2', not the path "
                f"{psf!r}: read it with deepprior.io.read_image"
            )
        return psf_from_spec(psf)
    if isinstance(psf, Image):
        values = psf.pixels.astype(np.float64)
        if psf.value_range is not None:  # a float file mapped onto [0, 1] on read: back to its own values
            low, high = psf.value_range
            values = low + values * (high - low)
    else:
        try:
            values = np.asarray(psf, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"the PSF must be an array, an Image or a spec like 'gaussian:2', not {psf!r}") from None
    if values.ndim == 2:
        values = values[..., None]
    allowed = (1, 3) if channels is None else (1, channels)
    if values.ndim != 3 or values.shape[2] not in allowed or 0 in values.shape:
        which = "1 or 3" if channels is None else f"1 or the image's {channels}"
        raise InputError(f"the PSF must be (h, w) or (h, w, C) with C = {which}, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise InputError("the PSF has values that are not finite (NaN or infinity)")
    _check_side(max(values.shape[:2]), "PSF", odd=False)
    return _normalised(np.moveaxis(values, 2, 0).clip(0, None))


def describe_psf(psf: Any) -> str:
    """What the run record says the PSF was: the spec, the file's name, or ``"array"``."""
    from .image import Image

    if isinstance(psf, str):
        return psf.strip().lower()
    if isinstance(psf, Image) and psf.path is not None:
        return psf.path.name
    return "array"


def _check_side(size: Any, what: str, odd: bool = True) -> None:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1 or (odd and size % 2 == 0):
        raise InputError(f"the {what}'s size must be an odd whole number >= 1, got {size!r}")
    if size > MAX_SIDE:
        raise InputError(f"the {what} is {size} pixels wide; at most {MAX_SIDE} are supported")


def _normalised(kernel: np.ndarray) -> np.ndarray:
    totals = kernel.sum(axis=(1, 2), keepdims=True)
    if (totals <= 0).any():
        raise InputError("the PSF has no positive value (in some channel): it must sum to more than 0")
    return kernel / totals


__all__ = ["MAX_SIDE", "SHAPES", "as_psf", "describe_psf", "disk_psf", "gaussian_psf", "psf_from_spec"]
