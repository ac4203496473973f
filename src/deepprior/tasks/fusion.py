"""Flash/no-flash fusion: the flash image as the network's input, the no-flash image as its target."""

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
def flash_noflash(
    flash: ImageLike,
    noflash: ImageLike,
    *,
    preset: str = "paper",
    seed: int = 0,
    device: str = "auto",
    **overrides: Unpack[Overrides],
) -> Plan:
    r"""Flash/no-flash fusion: the flash image is the network input z, the no-flash image the target, so the
    result has the no-flash lighting with the flash image's detail.

    Parameters
    ----------
    flash, noflash
        The two images of the same scene, of the same size; the no-flash image's alpha is carried.
    preset, seed, device, **overrides
        As in :func:`deepprior.denoise` (601 steps at LR 0.1, no jitter).

    Returns
    -------
    Restoration
        The fused image, carrying the no-flash image's alpha; ``.record.input["kind"]`` is ``"image"``.

    Raises
    ------
    InputError, DeviceError
        As in :func:`deepprior.denoise`; also images of different sizes, and a uniform flash image (no detail to carry).

    References
    ----------
    .. [1] D. Ulyanov, A. Vedaldi, V. Lempitsky, "Deep Image Prior", CVPR 2018 (Section 4, flash/no-flash).

    Examples
    --------
    >>> import numpy as np, deepprior
    >>> rng = np.random.default_rng(0)
    >>> flash, noflash = rng.random((32, 32, 3)), 0.5 * rng.random((32, 32, 3))
    >>> deepprior.flash_noflash(flash, noflash, iterations=2, width=8).image.shape
    (32, 32, 3)
    """
    import numpy as np

    from ..dip import plan_dip
    from ..image import as_image
    from ..operators import Identity

    guide = as_image(flash, "flash image")
    source = as_image(noflash, "no-flash image")
    if guide.pixels.shape != source.pixels.shape:
        raise InputError(
            f"the flash image is {guide.width}×{guide.height}×{guide.channels} but the no-flash image "
            f"is {source.width}×{source.height}×{source.channels}"
        )
    if np.ptp(guide.pixels) == 0:  # z without any variation: BatchNorm's first statistics are all zero
        raise InputError("the flash image is uniform: it has no detail for the result to take")
    return plan_dip(
        get_preset("flash-noflash", profile=preset),
        source,
        source.pixels,
        Identity(),
        image_size=source.shape,
        seed=seed,
        device=device,
        overrides=dict(overrides),
        guide=guide.pixels,
        squeeze=np.ndim(noflash) == 2,
    )


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--flash", type=Path, required=True, help="flash image (the network input)")
    parser.add_argument("--noflash", type=Path, required=True, help="no-flash image (the target)")


def _example(image: np.ndarray, **keywords: Any) -> Restoration:
    return flash_noflash(image, image * 0.5, **keywords)


register(
    TaskSpec(
        "flash-noflash",
        flash_noflash,
        "fuse a flash / no-flash pair",
        row_option=None,
        images=("flash", "noflash"),
        add_arguments=_add_arguments,
        example=_example,
    )
)
