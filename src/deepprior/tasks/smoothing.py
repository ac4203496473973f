"""Edge-preserving smoothing: DIP-ℓ0 and the other smoothing rows, and the classical ℓ0 solvers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import TaskSpec, blind_plan, register, task_from_plan

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..image import ImageLike
    from ..restore import Overrides, Plan


@task_from_plan
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
        As in :func:`deepprior.denoise`; a classical solver ignores ``seed`` and ``device`` (it is deterministic, on
        the CPU), though an unknown device name is still an error.

    Returns
    -------
    Restoration
        The smoothed image; for a classical solver the history is empty and ``.record.settings`` holds its λ.

    Raises
    ------
    InputError, DeviceError
        As in :func:`deepprior.denoise`; also an option that the method does not use (a fit option for a solver).

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
    return blind_plan("smooth", image, method, preset, seed, device, dict(overrides))


register(TaskSpec("smooth", smooth, "edge-preserving smoothing (texture removal)"))
