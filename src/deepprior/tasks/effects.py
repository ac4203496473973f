"""What edge-preserving smoothing is for: detail enhancement and pencil sketches, on top of any smoother.

Both split an image into a base (the smoothed image, from any ``smooth`` row: ``region-fusion``, ``l0-smooth``,
``dip-l0``, ...) and a detail layer, as Xu et al. (2011) do for detail magnification and edge extraction, and as the
DIP-ℓ0 authors name as the next uses of their smoothing.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from ..argtypes import non_negative
from ..errors import InputError
from .base import TaskSpec, register
from .smoothing import smooth

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    import numpy as np
    from typing_extensions import Unpack

    from ..image import ImageLike
    from ..restore import Overrides, Restoration


def _lightness(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """CIELAB L* in [0, 100] and the a*, b* planes (None for gray), which carry the hue."""
    import numpy as np
    from skimage.color import rgb2lab

    if pixels.shape[2] == 1:
        return pixels[..., 0].astype(np.float64) * 100.0, None
    lab = rgb2lab(pixels.astype(np.float64))
    return lab[..., 0], lab[..., 1:]


def _from_lightness(lightness: np.ndarray, chroma: np.ndarray | None) -> np.ndarray:
    import numpy as np
    from skimage.color import lab2rgb

    if chroma is None:
        return np.clip(lightness / 100.0, 0, 1)[..., None].astype(np.float32)
    lab = np.concatenate([np.clip(lightness, 0, 100)[..., None], chroma], axis=2)
    return np.clip(lab2rgb(lab), 0, 1).astype(np.float32)


def _tagged(restoration: Restoration, task: str, **facts: Any) -> Restoration:
    record = restoration.record
    restoration.record = dataclasses.replace(record, task=task, extra={**record.extra, **facts})
    return restoration


def enhance(
    image: ImageLike,
    amount: float = 2.0,
    method: str | None = None,
    lam: float | None = None,
    *,
    seed: int = 0,
    device: str = "auto",
    **overrides: Unpack[Overrides],
) -> Restoration:
    r"""Detail enhancement: base + K·detail, in CIELAB lightness so that hues do not shift.

    With L the lightness of the image and L_s that of its edge-preserving smoothing,

    .. math:: L' = L_s + K\,(L - L_s), \qquad (a', b') = (a, b),

    so K = 1 returns the image, K > 1 sharpens texture and fine detail while the strong edges the smoother keeps
    do not ring, and 0 ≤ K < 1 flattens the detail (K = 0: the smoothed lightness with the original colours).

    Parameters
    ----------
    image
        The image.
    amount
        K, the detail gain (>= 0).
    method, lam
        The smoother: a ``smooth`` row (default: the table's, DIP-ℓ0; ``"region-fusion"`` takes seconds) and its λ.
    seed, device, **overrides
        As in :func:`deepprior.smooth`.

    Returns
    -------
    Restoration
        ``.record.task`` is ``"enhance"``; ``.record.extra["amount"]`` is K.

    Raises
    ------
    InputError, DeviceError
        As in :func:`deepprior.smooth`; a negative or non-finite amount.

    References
    ----------
    .. [1] L. Xu, C. Lu, Y. Xu, J. Jia, "Image smoothing via L0 gradient minimization", SIGGRAPH Asia 2011.

    Examples
    --------
    >>> import numpy as np
    >>> import numpy as np, deepprior
    >>> image = np.random.default_rng(0).random((32, 32, 3))
    >>> same = deepprior.enhance(image, amount=1.0, method="region-fusion").image
    >>> bool(np.abs(same - image).max() < 1e-3)
    True
    """
    import numpy as np

    from ..image import as_image

    if not (np.isfinite(amount) and amount >= 0):
        raise InputError(f"the amount K must be a finite number >= 0, got {amount}")
    source = as_image(image)
    base = smooth(source, method, lam, seed=seed, device=device, **overrides)
    lightness, chroma = _lightness(source.pixels)
    base_lightness, _ = _lightness(base.output.pixels)
    pixels = _from_lightness(base_lightness + amount * (lightness - base_lightness), chroma)
    base.output = source.with_pixels(pixels)
    return _tagged(base, "enhance", amount=float(amount))


def sketch(
    image: ImageLike,
    method: str | None = None,
    lam: float | None = None,
    *,
    seed: int = 0,
    device: str = "auto",
    **overrides: Unpack[Overrides],
) -> Restoration:
    r"""A pencil sketch: the edges of the edge-preserving smoothing, as dark strokes on white paper.

    The smoothing removes texture and keeps the strong edges; the stroke darkness is the Sobel gradient magnitude
    of its lightness, scaled so that its strongest edges are black:

    .. math:: s = 1 - \min\!\left(1, \frac{\|\nabla L_s\|}{q_{99.5}(\|\nabla L_s\|)}\right)

    A flat image gives a blank (white) sheet.

    Parameters
    ----------
    image
        The image.
    method, lam
        The smoother, as in :func:`enhance`.
    seed, device, **overrides
        As in :func:`deepprior.smooth`.

    Returns
    -------
    Restoration
        ``.image`` is (H, W) gray in [0, 1] (1 = paper); ``.record.task`` is ``"sketch"``.

    Raises
    ------
    InputError, DeviceError
        As in :func:`deepprior.smooth`.

    Examples
    --------
    >>> import numpy as np
    >>> import numpy as np, deepprior
    >>> blank = deepprior.sketch(np.full((32, 32, 3), 0.4), method="region-fusion").image
    >>> float(blank.min())
    1.0
    """
    import numpy as np
    from scipy import ndimage

    from ..image import as_image

    source = as_image(image)
    base = smooth(source, method, lam, seed=seed, device=device, **overrides)
    lightness, _ = _lightness(base.output.pixels)
    magnitude = np.hypot(ndimage.sobel(lightness, axis=0), ndimage.sobel(lightness, axis=1))
    scale = float(np.quantile(magnitude, 0.995))
    if scale <= 1e-6:  # no edge at all: blank paper (also keeps rounding noise from drawing strokes)
        scale = max(float(magnitude.max()), 1.0) * 1e6
    strokes = (1.0 - np.clip(magnitude / scale, 0.0, 1.0)).astype(np.float32)
    base.output = source.with_pixels(strokes[..., None])
    base.squeeze = True  # one gray plane, (H, W)
    return _tagged(base, "sketch")


def _add_amount(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--amount",
        type=non_negative,
        default=2.0,
        metavar="K",
        help="detail gain: 1 returns the input, > 1 enhances, < 1 flattens (default 2)",
    )


def _read_amount(args: argparse.Namespace, options: dict[str, Any], files: dict[str, Path]) -> None:
    options["amount"] = args.amount


register(
    TaskSpec(
        "enhance",
        enhance,
        "detail enhancement: the smoothed base plus K times the detail (hues kept)",
        rows="smooth",
        add_arguments=_add_amount,
        read_arguments=_read_amount,
    )
)
register(TaskSpec("sketch", sketch, "a pencil sketch drawn from the edges of the smoothed image", rows="smooth"))
