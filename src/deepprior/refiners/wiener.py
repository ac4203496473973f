"""Empirical Wiener filtering of a noisy image in groups of similar patches, with the network's output as the pilot."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from ..registry import REFINERS

if TYPE_CHECKING:
    import torch

# BM3D's opponent colour transform with its rows scaled to unit length: an orthogonal matrix, so white noise of
# standard deviation σ in RGB stays white with the same σ in each opponent channel.
_OPPONENT = np.array(
    [
        [1 / math.sqrt(3), 1 / math.sqrt(3), 1 / math.sqrt(3)],
        [1 / math.sqrt(2), 0.0, -1 / math.sqrt(2)],
        [1 / math.sqrt(6), -2 / math.sqrt(6), 1 / math.sqrt(6)],
    ]
)


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
    :math:`\hat x` alike, and transformed by a 3-D orthonormal DCT (2-D over each patch, 1-D along the stack).
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
    import torch

    y_arr = _check_image(y, "y")
    pilot_arr = _check_image(pilot, "pilot")
    if y_arr.shape != pilot_arr.shape:
        raise InputError(f"the pilot is shaped {pilot_arr.shape} but y is {y_arr.shape}")
    if sigma is None:
        from ..metrics import noise_sigma

        sigma = noise_sigma(y_arr)
    if not (isinstance(sigma, (int, float, np.floating)) and math.isfinite(sigma) and sigma >= 0):
        raise InputError(f"sigma must be a finite number >= 0, got {sigma!r}")
    for name, value, least in (("patch", patch, 2), ("group", group, 1), ("window", window, 1), ("step", step, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise InputError(f"{name} must be a whole number >= {least}, got {value!r}")
    if window % 2 == 0:
        raise InputError(f"window must be odd (a search area centred on the patch), got {window}")
    squeeze = y_arr.ndim == 2
    if squeeze:
        y_arr, pilot_arr = y_arr[..., None], pilot_arr[..., None]
    if sigma == 0:
        out = pilot_arr
    else:
        colour = y_arr.shape[2] == 3
        if colour:
            y_arr, pilot_arr = y_arr @ _OPPONENT.T, pilot_arr @ _OPPONENT.T
        to = {"device": device, "dtype": torch.float32}
        yt = torch.as_tensor(np.moveaxis(y_arr, 2, 0), **to).contiguous()
        pt = torch.as_tensor(np.moveaxis(pilot_arr, 2, 0), **to).contiguous()
        b = int(min(patch, *y_arr.shape[:2]))
        with torch.no_grad():
            rows, cols = _match(pt[0], b, int(group), int(window) // 2, int(step))
            out_t = _collaborative_wiener(yt, pt, float(sigma), rows, cols, b)
        out = np.moveaxis(out_t.cpu().numpy().astype(np.float64), 0, 2)
        if colour:
            out = out @ _OPPONENT  # the inverse of an orthogonal matrix is its transpose
    out = np.clip(out, 0.0, 1.0).astype(np.float32)
    return out[..., 0] if squeeze else out


def _check_image(image: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim not in (2, 3) or min(arr.shape[:2]) < 1:
        raise InputError(f"{name} must be an (H, W) or (H, W, C) image, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise InputError(f"{name} holds NaN or infinite values")
    return arr


def _dct_matrix(n: int, device: torch.device) -> torch.Tensor:
    """The orthonormal DCT-II matrix C (n × n): the DCT of a patch X is C X Cᵀ."""
    import torch

    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    c = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2 / n)
    c[0] /= math.sqrt(2)
    return c.to(device=device, dtype=torch.float32)


def _references(n: int, step: int, device: torch.device) -> torch.Tensor:
    import torch

    grid = list(range(0, n, step))
    return torch.tensor(grid if grid[-1] == n - 1 else [*grid, n - 1], device=device)


def _match(
    image: torch.Tensor, b: int, group: int, radius: int, step: int, offsets_per_chunk: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    """Block matching on one (H, W) channel: the top-left corners (rows, cols), each (references, group), of the
    ``group`` patches nearest each reference patch within ``radius``; the reference itself comes first."""
    import torch
    import torch.nn.functional as F

    height, width = image.shape
    ref_i, ref_j = torch.meshgrid(
        _references(height - b + 1, step, image.device), _references(width - b + 1, step, image.device), indexing="ij"
    )
    ref_i, ref_j = ref_i.reshape(-1), ref_j.reshape(-1)
    span = range(-radius, radius + 1)
    offsets = torch.tensor([(di, dj) for di in span for dj in span], device=image.device)
    group = min(group, len(offsets))
    padded = F.pad(image[None, None], (radius,) * 4, value=float("nan"))[0, 0]  # NaN: a partner off the image
    best = torch.empty(ref_i.numel(), 0, device=image.device)
    chosen = torch.empty(ref_i.numel(), 0, dtype=torch.long, device=image.device)
    for start in range(0, len(offsets), offsets_per_chunk):
        distances = []
        for di, dj in offsets[start : start + offsets_per_chunk].tolist():
            partner = padded[radius + di : radius + di + height, radius + dj : radius + dj + width]
            box = F.avg_pool2d((image - partner).square()[None, None], b, stride=1)[0, 0]
            distances.append(box[ref_i, ref_j])
        found = torch.nan_to_num(torch.stack(distances, 1), nan=math.inf)
        if start <= len(offsets) // 2 < start + found.shape[1]:
            found[:, len(offsets) // 2 - start] = -1.0  # the reference leads its group, even among equals
        index = torch.arange(start, start + found.shape[1], device=image.device).expand_as(found)
        best, keep = torch.cat([best, found], 1).topk(min(group, best.shape[1] + found.shape[1]), 1, largest=False)
        chosen = torch.cat([chosen, index], 1).gather(1, keep)
    valid = torch.isfinite(best)  # fewer candidates than the group on a tiny image: the reference repeats
    rows = torch.where(valid, ref_i[:, None] + offsets[chosen, 0], ref_i[:, None])
    cols = torch.where(valid, ref_j[:, None] + offsets[chosen, 1], ref_j[:, None])
    return rows, cols


def _stack_transform(
    image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, patch_dct: torch.Tensor, stack_dct: torch.Tensor
) -> torch.Tensor:
    """The 3-D DCT of the stacks of (C, H, W) ``image`` whose pixels are at ``rows``, ``cols``: (C, groups, N2, b,
    b), the patch DCT then the DCT along each stack."""
    import torch

    return torch.einsum("nk,cgkij->cgnij", stack_dct, patch_dct @ image[:, rows, cols] @ patch_dct.T)


def _collaborative_wiener(
    y: torch.Tensor,
    pilot: torch.Tensor,
    sigma: float,
    rows: torch.Tensor,
    cols: torch.Tensor,
    b: int,
    groups_per_chunk: int = 1024,
) -> torch.Tensor:
    """Wiener-filter (C, H, W) y in the groups whose patch corners are ``rows``, ``cols`` and aggregate."""
    import torch

    channels, height, width = y.shape
    patch_dct = _dct_matrix(b, y.device)
    stack_dct = _dct_matrix(rows.shape[1], y.device)
    offset = torch.arange(b, device=y.device)
    numerator = torch.zeros(channels, height * width, device=y.device)
    denominator = torch.zeros_like(numerator)
    for start in range(0, rows.shape[0], groups_per_chunk):
        r = rows[start : start + groups_per_chunk, :, None, None] + offset[:, None]  # (groups, N2, b, 1)
        c = cols[start : start + groups_per_chunk, :, None, None] + offset  # (groups, N2, 1, b)
        signal = _stack_transform(pilot, r, c, patch_dct, stack_dct).square()
        gain = signal / (signal + sigma**2)
        weight = 1.0 / (sigma**2 * gain.square().sum(dim=(2, 3, 4))).clamp_min(1e-12)  # (C, groups)
        estimate = gain * _stack_transform(y, r, c, patch_dct, stack_dct)
        estimate = torch.einsum("nk,cgnij->cgkij", stack_dct, estimate)
        estimate = patch_dct.T @ estimate @ patch_dct * weight[..., None, None, None]
        where = (r * width + c).reshape(-1)
        numerator.index_add_(1, where, estimate.reshape(channels, -1))
        denominator.index_add_(1, where, weight[..., None, None, None].expand_as(estimate).reshape(channels, -1))
    return (numerator / denominator).reshape(channels, height, width)


__all__ = ["wiener_refine"]
