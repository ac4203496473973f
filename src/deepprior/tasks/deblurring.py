"""Deblurring with a known point spread function: a blur as the forward model (:class:`deepprior.operators.Blur`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..presets import get_preset
from .base import TaskSpec, known_pixels, leave_out, register, task_from_plan

if TYPE_CHECKING:
    import argparse

    import numpy as np
    from typing_extensions import Unpack

    from ..image import ImageLike
    from ..restore import Overrides, Plan, Restoration


@task_from_plan
def deblur(
    image: ImageLike,
    psf: Any,
    mask: Any = None,
    *,
    method: str | None = None,
    preset: str = "paper",
    seed: int = 0,
    device: str = "auto",
    **overrides: Unpack[Overrides],
) -> Plan:
    r"""Non-blind deblurring (deconvolution) with a known point spread function k: fits
    :math:`\min_\theta \frac{1}{N}\|m \odot (k * g_\theta(z) - y)\|^2` (:class:`deepprior.operators.Blur`, the
    image mirrored at its borders; m the known pixels of y, all of them by default) and returns
    :math:`g_\theta(z)`, the sharp image, everywhere.

    Pixels of y that do not obey the blur (saturated stars or highlights, dead or hot pixels, cosmic rays, NaN in a
    FITS file) are left out of the fit with ``mask``: the forward model is then the blur followed by the mask
    (:class:`deepprior.operators.Composed`), and the network fills in the sharp image behind them from the
    pixels around.

    No paper in this family gives deblurring settings: the rows take the denoising row's network and loop
    (jitter, averaging, backtracking, ES-WMV without an iteration count), which keeps the noise y carries from
    being fitted; the README's "Which preset" gives what they score against the classical deconvolutions.

    Parameters
    ----------
    image
        The blurred (and noisy) image.
    psf
        The PSF: an array (h, w), or (h, w, C) with one per channel; an image read with
        :func:`deepprior.io.read_image` (a measured PSF, e.g. a FITS or TIFF file); or ``"gaussian:SIGMA"`` /
        ``"disk:RADIUS"`` (:mod:`deepprior.psf`). Normalised to sum 1; negative values are set to 0.
    mask
        (H, W) array, True / non-zero where a pixel of y is KNOWN (obeys the blur); a colour mask marks a pixel
        known where every channel does. Pixels the image itself marks missing are never known. None (default):
        every pixel but those.
    method
        A ``deblur`` row: ``"dip"`` (default), ``"dip-tv"`` (plus λ·TV) or ``"two-stage-tv"``.
    preset, seed, device, **overrides
        As in :func:`deepprior.denoise`.

    Returns
    -------
    Restoration
        The deblurred image in the input's layout; ``.record.extra`` names the PSF and gives its size, and with
        pixels left out, the ``known_fraction``.

    Raises
    ------
    InputError, DeviceError
        As in :func:`deepprior.denoise`; also a bad PSF (not finite, nothing positive, the wrong channels), one
        larger than the image, and a mask of another size or with no known pixel.

    References
    ----------
    .. [1] D. Ulyanov, A. Vedaldi, V. Lempitsky, "Deep Image Prior", CVPR 2018.
    .. [2] J. Liu, Y. Sun, X. Xu, U. Kamilov, "Image restoration using total variation regularized deep image
       prior", ICASSP 2019.

    Examples
    --------
    >>> import numpy as np, deepprior
    >>> blurred = np.full((32, 32, 3), 0.5)
    >>> deepprior.deblur(blurred, "gaussian:1", iterations=2, width=8).image.shape
    (32, 32, 3)
    """
    import numpy as np

    from ..dip import plan_dip
    from ..image import as_image
    from ..operators import Blur
    from ..psf import describe_psf

    source = as_image(image)
    operator = blur = Blur(psf, source.channels)
    height, width = blur.size
    if max(height, width) >= min(source.shape):
        raise InputError(f"the PSF ({width}×{height}) must be smaller than the image ({source.width}×{source.height})")
    observation, extra = source.pixels, {"psf": describe_psf(psf), "psf_size": [height, width]}
    known = known_pixels(mask, source)
    if known is not None and not known.all():  # a mask that keeps every pixel is the blur alone
        operator, observation = leave_out(known, source.pixels, blur)
        extra["known_fraction"] = float(known.mean())
    return plan_dip(
        get_preset("deblur", method, preset),
        source,
        observation,
        operator,
        image_size=source.shape,
        seed=seed,
        device=device,
        overrides=dict(overrides),
        squeeze=np.ndim(image) == 2,
        extra=extra,
    )


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--psf",
        required=True,
        help="the point spread function: an image file of it (PNG, TIFF, FITS; normalised to sum 1) or a "
        "shape, gaussian:SIGMA or disk:RADIUS (pixels)",
    )
    parser.add_argument(
        "--mask",
        type=Path,
        help="mask image of the same size: white/non-zero = a pixel that obeys the blur, black/0 = one to leave "
        "out of the fit (saturated, dead, hot); pixels the image marks missing (NaN in a FITS file) always are",
    )


def _read_arguments(args: argparse.Namespace, options: dict[str, Any], files: dict[str, Path]) -> None:
    """--psf: a file, read with each image like a mask, or a shape's spec, checked now; --mask: a file."""
    if args.mask is not None:
        files["mask"] = args.mask
    if Path(args.psf).exists():
        files["psf"] = Path(args.psf)
    elif ":" in args.psf:
        from ..psf import psf_from_spec

        psf_from_spec(args.psf)
        options["psf"] = args.psf
    else:
        raise InputError(
            f"the PSF file '{args.psf}' does not exist (a shape is given as gaussian:SIGMA or disk:RADIUS)"
        )


def _example(image: np.ndarray, **keywords: Any) -> Restoration:
    return deblur(image, "gaussian:1", **keywords)


register(
    TaskSpec(
        "deblur",
        deblur,
        "deconvolution with a known point spread function (PSF)",
        add_arguments=_add_arguments,
        read_arguments=_read_arguments,
        example=_example,
    )
)
