"""The public restoration functions: one per task, each a thin front of its rows in the preset table.

Each is written as the plan of its restoration (:class:`deepprior.restore.Plan`: the row, the image, its
observation and operator, checked); :func:`_task` makes the function that plans and runs it, and keeps the planner
as the function's ``.plan`` (``deepprior.denoise.plan(image, ...)``, the same arguments) for
:func:`deepprior.restore.run_together`, which steps several images' fits at once.

Every function takes the image as an array ((H, W) or (H, W, C); floats in [0, 1] or integers scaled by their
dtype's maximum; 2 or 4 channels carry alpha, which is passed through untouched) or a
:class:`deepprior.image.Image`, and returns a :class:`deepprior.restore.Restoration`. Defaults come from
:mod:`deepprior.presets`; any of them can be overridden by keyword (:class:`deepprior.restore.Overrides`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol

import numpy as np

from .errors import InputError, warn
from .image import ImageLike, as_image
from .presets import get_preset

#: A mask whose known fraction is below this draws a warning: it is more likely inverted than meant.
INVERTED_MASK_KNOWN = 0.3

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .restore import Overrides, Plan, Restoration

P = ParamSpec("P")


class Task(Protocol[P]):
    """A task function: calling it restores (a :class:`deepprior.restore.Restoration`); its ``.plan``, with the
    same arguments, returns the checked :class:`deepprior.restore.Plan` instead, not yet run."""

    plan: Callable[P, Plan]

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Restoration: ...


def _task(plan: Callable[P, Plan]) -> Task[P]:
    """Make the task function from its planner, whose name, docstring and arguments it takes."""

    @functools.wraps(plan)
    def task(*args: P.args, **kwargs: P.kwargs) -> Restoration:
        return plan(*args, **kwargs).run()

    task.__signature__ = inspect.signature(plan).replace(return_annotation="Restoration")  # type: ignore[attr-defined]
    task.__annotations__ = {**plan.__annotations__, "return": "Restoration"}
    task.plan = plan  # type: ignore[attr-defined]
    plan.__doc__ = f"Plan :func:`{plan.__name__}` without running it: the same arguments, checked; a Plan."
    return task  # type: ignore[return-value]


def _blind(
    task: str,
    image: ImageLike,
    method: str | None,
    profile: str,
    seed: int,
    device: str,
    overrides: dict[str, Any],
) -> Plan:
    """A task whose forward model is the identity (denoise, deblock, smooth); pixels the image marks missing
    (:attr:`deepprior.image.Image.missing`, e.g. NaN in a FITS file) are left out of the fit and filled in."""
    preset = get_preset(task, method, profile)
    source = as_image(image)
    squeeze = np.ndim(image) == 2
    if preset.kind == "classical":  # runs without torch: nothing below is imported
        from .device import check_device_name
        from .restore import plan_classical

        check_device_name(device)  # ignored (the solvers run on the CPU), but a misspelt name is still an error

        if source.missing is not None:
            raise InputError(f"{preset.method} cannot skip missing pixels: use a DIP method, or inpaint first")
        return plan_classical(preset, source, overrides, squeeze=squeeze)
    from .dip import plan_dip
    from .operators import Identity, Mask

    operator, observation, extra = Identity(), source.pixels, {}
    if source.missing is not None:
        known = ~source.missing
        operator, observation = Mask(known), source.pixels * known[..., None]
        extra = {"missing_fraction": float(source.missing.mean())}
    return plan_dip(
        preset,
        source,
        observation,
        operator,
        image_size=source.shape,
        seed=seed,
        device=device,
        overrides=overrides,
        squeeze=squeeze,
        extra=extra,
    )


@_task
def denoise(
    image: ImageLike,
    *,
    method: str | None = None,
    preset: str = "paper",
    seed: int = 0,
    device: str = "auto",
    **overrides: Unpack[Overrides],
) -> Plan:
    r"""Blind denoising with Deep Image Prior.

    Fits :math:`\min_\theta \frac{1}{N}\|g_\theta(z + \sigma_{reg}\varepsilon) - y\|^2` from a random start and
    returns the running average of the outputs; without an iteration count the fit stops by ES-WMV
    (ground-truth-free), at most at the paper's 3000 steps. The fast and best presets then filter y once more
    with the fit as the pilot (BM3D's Wiener stage, :func:`deepprior.refiners.wiener.wiener_refine`; best averages
    that with BM3D on y alone, :func:`deepprior.refiners.bm3d.wiener_bm3d_refine`; ``refine=None`` turns it off).

    Parameters
    ----------
    image
        The noisy image.
    method
        A ``denoise`` row of the preset table: ``"dip"`` (default: skip128, σ_reg = 1/30, averaging 0.99,
        backtracking), ``"dip-tv"`` or ``"two-stage-tv"``.
    preset
        The row's profile (:data:`deepprior.presets.PROFILES`): ``"paper"`` (the paper's settings), ``"fast"``
        (close to the paper's result in a fraction of its time) or ``"best"`` (more time for more quality); the
        measured trade-offs are in the README's "Which preset" table.
    seed
        Seeds the weights, z and the jitter: the same seed on the same CPU gives bit-identical results (a seed
        ensemble, ``seeds=N``, uses seed, seed + 1, ...).
    device
        ``"auto"`` (CUDA, then MPS, then the CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
    **overrides
        Any of :class:`deepprior.restore.Overrides` (``iterations``, ``lr``, ``width``, ``regularizer``, ...).

    Returns
    -------
    Restoration
        ``.image`` (float32, the input's layout), ``.history``, ``.record``.

    Raises
    ------
    InputError
        A bad image, option or value; an image smaller than the network allows.
    DeviceError
        An unknown or absent device, or out of memory.

    References
    ----------
    .. [1] D. Ulyanov, A. Vedaldi, V. Lempitsky, "Deep Image Prior", CVPR 2018.
    .. [2] H. Wang et al., "Early stopping for deep image prior", TMLR 2023.

    Examples
    --------
    >>> import numpy as np, deepprior
    >>> noisy = np.random.default_rng(0).random((32, 32, 3))
    >>> result = deepprior.denoise(noisy, iterations=2, width=8)
    >>> result.image.shape, result.record.iterations_run
    ((32, 32, 3), 2)
    """
    return _blind("denoise", image, method, preset, seed, device, dict(overrides))


@_task
def deblock(
    image: ImageLike,
    *,
    method: str | None = None,
    preset: str = "paper",
    seed: int = 0,
    device: str = "auto",
    **overrides: Unpack[Overrides],
) -> Plan:
    r"""Blind JPEG artifact removal (A = I).

    Parameters
    ----------
    image
        The decoded JPEG.
    method
        A ``deblock`` row: ``"dip"`` (default: the DIP paper's narrow skip 3→3 network, 2400 steps, averaging,
        early stop without an iteration count), ``"dip-l0"`` (DIP-ℓ0, λ = 0.025, β = 2.0: flat colours, for clip
        art), ``"dip-tv"``, ``"two-stage-tv"``.
    preset, seed, device, **overrides
        As in :func:`denoise`.

    Returns
    -------
    Restoration
        The deblocked image in the input's layout; ``.record.method`` names the row used.

    Raises
    ------
    InputError, DeviceError
        As in :func:`denoise`; also an unknown method.

    References
    ----------
    .. [1] D. Ulyanov, A. Vedaldi, V. Lempitsky, "Deep Image Prior", CVPR 2018.
    .. [2] Tran, Bui & Xin, "DIP with an ℓ0 gradient regulariser", 2026.

    Examples
    --------
    >>> import numpy as np, deepprior
    >>> deepprior.deblock(np.full((32, 32), 0.5), iterations=2).image.shape
    (32, 32)
    """
    return _blind("deblock", image, method, preset, seed, device, dict(overrides))


@_task
def smooth(
    image: ImageLike,
    method: str | None = None,
    lam: float | None = None,
    *,
    preset: str = "paper",
    seed: int = 0,
    device: str = "auto",
    **overrides: Unpack[Overrides],
) -> Plan:
    r"""Edge-preserving smoothing: flatten textures and small details, keep strong edges.

    The ℓ0 methods minimise :math:`\|S - I\|^2 + \lambda \|\nabla S\|_0`; DIP-ℓ0 puts a network behind S and
    splits the two terms by ADMM with Region Fusion as the ℓ0 step.

    Parameters
    ----------
    image
        The image to smooth.
    method
        A ``smooth`` row: ``"dip-l0"`` (default, the paper's best: λ = 0.025, β = 2.25), ``"dip-tv"``,
        ``"two-stage-tv"``, ``"dip"``, or a classical solver that runs in seconds: ``"region-fusion"``
        (λ = 0.03) or ``"l0-smooth"`` (λ = 0.01). The classical solvers take only ``lam`` and their own options
        (``passes``; ``kappa``, ``beta_max``).
    lam
        λ of the method (None: the row's). λ values do not transfer between methods.
    preset, seed, device, **overrides
        As in :func:`denoise`; a classical solver ignores ``seed`` and ``device`` (it is deterministic, on the CPU),
        though an unknown device name is still an error.

    Returns
    -------
    Restoration
        The smoothed image; for a classical solver the history is empty and ``.record.settings`` holds its λ.

    Raises
    ------
    InputError, DeviceError
        As in :func:`denoise`; also an option that the method does not use (a fit option for a solver).

    References
    ----------
    .. [1] Tran, Bui & Xin, "DIP with an ℓ0 gradient regulariser", 2026.
    .. [2] R. Nguyen, M. Brown, "Fast and effective L0 gradient minimization by region fusion", ICCV 2015.
    .. [3] L. Xu, C. Lu, Y. Xu, J. Jia, "Image smoothing via L0 gradient minimization", SIGGRAPH Asia 2011.

    Examples
    --------
    >>> import numpy as np, deepprior
    >>> steps = np.repeat(np.linspace(0, 1, 4), 8)[None, :].repeat(32, 0)
    >>> flat = deepprior.smooth(steps, method="region-fusion", lam=0.05).image
    >>> len(np.unique(flat.round(3))) <= 4
    True
    """
    if lam is not None:
        overrides["lam"] = lam
    return _blind("smooth", image, method, preset, seed, device, dict(overrides))


@_task
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
        As in :func:`denoise` (the only row is ``"dip"``).

    Returns
    -------
    Restoration
        The (scale·H, scale·W) image; ``.record.extra["scale"]`` is the factor.

    Raises
    ------
    InputError, DeviceError
        As in :func:`denoise`; also a scale that is not an integer >= 2.

    References
    ----------
    .. [1] D. Ulyanov, A. Vedaldi, V. Lempitsky, "Deep Image Prior", CVPR 2018.

    Examples
    --------
    >>> import numpy as np, deepprior
    >>> deepprior.super_resolve(np.full((16, 16, 3), 0.5), scale=2, iterations=2, width=8).image.shape
    (32, 32, 3)
    """
    from .dip import plan_dip
    from .operators import LanczosDownsampler

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


@_task
def deblur(
    image: ImageLike,
    psf: Any,
    *,
    method: str | None = None,
    preset: str = "paper",
    seed: int = 0,
    device: str = "auto",
    **overrides: Unpack[Overrides],
) -> Plan:
    r"""Non-blind deblurring (deconvolution) with a known point spread function k: fits
    :math:`\min_\theta \frac{1}{N}\|k * g_\theta(z) - y\|^2` (:class:`deepprior.operators.Blur`, the image
    mirrored at its borders) and returns :math:`g_\theta(z)`, the sharp image.

    No paper in this family gives deblurring settings: the rows take the denoising row's network and loop
    (jitter, averaging, backtracking, ES-WMV without an iteration count), which keeps the noise y carries from
    being fitted; the README's "Which preset" gives what they score against the classical deconvolutions.

    Parameters
    ----------
    image
        The blurred (and noisy) image.
    psf
        The PSF: an array (h, w), or (h, w, C) with one per channel; an image read with
        :func:`deepprior.io.read_image` (a measured PSF, e.g. a FITS or TIFF file); or ``"gaussian:SIGMA"`` /
        ``"disk:RADIUS"`` (:mod:`deepprior.psf`). Normalised to sum 1; negative values are set to 0.
    method
        A ``deblur`` row: ``"dip"`` (default), ``"dip-tv"`` (plus λ·TV) or ``"two-stage-tv"``.
    preset, seed, device, **overrides
        As in :func:`denoise`.

    Returns
    -------
    Restoration
        The deblurred image in the input's layout; ``.record.extra`` names the PSF and gives its size.

    Raises
    ------
    InputError, DeviceError
        As in :func:`denoise`; also a bad PSF (not finite, nothing positive, the wrong channels), one larger than
        the image, and an image with missing pixels.

    References
    ----------
    .. [1] D. Ulyanov, A. Vedaldi, V. Lempitsky, "Deep Image Prior", CVPR 2018.
    .. [2] J. Liu, Y. Sun, X. Xu, U. Kamilov, "Image restoration using total variation regularized deep image
       prior", ICASSP 2019.

    Examples
    --------
    >>> import numpy as np, deepprior
    >>> blurred = np.full((32, 32, 3), 0.5)
    >>> deepprior.deblur(blurred, "gaussian:1", iterations=2, width=8).image.shape
    (32, 32, 3)
    """
    from .dip import plan_dip
    from .operators import Blur
    from .psf import describe_psf

    source = as_image(image)
    operator = Blur(psf, source.channels)
    height, width = operator.size
    if source.missing is not None:
        raise InputError("deblurring cannot skip missing pixels yet: fill them in first (deepprior inpaint)")
    if max(height, width) >= min(source.shape):
        raise InputError(f"the PSF ({width}×{height}) must be smaller than the image ({source.width}×{source.height})")
    return plan_dip(
        get_preset("deblur", method, preset),
        source,
        source.pixels,
        operator,
        image_size=source.shape,
        seed=seed,
        device=device,
        overrides=dict(overrides),
        squeeze=np.ndim(image) == 2,
        extra={"psf": describe_psf(psf), "psf_size": [height, width]},
    )


@_task
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
        colour mask marks a pixel known where every channel does. None: the pixels the image itself marks
        missing (:attr:`deepprior.image.Image.missing`, e.g. NaN in a FITS file).
    kind
        An ``inpaint`` row: ``"text"`` (default: skip128 with 128 skip channels, nearest upsampling, 6001 steps),
        ``"hole"`` (meshgrid input, no skips), ``"region"`` (the library net) or ``"pixels"`` (scattered
        missing pixels, LR 0.001, 11000 steps).
    raw_output
        Return the network's whole output, as the paper does, instead of the default: the known pixels as given
        and the network's values only where pixels are missing (an under-trained fit then never blurs the
        intact parts).
    preset, seed, device, **overrides
        As in :func:`denoise`.

    Returns
    -------
    Restoration
        ``.record.extra`` holds ``known_fraction`` and ``raw_output``.

    Raises
    ------
    InputError, DeviceError
        As in :func:`denoise`; also a mask of another size or with no known pixel.

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
    from .dip import plan_dip
    from .operators import Mask

    row = get_preset("inpaint", kind, preset)
    source = as_image(image)
    if mask is None:
        if source.missing is None:
            raise InputError("inpainting needs a mask of the known pixels (the image marks none missing)")
        mask = ~source.missing
    known = np.asarray(mask)
    if known.ndim == 3:
        known = known.all(axis=2) if known.dtype == bool else (known > 0).all(axis=2)
    if known.shape != source.shape:
        raise InputError(
            f"the mask is {known.shape[1]}×{known.shape[0]} but the image is "
            f"{source.width}×{source.height} (width×height)"
        )
    known = known.astype(bool) if known.dtype == bool else known > 0
    if not known.any():
        raise InputError("the mask marks no known pixel (non-zero = known)")
    if known.mean() < INVERTED_MASK_KNOWN:  # the paper's hardest case, 50% pixels, is far from this
        warn(f"the mask marks {1 - known.mean():.0%} of the pixels missing (non-zero = known): is it inverted?")
    observed = source.pixels * known[..., None]
    return plan_dip(
        row,
        source,
        observed,
        Mask(known),
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
    restoration.output.pixels = np.where(known[..., None], pixels, restoration.output.pixels)
    return restoration


@_task
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
        As in :func:`denoise` (601 steps at LR 0.1, no jitter).

    Returns
    -------
    Restoration
        The fused image, carrying the no-flash image's alpha; ``.record.input["kind"]`` is ``"image"``.

    Raises
    ------
    InputError, DeviceError
        As in :func:`denoise`; also images of different sizes, and a uniform flash image (no detail to carry).

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
    from .dip import plan_dip
    from .operators import Identity

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


__all__ = ["Task", "deblock", "deblur", "denoise", "flash_noflash", "inpaint", "smooth", "super_resolve"]


def __getattr__(name: str) -> Any:
    if name in ("Restoration", "Overrides"):  # defined with the pipeline, which imports torch
        from . import restore

        return getattr(restore, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
