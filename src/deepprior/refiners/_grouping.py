"""The machinery that BM3D's two stages share (Dabov et al. 2007): checks, the opponent colour space, block
matching, the 3-D transform of groups of patches and the weighted aggregation of the filtered patches."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError

if TYPE_CHECKING:
    import torch

    # (coefficients of y's groups, (rows, cols) of their pixels) → (filtered coefficients, weight per channel and
    # group); the transforms are :func:`transform_groups`'
    Shrink = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

# BM3D's opponent colour transform with its rows scaled to unit length: an orthogonal matrix, so white noise of
# standard deviation σ in RGB stays white with the same σ in each opponent channel.
OPPONENT = np.array(
    [
        [1 / math.sqrt(3), 1 / math.sqrt(3), 1 / math.sqrt(3)],
        [1 / math.sqrt(2), 0.0, -1 / math.sqrt(2)],
        [1 / math.sqrt(6), -2 / math.sqrt(6), 1 / math.sqrt(6)],
    ]
)


def check_image(image: np.ndarray, name: str) -> np.ndarray:
    """``image`` as a float64 array, refused unless it is a finite (H, W) or (H, W, C) image."""
    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim not in (2, 3) or min(arr.shape[:2]) < 1:
        raise InputError(f"{name} must be an (H, W) or (H, W, C) image, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise InputError(f"{name} holds NaN or infinite values")
    return arr


def check_pilot(pilot: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``pilot`` as :func:`check_image` returns it, refused unless it is shaped as the checked ``y``."""
    pilot_arr = check_image(pilot, "pilot")
    if y.shape != pilot_arr.shape:
        raise InputError(f"the pilot is shaped {pilot_arr.shape} but y is {y.shape}")
    return pilot_arr


def check_sigma(sigma: float | None, y: np.ndarray) -> float:
    """σ as given, or (None) estimated from y (:func:`deepprior.metrics.noise_sigma`); refused unless finite ≥ 0."""
    if sigma is None:
        from ..metrics import noise_sigma

        sigma = noise_sigma(y)
    if not (isinstance(sigma, (int, float, np.floating)) and math.isfinite(sigma) and sigma >= 0):
        raise InputError(f"sigma must be a finite number >= 0, got {sigma!r}")
    return float(sigma)


def check_sizes(patch: int, group: int, window: int, step: int) -> None:
    """Refuse sizes that are not whole numbers in range, or an even search window."""
    for name, value, least in (("patch", patch, 2), ("group", group, 1), ("window", window, 1), ("step", step, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise InputError(f"{name} must be a whole number >= {least}, got {value!r}")
    if window % 2 == 0:
        raise InputError(f"window must be odd (a search area centred on the patch), got {window}")


def filter_images(
    images: list[np.ndarray], run: Callable[[list[torch.Tensor], int], torch.Tensor], patch: int, device: str
) -> np.ndarray:
    """Run ``run(tensors, b)`` on (C, H, W) tensors of the same-shaped ``images`` (a colour image in the
    orthonormal opponent space), with b the patch side capped by the image; returns the result in the images'
    layout, float32, clipped to [0, 1]."""
    import torch

    squeeze = images[0].ndim == 2
    arrays = [image[..., None] if squeeze else image for image in images]
    colour = arrays[0].shape[2] == 3
    if colour:
        arrays = [array @ OPPONENT.T for array in arrays]
    to = {"device": device, "dtype": torch.float32}
    tensors = [torch.as_tensor(np.moveaxis(array, 2, 0), **to).contiguous() for array in arrays]
    with torch.no_grad():
        out_t = run(tensors, int(min(patch, *arrays[0].shape[:2])))
    out = np.moveaxis(out_t.cpu().numpy().astype(np.float64), 0, 2)
    if colour:
        out = out @ OPPONENT  # the inverse of an orthogonal matrix is its transpose
    out = np.clip(out, 0.0, 1.0).astype(np.float32)
    return out[..., 0] if squeeze else out


@functools.lru_cache(maxsize=32)  # built once per size and device, not for every chunk of groups
def _dct_matrix(n: int, device: torch.device) -> torch.Tensor:
    """The orthonormal DCT-II matrix C (n × n): the DCT of a patch X is C X Cᵀ."""
    import torch

    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    c = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2 / n)
    c[0] /= math.sqrt(2)
    return c.to(device=device, dtype=torch.float32)


def _haar_matrix(n: int, device: torch.device) -> torch.Tensor:
    """The orthonormal Haar matrix (n × n, n a power of two): BM3D's transform along a group."""
    import torch

    h = torch.ones(1, 1, dtype=torch.float64)
    pair, step = torch.tensor([[1.0, 1.0]], dtype=torch.float64), torch.tensor([[1.0, -1.0]], dtype=torch.float64)
    while h.shape[0] < n:  # the coarser scales' sums, then this scale's differences
        h = torch.cat([torch.kron(h, pair), torch.kron(torch.eye(h.shape[0], dtype=torch.float64), step)])
    return (h / h.norm(dim=1, keepdim=True)).to(device=device, dtype=torch.float32)


@functools.lru_cache(maxsize=32)
def _stack_matrix(n: int, device: torch.device) -> torch.Tensor:
    """The 1-D transform along a group of n patches: Haar where n is a power of two (BM3D's), else the DCT."""
    return _haar_matrix(n, device) if n & (n - 1) == 0 else _dct_matrix(n, device)


def _references(n: int, step: int, device: torch.device) -> torch.Tensor:
    import torch

    grid = list(range(0, n, step))
    return torch.tensor(grid if grid[-1] == n - 1 else [*grid, n - 1], device=device)


def match(
    image: torch.Tensor, b: int, group: int, window: int, step: int, offsets_per_chunk: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    """Block matching on one (H, W) channel: the top-left corners (rows, cols), each (references, group), of the
    ``group`` patches nearest each reference patch (every ``step`` pixels, and the last row and column) within a
    ``window`` × ``window`` search area; the reference itself comes first."""
    import torch
    import torch.nn.functional as F

    height, width = image.shape
    radius = window // 2
    ref_i, ref_j = torch.meshgrid(
        _references(height - b + 1, step, image.device), _references(width - b + 1, step, image.device), indexing="ij"
    )
    ref_i, ref_j = ref_i.reshape(-1), ref_j.reshape(-1)
    span = range(-radius, radius + 1)
    pairs = [(di, dj) for di in span for dj in span]  # looped over on the host: no device read per chunk
    offsets = torch.tensor(pairs, device=image.device)
    group = min(group, len(offsets))
    padded = F.pad(image[None, None], (radius,) * 4, value=float("nan"))[0, 0]  # NaN: a partner off the image
    best = torch.empty(ref_i.numel(), 0, device=image.device)
    chosen = torch.empty(ref_i.numel(), 0, dtype=torch.long, device=image.device)
    for start in range(0, len(offsets), offsets_per_chunk):
        distances = []
        for di, dj in pairs[start : start + offsets_per_chunk]:
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


def transform_groups(image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """The 3-D transform of the groups of (C, H, W) ``image`` whose pixels are at ``rows`` (groups, N2, b, 1)
    and ``cols`` (groups, N2, 1, b): (C, groups, N2, b, b), the 2-D DCT of each patch, then the 1-D transform
    along each group (:func:`_stack_matrix`)."""
    import torch

    patch_dct = _dct_matrix(rows.shape[2], image.device)
    stack = _stack_matrix(rows.shape[1], image.device)
    return torch.einsum("nk,cgkij->cgnij", stack, patch_dct @ image[:, rows, cols] @ patch_dct.T)


def aggregate(
    y: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, b: int, shrink: Shrink, groups_per_chunk: int = 1024
) -> torch.Tensor:
    """Filter (C, H, W) y in the groups whose patch corners are ``rows``, ``cols`` (from :func:`match`): each
    group's 3-D coefficients go through ``shrink``, back to patches, and every patch is averaged into place with
    its group's weight."""
    import torch

    channels, height, width = y.shape
    patch_dct = _dct_matrix(b, y.device)
    stack = _stack_matrix(rows.shape[1], y.device)
    offset = torch.arange(b, device=y.device)
    numerator = torch.zeros(channels, height * width, device=y.device)
    denominator = torch.zeros_like(numerator)
    for start in range(0, rows.shape[0], groups_per_chunk):
        r = rows[start : start + groups_per_chunk, :, None, None] + offset[:, None]  # (groups, N2, b, 1)
        c = cols[start : start + groups_per_chunk, :, None, None] + offset  # (groups, N2, 1, b)
        estimate, weight = shrink(transform_groups(y, r, c), r, c)  # weight: (C, groups)
        estimate = torch.einsum("nk,cgnij->cgkij", stack, estimate)
        estimate = patch_dct.T @ estimate @ patch_dct * weight[..., None, None, None]
        where = (r * width + c).reshape(-1)
        numerator.index_add_(1, where, estimate.reshape(channels, -1))
        denominator.index_add_(1, where, weight[..., None, None, None].expand_as(estimate).reshape(channels, -1))
    return (numerator / denominator).reshape(channels, height, width)
