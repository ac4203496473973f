"""JPEG artifact removal: the identity forward model, as for denoising, with rows of its own."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import TaskSpec, blind_plan, register, task_from_plan

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..image import ImageLike
    from ..restore import Overrides, Plan


@task_from_plan
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
        As in :func:`deepprior.denoise`.

    Returns
    -------
    Restoration
        The deblocked image in the input's layout; ``.record.method`` names the row used.

    Raises
    ------
    InputError, DeviceError
        As in :func:`deepprior.denoise`; also an unknown method.

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
    return blind_plan("deblock", image, method, preset, seed, device, dict(overrides))


register(TaskSpec("deblock", deblock, "blind JPEG artifact removal"))
