"""DIP-ℓ0 (Tran, Bui & Xin 2026): min_θ ‖f − g_θ(z)‖² + λ‖∇g_θ(z)‖₀ by ADMM with an ℓ0 solver as the v-step.

Splitting v = g with multiplier w and penalty β (sums, not means):

    θ-step:  ``inner_steps`` Adam steps on ‖g − f‖² + ⟨w, v − g⟩ + β/2‖v − g‖²   (the fit loop does these)
    v-step:  v = L0Solver(g − w/β, λ' = 2λ/β)                                  (Region Fusion by default)
    w-step:  w = w + β(v − g)
    output:  avg = 0.9·avg + 0.1·g after each outer iteration, avg₀ = f

The v-step runs on the CPU (numba) and needs the g of the finished θ-steps, and the next θ-steps need the new v
and w: the outer iterations are strictly sequential, so the v-step cannot overlap the θ-steps without changing the
algorithm (a one-step-stale v would). On an accelerator it costs ~1 Region Fusion call per 25 steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import torch

from ..errors import InputError

SOLVERS = ("region-fusion", "l0-smooth")
INITS = ("observation", "zeros", "uniform")


def _solve(image: np.ndarray, lam: float, solver: str, passes: int) -> np.ndarray:
    from .l0 import l0_smooth, region_fusion

    if solver == "region-fusion":
        return region_fusion(image, lam, K=passes)
    return l0_smooth(image, lam=lam)


class L0ADMM:
    """The DIP-ℓ0 splitting as a regulariser of the fit loop (``penalty`` + ``after_step`` + ``output``).

    Parameters
    ----------
    observation
        f, (1, C, H, W) in [0, 1]: the starting average (and v₀ with ``init="observation"``).
    lam
        λ, the weight of the ℓ0 gradient norm (0.025 in the paper).
    beta
        β, the ADMM penalty (2.25 for smoothing, 2.0 for JPEG); constant.
    inner_steps
        Adam steps per outer iteration (25).
    passes
        K, Region Fusion passes (50).
    solver
        ``"region-fusion"`` (the paper) or ``"l0-smooth"`` (Xu et al.).
    init
        v₀ and w₀: ``"observation"`` (v₀ = f, w₀ = 0: the default), ``"zeros"`` (v₀ = w₀ = 0) or ``"uniform"``
        (U[0, 1) for both, as the released code; seeded).
    average
        Weight of the outer-iteration average (0.9).
    seed
        Seeds the ``"uniform"`` initialisation.
    """

    def __init__(self, observation: torch.Tensor, lam: float = 0.025, beta: float = 2.25, inner_steps: int = 25,
                 passes: int = 50, solver: Literal["region-fusion", "l0-smooth"] = "region-fusion",
                 init: Literal["observation", "zeros", "uniform"] = "observation", average: float = 0.9,
                 seed: int = 0) -> None:
        if not lam >= 0:
            raise InputError(f"lam must be >= 0, got {lam}")
        if not beta > 0:
            raise InputError(f"beta must be > 0, got {beta}")
        if inner_steps < 1 or passes < 1:
            raise InputError("inner_steps and passes must be at least 1")
        if solver not in SOLVERS:
            raise InputError(f"unknown l0 solver {solver!r}; choose {' or '.join(SOLVERS)}")
        if init not in INITS:
            raise InputError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
        if not 0 <= average < 1:
            raise InputError(f"average must be in [0, 1), got {average}")
        self.lam, self.beta, self.inner_steps, self.passes = float(lam), float(beta), int(inner_steps), int(passes)
        self.solver, self.init, self.average_weight = solver, init, float(average)
        f = observation.detach().float()
        if init == "observation":
            v, w = f.clone(), torch.zeros_like(f)
        elif init == "zeros":
            v, w = torch.zeros_like(f), torch.zeros_like(f)
        else:
            generator = torch.Generator().manual_seed(seed)
            v, w = (torch.rand(f.shape, generator=generator) for _ in range(2))
        self.v, self.w, self.avg = v, w, f.clone()
        self.residuals: list[float] = []

    def penalty(self, x: torch.Tensor, step: int) -> torch.Tensor:
        if self.v.device != x.device:
            self.v, self.w, self.avg = self.v.to(x.device), self.w.to(x.device), self.avg.to(x.device)
        diff = self.v - x
        return (self.w * diff).sum() + self.beta / 2 * (diff * diff).sum()

    def after_step(self, step: int, forward: Callable[[], torch.Tensor]) -> None:
        if (step + 1) % self.inner_steps:
            return
        g = forward()
        target = (g - self.w / self.beta)[0].permute(1, 2, 0).cpu().numpy().astype(np.float64)
        v = _solve(target, 2 * self.lam / self.beta, self.solver, self.passes)
        self.v = torch.from_numpy(np.clip(v, 0, 1)).float().permute(2, 0, 1)[None].to(g.device)
        self.w = self.w + self.beta * (self.v - g)
        self.avg.lerp_(g, 1 - self.average_weight)
        self.residuals.append(float(torch.linalg.vector_norm(self.v - g)))

    def output(self) -> torch.Tensor:
        return self.avg

    def describe(self) -> dict[str, object]:
        return {"lam": self.lam, "beta": self.beta, "inner_steps": self.inner_steps, "passes": self.passes,
                "solver": self.solver, "init": self.init, "average": self.average_weight,
                "residuals": self.residuals}


def dip_l0(observation: torch.Tensor, lam: float = 0.025, beta: float = 2.25, *, iterations: int | None = None,
           seed: int = 0, **options: object) -> L0ADMM:
    """DIP-ℓ0's ADMM (see :class:`L0ADMM`); ``iterations`` is the fit's step count (T·inner_steps)."""
    return L0ADMM(observation, lam=lam, beta=beta, seed=seed, **options)  # type: ignore[arg-type]
