"""Deblurring with a known point spread function: a blur as the forward model (:class:`deepprior.operators.Blur`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..presets import get_preset
from .base import TaskSpec, register, task_from_plan

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
    *,
    method: str | None = None,
    preset: str = "paper",
    seed: int = 0,
    device: str = "auto",
    **overrides: Unpack[Overrides],
) -> Plan:
    r"""Non-blind deblurring (deconvolution) with a known point spread function k: fits
    :math:`\min_\theta \frac{1}{N}\|k * g_\theta(z) - y\|^2` (:class:`deepprior.operators.Blur`, the image
    mirrored at its borders) and returns :math:`g_\theta(z)`, the sharp image.

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
    method
        A ``deblur`` row: ``"dip"`` (default), ``"dip-tv"`` (plus λ·TV) or ``"two-stage-tv"``.
    preset, seed, device, **overrides
        As in :func:`deepprior.denoise`.

    Returns
    -------
    Restoration
        The deblurred image in the input's layout; ``.record.extra`` names the PSF and gives its size.

    Raises
    ------
    InputError, DeviceError
        As in :func:`deepprior.denoise`; also a bad PSF (not finite, nothing positive, the wrong channels), one
        larger than the image, and an image with missing pixels.

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
    operator = Blur(psf, source.channels)
    height, width = operator.size
    if source.missing is not None:
        raise InputError("deblurring cannot skip missing pixels yet: fill them in first (deepprior inpaint)")
    if max(height, width) >= min(source.shape):
        raise InputError(f"the PSF ({width}×{height}) must be smaller than the image ({source.width}×{source.height})")
    return plan_dip(
        get_preset("deblur", method, preset),
        source,
        source.pixels,
        operator,
        image_size=source.shape,
        seed=seed,
        device=device,
        overrides=dict(overrides),
        squeeze=np.ndim(image) == 2,
        extra={"psf": describe_psf(psf), "psf_size": [height, width]},
    )


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--psf",
        required=True,
        help="the point spread function: an image file of it (PNG, TIFF, FITS; normalised to sum 1) or a "
        "shape, gaussian:SIGMA or disk:RADIUS (pixels)",
    )


def _read_arguments(args: argparse.Namespace, options: dict[str, Any], files: dict[str, Path]) -> None:
    """--psf: a file, read with each image like a mask, or a shape's spec, checked now."""
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
