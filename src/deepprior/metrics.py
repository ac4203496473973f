"""Image quality metrics.

Numpy functions take images as float arrays of shape ``(H, W)`` or ``(H, W, C)``
with values in ``[0, 1]`` (``data_range=1``).  The torch helpers at the end work
on tensors of any matching shape and return 0-dim tensors on the tensors' device
so that a training loop can log them without a host synchronisation.

The super-resolution protocol (:func:`psnr_y_sr`) follows the Deep Image Prior
paper: PSNR on the luma channel ``Y' = (219 * Y + 16) / 255`` with
``Y = 0.299 R + 0.587 G + 0.114 B`` after cropping 4 pixels at the top and left
and 5 pixels at the bottom and right.
"""

from __future__ import annotations

import math
from functools import cache
from typing import NamedTuple

import numpy as np
import torch

from deepprior.errors import InputError

__all__ = [
    "psnr",
    "ssim",
    "rgb_to_y",
    "sr_crop",
    "psnr_y_sr",
    "mse_torch",
    "psnr_torch",
    "noise_sigma",
    "NOISE_SIGMA_REVISION",
    "channel_noise_levels",
    "noise_level_function",
]

#: Raised whenever :func:`noise_sigma` estimates differently (2: weak-texture PCA, was the Haar median; 3: the
#: image's RMS noise where it grows with the intensity; 4: a colour image's channels' lines, each its own): stored
#: benchmark entries of rows that read it (a refiner's σ, the discrepancy stop) name it, and go stale exactly then.
NOISE_SIGMA_REVISION = 4

# ITU-R BT.601 luma weights.
_Y_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float64)


def _as_image(img: np.ndarray, name: str) -> np.ndarray:
    """Return ``img`` as a float64 array of shape (H, W) or (H, W, C), else raise InputError."""
    if isinstance(img, torch.Tensor):
        raise InputError(f"{name} must be a numpy array, got a torch.Tensor (use the *_torch helpers)")
    arr = np.asarray(img)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise InputError(f"{name} must be a real-valued array, got dtype {arr.dtype}")
    if arr.ndim not in (2, 3):
        raise InputError(f"{name} must have shape (H, W) or (H, W, C), got {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0 or (arr.ndim == 3 and arr.shape[2] == 0):
        raise InputError(f"{name} is empty: shape {arr.shape}")
    return arr.astype(np.float64, copy=False)


def _pair(x: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = _as_image(x, "x")
    reference = _as_image(reference, "reference")
    if x.shape != reference.shape:
        raise InputError(f"shape mismatch: x has shape {x.shape}, reference has shape {reference.shape}")
    return x, reference


def _check_data_range(data_range: float) -> float:
    try:
        value = float(data_range)
    except (TypeError, ValueError):
        raise InputError(f"data_range must be a positive number, got {data_range!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"data_range must be a positive number, got {data_range!r}")
    return value


def psnr(x: np.ndarray, reference: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range^2 / MSE)``.

    Parameters
    ----------
    x : np.ndarray
        Image to score, shape (H, W) or (H, W, C).
    reference : np.ndarray
        Ground truth of the same shape.
    data_range : float, optional
        Peak-to-peak range of the pixel values (1.0 for images in [0, 1]).

    Returns
    -------
    float
        PSNR in dB over all pixels and channels; ``inf`` if the images are identical.

    Raises
    ------
    InputError
        If the shapes differ, an array is not 2-D/3-D, or ``data_range`` is not positive.

    Notes
    -----
    Wraps :func:`skimage.metrics.peak_signal_noise_ratio`; values are not clipped.
    """
    x, reference = _pair(x, reference)
    data_range = _check_data_range(data_range)
    if np.array_equal(x, reference):
        return math.inf
    from skimage.metrics import peak_signal_noise_ratio  # scipy.stats comes with it: load on first use

    return float(peak_signal_noise_ratio(reference, x, data_range=data_range))


def ssim(x: np.ndarray, reference: np.ndarray, data_range: float = 1.0) -> float:
    """Mean structural similarity index.

    Parameters
    ----------
    x : np.ndarray
        Image to score, shape (H, W), (H, W, 1) or (H, W, C).
    reference : np.ndarray
        Ground truth of the same shape.
    data_range : float, optional
        Peak-to-peak range of the pixel values (1.0 for images in [0, 1]).

    Returns
    -------
    float
        SSIM in [-1, 1]; 1 for identical images.

    Raises
    ------
    InputError
        If the shapes differ, the image is smaller than the 7x7 SSIM window, or
        ``data_range`` is not positive.

    Notes
    -----
    Wraps :func:`skimage.metrics.structural_similarity` with its defaults
    (7x7 uniform window).  ``(H, W, 1)`` inputs are squeezed to ``(H, W)``;
    colour images use ``channel_axis=2`` (SSIM per channel, then the mean).
    """
    x, reference = _pair(x, reference)
    data_range = _check_data_range(data_range)
    if x.ndim == 3 and x.shape[2] == 1:
        x, reference = x[..., 0], reference[..., 0]
    if min(x.shape[0], x.shape[1]) < 7:
        raise InputError(f"ssim needs images of at least 7x7 pixels, got {x.shape[:2]}")
    channel_axis = 2 if x.ndim == 3 else None
    from skimage.metrics import structural_similarity

    return float(structural_similarity(reference, x, data_range=data_range, channel_axis=channel_axis))


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """Luma ``Y'`` of an image in [0, 1], as used by the SR scoring protocol.

    ``Y = 0.299 R + 0.587 G + 0.114 B`` (ITU-R BT.601), then the studio-swing map
    ``Y' = (219 Y + 16) / 255`` so that ``Y'`` lies in ``[16/255, 235/255]``
    (equivalent to MATLAB's ``rgb2ycbcr`` luma divided by 255).

    Parameters
    ----------
    img : np.ndarray
        RGB image (H, W, 3), or a gray image (H, W) / (H, W, 1).  A gray image is
        taken as ``Y`` itself and goes through the same affine map, so that colour
        and gray results are on the same scale.

    Returns
    -------
    np.ndarray
        float64 array of shape (H, W).

    Raises
    ------
    InputError
        If the image is not (H, W), (H, W, 1) or (H, W, 3).
    """
    arr = _as_image(img, "img")
    if arr.ndim == 3:
        if arr.shape[2] == 1:
            arr = arr[..., 0]
        elif arr.shape[2] == 3:
            arr = arr @ _Y_WEIGHTS
        else:
            raise InputError(f"rgb_to_y needs 1 or 3 channels, got shape {arr.shape}")
    return (219.0 * arr + 16.0) / 255.0


def sr_crop(img: np.ndarray, top: int = 4, left: int = 4, bottom: int = 5, right: int = 5) -> np.ndarray:
    """Remove a border: ``img[top:H-bottom, left:W-right]``.

    Parameters
    ----------
    img : np.ndarray
        Array whose first two axes are (H, W); trailing axes are kept.
    top, left, bottom, right : int, optional
        Pixels to drop on each side; the defaults (4, 4, 5, 5) are the DIP SR protocol.

    Returns
    -------
    np.ndarray
        A view of the cropped region.

    Raises
    ------
    InputError
        If a margin is negative or not an integer, or nothing would be left.
    """
    arr = np.asarray(img)
    if arr.ndim < 2:
        raise InputError(f"sr_crop needs an array with at least 2 axes, got shape {arr.shape}")
    margins = {"top": top, "left": left, "bottom": bottom, "right": right}
    for name, value in margins.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise InputError(f"sr_crop: {name} must be a non-negative integer, got {value!r}")
    h, w = arr.shape[:2]
    if top + bottom >= h or left + right >= w:
        raise InputError(
            f"sr_crop: margins ({top}, {left}, {bottom}, {right}) leave nothing of a {w}×{h} image (width×height)"
        )
    return arr[top : h - bottom, left : w - right]


def psnr_y_sr(x: np.ndarray, reference: np.ndarray) -> float:
    """Super-resolution PSNR by the DIP paper protocol.

    PSNR (data range 1) between the ``Y'`` channels (:func:`rgb_to_y`) of ``x``
    and ``reference`` after :func:`sr_crop` with its defaults (4 px top/left,
    5 px bottom/right).  Both images are expected in [0, 1]; they are not
    clipped or quantised here.

    Parameters
    ----------
    x : np.ndarray
        Super-resolved image, (H, W, 3) or gray (H, W) / (H, W, 1).
    reference : np.ndarray
        High-resolution ground truth of the same shape (already cropped to the
        region the method produced, e.g. the multiple-of-32 centre crop).

    Returns
    -------
    float
        Y-PSNR in dB.

    Raises
    ------
    InputError
        On a shape mismatch or an unsupported number of channels.
    """
    x, reference = _pair(x, reference)
    return psnr(sr_crop(rgb_to_y(x)), sr_crop(rgb_to_y(reference)), data_range=1.0)


def noise_sigma(image: np.ndarray, *, patch: int = 5) -> float:
    r"""Estimate the standard deviation of additive white Gaussian noise in an image, blind.

    From the principal components of its weak-texture patches (Liu, Tanaka and Okutomi [1]_; Chen, Zhu and
    Heng's eigenvalue rule [2]_). The image's overlapping ``patch`` × ``patch`` patches (all channels) are
    vectors of :math:`N` values. In the covariance of patches of noise alone every eigenvalue is
    :math:`\sigma^2`; an image adds a few large ones. So, with :math:`\lambda_1 \le \dots \le \lambda_N` the
    eigenvalues of the patches' covariance,

    .. math::

        \hat\sigma^2 = \tau_k = \frac{1}{k} \sum_{i \le k} \lambda_i, \qquad
        k = \max \{ k : \tau_k \text{ is the median of } \lambda_1, \dots, \lambda_k \}.

    Texture spreads over many small components, so only weak-texture patches enter: those whose gradient energy
    :math:`\xi` (the squared horizontal and vertical differences inside the patch) is below the 99 % point of its
    law for noise alone, :math:`\xi / \hat\sigma^2 \sim \Gamma(N/2,\, 2\,\operatorname{tr}(D^T D) / N)`.
    Starting from all patches, :math:`\hat\sigma` and the selection are updated in turn until
    :math:`\hat\sigma` moves by less than 0.1 % (five rounds at most). Where the noise is clipped (more than
    0.1 % of the values exactly 0, or exactly 1, and none beyond), patches whose mean lies within
    :math:`2\hat\sigma` of that bound are left out, since clipping narrows their noise. At most 40 000 patches,
    evenly spaced, enter a covariance; patches with a NaN or infinite value never do.

    Where the noise grows with the intensity (photon noise: a camera's, a microscope's), one σ is the image's RMS
    noise, and the weak-texture patches, the quieter ones, read low: by a fifth to a third on photographs at 30
    photons at white. So the variance line :math:`\sigma^2(\mu) = a\mu + b` of :func:`noise_level_function`
    (Foi et al.'s Poisson-Gaussian fit, clipping and photon zeros included) is fitted too. Where it rises at least
    two-fold from the 5th to the 95th percentile of the patches' means, and agrees within a factor 1.5 with the
    weak-texture :math:`\hat\sigma^2` at the mean of the patches that estimate was measured on,
    :math:`\hat\sigma^2 = a\bar y + b`, its mean over the image's pixels (as Liu, Tanaka and Okutomi read one
    level off such a line [4]_). The agreement keeps out textured images under white noise, whose fine texture
    the line's wavelet details read as noise; it also keeps out photographs whose weak-texture estimate reads
    very low, which keep it. A colour image's channels each get their own line and weak-texture estimate as well,
    since a white-balanced camera's channels hold photons of different sizes and the whole image's patches then read
    the quietest channel's noise. Where some channel's line passes both tests, :math:`\hat\sigma^2` is the mean
    over the channels of each one's level (its line's mean, or its weak-texture :math:`\hat\sigma^2`), provided
    the image transformed by those levels to unit noise in every channel (the generalized Anscombe transform, left
    out where a neighbourhood holds under a photon) reads a weak-texture noise variance within a factor 1.25 of 1:
    channel by channel, fine texture under white noise passes as noise (a face's skin at σ = 5), and the lines it
    makes then overstate it. ``noise="poisson"`` denoises through the lines themselves.

    The median of the finest diagonal Haar coefficients [3]_ (the estimator before it, and scikit-image's
    ``estimate_sigma``) reads fine texture as noise; this estimate is several times closer at low noise, alike
    from σ = 25 up, and above the std of heavily clipped noise, since it reads the noise where it is not clipped
    (``benchmarks/results/noise_sigma.md``).
    The selection stops narrowing before it holds fewer than :math:`20N` patches (fewer spread the eigenvalues so
    that the rule reads low); an image smaller than that, or than a patch, gets the Haar estimate. Where most
    patches are flat (clip art, screenshots) :math:`\hat\sigma` is near 0; a fit with the discrepancy stop
    (``FitSettings.discrepancy``) then runs to its step cap.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W)`` or ``(H, W, C)`` float array, at least 2×2.
    patch : int, optional
        The patches' side (5).

    Returns
    -------
    float
        :math:`\hat\sigma` in the image's units: the RMS noise where it grows with the intensity.

    Raises
    ------
    InputError
        If the image is not 2-D or 3-D or smaller than 2×2, or ``patch`` is not a whole number >= 2.

    References
    ----------
    .. [1] X. Liu, M. Tanaka, M. Okutomi, "Single-image noise level estimation for blind denoising", IEEE Trans.
       Image Process. 22(12), 5226–5237, 2013. :DOI:`10.1109/TIP.2013.2283400`
    .. [2] G. Chen, F. Zhu, P. A. Heng, "An efficient statistical method for image noise level estimation",
       ICCV 2015, 477–485. :DOI:`10.1109/ICCV.2015.62`
    .. [3] D. L. Donoho and I. M. Johnstone, "Ideal spatial adaptation by wavelet shrinkage", Biometrika 81(3),
       425–455, 1994, §4.2. :DOI:`10.1093/biomet/81.3.425`
    .. [4] X. Liu, M. Tanaka, M. Okutomi, "Practical signal-dependent noise parameter estimation from a single
       noisy image", IEEE Trans. Image Process. 23(10), 4361–4371, 2014.

    Examples
    --------
    >>> import numpy as np
    >>> from deepprior.metrics import noise_sigma
    >>> rng = np.random.default_rng(0)
    >>> round(noise_sigma(0.5 + 0.1 * rng.standard_normal((256, 256))), 2)
    0.1
    """
    y = _as_image(image, "image")
    if y.shape[0] < 2 or y.shape[1] < 2:
        raise InputError(f"image must be at least 2×2, got {y.shape[0]}×{y.shape[1]}")
    if isinstance(patch, bool) or not isinstance(patch, (int, np.integer)) or patch < 2:
        raise InputError(f"patch must be a whole number >= 2, got {patch!r}")
    y = y if y.ndim == 3 else y[..., None]
    whole = _weak_texture_estimate(y, int(patch))
    if whole is None:  # smaller than a patch, or than the patches a covariance needs
        return _haar_sigma(y)
    variance = _channel_lines_variance(y, int(patch)) if y.shape[2] > 1 else None
    if variance is None:
        level = _signal_dependent_level(y, whole)
        variance = whole.variance if level is None else _line_mean(y, level, whole.variance)
    return float(math.sqrt(variance))


#: How far (a factor either way) two readings of one noise variance may differ and still count as agreeing.
_AGREEMENT = 1.5


class _WeakTextureEstimate(NamedTuple):
    """The weak-texture noise variance of an (H, W, C) image, its patches, and which of them it was measured on."""

    variance: float
    patches: _WeakTexturePatches
    weak: np.ndarray


def _weak_texture_estimate(y: np.ndarray, side: int) -> _WeakTextureEstimate | None:
    """Liu, Tanaka and Okutomi's iteration: the noise eigenvalue of the weak-texture patches, the patches whose
    energy noise of that variance would seldom exceed, in turn; None where the image holds too few usable patches."""
    if min(y.shape[:2]) < side:
        return None
    patches = _WeakTexturePatches(y, side)
    if not patches.enough(patches.finite):
        return None
    variance, weak = _noise_eigenvalue(patches.covariance(patches.finite)), patches.finite
    for _ in range(5):
        chosen = patches.weak(variance)
        if not patches.enough(chosen):
            break
        previous, variance, weak = variance, _noise_eigenvalue(patches.covariance(chosen)), chosen
        if abs(variance - previous) <= 1e-3 * previous:
            break
    return _WeakTextureEstimate(variance, patches, weak)


def _line_mean(y: np.ndarray, level: tuple[float, float], otherwise: float) -> float:
    """The variance line's mean over the image's finite pixels (its RMS noise's square), or ``otherwise`` where
    that is not positive."""
    mean = level[0] * float(np.mean(y[np.isfinite(y)])) + level[1]
    return mean if mean > 0 else otherwise


def _signal_dependent_level(y: np.ndarray, estimate: _WeakTextureEstimate) -> tuple[float, float] | None:
    """(a, b) of :func:`noise_level_function`'s line, var = a·μ + b, where it rises at least two-fold from the 5th
    to the 95th percentile of the patches' means and agrees within 1.5× with the weak-texture variance at the mean
    of the patches that it was measured on; else None. On textured images under white noise at σ = 5 the line
    reads the texture as noise and lies 1.7 to 5 times above there (``noise_sigma.md``)."""
    finite = np.isfinite(y)
    known = None if finite.all() else finite.all(axis=2)  # a missing pixel's block is left out of the fit
    try:
        a, b = noise_level_function(np.where(finite, y, 0.5), known)
    except InputError:
        return None
    patches, variance = estimate.patches, estimate.variance
    low, high = np.percentile(patches.means[patches.finite], [5, 95])
    rises = a > 0 and a * high + b >= 2 * max(a * low + b, np.finfo(float).tiny)
    measured = a * float(patches.means[estimate.weak].mean()) + b
    # a flat image's patches may hold no noise
    agrees = variance > 0 and 1 / _AGREEMENT <= measured / variance <= _AGREEMENT
    return (a, b) if rises and agrees else None


def _channel_lines_variance(y: np.ndarray, side: int) -> float | None:
    """The mean over the channels of each one's noise variance (its own line's mean where its noise grows with the
    intensity, its own weak-texture variance where not), where some channel's does and the image stabilised by
    these levels (the generalized Anscombe transform, unit noise in every channel) reads unit noise within 1.25×;
    else None.

    A white-balanced camera's channels hold photons of different sizes, and each patch's colour weights them
    differently: the whole image's weak-texture PCA then reads the quietest channel's noise, and its line none
    that agrees. Channel by channel, 25-dimensional patches read fine texture under white noise as noise, and so
    do their lines; stabilised by such lines the noise then reads well under unit, which refuses them."""
    levels: list[tuple[float, float]] = []
    variances: list[float] = []
    for plane in np.moveaxis(y, 2, 0)[..., None]:
        own = _weak_texture_estimate(plane, side)
        if own is None or own.variance <= 0:
            return None
        level = _signal_dependent_level(plane, own)
        levels.append((0.0, own.variance) if level is None else level)
        variances.append(own.variance if level is None else _line_mean(plane, level, own.variance))
    if all(a == 0 for a, _ in levels):
        return None
    stabilised = np.stack([_unit_noise(y[..., c], a, b) for c, (a, b) in enumerate(levels)], axis=2)
    unit = _weak_texture_estimate(stabilised, side)
    agrees = unit is not None and 1 / _UNIT_AGREEMENT <= unit.variance <= _UNIT_AGREEMENT
    return float(np.mean(variances)) if agrees else None


#: How far from 1 the noise variance of an image stabilised by its channels' levels may read. Photon noise read 0.75
#: to 1 on the 47 colour photographs of ``noise_sigma.md`` at 30 photons at white (mostly 0.85 to 1); lines that
#: took fine texture under white noise at σ = 5 for noise (head's and face's skin, kodim02 and kodim03), 0.6 to 0.8.
_UNIT_AGREEMENT = 1.25


def _unit_noise(plane: np.ndarray, a: float, b: float) -> np.ndarray:
    """The generalized Anscombe transform of a plane whose noise variance is a·μ + b: noise of about unit variance
    (y / √b where a = 0). Where its 5×5 neighbourhood averages under one photon the transform's noise is well under
    unit, and the weak-texture patches are those: NaN there."""
    from scipy.ndimage import uniform_filter

    if a == 0:
        return plane / math.sqrt(b)
    photons = plane / a + b / a**2
    stabilised = 2 * np.sqrt(np.maximum(photons + 0.375, 0))
    return np.where(uniform_filter(photons, 5) >= 1, stabilised, np.nan)


class _WeakTexturePatches:
    """The overlapping patches of an (H, W, C) image at least a patch high and wide, each patch's gradient energy,
    and which patches are usable (finite, and away from a bound where the image is clipped), for
    :func:`noise_sigma`."""

    MAX_PATCHES = 40_000
    # Fewer patches than 20 per dimension spread a covariance's eigenvalues (Marchenko-Pastur) so far that the
    # eigenvalue rule reads low, and on texture every round would select fewer, lower-noise patches: stop there.
    LEAST = 20

    def __init__(self, y: np.ndarray, side: int) -> None:
        from numpy.lib.stride_tricks import sliding_window_view
        from scipy.special import gammaincinv

        height, width, channels = y.shape
        self.size = side * side * channels
        self.windows = sliding_window_view(y, (side, side), axis=(0, 1))  # (H', W', C, side, side), a view
        self.columns = width - side + 1

        def window_sum(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
            return sliding_window_view(values, shape).sum(axis=(-1, -2))[: height - side + 1, : width - side + 1]

        horizontal = window_sum(np.square(np.diff(y, axis=1)).sum(axis=2), (side, side - 1))
        vertical = window_sum(np.square(np.diff(y, axis=0)).sum(axis=2), (side - 1, side))
        self.energy = (horizontal + vertical).ravel()
        self.finite = np.isfinite(self.energy)
        # the energy's 99 % point for noise of unit variance: a sum of squared differences whose quadratic form has
        # trace 2 (per difference) × 2 side (side - 1) differences × channels, about Γ(N/2, 2 trace / N)
        trace = 4 * side * (side - 1) * channels
        self.quantile = gammaincinv(self.size / 2, 0.99) * 2 * trace / self.size
        finite_y = np.where(np.isfinite(y), y, 0.5)
        # an image with values beyond a bound (photon counts over the white of the scale) is not clipped there
        beyond = {0.0: bool(np.any(finite_y < 0)), 1.0: bool(np.any(finite_y > 1))}
        clipped = [bound for bound in (0.0, 1.0) if np.mean(finite_y == bound) > 1e-3 and not beyond[bound]]
        self.means = window_sum(finite_y.mean(axis=2), (side, side)).ravel() / side**2
        self.clipped = clipped

    def weak(self, variance: float) -> np.ndarray:
        """The usable patches whose energy noise of this variance would exceed only 1 % of the time."""
        chosen = self.finite & (self.energy < variance * self.quantile)
        if self.clipped:
            margin = 2 * math.sqrt(variance)
            inside = np.ones_like(chosen)
            for bound in self.clipped:
                inside &= np.abs(self.means - bound) > margin
            if (chosen & inside).sum() >= self.LEAST * self.size:  # else a clipped image keeps them
                chosen &= inside
        return chosen

    def enough(self, chosen: np.ndarray) -> bool:
        """Whether the chosen patches are at least :data:`LEAST` per dimension of their covariance."""
        return int(chosen.sum()) >= self.LEAST * self.size

    def covariance(self, chosen: np.ndarray) -> np.ndarray:
        index = np.flatnonzero(chosen)
        if len(index) > self.MAX_PATCHES:
            index = index[np.linspace(0, len(index) - 1, self.MAX_PATCHES).astype(np.int64)]
        rows, cols = np.divmod(index, self.columns)
        vectors = self.windows[rows, cols].reshape(len(index), self.size)
        centred = vectors - vectors.mean(axis=0)
        return centred.T @ centred / len(index)


def _noise_eigenvalue(covariance: np.ndarray) -> float:
    """Chen et al.'s rule: the mean of the smallest eigenvalues, as many as keep it equal to their median."""
    eigenvalues = np.sort(np.linalg.eigvalsh(covariance))
    for count in range(len(eigenvalues), 0, -1):
        smallest = eigenvalues[:count]
        mean = smallest.mean()
        if np.sum(smallest > mean) == np.sum(smallest < mean):
            return max(float(mean), 0.0)
    return max(float(eigenvalues[0]), 0.0)


def _haar_sigma(y: np.ndarray) -> float:
    """The median absolute finest diagonal Haar coefficient over Φ⁻¹(3/4) (Donoho and Johnstone), pooled over the
    channels of an (H, W, C) image; NaN and infinite values left out."""
    y = y[: y.shape[0] // 2 * 2, : y.shape[1] // 2 * 2]
    detail = (y[0::2, 0::2] - y[0::2, 1::2] - y[1::2, 0::2] + y[1::2, 1::2]) / 2
    detail = detail[np.isfinite(detail)]
    return float(np.median(np.abs(detail)) / _NORMAL_Q3) if detail.size else 0.0


_NORMAL_Q3 = 0.6744897501960817  # Φ⁻¹(3/4): the median of |N(0, 1)|


def noise_level_function(image: np.ndarray, known: np.ndarray | None = None, levels: int = 16) -> tuple[float, float]:
    r"""Estimate signal-dependent noise, :math:`\operatorname{var}(y \mid \mu) = a\,\mu + b`, from one image, blind.

    The Poisson-Gaussian model of a photon-counting sensor (camera, microscope, telescope): :math:`a` is the
    intensity of one photon (electron) in the image's units, :math:`b` the variance of the read noise (negative
    where the sensor adds an offset). After Foi et al. [1]_, simplified: every 2×2 block gives a local mean and
    the diagonal Haar detail of :func:`noise_sigma`, whose variance is the noise's,

    .. math::

        m_{ij} = \tfrac{1}{4}\textstyle\sum y, \qquad
        d_{ij} = \tfrac{1}{2}\,(y_{2i,2j} - y_{2i,2j+1} - y_{2i+1,2j} + y_{2i+1,2j+1});

    the blocks are sorted by :math:`m` into ``levels`` groups of equal size; each group's noise variance is the
    mean of :math:`d^2` over its 90 % smallest values (dropping edges and texture), divided by that share's
    expectation for Gaussian noise; and :math:`(a, b)` is the weighted least-squares line through the groups'
    (mean :math:`m`, variance), weighted by count over variance squared (a variance estimate's spread grows with
    it), refitted once with the line's variances. Blocks not ``known`` are left out. :math:`a` is at least 0.

    Where the noise is clipped at 0 or 1 (dark images whose read noise is cut at black, highlights at white:
    more than 5 % of some group's blocks touch a bound; an image with values below 0 or above 1 is taken as not
    clipped there), the model is Foi et al.'s clipped one (§4): a group's pixels are
    :math:`\min(\max(z, 0), 1)` with :math:`z \sim N(\mu, a\mu + b)`. The blocks are then grouped by the mean of
    their 12 neighbours in the 4×4 window around them (a clipped block's own mean and detail are not independent),
    groups with less than 5 % of their pixels strictly between 0 and 1 are left out, and :math:`(a, b)` are fitted
    by weighted least squares of the groups' variances against the clipped model's: each group's :math:`\mu` is
    the one whose clipped mean is the group's (closed form, by bisection), and the variance that the trimmed
    second moment finds in clipped noise is computed on fixed draws of standard noise. Zeros are photon counts,
    not clipped noise, where they sit on the lattice of whole photons: the smallest positive pixels are one value
    within a third of the :math:`a` fitted with the zeros as counts (a photon-counting detector's dark pixels).

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W)`` or ``(H, W, C)`` float array in [0, 1], at least 2×2; channels are pooled (one model for all;
        :func:`channel_noise_levels` fits one per channel where they differ).
    known : numpy.ndarray, optional
        ``(H, W)`` bool, False where a pixel is missing.
    levels : int
        How many intensity groups the line is fitted through (fewer where the image has few blocks).

    Returns
    -------
    tuple of float
        :math:`(a, b)` in the image's units.

    Raises
    ------
    InputError
        If the image is not 2-D or 3-D, ``known`` is not its size, or it has fewer than two intensity groups of
        64 known blocks with noise to measure (not all at 0 or 1).

    References
    ----------
    .. [1] A. Foi, M. Trimeche, V. Katkovnik, K. Egiazarian, "Practical Poissonian-Gaussian noise modeling and
       fitting for single-image raw-data", IEEE Trans. Image Process. 17(10), 1737–1754, 2008.
       :DOI:`10.1109/TIP.2008.2001399`

    Examples
    --------
    >>> import numpy as np
    >>> from deepprior.metrics import noise_level_function
    >>> rng = np.random.default_rng(0)
    >>> clean = np.tile(np.linspace(0.05, 0.95, 512), (512, 1))
    >>> noisy = rng.poisson(clean * 200) / 200 + 0.01 * rng.standard_normal(clean.shape)
    >>> a, b = noise_level_function(noisy)
    >>> round(a * 200, 1), round(float(np.sqrt(max(b, 0))), 2)  # 1 / 200 per photon, read noise 0.01
    (1.0, 0.01)
    """
    a, b, _ = _fit_level(_level_groups(image, known, levels))
    return a, b


def channel_noise_levels(
    image: np.ndarray, known: np.ndarray | None = None, levels: int = 16, significance: float = 0.01
) -> list[tuple[float, float] | None]:
    r"""The noise level function :math:`(a_c, b_c)` of each channel (:func:`noise_level_function` on its
    pixels alone), or one :math:`(a, b)` for all where the channels' levels do not differ.

    A white-balanced colour camera multiplies each channel by its own gain, so its photons differ in size by
    channel; a monochrome scale does not, and one line fitted to every channel's intensity groups is then better
    determined than three. The choice is an F-test of the nested weighted least-squares fits: with :math:`R_c` the
    weighted residual sum of squares of channel :math:`c`'s own line through its :math:`n_c` groups and
    :math:`R` that of one line through all :math:`N = \sum n_c` groups of the :math:`k` channels with a level,

    .. math::

        F = \frac{(R - \sum_c R_c) / (2k - 2)}{\sum_c R_c / (N - 2k)},

    the channels keep their own lines where :math:`F` exceeds the F distribution's :math:`1 -` ``significance``
    quantile, and share the one line otherwise.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W)`` or ``(H, W, C)`` float array in [0, 1].
    known : numpy.ndarray, optional
        ``(H, W)`` bool, False where a pixel is missing.
    levels : int
        How many intensity groups each channel's line is fitted through.
    significance : float
        The test's level: the chance of keeping separate lines for channels whose noise is the same.

    Returns
    -------
    list of (float, float) or None
        One :math:`(a, b)` per channel in the image's units; None for a channel without a level (too few usable
        blocks, or no noise: :math:`a = 0,\ b \le 0`), which the shared line does not fill in.

    Raises
    ------
    InputError
        If the image is not 2-D or 3-D, ``known`` is not its size, or ``significance`` is not in (0, 1).

    Examples
    --------
    >>> import numpy as np
    >>> from deepprior.metrics import channel_noise_levels
    >>> rng = np.random.default_rng(0)
    >>> clean = np.tile(np.linspace(0.05, 0.95, 256), (256, 1))[..., None].repeat(3, axis=2)
    >>> photon = np.array([2, 1, 1.5]) / 200  # a white-balanced camera's channels
    >>> levels = channel_noise_levels(rng.poisson(clean / photon) * photon)
    >>> [round(float(a / p), 1) for (a, b), p in zip(levels, photon)]
    [1.0, 1.0, 1.0]
    >>> levels = channel_noise_levels(rng.poisson(clean * 200) / 200)  # one photon size: one line
    >>> levels[0] == levels[1] == levels[2]
    True
    """
    from scipy.stats import f as f_distribution

    if not 0 < significance < 1:
        raise InputError(f"significance must be in (0, 1), got {significance}")
    y = _as_image(image, "image")
    _check_known(y, known)
    fits: list[tuple[float, float, float] | None] = []
    groups: list[_LevelGroups] = []
    for plane in [y] if y.ndim == 2 else np.moveaxis(y, 2, 0):
        try:
            found = _level_groups(plane, known, levels)
        except InputError:  # too few usable blocks
            fits.append(None)
            continue
        fit = _fit_level(found)
        has_noise = fit[0] > 0 or fit[1] > 0  # else (0, <= 0): no noise to model
        groups += [found] if has_noise else []
        fits.append(fit if has_noise else None)
    k, n = len(groups), sum(found.mean.size for found in groups)
    if k >= 2 and n > 2 * k:
        shared = _fit_level(_pool_groups(groups))
        own = sum(fit[2] for fit in fits if fit is not None)
        between = max(shared[2] - own, 0.0) / (2 * k - 2)
        if own > 0:
            separate = f_distribution.sf(between / (own / (n - 2 * k)), 2 * k - 2, n - 2 * k) < significance
        else:  # every channel's line exact: separate unless the shared one is exact too
            separate = between > 0
        if not separate:
            return [None if fit is None else (shared[0], shared[1]) for fit in fits]
    return [None if fit is None else (fit[0], fit[1]) for fit in fits]


def _check_known(y: np.ndarray, known: np.ndarray | None) -> None:
    """Raise InputError unless ``known`` is None or the size of the image ``y``."""
    if known is not None and np.shape(known) != y.shape[:2]:
        raise InputError(f"known must be {y.shape[0]}×{y.shape[1]} like the image, got {np.shape(known)}")


class _LevelGroups(NamedTuple):
    """Intensity groups of 2×2 blocks: each group's mean, noise variance (its details' trimmed second moment over
    that of Gaussian noise) and block count; ``bounds``: where the noise is clipped, the (lower, upper) bound of
    each group's pixels (±inf where not clipped), for :func:`_fit_clipped`; None where no group is clipped (a line
    fits them)."""

    mean: np.ndarray
    variance: np.ndarray
    count: np.ndarray
    bounds: np.ndarray | None = None


def _pool_groups(groups: list[_LevelGroups]) -> _LevelGroups:
    """The groups of several channels as one set."""
    pooled = [np.concatenate(parts) for parts in zip(*(found[:3] for found in groups), strict=True)]
    if all(found.bounds is None for found in groups):
        return _LevelGroups(*pooled)
    bounds = [_UNBOUNDED.repeat(found.mean.size, axis=0) if found.bounds is None else found.bounds for found in groups]
    return _LevelGroups(*pooled, bounds=np.concatenate(bounds))


class _Blocks(NamedTuple):
    """The known 2×2 blocks of an image: rows of 4 pixels, their means and details, and their split into equal
    intensity groups (each group's indices, and each block's group)."""

    pixels: np.ndarray
    means: np.ndarray
    details: np.ndarray
    groups: list[np.ndarray]
    labels: np.ndarray


def _grouped_blocks(pixels: np.ndarray, keys: np.ndarray | None, levels: int, stable: bool = True) -> _Blocks:
    """The blocks ``pixels`` (n, 4) split into ``levels`` equal groups by ``keys`` (None: their own means)."""
    means = pixels.mean(axis=1)
    groups = _equal_groups(means if keys is None else keys, levels, stable)
    labels = np.empty(len(pixels), np.intp)
    for index, group in enumerate(groups):
        labels[group] = index
    details = (pixels[:, 0] - pixels[:, 1] - pixels[:, 2] + pixels[:, 3]) / 2
    return _Blocks(pixels, means, details, groups, labels)


def _level_groups(image: np.ndarray, known: np.ndarray | None, levels: int) -> _LevelGroups:
    """The intensity groups of :func:`noise_level_function`: its zeros taken as photon counts where they sit on
    the lattice of whole photons, else as noise clipped at 0; grouped by the blocks' own means where no group has
    more than :data:`_CLIPPED_SHARE` of its blocks at a bound (a line fits them), else by their neighbours'
    (:func:`_blocks_by_neighbours`, and :func:`_fit_clipped`)."""
    y = _as_image(image, "image")
    if y.ndim == 2:
        y = y[..., None]
    _check_known(y, known)
    by_mean = _blocks_by_mean(y, known, levels)
    by_neighbours = cache(lambda: _blocks_by_neighbours(y, known, levels))

    def groups_within(bounds: tuple[float, float]) -> _LevelGroups:
        try:
            unclipped, left_out = _summarise(by_mean, bounds, clipped=False)
        except InputError:
            unclipped, left_out = None, 1
        if not left_out:
            return unclipped
        try:
            return _summarise(by_neighbours(), bounds, clipped=True)[0]
        except InputError:
            if unclipped is None:
                raise
            return unclipped

    lower, upper = (0.0 if y.min() >= 0 else -np.inf), (1.0 if y.max() <= 1 else np.inf)  # where clipped
    if lower == 0:  # zeros as photon counts (a photon-counting detector's dark pixels), not as clipped noise?
        try:
            counted = groups_within((-np.inf, upper))
        except InputError:
            counted = None
        if counted is not None and _photon_lattice(by_mean.pixels, _fit_level(counted)[0]):
            return counted
    return groups_within((lower, upper))


def _blocks_by_mean(y: np.ndarray, known: np.ndarray | None, levels: int) -> _Blocks:
    """The known blocks of the image ``y`` (H, W, C), grouped by their own means."""
    height, width = y.shape[0] // 2 * 2, y.shape[1] // 2 * 2
    blocks = np.moveaxis(y[:height, :width].reshape(height // 2, 2, width // 2, 2, -1), (1, 3), (-2, -1))
    if known is None:
        pixels = blocks.reshape(-1, 4)
    else:
        whole = np.asarray(known, bool)[:height, :width].reshape(height // 2, 2, width // 2, 2).all(axis=(1, 3))
        pixels = blocks[whole].reshape(-1, 4)
    return _grouped_blocks(pixels, None, levels)


def _blocks_by_neighbours(y: np.ndarray, known: np.ndarray | None, levels: int) -> _Blocks:
    """The blocks of the image ``y`` (H, W, C) whose 4×4 window around them is known, grouped by the mean of their
    12 neighbours in it, not by their own: where the noise is clipped, a block's mean and detail are no longer
    independent (a block of zeros has no detail), so sorting by its own mean would pick blocks by their noise."""
    height, width = y.shape[0] // 2, y.shape[1] // 2
    if height < 3 or width < 3:
        raise InputError(f"image must be at least 6×6 to fit clipped noise, got {y.shape[0]}×{y.shape[1]}")
    y = y[: 2 * height, : 2 * width]
    first = 2 * np.arange(1, height - 1) - 1, 2 * np.arange(1, width - 1) - 1  # each window's first row, column

    def window_sums(values: np.ndarray) -> np.ndarray:
        total = np.pad(values.cumsum(axis=0).cumsum(axis=1), ((1, 0), (1, 0), (0, 0)))
        (top, left), (bottom, right) = np.ix_(*first), np.ix_(first[0] + 4, first[1] + 4)
        return total[bottom, right] - total[top, right] - total[bottom, left] + total[top, left]

    blocks = y.reshape(height, 2, width, 2, -1)[1:-1, :, 1:-1]
    neighbours = (window_sums(y) - blocks.sum(axis=(1, 3))) / 12  # (h/2 - 2, w/2 - 2, C)
    usable = np.ones(neighbours.shape, bool)
    if known is not None:
        usable &= window_sums(np.asarray(known, np.float64)[: 2 * height, : 2 * width, None]) == 16
    pixels = np.moveaxis(blocks, (1, 3), (-2, -1))[usable].reshape(-1, 4)
    return _grouped_blocks(pixels, neighbours[usable], levels, stable=False)


def _equal_groups(keys: np.ndarray, levels: int, stable: bool = True) -> list[np.ndarray]:
    """The indices of ``keys`` split by size into ``levels`` groups of equal size, lowest first (fewer where they
    would have fewer than :data:`_MIN_BLOCKS_PER_LEVEL`): sorted stably, or, not ``stable``, only partitioned at
    the groups' edges (faster; ties across an edge may fall either side)."""
    count = max(1, min(int(levels), keys.size // _MIN_BLOCKS_PER_LEVEL))
    if stable or count == 1:
        return np.array_split(np.argsort(keys, kind="stable"), count)
    edges = np.cumsum([part.size for part in np.array_split(np.empty(keys.size, bool), count)])[:-1]
    return np.split(np.argpartition(keys, edges), edges)


def _summarise(blocks: _Blocks, bounds: tuple[float, float], clipped: bool) -> tuple[_LevelGroups, int]:
    """The intensity groups of the ``blocks`` (mean, noise variance, count), and how many were left out: where the
    noise is taken as not ``clipped``, groups with more than :data:`_CLIPPED_SHARE` of their blocks at a bound;
    where it is, groups with less than :data:`_MIN_INSIDE_SHARE` of their pixels inside the bounds (no noise left
    to measure)."""
    lower, upper = bounds
    pixels, groups, labels = blocks.pixels, blocks.groups, blocks.labels
    if clipped:  # per block: its pixels inside the bounds, of 4...
        per_block = ((pixels > lower) & (pixels < upper)).sum(axis=1) / 4
    else:  # ... or whether it touches a bound (clipping shrinks the variance near them)
        per_block = ((pixels <= lower) | (pixels >= upper)).any(axis=1)
    sizes = np.bincount(labels, minlength=len(groups))
    shares = np.bincount(labels, per_block, minlength=len(groups)) / np.maximum(sizes, 1)
    means = np.bincount(labels, blocks.means, minlength=len(groups)) / np.maximum(sizes, 1)
    usable = sizes >= _MIN_BLOCKS_PER_LEVEL
    unusable = usable & ((shares < _MIN_INSIDE_SHARE) if clipped else (shares > _CLIPPED_SHARE))
    level_means, level_variances, counts = [], [], []
    for index in np.flatnonzero(usable & ~unusable):
        level_means.append(means[index])
        level_variances.append(_noise_variance(blocks.details[groups[index]]))
        counts.append(groups[index].size)
    left_out = int(unusable.sum())
    if len(counts) < 2:
        rule = (
            f"with at least {_MIN_INSIDE_SHARE:.0%} of their pixels strictly between 0 and 1"
            if clipped
            else f"with at most {_CLIPPED_SHARE:.0%} of them touching 0 or 1"
        )
        raise InputError(
            "too few 2×2 blocks to fit a noise level function: it needs two intensity levels of "
            f"{_MIN_BLOCKS_PER_LEVEL} known blocks, {rule}"
        )
    found = np.array(level_means), np.array(level_variances), np.array(counts, float)
    return _LevelGroups(*found, bounds=np.tile(np.array(bounds), (len(counts), 1)) if clipped else None), left_out


def _photon_lattice(pixels: np.ndarray, a: float) -> bool:
    """Whether ``pixels`` at zero are photon counts of zero rather than noise clipped at 0: there are zeros, and
    the smallest positive pixels (up to one and a half times the :data:`_MIN_SINGLE_PHOTONS`-th smallest) are one
    value, a single photon within a third of the fitted photon ``a`` (clipped read noise spreads them between 0
    and that). The window does not hang on ``a``, which the Gaussian fit overestimates at a photon or two."""
    positive = pixels[pixels > 0]
    if a <= 0 or positive.size == pixels.size or positive.size < _MIN_SINGLE_PHOTONS:
        return False  # no zeros, or too few single photons to tell
    smallest = np.partition(positive, _MIN_SINGLE_PHOTONS - 1)[_MIN_SINGLE_PHOTONS - 1]
    single = positive[positive < 1.5 * smallest]
    step = float(np.median(single))
    off_lattice = np.count_nonzero(np.abs(single - step) > 0.25 * step)
    return abs(step - a) <= a / 3 and off_lattice <= _OFF_LATTICE_SHARE * single.size


def _noise_variance(details: np.ndarray) -> float:
    """The noise variance of a group's ``details``: the mean of their :data:`_KEPT_SHARE` smallest squares (the
    rest: edges and texture) over that share's for Gaussian noise."""
    squares = np.sort(details**2)[: max(1, int(_KEPT_SHARE * details.size))]
    return float(squares.mean() / _KEPT_SECOND_MOMENT)


def _fit_level(groups: _LevelGroups) -> tuple[float, float, float]:
    """The noise level function (a, b) through the ``groups`` and its weighted residual sum of squares."""
    return _fit_level_line(groups) if groups.bounds is None else _fit_clipped(groups)


def _fit_level_line(groups: _LevelGroups) -> tuple[float, float, float]:
    """The weighted least-squares line (a, b) through the groups' (mean, variance), and its weighted residual sum
    of squares (weights: count over the line's variance squared)."""
    mu, variance, count = groups[:3]
    line = variance
    for _ in range(2):  # weights from the observed variances, then from the fitted line's
        weights = count / np.maximum(line, 1e-12) ** 2
        design = np.stack([mu, np.ones_like(mu)], axis=1) * np.sqrt(weights)[:, None]
        (a, b), *_ = np.linalg.lstsq(design, variance * np.sqrt(weights), rcond=None)
        if a < 0:  # no signal dependence: a constant variance, the weighted mean
            a, b = 0.0, float(np.sum(weights * variance) / np.sum(weights))
        line = np.maximum(a * mu + b, variance.min())
    weights = count / np.maximum(line, 1e-12) ** 2
    return float(a), float(b), float(np.sum(weights * (variance - (a * mu + b)) ** 2))


def _fit_clipped(groups: _LevelGroups) -> tuple[float, float, float]:
    r"""The noise level function (a, b) of clipped noise through the groups' (mean, variance), and its weighted
    residual sum of squares (weights as :func:`_fit_level_line`'s).

    Each group's pixels are taken as :math:`\tilde z = \min(\max(z, l), u)`, :math:`z \sim N(\mu, a\mu + b)`, with
    the group's bounds :math:`l, u` (Foi et al. 2008, §4): for a trial (a, b), the group's :math:`\mu` is the one
    whose clipped mean is the group's mean (:func:`_clipped_intensity`), and its variance is compared with that
    which :func:`_noise_variance` finds in the clipped noise (:func:`_clipped_detail_variance`); (a, b) are those
    of the least weighted squares, from the line through the groups as a start."""
    from scipy.optimize import least_squares

    mean, variance, count, bounds = groups
    start = _fit_level_line(groups)
    scale = np.array([variance.max() / max(np.abs(mean).max(), 1e-12), variance.max()]) + 1e-30

    def residuals(p: np.ndarray) -> np.ndarray:
        a, b = p * scale
        mu = _clipped_intensity(mean, a, b, bounds)
        predicted = np.maximum(_clipped_detail_variance(mu, a, b, bounds), 1e-30)
        return np.sqrt(count) * (variance - predicted) / predicted

    x0 = np.array([max(start[0] / scale[0], 1e-6), start[1] / scale[1]])
    fit = least_squares(residuals, x0, bounds=([0, -np.inf], [np.inf, np.inf]), diff_step=1e-3)
    a, b = fit.x * scale
    return float(a), float(b), float(np.sum(fit.fun**2))


def _clipped_intensity(mean: np.ndarray, a: float, b: float, bounds: np.ndarray) -> np.ndarray:
    """The intensities μ whose noise of variance a μ + b, clipped at the ``bounds``, has the ``mean``s: by
    bisection (the clipped mean grows with μ) within ten of the largest noise σ of the ``mean``s' range."""
    reach = 10 * math.sqrt(max(a * np.abs(mean).max() + b, _TINY_VARIANCE))
    low, high = np.full_like(mean, mean.min() - reach), np.full_like(mean, mean.max() + reach)
    for _ in range(50):
        middle = (low + high) / 2
        above = _clipped_mean(middle, _noise_sigma(middle, a, b), bounds) > mean
        low, high = np.where(above, low, middle), np.where(above, middle, high)
    return (low + high) / 2


def _noise_sigma(mu: np.ndarray, a: float, b: float) -> np.ndarray:
    """The noise σ at the intensities ``mu`` of the trial noise level function (a, b), at least a tiny one."""
    return np.sqrt(np.maximum(a * mu + b, _TINY_VARIANCE))


def _clipped_mean(mu: np.ndarray, sigma: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    r"""The mean of :math:`\min(\max(z, l), u)` for :math:`z \sim N(\mu, \sigma^2)`, (l, u) each row of
    ``bounds`` (±inf: not clipped)."""
    from scipy.special import ndtr

    lower, upper = bounds[:, 0], bounds[:, 1]
    low, high = (lower - mu) / sigma, (upper - mu) / sigma
    inside = mu * (ndtr(high) - ndtr(low)) + sigma * (np.exp(-0.5 * low**2) - np.exp(-0.5 * high**2)) / _SQRT_2PI
    with np.errstate(invalid="ignore"):  # 0 · inf where a side is not clipped
        return inside + np.nan_to_num(lower * ndtr(low)) + np.nan_to_num(upper * ndtr(-high))


def _clipped_detail_variance(mu: np.ndarray, a: float, b: float, bounds: np.ndarray) -> np.ndarray:
    """The noise variance that :func:`_noise_variance` finds in the details of 2×2 blocks of noise of variance
    a μ + b about the intensities ``mu``, clipped at the ``bounds``, one per row: on fixed draws of standard noise,
    over what it finds in them unclipped (so exact where nothing is clipped)."""
    draws, unclipped = _standard_blocks()
    sigma = _noise_sigma(mu, a, b)
    pixels = np.clip(mu[:, None, None] + sigma[:, None, None] * draws, bounds[:, :1, None], bounds[:, 1:, None])
    details = (pixels[..., 0] - pixels[..., 1] - pixels[..., 2] + pixels[..., 3]) / 2
    kept = int(_KEPT_SHARE * draws.shape[0])
    return np.partition(details**2, kept, axis=1)[:, :kept].mean(axis=1) / unclipped


@cache
def _standard_blocks() -> tuple[np.ndarray, float]:
    """Fixed draws of 2×2 blocks of standard Gaussian noise (seeded: the fit is deterministic), and their details'
    kept second moment relative to the noise variance."""
    draws = np.random.default_rng(0).standard_normal((_CLIPPED_DRAWS, 4))
    details = (draws[:, 0] - draws[:, 1] - draws[:, 2] + draws[:, 3]) / 2
    kept = int(_KEPT_SHARE * _CLIPPED_DRAWS)
    return draws, float(np.partition(details**2, kept)[:kept].mean())


#: Of each intensity group's squared details, the share kept (the rest: edges and texture)...
_KEPT_SHARE = 0.9
#: ... and the mean of the kept share of Z² for Z ~ N(0, 1), relative to 1: E[Z²; |Z| < q] / P(|Z| < q) with
#: q = Φ⁻¹(1 − (1 − share)/2), i.e. 1 − 2 q φ(q) / share.
_KEPT_SECOND_MOMENT = 1 - 2 * 1.6448536269514722 * 0.10313564037537128 / _KEPT_SHARE
#: The fewest blocks an intensity group may have.
_MIN_BLOCKS_PER_LEVEL = 64
#: A group with more of its blocks touching 0 or 1 (clipped; at 0, unless the zeros are photon counts) is left out.
_CLIPPED_SHARE = 0.05
#: A group of clipped noise with a smaller share of its pixels inside the bounds is left out.
_MIN_INSIDE_SHARE = 0.05
#: How many blocks of standard noise :func:`_clipped_detail_variance` draws.
_CLIPPED_DRAWS = 8192
#: The least variance a trial noise level function takes (below zero, it is not one).
_TINY_VARIANCE = 1e-12
#: Rows of no clipping: (lower, upper) bounds.
_UNBOUNDED = np.array([[-np.inf, np.inf]])
_SQRT_2PI = math.sqrt(2 * math.pi)
#: Of the pixels between 0 and one and a half photons, the share that counts may have off one photon (rounding)...
_OFF_LATTICE_SHARE = 0.05
#: ... and how many such pixels it takes to tell counts from clipped noise.
_MIN_SINGLE_PHOTONS = 32


# --------------------------------------------------------------------------- torch helpers


def _torch_pair(x: torch.Tensor, ref: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or not isinstance(ref, torch.Tensor):
        raise InputError("x and ref must be torch tensors")
    if x.shape != ref.shape:
        raise InputError(f"shape mismatch: x has shape {tuple(x.shape)}, ref has shape {tuple(ref.shape)}")
    if x.device != ref.device:
        raise InputError(f"x is on {x.device} but ref is on {ref.device}")
    if x.numel() == 0:
        raise InputError("x and ref are empty")


def mse_torch(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Mean squared error over all elements, as a 0-dim float32 (or float64) tensor on the device.

    No host synchronisation: the result stays on the tensors' device.  Gradients
    flow through if the inputs require them.

    Raises
    ------
    InputError
        On a shape or device mismatch.
    """
    _torch_pair(x, ref)
    dtype = torch.float64 if torch.float64 in (x.dtype, ref.dtype) else torch.float32
    return torch.mean(torch.square(x.to(dtype) - ref.to(dtype)))


def psnr_torch(x: torch.Tensor, ref: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """PSNR in dB, ``10 log10(data_range^2 / MSE)``, as a 0-dim tensor on the device.

    Meant for logging inside the training loop without a host sync (call
    ``.item()`` only when the value is printed).  Identical inputs give ``inf``.

    Parameters
    ----------
    x, ref : torch.Tensor
        Tensors of the same shape and device (e.g. (1, C, H, W)), values in
        ``[0, data_range]``.
    data_range : float, optional
        Peak-to-peak range, 1.0 by default.

    Returns
    -------
    torch.Tensor
        0-dim float32 tensor (float64 if an input is float64).

    Raises
    ------
    InputError
        On a shape or device mismatch or a non-positive ``data_range``.
    """
    data_range = _check_data_range(data_range)
    mse = mse_torch(x, ref)
    return 20.0 * math.log10(data_range) - 10.0 * torch.log10(mse)
