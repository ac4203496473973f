"""Denoising: the identity forward model, the noise left out by the prior and an early stop."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import TaskSpec, blind_plan, register, task_from_plan

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..image import ImageLike
    from ..restore import Overrides, Plan


@task_from_plan
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
    return blind_plan("denoise", image, method, preset, seed, device, dict(overrides))


register(TaskSpec("denoise", denoise, "blind Gaussian-noise removal"))
