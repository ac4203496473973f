"""Denoising: the identity forward model, the noise left out by the prior and an early stop."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import TaskSpec, blind_plan, register, task_from_plan

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

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
    noise: str = "gaussian",
    noise_level: tuple[float, ...] | None = None,
    **overrides: Unpack[Overrides],
) -> Plan:
    r"""Blind denoising with Deep Image Prior.

    Fits :math:`\min_\theta \frac{1}{N}\|g_\theta(z + \sigma_{reg}\varepsilon) - y\|^2` from a random start and
    returns the running average of the outputs; without an iteration count the fit stops by ES-WMV
    (ground-truth-free), at most at the paper's 3000 steps. The fast and best presets then filter y once more
    with the fit as the pilot (BM3D's Wiener stage, :func:`deepprior.refiners.wiener.wiener_refine`; best averages
    that with BM3D on y alone, less of it where the fit left signal in its residual,
    :func:`deepprior.refiners.bm3d.wiener_bm3d_refine`; ``refine=None`` turns it off).

    Noise that grows with the intensity (photon counts: low light, fluorescence microscopy, astronomy, X-ray) is
    first made Gaussian of one σ by its model's variance-stabilising transform, ``noise="poisson"``
    (:class:`deepprior.noise.poisson.PoissonGaussian`, :math:`\operatorname{var}(y \mid x) = a x + b`), and the
    result is mapped back through the transform's exact unbiased inverse; the fit, its stop and the refiners then
    work as on Gaussian noise. With a ``reference``, the fit's PSNR curves compare the stabilised images.

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
    noise
        The noise model (:data:`deepprior.registry.NOISE_MODELS`): ``"gaussian"`` (additive, one σ) or
        ``"poisson"`` (Poisson-Gaussian).
    noise_level
        The model's parameters, for ``"poisson"`` :math:`(a, b)` in the image's units (a 16-bit camera's
        intensity of one electron is ``1 / (65535 · gain)``, gain in electrons per count, and
        :math:`b = (\text{read noise} / (65535 \cdot \text{gain}))^2`, less :math:`a` times a dark offset in the
        image's units), or one of each per channel, :math:`(a_1, \dots, a_C, b_1, \dots, b_C)` (a white-balanced
        colour camera's channels have photons of different sizes); None estimates them from the image, one per
        channel where the channels' noise differs (:meth:`deepprior.noise.poisson.PoissonGaussian.estimate`).
    **overrides
        Any of :class:`deepprior.restore.Overrides` (``iterations``, ``lr``, ``width``, ``regularizer``, ...).

    Returns
    -------
    Restoration
        ``.image`` (float32, the input's layout), ``.history``, ``.record`` (with a noise model,
        ``.record.extra["noise"]``: its name and parameters, and σ in the stabilised image).

    Raises
    ------
    InputError
        A bad image, option or value; an image smaller than the network allows; a noise level that cannot be
        estimated (too few pixels away from black and white).
    DeviceError
        An unknown or absent device, or out of memory.

    References
    ----------
    .. [1] D. Ulyanov, A. Vedaldi, V. Lempitsky, "Deep Image Prior", CVPR 2018.
    .. [2] H. Wang et al., "Early stopping for deep image prior", TMLR 2023.
    .. [3] M. Mäkitalo, A. Foi, "Optimal inversion of the generalized Anscombe transformation for Poisson-Gaussian
       noise", IEEE Trans. Image Process. 22(1), 91–103, 2013.

    Examples
    --------
    >>> import numpy as np, deepprior
    >>> noisy = np.random.default_rng(0).random((32, 32, 3))
    >>> result = deepprior.denoise(noisy, iterations=2, width=8)
    >>> result.image.shape, result.record.iterations_run
    ((32, 32, 3), 2)
    """
    return blind_plan("denoise", image, method, preset, seed, device, dict(overrides), noise, noise_level)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..argtypes import RegistryChoices, numbers
    from ..registry import NOISE_MODELS

    parser.add_argument(
        "--noise",
        choices=RegistryChoices(NOISE_MODELS),
        default="gaussian",
        metavar="MODEL",
        help="the noise: gaussian (additive, one σ) or poisson (photon counts plus read noise, var = a·x + b: low "
        "light, microscopy, astronomy); one of %(choices)s (default: %(default)s)",
    )
    parser.add_argument(
        "--noise-level",
        type=numbers,
        metavar="A,B",
        help="the model's parameters in [0, 1] image units, e.g. a,b for poisson, or one of each per channel, "
        "a1,a2,a3,b1,b2,b3 (default: estimated from the image, one per channel where the channels' noise differs)",
    )


def _read_arguments(args: argparse.Namespace, options: dict[str, Any], files: dict[str, Path]) -> None:
    options["noise"] = args.noise
    if args.noise_level is not None:
        options["noise_level"] = args.noise_level


register(
    TaskSpec(
        "denoise",
        denoise,
        "blind noise removal (Gaussian, or photon counts with --noise poisson)",
        add_arguments=_add_arguments,
        read_arguments=_read_arguments,
    )
)
