"""BM3D's two stages on the noisy image alone, and a refiner that averages their result with the Wiener filter of the
network's pilot: two estimates whose errors differ."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from ..registry import REFINERS
from ._grouping import aggregate, check_image, check_pilot, check_sigma, check_sizes, filter_images, match
from .wiener import wiener_refine

if TYPE_CHECKING:
    import torch


def hard_threshold(
    y: np.ndarray,
    sigma: float | None = None,
    *,
    lam: float = 2.7,
    patch: int = 8,
    group: int = 16,
    window: int = 39,
    step: int = 3,
    device: str = "cpu",
) -> np.ndarray:
    r"""Collaborative hard thresholding of a noisy image: BM3D's first stage [1]_.

    For reference patches every ``step`` pixels, the ``group`` patches of y most like it (squared distance on
    the luminance, within a ``window`` × ``window`` search area) are stacked and transformed in 3-D (the 2-D DCT
    of each patch, the Haar transform along the stack); coefficients with :math:`|Y_k| \le \lambda\sigma` are set
    to zero (the group's mean, its first coefficient, is always kept), the stack is transformed back, and every
    patch is averaged into place with its group's weight :math:`w = 1 / (\sigma^2 N_{kept})`. A colour image is
    filtered in BM3D's opponent colour space, made orthonormal.

    Parameters
    ----------
    y : numpy.ndarray
        ``(H, W)`` or ``(H, W, C)`` float observation: the image plus white Gaussian noise of std σ.
    sigma : float, optional
        σ in the image's units; None estimates it from y (:func:`deepprior.metrics.noise_sigma`). σ = 0 returns
        y unchanged (clipped to [0, 1]).
    lam : float, optional
        :math:`\lambda_{3D}`, the threshold in units of σ (2.7, the paper's).
    patch, group, window, step : int, optional
        :math:`N_1` (8), :math:`N_2` (16), :math:`N_S` (39, odd) and :math:`N_{step}` (3), the paper's first-stage
        sizes; the last row and column are always references, so every pixel is filtered.
    device : str, optional
        Where to compute (``"cpu"``, ``"cuda"``); the result comes back as a numpy array.

    Returns
    -------
    numpy.ndarray
        The basic estimate, float32, the shape of y, clipped to [0, 1].

    Raises
    ------
    InputError
        If y is not a finite 2-D or 3-D image, or a parameter is out of range.

    References
    ----------
    .. [1] K. Dabov, A. Foi, V. Katkovnik, K. Egiazarian, "Image denoising by sparse 3-D transform-domain
       collaborative filtering", IEEE Trans. Image Process. 16(8), 2080–2095, 2007. :DOI:`10.1109/TIP.2007.901238`

    Examples
    --------
    >>> import numpy as np
    >>> from deepprior.metrics import psnr
    >>> from deepprior.refiners.bm3d import hard_threshold
    >>> x = np.kron(np.random.default_rng(0).uniform(0.2, 0.8, (8, 8)), np.ones((8, 8)))  # 64×64 blocks
    >>> y = x + 0.1 * np.random.default_rng(1).standard_normal(x.shape)
    >>> psnr(hard_threshold(y, 0.1), x) > psnr(y, x) + 6
    True
    """
    y_arr = check_image(y, "y")
    sigma = check_sigma(sigma, y_arr)
    check_sizes(patch, group, window, step)
    if not (isinstance(lam, (int, float, np.floating)) and lam > 0):
        raise InputError(f"lam must be a number > 0, got {lam!r}")
    if sigma == 0:
        return np.clip(y_arr, 0.0, 1.0).astype(np.float32)
    threshold = float(lam) * sigma

    def shrink(coefficients: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        keep = coefficients.abs() > threshold
        keep[:, :, 0, 0, 0] = True
        return coefficients * keep, 1.0 / (sigma**2 * keep.sum(dim=(2, 3, 4)))

    def run(tensors: list[torch.Tensor], b: int) -> torch.Tensor:
        rows, cols = match(tensors[0][0], b, int(group), int(window), int(step))
        return aggregate(tensors[0], rows, cols, b, shrink)

    return filter_images([y_arr], run, patch, device)


def bm3d_denoise(y: np.ndarray, sigma: float | None = None, *, device: str = "cpu") -> np.ndarray:
    """BM3D [1]_ as written here: :func:`hard_threshold`, then :func:`deepprior.refiners.wiener.wiener_refine` with
    that basic estimate as the pilot, at the paper's sizes.

    Not the authors' implementation: the patch transform of the first stage is the DCT (theirs: a biorthogonal
    spline wavelet), and groups always hold N2 patches (theirs: as many, up to N2, as are closer than a
    threshold), so it scores somewhat below it (``benchmarks/results/refine_crops.md``).

    Parameters
    ----------
    y : numpy.ndarray
        ``(H, W)`` or ``(H, W, C)`` float observation with white Gaussian noise of std σ.
    sigma : float, optional
        σ in the image's units; None estimates it from y.
    device : str, optional
        Where to compute; the result comes back as a numpy array.

    Returns
    -------
    numpy.ndarray
        The denoised image, float32, the shape of y, clipped to [0, 1].

    Raises
    ------
    InputError
        If y is not a finite 2-D or 3-D image, or σ is negative or not finite.

    References
    ----------
    .. [1] K. Dabov, A. Foi, V. Katkovnik, K. Egiazarian, "Image denoising by sparse 3-D transform-domain
       collaborative filtering", IEEE Trans. Image Process. 16(8), 2080–2095, 2007. :DOI:`10.1109/TIP.2007.901238`

    Examples
    --------
    >>> import numpy as np
    >>> from deepprior.metrics import psnr
    >>> from deepprior.refiners.bm3d import bm3d_denoise, hard_threshold
    >>> x = np.kron(np.random.default_rng(0).uniform(0.2, 0.8, (8, 8)), np.ones((8, 8)))
    >>> y = x + 0.1 * np.random.default_rng(1).standard_normal(x.shape)
    >>> psnr(bm3d_denoise(y, 0.1), x) > psnr(hard_threshold(y, 0.1), x)
    True
    """
    sigma = check_sigma(sigma, check_image(y, "y"))
    return wiener_refine(y, hard_threshold(y, sigma, device=device), sigma, device=device)


@REFINERS.register("wiener-bm3d")
def wiener_bm3d_refine(
    y: np.ndarray, pilot: np.ndarray, sigma: float | None = None, *, device: str = "cpu"
) -> np.ndarray:
    r"""A weighted mean of two estimates of the clean image: y Wiener-filtered with the network's pilot, and y
    denoised by BM3D alone,

    .. math::

        \hat x = \alpha\, W(y; \hat x_{DIP}) + (1 - \alpha)\, W(y; HT(y)), \qquad
        \alpha = \tfrac12 \operatorname{clip}\!\left(\frac{r_1 - r}{r_1 - r_0}, 0, 1\right), \quad
        r = \frac{\lVert y - \hat x_{DIP} \rVert}{\sigma \sqrt N},

    with W BM3D's Wiener stage (:func:`deepprior.refiners.wiener.wiener_refine`), HT its hard-thresholding stage
    (:func:`hard_threshold`), :math:`r_0` = 1.05 and :math:`r_1` = 1.15. The network's prior and BM3D's nonlocal
    sparsity err in different places (the network on flat areas and fine texture it has not learned, BM3D on
    structure that repeats nowhere), so their mean is better than either: the idea of averaging complementary
    denoisers, as in the DIP paper's averaging of runs [1]_. But a pilot that leaves more than the noise in its
    residual (r above 1, Morozov's discrepancy principle [2]_) has missed signal that its Wiener stage then
    shrinks away: a missed part of energy :math:`e^2` per pixel gives :math:`r^2 \approx 1 + e^2/\sigma^2`, so
    r = 1.05 to 1.15 is signal missed by 0.3σ to 0.6σ, about BM3D's own error at σ = 25. From there the pilot's
    half weighs less, and none from :math:`r_1` on (a full-size photograph of fur that a narrow network did not
    fit in its steps: ``benchmarks/results/gpu/README.md``). A fit stopped by the discrepancy principle leaves
    r ≈ 1, and the plain mean.

    Parameters
    ----------
    y : numpy.ndarray
        ``(H, W)`` or ``(H, W, C)`` float observation with white Gaussian noise of std σ.
    pilot : numpy.ndarray
        The network's estimate of the clean image, the same shape.
    sigma : float, optional
        σ in the images' units; None estimates it from y. σ = 0 returns the pilot unchanged.
    device : str, optional
        Where to compute; the result comes back as a numpy array.

    Returns
    -------
    numpy.ndarray
        The refined image, float32, the shape of y, clipped to [0, 1].

    Raises
    ------
    InputError
        If the shapes differ, an image is not a finite 2-D or 3-D image, or σ is negative or not finite.

    References
    ----------
    .. [1] D. Ulyanov, A. Vedaldi, V. Lempitsky, "Deep Image Prior", CVPR 2018 and IJCV 128, 1867–1888, 2020.
       :DOI:`10.1007/s11263-020-01303-4`
    .. [2] V. A. Morozov, "On the solution of functional equations by the method of regularization", Soviet
       Math. Dokl. 7, 414–417, 1966.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.ndimage import gaussian_filter
    >>> from deepprior.metrics import psnr
    >>> from deepprior.refiners.bm3d import wiener_bm3d_refine
    >>> x = np.kron(np.random.default_rng(0).uniform(0.2, 0.8, (8, 8)), np.ones((8, 8)))
    >>> y = x + 0.1 * np.random.default_rng(1).standard_normal(x.shape)
    >>> psnr(wiener_bm3d_refine(y, gaussian_filter(y, 1.5), 0.1), x) > psnr(y, x) + 5
    True
    """
    y_arr = check_image(y, "y")
    pilot_arr = check_pilot(pilot, y_arr)
    sigma = check_sigma(sigma, y_arr)
    if sigma == 0:
        return wiener_refine(y_arr, pilot_arr, sigma, device=device)  # the pilot, unchanged
    weight = pilot_weight(y_arr, pilot_arr, sigma)
    alone = bm3d_denoise(y_arr, sigma, device=device)
    if weight == 0:  # a pilot that missed signal: its Wiener half would be computed to be multiplied by 0
        return alone.astype(np.float32)
    refined = wiener_refine(y_arr, pilot_arr, sigma, device=device)
    return (weight * refined + (1 - weight) * alone).astype(np.float32)


#: The pilot's relative residual r from which its half weighs less, and from which it weighs nothing
#: (:func:`wiener_bm3d_refine`).
EXPLAINED, MISSED = 1.05, 1.15


def pilot_weight(y: np.ndarray, pilot: np.ndarray, sigma: float) -> float:
    """α of :func:`wiener_bm3d_refine`: ½ while the pilot's RMS residual to y is within :data:`EXPLAINED` σ, 0 from
    :data:`MISSED` σ on, linear between."""
    r = float(np.sqrt(np.mean(np.square(y - pilot)))) / sigma
    return 0.5 * float(np.clip((MISSED - r) / (MISSED - EXPLAINED), 0.0, 1.0))


__all__ = ["bm3d_denoise", "hard_threshold", "pilot_weight", "wiener_bm3d_refine"]
