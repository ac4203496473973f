"""Super-resolution: DIP's Lanczos-2 downsampler as the forward model, at an integer scale."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..argtypes import scale_factor
from ..errors import InputError
from ..presets import get_preset
from .base import TaskSpec, register, task_from_plan

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    import numpy as np
    from typing_extensions import Unpack

    from ..image import ImageLike
    from ..restore import Overrides, Plan, Restoration


@task_from_plan
def super_resolve(
    image: ImageLike,
    scale: int = 4,
    *,
    method: str | None = None,
    preset: str = "paper",
    seed: int = 0,
    device: str = "auto",
    **overrides: Unpack[Overrides],
) -> Plan:
    r"""Super-resolution by an integer ``scale``: fits :math:`D(g_\theta(z))` to the low-resolution image, where D
    is DIP's Lanczos-2 downsampler, and returns the (scale·H, scale·W) image.

    The step count and σ_reg follow the row's schedule: 2000 steps and σ_reg = 0.03 up to ×4, 4000 and 0.05 from
    ×8, linear in between. An alpha channel is resized (bicubic), not restored.

    Parameters
    ----------
    image
        The low-resolution image.
    scale
        The factor, an integer >= 2.
    method, preset, seed, device, **overrides
        As in :func:`deepprior.denoise` (the only row is ``"dip"``).

    Returns
    -------
    Restoration
        The (scale·H, scale·W) image; ``.record.extra["scale"]`` is the factor.

    Raises
    ------
    InputError, DeviceError
        As in :func:`deepprior.denoise`; also a scale that is not an integer >= 2.

    References
    ----------
    .. [1] D. Ulyanov, A. Vedaldi, V. Lempitsky, "Deep Image Prior", CVPR 2018.

    Examples
    --------
    >>> import numpy as np, deepprior
    >>> deepprior.super_resolve(np.full((16, 16, 3), 0.5), scale=2, iterations=2, width=8).image.shape
    (32, 32, 3)
    """
    import numpy as np

    from ..dip import plan_dip
    from ..image import as_image
    from ..operators import LanczosDownsampler

    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer, float)) or scale != int(scale) or scale < 2:
        raise InputError(f"the scale must be an integer >= 2, got {scale!r}")
    scale = int(scale)
    source = as_image(image)
    operator = LanczosDownsampler(scale)
    size = operator.image_shape(*source.shape)
    alpha = None
    if source.alpha is not None:
        from skimage.transform import resize

        alpha = resize(source.alpha, size, order=3, anti_aliasing=False).astype(np.float32).clip(0, 1)
    return plan_dip(
        get_preset("super-resolve", method, preset).for_scale(scale),
        source,
        source.pixels,
        operator,
        image_size=size,
        seed=seed,
        device=device,
        overrides=dict(overrides),
        alpha=alpha,
        squeeze=np.ndim(image) == 2,
        extra={"scale": scale},
    )


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", type=scale_factor, default=4, help="integer factor >= 2 (default 4)")


def _read_arguments(args: argparse.Namespace, options: dict[str, Any], files: dict[str, Path]) -> None:
    options["scale"] = args.scale


def _example(image: np.ndarray, **keywords: Any) -> Restoration:
    """×2 from the image's top-left quarter."""
    height, width = image.shape[:2]
    return super_resolve(image[: height // 2, : width // 2], scale=2, **keywords)


register(
    TaskSpec(
        "super-resolve",
        super_resolve,
        "super-resolution by an integer factor",
        add_arguments=_add_arguments,
        read_arguments=_read_arguments,
        example=_example,
    )
)
