"""Total variation on top of DIP: DIP-TV (Liu et al. 2019) and the two-stage schedule of seed 002."""

from __future__ import annotations

from typing import Literal

import torch

from ..errors import InputError


def total_variation(x: torch.Tensor, kind: Literal["anisotropic", "isotropic"] = "anisotropic",
                    reduction: Literal["mean", "sum"] = "mean", eps: float = 1e-8) -> torch.Tensor:
    """TV of an NCHW image with forward differences (no wrap-around).

    ``anisotropic``: Σ |Δh| + |Δv|;  ``isotropic``: Σ sqrt(Δh² + Δv² + ε) on the common (H−1)×(W−1) grid.
    ``mean`` divides by the number of pixel values, so λ has the same meaning as with a mean-reduced MSE data
    term whatever the image size (a sum-reduced data term pairs with ``sum``).
    """
    dh = x[..., :, 1:] - x[..., :, :-1]
    dv = x[..., 1:, :] - x[..., :-1, :]
    if kind == "anisotropic":
        tv = dh.abs().sum() + dv.abs().sum()
    elif kind == "isotropic":
        tv = torch.sqrt(dh[..., :-1, :] ** 2 + dv[..., :, :-1] ** 2 + eps).sum()
    else:
        raise InputError(f"TV kind must be 'anisotropic' or 'isotropic', got {kind!r}")
    return tv / x.numel() if reduction == "mean" else tv


class TotalVariation:
    """λ·TV(g_θ(z)) added to the data term at every step (DIP-TV).

    Parameters
    ----------
    lam
        λ, the weight of the TV term (per pixel value when ``reduction="mean"``).
    kind
        ``"anisotropic"`` or ``"isotropic"``.
    until
        If set, the term is applied only for steps < ``until`` (the two-stage schedule); Adam's state is kept
        across the switch because the loop's optimizer is never rebuilt.
    """

    def __init__(self, lam: float, kind: Literal["anisotropic", "isotropic"] = "anisotropic",
                 reduction: Literal["mean", "sum"] = "mean", until: int | None = None) -> None:
        if not lam >= 0:
            raise InputError(f"the TV weight lam must be >= 0, got {lam}")
        if kind not in ("anisotropic", "isotropic"):
            raise InputError(f"TV kind must be 'anisotropic' or 'isotropic', got {kind!r}")
        self.lam, self.kind, self.reduction, self.until = float(lam), kind, reduction, until

    def penalty(self, x: torch.Tensor, step: int) -> torch.Tensor | None:
        if self.lam == 0 or (self.until is not None and step >= self.until):
            return None
        return self.lam * total_variation(x, self.kind, self.reduction)

    def describe(self) -> dict[str, object]:
        return {"lam": self.lam, "kind": self.kind, "reduction": self.reduction, "until": self.until}


def dip_tv(lam: float = 1e-2, kind: Literal["anisotropic", "isotropic"] = "anisotropic", *,
           iterations: int, reduction: Literal["mean", "sum"] = "mean") -> TotalVariation:
    """DIP-TV: constant λ·TV for the whole fit."""
    return TotalVariation(lam, kind, reduction)


def two_stage_tv(lam: float = 1e-2, kind: Literal["anisotropic", "isotropic"] = "anisotropic", *,
                 iterations: int, fraction: float = 1 / 3,
                 reduction: Literal["mean", "sum"] = "mean") -> TotalVariation:
    """Two-stage DIP-TV: λ·TV for the first ``fraction`` of the iterations (denoising), then plain DIP (detailing)."""
    if not 0 < fraction <= 1:
        raise InputError(f"the TV fraction must be in (0, 1], got {fraction}")
    return TotalVariation(lam, kind, reduction, until=max(1, round(fraction * iterations)))
