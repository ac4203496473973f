"""L0 gradient smoothing by half-quadratic splitting.

Xu, Lu, Xu & Jia, "Image Smoothing via L0 Gradient Minimization",
SIGGRAPH Asia 2011.

Each iteration needs one forward and one inverse real 2-D FFT of all
channels; they run through ``scipy.fft`` in float32 (about as fast as
``torch.fft``, which this solver used before, and without importing torch),
threaded for images of ``_THREADED_MIN_SIZE`` values or more and serial below
that, where thread hand-offs cost more than the transform.  The
gradient shrinkage and the spectral update are fused numba loops.  The
solver works in float32: the ``lam / beta`` threshold is never below
``~1e-7`` in squared gradient units for useful ``lam`` and ``beta_max``,
well above float32 round-off of [0, 1] images.
"""

from __future__ import annotations

import math
import numbers

import numba as nb
import numpy as np

from deepprior.errors import InputError
from deepprior.regularizers.l0.region_fusion import _as_float_image, _check_lam, _check_pair

__all__ = ["l0_smooth", "l0_smooth_energy"]

# below this many values (C*H*W) the FFTs run on one thread
_THREADED_MIN_SIZE = 1 << 16


def _fft_workers(values: int) -> int:
    """Threads for the FFTs of an image of ``values`` values: one for a small image, else
    :func:`deepprior.device.cpu_threads` (torch's count when torch is loaded). The count changes the speed only:
    the transforms give the same values on any number of threads."""
    from deepprior.device import cpu_threads

    return 1 if values < _THREADED_MIN_SIZE else cpu_threads()


@nb.njit(cache=True, nogil=True)
def _shrink_divergence(S, thr, h, v, mask, out):
    """out = Dx^T h + Dy^T v with (h, v) the circular forward differences of
    S, zeroed at pixels where sum_c (h^2 + v^2) < thr.  S, h, v, out: (C, H, W)."""
    C, H, W = S.shape
    mask[:, :] = 0.0
    for c in range(C):
        for y in range(H):
            yn = y + 1 if y + 1 < H else 0
            for x in range(W - 1):
                h[c, y, x] = S[c, y, x + 1] - S[c, y, x]
            h[c, y, W - 1] = S[c, y, 0] - S[c, y, W - 1]
            for x in range(W):
                v[c, y, x] = S[c, yn, x] - S[c, y, x]
                mask[y, x] += h[c, y, x] * h[c, y, x] + v[c, y, x] * v[c, y, x]
    for y in range(H):
        for x in range(W):
            # 1 keeps the gradient, 0 drops it (multiplying keeps loops vectorisable)
            mask[y, x] = 0.0 if mask[y, x] < thr else 1.0
    for c in range(C):
        for y in range(H):
            yp = y - 1 if y > 0 else H - 1
            out[c, y, 0] = (
                mask[y, W - 1] * h[c, y, W - 1]
                - mask[y, 0] * h[c, y, 0]
                + mask[yp, 0] * v[c, yp, 0]
                - mask[y, 0] * v[c, y, 0]
            )
            for x in range(1, W):
                out[c, y, x] = (
                    mask[y, x - 1] * h[c, y, x - 1] - mask[y, x] * (h[c, y, x] + v[c, y, x]) + mask[yp, x] * v[c, yp, x]
                )


@nb.njit(cache=True, nogil=True)
def _spectral_update(FI, FN, beta, D2):
    """FN <- (FI + beta FN) / (1 + beta D2) on real views (C, H, 2*Wr) of the spectra."""
    C, H, W2 = FN.shape
    for y in range(H):
        for x in range(W2):
            D2[1, y, x] = 1.0 / (1.0 + beta * D2[0, y, x])
    for c in range(C):
        for y in range(H):
            for x in range(W2):
                FN[c, y, x] = (FI[c, y, x] + beta * FN[c, y, x]) * D2[1, y, x]


def _otf_sq(H: int, W: int) -> np.ndarray:
    """|F dx|^2 + |F dy|^2 on the rfft2 grid, duplicated for (re, im) pairs."""
    kx = np.arange(W // 2 + 1)
    ky = np.arange(H)
    dx2 = 2.0 - 2.0 * np.cos(2.0 * np.pi * kx / W)
    dy2 = 2.0 - 2.0 * np.cos(2.0 * np.pi * ky / H)
    d2 = dy2[:, None] + dx2[None, :]
    return np.repeat(d2, 2, axis=1).astype(np.float32)


def l0_smooth(
    image: np.ndarray,
    lam: float = 0.02,
    kappa: float = 2.0,
    beta_max: float = 1e5,
) -> np.ndarray:
    """Image smoothing via L0 gradient minimisation (Xu et al. 2011).

    Approximately minimises ``sum_p ||S_p - I_p||^2 + lam * C(S)`` where
    ``C(S)`` counts pixels whose circular forward differences
    ``|dx S_p| + |dy S_p|`` (summed over channels) are non-zero, by
    half-quadratic splitting: with ``beta = 2 lam``, repeat while
    ``beta < beta_max``: take ``h, v`` = forward differences of ``S``; zero
    both where ``sum_c (h^2 + v^2) < lam / beta``; solve
    ``S = F^-1[(F(I) + beta F(Dx^T h + Dy^T v)) / (1 + beta (|F dx|^2 + |F dy|^2))]``;
    ``beta <- kappa beta``.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        Input image ``I``, float (used as given, normally in [0, 1]) or
        integer (cast to float32, not rescaled).
    lam : float, optional
        Weight ``lambda`` of the gradient-count term, ``>= 0``.  ``lam=0``
        returns the input values unchanged.
    kappa : float, optional
        Growth factor of ``beta`` per iteration, ``> 1``.
    beta_max : float, optional
        Iteration stops once ``beta >= beta_max`` (``> 0``).  The defaults give
        22 iterations at ``lam=0.02``.

    Returns
    -------
    S : ndarray
        Smoothed image, same shape as ``image``; same float dtype (float32 for
        integer input).  It is piecewise constant up to float round-off, not
        exactly: count gradients with a small tolerance.

    Raises
    ------
    deepprior.errors.InputError
        On a bad shape, an empty or non-finite image, or invalid parameters.

    Notes
    -----
    Boundaries are periodic (the FFT solve).  Computation is in float32.
    The FFTs (``scipy.fft``) of images of 65536 values or more are threaded
    (:func:`deepprior.device.cpu_threads`: torch's thread count when torch is
    loaded, else every CPU the process may use); smaller ones use one thread.

    References
    ----------
    .. [1] L. Xu, C. Lu, Y. Xu and J. Jia, "Image Smoothing via L0 Gradient
           Minimization", ACM Trans. Graph. 30(6), 2011.
    """
    arr, out_dtype = _as_float_image(image)
    lam = _check_lam(lam)
    for name, val in (("kappa", kappa), ("beta_max", beta_max)):
        if isinstance(val, bool) or not isinstance(val, numbers.Real) or not math.isfinite(val):
            raise InputError(f"{name} must be a finite real number, got {val!r}")
    kappa = float(kappa)
    beta_max = float(beta_max)
    if kappa <= 1.0:
        raise InputError(f"kappa must be > 1, got {kappa}")
    if beta_max <= 0.0:
        raise InputError(f"beta_max must be > 0, got {beta_max}")
    if lam == 0.0 or 2.0 * lam >= beta_max:
        # S = I is the minimiser for lam = 0; no iteration runs otherwise
        return np.array(arr, dtype=out_dtype, order="C")

    shape = arr.shape
    H, W = shape[0], shape[1]
    chw = np.ascontiguousarray(arr.reshape(H, W, -1).transpose(2, 0, 1), dtype=np.float32)
    C = chw.shape[0]
    Wr = W // 2 + 1

    S = chw.copy()
    h = np.empty_like(S)
    v = np.empty_like(S)
    mask = np.empty((H, W), np.float32)
    div = np.empty_like(S)
    D2 = np.empty((2, H, 2 * Wr), np.float32)
    D2[0] = _otf_sq(H, W)

    from scipy import fft  # here, not at import: Region Fusion, beside it in this package, does not need it

    workers = _fft_workers(C * H * W)
    FI = fft.rfft2(chw, workers=workers).view(np.float32).reshape(C, H, 2 * Wr)
    spectrum = []

    def forward() -> np.ndarray:
        spectrum[:] = [fft.rfft2(div, workers=workers)]
        return spectrum[0].view(np.float32).reshape(C, H, 2 * Wr)

    def inverse() -> None:
        S[...] = fft.irfft2(spectrum[0], s=(H, W), workers=workers, overwrite_x=True)

    beta = 2.0 * lam
    while beta < beta_max:
        _shrink_divergence(S, np.float32(lam / beta), h, v, mask, div)
        _spectral_update(FI, forward(), np.float32(beta), D2)
        inverse()
        beta *= kappa

    return np.ascontiguousarray(S.transpose(1, 2, 0), dtype=out_dtype).reshape(shape)


def l0_smooth_energy(S: np.ndarray, I: np.ndarray, lam: float, *, tol: float = 0.0) -> float:
    """L0-smoothing objective ``sum ||S - I||^2 + lam * C(S)``.

    ``C(S)`` is the number of pixels ``p`` with
    ``sum_c (|dx S_p| + |dy S_p|) > tol`` using circular forward differences,
    as in the solver (``tol=0`` is the exact count of non-zero gradients).

    Parameters
    ----------
    S : ndarray, shape (H, W) or (H, W, C)
        Candidate image.
    I : ndarray, same shape as ``S``
        Input (observed) image.
    lam : float
        Weight of the gradient-count term, ``>= 0``.
    tol : float, optional, keyword-only
        Gradient magnitude counted as zero.  ``l0_smooth`` output is piecewise
        constant only up to round-off (``~1e-5`` in float32), so pass e.g.
        ``tol=1e-3`` to score it.

    Returns
    -------
    energy : float
        The objective, accumulated in float64.

    Raises
    ------
    deepprior.errors.InputError
        If the shapes differ, an image is invalid, ``lam < 0`` or ``tol < 0``.
    """
    S, I = _check_pair(S, I)
    lam = _check_lam(lam)
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not tol >= 0:
        raise InputError(f"tol must be a real number >= 0, got {tol!r}")
    S64 = np.asarray(S, dtype=np.float64)
    data = float(np.sum((S64 - np.asarray(I, dtype=np.float64)) ** 2))
    S3 = S64 if S64.ndim == 3 else S64[:, :, None]
    grad = np.abs(np.roll(S3, -1, axis=1) - S3) + np.abs(np.roll(S3, -1, axis=0) - S3)
    count = int(np.count_nonzero(grad.sum(axis=2) > tol))
    return data + lam * count


def l0_smooth_reference(I: np.ndarray, lam: float = 0.02, kappa: float = 2.0, beta_max: float = 1e5) -> np.ndarray:
    """Slow float64 transcription of Xu et al.'s algorithm with full complex FFTs: the yardstick that tests and
    benchmarks hold :func:`l0_smooth` against (not for use on large images)."""
    I3 = np.asarray(I, np.float64)
    I3 = I3 if I3.ndim == 3 else I3[:, :, None]
    H, W, _ = I3.shape
    FI = np.fft.fft2(I3, axes=(0, 1))
    D2 = (2 - 2 * np.cos(2 * np.pi * np.arange(W) / W))[None, :] + (2 - 2 * np.cos(2 * np.pi * np.arange(H) / H))[
        :, None
    ]
    S = I3.copy()
    beta = 2 * lam
    while beta < beta_max:
        h = np.roll(S, -1, 1) - S
        v = np.roll(S, -1, 0) - S
        t = (h**2 + v**2).sum(2) < lam / beta
        h[t] = 0
        v[t] = 0
        div = (np.roll(h, 1, 1) - h) + (np.roll(v, 1, 0) - v)
        FS = (FI + beta * np.fft.fft2(div, axes=(0, 1))) / (1 + beta * D2)[:, :, None]
        S = np.real(np.fft.ifft2(FS, axes=(0, 1)))
        beta *= kappa
    return S.reshape(np.shape(I))
