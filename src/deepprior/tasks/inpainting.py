"""Inpainting: a mask of the known pixels as the forward model; the network fills in the others."""

from __future__ import annotations

import functools
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
def inpaint(
    image: ImageLike,
    mask: Any = None,
    kind: str | None = None,
    *,
    raw_output: bool = False,
    preset: str = "paper",
    seed: int = 0,
    device: str = "auto",
    **overrides: Unpack[Overrides],
) -> Plan:
    r"""Inpainting: fits the known pixels only, :math:`\min_\theta \frac{1}{N}\|m \odot (g_\theta(z) - y)\|^2`,
    and fills in the missing ones.

    Parameters
    ----------
    image
        The image with missing pixels (their values are ignored).
    mask
        (H, W) array, True / non-zero where the pixel is KNOWN (DIP's convention: 255 known, 0 missing); a
        colour mask marks a pixel known where every channel does. Pixels the image itself marks missing
        (:attr:`deepprior.image.Image.missing`, e.g. NaN in a FITS file) are never known; None: those are the
        missing ones.
    kind
        An ``inpaint`` row: ``"text"`` (default: skip128 with 128 skip channels, nearest upsampling, 6001 steps),
        ``"hole"`` (meshgrid input, no skips), ``"region"`` (the library net) or ``"pixels"`` (scattered
        missing pixels, LR 0.001, 11000 steps).
    raw_output
        Return the network's whole output, as the paper does, instead of the default: the known pixels as given
        and the network's values only where pixels are missing (an under-trained fit then never blurs the
        intact parts).
    preset, seed, device, **overrides
        As in :func:`deepprior.denoise`.

    Returns
    -------
    Restoration
        ``.record.extra`` holds ``known_fraction`` and ``raw_output``.

    Raises
    ------
    InputError, DeviceError
        As in :func:`deepprior.denoise`; also a mask of another size or with no known pixel.

    References
    ----------
    .. [1] D. Ulyanov, A. Vedaldi, V. Lempitsky, "Deep Image Prior", CVPR 2018.

    Examples
    --------
    >>> import numpy as np, deepprior
    >>> known = np.ones((32, 32), bool); known[10:20, 10:20] = False
    >>> deepprior.inpaint(np.full((32, 32), 0.5), known, iterations=2, width=8).image.shape
    (32, 32)
    """
    import numpy as np

    from ..dip import plan_dip
    from ..image import as_image

    row = get_preset("inpaint", kind, preset)
    source = as_image(image)
    known = known_pixels(mask, source)
    if known is None:
        raise InputError("inpainting needs a mask of the known pixels (the image marks none missing)")
    operator, observed = leave_out(known, source.pixels)
    return plan_dip(
        row,
        source,
        observed,
        operator,
        image_size=source.shape,
        seed=seed,
        device=device,
        overrides=dict(overrides),
        squeeze=np.ndim(image) == 2,
        extra={"known_fraction": float(known.mean()), "raw_output": bool(raw_output)},
        finish=None if raw_output else functools.partial(_keep_known, known, source.pixels),
    )


def _keep_known(known: np.ndarray, pixels: np.ndarray, restoration: Restoration) -> Restoration:
    """Inpainting's result: the known pixels as given, the network's values only where pixels are missing."""
    import numpy as np

    restoration.output.pixels = np.where(known[..., None], pixels, restoration.output.pixels)
    return restoration


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mask",
        type=Path,
        help="mask image of the same size: white/non-zero = known pixel, black/0 = missing (default: the "
        "pixels the image itself marks missing, e.g. NaN in a FITS file)",
    )
    parser.add_argument(
        "--raw-output",
        action="store_true",
        help="write the network's whole output, as the paper does (default: the known pixels "
        "as given, the network's values only where pixels are missing)",
    )


def _read_arguments(args: argparse.Namespace, options: dict[str, Any], files: dict[str, Path]) -> None:
    if args.mask is not None:  # without one: the image's own missing pixels
        files["mask"] = args.mask
    options["raw_output"] = args.raw_output


def _example(image: np.ndarray, **keywords: Any) -> Restoration:
    """Every third row missing, the image mirrored up to the side the row's network needs: 64, or 192 for the
    library net of the "region" row (its 5×5 convolutions want 3×3 maps at its 6th scale)."""
    import numpy as np

    short = max(0, (192 if keywords.get("kind") == "region" else 64) - min(image.shape[:2]))
    image = np.pad(image, ((0, short), (0, short), (0, 0)), mode="reflect")
    known = np.ones(image.shape[:2], bool)
    known[::3] = False
    return inpaint(image, known, **keywords)


register(
    TaskSpec(
        "inpaint",
        inpaint,
        "fill in missing pixels",
        row_option="kind",
        add_arguments=_add_arguments,
        read_arguments=_read_arguments,
        example=_example,
    )
)
