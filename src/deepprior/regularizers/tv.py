"""Total variation on top of DIP: DIP-TV (Liu et al. 2019) and the two-stage schedule of seed 002."""

from __future__ import annotations

from typing import Any, Literal

import torch

from ..errors import InputError
from ..registry import REGULARIZERS
from .base import BuildContext, Regularizer

TV_KINDS = ("anisotropic", "isotropic")


def total_variation(
    x: torch.Tensor,
    kind: Literal["anisotropic", "isotropic"] = "anisotropic",
    reduction: Literal["mean", "sum"] = "mean",
    eps: float = 1e-8,
) -> torch.Tensor:
    r"""Total variation of an NCHW image with forward differences (no wrap-around).

    .. math::

        \mathrm{TV}_{aniso}(x) = \sum |x_{i,j+1} - x_{i,j}| + |x_{i+1,j} - x_{i,j}|, \qquad
        \mathrm{TV}_{iso}(x) = \sum \sqrt{\Delta_h^2 + \Delta_v^2 + \varepsilon}

    (isotropic on the common (H−1)×(W−1) grid).

    Parameters
    ----------
    x
        Images, (N, C, H, W).
    kind
        ``"anisotropic"`` or ``"isotropic"``.
    reduction
        ``"mean"`` divides by the number of pixel values, so λ means the same with a mean-reduced data term
        whatever the image size; ``"sum"`` pairs with a sum-reduced data term.
    eps
        ε inside the square root (isotropic only), for a finite gradient at 0.

    Returns
    -------
    torch.Tensor
        A 0-dim tensor.

    Raises
    ------
    InputError
        ``x`` is not an (N, C, H, W) tensor, or ``kind`` is unknown.

    References
    ----------
    .. [1] J. Liu, Y. Sun, X. Xu, U. Kamilov, "Image restoration using total variation regularized deep image
       prior", ICASSP 2019.

    Examples
    --------
    >>> x = torch.zeros(1, 1, 3, 3); x[..., 2] = 1.0
    >>> float(total_variation(x, "anisotropic", "sum"))
    3.0
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 4:  # an (H, W, C) array would be differenced along W and C
        shape = f" of shape {tuple(x.shape)}" if hasattr(x, "shape") else ""
        raise InputError(f"total_variation takes an (N, C, H, W) torch.Tensor, got a {type(x).__name__}{shape}")
    dh = x[..., :, 1:] - x[..., :, :-1]
    dv = x[..., 1:, :] - x[..., :-1, :]
    if kind == "anisotropic":
        tv = dh.abs().sum() + dv.abs().sum()
    elif kind == "isotropic":
        tv = torch.sqrt(dh[..., :-1, :] ** 2 + dv[..., :, :-1] ** 2 + eps).sum()
    else:
        raise InputError(f"TV kind must be 'anisotropic' or 'isotropic', got {kind!r}")
    return tv / x.numel() if reduction == "mean" else tv


@REGULARIZERS.register("tv")
class TotalVariation(Regularizer):
    """λ·TV(g_θ(z)) added to the data term at every step (DIP-TV).

    Parameters
    ----------
    lam
        λ, the weight of the TV term (per pixel value when ``reduction="mean"``).
    kind
        ``"anisotropic"`` or ``"isotropic"``.
    reduction
        As the data term's (:meth:`build` takes it from the context).
    until
        If set, the term is applied only for steps < ``until`` (the two-stage schedule); Adam's state is kept
        across the switch because the loop's optimiser is never rebuilt.
    """

    method = "dip-tv"
    graph_safe = True  # the same arithmetic at every step, before and after ``until``

    def __init__(
        self,
        lam: float,
        kind: Literal["anisotropic", "isotropic"] = "anisotropic",
        reduction: Literal["mean", "sum"] = "mean",
        until: int | None = None,
    ) -> None:
        super().__init__()
        if not lam >= 0:
            raise InputError(f"the TV weight lam must be >= 0, got {lam}")
        if kind not in TV_KINDS:
            raise InputError(f"TV kind must be 'anisotropic' or 'isotropic', got {kind!r}")
        self.lam, self.kind, self.reduction, self.until = float(lam), kind, reduction, until

    @classmethod
    def build(cls, context: BuildContext, **options: Any) -> TotalVariation:
        options.setdefault("reduction", context.reduction)
        return cls(**options)

    def penalty(self, x: torch.Tensor, step: int) -> torch.Tensor | None:
        if self.lam == 0 or (self.until is not None and step >= self.until):
            return None
        return self.lam * total_variation(x, self.kind, self.reduction)

    def phase(self, step: int) -> int:
        return int(self.until is not None and step >= self.until)

    def describe(self) -> dict[str, Any]:
        return {"lam": self.lam, "kind": self.kind, "reduction": self.reduction, "until": self.until}


@REGULARIZERS.register("two-stage-tv")
class TwoStageTV(TotalVariation):
    """Two-stage DIP-TV: λ·TV for the first ``fraction`` of the iterations (denoising), then plain DIP (detailing).

    References
    ----------
    .. [1] "It Takes Two to Better Denoise" (seed 002 of this project's references).
    """

    method = "two-stage-tv"

    @classmethod
    def build(cls, context: BuildContext, fraction: float = 1 / 3, **options: Any) -> TwoStageTV:
        if not 0 < fraction <= 1:
            raise InputError(f"the TV fraction must be in (0, 1], got {fraction}")
        options.setdefault("reduction", context.reduction)
        return cls(until=max(1, round(fraction * context.iterations)), **options)
