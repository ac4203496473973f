"""Empirical Wiener filtering of a noisy image in groups of similar patches, with the network's output as the pilot."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..registry import REFINERS
from ._grouping import (
    aggregate,
    check_image,
    check_pilot,
    check_sigma,
    check_sizes,
    filter_images,
    match,
    transform_groups,
)

if TYPE_CHECKING:
    import torch

    from ._grouping import Shrink


@REFINERS.register("wiener")
def wiener_refine(
    y: np.ndarray,
    pilot: np.ndarray,
    sigma: float | None = None,
    *,
    patch: int = 8,
    group: int = 32,
    window: int = 39,
    step: int = 3,
    device: str = "cpu",
) -> np.ndarray:
    r"""Collaborative Wiener filter of a noisy image with a pilot estimate: BM3D's second stage [1]_.

    For reference patches every ``step`` pixels, the ``group`` patches most like it in the pilot
    :math:`\hat x` (squared distance, within a ``window`` × ``window`` search area) are stacked, from y and from
    :math:`\hat x` alike, and transformed by an orthonormal 3-D transform (BM3D's: the 2-D DCT of each patch, then
    the Haar transform along the stack, or the DCT where ``group`` is not a power of two).
    With :math:`Y_k` and :math:`P_k` the coefficients of the two stacks, the group of y is shrunk towards what
    the pilot says is signal,

    .. math::

        \tilde Y_k = g_k Y_k, \qquad g_k = \frac{P_k^2}{P_k^2 + \sigma^2},

    transformed back, and every patch of every group is averaged into place with its group's weight
    :math:`w = 1 / (\sigma^2 \sum_k g_k^2)`. A colour image is matched on its luminance and filtered in BM3D's
    opponent colour space, made orthonormal. The pilot decides what to keep, y gives the values: detail that the
    pilot blurs but locates comes back, and the pilot's own errors are not passed on. ``group=1, window=1,
    step=1`` is the sliding-window DCT Wiener filter [2]_.

    Parameters
    ----------
    y : numpy.ndarray
        ``(H, W)`` or ``(H, W, C)`` float observation: the image plus white Gaussian noise of std σ.
    pilot : numpy.ndarray
        The estimate of the clean image, the same shape (a DIP fit, the mean of a seed ensemble).
    sigma : float, optional
        σ in the images' units; None estimates it from y (:func:`deepprior.metrics.noise_sigma`). σ = 0 (no
        noise, or an estimate that finds none) returns the pilot unchanged.
    patch : int, optional
        :math:`N_1`, the patch side (8; a smaller image uses its shorter side).
    group : int, optional
        :math:`N_2`, the patches per group (32, BM3D's Wiener stage).
    window : int, optional
        :math:`N_S`, the side of the search area around each reference patch, odd (39).
    step : int, optional
        :math:`N_{step}`, the distance between reference patches (3); the last row and column are always
        references, so every pixel is filtered.
    device : str, optional
        Where to compute (``"cpu"``, ``"cuda"``); the result comes back as a numpy array.

    Returns
    -------
    numpy.ndarray
        The refined image, float32, the shape of y, clipped to [0, 1].

    Raises
    ------
    InputError
        If the shapes differ, an image is not 2-D or 3-D, it holds NaN or infinity, or a parameter is out of
        range.

    References
    ----------
    .. [1] K. Dabov, A. Foi, V. Katkovnik, K. Egiazarian, "Image denoising by sparse 3-D transform-domain
       collaborative filtering", IEEE Trans. Image Process. 16(8), 2080–2095, 2007. :DOI:`10.1109/TIP.2007.901238`
    .. [2] L. Yaroslavsky, K. Egiazarian, J. Astola, "Transform domain image restoration methods: review,
       comparison and interpretation", Proc. SPIE 4304, Nonlinear Image Processing and Pattern Analysis XII,
       2001. :DOI:`10.1117/12.424970`

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.ndimage import gaussian_filter
    >>> from deepprior.metrics import psnr
    >>> from deepprior.refiners.wiener import wiener_refine
    >>> x = np.kron(np.random.default_rng(0).uniform(0.2, 0.8, (8, 8)), np.ones((8, 8)))  # 64×64 blocks
    >>> y = x + 0.1 * np.random.default_rng(1).standard_normal(x.shape)
    >>> pilot = gaussian_filter(y, 1.5)  # a pilot that blurs the edges
    >>> psnr(wiener_refine(y, pilot, 0.1), x) > psnr(pilot, x) + 1
    True
    """
    y_arr = check_image(y, "y")
    pilot_arr = check_pilot(pilot, y_arr)
    sigma = check_sigma(sigma, y_arr)
    check_sizes(patch, group, window, step)
    if sigma == 0:
        return np.clip(pilot_arr, 0.0, 1.0).astype(np.float32)

    def run(tensors: list[torch.Tensor], b: int) -> torch.Tensor:
        y_t, pilot_t = tensors
        rows, cols = match(pilot_t[0], b, int(group), int(window), int(step))
        return aggregate(y_t, rows, cols, b, wiener_shrink(pilot_t, sigma))

    return filter_images([y_arr, pilot_arr], run, patch, device)


def wiener_shrink(pilot: torch.Tensor, sigma: float) -> Shrink:
    """The empirical Wiener gain P²/(P² + σ²) from the pilot's groups, and the group weight 1/(σ² Σ g²)."""

    def shrink(coefficients: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        signal = transform_groups(pilot, rows, cols).square()
        gain = signal / (signal + sigma**2)
        weight = 1.0 / (sigma**2 * gain.square().sum(dim=(2, 3, 4))).clamp_min(1e-12)
        return gain * coefficients, weight

    return shrink


__all__ = ["wiener_refine", "wiener_shrink"]
